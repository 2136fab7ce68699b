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

# A lease is spent within this time or given up: hits counted in one window must not be
# spent in the next, where Redis no longer counts them.
LEASE_SECONDS = 1.0
# Leasing only where the limit dwarfs the lease; small limits are counted one by one.
LEASE_LIMIT_FACTOR = 20
MAX_LEASES = 10_000


@dataclass(slots=True)
class _Lease:
    remaining: int
    expires: float
    # The limiter refused a whole lease: the user is near the limit, so count one by one.
    refused: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int | None = None
    reset_seconds: int | None = None

    @classmethod
    def allow(cls, item: RateLimitItem) -> Decision:
        """Let a request through without counts to report (allowed locally or failing open)."""
        return cls(True, item.amount, item.get_expiry())

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
        self.gate = gate
        self.auth_item: RateLimitItem = parse(settings.rate_limit_auth)
        self.api_item: RateLimitItem = parse(settings.rate_limit_api)
        self.exports_item: RateLimitItem = parse(settings.rate_limit_exports)
        lease = settings.rate_limit_api_lease
        self.api_lease = lease if self.api_item.amount >= LEASE_LIMIT_FACTOR * lease else 1
        self._leases: dict[tuple[str, ...], _Lease] = {}
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        if settings.rate_limit_enabled and gate.client is not None and settings.redis_url:
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
            return Decision.allow(item)
        if not self.gate.available:
            return _circuit_open(item)
        try:
            async with self.gate.slot():
                allowed = await self._limiter.hit(item, scope, *identifiers)
            self.gate.succeeded()
            if allowed and not detailed:
                return Decision.allow(item)
            async with self.gate.slot():
                stats = await self._limiter.get_window_stats(item, scope, *identifiers)
        except (RedisError, OSError) as exc:
            return self._fail_open(scope, item, exc)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            RATE_LIMITED.labels(scope).inc()
        return Decision(allowed, item.amount, item.get_expiry(), stats.remaining, reset)

    async def hit_exports(self, user_id: str) -> Decision:
        """The per-user limit on export requests, counted one by one with the counts to report
        (a few an hour: nothing to lease), on top of the API limit every request pays."""
        return await self.hit("exports", self.exports_item, user_id, detailed=True)

    async def hit_api(self, user_id: str) -> Decision:
        """The per-user API limit, leased: ``api_lease`` hits are taken from Redis at once and
        spent here. The limit is never exceeded, since every hit is counted before it is
        spent, and Redis is asked once per lease instead of on every request."""
        item, lease = self.api_item, self.api_lease
        if lease <= 1 or self._limiter is None:
            return await self.hit("api", item, user_id, detailed=False)
        key = ("api", user_id)
        now = time.monotonic()
        held = self._leases.get(key)
        if held is not None and held.expires > now and held.remaining > 0:
            held.remaining -= 1
            return Decision.allow(item)
        if held is None or held.expires <= now or not held.refused:
            taken = await self._take_lease(self._limiter, key, item, lease, now)
            if taken is not None:
                return taken
        # Near the limit (a whole lease did not fit): count one by one.
        return await self.hit("api", item, user_id, detailed=False)

    async def _take_lease(
        self,
        limiter: SlidingWindowCounterRateLimiter,
        key: tuple[str, ...],
        item: RateLimitItem,
        lease: int,
        now: float,
    ) -> Decision | None:
        """Count ``lease`` hits in Redis; None when they do not fit under the limit."""
        if not self.gate.available:
            return _circuit_open(item)
        try:
            # The limiter's script refuses a cost that does not fit without counting any of it.
            async with self.gate.slot():
                allowed = await limiter.hit(item, *key, cost=lease)
            self.gate.succeeded()
        except (RedisError, OSError) as exc:
            return self._fail_open(key[0], item, exc)
        if len(self._leases) >= MAX_LEASES:
            self._leases.clear()
        held = self._leases.get(key)
        if not allowed:
            self._leases[key] = _Lease(0, now + LEASE_SECONDS, refused=True)
            return None
        # Concurrent requests of one user refill at the same time: add up what each counted
        # in Redis instead of letting the last one overwrite (and waste) the rest.
        if held is not None and held.expires > now and not held.refused:
            held.remaining += lease - 1
            held.expires = now + LEASE_SECONDS
        else:
            self._leases[key] = _Lease(lease - 1, now + LEASE_SECONDS)
        return Decision.allow(item)

    def _fail_open(self, scope: str, item: RateLimitItem, exc: BaseException) -> Decision:
        self.gate.failed("rate_limit", exc)
        RATE_LIMIT_FAIL_OPEN.inc()
        log.warning("rate limit not enforced for %s: redis unavailable", scope)
        return Decision.allow(item)


def _circuit_open(item: RateLimitItem) -> Decision:
    # Redis is known to be failing (the gate's circuit): fail open without asking it.
    RATE_LIMIT_FAIL_OPEN.inc()
    return Decision.allow(item)
