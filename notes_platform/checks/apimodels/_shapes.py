"""Walk a planned value against a botocore request shape and report every mismatch by path.

botocore's own ``ParamValidator`` stops at required members, types and minimums; this walker
also reports enum values, maximums, patterns and members the request does not have, and it
names each finding by the Pulumi property path rather than the AWS request path.

Pulumi's wire names are camelCase and AWS's are often PascalCase, so a Pulumi property finds
its request member by a case-insensitive match. What a case-insensitive match cannot bridge
(a renamed property, a map that AWS wants as a list, a JSON string holding a whole document)
is written down per family as a ``Rule`` keyed by the request shape's name.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeGuard

# What a plan cannot know yet (outputs of resources that do not exist) or must not show.
UNCHECKABLE = frozenset({"[unknown]", "[secret]"})

Report = Callable[[str, str], None]


def unknown(value: Any) -> bool:
    """Whether the plan cannot know ``value``: documented rules skip it, as the walker does."""
    return isinstance(value, str) and value in UNCHECKABLE


Convert = Callable[[Any, str], Any]


def items(value: Any) -> list[Any]:
    """The items of a planned list; none when the value is not one (the model walk reports it)."""
    return value if isinstance(value, list) else []


class At(NamedTuple):
    """A value a conversion moved: findings inside it are reported at ``path``, the place the
    user wrote it, not where the request keeps it."""

    path: str
    value: Any


class Raw(NamedTuple):
    """A document the user wrote in AWS's own form (a JSON string): Pulumi renames do not apply
    inside it, and members are named as the API names them."""

    path: str
    value: Any


class Unfit(Exception):
    """A conversion cannot turn the planned value into the request's form; the message says why."""


@dataclass(frozen=True)
class Rule:
    """How one Pulumi property reaches the request: the member it becomes (``None`` when the
    property is the provider's own and has no counterpart) and an optional conversion.
    An ``alias`` is a second spelling some Pulumi types use; messages keep the usual name."""

    member: str | None
    convert: Convert | None = None
    alias: bool = False


IGNORE = Rule(None)


@dataclass(frozen=True)
class Translation:
    """What one family of resources needs beyond a case-insensitive name match.

    ``rules``: request shape name -> Pulumi property -> Rule.
    ``provided``: request shape name (or ``"*"`` for any) -> required members the provider fills
    in itself (auto-naming, documented defaults, computed counts): their absence is no mistake.
    ``required``: members the service documents as required though the model leaves them optional.
    ``documented``: (shape, member) -> the values the member's documentation lists, for strings
    the model leaves free-form.
    ``bounds``: (shape, member) -> (minimum, maximum) the documentation states for numbers the
    model leaves unbounded.
    ``one_of``: shapes of which exactly one member must be set (a statement, an action).
    """

    rules: Mapping[str, Mapping[str, Rule]] = field(default_factory=dict)
    provided: Mapping[str, frozenset[str]] = field(default_factory=dict)
    required: Mapping[str, frozenset[str]] = field(default_factory=dict)
    documented: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    bounds: Mapping[tuple[str, str], tuple[int, int | None]] = field(default_factory=dict)
    one_of: frozenset[str] = frozenset()


@functools.cache
def _session() -> Any:
    # botocore is imported on first use: building a session costs a fifth of a second, and a
    # process that never checks a plan should not pay it.
    import botocore.session  # noqa: PLC0415

    return botocore.session.get_session()


@functools.cache
def service_model(service: str) -> Any:
    """The bundled model of one AWS service, loaded once per process."""
    return _session().get_service_model(service)


def request_shape(service: str, operation: str, member: str | None = None) -> Any:
    """The input shape of ``operation``, or of one of its members."""
    shape = service_model(service).operation_model(operation).input_shape
    return shape.members[member] if member else shape


@functools.cache
def _pattern(source: str) -> re.Pattern[str] | None:
    # Model patterns are written for Java; those Python cannot compile (\p{L} classes) are
    # skipped rather than approximated. AWS matches a whole value, so fullmatch; DOTALL because
    # the models list the newline among allowed characters where it is allowed at all.
    try:
        return re.compile(source, re.DOTALL)
    except re.error:
        return None


def _is_integer(value: Any) -> bool:
    # JSON and the Pulumi wire carry numbers as floats; 30.0 is the integer 30.
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return integral and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a JSON number (``True`` is no number here, though Python says int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Scalar shape type -> (does a value fit, what the message calls a fitting value).
_SCALARS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "integer": (_is_integer, "an integer"),
    "long": (_is_integer, "an integer"),
    "double": (is_number, "a number"),
    "float": (is_number, "a number"),
    "boolean": (lambda value: isinstance(value, bool), "true or false"),
    "blob": (lambda value: isinstance(value, (str, bytes)), "a string"),
    "timestamp": (lambda value: isinstance(value, str) or is_number(value), "a timestamp"),
}


