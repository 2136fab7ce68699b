"""Production entry point: ``python -m notes_api`` (the image's command) or ``notes-api``.

Shutdown on SIGTERM, in order:
1. with ``NOTES_SHUTDOWN_DRAIN_SECONDS`` > 0, keep serving that long while /ready answers
   503, so a readiness-polling balancer (Kubernetes) stops sending new requests;
2. uvicorn stops accepting and lets in-flight requests finish for up to
   ``NOTES_SHUTDOWN_GRACE_SECONDS``; what is still running then is cancelled;
3. the lifespan closes the Redis and database pools.
ECS deregisters a task from its target group before it sends SIGTERM, so the drain step is
0 there, and the task definition's stopTimeout must exceed drain + grace.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from notes_api.core.config import ConfigError, Settings, load_settings
from notes_api.core.logging import configure_logging

_preloaded: Settings | None = None


def build_app() -> FastAPI:
    """uvicorn factory; each worker process calls it once."""
    from notes_api.main import create_app

    settings = _preloaded or load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def install_drain_handler(app: FastAPI, drain_seconds: float) -> Callable[[], None]:
    """Wrap the server's SIGTERM handler: mark draining now, pass the signal on later."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if getattr(app.state, "draining", False):
            return
        app.state.draining = True
        if callable(previous):
            loop.call_soon_threadsafe(loop.call_later, drain_seconds, previous, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return lambda: signal.signal(signal.SIGTERM, previous)


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
    global _preloaded
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"notes-api: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.workers > 1:
        # Workers are separate processes; Prometheus needs a shared directory to sum them.
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="notes-metrics-"))
    else:
        _preloaded = settings
    uvicorn.run("notes_api.server:build_app", factory=True, **uvicorn_options(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
