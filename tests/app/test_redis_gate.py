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
from redis.exceptions import RedisError

from devtools.localservices import RedisServer, free_port
from notes_api.core.cache import FAILURES_TO_OPEN, RedisGate
from notes_api.core.config import Settings
from tests.app.conftest import command_calls

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


# --- pipelined reads: the commands of one event-loop turn travel as one pipeline ---


def test_concurrent_reads_in_one_loop_turn_go_as_one_pipeline_each_with_its_own_reply(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    # GIVEN 40 keys with distinct values
    settings = make_settings()
    direct = redis.Redis.from_url(redis_server.url)
    for i in range(40):
        direct.set(f"notes:test:{i}", f"value-{i}")

    async def scenario() -> tuple[list[object], int]:
        gate = RedisGate(settings)
        # WHEN 40 requests read their key at once
        replies = await asyncio.gather(*(gate.pipelined("GET", f"notes:test:{i}") for i in range(40)))
        sent = gate.pipelines_sent
        await gate.close()
        return list(replies), sent

    before = command_calls(redis_server.url, "get")
    replies, sent = _run(scenario())
    # THEN each caller got the reply to its own command, in one pipeline of 40 commands
    assert replies == [f"value-{i}".encode() for i in range(40)]
    assert sent == 1
    assert command_calls(redis_server.url, "get") - before == 40


def test_a_lone_read_is_sent_at_once_and_later_turns_get_pipelines_of_their_own(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    settings = make_settings()
    redis.Redis.from_url(redis_server.url).set("notes:test:one", "1")

    async def scenario() -> tuple[list[object], int]:
        gate = RedisGate(settings)
        # GIVEN reads awaited one after the other
        replies = [await gate.pipelined("GET", "notes:test:one") for _ in range(3)]
        sent = gate.pipelines_sent
        await gate.close()
        return replies, sent

    # THEN each went alone, with nothing waiting to join it
    assert _run(scenario()) == ([b"1", b"1", b"1"], 3)


def test_a_failing_command_fails_only_its_own_caller(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    settings = make_settings()
    direct = redis.Redis.from_url(redis_server.url)
    direct.set("notes:test:a", "a")
    direct.rpush("notes:test:list", "x")

    async def scenario() -> list[object]:
        gate = RedisGate(settings)
        # GIVEN one command of the pipeline that Redis refuses (GET on a list) and one that
        # names a script Redis does not have
        replies = await asyncio.gather(
            gate.pipelined("GET", "notes:test:a"),
            gate.pipelined("GET", "notes:test:list"),
            gate.pipelined("EVALSHA", "0" * 40, 0),
            gate.pipelined("GET", "notes:test:a"),
            return_exceptions=True,
        )
        assert gate.pipelines_sent == 1
        await gate.close()
        return list(replies)

    first, wrong_type, no_script, last = _run(scenario())
    # THEN the others got their replies and each refused command raised its own error
    assert first == last == b"a"
    assert isinstance(wrong_type, redis.exceptions.ResponseError) and "WRONGTYPE" in str(wrong_type)
    assert isinstance(no_script, redis.exceptions.NoScriptError)


def test_a_dead_redis_fails_every_caller_of_the_pipeline_and_counts_as_one_failure(
    make_settings: Callable[..., Settings],
) -> None:
    # GIVEN a gate in front of a port nothing listens on
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = make_settings(redis_url=dead, redis_connect_timeout_seconds=0.5)

    async def scenario() -> tuple[list[BaseException], bool, bool]:
        gate = RedisGate(settings)

        async def read(i: int) -> BaseException:
            try:
                await gate.pipelined("GET", f"notes:test:{i}")
            except RedisError as exc:
                gate.failed("test", exc)
                return exc
            raise AssertionError("a dead Redis answered")

        # WHEN 10 requests read at once
        errors = await asyncio.gather(*(read(i) for i in range(10)))
        after_one_pipeline = gate.available
        # AND then requests fail one turn after another
        for i in range(FAILURES_TO_OPEN - 1):
            await read(i)
        after_more = gate.available
        await gate.close()
        return list(errors), after_one_pipeline, after_more

    errors, after_one_pipeline, after_more = _run(scenario())
    # THEN all 10 got the connection error, the same one
    assert all(isinstance(e, RedisConnectionError) for e in errors)
    assert len({id(e) for e in errors}) == 1
    # AND that pipeline counted as one failure of Redis: the circuit stayed closed ...
    assert after_one_pipeline
    # ... until failures of separate calls in a row opened it
    assert not after_more


def test_a_cancelled_caller_leaves_the_others_their_replies(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    settings = make_settings()
    redis.Redis.from_url(redis_server.url).set("notes:test:c", "c")

    async def scenario() -> tuple[list[object], bool]:
        gate = RedisGate(settings)
        loop = asyncio.get_running_loop()
        unhandled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        # GIVEN three reads in one turn, one of which is cancelled before Redis answers
        tasks = [asyncio.ensure_future(gate.pipelined("GET", "notes:test:c")) for _ in range(3)]
        await asyncio.sleep(0)
        tasks[1].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await gate.close()
        return list(results), not unhandled

    results, nothing_unhandled = _run(scenario())
    # THEN the other two got their replies, the cancelled one its cancellation
    assert results[0] == results[2] == b"c"
    assert isinstance(results[1], asyncio.CancelledError)
    # AND no reply was left unretrieved for the loop to complain about
    assert nothing_unhandled


def test_a_pipeline_takes_one_slot_whatever_its_size(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    # GIVEN a gate of one slot, already held by a slow call for 0.1 s
    settings = make_settings(redis_max_connections=1, redis_connect_timeout_seconds=2)
    redis.Redis.from_url(redis_server.url).set("notes:test:s", "s")

    async def scenario() -> list[object]:
        gate = RedisGate(settings)
        assert gate.client is not None
        client = gate.client

        async def hold() -> None:
            async with gate.slot():
                await client.blpop(["notes:test:never"], timeout=0.1)

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        # WHEN 50 reads arrive
        replies = await asyncio.gather(*(gate.pipelined("GET", "notes:test:s") for _ in range(50)))
        await holder
        await gate.close()
        return list(replies)

    # THEN they waited for that one slot and all got their reply
    assert _run(scenario()) == [b"s"] * 50


def test_closing_the_gate_sends_reads_still_waiting_for_the_end_of_the_turn(
    make_settings: Callable[..., Settings], redis_server: RedisServer
) -> None:
    settings = make_settings()
    redis.Redis.from_url(redis_server.url).set("notes:test:late", "late")

    async def scenario() -> list[object]:
        gate = RedisGate(settings)
        # GIVEN three reads queued in this turn of the loop, not yet sent
        tasks = [asyncio.ensure_future(gate.pipelined("GET", "notes:test:late")) for _ in range(3)]
        await asyncio.sleep(0)  # the tasks run up to their wait; the batch is not flushed yet
        # WHEN the gate closes (shutdown) before the loop flushes them
        await gate.close()
        # THEN close() sent them before it returned, and they got their replies
        assert gate.pipelines_sent == 1
        return list(await asyncio.wait_for(asyncio.gather(*tasks), 5))

    assert _run(scenario()) == [b"late"] * 3
