"""boto3 clients for the export queue (SQS) and bucket (S3), shared by the API and the worker.

Plain clients: the endpoint comes from botocore's own configuration, so AWS_ENDPOINT_URL_SQS /
AWS_ENDPOINT_URL_S3 point them at a local server (moto) in development and tests and nothing
does in AWS (AWS SDKs and Tools Reference Guide, "Service-specific endpoints"). Credentials come
from the default chain (the task role on ECS).

boto3 is synchronous: callers run these clients off the event loop (``asyncio.to_thread``).
One client per process is shared by those threads: boto3's guide ("Multithreading or
multiprocessing with clients") says low-level clients are thread safe once created, while
sessions are not, so each client is made from a session of its own, here, before any thread
uses it.
"""

from __future__ import annotations

from typing import Any

from notes_api.core.config import Settings

# Bounded so a request never waits on AWS much longer than on the database: connecting is
# quick or fails, and an SQS SendMessage or an S3 presign answers in milliseconds. "standard"
# retry mode retries throttling and transient errors with backoff (boto3 guide, "Retries");
# two attempts in all keep a failing dependency's 503 prompt.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 2


def _config(read_timeout: float = READ_TIMEOUT_SECONDS, **extra: Any) -> Any:
    from botocore.config import Config  # noqa: PLC0415 (boto3 is loaded only where exports are on)

    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        **extra,
    )


def sqs_client(settings: Settings, read_timeout: float = READ_TIMEOUT_SECONDS) -> Any:
    """An SQS client for the export queue's region. The worker passes a ``read_timeout`` above
    its long poll's wait (20 s), which the default here would cut short."""
    import boto3  # noqa: PLC0415

    return boto3.session.Session().client(
        "sqs", region_name=settings.aws_region, config=_config(read_timeout)
    )


def s3_client(settings: Settings) -> Any:
    """An S3 client for the export bucket's region, signing with SigV4, presigned URLs included
    (the AWS CLI's presign: "All presigned URL's now use sigv4 so the region needs to be
    configured explicitly"; a SigV4 URL lives at most 604,800 s)."""
    import boto3  # noqa: PLC0415

    config = _config(signature_version="s3v4")
    return boto3.session.Session().client("s3", region_name=settings.aws_region, config=config)
