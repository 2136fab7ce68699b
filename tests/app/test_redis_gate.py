"""The Redis gate bounds concurrent calls: past the bound a call waits for a slot (for at most
the connect timeout) instead of failing, and never opens more connections than the bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError

from devtools.localservices import RedisServer
from notes_api.core.cache import RedisGate
from notes_api.core.config import Settings

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    # A loop of its own, never installed as the thread's: asyncio.run() would leave the main
    # thread without a current loop, which later tests (Pulumi's mocks) ask for.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def _clients(url: str) -> int:
    return int(redis.Redis.from_url(url).info("clients")["connected_clients"])


def test_calls_past_the_bound_wait_for_a_slot_and_all_succeed(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    # GIVEN a gate of 2 slots and 20 calls that each hold a connection for 50 ms
    settings = make_settings(redis_max_connections=2)
    before = _clients(redis_server.url)

    async def scenario() -> tuple[list[object], int]:
        gate = RedisGate(settings)
        assert gate.client is not None
        peak = 0

        async def hold() -> object:
            nonlocal peak
            async with gate.slot():
                assert gate.client is not None
                result = await gate.client.blpop(["notes:test:never"], timeout=0.05)
                peak = max(peak, _clients(redis_server.url) - before)
                return result

        results = await asyncio.gather(*(hold() for _ in range(20)), return_exceptions=True)
        await gate.close()
        return list(results), peak

    started = time.monotonic()
    results, peak = _run(scenario())
    # THEN every call succeeded (none failed for want of a connection) ...
    assert [r for r in results if isinstance(r, BaseException)] == []
    # ... at most 2 connections were ever open, so the calls queued (10 rounds of 50 ms)
    assert peak <= 2, peak
    assert time.monotonic() - started >= 0.4


def test_a_call_that_waits_too_long_for_a_slot_fails_as_a_redis_error(
    make_settings: Callable[..., Settings],
) -> None:
    # GIVEN one slot held for 0.2 s and a slot wait of 0.05 s
    settings = make_settings(redis_max_connections=1, redis_connect_timeout_seconds=0.05)

    async def scenario() -> BaseException | None:
        gate = RedisGate(settings)
        assert gate.client is not None
        holding = asyncio.Event()

        async def hold() -> None:
            async with gate.slot():
                holding.set()
                await asyncio.sleep(0.2)

        holder = asyncio.create_task(hold())
        await holding.wait()
        try:
            async with gate.slot():
                return None
        except RedisConnectionError as exc:
            return exc
        finally:
            await holder
            await gate.close()

    # THEN the waiting call fails with a Redis error the callers already degrade on
    error = _run(scenario())
    assert isinstance(error, RedisConnectionError), error
    assert "no Redis connection free within 0.05s" in str(error)


@pytest.mark.parametrize("bound", [1, 3])
def test_slots_are_given_back_after_a_failed_call(make_settings: Callable[..., Settings], bound: int) -> None:
    settings = make_settings(redis_max_connections=bound)

    async def scenario() -> int:
        gate = RedisGate(settings)
        assert gate.client is not None
        for _ in range(bound + 2):
            with pytest.raises(redis.exceptions.ResponseError):
                async with gate.slot():
                    await gate.client.execute_command("NO-SUCH-COMMAND")
        async with gate.slot():
            pong = await gate.client.ping()
        await gate.close()
        return int(pong)

    # THEN the failures did not leak slots: a later call still gets one at once
    assert _run(scenario()) == 1
