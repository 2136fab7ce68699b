"""The export worker on ECS Fargate: the API's image running ``python -m notes_api.worker``, a
second service in the API's cluster with no load balancer and no inbound traffic, scaled on the
export queue's backlog per task.

It shares the API's hardening and documents (``infra.ecs``: the container, the roles' trust and
execution policies, the Fargate/Spot strategy) and has its own log group, roles and security
group: the worker's role may receive from the queue and write exports, the API's may send and
presign reads, and neither holds the other's permissions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

# The target tracking policy's metric math, in the provider's (long) type names.
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs as CustomizedMetric,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs as Query,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs as Stat,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs as Metric,  # noqa: E501
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs as Dimension,  # noqa: E501
)

from infra.ecs import (
    STOP_TIMEOUT_MARGIN_SECONDS,
    ContainerSpec,
    TaskRolesArgs,
    capacity_strategy,
    check_capacity,
    check_environment,
    check_task_size,
    fargate_task_definition,
    hardened_container,
    has_statements,
    task_roles,
)
from infra.security_groups import HTTPS, docdb_client_rules

CONTAINER_NAME = "worker"
WORKER_COMMAND = ("python", "-m", "notes_api.worker")
# Set by the component from its own arguments.
RESERVED_VARIABLES = ("NOTES_SHUTDOWN_GRACE_SECONDS",)
# The backlog metric's parts (Application Auto Scaling User Guide, "Create a target tracking
# scaling policy for Application Auto Scaling using metric math", example "Amazon SQS queue
# backlog per task": https://docs.aws.amazon.com/autoscaling/application/userguide/
# application-auto-scaling-target-tracking-metric-math.html; the same query in
# terraform-provider-aws website/docs/r/appautoscaling_policy.html.markdown, "Application
# Auto Scaling Policy with metric math"): messages waiting, summed over the period, divided by
# the service's running tasks, averaged. RunningTaskCount is a Container Insights metric: the
# API's cluster turns Container Insights on (infra/ecs.py).
SQS_NAMESPACE = "AWS/SQS"
VISIBLE_MESSAGES = "ApproximateNumberOfMessagesVisible"
CONTAINER_INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
RUNNING_TASKS = "RunningTaskCount"
BACKLOG_EXPRESSION = "m1 / m2"
# Out quickly, in slowly, as the API: a job cut short by a scale-in goes back to the queue.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300


def worker_log_group_name(environment: str) -> str:
    """The worker's log group: a function, like the API's, for alarms and dashboards by name."""
    return f"/ecs/notes-{environment}/worker"


def worker_service_name(environment: str) -> str:
    return f"notes-{environment}-worker"


@dataclass(frozen=True)
class WorkerServiceArgs:
    """How the export worker runs, how many copies, and what it is given."""

    environment: str
    """Environment name, part of every AWS-side name. From config `environment`. Required."""
    region: str
    """Region of the stack: the awslogs driver's region and the task role's source ARN. From
    config `aws:region`. Required."""
    cluster_arn: pulumi.Input[str]
    """The API's cluster, where the worker's service runs. Set by the stack from ApiService.
    Required."""
    cluster_name: pulumi.Input[str]
    """That cluster's name: a dimension of the running-task metric and part of the scalable
    target's id. Set by the stack from ApiService. Required."""
    capacity_providers: pulumi.Resource
    """What attaches FARGATE and FARGATE_SPOT to the cluster; the service waits for it. Set by
    the stack from ApiService (``capacity_providers``). Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the worker's security group. Set by the stack from Network. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets of the tasks (no public IPs): SQS and S3 through NAT or the S3 gateway
    endpoint. Set by the stack from Network's private subnets. Required."""
    docdb_security_group_id: pulumi.Input[str]
    """DocumentDB's security group, which gets a rule admitting the worker's group. Set by the
    stack from SecurityGroups (``docdb``). Required."""
    image_ref: pulumi.Input[str]
    """The API's image by digest (``<repository url>@sha256:...``): the worker is the same
    image with another command. Set by the stack from ServiceImage. Required."""
    queue_name: pulumi.Input[str]
    """Name of the export queue: the backlog metric's ``QueueName``. Set by the stack from the
    exports tier. Required."""
    task_role_statements: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]]
    """IAM statements of the worker's own role: receive, delete and change visibility on the
    queue, write and abort uploads under the export prefix, the exports key. Set by the stack
    from the exports tier. Required."""
    cpu: int
    """Fargate task CPU units; with ``memory`` a pair Fargate offers. From config `workerCpu`.
    Required."""
    memory: int
    """Fargate task memory, MiB. From config `workerMemory`. Required."""
    min_count: int
    """Autoscaling minimum, and the tasks when the service is created; at least 1: the backlog
    per task divides by the running tasks. From config `workerMinCount`. Required."""
    max_count: int
    """Autoscaling maximum. From config `workerMaxCount`. Required."""
    backlog_per_task: int
    """Target of the backlog-per-task tracking: the messages one task may have waiting, i.e. the
    acceptable wait for an export divided by a job's average time. From config
    `workerBacklogPerTask`. Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """KMS key of the worker's log group. Set by the stack from Keys (``logs``). Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key the secrets are encrypted with (the execution role may decrypt with it). Set by
    the stack from Keys (``secrets``). Required."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Environment variable -> Secrets Manager secret ARN, injected by ECS at start. Default
    none. The stack gives none: the worker reads its one secret itself (``task_secret_arns``)."""
    task_secret_arns: Sequence[pulumi.Input[str]] = ()
    """Secrets the worker's code reads by ARN with its task role, which gets GetSecretValue on
    exactly these and kms:Decrypt on ``secrets_kms_key_arn`` through Secrets Manager. Default
    none. Set by the stack: DocumentDb's app secret only (no Redis, no JWT key)."""
    secret_versions: Sequence[pulumi.Resource] = ()
    """The ``SecretVersion`` of each secret in ``secrets`` and ``task_secret_arns``: the service
    starts tasks only after them. Required when either is given. Set by the stack from
    DocumentDb."""
    start_after: Sequence[pulumi.Resource] = ()
    """Resources the service is created (and so first starts tasks) after. Default none. Set by
    the stack: the API's ECS service, steady only once its init container has created the app's
    DocumentDB user that the worker logs in as."""
    environment_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Plain environment variables; nothing secret. Default none. Set by the stack: the queue
    URL, bucket, region and export settings, DocumentDb's CA file, the app secret's ARN."""
    fargate_base: int = 0
    """Tasks always on on-demand Fargate. From config `workerFargateBase`. Default 0."""
    fargate_weight: int = 1
    """Share of further tasks on on-demand Fargate. From config `workerFargateWeight`. Default 1."""
    fargate_spot_weight: int = 0
    """Share of further tasks on Fargate Spot. From config `workerFargateSpotWeight`. Default 0.
    A good fit for a worker whose jobs are retried: an interrupted task gets SIGTERM two minutes
    before it stops (AWS re:Post Knowledge Center, "How do I handle Spot termination notices in
    AWS Fargate Spot tasks?", https://repost.aws/knowledge-center/fargate-spot-termination-notice),
    within which the worker finishes its job or hands the message back."""
    shutdown_grace_seconds: int = 100
    """The current job gets this long after SIGTERM before the worker aborts it and makes its
    message visible again; stopTimeout is 10 s more, at most Fargate's 120 s, which also keeps it
    inside a Spot interruption's two minutes. From config `workerShutdownGraceSeconds`. Default
    100."""
    log_retention_days: int = 30
    """Log retention, days. From config `workerLogRetentionDays`. Default 30."""
    command: tuple[str, ...] = WORKER_COMMAND
    """The container's command. Default ``python -m notes_api.worker``."""


class WorkerService(pulumi.ComponentResource):
    """Security group, log group, roles, task definition, service and its backlog scaling."""

    security_group: aws.ec2.SecurityGroup
    security_group_id: pulumi.Output[str]
    security_group_rules: list[pulumi.Resource]
    log_group: aws.cloudwatch.LogGroup
    log_group_name: pulumi.Output[str]
    execution_role: aws.iam.Role
    execution_policy: aws.iam.RolePolicy
    task_role: aws.iam.Role
    task_policy: aws.iam.RolePolicy | None
    task_definition: aws.ecs.TaskDefinition
    service: aws.ecs.Service
    service_name: pulumi.Output[str]
    cluster_name: pulumi.Output[str]
    scaling_target: aws.appautoscaling.Target
    scaling_policy: aws.appautoscaling.Policy

    def __init__(
        self, name: str, args: WorkerServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("notes:infra:WorkerService", name, None, opts)
        prefix = f"notes-{args.environment}"
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        self._network(name, args, prefix)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=worker_log_group_name(args.environment),
            kms_key_id=args.logs_kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_group_name = self.log_group.name
        roles = task_roles(
            self,
            name,
            TaskRolesArgs(
                role_name=f"{prefix}-worker",
                label=f"{prefix} export worker",
                region=args.region,
                account_id=account_id,
                image_ref=args.image_ref,
                log_group_arn=self.log_group.arn,
                secret_arns=list(args.secrets.values()),
                secrets_kms_key_arn=args.secrets_kms_key_arn,
                statements=args.task_role_statements,
                readable_secret_arns=args.task_secret_arns,
            ),
        )
        self.execution_role, self.execution_policy = roles.execution_role, roles.execution_policy
        self.task_role, self.task_policy = roles.task_role, roles.task_policy
        self._task_definition(name, args, prefix)
        self._service(name, args)
        self._autoscaling(name, args, prefix)

        self.register_outputs(
            {
                "serviceName": self.service_name,
                "logGroupName": self.log_group_name,
                "taskDefinitionArn": self.task_definition.arn,
                "securityGroupId": self.security_group_id,
            }
        )

    def _network(self, name: str, args: WorkerServiceArgs, prefix: str) -> None:
        """A group of the worker's own: nothing inbound (no rule admits anything, and the worker
        listens on no port), HTTPS out to AWS's APIs and the MongoDB port out to DocumentDB,
        whose group admits it. The API's tasks group would also let the worker reach Redis and
        be reached by the load balancer."""
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            # A prefix, for the reason SecurityGroups gives: a replaced group is created first.
            name_prefix=f"{prefix}-worker-",
            description="notes export worker tasks: no inbound; HTTPS to AWS and DocumentDB out",
            vpc_id=args.vpc_id,
            tags={"Name": f"{prefix}-worker"},
            opts=child,
        )
        self.security_group_id = self.security_group.id
        self.security_group_rules = [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-https",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                cidr_ipv4="0.0.0.0/0",
                description="HTTPS to SQS, S3, ECR, logs and secrets through NAT or VPC endpoints",
                opts=child,
            ),
            *docdb_client_rules(
                name,
                group_id=self.security_group.id,
                docdb_group_id=args.docdb_security_group_id,
                client="worker",
                description="the export worker tasks",
                opts=child,
            ),
        ]

    def _task_definition(self, name: str, args: WorkerServiceArgs, prefix: str) -> None:
        # No health check: the worker serves no port, and ECS replaces a task whose essential
        # container exits. Without one the deployment circuit breaker judges a deployment by
        # whether its tasks reach RUNNING (stage 1 of "How the Amazon ECS deployment circuit
        # breaker detects failures", Amazon ECS Developer Guide,
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html);
        # a worker that runs but makes no progress shows in the queue's oldest-message alarm.
        spec = ContainerSpec(
            name=CONTAINER_NAME,
            region=args.region,
            stop_timeout=args.shutdown_grace_seconds + STOP_TIMEOUT_MARGIN_SECONDS,
            command=args.command,
        )
        grace = {"NOTES_SHUTDOWN_GRACE_SECONDS": str(args.shutdown_grace_seconds)}
        definitions = pulumi.Output.all(
            image=args.image_ref,
            log_group=self.log_group.name,
            environment=pulumi.Output.from_input({**args.environment_variables, **grace}),
            secrets=pulumi.Output.from_input(dict(args.secrets)),
        ).apply(lambda values: json.dumps([hardened_container(spec, **values)]))
        self.task_definition = fargate_task_definition(
            self,
            f"{name}-task",
            family=f"{prefix}-worker",
            cpu=args.cpu,
            memory=args.memory,
            execution_role=self.execution_role,
            task_role=self.task_role,
            container_definitions=definitions,
        )

    def _service(self, name: str, args: WorkerServiceArgs) -> None:
        strategy = capacity_strategy(args)
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=worker_service_name(args.environment),
            cluster=args.cluster_arn,
            task_definition=self.task_definition.arn,
            desired_count=args.min_count,
            capacity_provider_strategies=[aws.ecs.ServiceCapacityProviderStrategyArgs(**s) for s in strategy],
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[self.security_group.id],
                assign_public_ip=False,
            ),
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            # New tasks start before old ones stop: the old ones finish their jobs meanwhile.
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            enable_execute_command=False,
            # As for the API (infra/ecs.py): a changed Fargate/Spot strategy is an in-place update
            # only with force_new_deployment, and `pulumi up` waits until the service is steady.
            force_new_deployment=True,
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                # ECS reads the secret values and uses the execution role's policy when it
                # starts a task; its first calls need the task role's policy and the security
                # group rules: nothing in the service's inputs refers to any of them
                # (notes_platform/checks/ordering.py holds the service to the first two).
                depends_on=[
                    args.capacity_providers,
                    self.execution_policy,
                    *([self.task_policy] if self.task_policy is not None else []),
                    *self.security_group_rules,
                    *args.secret_versions,
                    *args.start_after,
                ],
                # Autoscaling owns the count once the service exists.
                ignore_changes=["desiredCount"],
            ),
        )
        self.service_name = self.service.name
        self.cluster_name = pulumi.Output.from_input(args.cluster_name)

    def _autoscaling(self, name: str, args: WorkerServiceArgs, prefix: str) -> None:
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", self.service.name),
            min_capacity=args.min_count,
            max_capacity=args.max_count,
            opts=pulumi.ResourceOptions(parent=self),
        )
        target = self.scaling_target
        config = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=args.backlog_per_task,
            customized_metric_specification=backlog_metric(
                args.queue_name, args.cluster_name, self.service.name
            ),
            scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        )
        self.scaling_policy = aws.appautoscaling.Policy(
            f"{name}-scale-on-backlog",
            name=f"{prefix}-worker-backlog",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=config,
            opts=pulumi.ResourceOptions(parent=self),
        )


