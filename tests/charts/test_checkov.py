"""checkov's Kubernetes checks on the rendered chart: clean, each skip justified in the chart.

checkov lives in its own venv under .tools/checkov (its dependencies conflict with ours), installed
by `make chart-test` the way `make image-test` does (devtools/image_test.py ensure_checkov). Offline
it needs BC_SKIP_MAPPING=TRUE and --skip-download, or it stalls fetching its mappings.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.chart import ROOT, VALUES_FILES, render, values

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
pytestmark = pytest.mark.skipif(not CHECKOV.exists(), reason="checkov not installed: run `make chart-test`")


def _scan(files: dict[str, str], where: Path) -> dict[str, Any]:
    for path, text in files.items():
        (where / path.replace("/", "_")).write_text(text)
    result = subprocess.run(
        [
            str(CHECKOV),
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "-d",
            str(where),
            "--framework",
            "kubernetes",
        ],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    # One framework gives one report object; an empty scan gives a summary without results.
    return report if isinstance(report, dict) else report[0]


def _failed(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['resource']}" for c in report.get("results", {}).get("failed_checks", [])]


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_checkov_kubernetes_checks_are_clean(values_file: str, tmp_path: Path) -> None:
    report = _scan(render(values(values_file)), tmp_path)
    assert report.get("summary", {}).get("passed", 0) > 0, f"checkov scanned nothing: {report}"
    assert not _failed(report), f"{values_file}: {_failed(report)}"
    # Every skip is one the chart states with its reason (checkov.io/skipN annotations).
    for skipped in report["results"].get("skipped_checks", []):
        assert skipped.get("suppress_comment"), f"{skipped['check_id']} skipped without a reason"


def test_a_planted_writable_root_filesystem_is_caught(tmp_path: Path) -> None:
    # GIVEN the Deployment with readOnlyRootFilesystem turned off
    files = render(values("values-staging.yaml"))
    path = "notes-api/templates/deployment.yaml"
    deployment = yaml.safe_load(files[path])
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = (
        False
    )
    # WHEN scanned THEN checkov fails CKV_K8S_22 on it
    report = _scan({path: yaml.safe_dump(deployment)}, tmp_path)
    assert any(f.startswith("CKV_K8S_22 ") for f in _failed(report)), _failed(report)
