"""`notes-platform plan`: the project's main job without credentials."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from notes_platform.cli import main
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from stacks.config import ROOT

CLI = [sys.executable, "-m", "notes_platform.cli"]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTES_PLATFORM_IMAGE_TAG": "0000000-000000000000"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "PULUMI_ACCESS_TOKEN"):
        env.pop(name, None)  # proves no credentials are needed
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_plan_prints_the_tree_and_writes_the_graph(tmp_path: Path) -> None:
    # WHEN staging is planned with --json
    graph_file = tmp_path / "staging.json"
    result = _run("plan", "staging", "--json", str(graph_file))
    # THEN it succeeds, shows components, counts by type and outputs, and writes the graph
    assert result.returncode == 0, result.stderr
    assert "notes-platform / staging:" in result.stdout
    assert "staging-network  (notes:infra:Network)" in result.stdout
    assert "Resources by type:" in result.stdout and "Outputs:" in result.stdout
    graph = json.loads(graph_file.read_text())
    assert set(graph) == {"project", "stack", "resources", "outputs"}
    assert (graph["project"], graph["stack"]) == ("notes-platform", "staging")
    first = graph["resources"][0]
    assert {
        "urn",
        "type",
        "name",
        "custom",
        "parent",
        "provider",
        "dependencies",
        "protect",
        "inputs",
    } <= set(first)
    assert [r["urn"] for r in graph["resources"]] == sorted(r["urn"] for r in graph["resources"])
    assert str(ROOT) not in graph_file.read_text(), "the graph must not depend on where the checkout lives"


def test_bad_stack_file_exits_2_with_the_schema_message_and_no_traceback(tmp_path: Path) -> None:
    # GIVEN a copy of the project whose staging file has an impossible Fargate size
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    document["config"]["notes-platform:serviceMemory"] = 4096
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(document))
    # WHEN it is planned
    result = _run("plan", "staging", "--project-dir", str(tmp_path))
    # THEN exit 2, the message names the file and key, and there is no traceback
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "Pulumi.staging.yaml: notes-platform:serviceMemory: Fargate does not offer cpu=256" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unknown_stack_exits_2() -> None:
    result = _run("plan", "qa")
    assert result.returncode == 2
    assert "Pulumi.qa.yaml: no such stack file" in result.stderr


def _planted(plans: dict[str, Plan], stack: str, mutate: Callable[[list[Recorded]], None]) -> Plan:
    """The real plan of ``stack`` with one planted change, as `plan` would have recorded it."""
    original = plans[stack]
    resources = copy.deepcopy(original.resources)
    mutate(resources)
    return Plan(
        resources, project=original.project, stack=stack, config=original.config, outputs=original.outputs
    )


def _main_with(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], plan: Plan, *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("notes_platform.graph.plan.run_plan", lambda stack, root: plan)
    code = main(["plan", plan.stack, "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _named(resources: list[Recorded], type_token: str) -> Recorded:
    return next(r for r in resources if r.type == type_token)


def test_a_mandatory_policy_violation_fails_the_plan_naming_rule_and_urn(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN prod's plan with an unencrypted DocumentDB cluster
    cluster_urn = _named(plans["prod"].resources, "aws:docdb/cluster:Cluster").urn

    def unencrypted(resources: list[Recorded]) -> None:
        _named(resources, "aws:docdb/cluster:Cluster").inputs["storageEncrypted"] = False

    code, out, err = _main_with(monkeypatch, capsys, _planted(plans, "prod", unencrypted))
    # THEN the plan fails, and the report groups the violation under its rule with the URN
    assert code == 1
    assert "mandatory  docdb-storage-encrypted (1)" in err, err
    assert "DocumentDB clusters must encrypt storage at rest." in err
    assert cluster_urn in err
    assert "policy pack: 1 mandatory" in out


def test_advisory_violations_are_reported_without_failing_the_plan(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN staging's plan without its alarms (the alarm-coverage rule is advisory on staging)
    def no_alarms(resources: list[Recorded]) -> None:
        resources[:] = [r for r in resources if r.type != "aws:cloudwatch/metricAlarm:MetricAlarm"]

    code, out, err = _main_with(monkeypatch, capsys, _planted(plans, "staging", no_alarms))
    assert code == 0, err
    assert "advisory  critical-resources-alarmed" in err
    assert "policy pack: 0 mandatory" in out
    # AND the prod settings, as CI passes them, make the same plan fail
    code, _, err = _main_with(
        monkeypatch,
        capsys,
        _planted(plans, "staging", no_alarms),
        "--policy-config",
        str(ROOT / "policies" / "config" / "prod.json"),
    )
    assert code == 1 and "mandatory  critical-resources-alarmed" in err


def test_an_aws_api_model_finding_fails_the_plan_with_urn_and_path(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN staging's plan with an alarm comparison AWS does not know
    alarm = _named(plans["staging"].resources, "aws:cloudwatch/metricAlarm:MetricAlarm")

    def misspelt(resources: list[Recorded]) -> None:
        next(r for r in resources if r.urn == alarm.urn).inputs["comparisonOperator"] = "GreaterThen"

    code, out, err = _main_with(monkeypatch, capsys, _planted(plans, "staging", misspelt))
    # THEN the plan fails and names the resource, the property and the valid values
    assert code == 1
    assert alarm.urn in err and "comparisonOperator" in err and "GreaterThanThreshold" in err, err
    assert "AWS API model check: 1 finding(s)" in out


def test_a_bad_policy_config_file_exits_2(
    plans: dict[str, Plan],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    bad = tmp_path / "prod.json"
    bad.write_text('{"docdb-storage-encrypted": "sometimes"}')
    code, _, err = _main_with(monkeypatch, capsys, plans["staging"], "--policy-config", str(bad))
    assert code == 2
    assert "docdb-storage-encrypted" in err and "Traceback" not in err
