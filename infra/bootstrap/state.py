"""The Pulumi state backend: an S3 bucket and the KMS key that encrypts it and the stacks' secrets.

``pulumi login s3://<bucket>`` keeps every stack's checkpoint in the bucket (Pulumi's "Using a DIY
backend": https://www.pulumi.com/docs/iac/operations/stack-management/using-a-diy-backend/), and
``--secrets-provider awskms://alias/<alias>?region=<region>`` encrypts each stack's secrets with
the key. Losing either loses every stack, so both are ``protect``ed, the bucket keeps every
version of every checkpoint, and the key waits the longest window AWS allows before deletion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.buckets import make_private

# Where the DIY backend keeps things under the bucket (pulumi/pulumi pkg/backend/diy/store.go:
# StacksDir/HistoriesDir/BackupsDir/JournalsDir under workspace.BookkeepingDir ".pulumi", each
# then <project>/<stack>; lock.go: ".pulumi/locks/<org>/<project>/<stack>/<id>.json", the org
# always "organization"; meta.go: ".pulumi/meta.yaml", the layout version every command reads).
BOOKKEEPING = ".pulumi"
DIY_ORGANIZATION = "organization"


def stack_state_paths(project: str, stack: str) -> list[str]:
    """Object-key patterns a ``pulumi up`` of ``project``/``stack`` writes (checkpoint with its
    ``.bak`` and compressed forms, history, backups, journal, lock)."""
    return [
        f"{BOOKKEEPING}/stacks/{project}/{stack}.json*",
        f"{BOOKKEEPING}/history/{project}/{stack}/*",
        f"{BOOKKEEPING}/backups/{project}/{stack}/*",
        f"{BOOKKEEPING}/journal/{project}/{stack}/*",
        f"{BOOKKEEPING}/locks/{DIY_ORGANIZATION}/{project}/{stack}/*",
    ]


def stack_checkpoint(project: str, stack: str) -> str:
    """The object-key pattern of a stack's checkpoint alone (enough to read its outputs)."""
    return f"{BOOKKEEPING}/stacks/{project}/{stack}.json*"


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket that does not come over TLS (S3 User Guide, "Security
    best practices": a Deny on ``aws:SecureTransport`` = false,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def state_key_policy(account_id: str) -> dict[str, Any]:
    """The default key policy (KMS Developer Guide, "Default key policy": the account root
    may do everything, so IAM policies decide who uses the key,
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html); the deploy
    and preview roles get their KMS actions from their own IAM policies."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountRootAdministersAndDelegatesToIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


@dataclass(frozen=True)
class StateBackendArgs:
    bucket_name: str
    """Name of the state bucket; global across AWS, so it carries the account id. From config
    ``stateBucketName``. Required."""
    key_alias: str
    """KMS alias without ``alias/``, what ``--secrets-provider awskms://alias/<it>`` names. From
    config ``stateKeyAlias``. Required."""
    account_id: pulumi.Input[str]
    """Account that owns the key; its root administers it. Set from the caller's identity."""
    noncurrent_days: int = 90
    """Days a replaced checkpoint version is kept before S3 expires it. Default 90: long enough
    to roll a stack's state back by hand after a bad update was noticed late."""
    protect: bool = True
    """``protect`` the bucket and the key. Default on; a test turns it off only to see it matter."""


class StateBackend(pulumi.ComponentResource):
    """The state bucket (versioned, KMS-encrypted, public access blocked, TLS only) and its key."""

    key: aws.kms.Key
    alias: aws.kms.Alias
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("notes:bootstrap:StateBackend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="Pulumi state bucket and stack secrets (awskms secrets provider)",
            enable_key_rotation=True,
            # A deleted key makes every stack's secrets unreadable: the longest window (30).
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps(state_key_policy(account))
            ),
            opts=kept,
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{args.key_alias}", target_key_id=self.key.key_id, opts=child
        )
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            # Checkpoints are the only record of what the stacks own: never emptied by destroy.
            force_destroy=False,
            opts=kept,
        )
        bucket = self.bucket.id
        public_access = make_private(name, bucket, child).public_access
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    # One data key per bucket instead of a KMS call per object (S3 Bucket Keys).
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-old-checkpoint-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
            # The public access block is in place before any policy exists on the bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )
        self.register_outputs({"bucket": self.bucket.id, "keyArn": self.key.arn})
