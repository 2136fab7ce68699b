"""Composition of the components for one environment, and the stack's outputs.

This module and stacks/config.py are the only places that know about Pulumi config; the
components in infra/ take typed args. Every environment difference arrives through
``StackConfig``: there is no ``if stack == "prod"`` anywhere.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.alb import LoadBalancer, LoadBalancerArgs
from infra.cache import RedisCache, RedisCacheArgs
from infra.documentdb import DocumentDb, DocumentDbArgs
from infra.ecs import ApiService, ApiServiceArgs
from infra.edge.component import Edge, EdgeArgs
from infra.edge.origin_secret import OriginSecret, OriginSecretArgs
from infra.image import ServiceImage, ServiceImageArgs
from infra.kms import Keys, KeysArgs
from infra.network import Network, NetworkArgs
from infra.observability.alarms import (
    DataAlarms,
    DataAlarmsArgs,
    DeploymentAlarms,
    DeploymentAlarmsArgs,
    ServiceAlarms,
    ServiceAlarmsArgs,
    cache_member_ids,
)
from infra.observability.dashboard import Dashboard, DashboardArgs
from infra.observability.thresholds import AlarmThresholds
from infra.observability.topic import AlarmSubscription, AlarmTopic, AlarmTopicArgs
from infra.secrets import GeneratedSecret, GeneratedSecretArgs
from infra.security_groups import SecurityGroups, SecurityGroupsArgs
from stacks import outputs as out
from stacks.config import PROJECT, ROOT, StackConfig, load

# CloudFront's origin-facing addresses, as an AWS-managed prefix list.
CLOUDFRONT_ORIGIN_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"


def config_from_pulumi() -> StackConfig:
    """The stack's config as the engine passed it, validated before any resource exists."""
    from pulumi.runtime.config import CONFIG, get_config_env  # noqa: PLC0415

    values: dict[str, Any] = {**get_config_env(), **CONFIG.get()}
    return load(values, pulumi.get_stack())


def default_tags(config: StackConfig) -> dict[str, str]:
    return {
        "Project": PROJECT,
        "Environment": config.general.environment,
        "Owner": config.general.owner,
        "CostCenter": config.general.cost_center,
        "ManagedBy": "pulumi",
    }


def alarm_thresholds(config: StackConfig) -> AlarmThresholds:
    """The stack file's thresholds (whole units there) in the alarm components' units."""
    alarms = config.alarms
    return AlarmThresholds(
        alb_5xx_percent=float(alarms.alb_5xx_percent),
        alb_5xx_min_requests=alarms.alb_5xx_min_requests,
        target_p99_seconds=alarms.target_p99_ms / 1000,
        service_cpu_percent=float(alarms.service_cpu_percent),
        service_memory_percent=float(alarms.service_memory_percent),
        docdb_cpu_percent=float(alarms.docdb_cpu_percent),
        docdb_freeable_memory_bytes=alarms.docdb_freeable_memory_mib * 1024 * 1024,
        docdb_connections=alarms.docdb_connections,
        docdb_replica_lag_ms=float(alarms.docdb_replica_lag_ms),
        redis_cpu_percent=float(alarms.redis_cpu_percent),
        redis_engine_cpu_percent=float(alarms.redis_engine_cpu_percent),
        redis_memory_percent=float(alarms.redis_memory_percent),
        redis_evictions=alarms.redis_evictions,
        redis_replication_lag_seconds=float(alarms.redis_replication_lag_seconds),
    )


def alarm_subscriptions(config: StackConfig) -> tuple[AlarmSubscription, ...]:
    return (
        *(AlarmSubscription("email", address) for address in config.alarms.emails),
        *(AlarmSubscription("https", url) for url in config.alarms.https_endpoints),
    )


