"""Run the real program under Pulumi's mocks and record every resource it registers.

The mocks stand in for the AWS provider: they return deterministic ids, ARNs and the few
outputs that other resources read (DNS names, endpoints, URLs), and answer the invokes the
program makes (availability zones, the CloudFront prefix list, the ELB log-delivery
account). Nothing here talks to AWS or needs the Pulumi CLI.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# How a recorded plan writes a value unknown during preview (see normalise).
RECORDED_UNKNOWN = "[unknown]"
ACCOUNT_ID = "123456789012"

# Per region: the account ALB access logs come from (regions older than August 2022).
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "eu-west-1": "156460612806",
    "eu-central-1": "054676820928",
    "us-west-2": "797873946194",
}


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


@dataclass
class Recorded:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    dependencies: list[str]
    protect: bool
    inputs: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "dependencies": self.dependencies,
            "protect": self.protect,
            "inputs": self.inputs,
            **({"ignoreChanges": self.ignore_changes} if self.ignore_changes else {}),
            **({"replaceOnChanges": self.replace_on_changes} if self.replace_on_changes else {}),
            **({"deleteBeforeReplace": True} if self.delete_before_replace else {}),
            **({"retainOnDelete": True} if self.retain_on_delete else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recorded:
        """The inverse of ``to_json`` (a resource of ``notes-platform plan --json``), plus the
        per-property dependencies, which the plan leaves out but a test may supply."""
        get = data.get
        return cls(
            urn=data["urn"],
            type=data["type"],
            name=data["name"],
            custom=bool(get("custom", True)),
            parent=get("parent"),
            provider=get("provider"),
            dependencies=list(get("dependencies") or ()),
            protect=bool(get("protect")),
            inputs=dict(get("inputs") or {}),
            property_dependencies=dict(get("propertyDependencies") or {}),
            ignore_changes=list(get("ignoreChanges") or ()),
            replace_on_changes=list(get("replaceOnChanges") or ()),
            delete_before_replace=bool(get("deleteBeforeReplace")),
            retain_on_delete=bool(get("retainOnDelete")),
        )


@dataclass
class RecordedGraph:
    """What a program registered, with the queries tests and tools share."""

    resources: list[Recorded]

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def provider_of(self, resource: Recorded) -> Recorded | None:
        """The provider resource ``resource`` was registered with (None: the default one)."""
        return next((r for r in self.resources if r.urn == resource.provider), None)

    def below(self, ancestor_urn: str) -> list[Recorded]:
        """Every resource anywhere below ``ancestor_urn`` (children, grandchildren ...)."""
        parents = {r.urn: r.parent for r in self.resources}

        def descends(resource: Recorded) -> bool:
            parent = resource.parent
            while parent is not None and parent != ancestor_urn:
                parent = parents.get(parent)
            return parent == ancestor_urn

        return [r for r in self.resources if descends(r)]


def normalise(value: Any) -> Any:
    """Wire values as a reviewer should read them: integral floats as ints, secrets masked,
    resource references as their URN."""
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else value
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        signature = value.get("4dabf18193072939515e22adb298388d")
        if signature == SECRET_SIG:
            return "[secret]"
        if signature == RESOURCE_SIG:
            return value.get("urn")
        if signature == ASSET_SIG and isinstance(value.get("path"), str):
            # A file asset's path from the project's root: a graph reads the same on every checkout.
            value = {**value, "path": _from_root(value["path"])}
        return {k: normalise(v) for k, v in sorted(value.items())}
    if value == UNKNOWN:
        return RECORDED_UNKNOWN
    return value


# The wire signature of an asset (pulumi/sdk rpc.py, _special_asset_sig), and the project's root.
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _from_root(path: str) -> str:
    resolved = Path(path)
    return resolved.relative_to(PROJECT_ROOT).as_posix() if resolved.is_relative_to(PROJECT_ROOT) else path


ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(parent: str, type_: str, name: str, *, stack: str, project: str) -> str:
    """The URN the engine gives a resource: its type qualified by its parent's whole qualified
    type, except under the root stack (pulumi/pulumi pkg/resource/deploy/deployment.go,
    ``generateURN``). The SDK's MockMonitor keeps only the parent's last type and qualifies the
    stack's children with the stack's type, so below a nested component its URNs would not be
    the ones a real ``pulumi preview`` shows, which the review tools match plans against."""
    qualified = parent.split("::")[2] if parent else ""
    if qualified and qualified != ROOT_STACK_TYPE:
        type_ = f"{qualified}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps every registration, in order, with what the engine would see."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[Recorded] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(parent, type_, name, stack=pulumi.get_stack(), project=pulumi.get_project())

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        self.recorded.append(
            Recorded(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                provider=provider,
                dependencies=sorted(set(request.dependencies)),
                protect=bool(request.protect),
                inputs=normalise(inputs),
                property_dependencies={
                    k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())
                },
                ignore_changes=sorted(request.ignoreChanges),
                replace_on_changes=sorted(request.replaceOnChanges),
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete),
            )
        )
        return response


def _sqs_queue_outputs(outputs: dict[str, Any], queue: str, region: str) -> str:
    """A queue's ARN ends in its name, and the provider's id is the queue URL
    (terraform-provider-aws internal/service/sqs/queue.go sets it from QueueUrl)."""
    outputs["arn"] = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}"
    outputs["url"] = f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}"
    return str(outputs["url"])


def _docdb_master_secret(short: str, region: str) -> dict[str, str]:
    """The secret DocumentDB creates for a managed master password: named ``rds!cluster-<id>``
    plus Secrets Manager's six characters, under the account's aws/secretsmanager key (the
    provider offers no key of ours for it, infra/documentdb.py)."""
    uuid = f"{short[:8]}-{short[8:12]}-4{short[12:15]}-8{short[15:17]}0-{_hex(short, 12)}"
    key = f"{_hex('aws/secretsmanager', 8)}-0000-4000-8000-000000000000"
    name = f"rds!cluster-{uuid}-{_hex(uuid, 6)}"
    return {
        "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{name}",
        "kmsKeyId": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{key}",
        "secretStatus": "active",
    }


def _eks_cluster_outputs(inputs: Mapping[str, Any], name: str, region: str) -> dict[str, Any]:
    """What the Kubernetes provider and the node security group are built from."""
    short = _hex(f"aws:eks/cluster:Cluster/{name}", 17)
    return {
        "endpoint": f"https://{short.upper()}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
        "vpcConfig": {
            **dict(inputs.get("vpcConfig") or {}),
            "clusterSecurityGroupId": f"sg-{_hex(name + 'cluster', 17)}",
        },
        "identities": [
            {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{short.upper()}"}]}
        ],
        "arn": f"arn:aws:eks:{region}:{ACCOUNT_ID}:cluster/{inputs.get('name', name)}",
    }


class AwsMocks(pulumi_mocks.Mocks):
    """Deterministic stand-ins for provider outputs and invokes."""

    def __init__(self, region: str) -> None:
        self.region = region
        # Region of each explicit AWS provider, by the id the mock gave it: resources registered
        # with a provider for another region (the edge's us-east-1) get ARNs in that region.
        self._provider_regions: dict[str, str] = {}

    def _region_of(self, provider: str | None) -> str:
        provider_id = (provider or "").rsplit("::", 1)[-1]
        return self._provider_regions.get(provider_id, self.region)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name = args.typ, args.name
        region = self._region_of(args.provider)
        outputs: dict[str, Any] = dict(args.inputs)
        short = _hex(f"{typ}/{name}", 17)
        resource_id = f"{name}-{short[:8]}"
        kind = typ.split(":")[-1]
        service = typ.split(":")[1].split("/")[0] if typ.count(":") >= 2 else typ
        outputs.setdefault("name", args.inputs.get("name", name))
        outputs["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{kind.lower()}/{resource_id}"
        if service == "iam":  # IAM is global: no region in its ARNs
            # A role's or policy's path is part of its ARN ("/" when none is given).
            path = str(args.inputs.get("path") or "/")
            iam_kind = kind[:1].lower() + kind[1:]
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:{iam_kind}{path}{args.inputs.get('name', name)}"
        elif typ == "aws:secretsmanager/secret:Secret":  # Secrets Manager appends 6 random characters
            secret = f"{args.inputs.get('name', name)}-{short[:6]}"
            outputs["arn"] = f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{secret}"
        if typ == "aws:ec2/vpc:Vpc":
            resource_id = f"vpc-{short}"
            outputs["defaultSecurityGroupId"] = f"sg-{_hex(name + 'default', 17)}"
            outputs["ownerId"] = ACCOUNT_ID
        elif typ.startswith("aws:ec2/"):
            prefix = {
                "Subnet": "subnet",
                "SecurityGroup": "sg",
                "NatGateway": "nat",
                "Eip": "eipalloc",
                "RouteTable": "rtb",
                "InternetGateway": "igw",
                "VpcEndpoint": "vpce",
                "FlowLog": "fl",
                "LaunchTemplate": "lt",
            }.get(kind)
            if prefix:
                resource_id = f"{prefix}-{short}"
            if kind == "Eip":
                outputs["allocationId"] = resource_id
            if kind == "LaunchTemplate":  # what a node group pins
                outputs["latestVersion"] = 1
        elif typ == "aws:lb/loadBalancer:LoadBalancer":
            outputs["dnsName"] = f"{name}-{short[:10]}.{region}.elb.amazonaws.com"
            outputs["zoneId"] = "Z32O12XQLNTSW2"
            outputs["arnSuffix"] = f"app/{name}/{short}"
        elif typ == "aws:lb/targetGroup:TargetGroup":
            outputs["arnSuffix"] = f"targetgroup/{name}/{short}"
        elif typ == "aws:docdb/cluster:Cluster":
            outputs["endpoint"] = f"{name}.cluster-{short[:12]}.{region}.docdb.amazonaws.com"
            outputs["readerEndpoint"] = f"{name}.cluster-ro-{short[:12]}.{region}.docdb.amazonaws.com"
            outputs["port"] = 27017
            outputs["clusterResourceId"] = f"cluster-{short.upper()}"
            if args.inputs.get("manageMasterUserPassword"):
                outputs["masterUserSecrets"] = [_docdb_master_secret(short, region)]
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            outputs["primaryEndpointAddress"] = f"master.{name}.{short[:6]}.euw1.cache.amazonaws.com"
            outputs["readerEndpointAddress"] = f"replica.{name}.{short[:6]}.euw1.cache.amazonaws.com"
            outputs["port"] = 6379
        elif typ == "aws:ecr/repository:Repository":
            outputs["repositoryUrl"] = (
                f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{args.inputs.get('name', name)}"
            )
        elif typ.startswith("docker-build:index:Image"):
            outputs["digest"] = "sha256:" + _hex(f"image/{name}", 64)
            outputs["ref"] = f"{(args.inputs.get('tags') or ['image'])[0]}@{outputs['digest']}"
        elif typ == "aws:acm/certificate:Certificate":
            domain = args.inputs.get("domainName", "example.com")
            # One option per name: the domain first, then each subject alternative name.
            sans = [d for d in args.inputs.get("subjectAlternativeNames") or [] if d != domain]
            tokens = [short[:12], *(_hex(f"{typ}/{name}/{d}", 12) for d in sans)]
            outputs["domainValidationOptions"] = [
                {
                    "domainName": d,
                    "resourceRecordName": f"_{token}.{d}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": f"_{token}.acm-validations.aws.",
                }
                for d, token in zip([domain, *sans], tokens, strict=True)
            ]
        elif typ == "aws:cloudfront/distribution:Distribution":
            # CloudFront is global: no region in its ARNs; every distribution's alias target
            # lives in CloudFront's own hosted zone.
            resource_id = f"E{short[:13].upper()}"
            outputs["arn"] = f"arn:aws:cloudfront::{ACCOUNT_ID}:distribution/{resource_id}"
            outputs["domainName"] = f"d{short[:13]}.cloudfront.net"
            outputs["hostedZoneId"] = "Z2FDTNDATAQYW2"
            outputs["status"] = "Deployed"
        elif typ == "aws:wafv2/webAcl:WebAcl":
            scope = "global" if args.inputs.get("scope") == "CLOUDFRONT" else "regional"
            acl = args.inputs.get("name", name)
            outputs["arn"] = f"arn:aws:wafv2:{region}:{ACCOUNT_ID}:{scope}/webacl/{acl}/{short}"
        elif typ == "aws:kms/key:Key":
            resource_id = f"{short[:8]}-{short[8:12]}-4{short[12:15]}-8{short[15:17]}0-000000000000"
            outputs["keyId"] = resource_id
        elif typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = pulumi.Output.secret(_hex(f"password/{name}", 32))
        elif typ == "random:index/randomId:RandomId":
            outputs["hex"] = _hex(f"id/{name}", 2 * int(args.inputs.get("byteLength", 4)))
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            outputs["arn"] = f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{args.inputs.get('name', name)}"
        elif typ in {"aws:ecs/cluster:Cluster", "aws:ecs/service:Service"}:
            outputs["name"] = args.inputs.get("name", name)
        elif typ == "aws:s3/bucket:Bucket":
            # The provider names a bucket from its prefix; S3 ARNs carry no region or account.
            resource_id = args.inputs.get("bucket") or f"{args.inputs.get('bucketPrefix', name)}{short[:8]}"
            outputs["bucket"] = resource_id
            outputs["arn"] = f"arn:aws:s3:::{resource_id}"
        elif typ == "aws:sqs/queue:Queue":
            resource_id = _sqs_queue_outputs(outputs, args.inputs.get("name", name), region)
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            # IAM names an OIDC provider by its issuer's host (and path), not by a name of ours.
            host = str(args.inputs.get("url", name)).removeprefix("https://")
            outputs["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
        elif typ == "aws:route53/record:Record":
            outputs["fqdn"] = str(args.inputs.get("name", name)).rstrip(".")
        elif typ == "aws:eks/cluster:Cluster":
            outputs.update(_eks_cluster_outputs(args.inputs, name, region))
        if typ == "pulumi:providers:aws" and args.inputs.get("region"):
            self._provider_regions[resource_id] = str(args.inputs["region"])
        outputs["id"] = resource_id
        return resource_id, outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        handler = self._invokes().get(args.token)
        if handler is None:
            raise NotImplementedError(
                f"no mock for invoke {args.token}: add one to notes_platform/graph/mocks.py"
            )
        # An empty failure list, not None: the mock monitor iterates it.
        return handler(args.args), []

    def _invokes(self) -> dict[str, Any]:
        region = self.region
        letters = "abcdef"
        return {
            "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _: {
                "names": [f"{region}{c}" for c in letters],
                "zoneIds": [f"{region[:2]}{region.split('-')[1][0]}{region[-1]}-az{i + 1}" for i in range(6)],
            },
            "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda a: {
                "id": "pl-4fa04526",
                "name": a.get("name", ""),
                "maxEntries": 55,
            },
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan",
                "userId": "PLAN",
            },
            "aws:index/getRegion:getRegion": lambda _: {"name": region, "region": region, "id": region},
            "aws:index/getPartition:getPartition": lambda _: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda _: {
                "userName": "AWS",
                "password": "mock-ecr-password",
                "authorizationToken": "QVdTOm1vY2stZWNyLXBhc3N3b3Jk",
                "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com",
                "expiresAt": "2030-01-01T00:00:00Z",
                "id": region,
            },
            "aws:elb/getServiceAccount:getServiceAccount": lambda a: {
                "arn": f"arn:aws:iam::{ELB_LOG_ACCOUNTS.get(a.get('region') or region, '127311923021')}:root",
                "id": ELB_LOG_ACCOUNTS.get(a.get("region") or region, "127311923021"),
            },
        }


def record(
    program: Any,
    *,
    stack: str = "test",
    region: str = "eu-west-1",
    config: dict[str, str] | None = None,
    project: str = "notes-platform",
) -> tuple[list[Recorded], Any]:
    """Run ``program()`` under mocks; return what it registered (in order) and its result,
    resolved. Used by the plan and by component tests alike."""
    monitor = RecordingMonitor(AwsMocks(region))
    # set_mocks creates a root Stack only when none exists: clear the previous run's, or a
    # second program in this process would hang its resources under the first stack's URN.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({"aws:region": region, **(config or {})})
    result: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> Any:
        value = program()
        return pulumi.Output.from_input(value).apply(lambda resolved: result.update(value=resolved))

    run()
    return monitor.recorded, result.get("value")
