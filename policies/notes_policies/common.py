"""What every rule module shares: the two rule builders, settings with schema defaults, and
readers for property values.

The engine hands a rule read-only proxies (``Mapping`` and ``Sequence``, never ``dict`` or
``list``) that raise on a value unknown during preview, and JSON documents (container
definitions, IAM policies) as strings. The readers here accept all of those shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

ADVISORY = EnforcementLevel.ADVISORY
MANDATORY = EnforcementLevel.MANDATORY

Schema = Mapping[str, Mapping[str, Any]]


class Settings:
    """One policy's configuration: what the engine passed over the defaults its schema declares.

    The defaults are read here as well as by the CLI, so a rule behaves the same whether or not
    the engine fills them in, and offline evaluation needs no engine at all.
    """

    def __init__(self, schema: Schema, given: Mapping[str, Any]) -> None:
        self._schema = schema
        self._values = {key: spec.get("default") for key, spec in schema.items()} | dict(given)

    def _get(self, key: str) -> Any:
        if key not in self._schema:
            raise KeyError(f"{key!r} is not in this policy's config schema")
        return self._values.get(key)

    def integer(self, key: str) -> int:
        return int(self._get(key))

    def flag(self, key: str) -> bool:
        return bool(self._get(key))

    def strings(self, key: str) -> list[str]:
        return [str(item) for item in self._get(key) or ()]

    def integers(self, key: str) -> list[int]:
        return [int(item) for item in self._get(key) or ()]


ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation, Settings], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation, Settings], None]


class ResourceRule(ResourceValidationPolicy):
    """A resource policy that runs its check only on the types it names."""

    def __init__(
        self,
        name: str,
        description: str,
        types: Iterable[str],
        check: ResourceCheck,
        enforcement: EnforcementLevel,
        config: Schema | None,
    ) -> None:
        self.resource_types = frozenset(types)
        self.schema: Schema = config or {}
        self._check = check
        super().__init__(
            name,
            description,
            validate=self._validate,
            enforcement_level=enforcement,
            config_schema=_schema(self.schema),
        )

    def _validate(self, args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in self.resource_types:
            self._check(args, report, Settings(self.schema, args.get_config()))


class StackRule(StackValidationPolicy):
    """A stack policy: sees every resource with its parent, provider and dependencies."""

    def __init__(
        self,
        name: str,
        description: str,
        check: StackCheck,
        enforcement: EnforcementLevel,
        config: Schema | None,
    ) -> None:
        self.schema: Schema = config or {}
        self._check = check
        super().__init__(
            name,
            description,
            validate=self._validate,
            enforcement_level=enforcement,
            config_schema=_schema(self.schema),
        )

    def _validate(self, args: StackValidationArgs, report: ReportViolation) -> None:
        self._check(args, report, Settings(self.schema, args.get_config()))


def _schema(schema: Schema) -> PolicyConfigSchema | None:
    return PolicyConfigSchema({key: dict(spec) for key, spec in schema.items()}) if schema else None


def resource_rule(
    name: str,
    description: str,
    *,
    types: Iterable[str],
    enforcement: EnforcementLevel = MANDATORY,
    config: Schema | None = None,
) -> Callable[[ResourceCheck], ResourceRule]:
    """Turn ``check(args, report, settings)`` into a policy named ``name``."""

    def build(check: ResourceCheck) -> ResourceRule:
        return ResourceRule(name, description, types, check, enforcement, config)

    return build


def stack_rule(
    name: str,
    description: str,
    *,
    enforcement: EnforcementLevel = MANDATORY,
    config: Schema | None = None,
) -> Callable[[StackCheck], StackRule]:
    """Turn ``check(args, report, settings)`` into a stack policy named ``name``."""

    def build(check: StackCheck) -> StackRule:
        return StackRule(name, description, check, enforcement, config)

    return build


def strings_setting(default: list[str], description: str) -> dict[str, Any]:
    """The schema entry of a list-of-strings setting."""
    return {"type": "array", "items": {"type": "string"}, "default": default, "description": description}


def stacks_setting(description: str) -> dict[str, Any]:
    """The schema entry of rules that hold only in some stacks (prod, by default)."""
    return strings_setting(["prod"], description)


def minimum_days(
    default: int, description: str, *, minimum: int = 0, maximum: int | None = None
) -> dict[str, Any]:
    """The config of a rule whose one setting, ``minimumDays``, is a number of days."""
    bounds = {"minimum": minimum} | ({"maximum": maximum} if maximum is not None else {})
    return {"minimumDays": {"type": "integer", **bounds, "default": default, "description": description}}


def unmet_minimum_days(value: Any, absent: int, settings: Settings) -> str:
    """The rule's ``minimumDays``, spelled out ("7 days"), when ``value`` (``absent`` when the
    program leaves it out) is fewer; "" when it is enough."""
    minimum = settings.integer("minimumDays")
    return days(minimum) if number(value, absent) < minimum else ""


def customer_key(value: Any, aws_managed_alias: str) -> bool:
    """Whether a KMS key property names a customer-managed key: set, and not the service's
    AWS-managed one (``alias/aws/<service>``)."""
    key = text(value)
    return bool(key) and not key.endswith(aws_managed_alias)


# Property readers


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    return ()


def document(value: Any) -> Any:
    """A JSON document property: parsed when the program passed a string, as is otherwise."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def is_true(value: Any) -> bool:
    # Provider properties travel as strings ("true"); resource properties as booleans.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        return float(value)
    except ValueError:
        return default


def named_values(value: Any) -> dict[Any, Any]:
    """A list of ``{"name": ..., "value": ...}`` entries (DocumentDB parameters, ECS cluster
    settings) as one mapping from name to value."""
    return {mapping(item).get("name"): mapping(item).get("value") for item in sequence(value)}


def as_list(value: Any) -> list[Any]:
    """IAM's "one or many": a lone string or statement is a list of one."""
    if isinstance(value, str | Mapping):
        return [value]
    return list(sequence(value))


def days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def stack_of(urn: str) -> str:
    """The stack a URN belongs to: ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


# Stack helpers


def of_type(args: StackValidationArgs, *types: str | Iterable[str]) -> list[PolicyResource]:
    wanted: set[str] = set()
    for t in types:
        wanted.update({t} if isinstance(t, str) else t)
    return [r for r in args.resources if r.resource_type in wanted]


def current_stack(args: StackValidationArgs) -> str:
    return stack_of(args.resources[0].urn) if args.resources else ""


def references(
    source: PolicyResource,
    prop: str,
    target: PolicyResource,
    matches: Callable[[Any], bool] | None = None,
) -> bool:
    """Whether ``source.props[prop]`` points at ``target``.

    The engine records which resources fed each property; that answer is exact. Without it (a
    graph read back from JSON) a dependency on ``target`` counts: the resources asked about
    here reach a target of that type through that one property. A value typed into the
    program instead counts when ``matches`` recognises ``target``'s name in it. Values are not
    compared when there is a dependency, since provider-assigned ids differ from the names the
    program chose (and, in a plan, from what AWS will assign).
    """
    fed_by = source.property_dependencies.get(prop)
    if fed_by:
        return any(d.urn == target.urn for d in fed_by)
    if any(d.urn == target.urn for d in source.dependencies):
        return True
    return matches is not None and matches(source.props.get(prop))


def region_of(resource: PolicyResource | ResourceValidationArgs) -> str:
    """Where a resource lives: its own ``region`` (AWS provider 7+), else its provider's."""
    provider = resource.provider.props if resource.provider else None
    return text(resource.props.get("region")) or text(mapping(provider).get("region"))
