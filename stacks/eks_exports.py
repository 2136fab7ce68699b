"""Note exports on the EKS path: the export worker's Pod Identity role, the API's (its secrets and the
sender's statements), and the chart's ``exports`` and ``worker`` values, the counterpart of
``stacks.exports.worker_service`` on ECS.

The chart runs the worker as a second Deployment (charts/notes-api, ``worker.enabled``) with its
own ServiceAccount; the role made here is associated with exactly that account, so the worker's
pods hold the worker's statements and the API's pods the sender's, never each other's.
``eks_compute`` calls these; like ``api_chart_values``, ``export_chart_values`` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.ecs import STOP_TIMEOUT_MARGIN_SECONDS
from infra.eks.pod_identity import (
    ApiPodIdentity,
    WorkerPodIdentity,
)
from stacks.config import StackConfig
from stacks.eks_dbusers import pod_identity_args
from stacks.error_tracking import sentry_environment
from stacks.exports import EXPORT_PREFIX, sender_policy, with_sentry, worker_policy
from stacks.tiers import ExportsTier, Foundation

# The chart's worker.serviceAccount.name (charts/notes-api/values.yaml's default, set here
# explicitly): the Pod Identity association below names the same account.
WORKER_SERVICE_ACCOUNT = "notes-api-worker"


def api_pod_identity(
    base: Foundation,
    exports: ExportsTier,
    cluster_name: pulumi.Input[str],
    api_secrets: Mapping[str, pulumi.Input[str]],
    service_account: str,
) -> ApiPodIdentity:
    """The API's role (notes-<env>-api-pod): its secrets (``api_secrets``, by variable name: the
    app's DocumentDB secret, never the master user's) and the sender's statements (queue a job,
    read an export to presign it), for the chart's API service account."""
    return ApiPodIdentity(
        f"{base.env}-api-pod-identity",
        pod_identity_args(
            base,
            cluster_name,
            service_account,
            list(api_secrets.values()),
            with_sentry(base.config, sender_policy(exports)),
        ),
        base.opts,
    )


def worker_pod_identity(
    base: Foundation,
    exports: ExportsTier,
    cluster_name: pulumi.Input[str],
    api_secrets: Mapping[str, pulumi.Input[str]],
) -> WorkerPodIdentity:
    """The worker's role (notes-<env>-worker-pod): of the API's secrets (``api_secrets``, by
    variable name) the MongoDB URI's only, the one the chart gives both Deployments, and the
    worker's statements (receive, delete and hand back jobs, write exports), for the chart's
    worker service account in the API's namespace."""
    return WorkerPodIdentity(
        f"{base.env}-worker-pod-identity",
        pod_identity_args(
            base,
            cluster_name,
            WORKER_SERVICE_ACCOUNT,
            # As on ECS: neither the Redis token nor the JWT key.
            [api_secrets["NOTES_MONGODB_URI"]],
            with_sentry(base.config, worker_policy(exports)),
        ),
        base.opts,
    )


def export_values(
    config: StackConfig, exports: ExportsTier, digest: pulumi.Input[str]
) -> pulumi.Output[dict[str, Any]]:
    """``export_chart_values`` once the queue's URL, the bucket's name and the image's digest
    are known."""
    return pulumi.Output.all(exports.queue.queue_url, exports.bucket.bucket_name, digest).apply(
        lambda v: export_chart_values(config, queue_url=v[0], bucket=v[1], digest=v[2])
    )


def export_chart_values(config: StackConfig, *, queue_url: str, bucket: str, digest: str) -> dict[str, Any]:
    """The chart's ``exports`` and ``worker`` values (charts/notes-api/values.yaml documents
    each): the settings ``stacks.exports.export_environment`` gives the ECS tasks, and the worker
    sized from the worker* keys as its Fargate task is (CPU units are 1/1024 vCPU); with
    ``serviceSentryDsnSecretArn`` set, its NOTES_SENTRY_* variables (``digest``: the release)."""
    exports, worker = config.exports, config.worker
    cpu, memory = f"{worker.cpu * 1000 // 1024}m", f"{worker.memory}Mi"
    sentry = sentry_environment(config.service.sentry_dsn_secret_arn, config.general.environment, digest)
    return {
        "exports": {
            "queueUrl": queue_url,
            "bucket": bucket,
            # The queue and the bucket live in the stack's region; download URLs are signed for it.
            "region": config.region,
            "prefix": EXPORT_PREFIX,
            "retentionDays": exports.retention_days,
            # The worker marks an export failed on the receive the redrive policy dead-letters.
            "maxReceives": exports.max_receives,
            "jobTimeoutSeconds": exports.job_timeout_seconds,
            "maxInFlight": exports.max_in_flight_per_user,
        },
        "worker": {
            "enabled": True,
            "replicaCount": worker.min_count,
            # Requests equal limits, as for the API.
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": cpu, "memory": memory},
            },
            "shutdownGraceSeconds": worker.shutdown_grace_seconds,
            # The margin ECS's stopTimeout gives: after the grace the worker still aborts the upload
            # and hands the message back before the kubelet's SIGKILL.
            "terminationGracePeriodSeconds": worker.shutdown_grace_seconds + STOP_TIMEOUT_MARGIN_SECONDS,
            "serviceAccount": {"name": WORKER_SERVICE_ACCOUNT},
            # The chart has no Sentry values: the worker's extraEnv carries them, as on ECS.
            **({"extraEnv": sentry} if sentry else {}),
            # Between workerMinCount and workerMaxCount on CPU (the chart's HPA, its target left at
            # the chart's default): scaling on queue depth as on ECS needs an external-metrics
            # adapter the stack does not install (values.yaml, worker.autoscaling).
            "autoscaling": {
                "enabled": worker.max_count > worker.min_count,
                "minReplicas": worker.min_count,
                "maxReplicas": worker.max_count,
            },
        },
    }
