"""The notes API on ECS Fargate: cluster, task definition, service behind the ALB, and
target-tracking autoscaling on CPU and on requests per task; and the pieces every ECS service of
the stack shares (the export worker, infra/worker.py, runs in the same cluster): the hardened
container, the roles' trust and execution policies, the Fargate/Spot strategy and the checks on
sizes and environment variables.

Long on purpose: the task's documents (container definition, execution policy), the
component that wires Outputs into them and the checks on the same arguments read best side by
side, and STYLE.md points readers to this module for the documents."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

import pulumi
import pulumi_aws as aws

from infra.fargate import FARGATE_SIZES, MAX_STOP_TIMEOUT_SECONDS

# Time on top of the API's shutdown grace before ECS sends SIGKILL: the process also needs to
# close its pools and exit once the grace is over.
STOP_TIMEOUT_MARGIN_SECONDS = 10
CONTAINER_NAME = "api"


def api_log_group_name(environment: str) -> str:
    """The API's log group. A function so that alarms created before the service (the
    deployment alarms ECS rolls back on) can point at it by name."""
    return f"/ecs/notes-{environment}/api"


# The image's non-root identity (app/Dockerfile: USER 10001:10001).
APP_USER = "10001:10001"
TMP_VOLUME = "tmp"
# What a container that must finish first is waited for with: exit code 0. ECS accepts COMPLETE
# and SUCCESS only on a non-essential container (Amazon ECS API Reference, ContainerDependency:
# "This condition can't be set on an essential container"); on Fargate container dependencies
# need platform version 1.3.0 or later (same page), which LATEST is.
INIT_CONDITION = "SUCCESS"
# A plain variable that names a secret the container reads itself, through its task role.
SECRET_ARN_SUFFIX = "_SECRET_ARN"  # noqa: S105 (a name suffix)
# Names that look like they carry a secret: these must come from `secrets`, never in plain text.
SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_PASSWORD", "_URI")
# Set by the component from its own arguments.
RESERVED_VARIABLES = ("NOTES_HOST", "NOTES_PORT", "NOTES_WORKERS", "NOTES_SHUTDOWN_GRACE_SECONDS")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repository>[^@:]+)"
)


@dataclass(frozen=True)
class InitContainer:
    """A one-shot container of the API's task (the same image, another command) that must exit
    0 before the API container starts: non-essential, and the API container depends on it with
    condition SUCCESS. Hardened as the API container, logging under its own stream prefix."""

    name: str
    """Container name and awslogs stream prefix, e.g. ``dbusers``."""
    command: tuple[str, ...]
    """Its command, e.g. ``python -m notes_api.dbusers``."""
    environment_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain environment variables; nothing secret (see SECRET_SUFFIXES)."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Variable -> secret ARN injected by ECS with the execution role, which may read them; the
    API container never sees them."""


