"""WorkerService under mocks: the API's image with the worker's command and the API's hardening,
roles that hold only the worker's permissions, a group that admits nothing, a service that rolls
back, and target tracking on the queue's backlog per task."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, cast

import botocore.session
import pulumi
import pulumi_aws as aws
import pytest
from botocore.validate import ParamValidator

from infra.worker import WorkerService, WorkerServiceArgs
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    ECS_CAPACITY_PROVIDERS,
    ECS_SERVICE,
    EGRESS_RULE,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    INGRESS_RULE,
    LOG_GROUP,
    SCALING_POLICY,
    SCALING_TARGET,
    SECRET_VERSION,
    SECURITY_GROUP,
    TASK_DEFINITION,
)

REPOSITORY = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api"
DIGEST = "sha256:" + "1f" * 32
DOCDB_URI_ARN = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT_ID}:secret:notes-staging/docdb-uri-AbCdEf"
SECRETS_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/secrets"
LOGS_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/logs"
QUEUE_NAME = "notes-staging-exports"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:{QUEUE_NAME}"
QUEUE_URL = f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT_ID}/{QUEUE_NAME}"
BUCKET = "notes-staging-exports-20261208"
DOCDB_SG = "sg-docdb"
# What the exports tier gives the worker's role (infra/exports: worker_statements).
WORKER_STATEMENTS = [
    {
        "Sid": "ConsumeExportJobs",
        "Effect": "Allow",
        "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"],
        "Resource": QUEUE_ARN,
    },
    {
        "Sid": "WriteExports",
        "Effect": "Allow",
        "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{BUCKET}/exports/*",
    },
]
ENVIRONMENT = {
    "NOTES_ENV": "production",
    "NOTES_MONGODB_TLS_CA_FILE": "/etc/ssl/docdb/global-bundle.pem",
    "NOTES_EXPORT_QUEUE_URL": QUEUE_URL,
    "NOTES_EXPORT_BUCKET": BUCKET,
    "NOTES_AWS_REGION": "eu-west-1",
}
VERSION_NAME = "docdb-uri-version"


def staging_args(
    capacity: pulumi.Resource,
    cluster: aws.ecs.Cluster | None,
    versions: list[pulumi.Resource],
    **overrides: Any,
) -> WorkerServiceArgs:
    """A staging-like worker: one small task at least, four at most, mostly on Spot."""
    values: dict[str, Any] = {
        "environment": "staging",
        "region": "eu-west-1",
        "cluster_arn": cluster.arn if cluster else "arn:aws:ecs:eu-west-1:123456789012:cluster/notes-staging",
        "cluster_name": cluster.name if cluster else "notes-staging",
        "capacity_providers": capacity,
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-private-a", "subnet-private-b"],
        "docdb_security_group_id": DOCDB_SG,
        "image_ref": pulumi.Output.from_input(f"{REPOSITORY}@{DIGEST}"),
        "queue_name": pulumi.Output.from_input(QUEUE_NAME),
        "task_role_statements": pulumi.Output.from_input(WORKER_STATEMENTS),
        "cpu": 256,
        "memory": 512,
        "min_count": 1,
        "max_count": 4,
        "backlog_per_task": 20,
        "logs_kms_key_arn": LOGS_KEY,
        "secrets_kms_key_arn": SECRETS_KEY,
        "secrets": {"NOTES_MONGODB_URI": pulumi.Output.from_input(DOCDB_URI_ARN)},
        "secret_versions": versions,
        "environment_variables": ENVIRONMENT,
        "fargate_base": 0,
        "fargate_weight": 1,
        "fargate_spot_weight": 3,
        "shutdown_grace_seconds": 100,
        "log_retention_days": 30,
        **overrides,
    }
    return WorkerServiceArgs(**values)


def worker_graph(**overrides: Any) -> Graph:
    def build() -> pulumi.Output[Any]:
        cluster = aws.ecs.Cluster("cluster", name="notes-staging")
        capacity = aws.ecs.ClusterCapacityProviders(
            "capacity", cluster_name=cluster.name, capacity_providers=["FARGATE", "FARGATE_SPOT"]
        )
        version = aws.secretsmanager.SecretVersion(VERSION_NAME, secret_id=DOCDB_URI_ARN, secret_string="x")
        worker = WorkerService("staging-worker", staging_args(capacity, cluster, [version], **overrides))
        return pulumi.Output.all(service=worker.service_name, log_group=worker.log_group_name)

    return run(build)


@pytest.fixture(scope="module")
def staging() -> Graph:
    return worker_graph()


def container(graph: Graph) -> dict[str, Any]:
    task = graph.one(TASK_DEFINITION)
    definitions = json.loads(task.inputs["containerDefinitions"])
    assert len(definitions) == 1, task.urn
    return cast(dict[str, Any], definitions[0])


def document(resource: Recorded, key: str = "policy") -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(resource.inputs[key]))


# --- task definition ----------------------------------------------------------------------


def test_the_task_is_the_api_image_with_the_worker_command_and_no_port(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    assert task.inputs["family"] == "notes-staging-worker", task.urn
    assert (task.inputs["cpu"], task.inputs["memory"]) == ("256", "512"), task.urn
    assert task.inputs["requiresCompatibilities"] == ["FARGATE"] and task.inputs["networkMode"] == "awsvpc"
    assert task.inputs["volumes"] == [{"name": "tmp"}] and task.inputs["skipDestroy"] is True, task.urn
    c = container(staging)
    assert c["image"] == f"{REPOSITORY}@{DIGEST}", task.urn
    assert c["command"] == ["python", "-m", "notes_api.worker"], task.urn
    # THEN no port is mapped and there is no HTTP health check (the worker serves none)
    assert c["portMappings"] == [] and "healthCheck" not in c, task.urn


def test_the_container_is_hardened_like_the_api(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    assert c["readonlyRootFilesystem"] is True, task.urn
    assert c["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}], task.urn
    assert c["user"] == "10001:10001" and c["privileged"] is False, task.urn
    assert c["linuxParameters"] == {"initProcessEnabled": True, "capabilities": {"add": [], "drop": ["ALL"]}}
    logging = c["logConfiguration"]
    assert logging["logDriver"] == "awslogs", task.urn
    assert logging["options"]["awslogs-group"] == "/ecs/notes-staging/worker", task.urn
    assert logging["options"]["mode"] == "non-blocking", task.urn


def test_stop_timeout_covers_the_grace_within_fargates_ceiling(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    environment = {e["name"]: e["value"] for e in c["environment"]}
    grace = int(environment["NOTES_SHUTDOWN_GRACE_SECONDS"])
    # THEN the worker gets SIGKILL only after its grace, and never later than Fargate allows
    # (which is also inside a Spot interruption's two minutes)
    assert grace == 100, task.urn
    assert grace < c["stopTimeout"] <= 120, task.urn


def test_the_worker_reads_only_the_database_secret_and_plain_export_settings(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    assert {s["name"]: s["valueFrom"] for s in c["secrets"]} == {"NOTES_MONGODB_URI": DOCDB_URI_ARN}, task.urn
    environment = {e["name"]: e["value"] for e in c["environment"]}
    assert environment == {**ENVIRONMENT, "NOTES_SHUTDOWN_GRACE_SECONDS": "100"}, task.urn
    for name, value in environment.items():
        assert not re.search(r"://[^/@]+@", value), f"{task.urn}: {name} has credentials in a URL"


def test_logs_go_to_a_group_of_the_worker_encrypted_and_expiring(staging: Graph) -> None:
    group = staging.one(LOG_GROUP)
    assert group.inputs == {
        "name": "/ecs/notes-staging/worker",
        "kmsKeyId": LOGS_KEY,
        "retentionInDays": 30,
    }, group.urn


# --- roles --------------------------------------------------------------------------------


def roles(graph: Graph) -> dict[str, Recorded]:
    return {r.inputs["name"]: r for r in graph.of_type(IAM_ROLE)}


def policy_of(graph: Graph, role: Recorded) -> Recorded:
    [policy] = [p for p in graph.of_type(IAM_ROLE_POLICY) if role.urn in p.dependencies]
    return policy


def test_the_execution_role_pulls_the_image_writes_logs_and_reads_the_database_uri_only(
    staging: Graph,
) -> None:
    execution = roles(staging)["notes-staging-worker-execution"]
    policy = policy_of(staging, execution)
    resources = {
        s["Sid"]: s["Resource"] for s in document(policy)["Statement"] if s["Sid"] in ("Secrets", "AppLogs")
    }
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/ecs/notes-staging/worker"
    # THEN the worker's tasks can start without ever holding the Redis token or the JWT key
    assert resources == {"AppLogs": [group, f"{group}:log-stream:*"], "Secrets": [DOCDB_URI_ARN]}, policy.urn


def test_the_task_role_holds_exactly_the_worker_statements(staging: Graph) -> None:
    task_role = roles(staging)["notes-staging-worker-task"]
    policy = policy_of(staging, task_role)
    assert document(policy) == {"Version": "2012-10-17", "Statement": WORKER_STATEMENTS}, policy.urn
    [statement] = document(task_role, "assumeRolePolicy")["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, task_role.urn
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:eu-west-1:{ACCOUNT_ID}:*"},
    }, task_role.urn
    task = staging.one(TASK_DEFINITION)
    assert task.inputs["taskRoleArn"].endswith("/notes-staging-worker-task"), task.urn
    assert task.inputs["executionRoleArn"].endswith("/notes-staging-worker-execution"), task.urn


# --- network ------------------------------------------------------------------------------


def test_the_workers_group_admits_nothing_and_reaches_aws_and_documentdb(staging: Graph) -> None:
    group = staging.one(SECURITY_GROUP)
    assert group.inputs["namePrefix"] == "notes-staging-worker-", group.urn
    assert "ingress" not in group.inputs, group.urn
    ingress = staging.of_type(INGRESS_RULE)
    # THEN the only ingress rule is DocumentDB's group admitting the worker, on 27017
    assert [(r.inputs["securityGroupId"], r.inputs["fromPort"], r.inputs["toPort"]) for r in ingress] == [
        (DOCDB_SG, 27017, 27017)
    ], [r.urn for r in ingress]
    assert group.urn in ingress[0].dependencies, ingress[0].urn
    # AND the worker's group sends HTTPS anywhere (NAT, endpoints) and MongoDB to DocumentDB only
    egress = {
        (r.inputs["fromPort"], r.inputs.get("cidrIpv4") or r.inputs.get("referencedSecurityGroupId"))
        for r in staging.of_type(EGRESS_RULE)
    }
    assert egress == {(443, "0.0.0.0/0"), (27017, DOCDB_SG)}, egress


# --- service ------------------------------------------------------------------------------


def test_the_service_runs_private_without_a_load_balancer_and_rolls_back(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    inputs = service.inputs
    assert inputs["name"] == "notes-staging-worker", service.urn
    assert inputs["cluster"].endswith("/cluster-" + inputs["cluster"].rsplit("-", 1)[-1]), service.urn
    assert "loadBalancers" not in inputs and "healthCheckGracePeriodSeconds" not in inputs, service.urn
    network = inputs["networkConfiguration"]
    assert network["subnets"] == ["subnet-private-a", "subnet-private-b"], service.urn
    assert network["assignPublicIp"] is False, service.urn
    # AND its tasks carry the worker's own group, not the API's
    assert len(network["securityGroups"]) == 1, service.urn
    assert staging.one(SECURITY_GROUP).urn in service.property_dependencies["networkConfiguration"], (
        service.urn
    )
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, service.urn
    assert inputs["waitForSteadyState"] is True and inputs["forceNewDeployment"] is True, service.urn
    assert inputs["desiredCount"] == 1 and service.ignore_changes == ["desiredCount"], service.urn
    assert inputs["enableExecuteCommand"] is False and "launchType" not in inputs, service.urn


def test_the_service_is_spot_heavy_when_configured(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    strategy = {
        s["capacityProvider"]: (s.get("base", 0), s["weight"])
        for s in service.inputs["capacityProviderStrategies"]
    }
    assert strategy == {"FARGATE": (0, 1), "FARGATE_SPOT": (0, 3)}, service.urn


def test_the_service_starts_tasks_only_once_they_can_work(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    needed = [
        staging.one(ECS_CAPACITY_PROVIDERS),
        staging.named(VERSION_NAME),
        *staging.of_type(IAM_ROLE_POLICY),
        *staging.of_type(EGRESS_RULE),
        *staging.of_type(INGRESS_RULE),
    ]
    assert staging.one(SECRET_VERSION).urn == staging.named(VERSION_NAME).urn
    missing = [r.urn for r in needed if r.urn not in service.dependencies]
    assert not missing, f"{service.urn} does not wait for {missing}"


# --- autoscaling --------------------------------------------------------------------------


def test_autoscaling_tracks_backlog_per_task_between_min_and_max(staging: Graph) -> None:
    target = staging.one(SCALING_TARGET)
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 4), target.urn
    assert target.inputs["resourceId"] == "service/notes-staging/notes-staging-worker", target.urn
    policy = staging.one(SCALING_POLICY)
    assert policy.inputs["policyType"] == "TargetTrackingScaling", policy.urn
    assert policy.inputs["resourceId"] == target.inputs["resourceId"], policy.urn
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 20, policy.urn
    queries = {q["id"]: q for q in config["customizedMetricSpecification"]["metrics"]}
    # THEN m1 is the queue's visible messages, m2 the service's running tasks, and only m1 / m2
    # is returned to the policy
    assert queries["m1"]["metricStat"] == {
        "metric": {
            "namespace": "AWS/SQS",
            "metricName": "ApproximateNumberOfMessagesVisible",
            "dimensions": [{"name": "QueueName", "value": QUEUE_NAME}],
        },
        "stat": "Sum",
    }, policy.urn
    assert queries["m2"]["metricStat"] == {
        "metric": {
            "namespace": "ECS/ContainerInsights",
            "metricName": "RunningTaskCount",
            "dimensions": [
                {"name": "ClusterName", "value": "notes-staging"},
                {"name": "ServiceName", "value": "notes-staging-worker"},
            ],
        },
        "stat": "Average",
    }, policy.urn
    assert queries["e1"]["expression"] == "m1 / m2", policy.urn
    returned = [q["id"] for q in queries.values() if q.get("returnData", True)]
    assert returned == ["e1"], policy.urn


def _aws_case(value: Any) -> Any:
    """Pulumi's camelCase wire names as the Application Auto Scaling API spells them."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _aws_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_aws_case(item) for item in value]
    return value


