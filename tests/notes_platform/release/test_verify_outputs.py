"""What `notes-platform verify` expects, read from the stack's outputs: a file written by
`pulumi stack output --json`, or the Automation API when a Pulumi CLI is on PATH."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from notes_platform.cli import main
from notes_platform.release import verify
from notes_platform.release.verify import (
    EDGE_REGION,
    PulumiUnavailable,
    VerifyInputError,
    expected_from_outputs,
    outputs_from_pulumi,
    read_outputs_file,
)
from stacks.config import ROOT

STACKS = ("staging", "prod")


def snapshot(stack: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((ROOT / "tests" / "snapshots" / f"{stack}.json").read_text())
    return document


@pytest.mark.parametrize("stack", STACKS)
def test_the_committed_plan_outputs_give_everything_verify_expects(stack: str) -> None:
    # GIVEN the outputs the program exports for a committed stack (its recorded plan)
    plan = snapshot(stack)
    # WHEN verify reads them
    expected = expected_from_outputs(stack, plan["outputs"], f"{stack}.json")
    # THEN the names, the digest, the region and the URL are the stack's
    assert expected.cluster == f"notes-{stack}" and expected.service == f"notes-{stack}-api"
    assert expected.digest == plan["outputs"]["imageDigest"]
    assert expected.region == "eu-west-1"
    assert expected.api_url == plan["outputs"]["apiUrl"]
    assert expected.alarm_regions == ("eu-west-1", EDGE_REGION)


@pytest.mark.parametrize("stack", STACKS)
def test_the_names_verify_derives_are_the_ones_the_program_plans(stack: str) -> None:
    # GIVEN the stack file's environment (verify's default is the stack name) and the plan
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert config["notes-platform:environment"] == stack
    plan = snapshot(stack)
    expected = expected_from_outputs(stack, plan["outputs"], f"{stack}.json")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in plan["resources"]:
        by_type.setdefault(resource["type"], []).append(resource)
    # THEN the DocumentDB cluster and the cache are named as verify looks them up
    [cluster] = by_type["aws:docdb/cluster:Cluster"]
    assert cluster["inputs"]["clusterIdentifier"] == expected.docdb_cluster
    [group] = by_type["aws:elasticache/replicationGroup:ReplicationGroup"]
    assert group["inputs"]["replicationGroupId"] == expected.cache_group
    # AND every alarm carries the prefix, in exactly the regions verify searches
    regions = {r["urn"]: r["inputs"].get("region") for r in by_type["pulumi:providers:aws"]}
    alarms = by_type["aws:cloudwatch/metricAlarm:MetricAlarm"]
    assert all(a["inputs"]["name"].startswith(expected.alarm_prefix) for a in alarms)
    assert {regions[a["provider"]] for a in alarms} == set(expected.alarm_regions)


GOOD = snapshot("staging")["outputs"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"imageDigest": None}, "outputs.json: imageDigest: missing from the stack's outputs"),
        (
            {"imageDigest": "sha256:abc"},
            "outputs.json: imageDigest: 'sha256:abc' is not sha256:<64 lowercase hex>",
        ),
        ({"clusterName": 3}, "outputs.json: clusterName: expected a non-empty string, found 3"),
        (
            {"apiUrl": "file:///etc/passwd"},
            "outputs.json: apiUrl: 'file:///etc/passwd' is not an http(s) URL",
        ),
        (
            {"webAclArn": "[secret]"},
            "outputs.json: webAclArn: masked as [secret]; write the file with --show-secrets",
        ),
        ({"alarmTopicArn": "topic"}, "outputs.json: alarmTopicArn: not an ARN with a region; pass --region"),
    ],
)
def test_outputs_verify_cannot_use_are_refused_naming_the_key(change: dict[str, Any], message: str) -> None:
    # GIVEN the committed outputs with one key missing or wrong
    outputs = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    # WHEN verify reads them THEN it refuses, naming the source and the key
    with pytest.raises(VerifyInputError) as refused:
        expected_from_outputs("staging", outputs, "outputs.json")
    assert str(refused.value) == message


def test_region_and_environment_options_win_over_the_outputs() -> None:
    expected = expected_from_outputs("staging", GOOD, "o.json", environment="qa", region="eu-central-1")
    assert (expected.environment, expected.region) == ("qa", "eu-central-1")
    assert expected.docdb_cluster == "notes-qa-docdb" and expected.alarm_regions == (
        "eu-central-1",
        EDGE_REGION,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "no such file"), ("{not json", "not readable as JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_an_unreadable_outputs_file_is_refused_naming_it(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "outputs.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(VerifyInputError, match=message) as refused:
        read_outputs_file(path)
    assert str(path) in str(refused.value)


def test_bad_outputs_exit_1_before_any_aws_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an outputs file without the digest
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "imageDigest"}))
    # WHEN verify runs on it THEN it exits 1 naming file and key, and writes no record
    assert main(["verify", "staging", "--outputs", str(path), "--record", str(tmp_path / "r.json")]) == 1
    assert f"{path}: imageDigest: missing" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_without_a_pulumi_cli_the_automation_api_is_not_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no `pulumi` on PATH and no --outputs
    monkeypatch.setenv("PATH", str(tmp_path))
    # WHEN the outputs are asked for THEN the refusal says what to pass instead
    with pytest.raises(PulumiUnavailable, match=r"pass --outputs FILE \(written by `pulumi stack output"):
        outputs_from_pulumi("staging", ROOT)
    # AND the command exits 7, its own code
    assert main(["verify", "staging"]) == verify.NO_OUTPUTS == 7
    assert "no `pulumi` CLI on PATH" in capsys.readouterr().err


@pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="needs the Pulumi CLI and a logged-in backend holding the stack; neither exists offline "
    "(the CLI and its plugins cannot be downloaded on these machines)",
)
def test_outputs_through_the_automation_api_match_the_file_form() -> None:  # pragma: no cover
    outputs = outputs_from_pulumi("staging", ROOT)
    expected_from_outputs("staging", outputs, "pulumi stack staging")
