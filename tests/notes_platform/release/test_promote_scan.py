"""The scan gate against moto's ECR (in-process), and the allow-list's rules.

moto 5.2 implements DescribeImageScanFindings: after StartImageScan it answers a fixed HIGH finding
(CVE-9999-9999 in package moto_fake), and the moto API's ``/moto-api/static/ecr/scan-finding-results``
replaces that answer per repository/image (moto/ecr/models.py, ``describe_image_scan_findings``).
Before any scan it raises ScanNotFoundException, as ECR does. Enhanced (Inspector) findings are
judged on the response shape botocore's ECR model declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import requests
from moto import mock_aws

from notes_platform.release import scan_gate
from notes_platform.release.allowlist import DEFAULT_PATH, Allowance, AllowListError, load_allowlist
from notes_platform.release.promote import Exit, Refusal, gate_scan
from notes_platform.release.registry import Repository

REGION = "eu-west-1"
TODAY = date(2026, 12, 7)
DIGEST = "sha256:" + "5e" * 32
REPO = Repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "staging/notes-api")


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("ecr", region_name=REGION)
        client.create_repository(repositoryName=REPO.name)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "layers": [],
        }
        client.put_image(
            repositoryName=REPO.name, imageManifest=json.dumps(manifest), imageTag="t", imageDigest=DIGEST
        )
        yield client


def _allowlist(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    lines = ["entries:"] if entries else ["entries: []"]
    for entry in entries:
        lines.append(f"  - id: {entry['id']}")
        lines += [f"    {k}: {v}" for k, v in entry.items() if k != "id"]
    path = tmp_path / "allow.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _entry(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "CVE-9999-9999",
        "reason": "not reachable from the API",
        "added": "2026-12-01",
        "expires": "2027-01-15",
        "approvedBy": "platform-team",
    } | overrides


def _set_result(status: str, findings: list[dict[str, Any]], counts: dict[str, int]) -> None:
    # The moto API's documented way to choose what DescribeImageScanFindings answers.
    result = {
        "registryId": "123456789012",
        "repositoryName": REPO.name,
        "imageId": {"imageDigest": DIGEST},
        "imageScanStatus": {"status": status, "description": f"scan {status.lower()}"},
        "imageScanFindings": {"findings": findings, "findingSeverityCounts": counts},
    }
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results",
        json={"results": [result], "region": REGION},
        timeout=5,
    )
    response.raise_for_status()


def test_an_image_never_scanned_is_refused_as_unfinished(ecr: Any, tmp_path: Path) -> None:
    # GIVEN an image ECR never scanned WHEN the gate runs THEN it refuses with exit 4
    with pytest.raises(Refusal) as refusal:
        gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, []), TODAY)
    assert refusal.value.code == Exit.SCAN_UNFINISHED
    assert f"no ECR scan of {REPO.name}@{DIGEST}" in str(refusal.value)


def test_a_high_finding_not_on_the_allow_list_blocks(ecr: Any, tmp_path: Path) -> None:
    # GIVEN a finished scan with moto's HIGH finding and an empty allow-list
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    # WHEN the gate runs THEN it refuses with exit 5, naming the finding and its package
    with pytest.raises(Refusal) as refusal:
        gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, []), TODAY)
    assert refusal.value.code == Exit.SCAN_FINDINGS
    assert "HIGH CVE-9999-9999 in moto_fake: not on the allow-list" in str(refusal.value)


def test_an_allow_listed_finding_passes_with_its_reason(ecr: Any, tmp_path: Path) -> None:
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    lines = gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, [_entry()]), TODAY)
    assert lines[0] == "scan: COMPLETE, HIGH 1"
    assert "accepted: HIGH CVE-9999-9999 in moto_fake: allowed until 2027-01-15 (not reachable" in lines[1]


def test_an_expired_allow_list_entry_blocks_again(ecr: Any, tmp_path: Path) -> None:
    # GIVEN the same finding, allow-listed until the day before today (planted: expired entry)
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    allow = _allowlist(tmp_path, [_entry(added="2026-11-01", expires="2026-12-06")])
    with pytest.raises(Refusal) as refusal:
        gate_scan(ecr, REPO, DIGEST, allow, TODAY)
    assert refusal.value.code == Exit.SCAN_FINDINGS
    assert "its allow-list entry expired on 2026-12-06" in str(refusal.value)
    # AND on its last day it still passes
    assert gate_scan(ecr, REPO, DIGEST, allow, date(2026, 12, 6))[0] == "scan: COMPLETE, HIGH 1"


def test_an_entry_for_another_package_does_not_cover_the_finding(ecr: Any, tmp_path: Path) -> None:
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    with pytest.raises(Refusal, match="not on the allow-list"):
        gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, [_entry(package="openssl")]), TODAY)


def test_a_critical_finding_set_through_the_moto_api_blocks(ecr: Any, tmp_path: Path) -> None:
    # GIVEN a scan whose answer carries a CRITICAL finding and a MEDIUM one
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    findings = [
        {
            "name": "CVE-2026-0001",
            "severity": "CRITICAL",
            "attributes": [{"key": "package_name", "value": "zlib"}],
        },
        {"name": "CVE-2026-0002", "severity": "MEDIUM"},
    ]
    _set_result("COMPLETE", findings, {"CRITICAL": 1, "MEDIUM": 1})
    with pytest.raises(Refusal) as refusal:
        gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, [_entry()]), TODAY)
    # THEN only the CRITICAL one is named
    assert refusal.value.code == Exit.SCAN_FINDINGS
    assert "CRITICAL CVE-2026-0001 in zlib: not on the allow-list" in str(refusal.value)
    assert "CVE-2026-0002" not in str(refusal.value)


def test_a_clean_scan_passes_and_medium_findings_do_not_block(ecr: Any, tmp_path: Path) -> None:
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    _set_result("COMPLETE", [{"name": "CVE-2026-0002", "severity": "MEDIUM"}], {"MEDIUM": 1})
    assert gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, []), TODAY) == ["scan: COMPLETE, MEDIUM 1"]


@pytest.mark.parametrize("status", ["IN_PROGRESS", "FAILED", "UNSUPPORTED_IMAGE", "PENDING"])
def test_a_scan_that_did_not_finish_is_refused(ecr: Any, tmp_path: Path, status: str) -> None:
    # GIVEN a scan still running or ended without findings: an empty list must not read as clean
    ecr.start_image_scan(repositoryName=REPO.name, imageId={"imageDigest": DIGEST})
    _set_result(status, [], {})
    with pytest.raises(Refusal) as refusal:
        gate_scan(ecr, REPO, DIGEST, _allowlist(tmp_path, []), TODAY)
    assert refusal.value.code == Exit.SCAN_UNFINISHED
    assert f"is {status} (scan {status.lower()})" in str(refusal.value)


def test_counts_naming_more_than_the_listed_findings_block() -> None:
    # GIVEN ECR's tally with two HIGH findings of which only one is listed (planted mismatch)
    report = scan_gate.ScanReport(
        "COMPLETE", findings=(scan_gate.Finding("CVE-1", "HIGH"),), counts={"HIGH": 2}
    )
    allow = [Allowance("CVE-1", "ok", date(2026, 12, 1), date(2027, 1, 1), "team")]
    verdict = scan_gate.judge(report, allow, TODAY)
    assert verdict.blocking == ("HIGH: 1 finding(s) counted by ECR but not listed",)


def test_enhanced_findings_are_judged_by_vulnerability_id() -> None:
    # GIVEN an enhanced-scanning page: one active CRITICAL, one closed HIGH, one suppressed HIGH
    def enhanced(vid: str, severity: str, status: str) -> dict[str, Any]:
        return {
            "severity": severity,
            "status": status,
            "packageVulnerabilityDetails": {
                "vulnerabilityId": vid,
                "vulnerablePackages": [{"name": "glibc"}],
            },
        }

    page = {
        "imageScanStatus": {"status": "ACTIVE"},
        "imageScanFindings": {
            "enhancedFindings": [
                enhanced("CVE-A", "CRITICAL", "ACTIVE"),
                enhanced("CVE-B", "HIGH", "CLOSED"),
                enhanced("CVE-C", "HIGH", "SUPPRESSED"),
            ]
        },
    }
    verdict = scan_gate.judge(scan_gate.scan_report([page]), [], TODAY)
    # THEN the closed one is gone and the suppressed one still counts
    assert verdict.finished
    assert verdict.blocking == (
        "CRITICAL CVE-A in glibc: not on the allow-list",
        "HIGH CVE-C in glibc: not on the allow-list",
    )


def test_the_statuses_and_severities_the_gate_names_are_ecrs() -> None:
    model = botocore.session.get_session().get_service_model("ecr")
    assert set(scan_gate.FINISHED) <= set(model.shape_for("ScanStatus").enum)
    assert set(scan_gate.BLOCKING) <= set(model.shape_for("FindingSeverity").enum)
    members = model.shape_for("EnhancedImageScanFinding").members
    assert {"severity", "status", "packageVulnerabilityDetails"} <= set(members)


def test_the_committed_allow_list_loads() -> None:
    assert isinstance(load_allowlist(DEFAULT_PATH), tuple)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry(reason="''"), "entries[0].reason: expected a non-empty str"),
        (_entry(expires="'2027-01-15'"), "entries[0].expires: expected a date (YYYY-MM-DD, unquoted)"),
        (
            _entry(expires="2027-06-01"),
            "entries[0].expires: 2027-06-01 must be on or after added (2026-12-01)",
        ),
        (_entry(expires="2026-11-01"), "entries[0].expires: 2026-11-01 must be on or after added"),
        (_entry(approvedBy=None), "entries[0].approvedBy: expected a non-empty str, found None"),
        (_entry(ticket="X-1"), "entries[0]: unknown key(s) ['ticket']"),
    ],
)
def test_a_malformed_allow_list_is_refused_naming_entry_and_key(
    tmp_path: Path, entry: dict[str, Any], expected: str
) -> None:
    entry = {k: v for k, v in entry.items() if v is not None}
    path = _allowlist(tmp_path, [entry])
    with pytest.raises(AllowListError) as exc:
        load_allowlist(path)
    assert f"{path}: {expected}" in str(exc.value)


def test_an_allow_list_without_entries_is_refused(tmp_path: Path) -> None:
    (tmp_path / "allow.yaml").write_text("entry: []\n")
    with pytest.raises(AllowListError, match="entries: expected a list"):
        load_allowlist(tmp_path / "allow.yaml")
