"""Orderings AWS needs but no input expresses, checked over the recorded dependencies.

The engine creates a resource as soon as everything it depends on exists. A dependency comes
from an input that reads another resource's output, or from ``depends_on``. Some orderings
AWS needs appear in neither, and mocks accept any order, so nothing else fails before
`pulumi up` does:

- an internet-facing load balancer or a NAT gateway before its VPC's internet gateway and
  public route ("InvalidSubnet: VPC ... has no internet gateway");
- an ECS service starting tasks before the secret values its containers read, or before its
  execution role's policy (``ResourceInitializationError``).
- a Secrets Manager rotation scheduled with a Lambda function before the function's resource
  policy lets Secrets Manager invoke it: RotateSecret refuses a function it cannot invoke
  (``AccessDeniedException``), and nothing in the rotation's inputs reads the permission.

Dependencies are transitive, and depending on a component means depending on its children:
Pulumi's SDKs expand a component into its descendants (``_add_dependency`` in
``pulumi/runtime/rpc.py``; pulumi/pulumi#7732, "Depending on a component now depends on the
transitive closure of its child resources"). Children of a custom resource are not included,
as there.

    findings = check(plan.resources)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from notes_platform.graph.mocks import RECORDED_UNKNOWN, Recorded

LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
IAM_ROLE = "aws:iam/role:Role"
ROLE_POLICIES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 (a type token)
LAMBDA_FUNCTION = "aws:lambda/function:Function"
LAMBDA_PERMISSION = "aws:lambda/permission:Permission"
SECRETS_MANAGER_PRINCIPAL = "secretsmanager.amazonaws.com"


class Finding(NamedTuple):
    urn: str
    message: str


class Graph:
    """The recorded resources with the engine's view of their dependencies."""

    def __init__(self, resources: Iterable[Recorded]) -> None:
        self.resources = list(resources)
        self.by_urn = {r.urn: r for r in self.resources}
        self._children: dict[str, list[Recorded]] = {}
        for r in self.resources:
            if r.parent is not None:
                self._children.setdefault(r.parent, []).append(r)
        self._closures: dict[str, frozenset[str]] = {}

    def of_type(self, *types: str) -> list[Recorded]:
        return [r for r in self.resources if r.type in types]

    def expand(self, urn: str) -> set[str]:
        """What a dependency on ``urn`` stands for: the resource itself, or for a component
        its descendants, stopping at custom resources (as the SDK does)."""
        resource = self.by_urn.get(urn)
        if resource is None or resource.custom:
            return {urn}
        found: set[str] = set()
        pending = list(self._children.get(urn, ()))
        while pending:
            child = pending.pop()
            if child.custom:
                found.add(child.urn)
            else:
                pending.extend(self._children.get(child.urn, ()))
        return found

    def closure(self, urn: str) -> frozenset[str]:
        """Every resource ``urn`` waits for, directly or through others."""
        if urn in self._closures:
            return self._closures[urn]
        seen: set[str] = set()
        pending = [urn]
        while pending:
            current = self.by_urn.get(pending.pop())
            if current is None:
                continue
            for dependency in current.dependencies:
                for expanded in self.expand(dependency):
                    if expanded not in seen:
                        seen.add(expanded)
                        pending.append(expanded)
        self._closures[urn] = frozenset(seen)
        return self._closures[urn]

    def refs(self, resource: Recorded, prop: str, type_token: str) -> list[Recorded]:
        """Resources of ``type_token`` that ``resource``'s input ``prop`` reads. A plan read
        back from JSON has no per-property dependencies; then every dependency counts."""
        urns = (
            resource.property_dependencies.get(prop, [])
            if resource.property_dependencies
            else resource.dependencies
        )
        found = [self.by_urn[u] for u in urns if u in self.by_urn]
        return [r for r in found if r.type == type_token]

    def missing(self, urn: str, needed: Iterable[Recorded]) -> list[str]:
        """URNs among ``needed`` that ``urn`` does not wait for."""
        waits_for = self.closure(urn)
        return sorted({n.urn for n in needed} - waits_for)


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every ordering finding; an empty list means all is well."""
    graph = Graph(resources)
    return [*internet_access_findings(graph), *task_start_findings(graph), *rotation_findings(graph)]


def internet_access_findings(graph: Graph) -> list[Finding]:
    """Every internet-facing load balancer and public NAT gateway waits for the route to the
    internet gateway in each of its subnets' route tables, and for the subnet's association
    with that table."""
    findings: list[Finding] = []
    facing = [
        (r, [*graph.refs(r, "subnets", SUBNET), *graph.refs(r, "subnetMappings", SUBNET)])
        for r in graph.of_type(*LOAD_BALANCERS)
        if not r.inputs.get("internal")
    ]
    facing += [
        (r, graph.refs(r, "subnetId", SUBNET))
        for r in graph.of_type(NAT_GATEWAY)
        if r.inputs.get("connectivityType", "public") == "public"
    ]
    for resource, subnets in facing:
        if not subnets:
            findings.append(
                Finding(
                    resource.urn, "its subnets are not resources of this plan: add them so the check can see"
                )
            )
        for subnet in subnets:
            needed = _internet_path(graph, subnet)
            if not needed:
                findings.append(
                    Finding(
                        resource.urn,
                        f"is internet-facing in {subnet.urn}, whose route table has no route to an "
                        "internet gateway",
                    )
                )
                continue
            missing = graph.missing(resource.urn, needed)
            if missing:
                findings.append(
                    Finding(
                        resource.urn,
                        f"may be created before the internet route of {subnet.urn}: depend on "
                        f"{', '.join(missing)} (AWS: 'InvalidSubnet: VPC ... has no internet gateway')",
                    )
                )
    return findings


def _internet_path(graph: Graph, subnet: Recorded) -> list[Recorded]:
    """The subnet's route table associations and the routes to an internet gateway in those
    tables; empty when the subnet has no such route."""
    path: list[Recorded] = []
    for association in graph.of_type(ROUTE_TABLE_ASSOCIATION):
        if subnet not in graph.refs(association, "subnetId", SUBNET):
            continue
        for table in graph.refs(association, "routeTableId", ROUTE_TABLE):
            routes = [
                route
                for route in graph.of_type(ROUTE)
                if table in graph.refs(route, "routeTableId", ROUTE_TABLE)
                and graph.refs(route, "gatewayId", INTERNET_GATEWAY)
            ]
            if routes:
                path += [association, *routes]
    return path


def task_start_findings(graph: Graph) -> list[Finding]:
    """Every ECS service waits for the version of each Secrets Manager secret its task
    definition's containers read (``secrets[].valueFrom``) and for each policy of the task
    definition's execution role: ECS uses both when it starts a task."""
    findings: list[Finding] = []
    for service in graph.of_type(ECS_SERVICE):
        for task in graph.refs(service, "taskDefinition", TASK_DEFINITION):
            needed, problems = _task_start_needs(graph, task)
            findings += [Finding(service.urn, problem) for problem in problems]
            for urn in graph.missing(service.urn, needed):
                findings.append(
                    Finding(
                        service.urn,
                        f"may start tasks of {task.urn} before {urn} exists: depend on it "
                        "(ECS: ResourceInitializationError)",
                    )
                )
    return findings


