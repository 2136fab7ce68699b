"""Queues: SQS queues encrypted under our own key, and every queue that is not a dead-letter
queue itself hands messages that keep failing to one of this stack, which keeps them longer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    customer_key,
    document,
    is_true,
    mapping,
    number,
    of_type,
    references,
    resource_rule,
    stack_rule,
    text,
)

# SQS's own defaults and limits (SQS API Reference, CreateQueue / SetQueueAttributes:
# MessageRetentionPeriod defaults to 345,600 s; RedrivePolicy's maxReceiveCount is 1 to 1,000).
DEFAULT_RETENTION_SECONDS = 345_600
MAX_RECEIVE_COUNT = 1_000


@resource_rule(
    "sqs-queue-encrypted",
    "SQS queues are encrypted with a customer-managed KMS key: its key policy decides who can read "
    "the messages and CloudTrail records every use, which SQS-owned keys (SSE-SQS) and the AWS "
    "managed alias/aws/sqs key do not offer.",
    types={t.SQS_QUEUE},
)
def sqs_queue_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    # sqsManagedSseEnabled (SSE-SQS) encrypts with keys SQS owns: nothing of ours to revoke and
    # no record of their use; the AWS managed key's policy cannot be edited ("Encryption at rest
    # in Amazon SQS", SQS Developer Guide). kmsMasterKeyId is the pulumi_aws sqs.Queue property
    # (kms_master_key_id) that selects SSE-KMS.
    if not customer_key(args.props.get("kmsMasterKeyId"), "alias/aws/sqs"):
        report("SQS queues must be encrypted with a customer-managed KMS key (kmsMasterKeyId).", None)


@dataclass(frozen=True)
class Redrive:
    """A queue's redrive policy: how often a message may be received, and where it goes then."""

    source: PolicyResource
    max_receive_count: float
    # The dead-letter queue of this stack the policy names; None: one the stack does not hold.
    target: PolicyResource | None


def _names_queue(queue: PolicyResource) -> Callable[[Any], bool]:
    """Whether a redrive policy's value names ``queue`` by its ARN (arn:aws:sqs:region:account:name)."""
    name = text(queue.props.get("name"))

    def matches(value: Any) -> bool:
        arn = text(mapping(document(value)).get("deadLetterTargetArn"))
        return bool(name) and arn.startswith("arn:") and arn.rsplit(":", 1)[-1] == name

    return matches


def redrives(args: StackValidationArgs) -> list[Redrive]:
    """The redrive policies of the stack's queues, each with the queue of this stack it names.

    Only the queue's own ``redrivePolicy`` is read, not a separate sqs.RedrivePolicy resource:
    the program sets it inline (infra/exports/queue.py says why). The target is found through
    ``references``: the engine's per-property record, else the queue's dependency on another
    queue (a source queue reaches a queue only through this property), else the ARN's name.
    """
    queues = of_type(args, t.SQS_QUEUE)
    found = []
    for queue in queues:
        raw = queue.props.get("redrivePolicy")
        if not text(raw) and not isinstance(raw, Mapping):
            continue
        policy = mapping(document(raw))
        targets = [
            q for q in queues if q.urn != queue.urn and references(queue, "redrivePolicy", q, _names_queue(q))
        ]
        found.append(
            Redrive(queue, number(policy.get("maxReceiveCount"), 0), targets[0] if targets else None)
        )
    return found


def is_dead_letter_queue(queue: PolicyResource, stack_redrives: list[Redrive]) -> bool:
    """A queue another queue of the stack redrives to, or one that says whom it accepts dead
    letters from (its own redriveAllowPolicy)."""
    declared = mapping(document(queue.props.get("redriveAllowPolicy"))).get("redrivePermission")
    return any(r.target is not None and r.target.urn == queue.urn for r in stack_redrives) or bool(declared)


@stack_rule(
    "sqs-dead-letter-queue",
    "Every SQS queue that is not a dead-letter queue itself moves a message that keeps failing to a "
    "dead-letter queue of this stack, after a bounded number of receives.",
    config={
        "maximumReceiveCount": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_RECEIVE_COUNT,
            "default": 10,
            "description": "most receives of one message before it must move to the dead-letter queue",
        }
    },
)
def sqs_dead_letter_queue(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    maximum = settings.integer("maximumReceiveCount")
    stack_redrives = redrives(args)
    by_source = {r.source.urn: r for r in stack_redrives}
    for queue in of_type(args, t.SQS_QUEUE):
        redrive = by_source.get(queue.urn)
        if redrive is None:
            # Without one, a message that always fails is received again until it expires:
            # a worker busy with it for days, and nobody told.
            if not is_dead_letter_queue(queue, stack_redrives):
                report(
                    "SQS queues must move failing messages to a dead-letter queue (redrivePolicy).", queue.urn
                )
            continue
        if not 1 <= redrive.max_receive_count <= maximum:
            report(
                f"SQS queues must give up on a message after 1 to {maximum} receives (maxReceiveCount).",
                queue.urn,
            )
        if redrive.target is None:
            # A dead-letter queue outside the stack: nobody here alarms on it or keeps it.
            report(
                "SQS queues must name a dead-letter queue of this stack in their redrive policy.", queue.urn
            )


@stack_rule(
    "sqs-dead-letter-retention",
    "A standard queue's dead-letter queue keeps messages longer than the queue itself: a message keeps "
    "its first enqueue time when it is moved, so an equal retention can delete it on arrival.",
)
def sqs_dead_letter_retention(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    # "Setting-up dead-letter queue retention in Amazon SQS" (SQS Developer Guide): for standard
    # queues expiry counts from the original enqueue timestamp; FIFO queues reset it on the move.
    for redrive in redrives(args):
        if redrive.target is None or is_true(redrive.source.props.get("fifoQueue")):
            continue
        source = number(redrive.source.props.get("messageRetentionSeconds"), DEFAULT_RETENTION_SECONDS)
        kept = number(redrive.target.props.get("messageRetentionSeconds"), DEFAULT_RETENTION_SECONDS)
        if kept <= source:
            report(
                "SQS dead-letter queues must keep messages longer than their source queue "
                "(messageRetentionSeconds).",
                redrive.target.urn,
            )


POLICIES: list[Policy] = [sqs_queue_encrypted, sqs_dead_letter_queue, sqs_dead_letter_retention]
