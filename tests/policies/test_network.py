"""Network policies: no ingress from the whole internet, a closed default group, no public IPs,
flow logs on every VPC."""

from __future__ import annotations

from policies.notes_policies import network
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    StackMutation,
    applied,
    assert_passes,
    check,
    happy_path_test,
    mutation_test,
    removing,
    setting,
    stack_mutation_test,
    together,
    without,
)

OPEN = "Security groups must not allow ingress from 0.0.0.0/0 or ::/0."

HAPPY: Happy = [
    (network.security_group_no_public_ingress, f.ingress_rule),
    (network.security_group_no_public_ingress, f.security_group_with_inline_rules),
    (network.security_group_no_public_ingress, f.security_group_rule),
    (network.security_group_no_public_ingress, f.default_security_group),
    (network.default_security_group_closed, f.default_security_group),
    (network.subnet_no_public_ip_on_launch, f.public_subnet),
    (network.vpc_flow_logs_all_traffic, f.flow_log),
]

MUTATIONS = [
    Mutation(
        network.security_group_no_public_ingress,
        f.ingress_rule,
        setting("cidrIpv4", "0.0.0.0/0"),
        OPEN,
        "IPv4 rule from anywhere",
    ),
    Mutation(
        network.security_group_no_public_ingress,
        f.ingress_rule,
        together(removing("cidrIpv4"), setting("cidrIpv6", "::/0")),
        OPEN,
        "IPv6 rule from anywhere",
    ),
    Mutation(
        network.security_group_no_public_ingress,
        f.security_group_with_inline_rules,
        setting("ingress.0.cidrBlocks", ["10.30.0.0/16", "0.0.0.0/0"]),
        OPEN,
        "inline IPv4 from anywhere",
    ),
    Mutation(
        network.security_group_no_public_ingress,
        f.security_group_with_inline_rules,
        setting("ingress.1.ipv6CidrBlocks", ["0::/0"]),
        OPEN,
        "inline IPv6 from anywhere, spelled 0::/0",
    ),
    Mutation(
        network.security_group_no_public_ingress,
        f.security_group_rule,
        setting("cidrBlocks", ["0.0.0.0/0"]),
        OPEN,
        "ingress rule resource from anywhere",
    ),
    Mutation(
        network.default_security_group_closed,
        f.default_security_group,
        setting("egress", [{"cidrBlocks": ["10.30.0.0/16"], "fromPort": 0, "toPort": 0, "protocol": "-1"}]),
        "The default security group must have no rules.",
        "an egress rule",
    ),
    Mutation(
        network.default_security_group_closed,
        f.default_security_group,
        setting("ingress", [{"self": True, "fromPort": 0, "toPort": 0, "protocol": "-1"}]),
        "The default security group must have no rules.",
        "the AWS default self rule",
    ),
    Mutation(
        network.subnet_no_public_ip_on_launch,
        f.public_subnet,
        setting("mapPublicIpOnLaunch", True),
        "Subnets must not assign public IPs on launch.",
        "public IPs on launch",
    ),
    Mutation(
        network.vpc_flow_logs_all_traffic,
        f.flow_log,
        setting("trafficType", "REJECT"),
        "VPC flow logs must capture ALL traffic.",
        "rejected traffic only",
    ),
]

STACK_MUTATIONS = [
    StackMutation(
        network.vpc_flow_logs_enabled,
        without("prod-network-flow-log"),
        [("VPCs must have a flow log.", f.vpc()["urn"])],
        "the flow log removed",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph)


def test_an_allowed_port_may_be_open_to_everyone() -> None:
    # GIVEN HTTPS open to the internet, WHEN 443 is an allowed port, THEN it passes
    opened = applied(f.ingress_rule(), setting("cidrIpv4", "0.0.0.0/0"))
    assert check(network.security_group_no_public_ingress, opened, settings={"allowedPorts": [443]}) == []
    # ... but a port range is never "one allowed port"
    ranged = applied(opened, setting("toPort", 444))
    assert check(network.security_group_no_public_ingress, ranged, settings={"allowedPorts": [443]}) == [OPEN]


def test_egress_to_everywhere_is_not_ingress() -> None:
    # GIVEN an egress rule to 0.0.0.0/0 (the tasks' HTTPS to AWS APIs), THEN it passes
    egress = applied(f.security_group_rule(), setting("type", "egress"), setting("cidrBlocks", ["0.0.0.0/0"]))
    assert_passes(network.security_group_no_public_ingress, egress)