def rotation_findings(graph: Graph) -> list[Finding]:
    """Every rotation that names a Lambda function of this plan waits for a permission letting
    Secrets Manager invoke that function."""
    findings: list[Finding] = []
    for rotation in graph.of_type(SECRET_ROTATION):
        for function in graph.refs(rotation, "rotationLambdaArn", LAMBDA_FUNCTION):
            permissions = [
                p
                for p in graph.of_type(LAMBDA_PERMISSION)
                if function in graph.refs(p, "function", LAMBDA_FUNCTION)
                and p.inputs.get("principal") == SECRETS_MANAGER_PRINCIPAL
            ]
            if not permissions:
                findings.append(
                    Finding(
                        rotation.urn,
                        f"rotates with {function.urn}, which has no lambda Permission for "
                        f"{SECRETS_MANAGER_PRINCIPAL}: add one and depend on it (Secrets Manager "
                        "cannot invoke the function: AccessDeniedException)",
                    )
                )
                continue
            missing = graph.missing(rotation.urn, permissions)
            if len(missing) == len(permissions):
                findings.append(
                    Finding(
                        rotation.urn,
                        f"may be scheduled before Secrets Manager may invoke {function.urn}: depend on "
                        f"{', '.join(missing)} (Secrets Manager cannot invoke the function: "
                        "AccessDeniedException)",
                    )
                )
    return findings


