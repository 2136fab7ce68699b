"""The ALB's access-log bucket: private, SSE-S3 (the only encryption ELB delivers to), versioned,
expiring after the retention, and no principal may delete a log (see ``access_log_bucket``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.buckets import make_private
from infra.exports.bucket import access_log_delivery_statement


@dataclass(frozen=True)
class AccessLogs:
    """What the load balancer reads of its log bucket."""

    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    policy: aws.s3.BucketPolicy
    """The ALB waits for it: ELB writes a test object when logging is switched on."""


def access_log_bucket(
    name: str,
    *,
    environment: str,
    region: str,
    prefix: str,
    retention_days: int,
    protect: bool,
    parent: pulumi.Resource,
    s3_sources: tuple[str, str] | None = None,
) -> AccessLogs:
    """The access-log bucket and its settings, registered as ``f"{name}-logs*"`` under
    ``parent``; the ALB waits for the returned policy."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket_resource = aws.s3.Bucket(
        f"{name}-logs",
        # Bucket names are global: the provider appends a unique suffix to the prefix.
        bucket_prefix=f"notes-{environment}-alb-logs-",
        # Logs are evidence: `pulumi destroy` fails on a non-empty bucket rather than
        # deleting them (empty it first when an environment really goes away).
        force_destroy=False,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
    bucket = bucket_resource.id
    private = make_private(f"{name}-logs", bucket, child)
    public_access, ownership = private.public_access, private.ownership
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-logs-encryption",
        bucket=bucket,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                # ALB access logs can only be written to SSE-S3 (AES256) buckets: ELB does
                # not use customer KMS keys for log delivery.
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                )
            )
        ],
        opts=child,
    )
    # Logs are evidence, so erasing one must take more than s3:DeleteObject. Chosen:
    # versioning plus an explicit deny of deletes in the bucket policy (access_log_policy).
    # - Versioning alone: an overwrite or a delete keeps the old version, but anyone with
    #   s3:DeleteObjectVersion still erases it; the deny closes that.
    # - The deny alone: an overwrite (s3:PutObject, which log delivery needs) would still
    #   replace a log for good; versioning keeps the replaced one.
    # - Object Lock (compliance mode) would stop even an administrator, but it cannot be
    #   turned off, keeps staging's logs until they expire whatever the stack says, and the
    #   ALB access-log guide names no support for it (only SSE-S3 and same-region buckets:
    #   https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
    # Expiry still works: lifecycle actions are S3's own and no bucket policy applies to them
    # (S3 User Guide, "Setting an S3 Lifecycle configuration on a bucket": to stop removals
    # one must also deny s3:PutLifecycleConfiguration; confirmable only against AWS). What
    # is left: a principal allowed s3:PutBucketPolicy or s3:PutLifecycleConfiguration can
    # still lift the deny or shorten retention, as a CloudTrail management event.
    versioning = aws.s3.BucketVersioning(
        f"{name}-logs-versioning",
        bucket=bucket,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-logs-lifecycle",
        bucket=bucket,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                # In a versioned bucket expiry adds a delete marker; the log itself goes
                # once it has been noncurrent this long (S3 User Guide, "Expiring objects":
                # https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html).
                # As long as the retention: a log someone overwrote stays at least as long
                # as it would have anyway, at the price of keeping expired logs twice as long.
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=retention_days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=1
                ),
            )
        ],
        # Noncurrent-version rules follow the bucket's versioning (the pulumi_aws
        # BucketLifecycleConfiguration docstring's versioned example orders them so).
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    elb_account = aws.elb.get_service_account_output(region=region, opts=invoke)
    identity = aws.get_caller_identity_output(opts=invoke)
    policy = pulumi.Output.all(
        bucket_arn=bucket_resource.arn,
        elb_account_arn=elb_account.arn,
        account_id=identity.account_id,
    ).apply(lambda values: json.dumps(access_log_policy(prefix=prefix, s3_sources=s3_sources, **values)))
    bucket_policy = aws.s3.BucketPolicy(
        f"{name}-logs-policy",
        bucket=bucket,
        policy=policy,
        # S3 refuses concurrent changes to one bucket's settings; the public access block
        # and ownership go first. Versioning too: the policy's deny of deletes means nothing
        # until deleted and overwritten logs are kept as versions.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access, ownership, versioning]),
    )
    return AccessLogs(bucket=bucket_resource, versioning=versioning, policy=bucket_policy)


def access_log_policy(
    *,
    bucket_arn: str,
    elb_account_arn: str,
    account_id: str,
    prefix: str,
    s3_sources: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Bucket policy: ELB log delivery may write under the prefix; nothing without TLS; no
    principal deletes a log or a version of one (only the lifecycle rule expires them).
    ``s3_sources``: (ARN pattern of source buckets, key prefix): S3 server access logging may
    write those buckets' logs under that prefix too (``access_log_delivery_statement``)."""
    logs = f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*"
    extra = (
        [
            access_log_delivery_statement(
                target_bucket_arn=bucket_arn,
                target_prefix=s3_sources[1],
                source_bucket_arn=s3_sources[0],
                account_id=account_id,
            )
        ]
        if s3_sources
        else []
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # Regions from before August 2022 deliver as the regional ELB account ...
                "Sid": "ElbAccountWritesAccessLogs",
                "Effect": "Allow",
                "Principal": {"AWS": elb_account_arn},
                "Action": "s3:PutObject",
                "Resource": logs,
            },
            {
                # ... newer ones as the log-delivery service principal.
                "Sid": "LogDeliveryWritesAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": logs,
            },
            *extra,
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                # Log delivery only ever calls PutObject; an explicit deny beats any allow in an
                # identity policy, the account's administrators' included.
                "Sid": "DenyDeletingLogs",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": f"{bucket_arn}/*",
            },
        ],
    }
