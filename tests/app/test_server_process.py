"""The real entry point, ``python -m notes_api``, as a child process on a free loopback port,
with a real Redis (password protected, as in production) and a MongoDB-wire server.

What only the real process can show: health and readiness over TCP, graceful shutdown on
SIGTERM (in-flight work finishes, the listener closes, exit code 0), the readiness drain,
Prometheus multiprocess metrics with several workers, and the JSON log lines on stdout.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from devtools.localservices import RedisServer, SecantusServer, free_port

REDIS_TOKEN = "redis-auth-7d1e4b9a2c5f8e3a6b0d4c7f1a9e2b5d"
SIGNING_KEY = "Hx3kP9qL2wR7tY5uN8mB4vC6zD1fG0jS"  # 32 bytes, not a placeholder
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 30.0  # generous: several test modules may start processes at once on 2 cores


# --- a server process and a bare HTTP client ----------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout: float = 5.0,
) -> Response:
    """One request on a fresh connection, so that each one is accepted anew (and, with several
    workers, by whichever worker the kernel picks)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Connection": "close", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        raw = conn.getresponse()
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
    finally:
        conn.close()


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str]

    def get(self, path: str, **kwargs: Any) -> Response:
        return request(self.port, "GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Response:
        return request(self.port, "POST", path, body=body, **kwargs)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """Every stdout/stderr line, each of which must be one JSON object."""
        records = []
        for number, line in enumerate(self.output().splitlines(), 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"log line {number} is not JSON: {line!r}")
            assert isinstance(record, dict), f"log line {number} is not an object: {line!r}"
            records.append(record)
        return records

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode} before serving:\n{self.output()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/health", timeout=1).status == 200:
                    return
            time.sleep(0.05)
        pytest.fail(f"GET /health did not answer 200 within {timeout}s:\n{self.output()}")

    def terminate(self) -> float:
        """Send SIGTERM; return the monotonic time it was sent."""
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return sent

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {timeout}s after SIGTERM:\n{self.output()}")

    def kill(self) -> None:
        """Last resort after a failed test: the whole process group, workers included."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture(scope="module")
def redis_with_auth() -> Iterator[RedisServer]:
    with RedisServer(password=REDIS_TOKEN) as server:
        yield server


def spawn(env: dict[str, str], port: int, workdir: Path) -> ServerProcess:
    """``python -m notes_api`` with exactly ``env``, its output in ``workdir/server.log``; not
    waited for."""
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "notes_api"],
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ServerProcess(proc, port, log_path, env)


@pytest.fixture(scope="module")
def launch(
    redis_with_auth: RedisServer, mongo_server: SecantusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m notes_api`` in production mode with ``NOTES_*`` overrides; not waited for."""
    started: list[ServerProcess] = []

    def start(**overrides: str) -> ServerProcess:
        port = free_port()
        workdir = tmp_path_factory.mktemp("server")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "PROMETHEUS_"))}
        env.update(
            {
                "NOTES_ENV": "production",
                "NOTES_PORT": str(port),
                "NOTES_MONGODB_URI": mongo_server.uri,
                "NOTES_MONGODB_DATABASE": f"notes_proc_{uuid.uuid4().hex[:10]}",
                "NOTES_MONGODB_SERVER_SELECTION_TIMEOUT_MS": "2000",
                "NOTES_REDIS_URL": redis_with_auth.url,
                "NOTES_REDIS_AUTH_TOKEN": REDIS_TOKEN,
                "NOTES_JWT_SIGNING_KEY": SIGNING_KEY,
                "NOTES_RATE_LIMIT_AUTH": "1000/minute",
                "NOTES_RATE_LIMIT_API": "100000/minute",
                "NOTES_SHUTDOWN_GRACE_SECONDS": "5",
                # the cheapest argon2id cost production accepts: registrations stay quick on 2 cores
                "NOTES_PASSWORD_HASH_MEMORY_KIB": "19456",
                "NOTES_PASSWORD_HASH_TIME_COST": "2",
                "NOTES_PASSWORD_HASH_PARALLELISM": "1",
            }
        )
        env.update(overrides)
        env = {k: v for k, v in env.items() if v != ""}  # "" removes a variable
        server = spawn(env, port, workdir)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="module")
