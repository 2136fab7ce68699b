"""The notes-platform policy pack's rules, one module per AWS area.

The engine imports this package as ``notes_policies`` (the pack directory is on its path);
tests and the offline plan import it as ``policies.notes_policies``. Modules inside import
each other relatively, so both work.
"""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    backup,
    compute,
    data,
    edge,
    eks,
    identity,
    network,
    observability,
    queues,
    rotation,
    secrets,
    tagging,
)

PACK_NAME = "notes-platform"

AREAS = (
    network,
    edge,
    compute,
    eks,
    data,
    backup,
    queues,
    secrets,
    rotation,
    identity,
    observability,
    tagging,
)


def all_policies() -> list[Policy]:
    """Every policy of the pack, in area order: what ``__main__`` hands to ``PolicyPack``."""
    return [policy for area in AREAS for policy in area.POLICIES]


__all__ = ["AREAS", "PACK_NAME", "all_policies"]
