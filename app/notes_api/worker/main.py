"""``python -m notes_api.worker``: the export worker's entry point.

Exit codes: 0 after a requested stop (SIGTERM, SIGINT), 2 on a configuration error (the message
on stderr names the variable), 1 when the worker ended on an unexpected error.

Endpoints come from boto3 itself: on AWS the regional ones; locally boto3's standard
AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_S3 (botocore's service-specific endpoint configuration)
point the same code at a local server.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from notes_api.core.config import ConfigError, env_name
from notes_api.core.db import Database
from notes_api.core.errortracking import init_sentry
from notes_api.core.logging import configure_logging
from notes_api.core.refresh import SecretsRefresher, database_followed
from notes_api.exports.records import ExportRecords
from notes_api.worker.consumer import Worker
from notes_api.worker.settings import WorkerSettings, load_worker_settings

log = logging.getLogger("notes_api.worker")

# How long closing the database client may take at exit before the process ends regardless.
CLOSE_TIMEOUT_SECONDS = 5.0


def build_clients(settings: WorkerSettings) -> tuple[Any, Any]:
    """(sqs, s3) boto3 clients; ConfigError when no region is known."""
    # Imported here: a configuration error exits before boto3's import cost.
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import NoRegionError  # noqa: PLC0415

    # The "standard" retry mode retries throttling and transient errors with backoff (boto3
    # guide, "Retries"); the read timeout stays above the 20 s long poll, as the SQS guide asks.
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)
    try:
        sqs = boto3.client("sqs", region_name=settings.aws_region, config=config)
        s3 = boto3.client("s3", region_name=settings.aws_region, config=config)
    except NoRegionError as exc:
        raise ConfigError(
            f"{env_name('aws_region')} is required by the export worker (no AWS region)"
        ) from exc
    return sqs, s3


async def serve(settings: WorkerSettings, sqs: Any, s3: Any) -> None:
    db = Database(settings)
    # Replaces a client that stops answering (core/db.py); the worker's notes reads and record
    # writes go through ``db`` on every call, so they pick up the new client.
    supervisor = asyncio.create_task(db.supervise())
    # NOTES_MONGODB_URI_SECRET_ARN read again every NOTES_SECRETS_REFRESH_SECONDS, between jobs.
    refresher = SecretsRefresher(settings, database_followed(settings, db))
    try:
        await Worker(
            settings,
            ExportRecords(db, settings),
            lambda: db.notes,
            sqs,
            s3,
            between_jobs=refresher.refresh_if_due,
        ).run()
    finally:
        supervisor.cancel()
        closing = asyncio.ensure_future(db.close())
        await asyncio.wait({closing}, timeout=CLOSE_TIMEOUT_SECONDS)


def main() -> int:
    configure_logging()  # before loading: its warnings are JSON lines too
    try:
        settings = load_worker_settings()
        sqs, s3 = build_clients(settings)
    except ConfigError as exc:
        print(f"notes-worker: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    init_sentry(settings)  # NOTES_SENTRY_DSN or its _SECRET_ARN; off without
    try:
        asyncio.run(serve(settings, sqs, s3))
    except Exception:
        log.exception("the worker stopped on an unexpected error")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
