"""Production entry point: ``python -m notes_api`` (the image's command) or ``notes-api``.

Shutdown on SIGTERM, in order:
1. with ``NOTES_SHUTDOWN_DRAIN_SECONDS`` > 0, keep serving that long while /ready answers
   503, so a readiness-polling balancer (Kubernetes) stops sending new requests (the app's
   lifespan installs that handler, ``notes_api.core.draining``);
2. uvicorn stops accepting and lets in-flight requests finish for up to
   ``NOTES_SHUTDOWN_GRACE_SECONDS``; what is still running then is cancelled;
3. the lifespan closes the Redis and database pools;
4. the process exits 0 (a requested stop is not a failure).
ECS deregisters a task from its target group before it sends SIGTERM, so the drain step is
0 there, and the task definition's stopTimeout must exceed drain + grace.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from notes_api.core.config import ConfigError, Settings, env_name, load_settings
from notes_api.core.logging import configure_logging


def build_app(settings: Settings | None = None) -> FastAPI:
    """The app; also uvicorn's factory, which each worker process calls once."""
    # Imported here so that a configuration error exits before the whole app is imported.
    from notes_api.main import create_app  # noqa: PLC0415

    if settings is None:
        configure_logging()  # before loading: its warnings must be JSON lines as well
        settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; with the default handler
    # the process would then die of the signal (exit 143) after a clean, requested stop, which
    # Kubernetes records as "Error" and ECS as a non-zero exit. Before uvicorn takes the signal
    # over, this also ends start-up at once.
    raise SystemExit(0)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_keep_alive": 75,  # longer than the ALB's 60 s idle timeout, or it sees 502s
    }


def main() -> int:
    # Before loading, so that its warnings (an ephemeral development key) are JSON lines too;
    # the level is set again once it is known.
    configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"notes-api: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    metrics_dir: str | None = None
    if settings.workers > 1:
        # Workers are separate processes; Prometheus needs a shared directory to sum them.
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            metrics_dir = tempfile.mkdtemp(prefix="notes-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        share_ephemeral_key(settings)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # Several workers need an import string (each process builds its own app); one worker
    # gets the app built here from the settings already loaded and checked.
    app: FastAPI | str = build_app(settings) if settings.workers == 1 else "notes_api.server:build_app"
    try:
        uvicorn.run(app, factory=settings.workers > 1, **uvicorn_options(settings))
    finally:
        if metrics_dir is not None:
            # Per-process files of this run only; a later run must not add them to its counts.
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def share_ephemeral_key(settings: Settings) -> None:
    """Hand a generated development key to the workers, which load their settings anew.

    Without it each worker would make up its own key and reject the tokens the others sign.
    """
    name = env_name("jwt_signing_key")
    key = settings.secret("jwt_signing_key")
    if name not in os.environ and settings.jwt_signing_key_secret_arn is None and key is not None:
        os.environ[name] = key


if __name__ == "__main__":
    sys.exit(main())
