"""Queue policies: SQS queues under a customer-managed key; every queue that is not a dead-letter
queue itself redrives to one of this stack after a bounded number of receives, and that one keeps
messages longer; and every queue has an alarm."""

from __future__ import annotations

import json

import pytest
from pulumi_policy import Policy

from notes_platform.checks.policy_pack import evaluate, render
from policies.notes_policies import data, observability, queues
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    Resource,
    StackMutation,
    applied,
    check_stack,
    happy_path_test,
    mutation_test,
    named,
    on,
    removing,
    setting,
    stack_mutation_test,
    together,
    undepending,
    without,
)

QUEUE, DLQ = f.EXPORTS_QUEUE_URN, f.EXPORTS_DLQ_URN
CUSTOMER_KEY = "SQS queues must be encrypted with a customer-managed KMS key (kmsMasterKeyId)."
NO_REDRIVE = "SQS queues must move failing messages to a dead-letter queue (redrivePolicy)."
RECEIVES = "SQS queues must give up on a message after 1 to 10 receives (maxReceiveCount)."
OUTSIDE = "SQS queues must name a dead-letter queue of this stack in their redrive policy."
RETENTION = (
    "SQS dead-letter queues must keep messages longer than their source queue (messageRetentionSeconds)."
)


def redrive(arn: str, count: object) -> str:
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})


MOCK_DLQ_ARN = f"arn:aws:sqs:eu-west-1:{f.ACCOUNT}:queue/prod-exports-dlq-650d8b14"
# A queue's real ARN ends with its name (arn:aws:sqs:region:account:name).
DLQ_ARN = f"arn:aws:sqs:eu-west-1:{f.ACCOUNT}:notes-prod-exports-dlq"
ELSEWHERE_ARN = "arn:aws:sqs:eu-west-1:210987654321:someone-elses-dlq"

HAPPY: Happy = [
    (queues.sqs_queue_encrypted, f.exports_queue),
    (queues.sqs_queue_encrypted, f.exports_dlq),
]

MUTATIONS = [
    Mutation(
        queues.sqs_queue_encrypted, f.exports_queue, removing("kmsMasterKeyId"), CUSTOMER_KEY, "unencrypted"
    ),
    Mutation(
        queues.sqs_queue_encrypted,
        f.exports_queue,
        together(removing("kmsMasterKeyId"), setting("sqsManagedSseEnabled", True)),
        CUSTOMER_KEY,
        "SSE-SQS, keys SQS owns",
    ),
    Mutation(
        queues.sqs_queue_encrypted,
        f.exports_dlq,
        setting("kmsMasterKeyId", "alias/aws/sqs"),
        CUSTOMER_KEY,
        "the AWS managed key",
    ),
]

