"""The compute tier: the image, and the API running it (ECS Fargate today).

A stack that builds (``imageBuild: true``) always has an image. A stack that deploys only a
promoted digest (prod) has none on its first deploy: its repository is created empty, and the
service with its alarms waits until an image has been promoted into it and ``imageDigest``
names it (README, "First deploy"). Starting tasks on a digest the repository does not hold
would fail with CannotPullContainerError while ``pulumi up`` reported success.
"""

from __future__ import annotations

import pulumi

from infra.documentdb import DocumentDb
from infra.ecs import ApiService, ApiServiceArgs
from infra.image import ServiceImage, ServiceImageArgs
from infra.observability.alarms import DeploymentAlarms, DeploymentAlarmsArgs
from stacks.config import ROOT, StackConfig
from stacks.settings import image_tag
from stacks.tiers import ComputeTier, DataTier, EdgeTier, Foundation


def service_image(base: Foundation) -> ServiceImage:
    """The repository, and the image the service runs: built here, or promoted into it."""
    config, env, keys, opts = base.config, base.env, base.keys, base.opts
    return ServiceImage(
        f"{env}-image",
        ServiceImageArgs(
            environment=env,
            repository_name=config.image.repository_name,
            kms_key_arn=keys.arn("ecr"),
            keep_images=config.image.keep_images,
            # Relative to the project directory, where `pulumi up` runs: plans stay machine-independent.
            context_path="app",
            build=config.image.build,
            digest=config.image.digest,
            # Only a build needs it; a promoted digest is deployed as it is.
            tag=image_tag(ROOT / "app") if config.image.build else "unknown-000000000000",
        ),
        opts,
    )


def ecs_compute(base: Foundation, data: DataTier, edge: EdgeTier, image: ServiceImage) -> ComputeTier:
    """The API as an ECS Fargate service behind the edge tier's ALB, running ``image``."""
    if image.image_ref is None:
        raise ValueError("ecs_compute needs an image: build one, or promote one and set imageDigest")
    config, env, keys, opts, alb = base.config, base.env, base.keys, base.opts, edge.alb

    # ECS rolls a deployment back on these, so they exist before the service.
    deployment_alarms = DeploymentAlarms(
        f"{env}-deployment-alarms",
        DeploymentAlarmsArgs(
            environment=env,
            topic_arn=base.topic.arn,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            thresholds=base.thresholds,
        ),
        opts,
    )

    service = ApiService(
        f"{env}-api",
        ApiServiceArgs(
            environment=env,
            region=config.region,
            subnet_ids=base.network.private_subnet_ids,
            security_group_id=base.groups.tasks_id,
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
            secrets=api_secrets(data),
            # ECS reads each value at task start: the service waits for the versions.
            secret_versions=[data.database.uri_version, data.cache.auth_version, data.jwt_key.version],
            secrets_kms_key_arn=keys.arn("secrets"),
            environment_variables=api_environment(config, data),
        ),
        opts,
    )
    return ComputeTier(deployment_alarms=deployment_alarms, service=service)


def api_secrets(data: DataTier) -> dict[str, pulumi.Input[str]]:
    """The API's secret settings: environment variable -> Secrets Manager secret ARN."""
    return {
        "NOTES_MONGODB_URI": data.database.uri_secret_arn,
        "NOTES_REDIS_AUTH_TOKEN": data.cache.auth_secret_arn,
        "NOTES_JWT_SIGNING_KEY": data.jwt_key.arn,
    }


def api_environment(config: StackConfig, data: DataTier) -> dict[str, pulumi.Input[str]]:
    """The API's plain settings (app/notes_api/core/config.py lists them all)."""
    return {
        "NOTES_ENV": "production",
        "NOTES_REDIS_URL": data.cache.url,
        "NOTES_MONGODB_TLS_CA_FILE": DocumentDb.CA_FILE,
        # Only the ALB (inside the VPC) is a trusted proxy; the per-IP limits count
        # the viewer address CloudFront sets, which a client cannot send past the
        # origin lock (X-Forwarded-For's left end is whatever the client wrote).
        "NOTES_FORWARDED_ALLOW_IPS": config.network.cidr,
        "NOTES_CLIENT_IP_HEADER": "CloudFront-Viewer-Address",
        "NOTES_CORS_ALLOW_ORIGINS": ",".join(config.service.cors_allow_origins),
    }
