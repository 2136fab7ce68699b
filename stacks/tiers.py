"""The stack's tiers, each one function over what the tiers before it built.

foundation -> data -> edge -> (image, compute: ``stacks.compute``) -> observability. A tier
returns a frozen record of what later tiers and the outputs read; compute is the one that
differs by platform (``ecs_compute`` today), so another compute path is one more function of
the same shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.alb import LoadBalancer, LoadBalancerArgs
from infra.backup import Backup
from infra.budgets import Budgets
from infra.cache import RedisCache, RedisCacheArgs
from infra.documentdb import DocumentDb, DocumentDbArgs
from infra.ecs import ApiService
from infra.edge.args import EdgeArgs
from infra.edge.component import Edge
from infra.edge.origin_secret import OriginSecret, OriginSecretArgs
from infra.exports import ExportBucket, ExportQueue
from infra.exports.bucket import access_log_sources
from infra.jwt_key import jwt_signing_key
from infra.kms import Keys, KeysArgs
from infra.network import Network, NetworkArgs
from infra.observability.alarms import (
    DataAlarms,
    DeploymentAlarms,
    ServiceAlarms,
    ServiceAlarmsArgs,
    cache_member_ids,
)
from infra.observability.dashboard import Dashboard, DashboardArgs
from infra.observability.thresholds import AlarmThresholds
from infra.observability.topic import AlarmTopic, AlarmTopicArgs
from infra.observability.worker_alarms import WorkerAlarms
from infra.observability.worker_widgets import WorkerWidgetValues
from infra.secrets import GeneratedSecret
from infra.security_groups import SecurityGroups, SecurityGroupsArgs
from infra.worker import WorkerService
from stacks.alarms import stack_data_alarms, stack_deployment_alarms, stack_worker_alarms
from stacks.config import PROJECT, StackConfig, StackConfigError
from stacks.guardrails import SERVICE_PUBLISHERS, stack_backup, stack_budgets
from stacks.settings import alarm_subscriptions, alarm_thresholds, default_tags

# Why a stack without a service does not rotate its app user's secret (its RotationExempt tag).
NO_USERS_YET = "no API service yet: the app user's rotation starts with the deploy that runs the API"

# CloudFront's origin-facing addresses, as an AWS-managed prefix list.
CLOUDFRONT_ORIGIN_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


@dataclass(frozen=True)
class Foundation:
    """What every tier builds on: the provider, the account, keys, network, security groups
    and the alarm topic everything reports to."""

    config: StackConfig
    env: str
    tags: dict[str, str]
    opts: pulumi.ResourceOptions
    account_id: str
    keys: Keys
    network: Network
    groups: SecurityGroups
    topic: AlarmTopic
    thresholds: AlarmThresholds
    # The cost budget and anomaly alerts (stacks/guardrails.py).
    budgets: Budgets | None = None


@dataclass(frozen=True)
class DataTier:
    database: DocumentDb
    cache: RedisCache
    jwt_key: GeneratedSecret
    # The cluster's AWS Backup plan, vaults and copy (stacks/guardrails.py).
    backup: Backup | None = None


@dataclass(frozen=True)
class EdgeTier:
    """The way in: CloudFront + WAF in front of the ALB, locked to CloudFront's origin header."""

    origin_secret: OriginSecret
    alb: LoadBalancer
    edge: Edge


@dataclass(frozen=True)
class ExportsTier:
    """Note exports (``stacks.exports``): the job queue with its dead-letter queue, the bucket
    and the key both are encrypted with."""

    queue: ExportQueue
    bucket: ExportBucket
    kms_key_arn: pulumi.Output[str]


@dataclass(frozen=True)
class ComputeTier:
    """The API running (``stacks.compute``), the alarms ECS rolls a deployment back on, and the
    export worker in the API's cluster."""

    deployment_alarms: DeploymentAlarms
    service: ApiService
    worker: WorkerService | None = None


@dataclass(frozen=True)
class ObservabilityTier:
    """Data alarms always; the service's alarms and the dashboard once a service runs, and the
    exports queue's and worker's alarms once the worker runs."""

    data_alarms: DataAlarms
    service_alarms: ServiceAlarms | None
    dashboard: Dashboard | None
    worker_alarms: WorkerAlarms | None = None


