"""A deployed stack as `notes-platform verify` sees it, built in moto (in-process `mock_aws`),
plus botocore Stubber responses for what moto cannot produce.

moto (5.2) creates the ECS service, target group, alarms, replication group and distribution
for real; it has no DocumentDB (its CreateDBCluster refuses engine 'docdb') and cannot
roll a service back, leave a cache `modifying` or mark a target `unhealthy`. Those come from
Stubber responses, which botocore validates against the operation's output shape (required
members and types: botocore/stub.py `_validate_operation_response`); `assert_enums` adds the
enum values ParamValidator does not check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.stub import Stubber

from notes_platform.release.verify import EDGE_REGION, Expected

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DIGEST = "sha256:" + "a" * 64
PREVIOUS_DIGEST = "sha256:" + "b" * 64
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/staging/notes-api"
ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/notes-staging-api:"
WEB_ACL = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/notes-staging-edge/3a025063"


def assert_enums(client: Any, operation: str, response: dict[str, Any]) -> None:
    """Every string in ``response`` whose shape has an enum holds one of its values."""
    shape = client.meta.service_model.operation_model(operation).output_shape

    def walk(value: Any, shape: Shape, path: str) -> None:
        if isinstance(shape, StructureShape) and isinstance(value, dict):
            for key, item in value.items():
                if key in shape.members:
                    walk(item, shape.members[key], f"{path}.{key}")
        elif isinstance(shape, ListShape) and isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, shape.member, f"{path}[{index}]")
        elif isinstance(shape, MapShape) and isinstance(value, dict):
            for key, item in value.items():
                walk(item, shape.value, f"{path}[{key}]")
        elif getattr(shape, "enum", None) and isinstance(value, str):
            assert value in shape.enum, f"{operation}{path}: {value!r} is not one of {shape.enum}"

    walk(response, shape, "")


def stubbed(
    service: str,
    responses: list[tuple[str, dict[str, Any]]],
    region: str = REGION,
    errors: list[tuple[str, str, int]] = (),  # type: ignore[assignment]
) -> Any:
    """A client that answers ``responses`` in order, each checked against the AWS API model,
    then the ``errors`` (operation, AWS error code, HTTP status)."""
    client = boto3.client(
        service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    stubber = Stubber(client)
    for operation, response in responses:
        method = client.meta.method_to_api_mapping
        assert_enums(client, method[operation], response)
        stubber.add_response(operation, response)
    for operation, code, status in errors:
        stubber.add_client_error(operation, code, f"stubbed {code}", http_status_code=status)
    stubber.activate()
    return client


def docdb_available(
    cluster: str = "notes-staging-docdb", instances: int = 1, status: str = "available"
) -> Any:
    members = [f"{cluster}-{n + 1}" for n in range(instances)]
    return stubbed(
        "docdb",
        [
            (
                "describe_db_clusters",
                {
                    "DBClusters": [
                        {
                            "DBClusterIdentifier": cluster,
                            "Status": "available",
                            "Engine": "docdb",
                            "DBClusterMembers": [
                                {"DBInstanceIdentifier": m, "IsClusterWriter": i == 0}
                                for i, m in enumerate(members)
                            ],
                        }
                    ]
                },
            ),
            (
                "describe_db_instances",
                {
                    "DBInstances": [
                        {"DBInstanceIdentifier": m, "DBInstanceStatus": status, "Engine": "docdb"}
                        for m in members
                    ]
                },
            ),
        ],
    )


@dataclass
class World:
    """What the moto stack holds, to plant mistakes in."""

    expected: Expected
    target_group_arn: str
    instance_ids: list[str]
    stubs: dict[str, Callable[[], Any]] = field(default_factory=dict)
    """service -> a function making a fresh stubbed client (a Stubber answers each call once)."""

    def clients(self) -> Callable[[str, str], Any]:
        def factory(service: str, region: str) -> Any:
            if service in self.stubs:
                return self.stubs[service]()
            return boto3.client(service, region_name=region)

        return factory


def _distribution(cloudfront: Any, web_acl: str) -> dict[str, Any]:
    config = {
        "CallerReference": "notes-staging-edge",
        "Comment": "notes-staging",
        "Enabled": True,
        "WebACLId": web_acl,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "alb",
                    "DomainName": "origin.staging.notes.example.com",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "alb",
            "ViewerProtocolPolicy": "redirect-to-https",
            # AWS's managed CachingDisabled policy.
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }
    distribution: dict[str, Any] = cloudfront.create_distribution(DistributionConfig=config)["Distribution"]
    return distribution


def build(
    monkeypatch: Any,
    *,
    api_url: str = "https://api.staging.notes.example.com",
    running: int = 2,
    desired: int = 2,
    distribution_web_acl: str = WEB_ACL,
) -> World:
    """The staging stack after a good deploy, in moto (call inside ``mock_aws``)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    reservation = ec2.run_instances(ImageId="ami-12c6146b", MinCount=desired, MaxCount=desired)
    instance_ids = [i["InstanceId"] for i in reservation["Instances"]]

    elbv2 = boto3.client("elbv2", region_name=REGION)
    group = elbv2.create_target_group(
        Name="staging-alb-api-8000", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": i, "Port": 8000} for i in instance_ids])

    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="notes-staging")
    for digest in (PREVIOUS_DIGEST, DIGEST):
        ecs.register_task_definition(
            family="notes-staging-api",
            containerDefinitions=[{"name": "api", "image": f"{REPOSITORY}@{digest}", "memory": 512}],
        )
    # moto sets runningCount (and rolloutState COMPLETED when running >= desired) from this
    # variable when the service is created (moto/ecs/models.py, Service.__init__).
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
    ecs.create_service(
        cluster="notes-staging",
        serviceName="notes-staging-api",
        taskDefinition="notes-staging-api:2",
        desiredCount=desired,
        loadBalancers=[{"targetGroupArn": group, "containerName": "api", "containerPort": 8000}],
    )

    for region, names in (
        (REGION, ["api-5xx-rate", "api-p99-latency"]),
        (EDGE_REGION, ["cloudfront-5xx-error-rate"]),
    ):
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        for name in names:
            cloudwatch.put_metric_alarm(
                AlarmName=f"notes-staging-{name}",
                MetricName="HTTPCode_Target_5XX_Count",
                Namespace="AWS/ApplicationELB",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanThreshold",
            )
            cloudwatch.set_alarm_state(
                AlarmName=f"notes-staging-{name}", StateValue="OK", StateReason="quiet"
            )

    boto3.client("elasticache", region_name=REGION).create_replication_group(
        ReplicationGroupId="notes-staging-redis",
        ReplicationGroupDescription="notes-staging",
        CacheNodeType="cache.t4g.micro",
        Engine="redis",
        NumCacheClusters=1,
    )
    distribution = _distribution(boto3.client("cloudfront", region_name=EDGE_REGION), distribution_web_acl)

    expected = Expected(
        stack="staging",
        environment="staging",
        region=REGION,
        cluster="notes-staging",
        service="notes-staging-api",
        digest=DIGEST,
        api_url=api_url,
        cloudfront_domain=distribution["DomainName"],
        web_acl_arn=WEB_ACL,
    )
    return World(expected, group, instance_ids, stubs={"docdb": docdb_available})