@dataclass(frozen=True)
class ApiServiceArgs:
    """How the API runs, how many copies, and what it is given."""

    environment: str
    """Environment name, part of every AWS-side name. From config `environment`. Required."""
    region: str
    """Region of the stack: the awslogs driver's region, the task role's source ARN and the
    secrets key's ViaService condition. From config `aws:region`. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the tasks (no public IPs). Set by the stack from Network's private
    subnets. Required."""
    security_group_id: pulumi.Input[str]
    """Security group of the tasks (ingress from the ALB only). Set by the stack from
    SecurityGroups (``tasks``). Required."""
    target_group_arn: pulumi.Input[str]
    """Target group the tasks register into. Set by the stack from LoadBalancer. Required."""
    target_group_arn_suffix: pulumi.Input[str]
    """ARN suffix of the target group: half of the request-count metric's resource label. Set
    by the stack from LoadBalancer. Required."""
    alb_arn_suffix: pulumi.Input[str]
    """ARN suffix of the ALB: the other half of that label. Set by the stack from
    LoadBalancer. Required."""
    listener: pulumi.Resource
    """What attaches the target group to the load balancer; the service waits for it. Set by
    the stack from LoadBalancer (its origin rule). Required."""
    image_ref: pulumi.Input[str]
    """Image reference by digest: ``<repository url>@sha256:...``. Set by the stack from
    ServiceImage. Required."""
    cpu: int
    """Fargate task CPU units; with ``memory`` a pair Fargate offers (see FARGATE_SIZES). From
    config `serviceCpu`. Required."""
    memory: int
    """Fargate task memory, MiB; a size Fargate offers with ``cpu``. From config
    `serviceMemory`. Required."""
    desired_count: int
    """Tasks when the service is created; afterwards autoscaling owns the count. Between
    ``min_count`` and ``max_count``. From config `serviceDesiredCount`. Required."""
    min_count: int
    """Autoscaling minimum. From config `serviceMinCount`. Required."""
    max_count: int
    """Autoscaling maximum. From config `serviceMaxCount`. Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """KMS key of the application log group. Set by the stack from Keys (``logs``). Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key the secrets are encrypted with (the execution role may decrypt with it). Set by
    the stack from Keys (``secrets``). Required."""
    cpu_target_percent: int = 60
    """Target-tracking CPU utilisation, percent. From config `serviceCpuTargetPercent`.
    Default 60."""
    requests_per_target: int = 1000
    """Target-tracking ALB requests per task per minute. From config
    `serviceRequestsPerTarget`. Default 1000."""
    fargate_base: int = 1
    """Tasks always on on-demand Fargate. From config `serviceFargateBase`. Default 1."""
    fargate_weight: int = 1
    """Share of further tasks on on-demand Fargate. From config `serviceFargateWeight`.
    Default 1."""
    fargate_spot_weight: int = 0
    """Share of further tasks on Fargate Spot. From config `serviceFargateSpotWeight`. Default
    0 (no Spot)."""
    workers: int = 1
    """uvicorn worker processes per task. From config `serviceWorkers`. Default 1."""
    container_port: int = 8000
    """Port the API listens on. From config `serviceContainerPort`. Default 8000."""
    health_check_grace_seconds: int = 60
    """Failing load-balancer health checks are ignored this long after a task starts. From
    config `serviceHealthCheckGraceSeconds`. Default 60."""
    shutdown_grace_seconds: int = 20
    """In-flight requests get this long after SIGTERM; stopTimeout is 10 s more. From config
    `serviceShutdownGraceSeconds`. Default 20."""
    log_retention_days: int = 30
    """Application log retention, days. From config `serviceLogRetentionDays`. Default 30."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variable -> Secrets Manager secret ARN, injected by ECS at start (read by the
    execution role). Default none. Set by the stack from RedisCache (AUTH token)."""
    environment_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain environment variables; nothing secret (see SECRET_SUFFIXES). Default none. Set by
    the stack: ``NOTES_ENV``, the cache URL from RedisCache, DocumentDb's CA file, config
    `networkCidr` as the trusted proxies, `serviceCorsAllowOrigins`, and the ``*_SECRET_ARN``
    variables naming the secrets the API reads itself (``task_secret_arns``)."""
    task_secret_arns: Sequence[pulumi.Input[str]] = ()
    """Secrets the API's code (and the init container) reads by ARN with the task role, which
    gets GetSecretValue on exactly these and kms:Decrypt on ``secrets_kms_key_arn`` through
    Secrets Manager. Default none. Set by the stack: DocumentDb's app secret, the JWT key set."""
    init_container: InitContainer | None = None
    """A container that must exit 0 before the API starts in each task. Default none. Set by
    the stack: ``dbusers``, which creates the app's DocumentDB user as the master user."""
    secret_versions: Sequence[pulumi.Resource] = ()
    """What holds the value of each secret in ``secrets`` and ``task_secret_arns`` (its
    ``SecretVersion``): the service starts tasks only after them. A secret's ARN exists before
    its value does (the app secret's version waits for the cluster endpoint), and the task reads
    the value at start. Required when either is given. Set by the stack from DocumentDb,
    RedisCache and the JWT signing key's GeneratedSecret."""
    deployment_alarm_names: Sequence[pulumi.Input[str]] = ()
    """CloudWatch alarm names (not ARNs) that fail a deployment and roll it back while they are
    in ALARM during the deployment and its bake time. Default none: only the circuit breaker
    judges a deployment. Set by the stack from DeploymentAlarms."""
    task_role_statements: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]] = ()
    """IAM policy statements of the API's own role (its task role), for what its code calls
    AWS for. Default none: the role has no policy. Set by the stack from the exports tier
    (sending export jobs, presigning reads of finished exports)."""


class CapacityShares(Protocol):
    """How a service splits its tasks between on-demand Fargate and Fargate Spot."""

    @property
    def fargate_base(self) -> int: ...
    @property
    def fargate_weight(self) -> int: ...
    @property
    def fargate_spot_weight(self) -> int: ...


