"""The notes API on ECS Fargate: cluster, task definition, service behind the ALB, and
target-tracking autoscaling on CPU and on requests per task.

Long on purpose: the task's documents (container definition, execution policy), the
component that wires Outputs into them and the checks on the same arguments read best side by
side, and STYLE.md points readers to this module for the documents."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
# Names that look like they carry a secret: these must come from `secrets`, never in plain text.
SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_PASSWORD", "_URI")
# Set by the component from its own arguments.
RESERVED_VARIABLES = ("NOTES_HOST", "NOTES_PORT", "NOTES_WORKERS", "NOTES_SHUTDOWN_GRACE_SECONDS")
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repository>[^@:]+)"
)


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
    """Environment variable -> Secrets Manager secret ARN, injected by ECS at start. Default
    none. Set by the stack from DocumentDb (URI), RedisCache (AUTH token) and the JWT signing
    key's GeneratedSecret."""
    environment_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain environment variables; nothing secret (see SECRET_SUFFIXES). Default none. Set by
    the stack: ``NOTES_ENV``, the cache URL from RedisCache, DocumentDb's CA file, config
    `networkCidr` as the trusted proxies and `serviceCorsAllowOrigins`."""
    secret_versions: Sequence[pulumi.Resource] = ()
    """What holds the value of each secret in ``secrets`` (its ``SecretVersion``): the service
    starts tasks only after them. A secret's ARN exists before its value does (the DocumentDB
    URI's version waits for the cluster endpoint), and ECS reads the value at task start.
    Required when ``secrets`` is given. Set by the stack from DocumentDb, RedisCache and the
    JWT signing key's GeneratedSecret."""
    deployment_alarm_names: Sequence[pulumi.Input[str]] = ()
    """CloudWatch alarm names (not ARNs) that fail a deployment and roll it back while they are
    in ALARM during the deployment and its bake time. Default none: only the circuit breaker
    judges a deployment. Set by the stack from DeploymentAlarms."""


def stop_timeout(args: ApiServiceArgs) -> int:
    return args.shutdown_grace_seconds + STOP_TIMEOUT_MARGIN_SECONDS


def capacity_strategy(args: ApiServiceArgs) -> list[dict[str, Any]]:
    """FARGATE and FARGATE_SPOT shares; a provider with weight 0 and no base is left out."""
    strategy = []
    if args.fargate_weight > 0 or args.fargate_base > 0:
        strategy.append(
            {"capacity_provider": "FARGATE", "base": args.fargate_base, "weight": args.fargate_weight}
        )
    if args.fargate_spot_weight > 0:
        strategy.append({"capacity_provider": "FARGATE_SPOT", "base": 0, "weight": args.fargate_spot_weight})
    return strategy