def outputs_of(world: World) -> dict[str, Any]:
    """The stack outputs `pulumi stack output --json` would print for this world."""
    e = world.expected
    return {
        "apiUrl": e.api_url,
        "clusterName": e.cluster,
        "serviceName": e.service,
        "imageDigest": e.digest,
        "imageRef": f"{REPOSITORY}@{e.digest}",
        "cloudfrontDomainName": e.cloudfront_domain,
        "webAclArn": e.web_acl_arn,
        "alarmTopicArn": f"arn:aws:sns:{e.region}:{ACCOUNT}:staging-alarm-topic",
        "docdbAppSecretArn": "[secret]",
    }


# --- ECS states moto cannot produce ------------------------------------------------------------


def service(world: World, deployments: list[dict[str, Any]], events: tuple[str, ...] = ()) -> dict[str, Any]:
    """DescribeServices for the world's service, with these deployments and events."""
    at = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    return {
        "services": [
            {
                "serviceName": "notes-staging-api",
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": 2,
                "pendingCount": 0,
                "loadBalancers": [
                    {"targetGroupArn": world.target_group_arn, "containerName": "api", "containerPort": 8000}
                ],
                "deployments": deployments,
                "events": [{"id": str(n), "createdAt": at, "message": m} for n, m in enumerate(events)],
            }
        ],
        "failures": [],
    }


def task_definition(revision: int, digest: str) -> dict[str, Any]:
    return {
        "taskDefinition": {
            "family": "notes-staging-api",
            "revision": revision,
            "containerDefinitions": [{"name": "api", "image": f"{REPOSITORY}@{digest}"}],
        }
    }


def rolled_back(world: World) -> Callable[[], Any]:
    """ECS as the circuit breaker leaves a service it rolled back: one deployment, COMPLETED and
    steady (what `pulumi up` and the standard deploy action call success), running revision 1."""
    deployment = {
        "id": "ecs-svc/3",
        "status": "PRIMARY",
        "taskDefinition": f"{ARN}1",
        "desiredCount": 2,
        "runningCount": 2,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": "ECS deployment ecs-svc/3 completed.",
    }
    steady = ("(service notes-staging-api) has reached a steady state.",)
    return lambda: stubbed(
        "ecs",
        [
            ("describe_services", service(world, [deployment], steady)),
            ("describe_task_definition", task_definition(1, PREVIOUS_DIGEST)),
        ],
    )
