"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from pymongo.errors import PyMongoError

from notes_api import __version__
from notes_api.api.deps import Services
from notes_api.api.fastpath import CachedReadFastPath
from notes_api.api.routes import auth, exports, health, notes
from notes_api.core.cache import NoteCache, RedisGate
from notes_api.core.config import Settings
from notes_api.core.db import Database
from notes_api.core.draining import install_drain_handler
from notes_api.core.errors import install_error_handlers
from notes_api.core.errortracking import SentryRequestTag, init_sentry
from notes_api.core.middleware import BodySizeLimitMiddleware, GZipWhenAccepted, RequestContextMiddleware
from notes_api.core.ratelimit import RateLimiter
from notes_api.core.refresh import SecretsRefresher
from notes_api.core.security import Passwords, TokenService
from notes_api.exports.records import ExportRecords
from notes_api.exports.service import ExportsService
from notes_api.services.accounts import Accounts
from notes_api.services.notes import NotesService

log = logging.getLogger("notes_api")


def build_services(settings: Settings) -> Services:
    db = Database(settings)
    gate = RedisGate(settings)
    tokens = TokenService(settings)
    return Services(
        settings=settings,
        tokens=tokens,
        accounts=Accounts(
            db,
            gate,
            tokens,
            Passwords(settings),
            settings.session_check_cache_seconds,
            settings.session_live_cache_seconds,
        ),
        notes=NotesService(db, NoteCache(gate, settings.cache_ttl_seconds, settings.cache_enabled)),
        limiter=RateLimiter(settings, gate),
        exports=ExportsService.from_settings(ExportRecords(db, settings), settings),
    )


async def ensure_export_indexes(
    records: ExportRecords, first_delay: float = 0.5, max_delay: float = 15.0
) -> None:
    """The exports collection's indexes, retried in the background like the others (core/db.py).
    Requests do not wait for this: ``ExportRecords.create`` makes sure of them itself first."""
    delay = first_delay
    while True:
        try:
            await records.ensure_indexes()
        except PyMongoError as exc:
            log.warning("export index creation failed, retrying in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
        else:
            return


def telemetry_options(settings: Settings) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry switches; the benchmark's ceiling app takes the same."""
    on = settings.otel_enabled
    return {"tracing": on, "metrics": on, "logs": on, "operation_spans": on}


def create_app(settings: Settings) -> FastAPI:
    """Build the app. ``settings`` must come from ``load_settings`` (checked, secrets resolved)."""
    error_tracking = init_sentry(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        app.state.services = services
        app.state.draining = False
        db = services.accounts.db
        indexer = asyncio.create_task(db.ensure_indexes_until_done())
        export_indexer = (
            asyncio.create_task(ensure_export_indexes(services.exports.records))
            if services.exports.configured
            else None
        )
        # Give the first attempt one server-selection timeout, so a healthy start is ready at
        # once; with the database down, start anyway and let /ready report it.
        first_try = settings.mongodb_server_selection_timeout_ms / 1000 + 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(indexer), first_try)
        # Rotated secrets (JWT key set, MongoDB URI) reach this process without a restart.
        refresher = app.state.secrets_refresher = SecretsRefresher.for_api(settings, services.tokens, db)
        refreshing = asyncio.create_task(refresher.run()) if refresher.active else None
        restore_signal = None
        if settings.shutdown_drain_seconds > 0:
            restore_signal = install_drain_handler(app, settings.shutdown_drain_seconds)
        # Everything built so far lives as long as the process: out of the collector's sight,
        # a full collection walks only what requests allocate, not every module and pool
        # (tens of milliseconds each time otherwise, seen as the p99 of cached reads).
        gc.freeze()
        log.info("started", extra={"env": settings.env, "version": __version__})
        try:
            yield
        finally:
            if restore_signal is not None:
                restore_signal()
            indexer.cancel()
            if refreshing is not None:
                refreshing.cancel()
            if export_indexer is not None:
                export_indexer.cancel()
            await services.exports.close()
            await services.accounts.gate.close()
            await db.close()
            log.info("stopped")

    app = FastAPI(
        title="Notes API",
        version=__version__,
        description="Accounts, JWT sessions and notes. Errors share one shape: ErrorBody.",
        lifespan=lifespan,
        telemetry=telemetry_options(settings),
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for router in (auth.router, notes.router, exports.router, health.router):
        app.include_router(router)

    # Added innermost first: the request context wraps everything, so even a 413 from the
    # body limit carries the request id and security headers and lands in the metrics.
    # Innermost: cache hits are answered before routing, inside every other middleware.
    app.add_middleware(CachedReadFastPath)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-ID"],
            expose_headers=[
                "ETag",
                "Location",
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "RateLimit-Policy",
            ],
            max_age=600,
        )
    app.add_middleware(GZipWhenAccepted, minimum_size=settings.gzip_min_bytes)
    if error_tracking:
        app.add_middleware(SentryRequestTag)  # right inside the request context: it reads the id
    app.add_middleware(
        RequestContextMiddleware, hsts_max_age=settings.hsts_max_age, access_log_enabled=settings.access_log
    )
    return app