def test_the_scaling_policy_is_a_request_application_auto_scaling_accepts(staging: Graph) -> None:
    # GIVEN the recorded policy as a PutScalingPolicy request
    policy = staging.one(SCALING_POLICY)
    request = {
        "PolicyName": policy.inputs["name"],
        "ServiceNamespace": policy.inputs["serviceNamespace"],
        "ResourceId": policy.inputs["resourceId"],
        "ScalableDimension": policy.inputs["scalableDimension"],
        "PolicyType": policy.inputs["policyType"],
        "TargetTrackingScalingPolicyConfiguration": _aws_case(
            policy.inputs["targetTrackingScalingPolicyConfiguration"]
        ),
    }
    # WHEN botocore's model of the API validates it
    model = botocore.session.get_session().get_service_model("application-autoscaling")
    report = ParamValidator().validate(request, model.operation_model("PutScalingPolicy").input_shape)
    # THEN every member exists, with its type and its bounds
    assert not report.has_errors(), report.generate_report()


def test_outputs_and_children(staging: Graph) -> None:
    assert staging.result == {"service": "notes-staging-worker", "log_group": "/ecs/notes-staging/worker"}
    component = staging.one("notes:infra:WorkerService")
    for resource in staging.custom():
        if resource.name in ("cluster", "capacity", VERSION_NAME):
            continue
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith("staging-worker-"), resource.urn


