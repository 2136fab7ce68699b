"""The policy pack run against a recorded plan, the way the engine runs it, without the engine.

``notes-platform plan STACK`` records every resource the program registers (notes_platform/graph/mocks.py).
``evaluate`` hands each one to every resource policy through the same ``validate`` the engine
calls, with ``ResourceValidationArgs`` built as the engine builds them (wire property names,
read-only proxies that raise on unknown values, the resource's provider and options), then
the whole graph to every stack policy, and collects what they report. Configuration is read
from the same file CI passes to ``pulumi preview --policy-pack-config``.

One difference stays: the engine gives stack policies each resource's outputs, a plan has
only inputs. Outputs carry the inputs under the same names, so the rules read those.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from inspect import isawaitable
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

import policies
from notes_platform.graph.mocks import RECORDED_UNKNOWN, Recorded
from policies.notes_policies import PACK_NAME, all_policies
from policies.notes_policies.common import stack_of

# The settings files live with the pack, which `pulumi policy publish` uploads with them.
CONFIG_DIR = Path(policies.__file__).resolve().parent / "config"
LEVELS = {level.value: level for level in EnforcementLevel}
# The level of a policy that names none: what __main__ passes to PolicyPack.
PACK_DEFAULT_LEVEL = EnforcementLevel.MANDATORY


class PackConfigError(ValueError):
    """A policy pack configuration the engine would refuse."""


@dataclass(frozen=True)
class PackConfig:
    """A ``--policy-pack-config`` file: ``{"all": LEVEL, "<policy>": LEVEL | {"enforcementLevel":
    LEVEL, "<setting>": value}}``. A policy's own entry wins over ``all``; settings left out take
    the defaults of the policy's config schema."""

    entries: Mapping[str, Any] = field(default_factory=dict)
    source: str = "the pack's defaults"

    @classmethod
    def load(cls, path: Path) -> PackConfig:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PackConfigError(f"{path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise PackConfigError(f"{path}: expected a JSON object of policy names")
        return cls(raw, str(path))

    @classmethod
    def for_stack(cls, stack: str, directory: Path = CONFIG_DIR) -> PackConfig:
        """``config/<stack>.json`` when there is one (the file CI passes), else the defaults."""
        path = directory / f"{stack}.json"
        return cls.load(path) if path.is_file() else cls()

    def _entry(self, name: str) -> Mapping[str, Any]:
        value = self.entries.get(name)
        if isinstance(value, str):
            return {"enforcementLevel": value}
        return value if isinstance(value, Mapping) else {}

    def enforcement(self, policy: Policy) -> EnforcementLevel:
        level = self._entry(policy.name).get("enforcementLevel", self.entries.get("all"))
        if level is None:
            return policy.enforcement_level or PACK_DEFAULT_LEVEL
        return LEVELS[level]

    def settings(self, policy: Policy) -> dict[str, Any]:
        schema = _schema_of(policy)
        given = {k: v for k, v in self._entry(policy.name).items() if k != "enforcementLevel"}
        return {k: spec["default"] for k, spec in schema.items() if "default" in spec} | given

    def check(self, policies: Sequence[Policy]) -> None:
        """Refuse unknown policies, unknown settings, bad levels and ill-typed values, naming them."""
        known = {p.name: p for p in policies}
        errors: list[str] = []
        for key, value in self.entries.items():
            if key == "all":
                errors += _level_errors("all", value)
                continue
            policy = known.get(key)
            if policy is None:
                errors.append(f"{key}: the pack has no such policy")
                continue
            if not isinstance(value, str | Mapping):
                errors.append(f"{key}: expected an enforcement level or an object")
                continue
            entry = self._entry(key)
            if "enforcementLevel" in entry:
                errors += _level_errors(f"{key}.enforcementLevel", entry["enforcementLevel"])
            schema = _schema_of(policy)
            for setting, given in entry.items():
                if setting == "enforcementLevel":
                    continue
                if setting not in schema:
                    errors.append(
                        f"{key}.{setting}: not a setting of this policy ({', '.join(schema) or 'none'})"
                    )
                else:
                    errors += [f"{key}.{setting}: {e}" for e in _schema_errors(given, schema[setting])]
        if errors:
            raise PackConfigError(f"{self.source}:\n  " + "\n  ".join(errors))


def _schema_of(policy: Policy) -> Mapping[str, Any]:
    """A policy's settings with their JSON Schema: empty for a policy without settings."""
    return policy.config_schema.properties if policy.config_schema else {}


def _level_errors(where: str, value: Any) -> list[str]:
    return [] if value in LEVELS else [f"{where}: {value!r} is not one of {', '.join(LEVELS)}"]


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


def _schema_errors(value: Any, spec: Mapping[str, Any]) -> list[str]:
    """The part of JSON Schema the pack's settings use: type, items, minimum, maximum, enum."""
    expected = spec.get("type")
    kinds = _JSON_TYPES.get(str(expected), (object,))
    # bool is an int in Python, never in JSON.
    if not isinstance(value, kinds) or (isinstance(value, bool) and expected != "boolean"):
        return [f"expected {expected}, got {json.dumps(value)}"]
    errors: list[str] = []
    if "enum" in spec and value not in spec["enum"]:
        errors.append(f"{json.dumps(value)} is not one of {json.dumps(spec['enum'])}")
    if "minimum" in spec and value < spec["minimum"]:
        errors.append(f"{value} is below the minimum {spec['minimum']}")
    if "maximum" in spec and value > spec["maximum"]:
        errors.append(f"{value} is above the maximum {spec['maximum']}")
    if isinstance(value, list) and "items" in spec:
        items: list[Any] = value
        errors += [f"[{i}] {e}" for i, item in enumerate(items) for e in _schema_errors(item, spec["items"])]
    return errors


@dataclass(frozen=True, order=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" or "advisory", as the engine reports it
    message: str
    urn: str  # "" when a stack policy blames the whole stack

    @property
    def mandatory(self) -> bool:
        return self.enforcement == EnforcementLevel.MANDATORY.value


def _recorded(resource: Recorded | Mapping[str, Any]) -> Recorded:
    """A resource as the plan records it, whichever shape it came in."""
    return Recorded.from_json(resource) if isinstance(resource, Mapping) else resource


def _unmask(value: Any) -> Any:
    """Give recorded unknowns back their wire sentinel, so rules meet them as in a preview."""
    if value == RECORDED_UNKNOWN:
        return UNKNOWN_STRING_VALUE
    if isinstance(value, list):
        return [_unmask(v) for v in value]
    if isinstance(value, dict):
        return {k: _unmask(v) for k, v in value.items()}
    return value


def engine_props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Properties as a policy receives them: deserialized, behind the unknown-checking proxy."""
    return unknown_checking_proxy(deserialize_properties(_unmask(dict(inputs))))


def _options(node: Recorded) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        node.protect,
        node.ignore_changes,
        # The engine passes None unless the program set the option.
        node.delete_before_replace or None,
        [],
        PolicyCustomTimeouts(0, 0, 0),
        [],
        node.parent,
    )


def _provider(node: Recorded, by_urn: Mapping[str, Recorded]) -> PolicyProviderResource | None:
    provider = by_urn.get(node.provider or "")
    if provider is None:
        return None
    return PolicyProviderResource(provider.type, engine_props(provider.inputs), provider.urn, provider.name)


def _resource_args(
    node: Recorded, by_urn: Mapping[str, Recorded], settings: Mapping[str, Any]
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        node.type,
        engine_props(node.inputs),
        node.urn,
        node.name,
        _options(node),
        _provider(node, by_urn),
        settings,
        {},
    )


def _stack_args(nodes: Sequence[Recorded], settings: Mapping[str, Any]) -> StackValidationArgs:
    """The graph linked the way the engine links it: parent, dependencies and property
    dependencies point at the resource objects themselves."""
    by_urn = {n.urn: n for n in nodes}
    built = {
        n.urn: PolicyResource(
            n.type, engine_props(n.inputs), n.urn, n.name, _options(n), _provider(n, by_urn), None, [], {}
        )
        for n in nodes
    }
    for n in nodes:
        resource = built[n.urn]
        resource.parent = built.get(n.parent or "")
        resource.dependencies = [built[d] for d in n.dependencies if d in built]
        resource.property_dependencies = {
            key: [built[d] for d in urns if d in built] for key, urns in n.property_dependencies.items()
        }
    return StackValidationArgs(list(built.values()), settings, {})


def resource_args(
    resource: Recorded | Mapping[str, Any],
    graph: Iterable[Recorded | Mapping[str, Any]] = (),
    settings: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """What the engine passes a resource policy for ``resource``; ``graph`` supplies its provider."""
    by_urn = {n.urn: n for n in map(_recorded, graph)}
    return _resource_args(_recorded(resource), by_urn, settings or {})


def stack_args(
    resources: Iterable[Recorded | Mapping[str, Any]], settings: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    """What the engine passes a stack policy for ``resources``."""
    return _stack_args([_recorded(r) for r in resources], settings or {})


def _settle(result: Awaitable[Any] | None) -> None:
    if result is not None and isawaitable(result):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(result)
        finally:
            loop.close()


def evaluate(
    resources: Iterable[Recorded | Mapping[str, Any]],
    stack: str,
    config: PackConfig | None = None,
    policies: Sequence[Policy] | None = None,
) -> list[Violation]:
    """Every violation the pack reports on ``stack``'s recorded resources.

    ``config`` defaults to ``config/<stack>.json`` (else the pack's defaults). Raises
    PackConfigError for a configuration the engine would refuse, ValueError for resources of
    another stack.
    """
    pack = list(policies) if policies is not None else all_policies()
    config = config if config is not None else PackConfig.for_stack(stack)
    config.check(pack)
    nodes = [_recorded(r) for r in resources]
    strangers = sorted(n.urn for n in nodes if stack_of(n.urn) != stack)
    if strangers:
        raise ValueError(f"resources of another stack than {stack!r}: {strangers[:3]}")
    by_urn = {n.urn: n for n in nodes}

    found: list[Violation] = []
    for policy in pack:
        level = config.enforcement(policy)
        if level is EnforcementLevel.DISABLED:
            continue
        # The engine reports a remediation that did not fix the resource as mandatory.
        reported = EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level
        settings = config.settings(policy)
        if isinstance(policy, ResourceValidationPolicy):
            for node in nodes:
                found += _run(policy, _resource_args(node, by_urn, settings), reported, node.urn)
        elif isinstance(policy, StackValidationPolicy):
            found += _run(policy, _stack_args(nodes, settings), reported, "")
    return found


def _run(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    args: ResourceValidationArgs | StackValidationArgs,
    level: EnforcementLevel,
    urn: str,
) -> list[Violation]:
    found: list[Violation] = []

    def report(message: str, blamed: str | None = None) -> None:
        found.append(Violation(policy.name, level.value, message, blamed or urn))

    try:
        # Each kind of policy with its own kind of arguments; evaluate never mixes them.
        _settle(policy.validate(args, report))  # type: ignore[arg-type]
    except UnknownValueError as exc:
        # What the engine does in a preview: an advisory note, never a block.
        note = f"can't run during preview: {exc.message}"
        found.append(Violation(policy.name, EnforcementLevel.ADVISORY.value, note, urn))
    except _NotApplicableError:
        pass
    return found


def blocking(violations: Iterable[Violation]) -> list[Violation]:
    """The violations that stop `pulumi up`: a plan with any of these must fail."""
    return [v for v in violations if v.mandatory]


def load_graph(path: Path) -> list[dict[str, Any]]:
    """The resources of a plan written by ``notes-platform plan --json``."""
    resources: list[dict[str, Any]] = json.loads(path.read_text())["resources"]
    return resources


def render(violations: Sequence[Violation]) -> str:
    """Violations grouped by policy (mandatory first), each message with the URNs it blames."""
    if not violations:
        return f"policy pack {PACK_NAME}: no violations\n"
    mandatory = len(blocking(violations))
    lines = [
        f"policy pack {PACK_NAME}: {len(violations)} violations "
        f"({mandatory} mandatory, {len(violations) - mandatory} advisory)"
    ]
    groups = sorted({(not v.mandatory, v.policy, v.enforcement) for v in violations})
    for _, policy, enforcement in groups:
        members = [v for v in violations if v.policy == policy and v.enforcement == enforcement]
        lines += ["", f"{enforcement}  {policy} ({len(members)})"]
        for message in sorted({v.message for v in members}):
            lines.append(f"  {message}")
            lines += [
                f"    {urn or '(the stack)'}"
                for urn in sorted({v.urn for v in members if v.message == message})
            ]
    return "\n".join(lines) + "\n"


__all__ = [
    "CONFIG_DIR",
    "PackConfig",
    "PackConfigError",
    "Violation",
    "blocking",
    "engine_props",
    "evaluate",
    "load_graph",
    "render",
    "resource_args",
    "stack_args",
]
