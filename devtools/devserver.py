"""`make dev`: the API on 127.0.0.1:$PORT with a local Redis and SecantusDB when none is
configured, a development signing key, and note exports: a local SQS and S3 (moto's server
mode) with the export queue, its dead-letter queue and the bucket, and the export worker
(``python -m notes_api.worker``) as a child process next to the API. Nothing here is used in
production.

moto stands in for SQS and S3 because no AWS account is reachable from a development machine
and its server mode speaks both services' wire protocols over HTTP: the API and the worker make
plain boto3 clients, pointed at it by boto3's own AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_S3,
exactly as they talk to AWS. It is a stand-in, not AWS: it takes any credentials, and skips IAM,
KMS encryption and the bucket policy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from devtools.localservices import MotoServer, create_export_resources, local_dependencies
from notes_api.core.config import Settings

# The worker stops within this after its first SIGTERM when idle or quick; a second signal
# then stops it at once (its message, if any, goes back to the queue).
WORKER_FIRST_STOP_SECONDS = 2.0
WORKER_SECOND_STOP_SECONDS = 10.0
# Credentials and endpoints of a real account must not reach a local stand-in, nor the other way.
_AWS_VARIABLES_DROPPED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


def _setting_default(field: str) -> int:
    value = os.environ.get(f"NOTES_{field.upper()}")
    return int(value) if value else int(Settings.model_fields[field].default)


@contextlib.contextmanager
def local_exports() -> Iterator[dict[str, str]]:
    """A moto server with the export queue, DLQ and bucket, unless NOTES_EXPORT_QUEUE_URL is set
    (then the caller's queue, bucket and endpoints are used as they are)."""
    if os.environ.get("NOTES_EXPORT_QUEUE_URL"):
        yield {}
        return
    with MotoServer() as moto:
        for name in _AWS_VARIABLES_DROPPED:
            os.environ.pop(name, None)
        os.environ.update(moto.environment())
        # As the stack makes them: maxReceiveCount = NOTES_EXPORT_MAX_RECEIVES, and a visibility
        # timeout above the worker's job timeout, so a running job's message stays hidden.
        resources = create_export_resources(
            moto,
            name="notes-dev",
            max_receives=_setting_default("export_max_receives"),
            visibility_timeout=_setting_default("export_job_timeout_seconds") + 60,
        )
        print(f"devserver: started moto (local SQS and S3) at {moto.url}", file=sys.stderr)
        print(f"devserver: export dead-letter queue {resources.dlq_url}", file=sys.stderr)
        yield {
            "NOTES_EXPORT_QUEUE_URL": resources.queue_url,
            "NOTES_EXPORT_BUCKET": resources.bucket,
            "NOTES_AWS_REGION": os.environ.get("NOTES_AWS_REGION") or MotoServer.REGION,
        }


@contextlib.contextmanager
def export_worker() -> Iterator[subprocess.Popen[bytes]]:
    """``python -m notes_api.worker`` with this process's environment; stopped on exit."""
    proc = subprocess.Popen([sys.executable, "-m", "notes_api.worker"], env=os.environ.copy())
    print(f"devserver: started the export worker (pid {proc.pid})", file=sys.stderr)
    try:
        yield proc
    finally:
        stop_worker(proc)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    for signum, wait in (
        (signal.SIGTERM, WORKER_FIRST_STOP_SECONDS),
        (signal.SIGTERM, WORKER_SECOND_STOP_SECONDS),
    ):
        if proc.poll() is not None:
            return
        proc.send_signal(signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)


def main() -> int:
    with local_dependencies() as started, local_exports() as exports:
        os.environ.update(started)
        os.environ.update(exports)
        os.environ.setdefault("NOTES_ENV", "development")
        os.environ.setdefault("NOTES_DOCS_ENABLED", "true")
        os.environ.setdefault("NOTES_PORT", os.environ.get("PORT", "8000"))
        for name, value in sorted(started.items()):
            print(f"devserver: started {name}={value}", file=sys.stderr)
        for name, value in sorted(exports.items()):
            print(f"devserver: export setting {name}={value}", file=sys.stderr)
        with export_worker():
            # Imported after the environment is set: settings are read at import of the server.
            from notes_api.server import main as serve  # noqa: PLC0415

            return serve()


if __name__ == "__main__":
    sys.exit(main())