def foundation(config: StackConfig) -> Foundation:
    env = config.general.environment
    # The stack's provider and the edge's us-east-1 one tag alike.
    tags = default_tags(config)
    provider = aws.Provider("aws", region=config.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    invoke = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity(opts=invoke)
    # The AZs are pinned in the stack file, never a slice of the live list: subnets, NATs and
    # route tables are keyed by AZ name and numbered by position, and a slice of the
    # "available" AZs shifts when one changes state. With no `state` filter the data source
    # lists the region's AZs whatever their state (pulumi_aws get_availability_zones.py,
    # `state`), so an impaired AZ does not block a deploy; a name the account's region does
    # not have does.
    zones = aws.get_availability_zones(opts=invoke)
    unknown = [zone for zone in config.network.availability_zones if zone not in zones.names]
    if unknown:
        raise StackConfigError(
            f"Pulumi.{pulumi.get_stack()}.yaml: {PROJECT}:networkAvailabilityZones: {', '.join(unknown)} "
            f"not among {config.region}'s availability zones ({', '.join(zones.names)})"
        )

    keys = Keys(
        f"{env}-keys",
        KeysArgs(
            environment=env,
            region=config.region,
            account_id=identity.account_id,
            sns_publishers=SERVICE_PUBLISHERS,
        ),
        opts,
    )

    network = Network(
        f"{env}-network",
        NetworkArgs(
            environment=env,
            cidr=config.network.cidr,
            availability_zones=tuple(config.network.availability_zones),
            nat_gateways=config.network.nat_gateways,
            interface_endpoints=tuple(config.network.interface_endpoints),
            s3_gateway_endpoint=config.network.s3_gateway_endpoint,
            flow_log_retention_days=config.network.flow_log_retention_days,
            logs_kms_key_arn=keys.arn("logs"),
            region=config.region,
        ),
        opts,
    )

    cloudfront = aws.ec2.get_managed_prefix_list(name=CLOUDFRONT_ORIGIN_PREFIX_LIST, opts=invoke)
    groups = SecurityGroups(
        f"{env}-sg",
        SecurityGroupsArgs(
            environment=env,
            vpc_id=network.vpc_id,
            vpc_cidr=config.network.cidr,
            app_port=config.service.container_port,
            cloudfront_prefix_list_id=cloudfront.id,
        ),
        opts,
    )

    topic = AlarmTopic(
        f"{env}-alarm-topic",
        AlarmTopicArgs(
            environment=env,
            region=config.region,
            account_id=identity.account_id,
            kms_key_arn=keys.arn("sns"),
            subscriptions=alarm_subscriptions(config),
            service_publishers=SERVICE_PUBLISHERS,
        ),
        opts,
    )
    return Foundation(
        config=config,
        env=env,
        tags=tags,
        opts=opts,
        account_id=identity.account_id,
        keys=keys,
        network=network,
        groups=groups,
        topic=topic,
        thresholds=alarm_thresholds(config),
        budgets=stack_budgets(config, topic, opts),
    )


def data_tier(base: Foundation) -> DataTier:
    config, env, keys, opts = base.config, base.env, base.keys, base.opts
    database = DocumentDb(
        f"{env}-docdb",
        DocumentDbArgs(
            environment=env,
            subnet_ids=base.network.isolated_subnet_ids,
            security_group_id=base.groups.docdb_id,
            kms_key_arn=keys.arn("docdb"),
            secrets_kms_key_arn=keys.arn("secrets"),
            logs_kms_key_arn=keys.arn("logs"),
            engine_version=config.docdb.engine_version,
            instance_class=config.docdb.instance_class,
            instance_count=config.docdb.instance_count,
            backup_retention_days=config.docdb.backup_retention_days,
            backup_window=config.docdb.backup_window,
            maintenance_window=config.docdb.maintenance_window,
            deletion_protection=config.docdb.deletion_protection,
            skip_final_snapshot=config.docdb.skip_final_snapshot,
            protect=config.docdb.protect,
            recovery_window_days=config.secrets.recovery_window_days,
            audit_log_retention_days=config.docdb.audit_log_retention_days,
            # No service yet (a promote-only first deploy): nothing creates the app user, so
            # nothing may rotate it (stacks/rotations.py).
            app_rotation_exempt=None if config.image.build or config.image.digest else NO_USERS_YET,
        ),
        opts,
    )

    cache = RedisCache(
        f"{env}-redis",
        RedisCacheArgs(
            environment=env,
            subnet_ids=base.network.isolated_subnet_ids,
            security_group_id=base.groups.redis_id,
            kms_key_arn=keys.arn("cache"),
            secrets_kms_key_arn=keys.arn("secrets"),
            logs_kms_key_arn=keys.arn("logs"),
            engine_version=config.cache.engine_version,
            node_type=config.cache.node_type,
            node_count=config.cache.node_count,
            multi_az=config.cache.multi_az,
            automatic_failover=config.cache.automatic_failover,
            snapshot_retention_days=config.cache.snapshot_retention_days,
            snapshot_window=config.cache.snapshot_window,
            protect=config.cache.protect,
            recovery_window_days=config.secrets.recovery_window_days,
            log_retention_days=config.cache.log_retention_days,
            auth_token_generation=config.cache.auth_token_generation,
            auth_token_previous_generation=config.cache.auth_token_previous_generation,
        ),
        opts,
    )

    jwt_key = jwt_signing_key(
        f"{env}-jwt-signing-key",
        environment=env,
        kms_key_arn=keys.arn("secrets"),
        recovery_window_days=config.secrets.recovery_window_days,
        opts=opts,
    )
    backup = stack_backup(
        config,
        account_id=base.account_id,
        keys=keys,
        topic=base.topic,
        database=database,
        tags=base.tags,
        opts=opts,
    )
    return DataTier(database=database, cache=cache, jwt_key=jwt_key, backup=backup)


def edge_tier(base: Foundation) -> EdgeTier:
    config, env, keys, opts = base.config, base.env, base.keys, base.opts
    # The ALB answers only requests that carry CloudFront's origin header (one value, or two
    # during a rotation), so the secret exists before both.
    origin_secret = OriginSecret(
        f"{env}-origin-secret",
        OriginSecretArgs(
            environment=env,
            kms_key_arn=keys.arn("secrets"),
            generation=config.edge.origin_secret_generation,
            previous_generation=config.edge.origin_secret_previous_generation,
            recovery_window_days=config.secrets.recovery_window_days,
        ),
        opts,
    )

    alb = LoadBalancer(
        f"{env}-alb",
        LoadBalancerArgs(
            environment=env,
            region=config.region,
            vpc_id=base.network.vpc_id,
            public_subnet_ids=base.network.public_subnet_ids,
            internet_access=base.network.internet_access,
            security_group_id=base.groups.alb_id,
            zone_id=config.dns.zone_id,
            origin_name=config.dns.origin_name,
            ssl_policy=config.alb.ssl_policy,
            deletion_protection=config.alb.deletion_protection,
            # The stack that refuses to lose its ALB keeps its logs too (prod), like docdbProtect.
            protect_logs=config.alb.deletion_protection,
            idle_timeout_seconds=config.alb.idle_timeout_seconds,
            access_log_retention_days=config.alb.access_log_retention_days,
            app_port=config.service.container_port,
            origin_header_name=origin_secret.header_name,
            origin_secret_values=origin_secret.accepted_values,
            # The exports bucket's S3 access logs, when asked for (stacks/exports.py).
            s3_access_log_sources=access_log_sources(env) if config.exports.access_logs else None,
        ),
        opts,
    )

    edge = Edge(
        f"{env}-edge",
        EdgeArgs(
            environment=env,
            account_id=base.account_id,
            default_tags=base.tags,
            zone_id=config.dns.zone_id,
            zone_name=config.dns.zone_name,
            aliases=tuple(config.edge.aliases),
            origin_domain_name=config.dns.origin_name,
            origin_secret=origin_secret,
            # CloudFront sends a new origin value only once the ALB accepts it.
            origin_ready=[alb.origin_rule],
            price_class=config.edge.price_class,
            rate_limit_per_5_minutes=config.edge.rate_limit_per_5_minutes,
            auth_rate_limit_per_5_minutes=config.edge.auth_rate_limit_per_5_minutes,
            extra_managed_rule_groups=tuple(config.edge.extra_managed_rule_groups),
            rule_actions=dict.fromkeys(config.edge.count_rules, "count"),
            waf_log_retention_days=config.edge.waf_log_retention_days,
            access_log_retention_days=config.edge.access_log_retention_days,
            error_rate_threshold_percent=float(config.alarms.cloudfront_5xx_percent),
            blocked_requests_threshold=config.alarms.waf_blocked_requests,
            alarm_subscriptions=alarm_subscriptions(config),
        ),
        opts,
    )
    return EdgeTier(origin_secret=origin_secret, alb=alb, edge=edge)


def observability_tier(
    base: Foundation,
    data: DataTier,
    edge: EdgeTier,
    compute: ComputeTier | None,
    exports: ExportsTier | None = None,
) -> ObservabilityTier:
    env, opts, alb = base.env, base.opts, edge.alb
    data_alarms = stack_data_alarms(base, data)
    if compute is None:
        # No service yet: the load balancer and the export queues exist all the same and are
        # alarmed as they will be (the pack's critical-resources-alarmed holds this deploy too),
        # under the names the compute tier gives them, so nothing moves when the service comes.
        stack_deployment_alarms(base, edge)
        if exports is not None:
            stack_worker_alarms(base, None, exports)
        return ObservabilityTier(data_alarms=data_alarms, service_alarms=None, dashboard=None)

    service = compute.service
    service_alarms = ServiceAlarms(
        f"{env}-service-alarms",
        ServiceAlarmsArgs(
            environment=env,
            topic_arn=base.topic.arn,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            cluster_name=service.cluster_name,
            service_name=service.service_name,
            thresholds=base.thresholds,
        ),
        opts,
    )
    worker_alarms, worker_rows = None, None
    if compute.worker is not None and exports is not None:
        worker_alarms = stack_worker_alarms(base, compute.worker, exports)
        # The dashboard's export rows: what those alarms watch, the age alarm's threshold drawn.
        queue, worker, age = exports.queue, compute.worker, base.thresholds.queue_oldest_message_age_seconds
        names = (queue.queue_name, queue.dlq_name, worker.cluster_name, worker.service_name)
        worker_rows = pulumi.Output.all(*names).apply(
            lambda n: WorkerWidgetValues(base.config.region, n[0], n[1], n[2], n[3], age)
        )
    dashboard = stack_dashboard(
        base,
        data,
        edge,
        cluster_name=service.cluster_name,
        service_name=service.service_name,
        alarm_arns=[
            *compute.deployment_alarms.alarm_arns,
            *service_alarms.alarm_arns,
            *data_alarms.alarm_arns,
            *(worker_alarms.alarm_arns if worker_alarms is not None else []),
        ],
        worker=worker_rows,
    )
    return ObservabilityTier(
        data_alarms=data_alarms,
        service_alarms=service_alarms,
        dashboard=dashboard,
        worker_alarms=worker_alarms,
    )


def stack_dashboard(
    base: Foundation,
    data: DataTier,
    edge: EdgeTier,
    *,
    cluster_name: pulumi.Input[str],
    service_name: pulumi.Input[str],
    alarm_arns: Sequence[pulumi.Input[str]],
    kubernetes_namespace: str | None = None,
    worker: pulumi.Input[WorkerWidgetValues] | None = None,
) -> Dashboard:
    """The environment's dashboard; the compute path says which cluster and service (and, on
    EKS, which namespace) its service row shows."""
    return Dashboard(
        f"{base.env}-dashboard",
        DashboardArgs(
            environment=base.env,
            region=base.config.region,
            alb_arn_suffix=edge.alb.arn_suffix,
            target_group_arn_suffix=edge.alb.target_group_arn_suffix,
            cluster_name=cluster_name,
            service_name=service_name,
            kubernetes_namespace=kubernetes_namespace,
            docdb_instance_ids=[instance.identifier for instance in data.database.instances],
            cache_cluster_ids=cache_member_ids(
                data.cache.replication_group.replication_group_id, base.config.cache.node_count
            ),
            alarm_arns=list(alarm_arns),
            web_acl_name=edge.edge.web_acl_name,
            distribution_id=edge.edge.distribution_id,
            thresholds=base.thresholds,
            worker=worker,
        ),
        base.opts,
    )