def stop_timeout(args: ApiServiceArgs) -> int:
    return args.shutdown_grace_seconds + STOP_TIMEOUT_MARGIN_SECONDS


def capacity_strategy(shares: CapacityShares) -> list[dict[str, Any]]:
    """FARGATE and FARGATE_SPOT shares; a provider with weight 0 and no base is left out."""
    strategy = []
    if shares.fargate_weight > 0 or shares.fargate_base > 0:
        strategy.append(
            {"capacity_provider": "FARGATE", "base": shares.fargate_base, "weight": shares.fargate_weight}
        )
    if shares.fargate_spot_weight > 0:
        strategy.append(
            {"capacity_provider": "FARGATE_SPOT", "base": 0, "weight": shares.fargate_spot_weight}
        )
    return strategy


@dataclass(frozen=True)
class ContainerSpec:
    """What tells one service's container from another's; everything else (non-root, read-only
    root with a writable /tmp, no capabilities, an init process, awslogs) every container of the
    stack gets from ``hardened_container``."""

    name: str
    """Container name, also the awslogs stream prefix."""
    region: str
    """Region of the log group (awslogs-region)."""
    stop_timeout: int
    """Seconds between SIGTERM and SIGKILL, at most MAX_STOP_TIMEOUT_SECONDS on Fargate."""
    command: tuple[str, ...] = ()
    """Overrides the image's CMD; empty keeps it."""
    port: int | None = None
    """TCP port the container listens on; None: no port mapping."""
    health_check: Mapping[str, Any] | None = None
    """ECS container health check; None: none (ECS judges the task by its process alone)."""
    essential: bool = True
    """Whether the task stops when this container stops. False for a one-shot init container."""
    depends_on: tuple[tuple[str, str], ...] = ()
    """(container name, condition) pairs this container starts after (ECS ContainerDependency)."""


def hardened_container(
    spec: ContainerSpec,
    *,
    image: str,
    log_group: str,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
) -> dict[str, Any]:
    """One container, written the way ECS returns it (defaults spelled out, lists sorted) so
    that a refresh does not show a diff and replace the task definition."""
    container: dict[str, Any] = {"name": spec.name, "image": image}
    if spec.command:
        container["command"] = list(spec.command)
    ports = (
        [] if spec.port is None else [{"containerPort": spec.port, "hostPort": spec.port, "protocol": "tcp"}]
    )
    container |= {
        "essential": spec.essential,
        "cpu": 0,
        "portMappings": ports,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())],
        "readonlyRootFilesystem": True,
        # Fargate has no tmpfs: /tmp is an ephemeral task volume. It is writable by the
        # app's user only if the image declares VOLUME /tmp (ECS then copies the image's
        # 1777 mode); otherwise the mount is root-owned 0755.
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],  # noqa: S108
        "volumesFrom": [],
        "systemControls": [],
        "privileged": False,
        "user": APP_USER,
        "linuxParameters": {
            # An init process as PID 1 passes SIGTERM on to the app and reaps its children.
            "initProcessEnabled": True,
            "capabilities": {"add": [], "drop": ["ALL"]},
        },
        "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}],
        "stopTimeout": spec.stop_timeout,
    }
    if spec.health_check is not None:
        container["healthCheck"] = dict(spec.health_check)
    if spec.depends_on:
        container["dependsOn"] = [{"containerName": n, "condition": c} for n, c in spec.depends_on]
    container["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": spec.region,
            "awslogs-stream-prefix": spec.name,
            # A slow CloudWatch Logs must not block the app's writes to stdout.
            "mode": "non-blocking",
            "max-buffer-size": "25m",
        },
    }
    return container


def container_definition(
    *,
    args: ApiServiceArgs,
    image: str,
    log_group: str,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
) -> dict[str, Any]:
    """The API's container: its port, its server settings and an HTTP health check."""
    port = args.container_port
    variables = {
        **environment,
        "NOTES_HOST": "0.0.0.0",  # noqa: S104 (inside the task's own network namespace)
        "NOTES_PORT": str(port),
        "NOTES_WORKERS": str(args.workers),
        "NOTES_SHUTDOWN_GRACE_SECONDS": str(args.shutdown_grace_seconds),
    }
    health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=4)"
    spec = ContainerSpec(
        name=CONTAINER_NAME,
        region=args.region,
        stop_timeout=stop_timeout(args),
        port=port,
        # The image has python but no curl.
        health_check={
            "command": ["CMD", "python", "-c", health],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 15,
        },
    )
    if args.init_container is not None:
        spec = replace(spec, depends_on=((args.init_container.name, INIT_CONDITION),))
    return hardened_container(spec, image=image, log_group=log_group, environment=variables, secrets=secrets)


