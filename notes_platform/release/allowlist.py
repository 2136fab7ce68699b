"""The committed, dated allow-list of scan findings (``release/scan-allowlist.yaml``).

A finding on the list is accepted only while its entry has not expired; every entry carries its
reason, the day it was added and an expiry at most :data:`MAX_DAYS` later, so an exception is a
reviewed, temporary decision rather than a permanent hole in the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

MAX_DAYS = 90
"""Longest an entry may stay valid: a finding accepted for longer deserves a fix, not a renewal."""

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "release" / "scan-allowlist.yaml"


class AllowListError(ValueError):
    """A malformed allow-list: the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Allowance:
    id: str
    """The finding id as ECR reports it, e.g. ``CVE-2024-12345``."""
    reason: str
    added: date
    expires: date
    """Last day the finding is accepted (inclusive)."""
    approved_by: str
    package: str | None = None
    """When set, only the finding in this package is accepted."""

    def covers(self, finding_id: str, package: str | None) -> bool:
        return self.id == finding_id and (self.package is None or self.package == package)

    def expired(self, today: date) -> bool:
        return today > self.expires


def _field(
    path: Path, index: int, entry: dict[str, Any], key: str, kind: type, *, required: bool = True
) -> Any:
    value = entry.get(key)
    if value is None and not required:
        return None
    # A YAML date loads as datetime.date; a quoted one stays a string and is refused here.
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        wanted = "a date (YYYY-MM-DD, unquoted)" if kind is date else f"a non-empty {kind.__name__}"
        raise AllowListError(f"{path}: entries[{index}].{key}: expected {wanted}, found {value!r}")
    return value


def load_allowlist(path: Path = DEFAULT_PATH) -> tuple[Allowance, ...]:
    """Every entry of the list at ``path``; :class:`AllowListError` when it is missing or malformed."""
    from ruamel.yaml import YAML  # noqa: PLC0415 (only promote pays for it)
    from ruamel.yaml.error import YAMLError  # noqa: PLC0415

    try:
        document = YAML(typ="safe").load(path.read_text())
    except FileNotFoundError as exc:
        raise AllowListError(f"{path}: no such file") from exc
    except YAMLError as exc:
        raise AllowListError(f"{path}: not YAML ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise AllowListError(f"{path}: entries: expected a list (an empty list is `entries: []`)")
    known = {"id", "package", "reason", "added", "expires", "approvedBy"}
    allowances = []
    for index, entry in enumerate(document["entries"]):
        if not isinstance(entry, dict):
            raise AllowListError(f"{path}: entries[{index}]: expected a mapping")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise AllowListError(f"{path}: entries[{index}]: unknown key(s) {unknown}")
        allowance = Allowance(
            id=_field(path, index, entry, "id", str),
            reason=_field(path, index, entry, "reason", str),
            added=_field(path, index, entry, "added", date),
            expires=_field(path, index, entry, "expires", date),
            approved_by=_field(path, index, entry, "approvedBy", str),
            package=_field(path, index, entry, "package", str, required=False),
        )
        if not 0 <= (allowance.expires - allowance.added).days <= MAX_DAYS:
            raise AllowListError(
                f"{path}: entries[{index}].expires: {allowance.expires} must be on or after added "
                f"({allowance.added}) and at most {MAX_DAYS} days later"
            )
        allowances.append(allowance)
    return tuple(allowances)
