"""Rate limits on Redis through the `limits` library (sliding-window counter: one Lua call
per hit). If Redis fails, requests are let through with a warning and a counter: limiting
is a protection, and losing it briefly is better than refusing every user."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.exceptions import RedisError

from notes_api.core.cache import RedisGate
from notes_api.core.config import Settings
from notes_api.core.metrics import RATE_LIMIT_FAIL_OPEN, RATE_LIMITED

log = logging.getLogger("notes_api.ratelimit")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int | None = None
    reset_seconds: int | None = None

    def headers(self) -> dict[str, str]:
        """RateLimit-* fields (IETF httpapi draft); empty when the limiter could not tell."""
        if self.remaining is None or self.reset_seconds is None:
            return {}
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }


class RateLimiter:
    def __init__(self, settings: Settings, gate: RedisGate) -> None:
        self.enabled = settings.rate_limit_enabled and gate.client is not None
        self.gate = gate
        self.auth_item: RateLimitItem = parse(settings.rate_limit_auth)
        self.api_item: RateLimitItem = parse(settings.rate_limit_api)
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        if self.enabled and gate.client is not None and settings.redis_url:
            # Share the service's Redis connection pool (and its TLS/AUTH) rather than open
            # a second one; the URL then only names the scheme.
            storage = RedisStorage(
                f"async+{settings.redis_url}",
                implementation="redispy",
                connection_pool=gate.client.connection_pool,  # type: ignore[arg-type]  # its stubs say scalars only
            )
            self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, scope: str, item: RateLimitItem, *identifiers: str, detailed: bool) -> Decision:
        if self._limiter is None:
            return Decision(True, item.amount, item.get_expiry())
        if not self.gate.available:
            RATE_LIMIT_FAIL_OPEN.inc()
            return Decision(True, item.amount, item.get_expiry())
        try:
            allowed = await self._limiter.hit(item, scope, *identifiers)
            self.gate.succeeded()
            if allowed and not detailed:
                return Decision(True, item.amount, item.get_expiry())
            stats = await self._limiter.get_window_stats(item, scope, *identifiers)
        except (RedisError, OSError) as exc:
            self.gate.failed("rate_limit", exc)
            RATE_LIMIT_FAIL_OPEN.inc()
            log.warning("rate limit not enforced for %s: redis unavailable", scope)
            return Decision(True, item.amount, item.get_expiry())
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            RATE_LIMITED.labels(scope).inc()
        return Decision(allowed, item.amount, item.get_expiry(), stats.remaining, reset)