def servers(launch: Callable[..., ServerProcess]) -> dict[str, ServerProcess]:
    """Every server this module needs, started at once: start-up is mostly imports, and one
    after another they would make up most of the module's run time."""
    return {
        "shared": launch(),
        "graceful": launch(NOTES_SHUTDOWN_GRACE_SECONDS="5"),
        "stuck": launch(NOTES_SHUTDOWN_GRACE_SECONDS="1"),
        "drain": launch(NOTES_SHUTDOWN_DRAIN_SECONDS="2"),
        # development without a key: the workers must agree on the generated one
        "workers": launch(NOTES_WORKERS="2", NOTES_ENV="development", NOTES_JWT_SIGNING_KEY=""),
    }


def running(servers: dict[str, ServerProcess], name: str) -> ServerProcess:
    server = servers[name]
    server.wait_healthy()
    return server


@pytest.fixture
def server(servers: dict[str, ServerProcess]) -> ServerProcess:
    """The production server shared by the tests that do not stop it."""
    return running(servers, "shared")


def exited_badly(server: ServerProcess, code: int) -> str:
    tail = "\n".join(server.output().splitlines()[-15:])
    return f"exit code {code} after SIGTERM (negative: killed by that signal); log tail:\n{tail}"


def new_email() -> str:
    return f"proc-{uuid.uuid4().hex[:10]}@example.com"


def status_of(server: ServerProcess, path: str) -> int | None:
    """GET status, or None when nothing answers (which a drain must never produce)."""
    try:
        return server.get(path, timeout=2).status
    except (OSError, http.client.HTTPException):
        return None


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return Response(int(status_line.split()[1]), headers, body)


def start_slow_register(server: ServerProcess, email: str, request_id: str) -> tuple[socket.socket, bytes]:
    """A POST /api/v1/auth/register whose body is only partly sent, proven to be in flight.

    ``Expect: 100-continue`` makes the server answer "100 Continue" when the app first reads
    the body: from then on the request is inside the application, waiting for the rest.
    Returns the socket and the part of the body not sent yet.
    """
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    head = (
        "POST /api/v1/auth/register HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(head.encode())
    interim = read_until(sock, b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 100"), f"POST /api/v1/auth/register: no 100 Continue: {interim!r}"
    sock.sendall(body[:10])
    return sock, body[10:]


def process_state(pid: int) -> str | None:
    """The /proc state letter, or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing spawn children, not its resource tracker)."""
    workers = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
    return workers


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if b"=" in item)


def request_count(metrics_text: str, route: str) -> float:
    """Sum of http_request_duration_seconds_count for GET ``route`` (all statuses)."""
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "http_request_duration_seconds":
            continue
        for sample in family.samples:
            if (
                sample.name.endswith("_count")
                and sample.labels.get("route") == route
                and sample.labels.get("method") == "GET"
            ):
                total += sample.value
    return total


def worker_request_count(metrics_dir: Path, pid: int, route: str, scratch: Path) -> float:
    """What one worker alone recorded: its own histogram file, collected on its own."""
    source = metrics_dir / f"histogram_{pid}.db"
    if not source.exists():
        return 0.0
    scratch.mkdir(exist_ok=True)
    (scratch / source.name).write_bytes(source.read_bytes())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(scratch))
    return request_count(generate_latest(registry).decode(), route)


# --- the running service ------------------------------------------------------------------


