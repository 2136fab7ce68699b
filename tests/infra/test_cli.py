"""`notes-platform plan`: the project's main job without credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stacks.config import ROOT

CLI = [sys.executable, "-m", "stacks.cli"]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOTES_PLATFORM_REVISION": "0000000"}
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