def git_revision() -> str:
    """Tag for a built image; "unknown" outside a git checkout (the digest still pins it).
    NOTES_PLATFORM_REVISION overrides it: snapshots pin it so they do not change per commit."""
    if override := os.environ.get("NOTES_PLATFORM_REVISION"):
        return override
    try:
        # "-dirty" keeps two builds of one commit with local changes from claiming one immutable tag.
        command = ["git", "describe", "--always", "--abbrev=12", "--dirty", "--exclude=*"]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(config: StackConfig) -> dict[str, pulumi.Input[Any]]:
    env = config.general.environment
    # The stack's provider and the edge's us-east-1 one tag alike.
    tags = default_tags(config)
    provider = aws.Provider("aws", region=config.region, default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    invoke = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity(opts=invoke)
    zones = aws.get_availability_zones(state="available", opts=invoke)
    if len(zones.names) < config.network.az_count:
        raise ValueError(
            f"{config.region} has {len(zones.names)} available AZs; networkAzCount asks for "
            f"{config.network.az_count}"
        )

    keys = Keys(
        f"{env}-keys", KeysArgs(environment=env, region=config.region, account_id=identity.account_id), opts
    )

    network = Network(
        f"{env}-network",
        NetworkArgs(
            environment=env,
            cidr=config.network.cidr,
            availability_zones=tuple(zones.names[: config.network.az_count]),
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

    database = DocumentDb(
        f"{env}-docdb",
        DocumentDbArgs(
            environment=env,
            subnet_ids=network.isolated_subnet_ids,
            security_group_id=groups.docdb_id,
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
        ),
        opts,
    )

    cache = RedisCache(
        f"{env}-redis",
        RedisCacheArgs(
            environment=env,
            subnet_ids=network.isolated_subnet_ids,
            security_group_id=groups.redis_id,
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
        ),
        opts,
    )

    jwt_key = GeneratedSecret(
        f"{env}-jwt-signing-key",
        GeneratedSecretArgs(
            environment=env,
            purpose="jwt-signing-key",
            description="HS256 signing key of the notes API's access tokens",
            kms_key_arn=keys.arn("secrets"),
            recovery_window_days=config.secrets.recovery_window_days,
            length=64,
        ),
        opts,
    )

    image = ServiceImage(
        f"{env}-image",
        ServiceImageArgs(
            environment=env,
            repository_name=config.image.repository_name,
            kms_key_arn=keys.arn("ecr"),
            keep_images=config.image.keep_images,
            # Relative to the project directory, where `pulumi up` runs: plans stay machine-independent.
            context_path="app",
            digest=config.image.digest,
            # Only a build needs it; a promoted digest is deployed as it is.
            git_revision=git_revision() if config.image.digest is None else "unknown",
        ),
        opts,
    )

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
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            security_group_id=groups.alb_id,
            zone_id=config.dns.zone_id,
            origin_name=config.dns.origin_name,
            ssl_policy=config.alb.ssl_policy,
            deletion_protection=config.alb.deletion_protection,
            idle_timeout_seconds=config.alb.idle_timeout_seconds,
            access_log_retention_days=config.alb.access_log_retention_days,
            app_port=config.service.container_port,
            origin_header_name=origin_secret.header_name,
            origin_secret_values=origin_secret.accepted_values,
        ),
        opts,
    )

    thresholds = alarm_thresholds(config)
    subscriptions = alarm_subscriptions(config)
    topic = AlarmTopic(
        f"{env}-alarm-topic",
        AlarmTopicArgs(
            environment=env,
            region=config.region,
            account_id=identity.account_id,
            kms_key_arn=keys.arn("sns"),
            subscriptions=subscriptions,
        ),
        opts,
    )
    # ECS rolls a deployment back on these, so they exist before the service.
    deployment_alarms = DeploymentAlarms(
        f"{env}-deployment-alarms",
        DeploymentAlarmsArgs(
            environment=env,
            topic_arn=topic.arn,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            thresholds=thresholds,
        ),
        opts,
    )

    service = ApiService(
        f"{env}-api",
        ApiServiceArgs(
            environment=env,
            region=config.region,
            subnet_ids=network.private_subnet_ids,
            security_group_id=groups.tasks_id,
            target_group_arn=alb.target_group.arn,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            alb_arn_suffix=alb.arn_suffix,
            # The target group joins the load balancer through the origin rule, not the listener.
            listener=alb.origin_rule,
            deployment_alarm_names=deployment_alarms.alarm_names,
            image_ref=image.image_ref,
            cpu=config.service.cpu,
            memory=config.service.memory,
            desired_count=config.service.desired_count,
            min_count=config.service.min_count,
            max_count=config.service.max_count,
            cpu_target_percent=config.service.cpu_target_percent,
            requests_per_target=config.service.requests_per_target,
            fargate_base=config.service.fargate_base,
            fargate_weight=config.service.fargate_weight,
            fargate_spot_weight=config.service.fargate_spot_weight,
            workers=config.service.workers,
            container_port=config.service.container_port,
            health_check_grace_seconds=config.service.health_check_grace_seconds,
            shutdown_grace_seconds=config.service.shutdown_grace_seconds,
            log_retention_days=config.service.log_retention_days,
            logs_kms_key_arn=keys.arn("logs"),
            secrets={
                "NOTES_MONGODB_URI": database.uri_secret_arn,
                "NOTES_REDIS_AUTH_TOKEN": cache.auth_secret_arn,
                "NOTES_JWT_SIGNING_KEY": jwt_key.arn,
            },
            secrets_kms_key_arn=keys.arn("secrets"),
            environment_variables={
                "NOTES_ENV": "production",
                "NOTES_REDIS_URL": cache.url,
                "NOTES_MONGODB_TLS_CA_FILE": DocumentDb.CA_FILE,
                # Only the ALB (inside the VPC) is a trusted proxy; the per-IP limits count
                # the viewer address CloudFront sets, which a client cannot send past the
                # origin lock (X-Forwarded-For's left end is whatever the client wrote).
                "NOTES_FORWARDED_ALLOW_IPS": config.network.cidr,
                "NOTES_CLIENT_IP_HEADER": "CloudFront-Viewer-Address",
                "NOTES_CORS_ALLOW_ORIGINS": ",".join(config.service.cors_allow_origins),
            },
        ),
        opts,
    )

    service_alarms = ServiceAlarms(
        f"{env}-service-alarms",
        ServiceAlarmsArgs(
            environment=env,
            topic_arn=topic.arn,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            cluster_name=service.cluster_name,
            service_name=service.service_name,
            thresholds=thresholds,
        ),
        opts,
    )
    docdb_instance_ids = [instance.identifier for instance in database.instances]
    cache_ids = cache_member_ids(cache.replication_group.replication_group_id, config.cache.node_count)
    data_alarms = DataAlarms(
        f"{env}-data-alarms",
        DataAlarmsArgs(
            environment=env,
            topic_arn=topic.arn,
            docdb_instance_ids=docdb_instance_ids,
            cache_cluster_ids=cache_ids,
            thresholds=thresholds,
        ),
        opts,
    )

    edge = Edge(
        f"{env}-edge",
        EdgeArgs(
            environment=env,
            account_id=identity.account_id,
            default_tags=tags,
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
            alarm_emails=tuple(config.alarms.emails),
            alarm_https_endpoints=tuple(config.alarms.https_endpoints),
        ),
        opts,
    )

    dashboard = Dashboard(
        f"{env}-dashboard",
        DashboardArgs(
            environment=env,
            region=config.region,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            cluster_name=service.cluster_name,
            service_name=service.service_name,
            docdb_instance_ids=docdb_instance_ids,
            cache_cluster_ids=cache_ids,
            alarm_arns=[*deployment_alarms.alarm_arns, *service_alarms.alarm_arns, *data_alarms.alarm_arns],
            web_acl_name=edge.web_acl_name,
            distribution_id=edge.distribution_id,
            thresholds=thresholds,
        ),
        opts,
    )

    exported: dict[str, pulumi.Input[Any]] = {
        # Viewers use CloudFront; the origin name answers 403 to anything without its header.
        out.API_URL: edge.url,
        out.CLOUDFRONT_DOMAIN: edge.domain_name,
        out.WEB_ACL_ARN: edge.web_acl_arn,
        out.ALARM_TOPIC_ARN: topic.arn,
        out.EDGE_ALARM_TOPIC_ARN: edge.alarm_topic_arn,
        out.DASHBOARD_URL: dashboard.dashboard_url,
        out.ORIGIN_SECRET_ARN: origin_secret.arn,
        out.ALB_DNS_NAME: alb.dns_name,
        out.ECR_REPOSITORY_URL: image.repository_url,
        out.IMAGE_DIGEST: image.digest,
        out.IMAGE_REF: image.image_ref,
        out.CLUSTER_NAME: service.cluster_name,
        out.SERVICE_NAME: service.service_name,
        out.JWT_SECRET_ARN: jwt_key.arn,
        out.DOCDB_URI_SECRET_ARN: database.uri_secret_arn,
        out.DOCDB_MASTER_SECRET_ARN: database.master_secret_arn,
        out.REDIS_AUTH_SECRET_ARN: cache.auth_secret_arn,
        out.APP_LOG_GROUP: service.log_group_name,
        out.FLOW_LOG_GROUP: network.flow_log_group_name,
        out.VPC_ID: network.vpc_id,
    }
    for name, value in exported.items():
        pulumi.export(name, value)
    return exported
