"""Note exports: the queue of export jobs with its dead-letter queue, the bucket the exports
are written to, and the IAM statements of the roles that send and work the jobs."""

from infra.exports.bucket import (
    ExportBucket,
    ExportBucketArgs,
    access_log_delivery_statement,
    export_bucket_policy,
)
from infra.exports.permissions import sender_statements, worker_statements
from infra.exports.queue import ExportQueue, ExportQueueArgs, queue_tls_policy

__all__ = [
    "ExportBucket",
    "ExportBucketArgs",
    "ExportQueue",
    "ExportQueueArgs",
    "access_log_delivery_statement",
    "export_bucket_policy",
    "queue_tls_policy",
    "sender_statements",
    "worker_statements",
]
