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
from infra.image import ServiceImage, ServiceImageArgs
from infra.kms import Keys, KeysArgs
from infra.network import Network, NetworkArgs
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
    provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config)),
    )
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
            listener=alb.https_listener,
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
                "NOTES_FORWARDED_ALLOW_IPS": "*",
                "NOTES_CORS_ALLOW_ORIGINS": ",".join(config.service.cors_allow_origins),
            },
        ),
        opts,
    )

    exported: dict[str, pulumi.Input[Any]] = {
        out.API_URL: f"https://{config.dns.origin_name}",
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
