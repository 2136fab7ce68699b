"""The export jobs' queue and its dead-letter queue: SSE-KMS with the exports key, a redrive
policy on the queue, a redrive allow policy on the dead-letter queue naming only that queue,
long polling, and queue policies that refuse requests without TLS."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# SQS's limits (botocore's sqs model, SetQueueAttributes, and the terraform-provider-aws
# validators in internal/service/sqs/queue.go).
MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200  # 12 hours
MIN_RETENTION_SECONDS = 60
MAX_RETENTION_SECONDS = 1_209_600  # 14 days
MAX_WAIT_TIME_SECONDS = 20
MIN_DATA_KEY_REUSE_SECONDS = 60
MAX_DATA_KEY_REUSE_SECONDS = 86_400
MAX_RECEIVE_COUNT = 1_000  # the redrive policy's maxReceiveCount: 1 to 1,000


@dataclass(frozen=True)
class ExportQueueArgs:
    """The queue of export jobs and its dead-letter queue.

    ``stacks/`` fills the fields that name a config key from that key; the others keep their
    default in every stack.
    """

    environment: str
    """Environment name; names the queues ``notes-<environment>-exports`` and
    ``notes-<environment>-exports-dlq``. From config ``environment``. Required."""
    kms_key_arn: pulumi.Input[str]
    """Key of both queues' server-side encryption. Set by the stack from Keys (``exports``).
    Required."""
    job_timeout_seconds: int
    """How long the worker works on one export before giving it up (the API's and worker's
    ``NOTES_EXPORT_JOB_TIMEOUT_SECONDS``); the visibility timeout must be longer. From config
    ``exportsJobTimeoutSeconds`` (the value the worker gets). Required."""
    visibility_timeout_seconds: int = 900
    """How long a received message stays hidden from other workers, more than
    ``job_timeout_seconds`` and at most 43,200 (12 hours). From config
    ``exportsVisibilityTimeoutSeconds``. Default 900 (15 minutes: the default 600-second job
    plus time to upload and record the result)."""
    max_receive_count: int = 5
    """Receives of one message before SQS moves it to the dead-letter queue, 1-1,000 (the
    worker's ``NOTES_EXPORT_MAX_RECEIVES`` must be the same number). From config
    ``exportsMaxReceives``. Default 5."""
    message_retention_seconds: int = 345_600
    """How long the queue keeps a message nobody deleted, 60-1,209,600. Default 345,600 (4
    days, SQS's own default): an export still queued after days has outlived its request."""
    dlq_message_retention_seconds: int = MAX_RETENTION_SECONDS
    """How long the dead-letter queue keeps a message, more than
    ``message_retention_seconds`` and at most 1,209,600. Default 1,209,600 (14 days, the
    maximum): time for an operator to look before it is gone."""
    receive_wait_time_seconds: int = MAX_WAIT_TIME_SECONDS
    """Long polling: how long a ReceiveMessage waits for a message, 0-20 (the worker asks for
    20 itself). Default 20: empty receives cost requests and wake the worker for nothing."""
    kms_data_key_reuse_seconds: int = 300
    """How long SQS reuses a data key before asking KMS for a new one, 60-86,400. Default 300
    (SQS's own): a KMS call per principal every 5 minutes, not per message."""


def validate_queue_args(name: str, args: ExportQueueArgs) -> None:
    """Raise ValueError naming the field and what to change, for what SQS would refuse or
    what would lose or repeat exports."""
    if args.job_timeout_seconds < 1:
        raise ValueError(
            f"ExportQueue {name}: job_timeout_seconds={args.job_timeout_seconds}; give at least 1"
        )
    if not args.job_timeout_seconds < args.visibility_timeout_seconds <= MAX_VISIBILITY_TIMEOUT_SECONDS:
        raise ValueError(
            f"ExportQueue {name}: visibility_timeout_seconds={args.visibility_timeout_seconds} must be "
            f"more than job_timeout_seconds={args.job_timeout_seconds} (or a second worker takes the "
            f"message while the first still works on it) and at most {MAX_VISIBILITY_TIMEOUT_SECONDS} "
            "(SQS's maximum); raise it or shorten the job timeout"
        )
    if not 1 <= args.max_receive_count <= MAX_RECEIVE_COUNT:
        raise ValueError(
            f"ExportQueue {name}: max_receive_count={args.max_receive_count}; SQS accepts 1 to "
            f"{MAX_RECEIVE_COUNT}"
        )
    for field_name in ("message_retention_seconds", "dlq_message_retention_seconds"):
        value = getattr(args, field_name)
        if not MIN_RETENTION_SECONDS <= value <= MAX_RETENTION_SECONDS:
            raise ValueError(
                f"ExportQueue {name}: {field_name}={value}; SQS keeps messages {MIN_RETENTION_SECONDS} "
                f"to {MAX_RETENTION_SECONDS} seconds (14 days)"
            )
    if args.dlq_message_retention_seconds <= args.message_retention_seconds:
        # A standard queue's message keeps its original enqueue timestamp in the dead-letter
        # queue, so a DLQ retention no longer than the source's can delete it on arrival (SQS
        # Developer Guide, "Setting-up dead-letter queue retention in Amazon SQS").
        raise ValueError(
            f"ExportQueue {name}: dlq_message_retention_seconds={args.dlq_message_retention_seconds} must "
            f"be more than message_retention_seconds={args.message_retention_seconds}: a dead-lettered "
            "message keeps its first enqueue time and would expire before anyone sees it"
        )
    if not 0 <= args.receive_wait_time_seconds <= MAX_WAIT_TIME_SECONDS:
        raise ValueError(
            f"ExportQueue {name}: receive_wait_time_seconds={args.receive_wait_time_seconds}; SQS "
            f"accepts 0 to {MAX_WAIT_TIME_SECONDS}"
        )
    if not MIN_DATA_KEY_REUSE_SECONDS <= args.kms_data_key_reuse_seconds <= MAX_DATA_KEY_REUSE_SECONDS:
        raise ValueError(
            f"ExportQueue {name}: kms_data_key_reuse_seconds={args.kms_data_key_reuse_seconds}; SQS "
            f"accepts {MIN_DATA_KEY_REUSE_SECONDS} to {MAX_DATA_KEY_REUSE_SECONDS}"
        )


def queue_tls_policy(queue_arn: str) -> dict[str, Any]:
    """Queue policy: no request without TLS. Nothing is allowed here: who may send and receive
    is the roles' IAM policies' decision (``sender_statements`` / ``worker_statements``)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def redrive_policy(dlq_arn: str, max_receive_count: int) -> dict[str, Any]:
    """The source queue's redrive policy; maxReceiveCount must be a number, not a string
    (pulumi_aws sqs.Queue, redrive_policy)."""
    return {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}


def redrive_allow_policy(source_queue_arn: str) -> dict[str, Any]:
    """The dead-letter queue accepts dead letters from the exports queue only."""
    return {"redrivePermission": "byQueue", "sourceQueueArns": [source_queue_arn]}


class ExportQueue(pulumi.ComponentResource):
    """``notes-<env>-exports`` and its dead-letter queue ``notes-<env>-exports-dlq``."""

    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    dlq_name: pulumi.Output[str]

    def __init__(self, name: str, args: ExportQueueArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_queue_args(name, args)
        super().__init__("notes:infra:ExportQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"notes-{args.environment}-exports"
        encryption = {
            "kms_master_key_id": args.kms_key_arn,
            "kms_data_key_reuse_period_seconds": args.kms_data_key_reuse_seconds,
        }
        # The dead-letter queue first: the queue's redrive policy names it. Its redrive allow
        # policy names the queue back, so it is a resource of its own after both (as the
        # pulumi_aws sqs.RedriveAllowPolicy example does); inline, the two queues would wait
        # for each other.
        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{prefix}-dlq",
            message_retention_seconds=args.dlq_message_retention_seconds,
            receive_wait_time_seconds=args.receive_wait_time_seconds,
            **encryption,
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            name=prefix,
            visibility_timeout_seconds=args.visibility_timeout_seconds,
            message_retention_seconds=args.message_retention_seconds,
            receive_wait_time_seconds=args.receive_wait_time_seconds,
            # Inline, so that the queue never exists without its dead-letter queue (pulumi_aws
            # prefers sqs.RedrivePolicy, whose own docstring gives it for the case where the
            # dead-letter queue cannot exist first; here it can).
            redrive_policy=self.dlq.arn.apply(
                lambda arn: json.dumps(redrive_policy(arn, args.max_receive_count))
            ),
            **encryption,
            opts=child,
        )
        # A queue's id is its URL (terraform-provider-aws internal/service/sqs/queue.go: the
        # create sets the id to CreateQueue's QueueUrl); the policies take it as queue_url.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dlq.id,
            redrive_allow_policy=self.queue.arn.apply(lambda arn: json.dumps(redrive_allow_policy(arn))),
            opts=child,
        )
        for role, queue in (("queue", self.queue), ("dlq", self.dlq)):
            aws.sqs.QueuePolicy(
                f"{name}-{role}-policy",
                queue_url=queue.id,
                policy=queue.arn.apply(lambda arn: json.dumps(queue_tls_policy(arn))),
                opts=child,
            )
        self.queue_url = self.queue.id
        self.queue_arn = self.queue.arn
        self.queue_name = self.queue.name
        self.dlq_url = self.dlq.id
        self.dlq_arn = self.dlq.arn
        self.dlq_name = self.dlq.name
        self.register_outputs(
            {
                "queueUrl": self.queue_url,
                "queueArn": self.queue_arn,
                "queueName": self.queue_name,
                "dlqUrl": self.dlq_url,
                "dlqArn": self.dlq_arn,
                "dlqName": self.dlq_name,
            }
        )
