"""Every worker recovers after a database restart, within a stated time.

The wedge seen once in production (one worker's /ready timing out for good while the other was
fine) is pymongo's topology lock left held by nobody after a cancelled operation on Python 3.11
(notes_api/core/db.py explains it and cites the sources). These tests hold the lock the same way
to wedge a real client deterministically, and restart a real database several times under load
against ``python -m notes_api`` with two workers, checking each worker's /ready on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from devtools.localservices import SecantusServer, free_port
from notes_api.core import db as db_module
from notes_api.core.config import Settings
from notes_api.core.db import Database
from tests.app.test_server_process import ServerProcess, environ_of, request, worker_pids

T = TypeVar("T")

# The bound the README states: a wedged client is replaced within supervise's interval plus
# HUNG_AFTER_SECONDS (4 s); a healthy one sees the database within a heartbeat wake-up. Slack
# for two workers, the load and the database's own start on 2 shared cores.
RECOVERY_SECONDS = 10.0


@pytest.fixture
def own_mongo() -> Iterator[SecantusServer]:
    with SecantusServer(durable=True) as server:
        yield server


async def wedge(database: Database) -> None:
    """Leave the client's topology lock held by nobody, as a cancelled operation does."""
    await database.client._topology._lock.acquire()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    # A loop of its own, never installed as the thread's: asyncio.run() leaves the main thread
    # without a current loop, and later tests (Pulumi's mocks) ask for one.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_a_wedged_client_is_replaced_and_answers_again(
    make_settings: Callable[..., Settings], own_mongo: SecantusServer
) -> None:
    async def scenario() -> tuple[float, int]:
        # GIVEN a supervised client that answers
        database = Database(make_settings(mongodb_uri=own_mongo.uri))
        supervisor = asyncio.create_task(database.supervise())
        await database.ping(1.0)
        # WHEN its topology lock is left held (every operation now waits for it, no deadline)
        await wedge(database)
        wedged_at = time.monotonic()
        with pytest.raises(TimeoutError):
            await database.ping(1.0)
        # THEN within the stated time the client is replaced and the database answers again
        while True:
            try:
                await database.ping(1.0)
                break
            except Exception:
                assert time.monotonic() - wedged_at < RECOVERY_SECONDS, "still wedged"
        recovered = time.monotonic() - wedged_at
        supervisor.cancel()
        replacements = database.client_replacements
        await database.close()
        return recovered, replacements

    recovered, replacements = _run(scenario())
    assert replacements == 1
    bound = db_module.SUPERVISE_INTERVAL_SECONDS + db_module.HUNG_AFTER_SECONDS + 2
    assert recovered < bound, f"recovered after {recovered:.1f}s, stated bound {bound}s"


def test_a_database_that_is_down_does_not_make_the_client_replaced(
    make_settings: Callable[..., Settings], own_mongo: SecantusServer
) -> None:
    async def scenario() -> int:
        # GIVEN a supervised client
        database = Database(make_settings(mongodb_uri=own_mongo.uri, mongodb_server_selection_timeout_ms=500))
        supervisor = asyncio.create_task(database.supervise())
        await database.ping(1.0)
        # WHEN the database is down for longer than HUNG_AFTER_SECONDS, then back
        own_mongo.kill()
        await asyncio.sleep(db_module.HUNG_AFTER_SECONDS + 2)
        with pytest.raises(Exception):  # noqa: B017,PT011 (any driver error: the server is gone)
            await database.ping(1.0)
        own_mongo.start()
        deadline = time.monotonic() + RECOVERY_SECONDS
        while True:
            try:
                await database.ping(1.0)
                break
            except Exception:
                assert time.monotonic() < deadline, "no recovery after the database came back"
        # THEN the driver failed by its own deadlines, so its client was kept (no churn)
        supervisor.cancel()
        replacements = database.client_replacements
        await database.close()
        return replacements

    assert _run(scenario()) == 0


# --- two workers, restarts under load -------------------------------------------------------


def ready_count_of(metrics_dir: Path, pid: int, scratch: Path) -> float:
    """How many 200 answers to GET /ready one worker has given: its own histogram file alone."""
    source = metrics_dir / f"histogram_{pid}.db"
    if not source.exists():
        return 0.0
    scratch.mkdir(exist_ok=True)
    (scratch / source.name).write_bytes(source.read_bytes())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(scratch))
    total = 0.0
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if (
                sample.name == "http_request_duration_seconds_count"
                and sample.labels.get("route") == "/ready"
                and sample.labels.get("status") == "200"
            ):
                total += sample.value
    return total


