"""A preview document in the Pulumi CLI's JSON format, made from our own plans: what
`pulumi preview --json` would print for the change between two plan graphs. Tests, the README's
example comment and the speed benchmark review these alongside the real captures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notes_platform.review.plans import steps_between
from notes_platform.review.preview import Step


def _state(step: Step, side: str, resource: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    state = {
        "urn": step.urn,
        "custom": resource.get("custom", True),
        "type": step.type,
        "inputs": resource.get("inputs") or {},
        "parent": resource.get("parent"),
        "provider": resource.get("provider"),
        "dependencies": resource.get("dependencies") or [],
    }
    if resource.get("protect"):
        state["protect"] = True
    if resource.get("retainOnDelete"):
        state["retainOnDelete"] = True
    if side == "old":
        # Outputs are where a real state keeps provider-filled values; a plan has none, so the
        # inputs stand in (the review never reads outputs).
        state["outputs"] = dict(resource.get("inputs") or {})
    return state


def preview_document(old_plan: Mapping[str, Any], new_plan: Mapping[str, Any]) -> dict[str, Any]:
    old = {r["urn"]: r for r in old_plan["resources"]}
    new = {r["urn"]: r for r in new_plan["resources"]}
    steps, unchanged = steps_between(old, new)
    raw = []
    for step in steps:
        item: dict[str, Any] = {
            "op": step.op,
            "urn": step.urn,
            "provider": (new.get(step.urn) or old.get(step.urn) or {}).get("provider"),
            "oldState": _state(step, "old", old.get(step.urn)),
            "newState": _state(step, "new", new.get(step.urn)),
            "detailedDiff": None,
        }
        if step.op in ("update", "replace"):
            item["diffReasons"] = list(step.diff_reasons)
        if step.op == "replace":
            item["replaceReasons"] = list(step.replace_reasons or ())
        raw.append({k: v for k, v in item.items() if v is not None or k == "detailedDiff"})
    summary: dict[str, int] = {"same": unchanged}
    for step in steps:
        summary[step.op] = summary.get(step.op, 0) + 1
    return {"steps": raw, "duration": 0, "changeSummary": summary}
