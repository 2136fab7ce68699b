"""The IAM statements the API's and the worker's task roles need for exports: pure functions
over resolved ARNs, for the stack to put into each role's policy (inside an ``apply``).

Nothing wider than the queue, the exports prefix of the bucket and the exports key: no
wildcard resource, no ``sqs:*`` or ``s3:*``. The KMS actions follow what the services call on
the caller's behalf (the key policy delegates to IAM, infra/kms.py):

- SQS SendMessage calls kms:GenerateDataKey for a new data key and kms:Decrypt to verify it;
  ReceiveMessage calls kms:Decrypt (SQS Developer Guide, "Amazon SQS Key management",
  "Configure KMS permissions for producers" / "for consumers").
- S3 GetObject of an SSE-KMS object needs kms:Decrypt; PutObject needs kms:GenerateDataKey,
  and a multipart upload also kms:Decrypt, since S3 decrypts the parts to assemble them (AWS
  Knowledge Center, "Why do I need permission to decrypt the AWS KMS key when I run Amazon S3
  multipart uploads with SSE-KMS?").
- CreateMultipartUpload, UploadPart and CompleteMultipartUpload are all authorised by
  s3:PutObject; only AbortMultipartUpload has an action of its own (S3 User Guide, "Multipart
  upload API and permissions").
"""

from __future__ import annotations

from typing import Any

DEFAULT_PREFIX = "exports/"


def _checked(prefix: str, **arns: str) -> None:
    for field_name, arn in arns.items():
        if not arn.startswith("arn:") or "*" in arn:
            raise ValueError(f"{field_name}={arn!r}: give the resource's own ARN, without wildcards")
    if not prefix.endswith("/") or prefix.startswith("/") or "*" in prefix:
        raise ValueError(f"prefix={prefix!r}: give the exports' key prefix, e.g. 'exports/'")


def sender_statements(
    queue_arn: str, bucket_arn: str, key_arn: str, prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """The API's task role: enqueue export jobs, and sign download URLs for finished exports
    (a presigned GET is authorised as the signer, so the role itself must be able to read)."""
    _checked(prefix, queue_arn=queue_arn, bucket_arn=bucket_arn, key_arn=key_arn)
    return [
        {"Sid": "SendExportJobs", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queue_arn},
        {
            "Sid": "ReadExportsForPresignedUrls",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": f"{bucket_arn}/{prefix}*",
        },
        {
            # GenerateDataKey for SendMessage; Decrypt for SendMessage and for the GET.
            "Sid": "UseExportsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
        },
    ]


def worker_statements(
    queue_arn: str, bucket_arn: str, key_arn: str, prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """The worker's task role: take jobs off the queue (receive, delete when done, change the
    visibility to retry or to hand a job back at shutdown) and write exports with multipart
    uploads, aborting its own on failure. No GetQueueAttributes: the receive count the worker
    reads comes with each message (ReceiveMessage's MessageSystemAttributeNames), and the
    autoscaling reads CloudWatch, not the queue."""
    _checked(prefix, queue_arn=queue_arn, bucket_arn=bucket_arn, key_arn=key_arn)
    return [
        {
            "Sid": "ConsumeExportJobs",
            "Effect": "Allow",
            "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"],
            "Resource": queue_arn,
        },
        {
            "Sid": "WriteExports",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:PutObject"],
            "Resource": f"{bucket_arn}/{prefix}*",
        },
        {
            # Decrypt for ReceiveMessage and to complete a multipart upload; GenerateDataKey
            # for each upload.
            "Sid": "UseExportsKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
        },
    ]
