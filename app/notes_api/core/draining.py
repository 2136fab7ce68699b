"""The readiness drain: what SIGTERM does first when ``NOTES_SHUTDOWN_DRAIN_SECONDS`` > 0.

It sets ``app.state.draining``, which /ready reports as 503 "draining", and hands the signal
on to uvicorn once the drain is over (the whole shutdown order is in ``notes_api.server``).
The app's lifespan installs it: by then uvicorn has put its own SIGTERM handler in place,
which is the one this wraps, and the event loop is running.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType

from fastapi import FastAPI


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

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
