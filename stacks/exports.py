"""Note exports in the stack: the exports tier (the job queue with its dead-letter queue, and the
bucket), built for every compute path, and on ECS the API's share of it (settings, sending and
presigning permissions) and the worker service that works the queue.

exports_tier runs after the edge tier (the bucket's access logs go to the ALB's log bucket) and
before compute: the API's task role and environment name the queue and the bucket. A stack with
no API service yet (prod's first deploy) gets the queue and the bucket, and no worker: the worker
runs the API's image.
"""

from __future__ import annotations

import pulumi

from infra.documentdb import DocumentDb
from infra.ecs import ApiService
from infra.exports import (
    ExportBucket,
    ExportBucketArgs,
    ExportQueue,
    ExportQueueArgs,
    sender_statements,
    worker_statements,
)
from infra.exports.permissions import DEFAULT_PREFIX
from infra.image import ServiceImage
from infra.worker import WorkerService, WorkerServiceArgs
from stacks.config import StackConfig
from stacks.error_tracking import sentry_environment, sentry_statements
from stacks.tiers import DataTier, EdgeTier, ExportsTier, Foundation

# The key prefix of every export: the bucket's lifecycle rule, the roles' S3 resources and the
# object keys the API and the worker write (NOTES_EXPORT_PREFIX) all name this one.
EXPORT_PREFIX = DEFAULT_PREFIX


def exports_tier(base: Foundation, edge: EdgeTier) -> ExportsTier:
    config, env, opts = base.config, base.env, base.opts
    exports = config.exports
    key = base.keys.arn("exports")
    queue = ExportQueue(
        f"{env}-exports",
        ExportQueueArgs(
            environment=env,
            kms_key_arn=key,
            job_timeout_seconds=exports.job_timeout_seconds,
            visibility_timeout_seconds=exports.visibility_timeout_seconds,
            max_receive_count=exports.max_receives,
        ),
        opts,
    )
    bucket = ExportBucket(
        f"{env}-exports",
        ExportBucketArgs(
            environment=env,
            kms_key_arn=key,
            retention_days=exports.retention_days,
            prefix=EXPORT_PREFIX,
            protect=exports.protect,
            # Into the ALB's log bucket (SSE-S3), whose policy admits them (stacks/tiers.py).
            access_log_bucket=edge.alb.logs_bucket.id if exports.access_logs else None,
            access_log_ready=[edge.alb.logs_policy] if exports.access_logs else [],
        ),
        opts,
    )
    return ExportsTier(queue=queue, bucket=bucket, kms_key_arn=pulumi.Output.from_input(key))


def export_environment(config: StackConfig, exports: ExportsTier) -> dict[str, pulumi.Input[str]]:
    """The NOTES_EXPORT_* settings the API and the worker share (app/notes_api/core/config.py)."""
    settings = config.exports
    return {
        "NOTES_EXPORT_QUEUE_URL": exports.queue.queue_url,
        "NOTES_EXPORT_BUCKET": exports.bucket.bucket_name,
        "NOTES_EXPORT_PREFIX": EXPORT_PREFIX,
        # The queue and the bucket live in the stack's region; download URLs are signed for it.
        "NOTES_AWS_REGION": config.region,
        "NOTES_EXPORT_RETENTION_DAYS": str(settings.retention_days),
        # The worker marks an export failed on the receive the redrive policy dead-letters.
        "NOTES_EXPORT_MAX_RECEIVES": str(settings.max_receives),
    }


def api_export_environment(config: StackConfig, exports: ExportsTier) -> dict[str, pulumi.Input[str]]:
    return {
        **export_environment(config, exports),
        "NOTES_EXPORT_MAX_IN_FLIGHT": str(config.exports.max_in_flight_per_user),
    }


def sender_policy(exports: ExportsTier) -> pulumi.Output[list[dict[str, object]]]:
    """The API's task role statements: send jobs, presign reads of finished exports."""
    return pulumi.Output.all(exports.queue.queue_arn, exports.bucket.bucket_arn, exports.kms_key_arn).apply(
        lambda arns: sender_statements(arns[0], arns[1], arns[2], prefix=EXPORT_PREFIX)
    )


def worker_policy(exports: ExportsTier) -> pulumi.Output[list[dict[str, object]]]:
    """The worker's task role statements: receive, delete and hand back jobs, write exports."""
    return pulumi.Output.all(exports.queue.queue_arn, exports.bucket.bucket_arn, exports.kms_key_arn).apply(
        lambda arns: worker_statements(arns[0], arns[1], arns[2], prefix=EXPORT_PREFIX)
    )


def with_sentry(
    config: StackConfig, statements: pulumi.Output[list[dict[str, object]]]
) -> pulumi.Output[list[dict[str, object]]]:
    """``statements`` and, when ``serviceSentryDsnSecretArn`` is set, GetSecretValue on exactly
    that secret: the API's and the worker's roles, on ECS and on EKS alike."""
    extra = sentry_statements(config.service.sentry_dsn_secret_arn)
    return statements.apply(lambda given: [*given, *extra]) if extra else statements


def worker_service(
    base: Foundation,
    data: DataTier,
    image: ServiceImage,
    exports: ExportsTier,
    api: ApiService,
) -> WorkerService:
    """The worker as a second ECS service in the API's cluster, running the API's image."""
    if image.image_ref is None:
        raise ValueError("worker_service needs an image: the worker runs the API's")
    config, env, keys = base.config, base.env, base.keys
    worker = config.worker
    return WorkerService(
        f"{env}-worker",
        WorkerServiceArgs(
            environment=env,
            region=config.region,
            cluster_arn=api.cluster.arn,
            cluster_name=api.cluster_name,
            capacity_providers=api.capacity_providers,
            vpc_id=base.network.vpc_id,
            subnet_ids=base.network.private_subnet_ids,
            docdb_security_group_id=base.groups.docdb_id,
            image_ref=image.image_ref,
            queue_name=exports.queue.queue_name,
            task_role_statements=with_sentry(config, worker_policy(exports)),
            cpu=worker.cpu,
            memory=worker.memory,
            min_count=worker.min_count,
            max_count=worker.max_count,
            backlog_per_task=worker.backlog_per_task,
            fargate_base=worker.fargate_base,
            fargate_weight=worker.fargate_weight,
            fargate_spot_weight=worker.fargate_spot_weight,
            shutdown_grace_seconds=worker.shutdown_grace_seconds,
            log_retention_days=worker.log_retention_days,
            logs_kms_key_arn=keys.arn("logs"),
            secrets_kms_key_arn=keys.arn("secrets"),
            # The worker reads the app's DocumentDB secret itself (and again after a rotation);
            # it needs neither Redis nor the JWT key, so its roles cannot read them.
            task_secret_arns=[data.database.app_secret_arn],
            secret_versions=[data.database.app_version],
            # The API's init container creates the user the worker logs in as: the API service
            # is steady (wait_for_steady_state) only once a task got past it.
            start_after=[api.service],
            environment_variables={
                "NOTES_ENV": "production",
                "NOTES_MONGODB_URI_SECRET_ARN": data.database.app_secret_arn,
                "NOTES_MONGODB_TLS_CA_FILE": DocumentDb.CA_FILE,
                **export_environment(config, exports),
                "NOTES_EXPORT_JOB_TIMEOUT_SECONDS": str(config.exports.job_timeout_seconds),
                **sentry_environment(config.service.sentry_dsn_secret_arn, env, image.digest),
            },
        ),
        base.opts,
    )