def container_definition(
    *,
    args: ApiServiceArgs,
    image: str,
    log_group: str,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
) -> dict[str, Any]:
    """The API's container, written the way ECS returns it (defaults spelled out, lists
    sorted) so that a refresh does not show a diff and replace the task definition."""
    port = args.container_port
    variables = {
        **environment,
        "NOTES_HOST": "0.0.0.0",  # noqa: S104 (inside the task's own network namespace)
        "NOTES_PORT": str(port),
        "NOTES_WORKERS": str(args.workers),
        "NOTES_SHUTDOWN_GRACE_SECONDS": str(args.shutdown_grace_seconds),
    }
    health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=4)"
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "cpu": 0,
        "portMappings": [{"containerPort": port, "hostPort": port, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(variables.items())],
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
            # An init process as PID 1 passes SIGTERM on to uvicorn and reaps its workers.
            "initProcessEnabled": True,
            "capabilities": {"add": [], "drop": ["ALL"]},
        },
        "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}],
        "stopTimeout": stop_timeout(args),
        # The image has python but no curl.
        "healthCheck": {
            "command": ["CMD", "python", "-c", health],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 15,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": args.region,
                "awslogs-stream-prefix": CONTAINER_NAME,
                # A slow CloudWatch Logs must not block the API's writes to stdout.
                "mode": "non-blocking",
                "max-buffer-size": "25m",
            },
        },
    }


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
        statements += [
            {
                "Sid": "Secrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(secret_arns),
            },
            {
                "Sid": "SecretsKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": secrets_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


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
    scaling_target: aws.appautoscaling.Target

    def __init__(self, name: str, args: ApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        super().__init__("notes:infra:ApiService", name, None, opts)
        prefix = f"notes-{args.environment}"
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        strategy = capacity_strategy(args)

        capacity = self._cluster(name, prefix, strategy)
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
        child = pulumi.ResourceOptions(parent=self)
        self.execution_role = aws.iam.Role(
            f"{name}-execution-role",
            name=f"{prefix}-api-execution",
            description=f"ECS pulls the image, writes logs and reads secrets for {prefix} API tasks",
            assume_role_policy=account_id.apply(lambda account: json.dumps(ecs_trust_policy(account))),
            opts=child,
        )
        secret_arns = list(args.secrets.values())
        self.execution_policy = aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=self.execution_role.id,
            policy=pulumi.Output.all(
                image=args.image_ref,
                log_group_arn=self.log_group.arn,
                secret_arns=pulumi.Output.all(*secret_arns),
                secrets_key_arn=args.secrets_kms_key_arn,
            ).apply(lambda values: json.dumps(execution_policy(region=args.region, **values))),
            opts=child,
        )
        # The API itself calls no AWS API today (ECS injects its secrets), so its role has no
        # policy: grant here only what new code needs.
        self.task_role = aws.iam.Role(
            f"{name}-task-role",
            name=f"{prefix}-api-task",
            description=f"Identity of the {prefix} API's code; no permissions",
            assume_role_policy=account_id.apply(
                lambda account: json.dumps(
                    ecs_trust_policy(account, f"arn:aws:ecs:{args.region}:{account}:*")
                )
            ),
            opts=child,
        )

    def _task_definition(self, name: str, args: ApiServiceArgs, prefix: str) -> None:
        definitions = pulumi.Output.all(
            image=args.image_ref,
            log_group=self.log_group.name,
            environment=pulumi.Output.from_input(dict(args.environment_variables)),
            secrets=pulumi.Output.from_input(dict(args.secrets)),
        ).apply(lambda values: json.dumps([container_definition(args=args, **values)]))
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            # One family for every deploy: each image becomes a new revision of it.
            family=f"{prefix}-api",
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(args.cpu),
            memory=str(args.memory),
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            container_definitions=definitions,
            # A new revision deregisters the previous one unless it is kept; kept, it stays
            # ACTIVE for the circuit breaker's rollback and for a manual one.
            skip_destroy=True,
            opts=pulumi.ResourceOptions(parent=self),
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
                depends_on=[args.listener, capacity, self.execution_policy, *args.secret_versions],
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
    _validate_sizes(args)
    _validate_environment(args)
    _validate_deployment_alarms(args)


def _validate_sizes(args: ApiServiceArgs) -> None:
    offered = FARGATE_SIZES.get(args.cpu)
    if offered is None:
        raise ValueError(f"cpu={args.cpu} is not a Fargate size: use one of {sorted(FARGATE_SIZES)}")
    if args.memory not in offered:
        raise ValueError(
            f"Fargate does not offer cpu={args.cpu} with memory={args.memory}; "
            f"with that cpu it offers {offered}"
        )
    if not 0 <= args.shutdown_grace_seconds <= MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS:
        raise ValueError(
            f"stopTimeout would be {stop_timeout(args)} s (shutdown_grace_seconds + "
            f"{STOP_TIMEOUT_MARGIN_SECONDS}); ECS allows at most {MAX_STOP_TIMEOUT_SECONDS}: "
            f"keep shutdown_grace_seconds within 0..{MAX_STOP_TIMEOUT_SECONDS - STOP_TIMEOUT_MARGIN_SECONDS}"
        )
    if args.min_count > args.max_count:
        raise ValueError(f"min_count={args.min_count} is above max_count={args.max_count}")
    if not args.min_count <= args.desired_count <= args.max_count:
        raise ValueError(
            f"desired_count={args.desired_count} must lie between min_count={args.min_count} "
            f"and max_count={args.max_count}"
        )
    if min(args.fargate_base, args.fargate_weight, args.fargate_spot_weight) < 0:
        raise ValueError("capacity provider base and weights must not be negative")
    if args.fargate_weight + args.fargate_spot_weight == 0:
        raise ValueError(
            "fargate_weight and fargate_spot_weight are both 0: at least one capacity provider needs a weight"
        )
    if args.workers < 1:
        raise ValueError(f"workers must be at least 1, got {args.workers}")


def _validate_deployment_alarms(args: ApiServiceArgs) -> None:
    names = [n for n in args.deployment_alarm_names if isinstance(n, str)]
    arns = [n for n in names if n.startswith("arn:")]
    if arns:
        raise ValueError(f"deployment_alarm_names takes alarm names, not ARNs: {arns}")
    if len(set(names)) != len(names):
        raise ValueError(f"deployment_alarm_names lists an alarm twice: {sorted(names)}")


def _validate_environment(args: ApiServiceArgs) -> None:
    reserved = sorted(set(RESERVED_VARIABLES) & set(args.environment_variables))
    if reserved:
        raise ValueError(
            f"{reserved} are set from the service's own arguments: remove them from environment_variables"
        )
    both = sorted(set(args.secrets) & set(args.environment_variables))
    if both:
        raise ValueError(
            f"{both} given both as a secret and as a plain environment variable: keep the secret"
        )
    plain_secrets = sorted(n for n in args.environment_variables if n.upper().endswith(SECRET_SUFFIXES))
    if plain_secrets:
        raise ValueError(
            f"{plain_secrets} look like secrets but are plain environment variables: store them in "
            "Secrets Manager and pass their ARNs in `secrets`"
        )
    if args.secrets and not args.secret_versions:
        raise ValueError(
            f"secrets {sorted(args.secrets)} are given without secret_versions: pass the "
            "SecretVersion of each, or tasks may start before the secret has a value"
        )
    for variable, arn in args.secrets.items():
        if isinstance(arn, str) and not arn.startswith("arn:"):
            raise ValueError(f"secrets[{variable!r}] must be a secret ARN, not a value")