def init_container_definition(
    *,
    args: ApiServiceArgs,
    init: InitContainer,
    image: str,
    log_group: str,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
) -> dict[str, Any]:
    """The API task's init container: the API's image and hardening, not essential (it exits
    when done), no port and no health check, its own awslogs stream prefix."""
    spec = ContainerSpec(
        name=init.name,
        region=args.region,
        stop_timeout=stop_timeout(args),
        command=init.command,
        essential=False,
    )
    return hardened_container(
        spec, image=image, log_group=log_group, environment=environment, secrets=secrets
    )


def ecs_trust_policy(account_id: str, source_arn: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": account_id}}
    if source_arn:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ],
    }


def execution_policy(
    *, image: str, log_group_arn: str, secret_arns: Sequence[str], secrets_key_arn: str, region: str
) -> dict[str, Any]:
    """What ECS itself needs to start the task: pull the image, write its logs, read its
    secrets. Nothing wider than those resources."""
    statements: list[dict[str, Any]] = []
    ecr = ECR_IMAGE.match(image)
    if ecr:
        statements += [
            # The token call has no resource-level permissions.
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": f"arn:aws:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}",
            },
        ]
    statements.append(
        {
            "Sid": "AppLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        }
    )
    if secret_arns:
        statements += secret_read_statements(secret_arns, secrets_key_arn, region, sid="Secrets")
    return {"Version": "2012-10-17", "Statement": statements}


def secret_read_statements(
    secret_arns: Sequence[str], secrets_key_arn: str, region: str, *, sid: str
) -> list[dict[str, Any]]:
    """GetSecretValue on exactly ``secret_arns`` and kms:Decrypt on their key, only when
    Secrets Manager asks for it (kms:ViaService); Sids ``sid`` and ``sid + "Key"``."""
    return [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": sorted(set(secret_arns)),
        },
        {
            "Sid": f"{sid}Key",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": secrets_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
        },
    ]


def task_policy(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A task role's inline policy: the statements its code needs, nothing else."""
    return {"Version": "2012-10-17", "Statement": [dict(statement) for statement in statements]}


def has_statements(statements: pulumi.Input[Sequence[Any]]) -> bool:
    """Whether a task role gets a policy: an Output may hold statements, an empty list none."""
    return isinstance(statements, pulumi.Output) or bool(statements)


@dataclass(frozen=True)
class TaskRolesArgs:
    """What ``task_roles`` needs to know about one service's tasks."""

    role_name: str
    """``notes-<env>-<service>``: the roles are ``<role_name>-execution`` and ``<role_name>-task``."""
    label: str
    """Who the tasks are, in the roles' descriptions (``notes-staging API``)."""
    region: str
    """Region of the tasks: the task role's source ARN, the secrets key's ViaService. Required."""
    account_id: pulumi.Input[str]
    """Account whose ECS tasks may assume the roles. Required."""
    image_ref: pulumi.Input[str]
    """The image by digest; an ECR image gets pull permissions on its repository. Required."""
    log_group_arn: pulumi.Input[str]
    """The tasks' log group, the only one the execution role writes to. Required."""
    secret_arns: Sequence[pulumi.Input[str]]
    """Secrets ECS injects at start, the only ones the execution role reads. Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Key of those secrets, used only through Secrets Manager. Required."""
    statements: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]] = ()
    """The task role's policy statements. Default none: the role has no policy."""
    readable_secret_arns: Sequence[pulumi.Input[str]] = ()
    """Secrets the code reads itself: the task role also gets ``secret_read_statements`` for
    them (Sid ``ReadSecrets``). Default none."""


def task_role_statements(args: TaskRolesArgs) -> pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]]:
    """``args.statements`` and, when the code reads secrets itself, the statements to read them."""
    if not args.readable_secret_arns:
        return args.statements
    return pulumi.Output.all(
        statements=pulumi.Output.from_input(args.statements),
        arns=pulumi.Output.all(*args.readable_secret_arns),
        key=args.secrets_kms_key_arn,
    ).apply(
        lambda v: [
            *cast(Sequence[Mapping[str, Any]], v["statements"]),
            *secret_read_statements(v["arns"], v["key"], args.region, sid="ReadSecrets"),
        ]
    )


