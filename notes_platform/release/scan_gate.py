"""The scan gate: ECR's scan of the image finished, and no CRITICAL or HIGH finding remains that the
allow-list does not accept today.

Reads ``DescribeImageScanFindings`` (ECR API reference, "DescribeImageScanFindings" and
"ImageScanFindings"): ``imageScanStatus.status`` and, for basic scanning, ``findings[]`` (``name``,
``severity``, ``attributes`` with ``package_name``), for enhanced scanning (Amazon Inspector)
``enhancedFindings[]`` (``severity``, ``status``, ``packageVulnerabilityDetails.vulnerabilityId``
and ``vulnerablePackages[].name``), and ``findingSeverityCounts``. The operation is paginated
(``nextToken``; botocore ships its paginator), so every page is read before judging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from notes_platform.release.allowlist import Allowance

BLOCKING = ("CRITICAL", "HIGH")
# ScanStatus in the ECR API model: COMPLETE is a finished basic scan; ACTIVE is an image under
# enhanced (Inspector) continuous scanning whose findings are current. Everything else
# (IN_PROGRESS, PENDING, FAILED, UNSUPPORTED_IMAGE, FINDINGS_UNAVAILABLE, ...) means there is no
# finished scan to judge, and the gate refuses rather than reading an empty list as clean.
FINISHED = ("COMPLETE", "ACTIVE")
# Inspector closes a finding once the vulnerable package is gone; SUPPRESSED ones still count:
# the committed allow-list, not a console suppression rule, is where an exception is reviewed.
_IGNORED_ENHANCED_STATUS = ("CLOSED",)


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    package: str | None = None


@dataclass(frozen=True)
class ScanReport:
    status: str
    description: str = ""
    findings: tuple[Finding, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanVerdict:
    finished: bool
    blocking: tuple[str, ...] = ()
    """One line per CRITICAL/HIGH finding that stops the promotion, with why it is not accepted."""
    accepted: tuple[str, ...] = ()
    """One line per CRITICAL/HIGH finding the allow-list accepts today, with its reason and expiry."""

    @property
    def passed(self) -> bool:
        return self.finished and not self.blocking


def _basic(raw: Mapping[str, Any]) -> Finding:
    attributes = {a.get("key"): a.get("value") for a in raw.get("attributes", [])}
    return Finding(
        str(raw.get("name", "?")), str(raw.get("severity", "UNDEFINED")), attributes.get("package_name")
    )


def _enhanced(raw: Mapping[str, Any]) -> Finding | None:
    if raw.get("status") in _IGNORED_ENHANCED_STATUS:
        return None
    details = raw.get("packageVulnerabilityDetails", {})
    packages = details.get("vulnerablePackages") or [{}]
    finding_id = details.get("vulnerabilityId") or raw.get("title") or raw.get("findingArn", "?")
    return Finding(str(finding_id), str(raw.get("severity", "UNDEFINED")), packages[0].get("name"))


def scan_report(pages: Iterable[Mapping[str, Any]]) -> ScanReport:
    """One report from every page of a ``DescribeImageScanFindings`` answer."""
    status, description = "", ""
    counts: Mapping[str, int] = {}
    findings: list[Finding] = []
    for page in pages:
        scan_status = page.get("imageScanStatus", {})
        status = scan_status.get("status", status)
        description = scan_status.get("description", description)
        body = page.get("imageScanFindings", {})
        counts = body.get("findingSeverityCounts", counts)
        findings += [_basic(raw) for raw in body.get("findings", [])]
        findings += [f for raw in body.get("enhancedFindings", []) if (f := _enhanced(raw)) is not None]
    return ScanReport(status, description, tuple(findings), counts)


def judge(report: ScanReport, allowlist: Iterable[Allowance], today: date) -> ScanVerdict:
    """Whether ``report`` lets the image through, with one line per finding that matters."""
    if report.status not in FINISHED:
        return ScanVerdict(finished=False)
    entries = list(allowlist)
    blocking: list[str] = []
    accepted: list[str] = []
    serious = [f for f in report.findings if f.severity in BLOCKING]
    for finding in serious:
        label = f"{finding.severity} {finding.id}" + (f" in {finding.package}" if finding.package else "")
        entry = next((a for a in entries if a.covers(finding.id, finding.package)), None)
        if entry is None:
            blocking.append(f"{label}: not on the allow-list")
        elif entry.expired(today):
            blocking.append(f"{label}: its allow-list entry expired on {entry.expires} ({entry.reason})")
        else:
            accepted.append(f"{label}: allowed until {entry.expires} ({entry.reason}; {entry.approved_by})")
    # The counts are ECR's own tally: if they name more serious findings than the pages listed, the
    # unlisted ones cannot have been judged against the allow-list, so they block.
    for severity in BLOCKING:
        listed = sum(1 for f in serious if f.severity == severity)
        unlisted = int(report.counts.get(severity, 0)) - listed
        if unlisted > 0:
            blocking.append(f"{severity}: {unlisted} finding(s) counted by ECR but not listed")
    return ScanVerdict(finished=True, blocking=tuple(blocking), accepted=tuple(accepted))


class ScanNotFoundError(LookupError):
    """ECR has no scan of this image (ScanNotFoundException): scan on push did not run or is pending."""


def fetch_scan(client: Any, repository: str, digest: str, registry_id: str | None = None) -> ScanReport:
    """Every page of the image's scan findings from ECR (``client`` is a boto3 ``ecr`` client)."""
    request: dict[str, Any] = {"repositoryName": repository, "imageId": {"imageDigest": digest}}
    if registry_id:
        request["registryId"] = registry_id
    try:
        return scan_report(client.get_paginator("describe_image_scan_findings").paginate(**request))
    except (
        client.exceptions.ScanNotFoundException,
        client.exceptions.ImageNotFoundException,
        client.exceptions.RepositoryNotFoundException,
    ) as exc:
        raise ScanNotFoundError(str(exc)) from exc
