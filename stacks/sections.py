"""The sections of a stack's configuration: one pydantic model per concern, each field with
its type, bounds, default and the description Pulumi.yaml declares. ``stacks.config`` puts
them together into ``StackConfig`` and maps them onto the flat keys of a stack file.

Long on purpose: every key's type, bounds and description in one place, the source Pulumi.yaml's
``config:`` block is generated from."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from infra.edge.waf_rules import BASE_MANAGED_GROUPS, CUSTOM_RULES, MANAGED_GROUP, NEEDS_GROUP_CONFIG
from infra.log_retention import LOG_RETENTION_DAYS
from infra.observability.endpoints import endpoint_problem
from infra.observability.metrics_catalog import DEFAULT_MIN_REQUESTS
from infra.observability.thresholds import AlarmThresholds
from infra.recovery_window import DEFAULT_RECOVERY_WINDOW_DAYS, recovery_window_problem
from stacks.error_tracking import SentryDsnSecretArn


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs retention must be one of {LOG_RETENTION_DAYS}")
    return value


# Days of a CloudWatch Logs retention setting: only the periods the API accepts.
RetentionDays = Annotated[int, AfterValidator(_retention)]


class General(Section):
    """Names and the tags every taggable resource carries (provider default tags)."""

    environment: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,15}$",
        description="environment name, used in resource names and the Environment tag",
    )
    owner: str = Field(min_length=1, description="team that owns the stack (Owner tag)")
    cost_center: str = Field(min_length=1, description="cost centre billed for the stack (CostCenter tag)")
    compute: Literal["ecs", "eks"] = Field(
        "ecs",
        description="what runs the API: ECS Fargate, or EKS with the charts/notes-api Helm chart (eks* keys)",
    )


class Network(Section):
    cidr: str = Field("10.0.0.0/16", description="VPC CIDR block, /16 to /20")
    availability_zones: list[str] = Field(
        min_length=1,
        max_length=6,
        description="availability zone names to spread subnets over, in a fixed order (e.g. eu-west-1a); "
        "append to add one: a subnet's CIDR follows its AZ's position",
    )
    nat_gateways: Literal["single", "perAz", "none"] = Field(
        description="NAT for the private tier: one shared, one per AZ (no cross-AZ dependency), or none"
    )
    interface_endpoints: list[
        Literal["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "kms", "sqs"]
    ] = Field(default_factory=list, description="VPC interface endpoints for the private tier")
    s3_gateway_endpoint: bool = Field(
        True, description="S3 gateway endpoint (free; ECR image layers come from S3)"
    )
    flow_log_retention_days: RetentionDays = Field(90, description="VPC flow log retention in days")

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        # Pinned names, not a slice of the live list: subnets, NATs and route tables are keyed
        # by AZ name, and a slice shifts when an AZ leaves the "available" state. A region's
        # own AZs only (<region><letter>); the region itself is checked in StackConfig.
        malformed = [z for z in value if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d[a-z]", z)]
        if malformed:
            raise ValueError(f"{malformed} are not availability zone names like eu-west-1a")
        repeated = sorted(z for z, n in Counter(value).items() if n > 1)
        if repeated:
            raise ValueError(f"{repeated} listed more than once; each AZ gets one subnet per tier")
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=True)
        if not 16 <= network.prefixlen <= 20:
            raise ValueError("the VPC CIDR must be a /16 to /20")
        return value


class DocumentDb(Section):
    engine_version: Literal["5.0.0"] = Field("5.0.0", description="DocumentDB engine version")
    instance_class: str = Field(
        pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$", description="instance class, e.g. db.t4g.medium"
    )
    instance_count: int = Field(ge=1, le=16, description="instances: 1 writer plus replicas")
    backup_retention_days: int = Field(ge=1, le=35, description="automated backup retention in days")
    backup_window: str = Field(
        "02:00-03:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$", description="daily backup window, UTC"
    )
    maintenance_window: str = Field(
        "sun:04:00-sun:05:00",
        pattern=r"^[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d$",
        description="weekly maintenance window, UTC",
    )
    deletion_protection: bool = Field(True, description="refuse deletion in AWS (secure default on)")
    skip_final_snapshot: bool = Field(
        False, description="skip the snapshot taken on deletion (secure default: keep it)"
    )
    protect: bool = Field(False, description="pulumi protect: `pulumi destroy` refuses to delete the cluster")
    audit_log_retention_days: RetentionDays = Field(
        90, description="retention of the exported audit and profiler logs"
    )


class Cache(Section):
    engine_version: str = Field("7.1", pattern=r"^\d+\.\d+$", description="Redis engine version")
    node_type: str = Field(
        pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$", description="node type, e.g. cache.t4g.small"
    )
    node_count: int = Field(ge=1, le=6, description="nodes in the replication group: 1 primary plus replicas")
    multi_az: bool = Field(description="spread nodes over AZs (needs automatic failover)")
    automatic_failover: bool = Field(description="promote a replica when the primary fails (needs 2+ nodes)")
    snapshot_retention_days: int = Field(
        ge=0, le=35, description="daily snapshot retention in days (0 = none)"
    )
    snapshot_window: str = Field(
        "03:00-04:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$", description="daily snapshot window, UTC"
    )
    protect: bool = Field(False, description="pulumi protect: `pulumi destroy` refuses to delete the cache")
    log_retention_days: RetentionDays = Field(30, description="slow-log retention in days")
    auth_token_generation: int = Field(
        1,
        ge=1,
        description="Redis AUTH token in use; rotate by raising it (README: rotating the Redis AUTH token)",
    )
    auth_token_previous_generation: int | None = Field(
        None,
        ge=1,
        description="AUTH token ElastiCache still accepts during a rotation (ROTATE); remove it to SET",
    )

    @model_validator(mode="after")
    def _rotation(self) -> Cache:
        # The same rule RedisCache enforces, here so that the message names the keys.
        previous = self.auth_token_previous_generation
        if previous is not None and previous >= self.auth_token_generation:
            raise ValueError(
                f"cacheAuthTokenPreviousGeneration: {previous} must be below cacheAuthTokenGeneration "
                f"({self.auth_token_generation}): the tasks move from the previous token to the current one"
            )
        return self


class Service(Section):
    cpu: int = Field(description="Fargate task CPU units (256, 512, 1024, ...)")
    memory: int = Field(description="Fargate task memory in MiB; must be a size Fargate offers for the cpu")
    desired_count: int = Field(ge=0, le=100, description="tasks when the service is created")
    min_count: int = Field(ge=1, le=100, description="autoscaling minimum")
    max_count: int = Field(ge=1, le=200, description="autoscaling maximum")
    cpu_target_percent: int = Field(60, ge=10, le=90, description="target-tracking CPU utilisation")
    requests_per_target: int = Field(
        1000, ge=10, description="target-tracking ALB requests per target per minute"
    )
    fargate_base: int = Field(1, ge=0, description="tasks always on on-demand Fargate")
    fargate_weight: int = Field(1, ge=0, le=1000, description="share of further tasks on on-demand Fargate")
    fargate_spot_weight: int = Field(0, ge=0, le=1000, description="share of further tasks on Fargate Spot")
    workers: int = Field(1, ge=1, le=16, description="uvicorn worker processes per task")
    container_port: int = Field(8000, ge=1024, le=65535, description="port the API listens on in the task")
    health_check_grace_seconds: int = Field(
        60, ge=0, le=3600, description="ignore failing health checks this long after start"
    )
    shutdown_grace_seconds: int = Field(
        20, ge=1, le=100, description="in-flight requests finish within this after SIGTERM"
    )
    log_retention_days: RetentionDays = Field(30, description="application log retention in days")
    cors_allow_origins: list[str] = Field(
        default_factory=list, description="origins allowed to call the API from a browser"
    )
    sentry_dsn_secret_arn: SentryDsnSecretArn = None  # stacks/error_tracking.py: what it turns on


class Exports(Section):
    """Note exports: the job queue, its dead-letter queue and the bucket (infra/exports/), and the
    settings the API and the worker read about them (NOTES_EXPORT_*)."""

    retention_days: int = Field(7, ge=1, le=365, description="days an export and its record live")
    max_in_flight_per_user: int = Field(2, ge=1, le=100, description="exports per user queued or running")
    max_receives: int = Field(
        5, ge=1, le=1000, description="receives of a job before the dead-letter queue (maxReceiveCount)"
    )
    job_timeout_seconds: int = Field(600, ge=10, le=43000, description="the worker gives a job up after this")
    visibility_timeout_seconds: int = Field(
        900, ge=11, le=43200, description="a received job stays hidden this long; above the job timeout"
    )
    access_logs: bool = Field(
        False,
        description="S3 server access logs of the exports bucket, to the ALB's log bucket under s3/exports/",
    )
    protect: bool = Field(False, description="pulumi protect: `pulumi destroy` refuses to delete the bucket")

    @model_validator(mode="after")
    def _timeouts(self) -> Exports:
        # The rules ExportQueue and WorkerAlarms enforce, here so that the messages name the keys.
        problems = []
        if self.visibility_timeout_seconds <= self.job_timeout_seconds:
            problems.append(
                f"exportsVisibilityTimeoutSeconds: {self.visibility_timeout_seconds} must be above "
                f"exportsJobTimeoutSeconds ({self.job_timeout_seconds}), or a second worker takes a job "
                "while the first still works on it"
            )
        oldest = AlarmThresholds().queue_oldest_message_age_seconds
        if self.job_timeout_seconds >= oldest:
            problems.append(
                f"exportsJobTimeoutSeconds: {self.job_timeout_seconds} must be below the oldest-export "
                f"alarm's {oldest} s: a request waits in the queue while its export runs"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Worker(Section):
    """The export worker: its ECS service in the API's cluster (infra/worker.py), or on EKS the chart's
    worker Deployment (cpu, memory, counts, grace: stacks/eks_exports.py); defaults: a small worker."""

    cpu: int = Field(256, description="Fargate task CPU units of a worker task")
    memory: int = Field(512, description="Fargate task memory in MiB; a size Fargate offers for workerCpu")
    min_count: int = Field(
        1,
        ge=1,
        le=100,
        description="autoscaling minimum, at least 1: backlog per task divides by running tasks",
    )
    max_count: int = Field(4, ge=1, le=200, description="autoscaling maximum")
    backlog_per_task: int = Field(
        10, ge=1, le=100000, description="target backlog per task: acceptable wait / a job's average time"
    )
    fargate_base: int = Field(0, ge=0, description="worker tasks always on on-demand Fargate")
    fargate_weight: int = Field(1, ge=0, le=1000, description="share of further worker tasks on on-demand")
    fargate_spot_weight: int = Field(0, ge=0, le=1000, description="share of further worker tasks on Spot")
    shutdown_grace_seconds: int = Field(
        100,
        ge=1,
        le=110,
        description="after SIGTERM the current job may finish within this (stopTimeout +10 s)",
    )
    log_retention_days: RetentionDays = Field(30, description="worker log retention in days")

    @model_validator(mode="after")
    def _counts(self) -> Worker:
        problems = []
        if self.min_count > self.max_count:
            problems.append(f"workerMinCount: {self.min_count} is above workerMaxCount ({self.max_count})")
        if self.fargate_weight + self.fargate_spot_weight == 0:
            problems.append("workerFargateWeight: at least one capacity provider needs a weight above 0")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Image(Section):
    repository_name: str = Field(
        "notes-api", pattern=r"^[a-z0-9][a-z0-9._/-]{1,254}$", description="ECR repository name"
    )
    build: bool = Field(
        True,
        description="build the image from app/ and deploy it; false: deploy only a digest promoted into "
        "this stack's repository (imageDigest)",
    )
    digest: str | None = Field(
        None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="the promoted digest to deploy (with imageBuild: false); unset on a first deploy, "
        "until an image has been promoted",
    )

    @model_validator(mode="after")
    def _source(self) -> Image:
        if self.build and self.digest is not None:
            raise ValueError(
                "imageDigest: a stack that builds deploys what it builds; set imageBuild: false "
                "to deploy a promoted digest"
            )
        return self

    keep_images: int = Field(30, ge=1, le=1000, description="lifecycle policy: images kept in the repository")


class Dns(Section):
    zone_id: str = Field(
        pattern=r"^Z[A-Z0-9]{4,32}$",
        description="Route 53 hosted zone for the certificates' validation records",
    )
    zone_name: str = Field(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$", description="name of that hosted zone")
    origin_name: str = Field(
        pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$", description="DNS name of the ALB origin (its certificate)"
    )

    @model_validator(mode="after")
    def _inside_zone(self) -> Dns:
        if not self.origin_name.endswith("." + self.zone_name):
            raise ValueError(f"dnsOriginName: {self.origin_name} is not inside zone {self.zone_name}")
        return self


class Alb(Section):
    deletion_protection: bool = Field(True, description="refuse deletion of the load balancer in AWS")
    idle_timeout_seconds: int = Field(
        60,
        ge=1,
        le=74,
        description="connection idle timeout; below the API's 75 s keep-alive, or the ALB sees 502s",
    )
    access_log_retention_days: int = Field(
        90, ge=1, le=3650, description="days access logs stay in their bucket"
    )
    ssl_policy: str = Field(
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        pattern=r"^ELBSecurityPolicy-TLS13-1-[23]-",
        description="HTTPS listener policy: TLS 1.3 policies with a TLS 1.2 or 1.3 minimum",
    )


class Edge(Section):
    """CloudFront + WAF in front of the ALB (infra/edge/)."""

    aliases: list[str] = Field(
        min_length=1, description="names viewers use (api.example.com): certificate, aliases, DNS records"
    )
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = Field(
        "PriceClass_100", description="CloudFront edge locations used"
    )
    rate_limit_per_5_minutes: int = Field(
        2000, ge=10, le=2_000_000_000, description="WAF: requests per client IP per 5 minutes, whole API"
    )
    auth_rate_limit_per_5_minutes: int = Field(
        100, ge=10, le=2_000_000_000, description="WAF: requests per client IP per 5 minutes to /api/v1/auth/"
    )
    extra_managed_rule_groups: list[str] = Field(
        default_factory=list, description="AWS managed rule groups beyond common, bad inputs, IP reputation"
    )
    count_rules: list[str] = Field(
        default_factory=list,
        description="WAF rules that only count (roll a new rule out in count mode first); the rest block",
    )
    waf_log_retention_days: RetentionDays = Field(90, description="retention of the aws-waf-logs- log group")
    access_log_retention_days: RetentionDays = Field(
        90, description="retention of the CloudFront access log group"
    )
    origin_secret_generation: int = Field(
        1, ge=1, description="origin header secret in use; rotate by raising it (README: rotation)"
    )
    origin_secret_previous_generation: int | None = Field(
        None, ge=1, description="generation the ALB still accepts during a rotation; remove after it"
    )

    @model_validator(mode="after")
    def _rules(self) -> Edge:
        problems = []
        for group in self.extra_managed_rule_groups:
            if not MANAGED_GROUP.fullmatch(group):
                problems.append(f"edgeExtraManagedRuleGroups: {group} is not an AWS managed rule group name")
            elif group in NEEDS_GROUP_CONFIG:
                problems.append(f"edgeExtraManagedRuleGroups: {group} needs a rule group configuration")
        known = {*BASE_MANAGED_GROUPS, *CUSTOM_RULES, *self.extra_managed_rule_groups}
        problems += [
            f"edgeCountRules: {rule} is not a rule of the web ACL ({', '.join(sorted(known))})"
            for rule in self.count_rules
            if rule not in known
        ]
        previous = self.origin_secret_previous_generation
        if previous is not None and previous >= self.origin_secret_generation:
            problems.append(
                f"edgeOriginSecretPreviousGeneration: {previous} must be below "
                f"edgeOriginSecretGeneration ({self.origin_secret_generation})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Alarms(Section):
    """Where alarms go and when they fire (infra/observability/, and the edge's own alarms in
    infra/edge/). Both alarm topics tell the same recipients."""

    emails: list[str] = Field(default_factory=list, description="addresses subscribed to the alarm topics")
    https_endpoints: list[str] = Field(
        default_factory=list, description="HTTPS endpoints subscribed to the alarm topics"
    )
    alb_5xx_percent: int = Field(5, ge=1, le=100, description="API 5xx share of requests (%) that alarms")
    alb_5xx_min_requests: int = Field(
        DEFAULT_MIN_REQUESTS, ge=1, description="requests per minute below which the 5xx share is not judged"
    )
    target_p99_ms: int = Field(1000, ge=10, description="p99 target response time (ms) that alarms")
    service_cpu_percent: int = Field(85, ge=1, le=100, description="ECS service CPU (%) that alarms")
    service_memory_percent: int = Field(85, ge=1, le=100, description="ECS service memory (%) that alarms")
    docdb_cpu_percent: int = Field(80, ge=1, le=100, description="DocumentDB instance CPU (%) that alarms")
    docdb_freeable_memory_mib: int = Field(
        256, ge=1, description="DocumentDB freeable memory (MiB) below which it alarms"
    )
    docdb_connections: int = Field(400, ge=1, description="DocumentDB connections per instance that alarm")
    docdb_replica_lag_ms: int = Field(1000, ge=1, description="DocumentDB replica lag (ms) that alarms")
    redis_cpu_percent: int = Field(45, ge=1, le=100, description="cache node host CPU (%) that alarms")
    redis_engine_cpu_percent: int = Field(90, ge=1, le=100, description="Redis engine CPU (%) that alarms")
    redis_memory_percent: int = Field(80, ge=1, le=100, description="Redis memory used (%) that alarms")
    redis_evictions: int = Field(100, ge=1, description="Redis evictions per minute that alarm")
    redis_replication_lag_seconds: int = Field(10, ge=1, description="Redis replication lag (s) that alarms")
    cloudfront_5xx_percent: int = Field(5, ge=1, le=100, description="CloudFront 5xx rate (%) that alarms")
    waf_blocked_requests: int = Field(1000, ge=1, description="requests blocked by WAF in 5 min that alarm")

    @model_validator(mode="after")
    def _recipients(self) -> Alarms:
        # The same judgement AlarmTopic makes, here so that the message names the key.
        problems = [
            f"{key}: {problem}"
            for key, protocol, endpoints in (
                ("alarmsEmails", "email", self.emails),
                ("alarmsHttpsEndpoints", "https", self.https_endpoints),
            )
            for endpoint in endpoints
            if (problem := endpoint_problem(protocol, endpoint))
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Secrets(Section):
    recovery_window_days: int = Field(
        DEFAULT_RECOVERY_WINDOW_DAYS,
        ge=0,
        le=30,
        description="days a deleted secret can still be restored, 7-30; 0 deletes at once (a stack "
        "that protects no data, destroyed and created again)",
    )
    rotation_days: int = Field(
        30,
        ge=1,
        le=365,
        description="days between scheduled rotations of the secrets that rotate (the JWT signing key, "
        "the app's and the master user's DocumentDB credentials)",
    )

    @field_validator("recovery_window_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if problem := recovery_window_problem(value):
            raise ValueError(problem)
        return value


class Eks(Section):
    """The EKS path (``compute: eks``): the cluster (infra/eks/) and the API's Helm release. Read
    only when ``compute`` is ``eks``; the pod sizes and counts come from the service* keys."""

    kubernetes_version: str = Field(
        "1.33",
        pattern=r"^1\.\d{2}$",
        description="Kubernetes minor version of the control plane (the pinned add-ons are built for it)",
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to the public API endpoint; empty keeps the endpoint private only",
    )
    node_instance_types: list[str] = Field(
        default_factory=lambda: ["t3.medium"],
        min_length=1,
        description="instance types of the managed node group",
    )
    node_min_size: int = Field(2, ge=1, le=100, description="managed node group minimum size")
    node_desired_size: int = Field(2, ge=1, le=100, description="managed node group size when created")
    node_max_size: int = Field(4, ge=1, le=100, description="managed node group maximum size")
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field("ON_DEMAND", description="node group capacity type")
    node_volume_size_gib: int = Field(20, ge=20, le=1000, description="encrypted root volume per node (GiB)")
    log_retention_days: RetentionDays = Field(30, description="control-plane log retention in days")
    namespace: str = Field(
        "notes", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="Kubernetes namespace of the API"
    )

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        # An allow-list that admits everyone is a public endpoint by another name.
        for cidr in value:
            network = ipaddress.ip_network(cidr, strict=True)
            if network.prefixlen == 0:
                raise ValueError(f"{cidr} opens the API endpoint to the internet: list your own ranges")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> Eks:
        if not self.node_min_size <= self.node_desired_size <= self.node_max_size:
            raise ValueError(
                f"eksNodeDesiredSize: {self.node_desired_size} must lie between eksNodeMinSize "
                f"({self.node_min_size}) and eksNodeMaxSize ({self.node_max_size})"
            )
        return self
