"""ApiService under mocks: a hardened container, least-privilege roles, a service that
deploys safely, and autoscaling on CPU and requests."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pytest

from infra.ecs import ApiService, ApiServiceArgs, ContainerSpec, hardened_container
from infra.observability.alarms import DeploymentAlarms, DeploymentAlarmsArgs
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    ECS_CAPACITY_PROVIDERS,
    ECS_CLUSTER,
    ECS_SERVICE,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    LOG_GROUP,
    SCALING_POLICY,
    SCALING_TARGET,
    SECRET_VERSION,
    TASK_DEFINITION,
)

REPOSITORY = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api"
DIGEST = "sha256:" + "1f" * 32
SECRET_PREFIX = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT_ID}:secret:notes-staging"
SECRET_ARNS = {
    "NOTES_MONGODB_URI": f"{SECRET_PREFIX}/docdb-uri-AbCdEf",
    "NOTES_REDIS_AUTH_TOKEN": f"{SECRET_PREFIX}/redis-auth-token-GhIjKl",
    "NOTES_JWT_SIGNING_KEY": f"{SECRET_PREFIX}/jwt-signing-key-MnOpQr",
}
SECRETS_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/secrets"
LOGS_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/logs"
LISTENER_NAME = "staging-alb-https"
VERSION_PREFIX = "secret-version-"


def staging_args(
    listener: pulumi.Resource, secret_versions: list[pulumi.Resource] | None = None, **overrides: Any
) -> ApiServiceArgs:
    """A staging-like service: small tasks, one on-demand task, the rest mostly on Spot."""
    values: dict[str, Any] = {
        "environment": "staging",
        "region": "eu-west-1",
        "subnet_ids": ["subnet-private-a", "subnet-private-b"],
        "security_group_id": "sg-tasks",
        "target_group_arn": f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT_ID}:targetgroup/api/1",
        "target_group_arn_suffix": "targetgroup/notes-staging-api-8000/0123456789abcdef",
        "alb_arn_suffix": "app/notes-staging/fedcba9876543210",
        "listener": listener,
        "image_ref": pulumi.Output.from_input(f"{REPOSITORY}@{DIGEST}"),
        "cpu": 256,
        "memory": 512,
        "desired_count": 1,
        "min_count": 1,
        "max_count": 4,
        "cpu_target_percent": 55,
        "requests_per_target": 800,
        "fargate_base": 1,
        "fargate_weight": 1,
        "fargate_spot_weight": 3,
        "workers": 1,
        "container_port": 8000,
        "health_check_grace_seconds": 45,
        "shutdown_grace_seconds": 20,
        "log_retention_days": 30,
        "logs_kms_key_arn": LOGS_KEY,
        "secrets": {name: pulumi.Output.from_input(arn) for name, arn in SECRET_ARNS.items()},
        "secrets_kms_key_arn": SECRETS_KEY,
        # Only referenced before any resource exists (the constructor checks); service_graph
        # registers real versions.
        "secret_versions": secret_versions or [cast(pulumi.Resource, object())],
        "environment_variables": {
            "NOTES_ENV": "production",
            "NOTES_REDIS_URL": pulumi.Output.from_input("rediss://master.notes.cache.amazonaws.com:6379"),
            "NOTES_MONGODB_TLS_CA_FILE": "/etc/ssl/docdb/global-bundle.pem",
            "NOTES_FORWARDED_ALLOW_IPS": "*",
        },
        **overrides,
    }
    return ApiServiceArgs(**values)


def prod_overrides() -> dict[str, Any]:
    """A prod-like service: bigger tasks, three always on, everything on on-demand Fargate."""
    return {
        "environment": "prod",
        "cpu": 1024,
        "memory": 2048,
        "desired_count": 3,
        "min_count": 3,
        "max_count": 12,
        "fargate_base": 3,
        "fargate_weight": 1,
        "fargate_spot_weight": 0,
        "workers": 2,
    }


def secret_versions() -> list[pulumi.Resource]:
    """One registered SecretVersion per secret ARN, as the data tier creates them."""
    return [
        aws.secretsmanager.SecretVersion(f"{VERSION_PREFIX}{variable}", secret_id=arn, secret_string="x")
        for variable, arn in SECRET_ARNS.items()
    ]


def service_graph(image: str = f"{REPOSITORY}@{DIGEST}", **overrides: Any) -> Graph:
    def build() -> pulumi.Output[Any]:
        listener = aws.lb.Listener(
            LISTENER_NAME, load_balancer_arn="arn:aws:elasticloadbalancing:lb", port=443, default_actions=[]
        )
        env = overrides.get("environment", "staging")
        service = ApiService(
            f"{env}-api",
            staging_args(listener, secret_versions(), image_ref=pulumi.Output.from_input(image), **overrides),
        )
        return pulumi.Output.all(
            cluster=service.cluster_name, service=service.service_name, log_group=service.log_group_name
        )

    return run(build)


@pytest.fixture(scope="module")
def staging() -> Graph:
    return service_graph()


@pytest.fixture(scope="module")
def prod() -> Graph:
    return service_graph(**prod_overrides())


def container(graph: Graph) -> dict[str, Any]:
    task = graph.one(TASK_DEFINITION)
    definitions = json.loads(task.inputs["containerDefinitions"])
    assert len(definitions) == 1, task.urn
    return definitions[0]


def policy_document(resource: Recorded, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[key])


# --- task definition ----------------------------------------------------------------------


def test_task_definition_is_fargate_awsvpc_with_a_stable_family(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    inputs = task.inputs
    assert inputs["family"] == "notes-staging-api", task.urn
    assert inputs["requiresCompatibilities"] == ["FARGATE"], task.urn
    assert inputs["networkMode"] == "awsvpc", task.urn
    assert (inputs["cpu"], inputs["memory"]) == ("256", "512"), task.urn
    assert inputs["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}, (
        task.urn
    )
    assert inputs["volumes"] == [{"name": "tmp"}], task.urn
    # Previous revisions stay ACTIVE, so a rollback has something to roll back to.
    assert inputs["skipDestroy"] is True, task.urn
    assert inputs["executionRoleArn"] != inputs["taskRoleArn"], task.urn


def test_a_new_image_is_a_new_revision_of_the_same_family(staging: Graph) -> None:
    # GIVEN the same service deployed with another digest
    other = service_graph(image=f"{REPOSITORY}@sha256:{'2e' * 32}")
    before, after = staging.one(TASK_DEFINITION), other.one(TASK_DEFINITION)
    # THEN only the container definitions change; the family (and the logical name) stay
    assert before.urn == after.urn
    assert after.inputs["family"] == before.inputs["family"] == "notes-staging-api", after.urn
    assert after.inputs["containerDefinitions"] != before.inputs["containerDefinitions"], after.urn


def test_container_runs_the_image_by_digest_hardened(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    assert c["image"] == f"{REPOSITORY}@{DIGEST}", task.urn
    assert c["essential"] is True, task.urn
    assert c["portMappings"] == [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}], task.urn
    # THEN the root filesystem is read-only and only /tmp, a task volume, is writable
    assert c["readonlyRootFilesystem"] is True, task.urn
    assert c["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}], task.urn
    # AND the process is unprivileged: the image's numeric non-root user, no capabilities
    assert c["privileged"] is False, task.urn
    assert c["user"] == "10001:10001", task.urn
    assert not c["user"].startswith("0"), task.urn
    assert c["linuxParameters"]["initProcessEnabled"] is True, task.urn
    assert c["linuxParameters"]["capabilities"]["drop"] == ["ALL"], task.urn
    assert {"name": "nofile", "softLimit": 65535, "hardLimit": 65535} in c["ulimits"], task.urn


def test_secrets_come_by_arn_and_the_environment_holds_none(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    # THEN every secret is a Secrets Manager ARN that ECS resolves at start
    assert {s["name"]: s["valueFrom"] for s in c["secrets"]} == SECRET_ARNS, task.urn
    # AND no plain variable carries a secret, by name or by value
    environment = {e["name"]: e["value"] for e in c["environment"]}
    assert not set(environment) & set(SECRET_ARNS), task.urn
    for name, value in environment.items():
        assert not name.endswith(("_TOKEN", "_KEY", "_PASSWORD", "_URI", "_SECRET")), f"{task.urn}: {name}"
        assert not value.startswith("arn:aws:secretsmanager:"), f"{task.urn}: {name}"
        assert not re.search(r"://[^/@]+@", value), f"{task.urn}: {name} has credentials in a URL"
        assert not re.fullmatch(r"[A-Za-z0-9+/=_-]{32,}", value), f"{task.urn}: {name} looks like a key"


def test_environment_sets_the_server_from_the_args(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    environment = {e["name"]: e["value"] for e in container(staging)["environment"]}
    assert environment["NOTES_HOST"] == "0.0.0.0", task.urn  # noqa: S104 (the task's own namespace)
    assert environment["NOTES_PORT"] == "8000", task.urn
    assert environment["NOTES_WORKERS"] == "1", task.urn
    assert environment["NOTES_SHUTDOWN_GRACE_SECONDS"] == "20", task.urn
    assert environment["NOTES_REDIS_URL"] == "rediss://master.notes.cache.amazonaws.com:6379", task.urn
    assert environment["NOTES_ENV"] == "production", task.urn


def test_logs_go_to_the_app_log_group_without_blocking(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    group = staging.one(LOG_GROUP)
    logging = container(staging)["logConfiguration"]
    assert logging["logDriver"] == "awslogs", task.urn
    assert logging["options"]["awslogs-group"] == "/ecs/notes-staging/api", task.urn
    assert logging["options"]["awslogs-region"] == "eu-west-1", task.urn
    assert logging["options"]["awslogs-stream-prefix"], task.urn
    assert logging["options"]["mode"] == "non-blocking", task.urn
    assert group.inputs["name"] == "/ecs/notes-staging/api", group.urn
    assert group.inputs["kmsKeyId"] == LOGS_KEY, group.urn
    assert group.inputs["retentionInDays"] == 30, group.urn


def test_stop_timeout_outlasts_the_shutdown_grace_and_health_uses_python(staging: Graph) -> None:
    task = staging.one(TASK_DEFINITION)
    c = container(staging)
    assert c["stopTimeout"] == 30, task.urn
    assert c["stopTimeout"] <= 120, task.urn
    check = c["healthCheck"]
    assert check["command"][:3] == ["CMD", "python", "-c"], task.urn
    assert "urllib.request" in check["command"][3], task.urn
    assert "http://127.0.0.1:8000/health" in check["command"][3], task.urn
    assert "curl" not in json.dumps(check), task.urn
    assert check["timeout"] < check["interval"], task.urn


# --- roles --------------------------------------------------------------------------------


def roles(graph: Graph) -> tuple[Recorded, Recorded]:
    found = {r.inputs["name"]: r for r in graph.of_type(IAM_ROLE)}
    return found["notes-staging-api-execution"], found["notes-staging-api-task"]


def test_both_roles_trust_only_ecs_tasks_of_this_account(staging: Graph) -> None:
    for role in roles(staging):
        [statement] = policy_document(role, "assumeRolePolicy")["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, role.urn
        assert statement["Action"] == "sts:AssumeRole", role.urn
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}, role.urn


def test_execution_role_reaches_exactly_its_image_logs_secrets_and_key(staging: Graph) -> None:
    execution, _ = roles(staging)
    [policy] = [p for p in staging.of_type(IAM_ROLE_POLICY) if execution.urn in p.dependencies]
    statements = policy_document(policy)["Statement"]
    by_action: dict[str, list[Any]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow", policy.urn
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            by_action.setdefault(action, []).extend(resources)
    log_group_arn = f"arn:aws:logs:eu-west-1:{ACCOUNT_ID}:log-group:/ecs/notes-staging/api"
    repository_arn = f"arn:aws:ecr:eu-west-1:{ACCOUNT_ID}:repository/staging/notes-api"
    assert by_action == {
        "ecr:GetAuthorizationToken": ["*"],
        "ecr:BatchCheckLayerAvailability": [repository_arn],
        "ecr:BatchGetImage": [repository_arn],
        "ecr:GetDownloadUrlForLayer": [repository_arn],
        "logs:CreateLogStream": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        "logs:PutLogEvents": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        "secretsmanager:GetSecretValue": sorted(SECRET_ARNS.values()),
        "kms:Decrypt": [SECRETS_KEY],
    }, policy.urn
    # THEN "*" appears for the ECR login alone
    for action, resources in by_action.items():
        if action != "ecr:GetAuthorizationToken":
            assert "*" not in resources, f"{policy.urn}: {action}"
    [decrypt] = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }, policy.urn


def test_without_secrets_the_execution_role_reads_none() -> None:
    # GIVEN a service given no secrets
    graph = service_graph(secrets={}, environment_variables={"NOTES_ENV": "production"})
    [policy] = graph.of_type(IAM_ROLE_POLICY)
    actions = {
        action
        for statement in policy_document(policy)["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    # THEN neither Secrets Manager nor KMS appears in its execution policy
    assert not {a for a in actions if a.startswith(("secretsmanager:", "kms:"))}, policy.urn
    assert container(graph)["secrets"] == [], graph.one(TASK_DEFINITION).urn


def test_task_role_has_no_permissions(staging: Graph) -> None:
    _, task_role = roles(staging)
    attached = [p.urn for p in staging.of_type(IAM_ROLE_POLICY) if task_role.urn in p.dependencies]
    assert attached == [], f"{task_role.urn} has policies {attached}"
    assert "managedPolicyArns" not in task_role.inputs, task_role.urn
    [statement] = policy_document(task_role, "assumeRolePolicy")["Statement"]
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:ecs:eu-west-1:{ACCOUNT_ID}:*"}, (
        task_role.urn
    )


SENDER_STATEMENTS = [
    {
        "Sid": "SendExportJobs",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:notes-staging-exports",
    },
    {
        "Sid": "ReadExports",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::notes-staging-exports/exports/*",
    },
]


def test_task_role_statements_become_the_task_roles_only_policy() -> None:
    # GIVEN the API given the statements its export endpoints need, one of them an Output
    statements = [SENDER_STATEMENTS[0], pulumi.Output.from_input(SENDER_STATEMENTS[1])]
    graph = service_graph(task_role_statements=statements)
    execution, task_role = roles(graph)
    # THEN the task role has one inline policy, holding exactly those statements
    [policy] = [p for p in graph.of_type(IAM_ROLE_POLICY) if task_role.urn in p.dependencies]
    assert policy_document(policy) == {"Version": "2012-10-17", "Statement": SENDER_STATEMENTS}, policy.urn
    assert "no permissions" not in task_role.inputs["description"], task_role.urn
    # AND the execution role's policy is the one it had without them
    [execution_policy] = [p for p in graph.of_type(IAM_ROLE_POLICY) if execution.urn in p.dependencies]
    assert execution_policy.inputs == service_graph().one(IAM_ROLE_POLICY).inputs, execution_policy.urn


def test_a_container_without_port_or_health_check_maps_nothing_and_keeps_the_hardening() -> None:
    # GIVEN a container spec with a command and neither a port nor a health check
    spec = ContainerSpec(name="worker", region="eu-west-1", stop_timeout=110, command=("python", "-m", "x"))
    # WHEN it is written as a container definition
    c = hardened_container(spec, image="repo@sha256:ab", log_group="/ecs/x", environment={}, secrets={})
    # THEN it maps no port, has no health check, runs the command, and is hardened like the API's
    assert c["portMappings"] == [] and "healthCheck" not in c
    assert c["command"] == ["python", "-m", "x"] and c["stopTimeout"] == 110
    assert c["readonlyRootFilesystem"] is True and c["user"] == "10001:10001" and c["privileged"] is False
    assert c["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    assert c["logConfiguration"]["options"]["awslogs-stream-prefix"] == "worker"


# --- cluster and service ------------------------------------------------------------------


def test_cluster_has_container_insights_and_both_fargate_providers(staging: Graph) -> None:
    cluster = staging.one(ECS_CLUSTER)
    assert cluster.inputs["name"] == "notes-staging", cluster.urn
    assert {"name": "containerInsights", "value": "enabled"} in cluster.inputs["settings"], cluster.urn
    capacity = staging.one(ECS_CAPACITY_PROVIDERS)
    assert sorted(capacity.inputs["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"], capacity.urn


def test_service_is_private_behind_the_target_group_and_rolls_back(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    inputs = service.inputs
    # THEN tasks get no public IP, run in the private subnets with the tasks' group
    assert inputs["networkConfiguration"] == {
        "subnets": ["subnet-private-a", "subnet-private-b"],
        "securityGroups": ["sg-tasks"],
        "assignPublicIp": False,
    }, service.urn
    assert inputs["loadBalancers"] == [
        {
            "targetGroupArn": f"arn:aws:elasticloadbalancing:eu-west-1:{ACCOUNT_ID}:targetgroup/api/1",
            "containerName": "api",
            "containerPort": 8000,
        }
    ], service.urn
    # AND a failed deployment rolls back on its own, never dropping below the running count
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, service.urn
    assert inputs["deploymentMinimumHealthyPercent"] == 100, service.urn
    assert inputs["deploymentMaximumPercent"] == 200, service.urn
    assert inputs["healthCheckGracePeriodSeconds"] == 45, service.urn
    assert inputs["propagateTags"] == "SERVICE", service.urn
    assert inputs["enableExecuteCommand"] is False, service.urn
    # AND `pulumi up` fails while tasks cannot start, and a change of the Fargate/Spot mix
    # updates the service in place instead of replacing it
    assert inputs["waitForSteadyState"] is True, service.urn
    assert inputs["forceNewDeployment"] is True, service.urn
    assert inputs["name"] == "notes-staging-api", service.urn
    assert "launchType" not in inputs, f"{service.urn}: capacity providers, not a launch type"


def test_service_leaves_the_count_to_autoscaling_and_waits_for_listener_and_providers(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    assert service.ignore_changes == ["desiredCount"], service.urn
    assert staging.named(LISTENER_NAME).urn in service.dependencies, service.urn
    assert staging.one(ECS_CAPACITY_PROVIDERS).urn in service.dependencies, service.urn


def test_service_starts_tasks_only_after_their_secret_values_and_execution_policy(staging: Graph) -> None:
    # GIVEN the staging-like service given a SecretVersion for each of its three secrets
    service = staging.one(ECS_SERVICE)
    versions = [r for r in staging.of_type(SECRET_VERSION) if r.name.startswith(VERSION_PREFIX)]
    assert len(versions) == len(SECRET_ARNS), [v.urn for v in versions]
    # THEN the service waits for every version and for the execution role's policy, which
    # ECS needs at task start and nothing in the service's inputs refers to
    for version in versions:
        assert version.urn in service.dependencies, f"{service.urn} does not wait for {version.urn}"
    [policy] = staging.of_type(IAM_ROLE_POLICY)
    assert policy.urn in service.dependencies, f"{service.urn} does not wait for {policy.urn}"


def test_without_deployment_alarms_only_the_circuit_breaker_judges_a_deployment(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    assert "alarms" not in service.inputs, service.urn


def test_service_rolls_back_on_its_deployment_alarms() -> None:
    # GIVEN the composition's order: deployment alarms first, then the service that names them
    def build() -> pulumi.Output[Any]:
        listener = aws.lb.Listener(
            LISTENER_NAME, load_balancer_arn="arn:aws:elasticloadbalancing:lb", port=443, default_actions=[]
        )
        args = staging_args(listener, secret_versions())
        alarms = DeploymentAlarms(
            "staging-deployment-alarms",
            DeploymentAlarmsArgs(
                environment="staging",
                topic_arn=f"arn:aws:sns:eu-west-1:{ACCOUNT_ID}:notes-staging-alarms",
                alb_arn_suffix=args.alb_arn_suffix,
                target_group_arn_suffix=args.target_group_arn_suffix,
            ),
        )
        service = ApiService("staging-api", replace(args, deployment_alarm_names=alarms.alarm_names))
        return service.service_name

    graph = run(build)
    service = graph.one(ECS_SERVICE)
    # THEN ECS watches the 5xx-rate and latency alarms and rolls back when one goes off
    assert service.inputs["alarms"] == {
        "alarmNames": ["notes-staging-api-5xx-rate", "notes-staging-api-p99-latency"],
        "enable": True,
        "rollback": True,
    }, service.urn
    # AND the alarms exist before the service is created or updated
    alarm_urns = {a.urn for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert len(alarm_urns) == 2
    assert alarm_urns <= set(service.dependencies), service.urn
    # AND the circuit breaker still catches tasks that never become healthy
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, service.urn


def strategy(resource: Recorded, key: str) -> dict[str, tuple[int, int]]:
    return {s["capacityProvider"]: (s.get("base", 0), s["weight"]) for s in resource.inputs[key]}


def test_staging_like_capacity_puts_extra_tasks_mostly_on_spot(staging: Graph) -> None:
    service = staging.one(ECS_SERVICE)
    assert strategy(service, "capacityProviderStrategies") == {
        "FARGATE": (1, 1),
        "FARGATE_SPOT": (0, 3),
    }, service.urn
    capacity = staging.one(ECS_CAPACITY_PROVIDERS)
    assert strategy(capacity, "defaultCapacityProviderStrategies") == strategy(
        service, "capacityProviderStrategies"
    ), capacity.urn


def test_prod_like_capacity_is_on_demand_only(prod: Graph) -> None:
    service = prod.one(ECS_SERVICE)
    assert strategy(service, "capacityProviderStrategies") == {"FARGATE": (3, 1)}, service.urn
    task = prod.one(TASK_DEFINITION)
    assert (task.inputs["cpu"], task.inputs["memory"]) == ("1024", "2048"), task.urn
    assert task.inputs["family"] == "notes-prod-api", task.urn
    environment = {e["name"]: e["value"] for e in container(prod)["environment"]}
    assert environment["NOTES_WORKERS"] == "2", task.urn


def test_a_base_with_zero_weight_keeps_its_provider() -> None:
    graph = service_graph(fargate_base=2, fargate_weight=0, fargate_spot_weight=1)
    service = graph.one(ECS_SERVICE)
    assert strategy(service, "capacityProviderStrategies") == {
        "FARGATE": (2, 0),
        "FARGATE_SPOT": (0, 1),
    }, service.urn


# --- autoscaling --------------------------------------------------------------------------


def test_autoscaling_tracks_cpu_and_requests_between_min_and_max(staging: Graph) -> None:
    target = staging.one(SCALING_TARGET)
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, 4), target.urn
    assert target.inputs["resourceId"] == "service/notes-staging/notes-staging-api", target.urn
    assert target.inputs["scalableDimension"] == "ecs:service:DesiredCount", target.urn
    assert target.inputs["serviceNamespace"] == "ecs", target.urn
    policies = {
        p.inputs["targetTrackingScalingPolicyConfiguration"]["predefinedMetricSpecification"][
            "predefinedMetricType"
        ]: p
        for p in staging.of_type(SCALING_POLICY)
    }
    assert sorted(policies) == ["ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"], [
        p.urn for p in staging.of_type(SCALING_POLICY)
    ]
    cpu = policies["ECSServiceAverageCPUUtilization"]
    requests = policies["ALBRequestCountPerTarget"]
    for policy in (cpu, requests):
        assert policy.inputs["policyType"] == "TargetTrackingScaling", policy.urn
        assert policy.inputs["resourceId"] == target.inputs["resourceId"], policy.urn
        assert target.urn in policy.dependencies, policy.urn
    assert cpu.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"] == 55, cpu.urn
    config = requests.inputs["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 800, requests.urn
    assert (
        config["predefinedMetricSpecification"]["resourceLabel"]
        == "app/notes-staging/fedcba9876543210/targetgroup/notes-staging-api-8000/0123456789abcdef"
    ), requests.urn


def test_outputs_and_children(staging: Graph) -> None:
    assert staging.result == {
        "cluster": "notes-staging",
        "service": "notes-staging-api",
        "log_group": "/ecs/notes-staging/api",
    }
    component = staging.one("notes:infra:ApiService")
    for resource in staging.custom():
        if resource.name == LISTENER_NAME or resource.name.startswith(VERSION_PREFIX):
            continue
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith("staging-api-"), resource.urn


# --- constructor errors -------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_args() -> ApiServiceArgs:
    # The listener is only referenced, never registered: errors come before any resource.
    return staging_args(listener=cast(pulumi.Resource, object()))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu": 256, "memory": 4096}, r"Fargate does not offer cpu=256 with memory=4096"),
        ({"cpu": 300, "memory": 512}, r"cpu=300 is not a Fargate size"),
        ({"shutdown_grace_seconds": 111}, r"stopTimeout would be 121 s"),
        ({"min_count": 5, "max_count": 4, "desired_count": 4}, r"min_count=5 is above max_count=4"),
        ({"desired_count": 9}, r"desired_count=9 must lie between"),
        ({"fargate_weight": 0, "fargate_spot_weight": 0}, r"both 0"),
        ({"environment_variables": {"NOTES_JWT_SIGNING_KEY": "k"}}, r"given both as a secret"),
        ({"environment_variables": {"NOTES_SMTP_PASSWORD": "hunter2"}}, r"look like secrets"),
        (
            {"environment_variables": {"NOTES_MONGODB_URI": "mongodb://u:p@h"}, "secrets": {}},
            r"look like secrets",
        ),
        ({"environment_variables": {"NOTES_REDIS_AUTH_TOKEN": "t"}, "secrets": {}}, r"look like secrets"),
        ({"environment_variables": {"NOTES_API_KEY": "k"}}, r"look like secrets"),
        ({"environment_variables": {"NOTES_PORT": "9000"}}, r"set from the service's own arguments"),
        ({"secrets": {"NOTES_JWT_SIGNING_KEY": "plain-value"}}, r"must be a secret ARN"),
        ({"secret_versions": ()}, r"without secret_versions"),
        (
            {"deployment_alarm_names": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:notes-staging-x"]},
            r"alarm names, not ARNs",
        ),
        ({"deployment_alarm_names": ["notes-staging-x", "notes-staging-x"]}, r"lists an alarm twice"),
    ],
)
def test_impossible_args_fail_in_the_constructor(
    base_args: ApiServiceArgs, overrides: dict[str, Any], message: str
) -> None:
    # GIVEN args the service cannot run with / WHEN it is constructed / THEN it says what to change
    with pytest.raises(ValueError, match=message):
        ApiService("bad-api", replace(base_args, **overrides))