@pytest.fixture
def two_workers(own_mongo: SecantusServer, redis_server, tmp_path: Path) -> Iterator[ServerProcess]:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "PROMETHEUS_"))}
    env.update(
        {
            "NOTES_ENV": "development",
            "NOTES_WORKERS": "2",
            "NOTES_PORT": str(port),
            "NOTES_MONGODB_URI": own_mongo.uri,
            "NOTES_MONGODB_DATABASE": f"recovery_{uuid.uuid4().hex[:8]}",
            "NOTES_MONGODB_SERVER_SELECTION_TIMEOUT_MS": "2000",
            "NOTES_REDIS_URL": redis_server.url,
            "NOTES_ACCESS_LOG": "false",
            "NOTES_RATE_LIMIT_ENABLED": "false",
            "NOTES_PASSWORD_HASH_MEMORY_KIB": "1024",
            "NOTES_PASSWORD_HASH_TIME_COST": "1",
        }
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notes_api"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ServerProcess(proc, port, log_path, env)
    try:
        server.wait_healthy()
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def hammer(port: int, stop: threading.Event, token: str) -> None:
    """Load during outages and recoveries: authenticated reads, writes and readiness probes."""
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        for method, path, body in (
            ("GET", "/ready", None),
            ("POST", "/api/v1/notes", {"title": "under load"}),
            ("GET", "/api/v1/notes", None),
        ):
            with contextlib.suppress(OSError, TimeoutError):
                request(port, method, path, headers=headers, body=body, timeout=3)


def probe(port: int, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, TimeoutError):
            request(port, "GET", "/ready", timeout=3)


def test_each_of_two_workers_recovers_after_every_database_restart(
    two_workers: ServerProcess, own_mongo: SecantusServer, tmp_path: Path
) -> None:
    # GIVEN the service with two workers, both ready, and a user making requests
    server = two_workers
    deadline = time.monotonic() + 30
    while len(worker_pids(server.proc.pid)) != 2:
        assert time.monotonic() < deadline, "two workers expected"
        time.sleep(0.1)
    workers = worker_pids(server.proc.pid)
    metrics_dir = Path(environ_of(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
    email = f"r-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery staple"
    assert server.post("/api/v1/auth/register", {"email": email, "password": password}).status == 201
    token = server.post("/api/v1/auth/login", {"email": email, "password": password}).json()["access_token"]
    stop = threading.Event()
    load = [threading.Thread(target=hammer, args=(server.port, stop, token)) for _ in range(4)]
    # Readiness probes pile up during an outage, each waiting on the driver: the pattern that
    # cancelled operations in the old /ready (asyncio.wait_for around the ping).
    load += [threading.Thread(target=probe, args=(server.port, stop)) for _ in range(8)]
    for thread in load:
        thread.start()
    recoveries: list[dict[int, float]] = []
    try:
        for restart in range(6):
            time.sleep(1.0)
            # WHEN the database is killed, stays down a while under load, and starts again
            own_mongo.kill()
            time.sleep(1.0 + restart % 2 * 1.5)
            own_mongo.start()
            back = time.monotonic()
            before = {pid: ready_count_of(metrics_dir, pid, tmp_path / f"s{pid}") for pid in workers}
            recovered: dict[int, float] = {}
            # THEN each worker, on its own, answers /ready 200 within the stated time
            while len(recovered) < len(workers):
                elapsed = time.monotonic() - back
                assert elapsed < RECOVERY_SECONDS, (
                    f"restart {restart}: workers {set(workers) - set(recovered)} not ready after "
                    f"{RECOVERY_SECONDS}s:\n{server.output()[-3000:]}"
                )
                with contextlib.suppress(OSError, TimeoutError):
                    request(server.port, "GET", "/ready", timeout=2)
                for pid in workers:
                    if (
                        pid not in recovered
                        and ready_count_of(metrics_dir, pid, tmp_path / f"s{pid}") > before[pid]
                    ):
                        recovered[pid] = elapsed
            recoveries.append(recovered)
    finally:
        stop.set()
        for thread in load:
            thread.join(10)
    print("recovery seconds per restart and worker:", recoveries)