def child(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def pulumi_name(member: str) -> str:
    """The camelCase name Pulumi gives an AWS member: ``MinTTL`` -> ``minTtl``,
    ``OKActions`` -> ``okActions``, ``XSSProtection`` -> ``xssProtection``."""
    words = re.findall(r"[A-Z]+[0-9]*(?=[A-Z][a-z]|$)|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*", member)
    if not words:
        return member
    return str(words[0]).lower() + "".join(str(w)[:1].upper() + str(w)[1:].lower() for w in words[1:])


def describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _unwrap(value: Any, path: str, raw: bool) -> tuple[Any, str, bool]:
    """The value inside any ``At``/``Raw`` wrappers, with the path and rawness they give it."""
    while isinstance(value, (At, Raw)):
        raw = raw or isinstance(value, Raw)
        path, value = value.path, value.value
    return value, path, raw


def _placed(value: Any, path: str) -> Any:
    """``value`` reported at ``path``, unless a conversion has already placed it elsewhere."""
    return value if isinstance(value, (At, Raw)) else At(path, value)


class Walker:
    """Reports through ``report(path, message)`` everything in a value that the request shape
    (and the family's translation) rejects."""

    def __init__(self, translation: Translation, report: Report) -> None:
        self.translation = translation
        self.report = report
        # Lower-cased member name -> member name, per shape; shape names are unique within the
        # one service a translation speaks to.
        self._folded: dict[str, dict[str, str]] = {}

    # --- names -------------------------------------------------------------------------------

    def resolve(self, shape: Any, key: str, raw: bool) -> Rule | None:
        """The rule that takes Pulumi property (or API member, when ``raw``) ``key`` into
        ``shape``; ``None`` when the request has no such member."""
        if not raw:
            rule = self.translation.rules.get(shape.name, {}).get(key)
            if rule is not None:
                return rule
        folded = self._folded.get(shape.name)
        if folded is None:
            folded = self._folded[shape.name] = {m.lower(): m for m in shape.members}
        member = folded.get(key.lower())
        return Rule(member) if member else None

    def name_of(self, shape: Any, member: str, raw: bool) -> str:
        """What the user would call ``member`` of ``shape``."""
        if raw:
            return member
        for key, rule in self.translation.rules.get(shape.name, {}).items():
            if rule.member == member and not rule.alias:
                return key
        return pulumi_name(member)

    # --- walking -----------------------------------------------------------------------------

    def walk(
        self,
        shape: Any,
        value: Any,
        path: str,
        *,
        raw: bool = False,
        documented: tuple[str, ...] | None = None,
        bounds: tuple[int, int | None] | None = None,
    ) -> None:
        value, path, raw = _unwrap(value, path, raw)
        if value is None or unknown(value):
            return
        kind = shape.type_name
        if kind == "structure":
            self._structure(shape, value, path, raw)
        elif kind == "list":
            self._list(shape, value, path, raw, documented)
        elif kind == "map":
            self._map(shape, value, path, raw)
        elif kind == "string":
            self._string(shape, value, path, documented)
        elif kind in _SCALARS:
            accepts, noun = _SCALARS[kind]
            if not accepts(value):
                self.report(path, f"expected {noun}, got {describe(value)}")
            elif kind == "blob":
                self._length(shape, len(value.encode() if isinstance(value, str) else value), path, "length")
            elif kind not in {"boolean", "timestamp"}:
                self._range(shape, value, path, bounds)

    def _structure(self, shape: Any, value: Any, path: str, raw: bool) -> None:
        if isinstance(value, list):
            # Pulumi carries a nested block that may appear once as a one-item list.
            if len(value) != 1:
                self.report(path, f"expected one object, got a list of {len(value)}")
                return
            value, path, raw = _unwrap(value[0], f"{path}[0]", raw)
        if not isinstance(value, dict):
            self.report(path, f"expected an object, got {describe(value)}")
            return
        present = {m for key, item in value.items() if (m := self._member(shape, key, item, path, raw))}
        required = set(shape.required_members) | self.translation.required.get(shape.name, frozenset())
        for member in shape.members:
            if (
                member in required
                and member not in present
                and (raw or not self._provided(shape.name, member))
            ):
                name = self.name_of(shape, member, raw)
                self.report(child(path, name), f"required member {name!r} is missing")
        if shape.metadata.get("union") or shape.name in self.translation.one_of:
            if len(present) > 1:
                found = ", ".join(sorted(self.name_of(shape, m, raw) for m in present))
                self.report(path, f"only one member may be set; found {found}")
            elif not present:
                names = ", ".join(self.name_of(shape, m, raw) for m in shape.members)
                self.report(path, f"exactly one of {names} must be set; none is")

    def _member(self, shape: Any, key: str, value: Any, path: str, raw: bool) -> str | None:
        """Walk one member of a structure; return the request member it set, if any."""
        rule = self.resolve(shape, key, raw)
        where = child(path, key)
        if isinstance(value, At):  # placed by a conversion one level up
            where, value = value.path, value.value
        if rule is None:
            self.report(where, self._unknown(shape, key, raw))
            return None
        if rule.member is None or value is None:
            return None
        if rule.convert is not None:
            try:
                value = rule.convert(value, where)
            except Unfit as error:
                self.report(where, str(error))
                return rule.member
        self.walk(
            shape.members[rule.member],
            _placed(value, where),
            where,
            raw=raw,
            documented=self.translation.documented.get((shape.name, rule.member)),
            bounds=self.translation.bounds.get((shape.name, rule.member)),
        )
        return rule.member

    def _provided(self, shape_name: str, member: str) -> bool:
        provided = self.translation.provided
        return member in provided.get(shape_name, frozenset()) or member in provided.get("*", frozenset())

    def _unknown(self, shape: Any, key: str, raw: bool) -> str:
        names = [self.name_of(shape, m, raw) for m in shape.members]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown member {key!r}: {shape.name} has no such member{hint}"

    def _list(self, shape: Any, value: Any, path: str, raw: bool, documented: tuple[str, ...] | None) -> None:
        if not isinstance(value, list):
            self.report(path, f"expected a list, got {describe(value)}")
            return
        self._length(shape, len(value), path, "items")
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            self.walk(shape.member, _placed(item, where), where, raw=raw, documented=documented)

    def _map(self, shape: Any, value: Any, path: str, raw: bool) -> None:
        if not isinstance(value, dict):
            self.report(path, f"expected an object, got {describe(value)}")
            return
        self._length(shape, len(value), path, "entries")
        for key, item in value.items():
            # A converted entry carries the path the user wrote it at; report its key there too.
            where = item.path if isinstance(item, (At, Raw)) else child(path, str(key))
            self.walk(shape.key, At(where, key), where, raw=raw)
            self.walk(shape.value, _placed(item, where), where, raw=raw)

    def _string(self, shape: Any, value: Any, path: str, documented: tuple[str, ...] | None) -> None:
        if not isinstance(value, str):
            self.report(path, f"expected a string, got {describe(value)}")
            return
        allowed = shape.enum or documented
        if allowed and value not in allowed:
            self.report(path, f"value {describe(value)} is not one of {', '.join(allowed)}")
            return
        if not self._length(shape, len(value), path, "length"):
            return  # a pattern says little more about a value of the wrong length
        source = shape.metadata.get("pattern")
        compiled = _pattern(source) if source else None
        if compiled is not None and not compiled.fullmatch(value):
            self.report(path, f"value {describe(value)} does not match the pattern {source}")

    def _length(self, shape: Any, size: int, path: str, unit: str) -> bool:
        """Report a size outside the shape's min/max; whether it was inside."""
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        what = f"length {size}" if unit == "length" else f"{size} {unit}"
        if low is not None and size < low:
            self.report(path, f"{what} is below the minimum {low}")
            return False
        if high is not None and size > high:
            self.report(path, f"{what} is above the maximum {high}")
            return False
        return True

    def _range(self, shape: Any, value: float, path: str, bounds: tuple[int, int | None] | None) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if bounds is not None:
            low = bounds[0] if low is None else max(low, bounds[0])
            if bounds[1] is not None:
                high = bounds[1] if high is None else min(high, bounds[1])
        if low is not None and value < low:
            self.report(path, f"{_number(value)} is below the minimum {low}")
        elif high is not None and value > high:
            self.report(path, f"{_number(value)} is above the maximum {high}")


# Properties every pulumi_aws resource has and no AWS request does.
@dataclass(frozen=True)
class Family:
    """One kind of resource: the request its properties map onto and (``semantic``) the
    documented rules the model cannot express. ``root`` names the request member Pulumi's
    properties live in, when they are not the request itself (CloudFront's
    ``CachePolicyConfig``)."""

    title: str
    types: tuple[str, ...]
    service: str
    operation: str | None
    translation: Translation = Translation()
    root: str | None = None
    semantic: Callable[[Mapping[str, Any], Report], None] | None = None

    def check(self, inputs: Mapping[str, Any], report: Report) -> None:
        if self.operation is not None:
            shape = request_shape(self.service, self.operation, self.root)
            Walker(self.translation, report).walk(shape, dict(inputs), "")
        if self.semantic is not None:
            self.semantic(inputs, report)
