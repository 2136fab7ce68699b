"""The Pulumi program for one environment: its config, its tiers in order, its outputs.

This module and stacks/config.py are the only places that know about Pulumi config; the
components in infra/ take typed args. Every environment difference arrives through
``StackConfig``: there is no ``if stack == "prod"`` anywhere; ``compute`` picks ECS or EKS. The tiers are in
stacks/tiers.py and stacks/compute.py, what they derive from the config in stacks/settings.py.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.image import ServiceImage
from stacks import outputs as out
from stacks.alarms import stack_data_alarms
from stacks.compute import EksComputeTier, ecs_compute, eks_compute, service_image
from stacks.config import StackConfig, load
from stacks.eks_observability import eks_observability
from stacks.exports import exports_tier
from stacks.rotations import stack_rotations
from stacks.tiers import (
    ComputeTier,
    DataTier,
    EdgeTier,
    ExportsTier,
    Foundation,
    ObservabilityTier,
    data_tier,
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
    # Every compute path gets the queue and the bucket; the API and the worker read their names.
    exports = exports_tier(base, edge)
    image = service_image(base)
    compute: ComputeTier | EksComputeTier | None = None
    if image.image_ref is not None and config.general.compute == "eks":
        compute = eks_compute(base, data, edge, image, exports)
    elif image.image_ref is not None:
        compute = ecs_compute(base, data, edge, image, exports)
    else:
        # A promote-only stack's first deploy: everything but the service, which needs an image
        # in this stack's repository first (README, "First deploy").
        pulumi.log.warn(
            "imageDigest is not set: no service yet. Promote an image into this stack's repository, "
            "set imageDigest and deploy again."
        )
    # The rotations once what creates the app's database users exists: the API service on ECS
    # (its dbusers init container), the chart's release on EKS (its hook Job); none without one.
    users_ready: list[pulumi.Resource] | None = None
    if isinstance(compute, EksComputeTier):
        users_ready = [compute.release]
    elif compute is not None:
        users_ready = [compute.service.service]
    stack_rotations(base, data, users_ready)
    if isinstance(compute, EksComputeTier):
        # The data alarms as on ECS; the service's alarms and row from Container Insights on EKS,
        # the exports queues' alarms without an ECS worker service.
        observability = eks_observability(base, data, edge, compute, stack_data_alarms(base, data), exports)
    else:
        observability = observability_tier(base, data, edge, compute, exports)
    exported = outputs(base, data, edge, image, compute, observability, exports)
    for name, value in exported.items():
        pulumi.export(name, value)
    return exported


def outputs(
    base: Foundation,
    data: DataTier,
    edge: EdgeTier,
    image: ServiceImage,
    compute: ComputeTier | EksComputeTier | None,
    observability: ObservabilityTier,
    exports: ExportsTier,
) -> dict[str, pulumi.Input[Any]]:
    """The stack outputs (names in stacks/outputs.py, which tools import). A stack waiting for
    its first promoted image has no image, service, worker or dashboard outputs yet."""
    exported: dict[str, pulumi.Input[Any]] = {
        # Viewers use CloudFront; the origin name answers 403 to anything without its header.
        out.API_URL: edge.edge.url,
        out.CLOUDFRONT_DOMAIN: edge.edge.domain_name,
        out.WEB_ACL_ARN: edge.edge.web_acl_arn,
        out.ALARM_TOPIC_ARN: base.topic.arn,
        out.EDGE_ALARM_TOPIC_ARN: edge.edge.alarm_topic_arn,
        out.ORIGIN_SECRET_ARN: edge.origin_secret.arn,
        out.ALB_DNS_NAME: edge.alb.dns_name,
        out.ECR_REPOSITORY_URL: image.repository_url,
        out.JWT_SECRET_ARN: data.jwt_key.arn,
        out.DOCDB_APP_SECRET_ARN: data.database.app_secret_arn,
        out.DOCDB_MASTER_SECRET_ARN: data.database.master_user_secret_arn,
        out.REDIS_AUTH_SECRET_ARN: data.cache.auth_secret_arn,
        out.FLOW_LOG_GROUP: base.network.flow_log_group_name,
        out.VPC_ID: base.network.vpc_id,
        out.EXPORT_QUEUE_URL: exports.queue.queue_url,
        out.EXPORT_DLQ_URL: exports.queue.dlq_url,
        out.EXPORT_BUCKET: exports.bucket.bucket_name,
    }
    if image.digest is not None and image.image_ref is not None:
        exported |= {out.IMAGE_DIGEST: image.digest, out.IMAGE_REF: image.image_ref}
    if isinstance(compute, EksComputeTier):
        # No ECS service or its log group: the pods' logs are the cluster's (Container Insights).
        exported[out.CLUSTER_NAME] = compute.cluster.cluster_name
    elif compute is not None:
        exported |= {
            out.CLUSTER_NAME: compute.service.cluster_name,
            out.SERVICE_NAME: compute.service.service_name,
            out.APP_LOG_GROUP: compute.service.log_group_name,
        }
        if compute.worker is not None:
            exported[out.WORKER_SERVICE_NAME] = compute.worker.service_name
    if observability.dashboard is not None:
        exported[out.DASHBOARD_URL] = observability.dashboard.dashboard_url
    return exported
