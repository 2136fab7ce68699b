"""Run one policy the way the engine would, on resources shaped like the committed plans.

Happy-path resources come from tests/snapshots/*.json where the program already makes them;
the edge and alarm resources it does not make yet are written here in the same wire shape
(camelCase inputs, provider URNs), from the pulumi_aws schema.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import keyword
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from notes_platform.checks.policy_pack import load_graph, resource_args, stack_args

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
ACCOUNT = "123456789012"

Resource = dict[str, Any]
Change = Callable[[Resource], None]
Happy = list[tuple[Policy, Callable[[], Resource]]]


@functools.cache
def _snapshot(stack: str) -> tuple[Resource, ...]:
    return tuple(load_graph(SNAPSHOTS / f"{stack}.json"))


def snapshot(stack: str) -> list[Resource]:
    """A private copy of a committed plan's resources."""
    return copy.deepcopy(list(_snapshot(stack)))


def without_alarms(graph: list[Resource]) -> list[Resource]:
    """A plan as it was before it had alarms: what the alarm-coverage policy exists to catch."""
    return [r for r in graph if r["type"] != "aws:cloudwatch/metricAlarm:MetricAlarm"]


def from_snapshot(stack: str, name: str) -> Resource:
    return named(snapshot(stack), name, f"the {stack} snapshot")


def named(graph: list[Resource], name: str, where: str = "the graph") -> Resource:
    found = [r for r in graph if r["name"] == name]
    assert len(found) == 1, f"{name} is not one resource of {where}"
    return found[0]


def aws_resource_class(type_token: str) -> Any:
    """pulumi_aws's resource class for ``type_token`` (``aws:<module>/<file>:<Kind>``), or None."""
    module, _, kind = type_token.removeprefix("aws:").partition(":")
    package = module.split("/")[0]
    # A module named after a Python keyword gets a trailing underscore (``lambda`` -> ``lambda_``).
    package += "_" if keyword.iskeyword(package) else ""
    return getattr(importlib.import_module(f"pulumi_aws.{package}"), kind, None)


def urn(stack: str, component: str, type_token: str, name: str) -> str:
    return f"urn:pulumi:{stack}::notes-platform::notes:infra:{component}${type_token}::{name}"


def provider_urn(stack: str, name: str = "aws") -> str:
    # The engine does not qualify the stack's children with the stack's type.
    return f"urn:pulumi:{stack}::notes-platform::pulumi:providers:aws::{name}"


def resource(
    type_token: str,
    name: str,
    inputs: dict[str, Any],
    *,
    stack: str = "prod",
    component: str = "Edge",
    provider: str = "aws",
    dependencies: Iterable[str] = (),
    protect: bool = False,
    **extra: Any,
) -> Resource:
    """A resource as `notes-platform plan --json` writes one."""
    return {
        "urn": urn(stack, component, type_token, name),
        "type": type_token,
        "name": name,
        "custom": True,
        "parent": f"urn:pulumi:{stack}::notes-platform::notes:infra:{component}::{stack}-{component.lower()}",
        "provider": provider_urn(stack, provider),
        "dependencies": sorted(dependencies),
        "protect": protect,
        "inputs": inputs,
        **extra,
    }


def us_east_1_provider(stack: str = "prod") -> Resource:
    """The second AWS provider CloudFront's certificate and web ACL need."""
    default = named(snapshot(stack), "aws")
    return {**default, "urn": provider_urn(stack, "aws-us-east-1"), "name": "aws-us-east-1"} | {
        "inputs": {**default["inputs"], "region": "us-east-1"}
    }


# Changes a test applies to a copy of the happy-path resource.


def _holder(target: Resource, path: str) -> tuple[Any, str]:
    """The dict or list ``inputs.<path>`` lives in (dots between keys, digits index lists), and
    the last key."""
    *parents, last = path.split(".")
    node: Any = target["inputs"]
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    return node, last


def setting(path: str, value: Any) -> Change:
    """Set ``inputs.<path>`` (dots between keys, digits index lists)."""

    def change(target: Resource) -> None:
        node, last = _holder(target, path)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def removing(path: str) -> Change:
    def change(target: Resource) -> None:
        node, last = _holder(target, path)
        del node[last]

    return change


def option(key: str, value: Any) -> Change:
    """Change a resource option or record field (``protect``, ``provider``, ``dependencies``)."""

    def change(target: Resource) -> None:
        target[key] = value

    return change


def undepending(urn: str) -> Change:
    """Drop a dependency, as when the program stops passing one resource's output to another."""

    def change(target: Resource) -> None:
        target["dependencies"] = [d for d in target["dependencies"] if d != urn]

    return change


def container(key: str, value: Any) -> Change:
    """Change the first container of a task definition (its definitions travel as JSON)."""

    def change(target: Resource) -> None:
        definitions = json.loads(target["inputs"]["containerDefinitions"])
        if value is None:
            definitions[0].pop(key, None)
        else:
            definitions[0][key] = value
        target["inputs"]["containerDefinitions"] = json.dumps(definitions)

    return change


def together(*changes: Change) -> Change:
    def change(target: Resource) -> None:
        for one in changes:
            one(target)

    return change


