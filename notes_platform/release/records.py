"""The JSON records the release stages hand each other, and their one reader and writer each.

``notes-platform verify STACK`` writes a :class:`VerifyRecord` after a deploy; ``notes-platform
promote`` reads it and refuses a digest that staging's last verify did not pass. The staging job
writes a :class:`StagingImage` file from its stack outputs; ``promote`` reads the digest from it
when no Pulumi CLI answers. Both are small, versioned JSON documents, so a CI artifact carries
them between jobs and a reader can refuse one it does not understand, naming the file and key.

No third-party import here: ``verify`` and ``promote`` load this module on every run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = 1
"""Version of both documents. A reader refuses another value rather than guess at its keys."""

# What ECR (and every OCI registry) names a manifest by: the OCI image spec's sha256 digest form.
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class RecordError(ValueError):
    """A record that is missing, not JSON, or lacks a key of the right type (the message names both)."""


@dataclass(frozen=True)
class VerifyCheck:
    """One post-deploy check as ``verify`` reported it."""

    name: str
    """Stable identifier, e.g. ``ecs-rollout`` or ``smoke``."""
    passed: bool
    saw: str = ""
    """What the check observed, for the reader of a refusal (e.g. ``rolloutState FAILED``)."""


@dataclass(frozen=True)
class VerifyRecord:
    """The result of ``notes-platform verify STACK`` for the image the stack ran at the time."""

    stack: str
    digest: str
    """The image digest (``sha256:<64 hex>``) the verified service runs."""
    passed: bool
    """True only when every check passed."""
    checked_at: datetime
    """When verify finished, timezone-aware (written as ISO 8601 UTC)."""
    checks: tuple[VerifyCheck, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not DIGEST.match(self.digest):
            raise RecordError(f"digest: {self.digest!r} is not sha256:<64 lowercase hex>")
        if self.checked_at.tzinfo is None:
            raise RecordError("checked_at: must be timezone-aware")
        if self.passed and any(not check.passed for check in self.checks):
            failed = ", ".join(check.name for check in self.checks if not check.passed)
            raise RecordError(f"passed: true while checks failed ({failed})")


@dataclass(frozen=True)
class StagingImage:
    """What the staging job publishes after its deploy: the image staging runs, by digest."""

    stack: str
    repository_url: str
    """The stack's ``ecrRepositoryUrl`` output: ``<acct>.dkr.ecr.<region>.amazonaws.com/<env>/notes-api``."""
    digest: str
    """The stack's ``imageDigest`` output."""
    recorded_at: datetime

    def __post_init__(self) -> None:
        if not DIGEST.match(self.digest):
            raise RecordError(f"imageDigest: {self.digest!r} is not sha256:<64 lowercase hex>")
        if (
            "/" not in self.repository_url
            or "@" in self.repository_url
            or ":" in self.repository_url.split("/")[-1]
        ):
            raise RecordError(
                f"ecrRepositoryUrl: {self.repository_url!r} is not REGISTRY/REPOSITORY (no tag, no digest)"
            )


def _load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RecordError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise RecordError(f"{path}: expected a JSON object")
    if document.get("format") != FORMAT:
        raise RecordError(f"{path}: format: expected {FORMAT}, found {document.get('format')!r}")
    return document


def _typed(path: Path, document: dict[str, Any], key: str, kind: type) -> Any:
    value = document.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError(f"{path}: {key}: expected {kind.__name__}, found {value!r}")
    return value


def _timestamp(path: Path, document: dict[str, Any], key: str) -> datetime:
    text = _typed(path, document, key, str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordError(f"{path}: {key}: {text!r} is not an ISO 8601 timestamp") from exc
    if moment.tzinfo is None:
        raise RecordError(f"{path}: {key}: {text!r} has no timezone")
    return moment


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def read_verify_record(path: Path) -> VerifyRecord:
    """The record at ``path``; :class:`RecordError` naming the file and key when it is malformed."""
    document = _load(path)
    raw_checks = _typed(path, document, "checks", list)
    checks = []
    for index, raw in enumerate(raw_checks):
        where = f"checks[{index}]"
        if not isinstance(raw, dict):
            raise RecordError(f"{path}: {where}: expected an object")
        checks.append(
            VerifyCheck(
                name=_typed(path, raw, "name", str),
                passed=_typed(path, raw, "passed", bool),
                saw=str(raw.get("saw", "")),
            )
        )
    stack = _typed(path, document, "stack", str)
    digest = _typed(path, document, "digest", str)
    passed = _typed(path, document, "passed", bool)
    checked_at = _timestamp(path, document, "checkedAt")
    try:
        return VerifyRecord(stack, digest, passed, checked_at, tuple(checks))
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc


def write_verify_record(path: Path, record: VerifyRecord) -> None:
    """Write ``record`` as JSON (camelCase keys, UTC timestamp), creating the parent directory."""
    document = {
        "format": FORMAT,
        "stack": record.stack,
        "digest": record.digest,
        "passed": record.passed,
        "checkedAt": _iso(record.checked_at),
        "checks": [{"name": c.name, "passed": c.passed, "saw": c.saw} for c in record.checks],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def read_staging_image(path: Path) -> StagingImage:
    """The staging job's image file; :class:`RecordError` naming the file and key when malformed."""
    document = _load(path)
    stack = _typed(path, document, "stack", str)
    repository_url = _typed(path, document, "ecrRepositoryUrl", str)
    digest = _typed(path, document, "imageDigest", str)
    recorded_at = _timestamp(path, document, "recordedAt")
    try:
        return StagingImage(stack, repository_url, digest, recorded_at)
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from exc


def write_staging_image(path: Path, image: StagingImage) -> None:
    """Write ``image`` with the stack's own output names as keys (``ecrRepositoryUrl``, ``imageDigest``)."""
    document = {
        "format": FORMAT,
        "stack": image.stack,
        "ecrRepositoryUrl": image.repository_url,
        "imageDigest": image.digest,
        "recordedAt": _iso(image.recorded_at),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
