"""Exports under mocks: the queue and its dead-letter queue (SSE-KMS, redrive both ways, long
polling, TLS-only), the exports bucket (SSE-KMS with a bucket key, private, unversioned,
expiring, TLS-only, access logs when asked), and the roles' statements."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from infra.exports import (
    ExportBucket,
    ExportBucketArgs,
    ExportQueue,
    ExportQueueArgs,
    access_log_delivery_statement,
    export_bucket_policy,
    sender_statements,
    worker_statements,
)
from notes_platform.checks import apimodels, replacement
from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.checks.policy_pack import evaluate
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from policies.notes_policies.data import (
    s3_bucket_encrypted,
    s3_bucket_public_access_blocked,
    s3_bucket_tls_only,
)
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    S3_BUCKET,
    S3_BUCKET_POLICY,
    S3_ENCRYPTION,
    S3_LIFECYCLE,
    S3_LOGGING,
    S3_OWNERSHIP_CONTROLS,
    S3_PUBLIC_ACCESS_BLOCK,
    S3_VERSIONING,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
    SQS_REDRIVE_ALLOW_POLICY,
)

KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/exports"
QUEUE = "staging-exports"
BUCKET = "staging-exports"
LOG_BUCKET = "notes-staging-alb-logs-0123"


def queue_args(**overrides: Any) -> ExportQueueArgs:
    values: dict[str, Any] = {"environment": "staging", "kms_key_arn": KEY, "job_timeout_seconds": 600}
    return ExportQueueArgs(**{**values, **overrides})


def bucket_args(**overrides: Any) -> ExportBucketArgs:
    values: dict[str, Any] = {"environment": "staging", "kms_key_arn": KEY}
    return ExportBucketArgs(**{**values, **overrides})


def build_queue(component_args: ExportQueueArgs) -> Graph:
    def program() -> Any:
        queue = ExportQueue(QUEUE, component_args)
        return {
            "queue": [queue.queue_url, queue.queue_arn, queue.queue_name],
            "dlq": [queue.dlq_url, queue.dlq_arn, queue.dlq_name],
        }

    return run(program)


def build_bucket(component_args: ExportBucketArgs) -> Graph:
    def program() -> Any:
        bucket = ExportBucket(BUCKET, component_args)
        return [bucket.bucket_name, bucket.bucket_arn, bucket.objects_arn]

    return run(program)


@pytest.fixture(scope="module")
def queues() -> Graph:
    return build_queue(queue_args())


@pytest.fixture(scope="module")
def bucket() -> Graph:
    return build_bucket(bucket_args(access_log_bucket=LOG_BUCKET))


def _queue(graph: Graph, role: str) -> Recorded:
    return graph.one(SQS_QUEUE, f"{QUEUE}-{role}")


def _document(resource: Recorded, prop: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(resource.inputs[prop])
    return value


# --- the queue and its dead-letter queue ----------------------------------------------------------


def test_both_queues_are_named_for_the_environment_and_encrypted_with_the_exports_key(queues: Graph) -> None:
    # GIVEN ExportQueue for staging / WHEN built
    queue, dlq = _queue(queues, "queue"), _queue(queues, "dlq")
    # THEN notes-staging-exports and its -dlq, both SSE-KMS with the key and a data-key reuse period
    assert queue.inputs["name"] == "notes-staging-exports", queue.urn
    assert dlq.inputs["name"] == "notes-staging-exports-dlq", dlq.urn
    for resource in (queue, dlq):
        assert resource.inputs["kmsMasterKeyId"] == KEY, resource.urn
        assert resource.inputs["kmsDataKeyReusePeriodSeconds"] == 300, resource.urn
        assert "sqsManagedSseEnabled" not in resource.inputs, resource.urn
        # A FIFO flag would be a replacing input beside a fixed name (replacement.py).
        assert "fifoQueue" not in resource.inputs, resource.urn


def test_the_queue_redrives_to_the_dead_letter_queue_after_max_receives(queues: Graph) -> None:
    # GIVEN the default max_receive_count / WHEN built
    queue, dlq = _queue(queues, "queue"), _queue(queues, "dlq")
    _, dlq_arn, _ = queues.result["dlq"]
    # THEN the queue's redrive policy names the dead-letter queue and 5, as a number
    assert _document(queue, "redrivePolicy") == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    assert dlq.urn in queue.property_dependencies["redrivePolicy"], queue.urn
    # AND the dead-letter queue redrives nowhere itself
    assert "redrivePolicy" not in dlq.inputs, dlq.urn


def test_the_dead_letter_queue_accepts_dead_letters_from_the_exports_queue_only(queues: Graph) -> None:
    # GIVEN ExportQueue / WHEN built
    allow = queues.one(SQS_REDRIVE_ALLOW_POLICY)
    dlq_url, _, _ = queues.result["dlq"]
    _, queue_arn, _ = queues.result["queue"]
    # THEN a redrive allow policy of its own, on the dead-letter queue, names the queue byQueue
    assert allow.inputs["queueUrl"] == dlq_url, allow.urn
    assert _document(allow, "redriveAllowPolicy") == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [queue_arn],
    }
    # AND not inline: the dead-letter queue's own inputs would wait on the queue that waits on it
    assert "redriveAllowPolicy" not in _queue(queues, "dlq").inputs


def test_visibility_retention_and_long_polling(queues: Graph) -> None:
    # GIVEN the defaults / WHEN built
    queue, dlq = _queue(queues, "queue"), _queue(queues, "dlq")
    # THEN the visibility timeout outlasts the 600-second job; the queue keeps 4 days, the DLQ 14
    assert queue.inputs["visibilityTimeoutSeconds"] == 900, queue.urn
    assert queue.inputs["messageRetentionSeconds"] == 4 * 86_400, queue.urn
    assert dlq.inputs["messageRetentionSeconds"] == 14 * 86_400, dlq.urn
    # AND a receive waits up to 20 s for a message on both
    assert queue.inputs["receiveWaitTimeSeconds"] == 20, queue.urn
    assert dlq.inputs["receiveWaitTimeSeconds"] == 20, dlq.urn


def test_the_args_reach_the_queue() -> None:
    # GIVEN a longer job, more receives and another data key period / WHEN built
    graph = build_queue(
        queue_args(
            job_timeout_seconds=1800,
            visibility_timeout_seconds=2400,
            max_receive_count=3,
            message_retention_seconds=86_400,
            dlq_message_retention_seconds=7 * 86_400,
            kms_data_key_reuse_seconds=3600,
        )
    )
    queue, dlq = _queue(graph, "queue"), _queue(graph, "dlq")
    # THEN each lands on its attribute
    assert queue.inputs["visibilityTimeoutSeconds"] == 2400
    assert _document(queue, "redrivePolicy")["maxReceiveCount"] == 3
    assert queue.inputs["messageRetentionSeconds"] == 86_400
    assert dlq.inputs["messageRetentionSeconds"] == 7 * 86_400
    reuse = {queue.inputs["kmsDataKeyReusePeriodSeconds"], dlq.inputs["kmsDataKeyReusePeriodSeconds"]}
    assert reuse == {3600}


def test_each_queue_refuses_requests_without_tls(queues: Graph) -> None:
    # GIVEN ExportQueue / WHEN built / THEN each queue has a policy that denies plain HTTP, on itself
    policies = {r.inputs["queueUrl"]: r for r in queues.of_type(SQS_QUEUE_POLICY)}
    for role in ("queue", "dlq"):
        url, arn, _ = queues.result[role]
        policy = policies[url]
        assert _document(policy, "policy") == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyWithoutTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }, policy.urn


def test_the_outputs_are_the_queues_url_arn_and_name(queues: Graph) -> None:
    # GIVEN ExportQueue / WHEN its outputs resolve / THEN they are each queue's id (the URL), ARN, name
    for role in ("queue", "dlq"):
        url, arn, name = queues.result[role]
        # SQS's id is the queue URL (terraform-provider-aws sets d.SetId(url)), ending in its name.
        assert url == f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}", url
        assert arn.startswith("arn:aws:sqs:eu-west-1:"), arn
        assert name == {"queue": "notes-staging-exports", "dlq": "notes-staging-exports-dlq"}[role]


def test_the_queues_are_children_of_the_component(queues: Graph) -> None:
    # GIVEN ExportQueue / WHEN built / THEN one notes:infra:ExportQueue parents its five resources
    component = queues.one("notes:infra:ExportQueue", QUEUE)
    children = queues.children_of(component.urn)
    assert sorted(c.type for c in children) == sorted(
        [SQS_QUEUE, SQS_QUEUE, SQS_QUEUE_POLICY, SQS_QUEUE_POLICY, SQS_REDRIVE_ALLOW_POLICY]
    ), [c.urn for c in children]
    urns = [r.urn for r in queues.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"visibility_timeout_seconds": 600},
            r"visibility_timeout_seconds=600 must be more than job_timeout",
        ),
        (
            {"job_timeout_seconds": 1200},
            r"visibility_timeout_seconds=900 must be more than job_timeout_seconds=1200",
        ),
        ({"visibility_timeout_seconds": 43_201}, r"at most 43200"),
        ({"job_timeout_seconds": 0}, r"job_timeout_seconds=0; give at least 1"),
        ({"max_receive_count": 0}, r"max_receive_count=0; SQS accepts 1 to 1000"),
        ({"max_receive_count": 1001}, r"max_receive_count=1001"),
        ({"message_retention_seconds": 59}, r"message_retention_seconds=59; SQS keeps messages 60"),
        ({"dlq_message_retention_seconds": 1_209_601}, r"dlq_message_retention_seconds=1209601"),
        ({"dlq_message_retention_seconds": 345_600}, r"must be more than message_retention_seconds=345600"),
        ({"receive_wait_time_seconds": 21}, r"receive_wait_time_seconds=21; SQS accepts 0 to 20"),
        ({"kms_data_key_reuse_seconds": 59}, r"kms_data_key_reuse_seconds=59; SQS accepts 60 to 86400"),
    ],
)
def test_impossible_queue_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args SQS would refuse, or that would hand one job to two workers or lose dead letters
    # WHEN ExportQueue is built / THEN ValueError names the field and what to change
    with pytest.raises(ValueError, match=message):
        run(lambda: ExportQueue(QUEUE, queue_args(**overrides)))


# --- the bucket -----------------------------------------------------------------------------------


def _children(graph: Graph, type_token: str) -> list[Recorded]:
    return graph.of_type(type_token)


def test_the_bucket_is_named_from_a_prefix_and_survives_a_destroy_with_exports_in_it(bucket: Graph) -> None:
    # GIVEN ExportBucket for staging / WHEN built
    resource = bucket.one(S3_BUCKET)
    # THEN S3 appends a unique suffix to notes-staging-exports- (bucket names are global)
    assert resource.inputs["bucketPrefix"] == "notes-staging-exports-", resource.urn
    assert "bucket" not in resource.inputs, resource.urn
    assert resource.inputs["forceDestroy"] is False, resource.urn
    assert resource.protect is False, resource.urn
    # AND prod can protect it
    protected = build_bucket(bucket_args(protect=True)).one(S3_BUCKET)
    assert protected.protect is True, protected.urn


def test_the_bucket_encrypts_with_the_exports_key_and_a_bucket_key_and_blocks_sse_c(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN built / THEN default encryption is SSE-KMS with the key, bucket key on
    encryption = bucket.one(S3_ENCRYPTION)
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}
    assert rule["bucketKeyEnabled"] is True, encryption.urn
    assert rule["blockedEncryptionTypes"] == ["SSE-C"], encryption.urn


def test_the_bucket_is_not_versioned(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN built / THEN no versioning configuration exists (S3's default: off)
    assert bucket.of_type(S3_VERSIONING) == [], [r.urn for r in bucket.of_type(S3_VERSIONING)]


def test_the_bucket_is_private_with_acls_disabled(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN built / THEN all four public access switches, and bucket-owner objects
    block = bucket.one(S3_PUBLIC_ACCESS_BLOCK)
    switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block.inputs[s] is True for s in switches), block.inputs
    ownership = bucket.one(S3_OWNERSHIP_CONTROLS)
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}, ownership.urn


def test_the_bucket_policy_refuses_plain_http_and_other_encryption(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN built
    policy = bucket.one(S3_BUCKET_POLICY)
    _, arn, _ = bucket.result
    # THEN the policy is the pure function's document for this bucket and key
    assert _document(policy, "policy") == export_bucket_policy(bucket_arn=arn, kms_key_arn=KEY)
    # AND it waits for the public access block, the ownership and the encryption
    waits_for = {
        bucket.named(n).urn for n in (f"{BUCKET}-bucket-public-access", f"{BUCKET}-bucket-ownership")
    }
    waits_for.add(bucket.one(S3_ENCRYPTION).urn)
    assert waits_for <= set(policy.dependencies), policy.dependencies


def test_the_bucket_policy_statements() -> None:
    # GIVEN a bucket and a key / WHEN the policy is written
    arn = "arn:aws:s3:::notes-staging-exports-x"
    statements = {s["Sid"]: s for s in export_bucket_policy(bucket_arn=arn, kms_key_arn=KEY)["Statement"]}
    # THEN every request without TLS is denied, on the bucket and its objects
    tls = statements["DenyWithoutTls"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "s3:*")
    assert tls["Resource"] == [arn, f"{arn}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # AND a put naming another algorithm or another key is denied, only when it names one: each
    # deny carries a Null guard on the header it compares, so UploadPart and uploads relying on
    # the default encryption pass
    for sid, header, allowed in (
        ("DenyOtherEncryption", "s3:x-amz-server-side-encryption", "aws:kms"),
        ("DenyOtherKey", "s3:x-amz-server-side-encryption-aws-kms-key-id", KEY),
    ):
        statement = statements[sid]
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == (
            "Deny",
            "s3:PutObject",
            f"{arn}/*",
        ), sid
        assert statement["Condition"] == {"StringNotEquals": {header: allowed}, "Null": {header: "false"}}, (
            sid
        )
    assert not [s for s in statements.values() if s["Effect"] == "Allow"], "the bucket policy allows nothing"


def test_exports_expire_after_the_retention_and_incomplete_uploads_after_a_day(bucket: Graph) -> None:
    # GIVEN the default 7 days / WHEN built
    rules = {r["id"]: r for r in bucket.one(S3_LIFECYCLE).inputs["rules"]}
    # THEN objects under exports/ expire after 7 days
    assert rules["expire-exports"] == {
        "id": "expire-exports",
        "status": "Enabled",
        "filter": {"prefix": "exports/"},
        "expiration": {"days": 7},
    }
    # AND any multipart upload left incomplete is aborted after a day, anywhere in the bucket
    assert rules["abort-incomplete-uploads"] == {
        "id": "abort-incomplete-uploads",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1},
    }
    # AND another retention and prefix reach the rule
    other = build_bucket(bucket_args(retention_days=3, prefix="out/exports/"))
    expire = next(r for r in other.one(S3_LIFECYCLE).inputs["rules"] if r["id"] == "expire-exports")
    assert (expire["filter"], expire["expiration"]) == ({"prefix": "out/exports/"}, {"days": 3})
    assert other.result[2].endswith("/out/exports/*"), other.result


def test_access_logs_go_where_the_stack_says_or_nowhere(bucket: Graph) -> None:
    # GIVEN a target bucket / WHEN built / THEN server access logs go there under the prefix
    logging = bucket.one(S3_LOGGING)
    name, _, _ = bucket.result
    assert logging.inputs == {"bucket": name, "targetBucket": LOG_BUCKET, "targetPrefix": "s3/exports/"}
    # AND without one there is no logging configuration
    assert build_bucket(bucket_args()).of_type(S3_LOGGING) == []


def test_the_access_log_bucket_admits_s3_logging_of_this_bucket_only() -> None:
    # GIVEN the ALB log bucket and the exports bucket / WHEN the delivery statement is written
    statement = access_log_delivery_statement(
        target_bucket_arn=f"arn:aws:s3:::{LOG_BUCKET}",
        target_prefix="s3/exports/",
        source_bucket_arn="arn:aws:s3:::notes-staging-exports-x",
        account_id=ACCOUNT_ID,
    )
    # THEN S3's logging service may put objects under the prefix, for this source bucket and account
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert (statement["Effect"], statement["Action"]) == ("Allow", "s3:PutObject")
    assert statement["Resource"] == f"arn:aws:s3:::{LOG_BUCKET}/s3/exports/*"
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::notes-staging-exports-x"},
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
    }


def test_the_outputs_are_the_bucket_name_arn_and_the_exports_arn(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN its outputs resolve / THEN objects_arn covers the exports prefix only
    name, arn, objects = bucket.result
    assert name.startswith("notes-staging-exports-"), name
    assert arn == f"arn:aws:s3:::{name}"
    assert objects == f"arn:aws:s3:::{name}/exports/*"


def test_the_bucket_resources_are_children_of_the_component(bucket: Graph) -> None:
    # GIVEN ExportBucket / WHEN built / THEN one notes:infra:ExportBucket parents all seven
    component = bucket.one("notes:infra:ExportBucket", BUCKET)
    children = bucket.children_of(component.urn)
    assert sorted(c.type for c in children) == sorted(
        [
            S3_BUCKET,
            S3_PUBLIC_ACCESS_BLOCK,
            S3_OWNERSHIP_CONTROLS,
            S3_ENCRYPTION,
            S3_LIFECYCLE,
            S3_LOGGING,
            S3_BUCKET_POLICY,
        ]
    ), [c.urn for c in children]


def test_the_bucket_passes_the_packs_s3_rules(bucket: Graph) -> None:
    # GIVEN the bucket's resources / WHEN the policy pack's S3 rules judge them / THEN none objects
    rules = [s3_bucket_encrypted, s3_bucket_public_access_blocked, s3_bucket_tls_only]
    violations = evaluate(bucket.resources, "test", policies=rules)
    assert violations == [], violations


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"retention_days": 0}, r"retention_days=0; .* give at least 1"),
        ({"prefix": "exports"}, r"prefix='exports'; give a key prefix such as 'exports/'"),
        ({"prefix": "/exports/"}, r"prefix='/exports/'"),
        ({"prefix": "exp orts/"}, r"prefix='exp orts/'"),
        ({"access_log_prefix": "logs"}, r"access_log_prefix='logs'"),
    ],
)
def test_impossible_bucket_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN a retention S3 refuses or a prefix the lifecycle rule and statements cannot use
    # WHEN ExportBucket is built / THEN ValueError names the field
    with pytest.raises(ValueError, match=message):
        run(lambda: ExportBucket(BUCKET, bucket_args(**overrides)))


# --- both, against the offline checks -------------------------------------------------------------


def test_the_resources_pass_the_api_model_and_replacement_checks(queues: Graph, bucket: Graph) -> None:
    # GIVEN the queues and the bucket / WHEN the AWS API model and fixed-name checks read them
    resources = [*queues.resources, *bucket.resources]
    # THEN the policies are valid resource policies, and no fixed name collides with a replacement
    assert apimodels.check(resources) == [], apimodels.render(apimodels.check(resources))
    assert replacement.check(resources) == []
    # AND every new custom type is in the table of replacing inputs, S3 settings beyond the logging too
    new_types = {SQS_QUEUE, SQS_QUEUE_POLICY, SQS_REDRIVE_ALLOW_POLICY, S3_LOGGING}
    assert new_types <= set(FORCE_NEW), sorted(new_types - set(FORCE_NEW))


def test_a_replacing_input_beside_the_fixed_queue_name_is_found(queues: Graph) -> None:
    # GIVEN the queue with a FIFO flag planted beside its fixed name
    queue = _queue(queues, "queue")
    planted = dataclasses.replace(queue, inputs={**queue.inputs, "fifoQueue": False})
    # WHEN the replacement check reads it / THEN it names the queue and fifoQueue
    [finding] = replacement.check([planted])
    assert finding.urn == queue.urn
    assert "fifoQueue force a replacement" in finding.message


# --- the roles' statements ------------------------------------------------------------------------

QUEUE_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT_ID}:notes-staging-exports"
BUCKET_ARN = "arn:aws:s3:::notes-staging-exports-x"


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, tuple[str, list[str], str]]:
    return {s["Sid"]: (s["Effect"], s["Action"], s["Resource"]) for s in statements}


def test_the_api_may_send_jobs_read_exports_and_use_the_key() -> None:
    # GIVEN the queue, bucket and key ARNs / WHEN the API's statements are written / THEN exactly these
    assert _by_sid(sender_statements(QUEUE_ARN, BUCKET_ARN, KEY)) == {
        "SendExportJobs": ("Allow", ["sqs:SendMessage"], QUEUE_ARN),
        "ReadExportsForPresignedUrls": ("Allow", ["s3:GetObject"], f"{BUCKET_ARN}/exports/*"),
        "UseExportsKey": ("Allow", ["kms:Decrypt", "kms:GenerateDataKey"], KEY),
    }


def test_the_worker_may_consume_jobs_write_exports_and_use_the_key() -> None:
    # GIVEN the queue, bucket and key ARNs / WHEN the worker's statements are written / THEN exactly these
    assert _by_sid(worker_statements(QUEUE_ARN, BUCKET_ARN, KEY)) == {
        "ConsumeExportJobs": (
            "Allow",
            ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"],
            QUEUE_ARN,
        ),
        "WriteExports": ("Allow", ["s3:AbortMultipartUpload", "s3:PutObject"], f"{BUCKET_ARN}/exports/*"),
        "UseExportsKey": ("Allow", ["kms:Decrypt", "kms:GenerateDataKey"], KEY),
    }


@pytest.mark.parametrize("statements", [sender_statements, worker_statements])
def test_no_statement_reaches_beyond_the_queue_the_prefix_and_the_key(statements: Any) -> None:
    # GIVEN either role's statements / WHEN read / THEN no wildcard resource, no service-wide action
    written = statements(QUEUE_ARN, BUCKET_ARN, KEY, prefix="out/")
    for statement in written:
        assert statement["Resource"] in (QUEUE_ARN, f"{BUCKET_ARN}/out/*", KEY), statement
        assert not [a for a in statement["Action"] if a.endswith("*")], statement
    # AND they are a valid identity policy
    document = {"Version": "2012-10-17", "Statement": written}
    findings: list[str] = []
    apimodels.iam.check_policy(document, "policy", "identity", lambda path, message: findings.append(message))
    assert findings == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("*", BUCKET_ARN, KEY), r"queue_arn='\*'"),
        ((QUEUE_ARN, "notes-staging-exports-x", KEY), r"bucket_arn='notes-staging-exports-x'"),
        (
            (QUEUE_ARN, BUCKET_ARN, f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/*"),
            r"key_arn=.*without wildcards",
        ),
        ((QUEUE_ARN, BUCKET_ARN, KEY, "exports"), r"prefix='exports'"),
        ((QUEUE_ARN, BUCKET_ARN, KEY, "*"), r"prefix='\*'"),
    ],
)
@pytest.mark.parametrize("statements", [sender_statements, worker_statements])
def test_a_wildcard_or_a_name_instead_of_an_arn_is_refused(
    statements: Any, arguments: tuple[str, ...], message: str
) -> None:
    # GIVEN a wildcard, a bare name or a bad prefix / WHEN statements are written / THEN ValueError
    with pytest.raises(ValueError, match=message):
        statements(*arguments)