def backlog_metric(
    queue_name: pulumi.Input[str], cluster_name: pulumi.Input[str], service_name: pulumi.Input[str]
) -> CustomizedMetric:
    """Backlog per task as metric math: m1 (visible messages) / m2 (running tasks), only the
    expression returned. The ``metrics`` list is the provider's form of the API's
    TargetTrackingMetricDataQuery list (pulumi_aws appautoscaling/_inputs.py,
    ``PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs.metrics``:
    "Metrics to include, as a metric data query"). With no task running the ratio has no value,
    and target tracking does not act on a metric with no data: hence min_count >= 1."""
    return CustomizedMetric(
        metrics=[
            Query(
                id="m1",
                label="Export jobs waiting in the queue",
                metric_stat=Stat(
                    metric=Metric(
                        namespace=SQS_NAMESPACE,
                        metric_name=VISIBLE_MESSAGES,
                        dimensions=[Dimension(name="QueueName", value=queue_name)],
                    ),
                    stat="Sum",
                ),
                return_data=False,
            ),
            Query(
                id="m2",
                label="Worker tasks running",
                metric_stat=Stat(
                    metric=Metric(
                        namespace=CONTAINER_INSIGHTS_NAMESPACE,
                        metric_name=RUNNING_TASKS,
                        dimensions=[
                            Dimension(name="ClusterName", value=cluster_name),
                            Dimension(name="ServiceName", value=service_name),
                        ],
                    ),
                    stat="Average",
                ),
                return_data=False,
            ),
            Query(
                id="e1",
                label="Export jobs waiting per worker task",
                expression=BACKLOG_EXPRESSION,
                return_data=True,
            ),
        ]
    )


def _validate(args: WorkerServiceArgs) -> None:
    check_task_size(args.cpu, args.memory, args.shutdown_grace_seconds)
    check_capacity(args)
    if args.min_count < 1:
        raise ValueError(
            f"min_count={args.min_count}: the worker scales on backlog per task (visible messages / "
            "running tasks), which has no value with no task running, so the service would never "
            "scale out again: keep at least 1"
        )
    if args.min_count > args.max_count:
        raise ValueError(f"min_count={args.min_count} is above max_count={args.max_count}")
    if args.backlog_per_task < 1:
        raise ValueError(f"backlog_per_task={args.backlog_per_task} must be at least 1 message per task")
    if not args.command:
        raise ValueError("command is empty: the image's own command starts the API, not the worker")
    if not has_statements(args.task_role_statements):
        raise ValueError(
            "task_role_statements is empty: the worker must receive from its queue and write its "
            "exports; pass the statements the exports tier gives"
        )
    check_environment(
        args.environment_variables,
        args.secrets,
        args.secret_versions,
        RESERVED_VARIABLES,
        task_secret_arns=args.task_secret_arns,
    )
