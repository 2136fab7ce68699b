"""Operational endpoints, outside /api/v1 and without authentication or rate limits."""

from __future__ import annotations

import asyncio

import pymongo
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from notes_api.core import metrics
from notes_api.core.errors import error_responses
from notes_api.models import HealthOut, ReadyOut

router = APIRouter(tags=["operations"])

READY_TIMEOUT_SECONDS = 1.0


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers (no dependencies)")
async def health() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: 200 when the database answers (degraded if Redis does not)",
    responses={
        503: {"model": ReadyOut, "description": "not ready, or draining before shutdown"},
        **error_responses(500),
    },
)
async def ready(request: Request) -> JSONResponse:
    state = request.app.state
    services = state.services
    checks: dict[str, str] = {}

    async def check_db() -> None:
        try:
            db = services.accounts.db
            await db.ping(READY_TIMEOUT_SECONDS)
            if not db.indexes_ready.is_set():
                # The database is back before the background retry's next turn: don't wait for it.
                # Bounded by pymongo's own deadline, not by cancelling: cancelling a pymongo call
                # can leave the client's topology lock held by nobody on Python 3.11 (core/db.py).
                with pymongo.timeout(READY_TIMEOUT_SECONDS * 5):
                    await db.ensure_indexes()
            checks["database"] = "ok"
        except Exception as exc:  # any failure means "not ready"; the type is in the message
            checks["database"] = f"error: {type(exc).__name__}"

    async def check_redis() -> None:
        gate = services.accounts.gate
        if gate.client is None:
            checks["redis"] = "not configured"
            return
        try:
            await asyncio.wait_for(gate.ping(), READY_TIMEOUT_SECONDS)
            checks["redis"] = "ok"
        except Exception as exc:  # any failure means "not ready"
            checks["redis"] = f"error: {type(exc).__name__}"

    await asyncio.gather(check_db(), check_redis())
    if getattr(state, "draining", False):
        body = ReadyOut(status="draining", checks=checks)
        return JSONResponse(body.model_dump(), status_code=503)
    if checks["database"] != "ok":
        body = ReadyOut(status="not_ready", checks=checks)
        return JSONResponse(body.model_dump(), status_code=503)
    # Without Redis the API still serves (from the database, limits open): degraded, not down.
    # Answering 503 here would make a cache outage take every task out of the load balancer.
    degraded = checks["redis"] not in ("ok", "not configured")
    body = ReadyOut(status="degraded" if degraded else "ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def prometheus_metrics() -> Response:
    payload, content_type = metrics.render()
    return Response(payload, media_type=content_type)