def test_serves_health_and_ready(server: ServerProcess) -> None:
    # GIVEN the production process with its Redis (AUTH token) and database
    # WHEN the probes are called
    health = server.get("/health")
    ready = server.get("/ready")
    # THEN both answer 200, and readiness saw both dependencies answer
    assert health.status == 200, f"GET /health: {health}"
    assert health.json() == {"status": "ok"}, f"GET /health: {health}"
    assert ready.status == 200, f"GET /ready: {ready}"
    expected = {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert ready.json() == expected, f"GET /ready: {ready}"


def test_log_lines_are_json_with_an_iso_time(server: ServerProcess) -> None:
    # GIVEN a server that has started and served a request
    assert server.get("/health").status == 200, "GET /health"
    # WHEN its output is read
    records = server.log_records()
    # THEN every line is a JSON object with the common fields and a zoned ISO-8601 time
    assert any(r.get("logger", "").startswith("uvicorn") for r in records), "no uvicorn line in the log"
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys(), record
        stamp = datetime.fromisoformat(record["time"])
        assert stamp.tzinfo is not None, f"log time without a zone: {record['time']!r}"
        # uvicorn's ANSI-coloured duplicate of the message has no place in JSON
        assert "color_message" not in record, record


def wait_for_access_line(server: ServerProcess, request_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [
            r
            for r in server.log_records()
            if r["logger"] == "notes_api.access" and r["request_id"] == request_id
        ]
        return bool(found)

    # The access line is written after the response has been sent, so it may trail it a little.
    assert wait_until(logged, 3), f"no access log line with request_id={request_id!r}:\n{server.output()}"
    return found[0]


def test_client_request_id_is_echoed_and_logged(server: ServerProcess) -> None:
    # GIVEN a client that sends its own request id
    request_id = f"edge-{uuid.uuid4().hex}.1:a_b"
    # WHEN it calls the service
    response = server.get("/health", headers={"X-Request-ID": request_id})
    # THEN the id comes back in the response and is on the access log line for that request
    assert response.headers.get("x-request-id") == request_id, f"GET /health: {response.headers}"
    line = wait_for_access_line(server, request_id)
    assert line["path"] == "/health", line
    assert line["status"] == 200, line


@pytest.mark.parametrize(
    "sent", ["x" * 300, "has spaces in it", "id;rm -rf"], ids=["300-chars", "spaces", "semicolon"]
)
def test_invalid_request_id_is_replaced(server: ServerProcess, sent: str) -> None:
    # GIVEN a client request id that is too long or has characters outside the allowed set
    # WHEN the client calls the service with it
    response = server.get("/health", headers={"X-Request-ID": sent})
    # THEN a generated id is used instead, both in the response and in the log
    echoed = response.headers.get("x-request-id", "")
    assert echoed != sent, f"GET /health kept X-Request-ID={sent[:40]!r}"
    assert re.fullmatch(r"[0-9a-f]{32}", echoed), f"GET /health: generated X-Request-ID {echoed!r}"
    wait_for_access_line(server, echoed)
    assert all(r["request_id"] != sent for r in server.log_records()), f"{sent[:40]!r} reached the log"


# --- shutdown -----------------------------------------------------------------------------


def test_sigterm_finishes_the_in_flight_request_then_exits_0(servers: dict[str, ServerProcess]) -> None:
    # GIVEN a server (no drain, 5 s grace) with a register request whose body is half sent
    server = running(servers, "graceful")
    email = new_email()
    sock, rest = start_slow_register(server, email, "in-flight-1")
    with sock:
        # WHEN the server receives SIGTERM
        sent = server.terminate()
        # THEN it stops accepting connections while it is still running
        assert wait_until(lambda: refused(server.port), 3), "new connections still accepted after SIGTERM"
        assert server.proc.poll() is None, f"exited with the request in flight:\n{server.output()}"
        # WHEN the rest of the body arrives
        sock.sendall(rest)
        response = parse_response(read_to_eof(sock))
    # THEN the request completes normally, body and all
    assert response.status == 201, f"POST /api/v1/auth/register during shutdown: {response}"
    assert len(response.body) == int(response.headers["content-length"]), response
    assert response.json()["email"] == email, response
    # AND the process then exits 0, within the grace period, having logged only JSON lines
    code = server.wait_exit(5)
    assert code == 0, exited_badly(server, code)
    assert time.monotonic() - sent < 5, "shutdown took longer than NOTES_SHUTDOWN_GRACE_SECONDS"
    assert wait_for_access_line(server, "in-flight-1")["status"] == 201


def test_grace_period_bounds_a_stuck_request(servers: dict[str, ServerProcess]) -> None:
    # GIVEN a server with a 1 s grace and a request whose body never completes
    server = running(servers, "stuck")
    sock, _rest = start_slow_register(server, new_email(), "stuck-1")
    with sock:
        # WHEN the server receives SIGTERM
        sent = server.terminate()
        # THEN it waits out the grace period, gives up on the request and still exits 0
        code = server.wait_exit(6)
        elapsed = time.monotonic() - sent
    assert code == 0, exited_badly(server, code)
    assert 1.0 <= elapsed < 4.0, f"exit {elapsed:.2f}s after SIGTERM with a 1 s grace"
    server.log_records()  # the cancellation is logged as JSON too, not as a bare traceback


def test_drain_keeps_serving_with_ready_503_then_exits_0(servers: dict[str, ServerProcess]) -> None:
    # GIVEN a server with a 2 s readiness drain
    server = running(servers, "drain")
    assert server.get("/ready").status == 200, "GET /ready before SIGTERM"
    # WHEN it receives SIGTERM
    sent = server.terminate()
    # THEN /ready turns 503 "draining" at once, while /health and the API keep answering
    assert wait_until(lambda: status_of(server, "/ready") == 503, 1.5), "GET /ready not 503 after SIGTERM"
    ready = server.get("/ready")
    assert ready.json()["status"] == "draining", f"GET /ready during drain: {ready}"
    assert server.get("/health").status == 200, "GET /health during drain"
    registered = server.post("/api/v1/auth/register", {"email": new_email(), "password": PASSWORD})
    assert registered.status == 201, f"POST /api/v1/auth/register during drain: {registered}"
    # AND it exits 0 only once the drain is over
    code = server.wait_exit(2 + 5)
    elapsed = time.monotonic() - sent
    assert code == 0, exited_badly(server, code)
    assert elapsed >= 2.0, f"exited {elapsed:.2f}s after SIGTERM, before the 2 s drain ended"
    assert elapsed < 2.0 + 3.0, f"exited {elapsed:.2f}s after SIGTERM; the drain is 2 s"


# --- several workers ----------------------------------------------------------------------


def test_two_workers_share_metrics_and_stop_together(
    servers: dict[str, ServerProcess], tmp_path: Path
) -> None:
    # GIVEN two workers in development mode without a signing key (so one is generated)
    server = running(servers, "workers")
    assert wait_until(lambda: len(worker_pids(server.proc.pid)) == 2, START_TIMEOUT), "two workers expected"
    workers = worker_pids(server.proc.pid)
    helpers = [pid for pid in children(server.proc.pid) if pid not in workers]
    metrics_dir = Path(environ_of(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
    email = new_email()
    registered = server.post("/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert registered.status == 201, f"POST /api/v1/auth/register: {registered}"
    login = server.post("/api/v1/auth/login", {"email": email, "password": PASSWORD})
    assert login.status == 200, f"POST /api/v1/auth/login: {login}"
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

    # WHEN authenticated requests arrive on fresh connections until both workers have served some
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _round in range(6):
            statuses = list(
                pool.map(lambda _: request(server.port, "GET", "/api/v1/me", headers=auth).status, range(24))
            )
            sent += len(statuses)
            # a worker with its own made-up key would answer 401 to the other's token
            assert statuses == [200] * len(statuses), f"GET /api/v1/me across workers: {statuses}"
            if all(
                (metrics_dir / f"histogram_{pid}.db").exists()
                and worker_request_count(metrics_dir, pid, "/api/v1/me", tmp_path / f"w{pid}") > 0
                for pid in workers
            ):
                break

    # THEN /metrics, whichever worker answers, counts every request of both workers
    def counted_all() -> bool:
        return all(
            request_count(server.get("/metrics").body.decode(), "/api/v1/me") == sent for _ in range(4)
        )

    assert wait_until(counted_all, 3), (
        f"/metrics count {request_count(server.get('/metrics').body.decode(), '/api/v1/me')} != {sent} sent"
    )
    per_worker = {
        pid: worker_request_count(metrics_dir, pid, "/api/v1/me", tmp_path / f"w{pid}") for pid in workers
    }
    assert all(per_worker.values()), f"one worker served every request, nothing to sum: {per_worker}"
    assert sum(per_worker.values()) == sent, per_worker

    # WHEN the parent receives SIGTERM
    server.terminate()
    # THEN it exits 0, its workers and helpers are gone and so is its metrics directory
    code = server.wait_exit(10)
    assert code == 0, exited_badly(server, code)
    leftover = [pid for pid in workers + helpers if process_state(pid) not in (None, "Z")]
    assert wait_until(lambda: not [p for p in leftover if process_state(p) not in (None, "Z")], 3), (
        f"processes left after SIGTERM: {leftover}"
    )
    assert not metrics_dir.exists(), f"{metrics_dir} left behind"
    server.log_records()  # workers log JSON lines too
