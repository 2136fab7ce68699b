"""The Pulumi program for one environment: its config, its tiers in order, its outputs.

This module and stacks/config.py are the only places that know about Pulumi config; the
components in infra/ take typed args. Every environment difference arrives through
``StackConfig``: there is no ``if stack == "prod"`` anywhere. The tiers are in
stacks/tiers.py, what they derive from the config in stacks/settings.py.
"""

from __future__ import annotations

from typing import Any

import pulumi

from stacks import outputs as out
from stacks.config import StackConfig, load
from stacks.tiers import (
    ComputeTier,
    DataTier,
    EdgeTier,
    Foundation,
    ObservabilityTier,
    data_tier,
    ecs_compute,
    edge_tier,
    foundation,
    observability_tier,
)


def config_from_pulumi() -> StackConfig:
    """The stack's config as the engine passed it, validated before any resource exists."""
    from pulumi.runtime.config import CONFIG, get_config_env  # noqa: PLC0415

    values: dict[str, Any] = {**get_config_env(), **CONFIG.get()}
    return load(values, pulumi.get_stack())


def build(config: StackConfig) -> dict[str, pulumi.Input[Any]]:
    """The whole stack, tier by tier; each tier reads only what the ones before it built."""
    base = foundation(config)
    data = data_tier(base)
    edge = edge_tier(base)
    compute = ecs_compute(base, data, edge)
    observability = observability_tier(base, data, edge, compute)
    exported = outputs(base, data, edge, compute, observability)
    for name, value in exported.items():
        pulumi.export(name, value)
    return exported


def outputs(
    base: Foundation,
    data: DataTier,
    edge: EdgeTier,
    compute: ComputeTier,
    observability: ObservabilityTier,
) -> dict[str, pulumi.Input[Any]]:
    """The stack outputs (names in stacks/outputs.py, which tools import)."""
    return {
        # Viewers use CloudFront; the origin name answers 403 to anything without its header.
        out.API_URL: edge.edge.url,
        out.CLOUDFRONT_DOMAIN: edge.edge.domain_name,
        out.WEB_ACL_ARN: edge.edge.web_acl_arn,
        out.ALARM_TOPIC_ARN: base.topic.arn,
        out.EDGE_ALARM_TOPIC_ARN: edge.edge.alarm_topic_arn,
        out.DASHBOARD_URL: observability.dashboard.dashboard_url,
        out.ORIGIN_SECRET_ARN: edge.origin_secret.arn,
        out.ALB_DNS_NAME: edge.alb.dns_name,
        out.ECR_REPOSITORY_URL: compute.image.repository_url,
        out.IMAGE_DIGEST: compute.image.digest,
        out.IMAGE_REF: compute.image.image_ref,
        out.CLUSTER_NAME: compute.service.cluster_name,
        out.SERVICE_NAME: compute.service.service_name,
        out.JWT_SECRET_ARN: data.jwt_key.arn,
        out.DOCDB_URI_SECRET_ARN: data.database.uri_secret_arn,
        out.DOCDB_MASTER_SECRET_ARN: data.database.master_secret_arn,
        out.REDIS_AUTH_SECRET_ARN: data.cache.auth_secret_arn,
        out.APP_LOG_GROUP: compute.service.log_group_name,
        out.FLOW_LOG_GROUP: base.network.flow_log_group_name,
        out.VPC_ID: base.network.vpc_id,
    }
