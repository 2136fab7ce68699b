"""The bucket finished exports are written to and downloaded from (through presigned URLs):
private, SSE-KMS with the exports key and a bucket key, unversioned, TLS only, exports expiring
after the retention, and server access logs to another bucket when the stack asks for them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.buckets import make_private

# A key prefix as the API writes it (NOTES_EXPORT_PREFIX): no leading slash, one trailing.
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$")


# Where the exports bucket's S3 access logs go in their bucket.
ACCESS_LOG_PREFIX = "s3/exports/"


@dataclass(frozen=True)
class ExportBucketArgs:
    """The exports bucket. ``stacks/`` fills the fields that name a config key from that key;
    the others keep their default in every stack."""

    environment: str
    """Environment name; the bucket's name starts ``notes-<environment>-exports-``. From config
    ``environment``. Required."""
    kms_key_arn: pulumi.Input[str]
    """Key of the bucket's default encryption (SSE-KMS). Set by the stack from Keys
    (``exports``). Required."""
    retention_days: int = 7
    """Days after which an export is deleted (S3 lifecycle expiry); the API's
    ``NOTES_EXPORT_RETENTION_DAYS`` expires the export's record after the same days. At least 1.
    From config ``exportsRetentionDays``. Default 7."""
    prefix: str = "exports/"
    """Key prefix of the exports (the API's ``NOTES_EXPORT_PREFIX``): what the lifecycle rule
    expires and ``objects_arn`` covers. Ends with ``/``, no leading ``/``. Default
    ``exports/``."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Name of the bucket S3 server access logs go to, in the same account and region; None: no
    access logs. It must use SSE-S3 (S3 cannot deliver access logs to a bucket whose default
    encryption is SSE-KMS) and let ``logging.s3.amazonaws.com`` write under
    ``access_log_prefix`` (``access_log_delivery_statement``). Set by the stack (the ALB's log
    bucket, SSE-S3) when config ``exportsAccessLogs`` is on. Default None."""
    access_log_ready: Sequence[pulumi.Resource] = ()
    """What lets S3 log delivery write to ``access_log_bucket`` (its bucket policy): the logging
    configuration is made after it, so no log is refused in between. Set by the stack (the ALB's
    ``logs_policy``). Default none."""
    access_log_prefix: str = ACCESS_LOG_PREFIX
    """Key prefix of the access logs in ``access_log_bucket``; ends with ``/``. Default
    ``s3/exports/``."""
    protect: bool = False
    """Pulumi ``protect`` on the bucket. From config ``exportsProtect``. Default off (staging);
    the policy pack asks prod to protect buckets that hold data."""


def _validate(name: str, args: ExportBucketArgs) -> None:
    if args.retention_days < 1:
        raise ValueError(
            f"ExportBucket {name}: retention_days={args.retention_days}; S3 expires objects after 1 day "
            "at the earliest: give at least 1"
        )
    for field_name in ("prefix", "access_log_prefix"):
        value = getattr(args, field_name)
        if not _PREFIX.match(value):
            raise ValueError(
                f"ExportBucket {name}: {field_name}={value!r}; give a key prefix such as 'exports/': "
                "letters, digits and !_.*'()- in segments, ending with '/', no leading '/'"
            )


def export_bucket_policy(*, bucket_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """Bucket policy: nothing without TLS, and no object written under another encryption than
    the bucket's key.

    Uploads that name no encryption get the bucket's default (SSE-KMS with ``kms_key_arn``), so
    the worker need not send encryption headers; a "deny unless the header says aws:kms" rule
    would refuse those uploads for nothing. What could still escape the key is a request that
    names another algorithm (SSE-S3) or another key (the account's aws/s3 key): those are
    denied, and SSE-C uploads are blocked by the encryption configuration itself. The Null
    conditions limit each deny to requests that carry the header: UploadPart and
    CompleteMultipartUpload are authorised as s3:PutObject too, and never carry it. A request
    that names the key must name it by its ARN.
    """
    objects = f"{bucket_arn}/*"
    sse = "s3:x-amz-server-side-encryption"
    sse_key = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringNotEquals": {sse: "aws:kms"}, "Null": {sse: "false"}},
            },
            {
                "Sid": "DenyOtherKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {"StringNotEquals": {sse_key: kms_key_arn}, "Null": {sse_key: "false"}},
            },
        ],
    }


def bucket_name_prefix(environment: str) -> str:
    """The exports bucket's name up to the suffix the provider appends (``bucket_prefix``)."""
    return f"notes-{environment}-exports-"


def access_log_sources(environment: str) -> tuple[str, str]:
    """What the log bucket admits for the exports bucket, before that bucket (and its generated
    name) exists: its ARN pattern and the logs' key prefix (``LoadBalancerArgs.s3_access_log_sources``)."""
    return f"arn:aws:s3:::{bucket_name_prefix(environment)}*", ACCESS_LOG_PREFIX


def access_log_delivery_statement(
    *, target_bucket_arn: str, target_prefix: str, source_bucket_arn: str, account_id: str
) -> dict[str, Any]:
    """The statement the access-log bucket's policy needs so that S3's logging service writes
    this bucket's logs (and only this bucket's, of this account) under ``target_prefix``. Bucket
    owner enforced buckets take no ACL grant, so the policy is the only way (pulumi_aws
    s3.BucketLogging docstring, "Grant permission by using bucket policy")."""
    return {
        "Sid": "S3ServerAccessLogsOfExports",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{target_bucket_arn}/{target_prefix}*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


class ExportBucket(pulumi.ComponentResource):
    """The exports bucket; ``objects_arn`` is what the roles' statements name."""

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    objects_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ExportBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(name, args)
        super().__init__("notes:infra:ExportBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            # Bucket names are global: the provider appends a unique suffix to the prefix.
            bucket_prefix=bucket_name_prefix(args.environment),
            # A non-empty bucket stops `pulumi destroy` (the policy pack asks this of prod):
            # exports can be made again, but not by anyone who would be surprised by an empty
            # bucket.
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        # Versioning stays off (S3's default; no BucketVersioning resource): an export is a
        # disposable copy of notes that lives for the retention days and is written again
        # under the same key when a message is redelivered. Versions would keep overwritten
        # and expired copies of users' notes beyond the retention the API promises.
        bucket = self.bucket.id
        private = make_private(f"{name}-bucket", bucket, child)
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
                    ),
                    # One KMS call per bucket key instead of per object: the worker's uploads
                    # and the presigned reads stay off KMS's request quota.
                    bucket_key_enabled=True,
                    # SSE-C objects would be encrypted with a key the account never sees
                    # (pulumi_aws 7.51 BucketServerSideEncryptionConfigurationRuleArgs).
                    blocked_encryption_types=["SSE-C"],
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-exports",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=args.prefix),
                    # In an unversioned bucket expiry deletes the object for good. S3 rounds
                    # to the next midnight UTC, so an export may outlive its record by a day;
                    # the API gives no download URL for an expired export.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.retention_days
                    ),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    # A worker killed mid-upload leaves parts that are billed until aborted.
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                ),
            ],
            opts=child,
        )
        if args.access_log_bucket is not None:
            # The target bucket must be SSE-S3: "Default server-side encryption with AWS KMS
            # keys (SSE-KMS) is not supported for server access logging target buckets" (S3
            # User Guide, "Troubleshoot server access logging"). The ALB's log bucket is SSE-S3.
            aws.s3.BucketLogging(
                f"{name}-access-logs",
                bucket=bucket,
                target_bucket=args.access_log_bucket,
                target_prefix=args.access_log_prefix,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.access_log_ready)),
            )
        policy = pulumi.Output.all(self.bucket.arn, args.kms_key_arn).apply(
            lambda values: json.dumps(export_bucket_policy(bucket_arn=values[0], kms_key_arn=values[1]))
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=policy,
            # S3 refuses concurrent changes to one bucket's settings, and the public access
            # block must hold before a policy is judged; the encryption first, so that no
            # object is written before the bucket's key applies.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[private.public_access, private.ownership, encryption]
            ),
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.objects_arn = self.bucket.arn.apply(lambda arn: f"{arn}/{args.prefix}*")
        self.register_outputs(
            {"bucketName": self.bucket_name, "bucketArn": self.bucket_arn, "objectsArn": self.objects_arn}
        )