# --- constructor errors -------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_args() -> WorkerServiceArgs:
    # Only referenced, never registered: errors come before any resource.
    resource = cast(pulumi.Resource, object())
    return staging_args(resource, None, [resource])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_count": 0}, r"min_count=0: .*no value with no task running"),
        ({"min_count": 5, "max_count": 4}, r"min_count=5 is above max_count=4"),
        ({"backlog_per_task": 0}, r"backlog_per_task=0 must be at least 1"),
        ({"cpu": 256, "memory": 4096}, r"Fargate does not offer cpu=256 with memory=4096"),
        ({"shutdown_grace_seconds": 111}, r"stopTimeout would be 121 s"),
        ({"fargate_weight": 0, "fargate_spot_weight": 0}, r"both 0"),
        ({"task_role_statements": []}, r"task_role_statements is empty"),
        ({"command": ()}, r"command is empty"),
        ({"environment_variables": {"NOTES_SHUTDOWN_GRACE_SECONDS": "5"}}, r"set from the service's own"),
        ({"environment_variables": {"NOTES_JWT_SIGNING_KEY": "k"}}, r"look like secrets"),
        ({"secret_versions": ()}, r"without secret_versions"),
        ({"secrets": {"NOTES_MONGODB_URI": "mongodb://u:p@h"}}, r"must be a secret ARN"),
    ],
)
def test_impossible_args_fail_in_the_constructor(
    base_args: WorkerServiceArgs, overrides: dict[str, Any], message: str
) -> None:
    # GIVEN args the worker cannot run with / WHEN it is constructed / THEN it says what to change
    with pytest.raises(ValueError, match=message):
        WorkerService("bad-worker", replace(base_args, **overrides))
