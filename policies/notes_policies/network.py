"""Network: nothing reachable from the internet but through the edge, and every flow recorded."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    is_true,
    mapping,
    of_type,
    references,
    resource_rule,
    sequence,
    stack_rule,
    text,
)


def _is_everywhere(cidr: Any) -> bool:
    # Any /0 is the whole address space, however it is spelled (0.0.0.0/0, ::/0, 0::/0).
    try:
        return ipaddress.ip_network(text(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _allowed(rule: Mapping[str, Any], ports: list[int]) -> bool:
    low, high = rule.get("fromPort"), rule.get("toPort")
    return low is not None and low == high and int(low) in ports


@resource_rule(
    "security-group-no-public-ingress",
    "Security groups admit no traffic from the whole internet: the ALB takes CloudFront's prefix list.",
    types={
        t.SECURITY_GROUP,
        t.DEFAULT_SECURITY_GROUP,
        t.SECURITY_GROUP_RULE,
        t.SECURITY_GROUP_INGRESS_RULE,
    },
    config={
        "allowedPorts": {
            "type": "array",
            "items": {"type": "integer"},
            "default": [],
            "description": "single ports that may be open to 0.0.0.0/0 and ::/0",
        }
    },
)
def security_group_no_public_ingress(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    props, ports = args.props, settings.integers("allowedPorts")
    if args.resource_type == t.SECURITY_GROUP_INGRESS_RULE:
        rules = [props] if any(_is_everywhere(props.get(k)) for k in ("cidrIpv4", "cidrIpv6")) else []
    elif args.resource_type == t.SECURITY_GROUP_RULE:
        rules = [props] if props.get("type") == "ingress" and _open(props) else []
    else:
        rules = [mapping(r) for r in sequence(props.get("ingress")) if _open(mapping(r))]
    if any(not _allowed(rule, ports) for rule in rules):
        report("Security groups must not allow ingress from 0.0.0.0/0 or ::/0.", None)


def _open(rule: Mapping[str, Any]) -> bool:
    cidrs = [*sequence(rule.get("cidrBlocks")), *sequence(rule.get("ipv6CidrBlocks"))]
    return any(_is_everywhere(c) for c in cidrs)


@resource_rule(
    "default-security-group-closed",
    "The VPC's default security group has no rules, so nothing lands in it by accident.",
    types={t.DEFAULT_SECURITY_GROUP},
)
def default_security_group_closed(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if sequence(args.props.get("ingress")) or sequence(args.props.get("egress")):
        report("The default security group must have no rules.", None)


@resource_rule(
    "subnet-no-public-ip-on-launch",
    "Subnets never hand out public IPs: public traffic enters through the load balancer only.",
    types={t.SUBNET},
)
def subnet_no_public_ip_on_launch(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if is_true(args.props.get("mapPublicIpOnLaunch")):
        report("Subnets must not assign public IPs on launch.", None)


@resource_rule(
    "vpc-flow-logs-all-traffic",
    "VPC flow logs capture accepted and rejected traffic alike.",
    types={t.FLOW_LOG},
)
def vpc_flow_logs_all_traffic(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if args.props.get("trafficType") != "ALL":
        report("VPC flow logs must capture ALL traffic.", None)


@stack_rule("vpc-flow-logs-enabled", "Every VPC has a flow log.")
def vpc_flow_logs_enabled(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    flow_logs = of_type(args, t.FLOW_LOG)
    for vpc in of_type(args, t.VPC):
        # A VPC's id is an output: follow the dependency rather than compare values.
        if not any(references(log, "vpcId", vpc) for log in flow_logs):
            report("VPCs must have a flow log.", vpc.urn)


POLICIES: list[Policy] = [
    security_group_no_public_ingress,
    default_security_group_closed,
    subnet_no_public_ip_on_launch,
    vpc_flow_logs_all_traffic,
    vpc_flow_logs_enabled,
]
