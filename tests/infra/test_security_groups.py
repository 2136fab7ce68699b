"""SecurityGroups: each hop admits only the one before it; the exact rule set, nothing more."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.security_groups import SecurityGroups, SecurityGroupsArgs
from notes_platform.graph.mocks import Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import EGRESS_RULE, INGRESS_RULE, SECURITY_GROUP

NAME = "staging-sg"
APP_PORT = 8000
PREFIX_LIST = "pl-4fa04526"
VPC_ID = "vpc-0123456789abcdef0"
ROLES = ("alb", "tasks", "docdb", "redis")
# What EC2 accepts in group and rule descriptions.
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{1,255}$")


def _args(**overrides: Any) -> SecurityGroupsArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "vpc_id": VPC_ID,
        "vpc_cidr": "10.20.0.0/16",
        "app_port": APP_PORT,
        "cloudfront_prefix_list_id": PREFIX_LIST,
    }
    return SecurityGroupsArgs(**{**values, **overrides})


@pytest.fixture(scope="module")
def graph() -> Graph:
    def program() -> Any:
        groups = SecurityGroups(NAME, _args())
        return {
            "alb": groups.alb_id,
            "tasks": groups.tasks_id,
            "docdb": groups.docdb_id,
            "redis": groups.redis_id,
        }

    return run(program)


def _groups(graph: Graph) -> dict[str, Recorded]:
    return {r.name.removeprefix(f"{NAME}-"): r for r in graph.of_type(SECURITY_GROUP)}


def _rules(graph: Graph) -> list[tuple[str, Recorded]]:
    return [("in", r) for r in graph.of_type(INGRESS_RULE)] + [("out", r) for r in graph.of_type(EGRESS_RULE)]


def _rule_set(graph: Graph) -> set[tuple[str, str, str, int, int, str]]:
    """(group, direction, protocol, from, to, peer) per rule; peer is a group role, pl:<id> or a CIDR."""
    role_of = {group.urn: role for role, group in _groups(graph).items()}
    found = set()
    for direction, rule in _rules(graph):
        (group_urn,) = rule.property_dependencies["securityGroupId"]
        inputs = rule.inputs
        if inputs.get("referencedSecurityGroupId"):
            (peer_urn,) = rule.property_dependencies["referencedSecurityGroupId"]
            peer = role_of[peer_urn]
        elif inputs.get("prefixListId"):
            peer = f"pl:{inputs['prefixListId']}"
        else:
            peer = inputs.get("cidrIpv4") or inputs.get("cidrIpv6") or "?"
        found.add(
            (
                role_of[group_urn],
                direction,
                inputs["ipProtocol"],
                inputs["fromPort"],
                inputs["toPort"],
                peer,
            )
        )
    return found


def test_four_groups_in_the_vpc_named_for_the_environment(graph: Graph) -> None:
    # GIVEN SecurityGroups / WHEN built / THEN alb, tasks, docdb, redis groups in the VPC, no inline rules
    groups = _groups(graph)
    assert sorted(groups) == sorted(ROLES), [g.urn for g in groups.values()]
    for role, group in groups.items():
        assert group.inputs["namePrefix"] == f"notes-staging-{role}-", group.urn
        assert group.inputs["vpcId"] == VPC_ID, group.urn
        assert group.inputs.get("tags", {}).get("Name") == f"notes-staging-{role}", group.urn
        assert not group.inputs.get("ingress"), f"{group.urn} has inline ingress"
        assert not group.inputs.get("egress"), f"{group.urn} has inline egress"


def test_rule_set_is_exactly_the_request_path(graph: Graph) -> None:
    # GIVEN app_port 8000 and the CloudFront list / WHEN built / THEN these rules and no others
    expected = {
        ("alb", "in", "tcp", 443, 443, f"pl:{PREFIX_LIST}"),
        ("alb", "out", "tcp", APP_PORT, APP_PORT, "tasks"),
        ("tasks", "in", "tcp", APP_PORT, APP_PORT, "alb"),
        ("tasks", "out", "tcp", 443, 443, "0.0.0.0/0"),
        ("tasks", "out", "tcp", 27017, 27017, "docdb"),
        ("tasks", "out", "tcp", 6379, 6379, "redis"),
        ("docdb", "in", "tcp", 27017, 27017, "tasks"),
        ("redis", "in", "tcp", 6379, 6379, "tasks"),
    }
    actual = _rule_set(graph)
    assert actual == expected, f"extra {actual - expected}, missing {expected - actual}"
    assert len(_rules(graph)) == len(expected), [r.urn for _, r in _rules(graph)]


def test_no_ingress_from_anywhere(graph: Graph) -> None:
    # GIVEN SecurityGroups / WHEN built / THEN no ingress rule admits 0.0.0.0/0 or ::/0
    for rule in graph.of_type(INGRESS_RULE):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0", f"{rule.urn} admits the IPv4 internet"
        assert rule.inputs.get("cidrIpv6") != "::/0", f"{rule.urn} admits the IPv6 internet"


def test_alb_group_holds_the_prefix_list_and_nothing_else_inbound(graph: Graph) -> None:
    # GIVEN the CloudFront list counts ~55 of the 60 inbound rules a group may hold
    # WHEN built / THEN it is the ALB group's only inbound rule
    alb = _groups(graph)["alb"]
    inbound = [
        r for r in graph.of_type(INGRESS_RULE) if r.property_dependencies["securityGroupId"] == [alb.urn]
    ]
    assert [r.inputs.get("prefixListId") for r in inbound] == [PREFIX_LIST], [r.urn for r in inbound]


@pytest.mark.parametrize("role", ["docdb", "redis"])
def test_data_stores_send_nothing(graph: Graph, role: str) -> None:
    # GIVEN the docdb and redis groups / WHEN built / THEN they have no egress rule at all
    group = _groups(graph)[role]
    outbound = [
        r.urn for r in graph.of_type(EGRESS_RULE) if r.property_dependencies["securityGroupId"] == [group.urn]
    ]
    assert outbound == [], f"{group.urn} has egress {outbound}"


def test_every_group_and_rule_has_a_description_ec2_accepts(graph: Graph) -> None:
    # GIVEN SecurityGroups / WHEN built / THEN each group and rule says why, in EC2's character set
    for resource in [*graph.of_type(SECURITY_GROUP), *(r for _, r in _rules(graph))]:
        description = resource.inputs.get("description", "")
        assert EC2_DESCRIPTION.match(description), f"{resource.urn}: description {description!r}"


def test_component_shape_and_outputs(graph: Graph) -> None:
    # GIVEN SecurityGroups / WHEN built / THEN one component parents all, and each id output is its group's id
    component = graph.one("notes:infra:SecurityGroups", NAME)
    for resource in graph.custom():
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith(f"{NAME}-"), resource.urn
    urns = [r.urn for r in graph.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"
    ids: dict[str, str] = graph.result
    assert sorted(ids) == sorted(ROLES)
    assert all(value.startswith("sg-") for value in ids.values()), ids
    assert len(set(ids.values())) == len(ROLES), ids


@pytest.mark.parametrize(
    ("app_port", "message"),
    [
        (0, r"app_port=0 is not a TCP port"),
        (70000, r"app_port=70000 is not a TCP port"),
        (27017, r"database port"),
    ],
)
def test_impossible_app_port_is_refused(app_port: int, message: str) -> None:
    # GIVEN an app port no rule can express / WHEN SecurityGroups is built / THEN ValueError says so
    with pytest.raises(ValueError, match=message):
        run(lambda: SecurityGroups(NAME, _args(app_port=app_port)))
