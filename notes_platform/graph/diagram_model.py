"""The planned stack as parts and edges: what ``notes-platform graph`` draws, read from the plan.

Nothing here is drawn by hand. Parts are the resources a reader looks for (the CloudFront
distribution and its web ACL, the load balancer, the ECS service, DocumentDB, Redis, the VPC
endpoints, subnets and NAT gateways per AZ, the secrets and KMS keys they read, alarm groups).
Their tier comes from the routes of their subnets, their edges from the recorded inputs:

- the request path: the distribution's origin name -> the Route 53 record -> the load balancer;
  the service's target group -> the load balancer; the data stores the service's dependencies
  reach;
- security-group edges: one per ingress rule, between the parts that use the rule's group and
  the parts that use its source group (or the prefix list / CIDR it names);
- reads: the task definition's secrets, and each part's KMS key inputs;
- watches: each alarm's dependencies (or, when it has none, its dimensions) name its part.

Inputs hold physical ids (``sg-...``, ``subnet-...``, ARNs), not URNs. ``References`` turns an id
back into the resource: the resource of the wanted type that every user of the id depends on
(the engine's per-property dependencies narrow it when a plan carries them), so the same code
reads an offline plan and the inputs of a real preview.

This module holds the shapes and the id resolution; ``diagram_parts`` adds the parts,
``diagram_edges`` the edges, and ``diagram.build`` runs them in that order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from notes_platform.graph.mocks import RECORDED_UNKNOWN, Recorded

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
RECORD = "aws:route53/record:Record"
ECS_SERVICE = "aws:ecs/service:Service"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
SQS_QUEUE = "aws:sqs/queue:Queue"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"
DOCDB_INSTANCE = "aws:docdb/clusterInstance:ClusterInstance"
DOCDB_SUBNET_GROUP = "aws:docdb/subnetGroup:SubnetGroup"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNET_GROUP = "aws:elasticache/subnetGroup:SubnetGroup"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

# Where a part's security groups, subnets and KMS key sit among its inputs (wire names).
SG_INPUTS = ("securityGroups", "vpcSecurityGroupIds", "securityGroupIds")
KMS_INPUTS = ("kmsKeyId", "kmsKeyArn", "kmsMasterKeyId")
# Tiers, outermost first; "isolated" subnets have no route out of the VPC (the data tier).
TIERS = ("edge", "public", "private", "isolated")
ALARM_NAMES_SHOWN = 3  # an alarm group lists this many names, then "+N more"


@dataclass
class Node:
    id: str
    label: str
    kind: str  # internet | source | part | subnet | nat | secret | key | alarms
    tier: str | None = None  # one of TIERS, or None outside the VPC's tiers
    az: str | None = None
    urns: list[str] = field(default_factory=list)  # the resources the node stands for


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # path | sg | route | reads | watches
    label: str
    urns: list[str] = field(default_factory=list)  # the resources the edge comes from


@dataclass
class Diagram:
    nodes: list[Node]
    edges: list[Edge]
    vpc_label: str | None
    # URN of a resource -> id of the node that stands for it (members and their components).
    owners: dict[str, str]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def edges_of(self, kind: str) -> list[Edge]:
        return [e for e in self.edges if e.kind == kind]


def slug(text: str) -> str:
    """A Mermaid- and Graphviz-safe id: the URN's name with every other character as ``_``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "node"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)


def as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class References:
    """Physical ids in inputs, resolved to the recorded resources they name."""

    def __init__(self, resources: Iterable[Recorded]) -> None:
        self.resources = sorted(resources, key=lambda r: r.urn)
        self.by_urn = {r.urn: r for r in self.resources}
        self._users: dict[str, list[Recorded]] = {}
        for r in self.resources:
            for value in {v for v in strings(r.inputs) if v and v != RECORDED_UNKNOWN}:
                self._users.setdefault(value, []).append(r)

    def of_type(self, *types: str) -> list[Recorded]:
        return [r for r in self.resources if r.type in types]

    def _deps_for(self, user: Recorded, value: str) -> list[str]:
        if user.property_dependencies:
            keys = [k for k, v in user.inputs.items() if value in set(strings(v))]
            return [u for k in keys for u in user.property_dependencies.get(k, [])]
        return user.dependencies

    def resolve(self, value: Any, type_token: str) -> Recorded | None:
        """The resource of ``type_token`` that every resource holding ``value`` depends on;
        None when no such resource is recorded, or when more than one is."""
        if not isinstance(value, str):
            return None
        candidates: set[str] | None = None
        for user in self._users.get(value, []):
            deps = {u for u in self._deps_for(user, value) if self._type(u) == type_token}
            if deps:
                candidates = deps if candidates is None else candidates & deps
        if candidates is None or len(candidates) != 1:
            return None
        return self.by_urn[next(iter(candidates))]

    def _type(self, urn: str) -> str | None:
        found = self.by_urn.get(urn)
        return found.type if found else None

    def secret(self, arn: str) -> Recorded | None:
        """The secret an ARN names: Secrets Manager appends a hyphen and six random characters
        to the secret's name (AWS Secrets Manager User Guide, "Secret ARN"), so the name is
        the ARN's name part without its last seven characters."""
        found = self.resolve(arn, SECRET)
        if found is not None:
            return found
        name = arn.split(":secret:", 1)[-1][:-7]
        return next((s for s in self.of_type(SECRET) if s.inputs.get("name") == name), None)


def container_secrets(task: Recorded) -> list[str]:
    """The secret ARNs a task definition's containers read: ECS from ``secrets[].valueFrom``,
    the code itself from the ARN in a ``*_SECRET_ARN`` variable."""
    raw = task.inputs.get("containerDefinitions")
    try:
        containers = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return []
    arns = {
        str(secret.get("valueFrom", ""))
        for container in containers or []
        if isinstance(container, dict)
        for secret in container.get("secrets") or []
        if isinstance(secret, dict)
    } | {
        str(variable.get("value", ""))
        for container in containers or []
        if isinstance(container, dict)
        for variable in container.get("environment") or []
        if isinstance(variable, dict) and str(variable.get("name", "")).endswith("_SECRET_ARN")
    }
    # A valueFrom may name one JSON key of a secret (ARN:key:stage:version); the secret is the
    # first seven colon-separated fields (Amazon ECS Developer Guide, "Pass Secrets Manager
    # secrets through Amazon ECS environment variables").
    return sorted({":".join(arn.split(":")[:7]) for arn in arns if arn})


@dataclass
class Builder:
    refs: References
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        while node.id in self.nodes:  # two resources of one name (different types)
            node.id += "_"
        self.nodes[node.id] = node
        for urn in node.urns:
            self.owners.setdefault(urn, node.id)
        return node

    def owner(self, resource: Recorded | None) -> str | None:
        return self.owners.get(resource.urn) if resource is not None else None

    def edge(self, source: str | None, target: str | None, kind: str, label: str, urns: list[str]) -> None:
        if not source or not target or source == target:
            return
        for edge in self.edges:  # the same hop found twice (an origin's name and its alias)
            if (edge.source, edge.target, edge.kind, edge.label) == (source, target, kind, label):
                edge.urns = sorted({*edge.urns, *urns})
                return
        self.edges.append(Edge(source, target, kind, label, sorted(urns)))