def _task_start_needs(graph: Graph, task: Recorded) -> tuple[list[Recorded], list[str]]:
    needed: list[Recorded] = []
    problems: list[str] = []
    definitions = task.inputs.get("containerDefinitions")
    try:
        containers = json.loads(definitions) if isinstance(definitions, str) else None
    except json.JSONDecodeError:
        containers = None
    if not isinstance(containers, list):
        problems.append(f"cannot read the container definitions of {task.urn} ({str(definitions)[:40]!r})")
        containers = []
    for secret_ref in _secret_references(containers):
        secret = _secret_named(graph, secret_ref)
        if secret is None:
            continue  # not created by this program: nothing to order
        versions = [v for v in graph.of_type(SECRET_VERSION) if secret in graph.refs(v, "secretId", SECRET)]
        if not versions:
            problems.append(f"{task.urn} reads {secret.urn}, which has no SecretVersion in this plan")
        needed += versions
    for role in _execution_roles(graph, task):
        needed += [p for p in graph.of_type(*ROLE_POLICIES) if role in graph.refs(p, "role", IAM_ROLE)]
    return needed, problems


def _secret_references(containers: Sequence[Any]) -> list[str]:
    """Secrets Manager secret names (ARN's resource part, random suffix and JSON key left
    on) that the containers read: ECS from ``secrets``, the code itself from the secret named
    by a ``*_SECRET_ARN`` variable (at start, like ECS)."""
    names = []
    for container in containers:
        values = [str(s.get("valueFrom", "")) for s in (container or {}).get("secrets") or []]
        values += [
            str(e.get("value", ""))
            for e in (container or {}).get("environment") or []
            if str(e.get("name", "")).endswith("_SECRET_ARN")
        ]
        for value in values:
            parts = value.split(":")
            # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX[:json-key:stage:version]
            if len(parts) >= 7 and parts[2] == "secretsmanager" and parts[5] == "secret":
                names.append(parts[6])
    return names


def _secret_named(graph: Graph, arn_name: str) -> Recorded | None:
    """The secret an ARN's name part points at: Secrets Manager appends a hyphen and six
    random characters to the name (AWS Secrets Manager User Guide, "Secret ARN")."""
    for secret in graph.of_type(SECRET):
        name = secret.inputs.get("name")
        if isinstance(name, str) and name and name != RECORDED_UNKNOWN and arn_name[:-7] == name:
            return secret
    return None


def _execution_roles(graph: Graph, task: Recorded) -> list[Recorded]:
    if task.property_dependencies:
        return graph.refs(task, "executionRoleArn", IAM_ROLE)
    arn = str(task.inputs.get("executionRoleArn", ""))
    return [r for r in graph.of_type(IAM_ROLE) if arn and arn.rsplit("/", 1)[-1] == r.inputs.get("name")]


def render(findings: Iterable[Finding]) -> str:
    """Findings grouped by resource, for people."""
    by_urn: dict[str, list[str]] = {}
    for finding in findings:
        by_urn.setdefault(finding.urn, []).append(finding.message)
    return "\n".join(
        f"  {urn}\n" + "\n".join(f"    - {message}" for message in messages)
        for urn, messages in by_urn.items()
    )