@dataclass(frozen=True)
class TaskRoles:
    execution_role: aws.iam.Role
    execution_policy: aws.iam.RolePolicy
    task_role: aws.iam.Role
    task_policy: aws.iam.RolePolicy | None


def task_roles(parent: pulumi.Resource, name: str, args: TaskRolesArgs) -> TaskRoles:
    """The execution role (ECS's, to start a task: image, logs, secrets) and the task role (the
    code's own identity, with ``statements`` as its only policy), children of ``parent``."""
    child = pulumi.ResourceOptions(parent=parent)
    account_id = pulumi.Output.from_input(args.account_id)
    execution_role = aws.iam.Role(
        f"{name}-execution-role",
        name=f"{args.role_name}-execution",
        description=f"ECS pulls the image, writes logs and reads secrets for {args.label} tasks",
        assume_role_policy=account_id.apply(lambda account: json.dumps(ecs_trust_policy(account))),
        opts=child,
    )
    policy = aws.iam.RolePolicy(
        f"{name}-execution-policy",
        role=execution_role.id,
        policy=pulumi.Output.all(
            image=args.image_ref,
            log_group_arn=args.log_group_arn,
            secret_arns=pulumi.Output.all(*args.secret_arns),
            secrets_key_arn=args.secrets_kms_key_arn,
        ).apply(lambda values: json.dumps(execution_policy(region=args.region, **values))),
        opts=child,
    )
    statements = task_role_statements(args)
    granted = has_statements(statements)
    # A task role gets only what its code calls AWS for; a service whose code calls nothing
    # (ECS injects the secrets) has a role with no policy.
    task_role = aws.iam.Role(
        f"{name}-task-role",
        name=f"{args.role_name}-task",
        description=f"Identity of the {args.label}'s code; "
        + ("what it may call is its inline policy" if granted else "no permissions"),
        assume_role_policy=account_id.apply(
            lambda account: json.dumps(ecs_trust_policy(account, f"arn:aws:ecs:{args.region}:{account}:*"))
        ),
        opts=child,
    )
    task_policy_resource = (
        aws.iam.RolePolicy(
            f"{name}-task-policy",
            role=task_role.id,
            policy=pulumi.Output.from_input(statements).apply(
                # Output.from_input resolves every Output inside the list and its statements.
                lambda statements: json.dumps(task_policy(cast(Sequence[Mapping[str, Any]], statements)))
            ),
            opts=child,
        )
        if granted
        else None
    )
    return TaskRoles(execution_role, policy, task_role, task_policy_resource)


def fargate_task_definition(
    parent: pulumi.Resource,
    name: str,
    *,
    family: str,
    cpu: int,
    memory: int,
    execution_role: aws.iam.Role,
    task_role: aws.iam.Role,
    container_definitions: pulumi.Input[str],
) -> aws.ecs.TaskDefinition:
    """A Fargate task of one family (each image becomes a new revision of it) with the /tmp
    volume ``hardened_container`` mounts."""
    return aws.ecs.TaskDefinition(
        name,
        # One family for every deploy: each image becomes a new revision of it.
        family=family,
        requires_compatibilities=["FARGATE"],
        network_mode="awsvpc",
        cpu=str(cpu),
        memory=str(memory),
        # Fargate Spot runs Linux X86_64 tasks only (Amazon ECS Developer Guide, "AWS Fargate
        # capacity providers": ARM64 tasks do not support the Fargate Spot capacity provider).
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX", cpu_architecture="X86_64"
        ),
        execution_role_arn=execution_role.arn,
        task_role_arn=task_role.arn,
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
        container_definitions=container_definitions,
        # A new revision deregisters the previous one unless it is kept; kept, it stays
        # ACTIVE for the circuit breaker's rollback and for a manual one.
        skip_destroy=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )


