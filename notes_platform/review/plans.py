"""Two offline plan graphs (`notes-platform plan --json`) -> the steps a preview would show.

A plan carries no ``replaceReasons``, so whether a changed resource is updated or replaced is
decided here from the inputs terraform-provider-aws marks ForceNew (``checks/force_new.py``) and
the resource's own ``replaceOnChanges``. A type missing from that table is shown as an update
with a note, never silently as safe: the reviewer is told the replacement could not be judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.review.preview import Change, State, Step, UnreadableInput, read_json


def _resources(document: Any, source: str) -> dict[str, Mapping[str, Any]]:
    if not isinstance(document, Mapping) or not isinstance(document.get("resources"), list):
        hint = (
            " (this looks like a preview: use `notes-platform review`)"
            if isinstance(document, Mapping) and "steps" in document
            else ""
        )
        raise UnreadableInput(
            source, f"no `resources` list: not a plan graph from `notes-platform plan --json`{hint}"
        )
    found: dict[str, Mapping[str, Any]] = {}
    for index, resource in enumerate(document["resources"]):
        if (
            not isinstance(resource, Mapping)
            or not isinstance(resource.get("urn"), str)
            or "type" not in resource
        ):
            raise UnreadableInput(source, f"resources[{index}] has no urn and type")
        found[resource["urn"]] = resource
    return found


def _state(resource: Mapping[str, Any]) -> State:
    return State(
        inputs=resource.get("inputs") or {},
        protect=bool(resource.get("protect")),
        retain_on_delete=bool(resource.get("retainOnDelete")),
        dependencies=tuple(resource.get("dependencies") or ()),
    )


def replacing_inputs(type_: str, changed: list[str], replace_on_changes: list[str]) -> tuple[str, ...] | None:
    """The changed inputs that replace a resource of ``type_`` (None: the table has no entry)."""
    on_changes = {p.split(".")[0].split("[")[0] for p in replace_on_changes}
    if "*" in on_changes:
        return tuple(changed)
    entry = FORCE_NEW.get(type_)
    if entry is None:
        return tuple(k for k in changed if k in on_changes) or None
    return tuple(k for k in changed if k in entry.force_new or k in on_changes)


def steps_between(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Step], int]:
    steps: list[Step] = []
    unchanged = 0
    for urn in sorted(set(old) | set(new)):
        before, after = old.get(urn), new.get(urn)
        type_ = str((after or before or {}).get("type"))
        if before is None and after is not None:
            steps.append(Step(op="create", urn=urn, type=type_, old=None, new=_state(after), ops=("create",)))
            continue
        if after is None and before is not None:
            steps.append(
                Step(op="delete", urn=urn, type=type_, old=_state(before), new=None, ops=("delete",))
            )
            continue
        assert before is not None
        assert after is not None
        step = Step(op="update", urn=urn, type=type_, old=_state(before), new=_state(after))
        changed = step.changed_keys()
        if not changed and step.old == step.new:
            unchanged += 1
            continue
        reasons = replacing_inputs(type_, changed, list(after.get("replaceOnChanges") or ()))
        if reasons:
            step.op, step.replace_reasons = "replace", reasons
            entry = FORCE_NEW.get(type_)
            step.replace_source = f"force-new table, {entry.source}" if entry else "replaceOnChanges"
        step.replacement_unjudged = reasons is None and type_ not in FORCE_NEW
        step.diff_reasons = tuple(changed)
        step.ops = (step.op,)
        steps.append(step)
    return steps, unchanged


def read_plan_diff(old_path: str, new_path: str) -> Change:
    old_doc, new_doc = read_json(old_path), read_json(new_path)
    old, new = _resources(old_doc, old_path), _resources(new_doc, new_path)
    steps, unchanged = steps_between(old, new)
    stack = str(new_doc.get("stack") or old_doc.get("stack") or "")
    return Change(
        source=f"{old_path} -> {new_path}", stack=stack, steps=steps, unchanged=unchanged,
        old_all=list(old.values()), new_all=list(new.values()),
    )  # fmt: skip