STACK_MUTATIONS = [
    StackMutation(
        queues.sqs_dead_letter_queue,
        on("prod-exports-queue", removing("redrivePolicy"), undepending(DLQ)),
        # Nothing redrives to the dead-letter queue any more either: it is one more queue
        # without a redrive policy until the queue's is back.
        [(NO_REDRIVE, QUEUE), (NO_REDRIVE, DLQ)],
        "no redrive policy",
    ),
    StackMutation(
        queues.sqs_dead_letter_queue,
        on("prod-exports-queue", setting("redrivePolicy", redrive(MOCK_DLQ_ARN, 0))),
        [(RECEIVES, QUEUE)],
        "zero receives",
    ),
    StackMutation(
        queues.sqs_dead_letter_queue,
        on("prod-exports-queue", setting("redrivePolicy", redrive(MOCK_DLQ_ARN, 50))),
        [(RECEIVES, QUEUE)],
        "fifty receives",
    ),
    StackMutation(
        queues.sqs_dead_letter_queue,
        on("prod-exports-queue", setting("redrivePolicy", redrive(ELSEWHERE_ARN, 5)), undepending(DLQ)),
        # The stack's dead-letter queue receives nothing now, so it is reported as well.
        [(OUTSIDE, QUEUE), (NO_REDRIVE, DLQ)],
        "a dead-letter queue outside the stack",
    ),
    StackMutation(
        queues.sqs_dead_letter_retention,
        on("prod-exports-dlq", setting("messageRetentionSeconds", 345_600)),
        [(RETENTION, DLQ)],
        "as long as the queue",
    ),
    StackMutation(
        queues.sqs_dead_letter_retention,
        on("prod-exports-dlq", removing("messageRetentionSeconds")),
        [(RETENTION, DLQ)],
        "SQS's four-day default, as the queue's",
    ),
    StackMutation(
        observability.critical_resources_alarmed,
        without("prod-alarm-exports-dlq"),
        [("SQS queues must have at least one CloudWatch alarm.", DLQ)],
        "the dead-letter queue",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph_with_exports)


@pytest.mark.parametrize(
    "policy",
    [
        queues.sqs_dead_letter_queue,
        queues.sqs_dead_letter_retention,
        observability.critical_resources_alarmed,
        data.s3_bucket_customer_key,
        data.s3_bucket_public_access_blocked,
        data.s3_bucket_tls_only,
        data.s3_bucket_encrypted,
        data.stateful_resources_protected,
    ],
    ids=lambda p: p.name,
)
def test_the_prod_graph_with_exports_passes(policy: Policy) -> None:
    # GIVEN prod with the exports' queues and bucket as infra/exports makes them
    # WHEN each stack rule about them runs THEN nothing is reported
    assert check_stack(policy, f.prod_graph_with_exports()) == []


def test_the_whole_pack_finds_nothing_in_prod_with_exports() -> None:
    violations = evaluate(f.prod_graph_with_exports(), "prod")
    assert violations == [], render(violations)


def test_the_maximum_receive_count_is_configurable() -> None:
    # GIVEN the queue's five receives WHEN a stack allows three THEN the message names three
    found = check_stack(queues.sqs_dead_letter_queue, f.prod_graph_with_exports(), {"maximumReceiveCount": 3})
    assert found == [("SQS queues must give up on a message after 1 to 3 receives (maxReceiveCount).", QUEUE)]


def _graph_with_queue(change: dict[str, object]) -> list[Resource]:
    graph = f.prod_graph_with_exports()
    queue = named(graph, "prod-exports-queue")
    queue.update(change)
    return graph


def test_the_engines_property_dependencies_find_the_dead_letter_queue() -> None:
    # GIVEN the engine's per-property record and no bare dependency: exact, whatever the ARN says
    graph = _graph_with_queue({"dependencies": [], "propertyDependencies": {"redrivePolicy": [DLQ]}})
    assert check_stack(queues.sqs_dead_letter_queue, graph) == []
    assert check_stack(queues.sqs_dead_letter_retention, graph) == []
    # ... and WHEN the record says the policy came from elsewhere, a bare dependency does not count
    graph = _graph_with_queue(
        {"dependencies": [DLQ], "propertyDependencies": {"redrivePolicy": [f.kms_key()["urn"]]}}
    )
    assert sorted(check_stack(queues.sqs_dead_letter_queue, graph)) == [(NO_REDRIVE, DLQ), (OUTSIDE, QUEUE)]


def test_a_dead_letter_queue_typed_in_by_its_arn_is_found_by_name() -> None:
    # GIVEN the real ARN of the stack's dead-letter queue written into the policy, no dependency
    queue = applied(f.exports_queue(), setting("redrivePolicy", redrive(DLQ_ARN, "5")), undepending(DLQ))
    graph = [r for r in f.prod_graph_with_exports() if r["name"] != "prod-exports-queue"] + [queue]
    # THEN it is the stack's (and a count given as a string still counts)
    assert check_stack(queues.sqs_dead_letter_queue, graph) == []


def test_a_queue_that_says_whom_it_takes_dead_letters_from_needs_no_dead_letter_queue() -> None:
    # GIVEN the dead-letter queue alone, declaring its sources (redriveAllowPolicy) THEN it passes
    dlq = applied(
        f.exports_dlq(),
        setting("redriveAllowPolicy", json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["x"]})),
    )
    assert check_stack(queues.sqs_dead_letter_queue, [dlq]) == []
    # AND without the declaration nothing marks it as one
    assert check_stack(queues.sqs_dead_letter_queue, [f.exports_dlq()]) == [(NO_REDRIVE, DLQ)]


def test_a_fifo_queue_may_keep_dead_letters_as_long_as_itself() -> None:
    # GIVEN FIFO queues, whose messages get a new enqueue time in the dead-letter queue
    graph = f.prod_graph_with_exports()
    for name in ("prod-exports-queue", "prod-exports-dlq"):
        named(graph, name)["inputs"].update(fifoQueue=True, messageRetentionSeconds=345_600)
    assert check_stack(queues.sqs_dead_letter_retention, graph) == []