class ApiService(pulumi.ComponentResource):
    """Cluster, roles, task definition, service and its autoscaling."""

    cluster: aws.ecs.Cluster
    cluster_name: pulumi.Output[str]
    service: aws.ecs.Service
    service_name: pulumi.Output[str]
    task_definition: aws.ecs.TaskDefinition
    log_group: aws.cloudwatch.LogGroup
    log_group_name: pulumi.Output[str]
    execution_role: aws.iam.Role
    execution_policy: aws.iam.RolePolicy
    task_role: aws.iam.Role
    task_policy: aws.iam.RolePolicy | None
    capacity_providers: aws.ecs.ClusterCapacityProviders
    scaling_target: aws.appautoscaling.Target

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        super().__init__("notes:infra:ApiService", name, None, opts)
        prefix = f"notes-{args.environment}"
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        strategy = capacity_strategy(args)

        capacity = self.capacity_providers = self._cluster(name, prefix, strategy)
        self._logs(name, args)
        self._roles(name, args, prefix, account_id)
        self._task_definition(name, args, prefix)
        self._service(name, args, prefix, strategy, capacity)
        self._autoscaling(name, args, prefix)

        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "serviceName": self.service_name,
                "logGroupName": self.log_group_name,
                "taskDefinitionArn": self.task_definition.arn,
            }
        )

    def _cluster(
        self, name: str, prefix: str, strategy: list[dict[str, Any]]
    ) -> aws.ecs.ClusterCapacityProviders:
        """The cluster and its capacity providers; returns the providers the service waits for."""
        child = pulumi.ResourceOptions(parent=self)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=prefix,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=child,
        )
        self.cluster_name = self.cluster.name
        return aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(**s) for s in strategy
            ],
            opts=child,
        )

    def _logs(self, name: str, args: ApiServiceArgs) -> None:
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=api_log_group_name(args.environment),
            kms_key_id=args.logs_kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_group_name = self.log_group.name

    def _roles(self, name: str, args: ApiServiceArgs, prefix: str, account_id: pulumi.Output[str]) -> None:
        """The execution role (ECS's, to start the task) and the task role (the API's own)."""
        init = args.init_container
        roles = task_roles(
            self,
            name,
            TaskRolesArgs(
                role_name=f"{prefix}-api",
                label=f"{prefix} API",
                region=args.region,
                account_id=account_id,
                image_ref=args.image_ref,
                log_group_arn=self.log_group.arn,
                # The init container's secrets are ECS's to inject too: the execution role reads
                # them, the task role (the API's code) does not.
                secret_arns=[*args.secrets.values(), *(init.secrets.values() if init else ())],
                secrets_kms_key_arn=args.secrets_kms_key_arn,
                statements=args.task_role_statements,
                readable_secret_arns=args.task_secret_arns,
            ),
        )
        self.execution_role, self.execution_policy = roles.execution_role, roles.execution_policy
        self.task_role, self.task_policy = roles.task_role, roles.task_policy

    def _task_definition(self, name: str, args: ApiServiceArgs, prefix: str) -> None:
        init = args.init_container
        definitions = pulumi.Output.all(
            image=args.image_ref,
            log_group=self.log_group.name,
            environment=pulumi.Output.from_input(dict(args.environment_variables)),
            secrets=pulumi.Output.from_input(dict(args.secrets)),
            init_environment=pulumi.Output.from_input(dict(init.environment_variables) if init else {}),
            init_secrets=pulumi.Output.from_input(dict(init.secrets) if init else {}),
        ).apply(
            lambda v: json.dumps(
                [
                    container_definition(
                        args=args,
                        image=v["image"],
                        log_group=v["log_group"],
                        environment=v["environment"],
                        secrets=v["secrets"],
                    ),
                    *(
                        [
                            init_container_definition(
                                args=args,
                                init=init,
                                image=v["image"],
                                log_group=v["log_group"],
                                environment=v["init_environment"],
                                secrets=v["init_secrets"],
                            )
                        ]
                        if init
                        else []
                    ),
                ]
            )
        )
        self.task_definition = fargate_task_definition(
            self,
            f"{name}-task",
            family=f"{prefix}-api",
            cpu=args.cpu,
            memory=args.memory,
            execution_role=self.execution_role,
            task_role=self.task_role,
            container_definitions=definitions,
        )

    def _service(
        self,
        name: str,
        args: ApiServiceArgs,
        prefix: str,
        strategy: list[dict[str, Any]],
        capacity: aws.ecs.ClusterCapacityProviders,
    ) -> None:
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=f"{prefix}-api",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            capacity_provider_strategies=[aws.ecs.ServiceCapacityProviderStrategyArgs(**s) for s in strategy],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[args.security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arn,
                    container_name=CONTAINER_NAME,
                    container_port=args.container_port,
                )
            ],
            health_check_grace_period_seconds=args.health_check_grace_seconds,
            # The circuit breaker catches tasks that never get healthy; the alarms catch tasks
            # that are healthy but answer with errors or slowly.
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            alarms=aws.ecs.ServiceAlarmsArgs(
                alarm_names=list(args.deployment_alarm_names), enable=True, rollback=True
            )
            if args.deployment_alarm_names
            else None,
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            # The provider refuses an in-place change of the strategy without it: a changed
            # capacity_provider_strategy is ForceNew unless force_new_deployment is true
            # (capacityProviderStrategyCustomizeDiff in terraform-provider-aws
            # internal/service/ecs/service.go; the pulumi_aws ecs/service.py docstring:
            # "Updating this argument requires `force_new_deployment = true`"), and replacing a
            # service with a fixed name fails. Side effect: every in-place update of the service
            # sends forceNewDeployment, so its tasks are replaced (a rolling deploy).
            force_new_deployment=True,
            # `pulumi up` fails unless the service settles: waitServiceStable and
            # statusServiceWaitForStable in terraform-provider-aws internal/service/ecs/
            # (service.go; wait.go and status.go in older releases) poll until the service is
            # ACTIVE with exactly one deployment and runningCount == desiredCount, for the
            # resource's create/update timeout (20 minutes by default, service.go's Timeouts).
            # Tasks that never start (no image, no secret) end in a timeout and a failed
            # `pulumi up`. What it does NOT catch: a circuit-breaker or alarm rollback ends with
            # one deployment of the previous task definition and running == desired, so it reads
            # as steady and `pulumi up` is green while the new revision never served (newer
            # provider releases also treat ROLLBACK_SUCCESSFUL as a non-error status,
            # internal/service/ecs/service_deployment_wait_test.go); the post-deploy verify
            # command of a later issue checks that.
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # A target group must belong to a load balancer (through a listener) before a
                # service can register into it; the strategy's providers must be attached. ECS
                # reads the secrets' values and uses the execution role's permissions when it
                # starts a task, and nothing in the service's inputs refers to either: without
                # them the first tasks fail with ResourceInitializationError
                # (notes_platform/checks/ordering.py holds the service to both).
                # The task role's policy too: the API and its init container read their secrets
                # by ARN with it as they start.
                depends_on=[
                    args.listener,
                    capacity,
                    self.execution_policy,
                    *([self.task_policy] if self.task_policy is not None else []),
                    *args.secret_versions,
                ],
                # Autoscaling changes the desired count; applying the stack's initial value
                # again would undo its scaling on every `pulumi up`.
                ignore_changes=["desiredCount"],
            ),
        )
        self.service_name = self.service.name

    def _autoscaling(self, name: str, args: ApiServiceArgs, prefix: str) -> None:
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self.cluster.name, "/", self.service.name),
            min_capacity=args.min_count,
            max_capacity=args.max_count,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._target_tracking(
            name, "cpu", "ECSServiceAverageCPUUtilization", args.cpu_target_percent, None, prefix
        )
        self._target_tracking(
            name,
            "requests",
            "ALBRequestCountPerTarget",
            args.requests_per_target,
            pulumi.Output.concat(args.alb_arn_suffix, "/", args.target_group_arn_suffix),
            prefix,
        )

    def _target_tracking(
        self,
        name: str,
        role: str,
        metric: str,
        target: int,
        resource_label: pulumi.Input[str] | None,
        prefix: str,
    ) -> aws.appautoscaling.Policy:
        target_resource = self.scaling_target
        return aws.appautoscaling.Policy(
            f"{name}-scale-on-{role}",
            name=f"{prefix}-api-{role}",
            policy_type="TargetTrackingScaling",
            service_namespace=target_resource.service_namespace,
            scalable_dimension=target_resource.scalable_dimension,
            resource_id=target_resource.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=target,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type=metric, resource_label=resource_label
                ),
                # Out quickly, in slowly: a flapping count costs more than a spare task.
                scale_out_cooldown=60,
                scale_in_cooldown=300,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _validate(args: ApiServiceArgs) -> None:
    check_task_size(args.cpu, args.memory, args.shutdown_grace_seconds)
    if args.min_count > args.max_count:
        raise ValueError(f"min_count={args.min_count} is above max_count={args.max_count}")
    if not args.min_count <= args.desired_count <= args.max_count:
        raise ValueError(
            f"desired_count={args.desired_count} must lie between min_count={args.min_count} "
            f"and max_count={args.max_count}"
        )
    check_capacity(args)
    if args.workers < 1:
        raise ValueError(f"workers must be at least 1, got {args.workers}")
    check_environment(
        args.environment_variables,
        args.secrets,
        args.secret_versions,
        RESERVED_VARIABLES,
        task_secret_arns=args.task_secret_arns,
    )
    if args.init_container is not None:
        _validate_init_container(args.init_container, args)
    _validate_deployment_alarms(args)


