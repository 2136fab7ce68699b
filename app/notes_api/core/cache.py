"""Redis access for the cache, session revocations and rate limits.

Degradation is deliberate: a Redis error never fails a request. A few failed calls in a row
open a short circuit (``redis_retry_after_seconds``) during which Redis is not called at all,
so a dead cache costs a request or two of timeouts, not one per request; a lone slow reply
on a busy event loop does not open it. Every error is counted in
``notes_dependency_errors_total{dependency="redis"}`` and the opening is logged.

The hot reads (a cached entry, a session's revocation) go through ``RedisGate.pipelined``:
the commands issued by concurrent requests in one turn of the event loop travel to Redis as
one pipeline, so each request's read costs a share of a round trip instead of a whole one.

Invalidation uses a per-user generation number that is part of every cache key. A write
bumps the generation after the database write, so a reader that raced the write can only
store its stale copy under the old generation, which nobody reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from notes_api.core.config import Settings
from notes_api.core.metrics import CACHE_REQUESTS, DEPENDENCY_ERRORS, labelled

log = logging.getLogger("notes_api.cache")

# Failed Redis calls in a row that open the circuit. A dead Redis fails every call, so this
# costs a request or two; a loaded event loop fails one now and then, and never opens it.
FAILURES_TO_OPEN = 3

# One round trip for a cached read: the user's generation and the entry stored under it.
_GET_GENERATIONAL = """
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}
"""


class _Slot:
    __slots__ = ("_slots", "_wait")

    def __init__(self, slots: asyncio.Semaphore, wait: float) -> None:
        self._slots = slots
        self._wait = wait

    async def __aenter__(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once, no timer needed
            return
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise RedisConnectionError(f"no Redis connection free within {self._wait:g}s") from exc

    async def __aexit__(self, *_: object) -> None:
        self._slots.release()


class RedisGate:
    """The Redis client plus the circuit that keeps a failing Redis off the request path."""

    def __init__(self, settings: Settings) -> None:
        self.client: Redis | None = None
        self._retry_after = settings.redis_retry_after_seconds
        self._open_until = 0.0
        self._consecutive_failures = 0
        # At most this many Redis calls at once (one connection each); past it a call waits
        # for a slot, up to the connect timeout, instead of failing at once (which the
        # circuit would take for Redis being down). A semaphore rather than redis-py's
        # BlockingConnectionPool, which does the same at several times the cost per command
        # (about a third of a cached read, measured with bench/).
        self._slots = asyncio.Semaphore(settings.redis_max_connections)
        self._slot_wait = settings.redis_connect_timeout_seconds
        if settings.redis_url:
            kwargs: dict[str, Any] = {
                "socket_timeout": settings.redis_timeout_seconds,
                # A TLS handshake on a busy event loop takes longer than a command: with the
                # command timeout here, a burst of new connections opened the circuit.
                "socket_connect_timeout": settings.redis_connect_timeout_seconds,
                # Headroom over the slots for the readiness ping, which takes none.
                "max_connections": settings.redis_max_connections + 4,
                "health_check_interval": 30,
            }
            token = settings.secret("redis_auth_token")
            if token:
                kwargs["password"] = token
            if settings.redis_ca_file:
                kwargs["ssl_ca_certs"] = settings.redis_ca_file
            pool = ConnectionPool.from_url(settings.redis_url, **kwargs)
            self.client = Redis(connection_pool=pool)
        # Commands waiting for the end of this event-loop turn (see ``pipelined``), the
        # pipelines on their way, and the error the last failed one gave all its callers.
        self._batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._last_failure: BaseException | None = None
        self.pipelines_sent = 0

    def slot(self) -> _Slot:
        """``async with gate.slot():`` around every Redis call (see ``__init__``)."""
        return _Slot(self._slots, self._slot_wait)

    async def pipelined(self, *command: Any) -> Any:
        """Run one read-only command; every command issued in the same turn of the event
        loop goes to Redis with it, as one non-transactional pipeline on one connection.

        Why: under load many requests read at once, and each command sent on its own pays
        for redis-py's per-command machinery, a socket write and an event-loop wake-up for its
        reply: about 120 us of CPU, more than the rest of a cached read. In one pipeline they
        cost about 30 us each (measured with 64 concurrent callers against a real Redis). A
        caller waits at most one loop turn longer; a lone caller is sent alone.

        An error of the command itself (a NOSCRIPT, a wrong type) reaches only its caller; a
        connection error reaches every caller of the pipeline as the same exception, which
        ``failed`` counts as one failure of Redis, not one per caller.
        """
        if self.client is None:
            raise RedisConnectionError("redis is not configured")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._batch:
            loop.call_soon(self._flush)
        self._batch.append((command, future))
        return await future

    def _flush(self) -> None:
        if not self._batch:
            return  # close() sent it already
        batch, self._batch = self._batch, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            if self.client is None:
                raise RedisConnectionError("redis is not configured")
            async with self.slot():
                pipe = self.client.pipeline(transaction=False)
                for command, _ in batch:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
            self.pipelines_sent += 1
        except BaseException as exc:
            for _, future in batch:
                if future.done():  # its caller was cancelled and is gone
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    @property
    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._open_until

    def failed(self, operation: str, exc: BaseException) -> None:
        """Count a failed call; open the circuit after several in a row. One slow reply on a
        saturated event loop is not Redis being down, and must not switch the cache off."""
        DEPENDENCY_ERRORS.labels("redis", operation).inc()
        if exc is self._last_failure:
            return  # the same failed pipeline, reported by another of its callers
        self._last_failure = exc
        self._consecutive_failures += 1
        if self._consecutive_failures < FAILURES_TO_OPEN:
            return
        if time.monotonic() >= self._open_until:
            log.warning(
                "redis unavailable (%s: %s); serving without it for %.1fs", operation, exc, self._retry_after
            )
        self._open_until = time.monotonic() + self._retry_after

    def succeeded(self) -> None:
        self._consecutive_failures = 0

    async def ping(self) -> None:
        if self.client is None:
            raise RedisError("redis is not configured")
        await self.client.ping()

    async def close(self) -> None:
        if self._batch:
            self._flush()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()


# A miss already looked up in this request (owner, name, generation): the read that follows
# it must neither ask Redis again nor count a second miss.
_known_miss: ContextVar[tuple[str, str, str | None] | None] = ContextVar("notes_known_miss", default=None)


class NoteCache:
    def __init__(self, gate: RedisGate, ttl_seconds: int, enabled: bool = True) -> None:
        self.gate = gate
        self.ttl = ttl_seconds
        self.enabled = enabled and gate.client is not None
        self._script = gate.client.register_script(_GET_GENERATIONAL) if gate.client else None
        # Set when an invalidation could not be written: until then entries in Redis may be
        # stale, so this process reads the database only.
        self._distrust_until = 0.0

    @staticmethod
    def _gen_key(owner: str) -> str:
        return f"notes:gen:{owner}"

    async def get(self, cache: str, owner: str, name: str) -> tuple[str | None, str | None]:
        """Return (generation, cached text). generation None means "do not store anything"."""
        known = _known_miss.get()
        if known is not None and known[0] == owner and known[1] == name:
            return known[2], None
        if (
            not self.enabled
            or not self.gate.available
            or self._script is None
            or time.monotonic() < self._distrust_until
        ):
            labelled(CACHE_REQUESTS, cache, "bypass").inc()
            return None, None
        keys, args = [self._gen_key(owner)], [f"notes:{owner}:", f":{name}"]
        try:
            try:
                gen, raw = await self.gate.pipelined("EVALSHA", self._script.sha, 1, *keys, *args)
            except NoScriptError:
                # Redis restarted or failed over and lost its scripts: this loads it again.
                async with self.gate.slot():
                    gen, raw = await self._script(keys=keys, args=args)
        except RedisError as exc:
            self.gate.failed("cache_get", exc)
            labelled(CACHE_REQUESTS, cache, "error").inc()
            return None, None
        self.gate.succeeded()
        generation = gen.decode() if isinstance(gen, bytes) else str(gen)
        if raw is None:
            labelled(CACHE_REQUESTS, cache, "miss").inc()
            return generation, None
        labelled(CACHE_REQUESTS, cache, "hit").inc()
        return generation, raw.decode() if isinstance(raw, bytes) else str(raw)

    @staticmethod
    @contextlib.contextmanager
    def miss_known(owner: str, name: str, generation: str | None) -> Iterator[None]:
        """Within the block, ``get(owner, name)`` answers this miss without asking again."""
        token = _known_miss.set((owner, name, generation))
        try:
            yield
        finally:
            _known_miss.reset(token)

    async def put(self, owner: str, generation: str | None, name: str, value: str) -> None:
        if generation is None or self.gate.client is None or not self.gate.available:
            return
        try:
            async with self.gate.slot():
                await self.gate.client.set(f"notes:{owner}:{generation}:{name}", value, ex=self.ttl)
        except RedisError as exc:
            self.gate.failed("cache_put", exc)

    async def invalidate(self, owner: str) -> None:
        """Called after every write to the owner's notes."""
        if not self.enabled or self.gate.client is None:
            return
        try:
            # The generation outlives every entry stored under it, so it can never go back.
            pipe = self.gate.client.pipeline(transaction=False)
            pipe.incr(self._gen_key(owner))
            pipe.expire(self._gen_key(owner), self.ttl * 10 + 3600)
            async with self.gate.slot():
                await pipe.execute()
        except RedisError as exc:
            # The write is in the database; entries under the old generation expire within
            # one TTL, and until then this process does not read the cache at all.
            self._distrust_until = time.monotonic() + self.ttl
            self.gate.failed("cache_invalidate", exc)
