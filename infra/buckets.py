"""What every bucket of the stack gets before anything else: no public access, and no ACLs.

Shared by the ALB's access-log bucket and the bootstrap's state bucket, so that a hardening
added here reaches both."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class PrivateBucket:
    public_access: aws.s3.BucketPublicAccessBlock
    ownership: aws.s3.BucketOwnershipControls


def make_private(prefix: str, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions) -> PrivateBucket:
    """Block every form of public access, and enforce bucket-owner ownership (ACLs disabled), on
    ``bucket``. A bucket policy should wait for ``public_access``: S3 refuses a policy it judges
    public while the block is being set, and the block must hold before anything is written."""
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{prefix}-public-access",
        bucket=bucket,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{prefix}-ownership",
        bucket=bucket,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    return PrivateBucket(public_access=public_access, ownership=ownership)