def _validate_init_container(init: InitContainer, args: ApiServiceArgs) -> None:
    if init.name == CONTAINER_NAME:
        raise ValueError(f"init_container.name={init.name!r} is the API container's name: choose another")
    if not init.command:
        raise ValueError("init_container.command is empty: the image's own command starts the API")
    check_environment(
        init.environment_variables,
        init.secrets,
        args.secret_versions,
        (),
        task_secret_arns=args.task_secret_arns,
        label="init_container.",
    )


def check_task_size(cpu: int, memory: int, shutdown_grace_seconds: int) -> None:
    """A Fargate cpu/memory pair, and a grace whose stopTimeout ECS accepts."""
    offered = FARGATE_SIZES.get(cpu)
    if offered is None:
        raise ValueError(f"cpu={cpu} is not a Fargate size: use one of {sorted(FARGATE_SIZES)}")
    if memory not in offered:
        raise ValueError(
            f"Fargate does not offer cpu={cpu} with memory={memory}; with that cpu it offers {offered}"
        )
    longest = MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS
    if not 0 <= shutdown_grace_seconds <= longest:
        raise ValueError(
            f"stopTimeout would be {shutdown_grace_seconds + STOP_TIMEOUT_MARGIN_SECONDS} s "
            f"(shutdown_grace_seconds + {STOP_TIMEOUT_MARGIN_SECONDS}); ECS allows at most "
            f"{MAX_STOP_TIMEOUT_SECONDS}: keep shutdown_grace_seconds within 0..{longest}"
        )


