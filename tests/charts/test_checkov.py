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

from tests.charts.chart import ROOT, VALUES_FILES, WORKER, render, values, without_worker

CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"
pytestmark = pytest.mark.skipif(not CHECKOV.exists(), reason="checkov not installed: run `make chart-test`")


def _scan(files: dict[str, str], where: Path) -> dict[str, Any]:
    for path, text in files.items():
        (where / path.replace("/", "_")).write_text(text)
    result = subprocess.run(
        [
            str(CHECKOV),
            "--skip-download",
            # No --quiet: it leaves the skipped checks out of the report, and their reasons with them.
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


# The checks the chart skips, each with its reason in a checkov.io/skipN annotation: probes on the
# one-shot test pod and on the export worker, neither of which serves on a port.
EXPECTED_SKIPS = {
    ("CKV_K8S_8", "Pod.notes.notes-api-smoke"),
    ("CKV_K8S_9", "Pod.notes.notes-api-smoke"),
    ("CKV_K8S_8", f"Deployment.notes.{WORKER}"),
    ("CKV_K8S_9", f"Deployment.notes.{WORKER}"),
}


def _skipped(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (c["check_id"], c["resource"]): c["check_result"].get("suppress_comment") or ""
        for c in report.get("results", {}).get("skipped_checks", [])
    }


@pytest.mark.parametrize("worker", [True, False], ids=["worker on", "worker off"])
@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_checkov_kubernetes_checks_are_clean(values_file: str, worker: bool, tmp_path: Path) -> None:
    file_values = values(values_file) if worker else without_worker(values(values_file))
    report = _scan(render(file_values), tmp_path)
    assert report.get("summary", {}).get("passed", 0) > 0, f"checkov scanned nothing: {report}"
    assert not _failed(report), f"{values_file}: {_failed(report)}"
    # Only the skips the chart states, each with its reason.
    skipped = _skipped(report)
    expected = EXPECTED_SKIPS if worker else {s for s in EXPECTED_SKIPS if WORKER not in s[1]}
    assert set(skipped) == expected, f"{values_file}: skipped {sorted(skipped)}"
    assert all(skipped.values()), f"{values_file}: a skip without a reason: {skipped}"


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


def test_a_planted_writable_root_filesystem_on_the_worker_is_caught(tmp_path: Path) -> None:
    # GIVEN the worker's Deployment with readOnlyRootFilesystem turned off
    files = render(values("values-staging.yaml"))
    path = "notes-api/templates/worker-deployment.yaml"
    deployment = yaml.safe_load(files[path])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesystem"] = False
    # WHEN scanned THEN checkov fails CKV_K8S_22 on the worker, and its probe skips still hold
    report = _scan({path: yaml.safe_dump(deployment)}, tmp_path)
    assert f"CKV_K8S_22 Deployment.notes.{WORKER}" in _failed(report), _failed(report)
    assert set(_skipped(report)) == {s for s in EXPECTED_SKIPS if WORKER in s[1]}


def test_a_planted_privilege_escalation_on_the_dbusers_job_is_caught(tmp_path: Path) -> None:
    # GIVEN the dbusers hook Job (on in the committed files) allowed to escalate and to write its root
    files = render(values("values-staging.yaml"))
    path = "notes-api/templates/dbusers-job.yaml"
    job = yaml.safe_load(files[path])
    context = job["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context.update(allowPrivilegeEscalation=True, readOnlyRootFilesystem=False)
    # WHEN scanned THEN checkov fails both on the Job: its checks cover Jobs, unlike the probe checks
    # (CKV_K8S_8/9), which is why the Job needs no skip
    report = _scan({path: yaml.safe_dump(job)}, tmp_path)
    failed = _failed(report)
    assert {"CKV_K8S_20 Job.notes.notes-api-dbusers", "CKV_K8S_22 Job.notes.notes-api-dbusers"} <= set(failed)
    assert not _skipped(report), _skipped(report)
