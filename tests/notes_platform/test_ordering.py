"""The ordering check: both stacks are clean, and each ordering planted away is found, naming
the resource that would go first and what it must wait for."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable

import pytest

from notes_platform.checks import ordering
from notes_platform.checks.ordering import Finding, Graph
from notes_platform.cli import main
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan

STACKS = ("staging", "prod")
INTERNET_PATH = (ordering.INTERNET_GATEWAY, ordering.ROUTE, ordering.ROUTE_TABLE_ASSOCIATION)


def planted(plan: Plan, mutate: Callable[[list[Recorded]], None]) -> Plan:
    """``plan`` with one planted change, as `notes-platform plan` would have recorded it."""
    resources = copy.deepcopy(plan.resources)
    mutate(resources)
    return Plan(resources, project=plan.project, stack=plan.stack, config=plan.config, outputs=plan.outputs)


def forget(
    resources: list[Recorded], who: Iterable[Recorded], *types: str, names: Iterable[str] = ()
) -> None:
    """Drop every dependency of ``who`` on a resource of ``types`` or named in ``names``: the
    ordering as it was before the fix (or as a careless change would leave it)."""
    by_urn = {r.urn: r for r in resources}
    forgotten = set(names)

    def drop(urn: str) -> bool:
        target = by_urn.get(urn)
        return target is not None and (target.type in types or target.name in forgotten)

    for resource in who:
        resource.dependencies = [u for u in resource.dependencies if not drop(u)]
        resource.property_dependencies = {
            prop: [u for u in urns if not drop(u)] for prop, urns in resource.property_dependencies.items()
        }


def one(resources: list[Recorded], type_token: str, name_part: str = "") -> Recorded:
    found = [r for r in resources if r.type == type_token and name_part in r.name]
    assert len(found) == 1, f"expected one {type_token} named *{name_part}*: {[r.urn for r in found]}"
    return found[0]


def messages(findings: list[Finding], urn: str) -> list[str]:
    return [f.message for f in findings if f.urn == urn]


@pytest.mark.parametrize("stack", STACKS)
def test_both_stacks_order_internet_access_and_task_start(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the real plan / WHEN checked / THEN nothing can be created before what it needs
    assert ordering.check(plans[stack].resources) == []


@pytest.mark.parametrize("stack", STACKS)
def test_a_plan_read_back_from_json_checks_the_same(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the plan as `plan --json` writes it: no per-property dependencies
    resources = [Recorded.from_json(json.loads(json.dumps(r.to_json()))) for r in plans[stack].resources]
    # THEN it is still clean, and still finds the ALB planted before the internet gateway
    assert ordering.check(resources) == []
    alb = one(resources, ordering.LOAD_BALANCERS[0])
    forget(resources, [alb], *INTERNET_PATH)
    found = ordering.check(resources)
    assert found and {f.urn for f in found} == {alb.urn}, found


@pytest.mark.parametrize("stack", STACKS)
def test_an_alb_planted_before_the_internet_gateway_is_found(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the plan with the ALB waiting only for its bucket policy again (the bug of issue 11)
    plan = plans[stack]
    alb = one(plan.resources, ordering.LOAD_BALANCERS[0])
    route = one(plan.resources, ordering.ROUTE, "public-default-route")
    bad = planted(plan, lambda rs: forget(rs, [one(rs, ordering.LOAD_BALANCERS[0])], *INTERNET_PATH))
    # WHEN checked
    found = messages(ordering.check(bad.resources), alb.urn)
    # THEN each public subnet of the ALB gives a finding naming the route it must wait for
    public_subnets = [r for r in plan.resources if r.type == ordering.SUBNET and "-public-" in r.name]
    assert len(found) == len(public_subnets), found
    assert all(route.urn in m and "has no internet gateway" in m for m in found), found


def test_a_nat_gateway_planted_before_the_internet_route_is_found(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan with one NAT gateway (and its EIP) waiting for nothing but its subnet
    plan = plans["prod"]
    nat = one(plan.resources, ordering.NAT_GATEWAY, "-1a")

    def early(resources: list[Recorded]) -> None:
        mine = one(resources, ordering.NAT_GATEWAY, "-1a")
        eip = one(resources, "aws:ec2/eip:Eip", "-1a")
        forget(resources, [mine, eip], *INTERNET_PATH)

    found = ordering.check(planted(plan, early).resources)
    # THEN only that NAT gateway is reported, with the route and its subnet's association
    assert {f.urn for f in found} == {nat.urn}, found
    [message] = messages(found, nat.urn)
    assert "public-default-route" in message and "public-rta-eu-west-1a" in message, message


def test_depending_on_a_component_counts_as_depending_on_its_children(plans: dict[str, Plan]) -> None:
    # GIVEN staging's ALB depending on the Network component instead of its internet route
    plan = plans["staging"]
    network = one(plan.resources, "notes:infra:Network")

    def on_component(resources: list[Recorded]) -> None:
        alb = one(resources, ordering.LOAD_BALANCERS[0])
        forget(resources, [alb], *INTERNET_PATH)
        alb.dependencies.append(network.urn)

    # THEN the check agrees with the engine: the component stands for all its children
    assert ordering.check(planted(plan, on_component).resources) == []


def test_a_component_expands_to_custom_descendants_not_to_children_of_custom_resources() -> None:
    # GIVEN comp -> (custom A, comp2 -> custom B), and custom A -> child C
    def rec(urn: str, custom: bool, parent: str | None = None) -> Recorded:
        return Recorded(urn, "t", urn, custom, parent, None, [], False, {})

    graph = Graph(
        [
            rec("comp", False),
            rec("a", True, "comp"),
            rec("comp2", False, "comp"),
            rec("b", True, "comp2"),
            rec("c", True, "a"),
        ]
    )
    # THEN as in pulumi's _add_dependency: A and B, not the component nor C
    assert graph.expand("comp") == {"a", "b"}
    assert graph.expand("a") == {"a"}


def test_an_internet_facing_alb_in_a_private_subnet_is_found(plans: dict[str, Plan]) -> None:
    # GIVEN staging's ALB planted into a private subnet (no route to the internet gateway there)
    plan = plans["staging"]
    alb = one(plan.resources, ordering.LOAD_BALANCERS[0])
    private = one(plan.resources, ordering.SUBNET, "private-eu-west-1a")

    def private_subnets(resources: list[Recorded]) -> None:
        mine = one(resources, ordering.LOAD_BALANCERS[0])
        mine.property_dependencies["subnets"] = [private.urn]

    found = messages(ordering.check(planted(plan, private_subnets).resources), alb.urn)
    assert found == [
        f"is internet-facing in {private.urn}, whose route table has no route to an internet gateway"
    ]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(
    ("which", "forgotten"),
    [
        ("-api-service", "-docdb-app-version"),
        ("-api-service", "-redis-auth-"),
        ("-api-service", "-jwt-signing-key-version"),
        # The export worker reads the app's DocumentDB secret only.
        ("-worker-service", "-docdb-app-version"),
    ],
)
def test_a_service_planted_before_a_secret_version_is_found(
    plans: dict[str, Plan], stack: str, which: str, forgotten: str
) -> None:
    # GIVEN the plan with a service no longer waiting for one secret's version (issue 11, item 7)
    plan = plans[stack]
    service = one(plan.resources, ordering.ECS_SERVICE, which)
    version = one(plan.resources, ordering.SECRET_VERSION, forgotten)
    # (the worker also starts after the API service, which waits for the app secret's version:
    # that path is forgotten too)
    names = [
        version.name,
        *([one(plan.resources, ordering.ECS_SERVICE, "-api-service").name] if "worker" in which else []),
    ]
    bad = planted(plan, lambda rs: forget(rs, [one(rs, ordering.ECS_SERVICE, which)], names=names))
    # THEN the service is reported, naming that version
    found = messages(ordering.check(bad.resources), service.urn)
    assert len(found) == 1 and version.urn in found[0] and "ResourceInitializationError" in found[0], found


@pytest.mark.parametrize("which", ["-api-", "-worker-"])
def test_a_service_planted_before_its_execution_policy_is_found(plans: dict[str, Plan], which: str) -> None:
    plan = plans["prod"]
    service = one(plan.resources, ordering.ECS_SERVICE, f"{which}service")
    policy = one(plan.resources, "aws:iam/rolePolicy:RolePolicy", f"{which}execution-policy")
    bad = planted(
        plan, lambda rs: forget(rs, [one(rs, ordering.ECS_SERVICE, f"{which}service")], names=[policy.name])
    )
    found = messages(ordering.check(bad.resources), service.urn)
    assert len(found) == 1 and policy.urn in found[0], found


def test_a_secret_without_a_version_and_unreadable_definitions_are_reported(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    service = one(plan.resources, ordering.ECS_SERVICE, "-api-service")
    version = one(plan.resources, ordering.SECRET_VERSION, "-jwt-signing-key-version")
    # GIVEN a secret the task reads that no version fills
    no_version = planted(
        plan, lambda rs: rs.remove(one(rs, ordering.SECRET_VERSION, "-jwt-signing-key-version"))
    )
    [message] = messages(ordering.check(no_version.resources), service.urn)
    assert "jwt-signing-key-secret" in message and "no SecretVersion" in message, (message, version.urn)

    # GIVEN container definitions the plan could not record (a secret or unknown value)
    def masked(resources: list[Recorded]) -> None:
        one(resources, ordering.TASK_DEFINITION, "-api-task").inputs["containerDefinitions"] = "[secret]"

    [message] = messages(ordering.check(planted(plan, masked).resources), service.urn)
    assert message.startswith("cannot read the container definitions"), message


def test_an_ordering_finding_fails_the_plan_command(
    plans: dict[str, Plan], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN staging's plan with the ALB before the internet gateway
    plan = plans["staging"]
    alb = one(plan.resources, ordering.LOAD_BALANCERS[0])
    bad = planted(plan, lambda rs: forget(rs, [one(rs, ordering.LOAD_BALANCERS[0])], *INTERNET_PATH))
    monkeypatch.setattr("notes_platform.graph.plan.run_plan", lambda stack, root: bad)
    # WHEN `notes-platform plan staging` runs
    code = main(["plan", "staging", "--quiet"])
    out, err = capsys.readouterr()
    # THEN it fails, names the ALB, and counts the findings in its summary
    assert code == 1
    assert alb.urn in err and "Ordering and provider rules: 2 finding(s)" in err, err
    assert "ordering and provider rules: 2 finding(s)" in out, out