def check_capacity(shares: CapacityShares) -> None:
    if min(shares.fargate_base, shares.fargate_weight, shares.fargate_spot_weight) < 0:
        raise ValueError("capacity provider base and weights must not be negative")
    if shares.fargate_weight + shares.fargate_spot_weight == 0:
        raise ValueError(
            "fargate_weight and fargate_spot_weight are both 0: at least one capacity provider needs a weight"
        )


def _validate_deployment_alarms(args: ApiServiceArgs) -> None:
    names = [n for n in args.deployment_alarm_names if isinstance(n, str)]
    arns = [n for n in names if n.startswith("arn:")]
    if arns:
        raise ValueError(f"deployment_alarm_names takes alarm names, not ARNs: {arns}")
    if len(set(names)) != len(names):
        raise ValueError(f"deployment_alarm_names lists an alarm twice: {sorted(names)}")


def check_environment(
    environment_variables: Mapping[str, Any],
    secrets: Mapping[str, Any],
    secret_versions: Sequence[pulumi.Resource],
    reserved_variables: Sequence[str],
    *,
    task_secret_arns: Sequence[Any] = (),
    label: str = "",
) -> None:
    """Plain variables carry nothing secret and nothing the component sets itself; secrets are
    ARNs whose values exist before a task starts, and so are the secrets the code reads itself
    (``task_secret_arns``). ``label`` prefixes the argument names in messages."""
    reserved = sorted(set(reserved_variables) & set(environment_variables))
    if reserved:
        raise ValueError(
            f"{reserved} are set from the service's own arguments: remove them from "
            f"{label}environment_variables"
        )
    both = sorted(set(secrets) & set(environment_variables))
    if both:
        raise ValueError(
            f"{both} given both as a secret and as a plain environment variable: keep the secret"
        )
    plain_secrets = sorted(n for n in environment_variables if n.upper().endswith(SECRET_SUFFIXES))
    if plain_secrets:
        raise ValueError(
            f"{plain_secrets} look like secrets but are plain environment variables: store them in "
            "Secrets Manager and pass their ARNs in `secrets`"
        )
    if (secrets or task_secret_arns) and not secret_versions:
        raise ValueError(
            f"secrets {sorted(secrets) or 'in task_secret_arns'} are given without secret_versions: pass "
            "the SecretVersion of each, or tasks may start before the secret has a value"
        )
    for variable, arn in secrets.items():
        if isinstance(arn, str) and not arn.startswith("arn:"):
            raise ValueError(f"{label}secrets[{variable!r}] must be a secret ARN, not a value")
    for variable, arn in environment_variables.items():
        if variable.endswith(SECRET_ARN_SUFFIX) and isinstance(arn, str) and not arn.startswith("arn:"):
            raise ValueError(f"{label}environment_variables[{variable!r}] must be a secret ARN, not a value")
