"""Documents no request model walks in full: JSON strings (policies, dashboard bodies), maps
AWS wants as lists of pairs, and the checks families make on them by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from notes_platform.checks.apimodels._shapes import (
    IGNORE,
    At,
    Convert,
    Raw,
    Report,
    Unfit,
    child,
    describe,
    unknown,
)

PROVIDER_ONLY = {"region": IGNORE}


def _pairs(key: str, noun: str) -> Convert:
    """The conversion of a Pulumi map (tags, dimensions) to AWS's list of pairs: ``key`` names
    the pair's first member, ``Key`` or ``Name`` (casing follows the shape), and ``noun`` says
    what the map's keys are when the value is no map."""

    def convert(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise Unfit(f"expected an object of {noun} to values, got {describe(value)}")
        pairs = []
        for k, v in value.items():
            where = child(path, k)
            pairs.append(At(where, {key: At(where, k), "value": At(where, v)}))
        return pairs

    return convert


tag_list = _pairs("key", "tag names")
name_value_list = _pairs("name", "names")


def parse_json(text: str) -> Any:
    """The value a JSON string holds; ``Unfit`` saying where it is broken when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise Unfit(f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None


def json_document(value: Any, path: str) -> Any:
    """A JSON string the user wrote in AWS's own form."""
    return Raw(path, parse_json(value) if isinstance(value, str) else value)


def decoded(value: Any) -> Any:
    """What a JSON property holds, for a family's own rules once the model walk has seen it:
    ``None`` when the string is not JSON, since the walk has reported that already."""
    if not isinstance(value, str):
        return value
    try:
        return parse_json(value)
    except Unfit:
        return None


def json_object(
    value: Any, path: str, report: Report, expected: str = "expected a JSON object"
) -> dict[str, Any] | None:
    """The object a JSON property no model walks holds (a dashboard body, a policy), or
    ``None``: reported as ``expected`` when it is JSON of another kind or no JSON at all, and
    silently when the plan cannot know it."""
    if value is None or unknown(value):
        return None
    if isinstance(value, str):
        try:
            value = parse_json(value)
        except Unfit as error:
            report(path, str(error))
            return None
    if not isinstance(value, dict):
        report(path, f"{expected}, got {describe(value)}")
        return None
    return value


def choice(
    value: Mapping[str, Any],
    member: str,
    allowed: tuple[str, ...],
    path: str,
    report: Report,
    *,
    required: bool = False,
) -> None:
    """Report ``value[member]`` when it is not one of ``allowed`` (or, if ``required``, missing):
    for documents the models hold only as strings (dashboard bodies, policies)."""
    chosen = value.get(member)
    if chosen is None:
        if required:
            report(child(path, member), f"required member {member!r} is missing")
    elif chosen not in allowed:
        report(child(path, member), f"value {describe(chosen)} is not one of {', '.join(allowed)}")


def unexpected_members(
    value: Mapping[str, Any],
    allowed: tuple[str, ...],
    path: str,
    report: Report,
    *,
    noun: str = "member",
    owner: str | None = None,
) -> None:
    """Report each key of ``value`` that is not one of ``allowed``, for documents the models
    hold only as strings; ``owner`` (a widget, a policy) lists ``allowed`` in the message."""
    listed = f"; {owner} has {', '.join(allowed)}" if owner else ""
    for key in value:
        if key not in allowed:
            report(child(path, key), f"unknown {noun} {key!r}{listed}")