def applied(base: Resource, *changes: Change) -> Resource:
    target = copy.deepcopy(base)
    for change in changes:
        change(target)
    return target


# Running a policy


def check(
    policy: Policy, target: Resource, graph: Iterable[Resource] = (), settings: dict[str, Any] | None = None
) -> list[str]:
    """The messages ``policy`` reports on ``target``, validated as the engine would."""
    assert isinstance(policy, ResourceValidationPolicy), f"{policy.name} is not a resource policy"
    providers = [*[r for r in snapshot("prod") if r["name"] == "aws"], us_east_1_provider(), *graph]
    messages: list[str] = []
    policy.validate(
        resource_args(target, providers, settings),
        lambda message, _urn=None: messages.append(message),
    )
    return messages


def check_stack(
    policy: Policy, graph: Iterable[Resource], settings: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """``(message, urn)`` for everything ``policy`` reports on the whole graph."""
    assert isinstance(policy, StackValidationPolicy), f"{policy.name} is not a stack policy"
    found: list[tuple[str, str]] = []
    policy.validate(
        stack_args(list(graph), settings),
        lambda message, blamed=None: found.append((message, blamed or "")),
    )
    return found


@dataclass(frozen=True)
class Mutation:
    """One change to a happy-path resource and the one message it must produce."""

    policy: Policy
    base: Callable[[], Resource]
    change: Change
    message: str
    what: str

    @property
    def id(self) -> str:
        return f"{self.policy.name}: {self.what}"


GraphChange = Callable[[list[Resource]], None]


def on(name: str, *changes: Change) -> GraphChange:
    """Apply resource changes to the resource called ``name`` in a graph."""

    def change(graph: list[Resource]) -> None:
        together(*changes)(named(graph, name))

    return change


def in_order(*changes: GraphChange) -> GraphChange:
    def change(graph: list[Resource]) -> None:
        for one in changes:
            one(graph)

    return change


def without(*names: str) -> GraphChange:
    def change(graph: list[Resource]) -> None:
        for name in names:
            graph.remove(named(graph, name))

    return change


def adding(*extra: Resource) -> GraphChange:
    def change(graph: list[Resource]) -> None:
        graph.extend(copy.deepcopy(list(extra)))

    return change


@dataclass(frozen=True)
class StackMutation:
    """One change to a happy-path graph and what the stack policy must report, with URNs."""

    policy: Policy
    change: GraphChange
    expected: list[tuple[str, str]]
    what: str

    @property
    def id(self) -> str:
        return f"{self.policy.name}: {self.what}"


def assert_passes(policy: Policy, target: Resource, settings: dict[str, Any] | None = None) -> None:
    messages = check(policy, target, settings=settings)
    assert messages == [], f"{policy.name} reported on {target['urn']}: {messages}"


def assert_reports(mutation: Mutation, settings: dict[str, Any] | None = None) -> None:
    target = applied(mutation.base(), mutation.change)
    messages = check(mutation.policy, target, settings=settings)
    assert messages == [mutation.message], (
        f"{mutation.policy.name} on {target['urn']} ({mutation.what}): "
        f"expected [{mutation.message!r}], got {messages}"
    )


def assert_stack_reports(mutation: StackMutation, graph: list[Resource]) -> None:
    mutation.change(graph)
    found = check_stack(mutation.policy, graph)
    assert sorted(found) == sorted(mutation.expected), (
        f"{mutation.policy.name} ({mutation.what}): expected {mutation.expected}, got {found}"
    )


# The three tests every area module runs over its own cases. A module binds each to a test_
# name, so its ids stay test_<area>.py::test_one_change_is_reported[<policy>: <what>].


def happy_path_test(happy: Happy) -> Callable[[Policy, Callable[[], Resource]], None]:
    @pytest.mark.parametrize(
        ("policy", "base"), happy, ids=lambda v: getattr(v, "name", getattr(v, "__name__", ""))
    )
    def test_the_happy_path_passes(policy: Policy, base: Callable[[], Resource]) -> None:
        # GIVEN a resource as the program makes (or will make) it, WHEN validated, THEN nothing is reported
        assert_passes(policy, base())

    return test_the_happy_path_passes


def mutation_test(mutations: list[Mutation]) -> Callable[[Mutation], None]:
    @pytest.mark.parametrize("mutation", mutations, ids=lambda m: m.id)
    def test_one_change_is_reported(mutation: Mutation) -> None:
        # GIVEN the happy-path resource with one change, WHEN validated, THEN exactly its message
        assert_reports(mutation)

    return test_one_change_is_reported


def stack_mutation_test(
    mutations: list[StackMutation], graph: Callable[[], list[Resource]]
) -> Callable[[StackMutation], None]:
    @pytest.mark.parametrize("mutation", mutations, ids=lambda m: m.id)
    def test_one_stack_change_is_reported(mutation: StackMutation) -> None:
        # GIVEN ``graph()`` with one change, WHEN validated, THEN exactly the expected reports
        assert_stack_reports(mutation, graph())

    return test_one_stack_change_is_reported
