"""The project's own fault-injection run (``make crash``, ``python -m devtools.crash``).

The API as production runs it (``python -m notes_api``, production settings, two workers) on a
real Redis (AUTH token, no persistence) and a real SecantusDB keeping its data in files.
Writers with bounded loops create, update, read and delete their own notes while Redis, then
the database, then both at once are killed with SIGKILL and started again on the same port
and storage. What clients were told is the ledger; the invariants are checked against it:

- no acknowledged write lost: at the end, read straight from the database, every note is at
  least at its last acknowledged version (exactly it, title included, when no later write was
  in doubt), and no acknowledged delete is undone;
- no stale read: a read after an acknowledged write never shows an older version;
- no revoked session accepted once NOTES_SESSION_CHECK_CACHE_SECONDS has passed: sessions
  logged out or revoked by refresh-token reuse before Redis dies, and one logged out while
  Redis is down, are refused after Redis comes back empty;
- during outages only 503 with the JSON error body: no other 5xx, no malformed 503, no request
  left unanswered for HANG_SECONDS;
- recovery within RECOVERY_BOUND_SECONDS of a restart: each worker's /ready (the database),
  /ready "ready" again (Redis), and the first acknowledged write.

It prints the figures and exits 1 when an invariant is broken. The invariant arithmetic is
pure and unit-tested (tests/app/test_crash.py).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.localservices import RedisServer, SecantusServer, free_port

RECOVERY_BOUND_SECONDS = 10.0  # the README's stated bound (db.py: 4 s for a wedged client)
HANG_SECONDS = 15.0  # longer than any timeout of the service (server selection 3 s, Redis 0.25 s)
SESSION_WINDOW_SECONDS = 2.0  # NOTES_SESSION_CHECK_CACHE_SECONDS, the service's default
REDIS_TOKEN = "crash-redis-auth-3f9a1c7e5b2d8f4a6c0e"  # noqa: S105 (a throwaway local server)
SIGNING_KEY = "crash-signing-key-Qw7Er5Ty3Ui1Op9As"  # 34 bytes, not a placeholder
PASSWORD = "correct horse battery staple"  # noqa: S105 (test accounts)
ERROR_KEYS = frozenset({"detail", "code", "request_id"})
READY_KEYS = frozenset({"status", "checks"})


# --- the invariant arithmetic ----------------------------------------------------------------


@dataclass
class NoteRecord:
    """What one note's only writer was told."""

    note_id: str
    version: int  # last acknowledged version
    title: str  # title at that version
    in_doubt: bool = False  # a later write got no clear answer (503, hang): it may have happened
    deleted: bool = False  # a delete was acknowledged
    delete_tried: bool = False  # a delete was sent and got no clear answer


def lost_writes(records: Iterable[NoteRecord], stored: dict[str, tuple[int, str]]) -> list[str]:
    """Acknowledged writes the database does not hold; ``stored`` maps id -> (version, title)."""
    lost = []
    for record in records:
        found = stored.get(record.note_id)
        if record.deleted:
            if found is not None:
                lost.append(f"{record.note_id}: acknowledged delete undone (version {found[0]})")
            continue
        if found is None:
            if not record.delete_tried:
                lost.append(f"{record.note_id}: acknowledged at version {record.version}, missing")
            continue
        version, title = found
        if version < record.version:
            lost.append(f"{record.note_id}: acknowledged version {record.version}, stored {version}")
        elif version == record.version and title != record.title and not record.in_doubt:
            lost.append(f"{record.note_id}: version {version} holds {title!r}, acknowledged {record.title!r}")
    return lost


def is_stale(acknowledged_version: int, read_version: int) -> bool:
    return read_version < acknowledged_version


def classify(status: int | None, body: bytes, path: str = "") -> str:
    """'hang' (no answer), 'ok' (below 500), '503' (with the JSON error body), 'bad_503', '5xx'.

    /ready is the one route whose 503 is not an error but its documented ReadyOut body
    ({"status", "checks"}), which load balancers and operators read.
    """
    if status is None:
        return "hang"
    if status < 500:
        return "ok"
    if status != 503:
        return "5xx"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "bad_503"
    expected = READY_KEYS if path == "/ready" else ERROR_KEYS
    return "503" if isinstance(parsed, dict) and parsed.keys() >= expected else "bad_503"


@dataclass
class Figures:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    stale_reads: int = 0
    reads: int = 0
    revoked_accepted: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    recovery: dict[str, float | None] = field(default_factory=dict)  # None: not within the bound
    bad_answers: list[str] = field(default_factory=list)  # the first few, for the report

    def count(self, outcome: str, request: str = "") -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome not in ("ok", "503") and len(self.bad_answers) < 10:
            self.bad_answers.append(f"{outcome}: {request}")

    def broken(self) -> list[str]:
        problems = []
        if self.acknowledged == 0:
            problems.append("no write was acknowledged: the run proved nothing")
        if self.lost:
            problems.append(f"{len(self.lost)} acknowledged writes lost, e.g. {self.lost[0]}")
        if self.stale_reads:
            problems.append(f"{self.stale_reads} stale reads")
        if self.revoked_accepted:
            problems.append(f"revoked sessions accepted after the window: {', '.join(self.revoked_accepted)}")
        for outcome in ("5xx", "bad_503", "hang"):
            if self.outcomes.get(outcome):
                problems.append(f"{self.outcomes[outcome]} answers of kind {outcome!r}")
        for what, seconds in self.recovery.items():
            if seconds is None or seconds > RECOVERY_BOUND_SECONDS:
                problems.append(f"{what}: no recovery within {RECOVERY_BOUND_SECONDS:.0f}s")
        return problems


# --- talking to the service ------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None
    body: bytes
    at: float  # monotonic time the answer arrived

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    def __init__(self, port: int, figures: Figures) -> None:
        self.port = port
        self.figures = figures
        self._lock = threading.Lock()

    counting = False  # set once the service listens: refusals while it starts are not answers

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None, **headers: str
    ) -> Answer:
        """One request on a fresh connection (so either worker may take it), classified."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HANG_SECONDS)
        sent = {"Connection": "close", **{k.replace("_", "-"): v for k, v in headers.items()}}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None:
            sent["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=payload, headers=sent)
            raw = conn.getresponse()
            answer = Answer(raw.status, raw.read(), time.monotonic())
        except TimeoutError:
            answer = Answer(None, b"", time.monotonic())
        except (OSError, http.client.HTTPException):
            # Refused or reset: the listener is the service's, which never goes away here.
            answer = Answer(599, b"connection failed", time.monotonic())
        finally:
            conn.close()
        if not self.counting:
            return answer
        with self._lock:
            self.figures.count(
                classify(answer.status, answer.body, path),
                f"{method} {path} -> {answer.status} {answer.body[:160]!r}",
            )
        return answer

    def session(self, email: str) -> dict[str, str]:
        answer = self.call("POST", "/api/v1/auth/login", body={"email": email, "password": PASSWORD})
        if answer.status != 200:
            raise RuntimeError(f"login failed: {answer.status} {answer.body[:200]!r}")
        tokens: dict[str, str] = answer.json()
        return tokens

    def user(self) -> tuple[str, dict[str, str]]:
        email = f"crash-{uuid.uuid4().hex[:10]}@example.com"
        answer = self.call("POST", "/api/v1/auth/register", body={"email": email, "password": PASSWORD})
        if answer.status != 201:
            raise RuntimeError(f"register failed: {answer.status} {answer.body[:200]!r}")
        return email, self.session(email)


class Writer(threading.Thread):
    """One user's notes: create, update, read back, sometimes delete; at most ``max_ops`` rounds."""

    def __init__(self, api: Api, token: str, stop: threading.Event, max_ops: int) -> None:
        super().__init__(daemon=True)
        self.api, self.token, self.stop, self.max_ops = api, token, stop, max_ops
        self.records: dict[str, NoteRecord] = {}
        self.acked_at: list[float] = []
        self.stale: list[str] = []
        self.reads = 0

    def run(self) -> None:
        for number in range(self.max_ops):
            if self.stop.is_set():
                return
            self.round(number)

    def acknowledged(self, answer: Answer) -> None:
        self.acked_at.append(answer.at)

    def round(self, number: int) -> None:
        title = f"t{number}-{uuid.uuid4().hex[:6]}"
        created = self.api.call("POST", "/api/v1/notes", self.token, {"title": title})
        if created.status != 201:
            return  # never acknowledged: whether it exists is not a promise
        note = created.json()
        record = NoteRecord(note["id"], note["version"], title)
        self.records[record.note_id] = record
        self.acknowledged(created)
        path = f"/api/v1/notes/{record.note_id}"
        new_title = f"{title}-v2"
        patched = self.api.call(
            "PATCH", path, self.token, {"title": new_title}, If_Match=f'"{record.version}"'
        )
        if patched.status == 200:
            record.version, record.title = patched.json()["version"], new_title
            self.acknowledged(patched)
        elif patched.status != 412:
            record.in_doubt = True
        read = self.api.call("GET", path, self.token)
        if read.status == 200:
            self.reads += 1
            if is_stale(record.version, read.json()["version"]):
                self.stale.append(f"{record.note_id}: read {read.json()['version']} after {record.version}")
        listed = self.api.call("GET", "/api/v1/notes", self.token)
        if listed.status == 200:
            self.reads += 1
            for item in listed.json()["items"]:
                known = self.records.get(item["id"])
                if known and not known.deleted and is_stale(known.version, item["version"]):
                    self.stale.append(f"{item['id']}: listed {item['version']} after {known.version}")
        if number % 4 == 3:
            deleted = self.api.call("DELETE", path, self.token)
            if deleted.status == 204:
                record.deleted = True
                self.acknowledged(deleted)
            elif deleted.status != 404:
                record.delete_tried = True


# --- the servers -----------------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    port: int
    metrics_dir: Path
    log_path: Path

    def workers(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == self.proc.pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        return sorted(found)

    def ready_count(self, pid: int, scratch: Path) -> float:
        """200 answers to /ready recorded by one worker: its own metrics file, read on its own."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess  # noqa: PLC0415
        from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

        source = self.metrics_dir / f"histogram_{pid}.db"
        if not source.exists():
            return 0.0
        scratch.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, scratch / source.name)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(scratch))  # type: ignore[no-untyped-call]
        return sum(
            sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for sample in family.samples
            if sample.name == "http_request_duration_seconds_count"
            and sample.labels.get("route") == "/ready"
            and sample.labels.get("status") == "200"
        )


@contextlib.contextmanager
def running_service(redis: RedisServer, mongo: SecantusServer, workdir: Path) -> Iterator[Service]:
    port = free_port()
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "PROMETHEUS_"))}
    env.update(
        {
            "NOTES_ENV": "production",
            "NOTES_WORKERS": "2",
            "NOTES_PORT": str(port),
            "NOTES_MONGODB_URI": mongo.uri,
            "NOTES_REDIS_URL": redis.url,
            "NOTES_REDIS_AUTH_TOKEN": REDIS_TOKEN,
            "NOTES_JWT_SIGNING_KEY": SIGNING_KEY,
            "NOTES_ACCESS_LOG": "false",
            "NOTES_RATE_LIMIT_AUTH": "100000/minute",
            "NOTES_RATE_LIMIT_API": "1000000/minute",
            # the cheapest argon2id cost production accepts: logins stay quick on 2 cores
            "NOTES_PASSWORD_HASH_MEMORY_KIB": "19456",
            "NOTES_PASSWORD_HASH_TIME_COST": "2",
            "NOTES_PASSWORD_HASH_PARALLELISM": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
    )
    log_path = workdir / "service.log"
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
    service = Service(proc, port, metrics_dir, log_path)
    try:
        yield service
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_until(check: Callable[[], bool], seconds: float, every: float = 0.05) -> float | None:
    """Seconds until ``check()`` held, or None if it did not within ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(every)
    return None


# --- the run ---------------------------------------------------------------------------------


class CrashRun:
    def __init__(self, service: Service, redis: RedisServer, mongo: SecantusServer, scratch: Path) -> None:
        self.figures = Figures()
        self.api = Api(service.port, self.figures)
        self.service, self.redis, self.mongo, self.scratch = service, redis, mongo, scratch

    def log(self, message: str) -> None:
        print(f"crash: {message}", flush=True)

    def workers_ready_after(self, restarted: float) -> float | None:
        """Seconds from ``restarted`` until every worker has answered /ready 200 since then."""
        workers = self.service.workers()
        before = {pid: self.service.ready_count(pid, self.scratch / str(pid)) for pid in workers}
        pending = set(workers)

        def all_ready() -> bool:
            self.api.call("GET", "/ready")
            for pid in list(pending):
                if self.service.ready_count(pid, self.scratch / str(pid)) > before[pid]:
                    pending.discard(pid)
            return not pending

        waited = wait_until(all_ready, RECOVERY_BOUND_SECONDS * 2, every=0.0)
        return None if waited is None else time.monotonic() - restarted

    def redis_ready_after(self, restarted: float) -> float | None:
        """Seconds until /ready says "ready" (Redis answers) ten times running, both workers alike."""
        streak = 0

        def ready() -> bool:
            nonlocal streak
            answer = self.api.call("GET", "/ready")
            ok = answer.status == 200 and answer.json().get("status") == "ready"
            streak = streak + 1 if ok else 0
            return streak >= 10

        waited = wait_until(ready, RECOVERY_BOUND_SECONDS * 2, every=0.0)
        return None if waited is None else time.monotonic() - restarted

    def first_write_after(self, writers: list[Writer], restarted: float) -> float | None:
        def acked() -> bool:
            return any(at > restarted for writer in writers for at in writer.acked_at[-5:])

        waited = wait_until(acked, RECOVERY_BOUND_SECONDS * 2)
        return None if waited is None else time.monotonic() - restarted

    def revoked_sessions(self, email: str) -> dict[str, str]:
        """Access tokens of sessions that must stay refused: logged out, and revoked by reuse."""
        logged_out = self.api.session(email)
        assert self.api.call("POST", "/api/v1/auth/logout", logged_out["access_token"]).status == 204
        reused = self.api.session(email)
        refreshed = self.api.call(
            "POST", "/api/v1/auth/refresh", body={"refresh_token": reused["refresh_token"]}
        )
        assert refreshed.status == 200, refreshed.body
        replay = self.api.call(
            "POST", "/api/v1/auth/refresh", body={"refresh_token": reused["refresh_token"]}
        )
        assert replay.status == 401, replay.body  # the reuse revokes the whole family
        return {"logged out": logged_out["access_token"], "reused family": refreshed.json()["access_token"]}

    def check_revoked(self, tokens: dict[str, str], phase: str) -> None:
        for what, token in tokens.items():
            answer = self.api.call("GET", "/api/v1/me", token)
            if answer.status == 200:
                self.figures.revoked_accepted.append(f"{phase}: {what}")

    def outage(self, phase: str, kill: list[Any], writers: list[Writer], email: str, seconds: float) -> None:
        revoked = self.revoked_sessions(email)
        for server in kill:
            server.kill()
        self.log(f"{phase}: killed, down for {seconds:.0f}s under load")
        down_until = time.monotonic() + seconds
        if self.redis in kill and self.mongo not in kill:
            # A logout while Redis is down must still count once Redis is back (empty).
            during = self.api.session(email)
            if self.api.call("POST", "/api/v1/auth/logout", during["access_token"]).status == 204:
                revoked["logged out during the outage"] = during["access_token"]
        time.sleep(max(0.0, down_until - time.monotonic()))
        for server in kill:
            server.start()
        restarted = time.monotonic()
        if self.mongo in kill:
            self.figures.recovery[f"{phase}: every worker's /ready"] = self.workers_ready_after(restarted)
        if self.redis in kill:
            self.figures.recovery[f"{phase}: /ready ready (Redis)"] = self.redis_ready_after(restarted)
        self.figures.recovery[f"{phase}: first acknowledged write"] = self.first_write_after(
            writers, restarted
        )
        time.sleep(SESSION_WINDOW_SECONDS + 0.5)
        self.check_revoked(revoked, phase)
        self.log(f"{phase}: recovered")

    def run(self, writers_count: int, outage_seconds: float) -> Figures:
        if wait_until(lambda: self.api.call("GET", "/ready").status == 200, 60, every=0.2) is None:
            raise RuntimeError(
                f"the service never became ready:\n{self.service.log_path.read_text()[-3000:]}"
            )
        if wait_until(lambda: len(self.service.workers()) == 2, 30) is None:
            raise RuntimeError("the service did not start two workers")
        self.api.counting = True
        email, _ = self.api.user()
        stop = threading.Event()
        writers = [
            Writer(self.api, self.api.user()[1]["access_token"], stop, 10_000) for _ in range(writers_count)
        ]
        for writer in writers:
            writer.start()
        try:
            time.sleep(2.0)
            self.outage("redis", [self.redis], writers, email, outage_seconds)
            self.outage("database", [self.mongo], writers, email, outage_seconds)
            self.outage("both", [self.redis, self.mongo], writers, email, outage_seconds)
            time.sleep(1.0)
        finally:
            stop.set()
            for writer in writers:
                writer.join(HANG_SECONDS * 4)
        self.verify(writers)
        return self.figures

    def verify(self, writers: list[Writer]) -> None:
        from pymongo import MongoClient  # noqa: PLC0415

        records = [record for writer in writers for record in writer.records.values()]
        self.figures.acknowledged = sum(len(writer.acked_at) for writer in writers)
        self.figures.stale_reads = sum(len(writer.stale) for writer in writers)
        self.figures.reads = sum(writer.reads for writer in writers)
        client: MongoClient[dict[str, Any]]
        with MongoClient(self.mongo.uri, serverSelectionTimeoutMS=10_000) as client:
            stored: dict[str, tuple[int, str]] = {}
            row: dict[str, Any]
            for row in client["notes"]["notes"].find({}, {"version": 1, "title": 1}):
                stored[str(row["_id"])] = (int(row["version"]), str(row["title"]))
        self.figures.lost = lost_writes(records, stored)


def report(figures: Figures, seconds: float) -> list[str]:
    outcomes = figures.outcomes
    print("\ncrash run figures")
    print(f"  writes acknowledged       {figures.acknowledged}")
    print(f"  acknowledged writes lost  {len(figures.lost)}")
    print(f"  reads checked / stale     {figures.reads} / {figures.stale_reads}")
    print(f"  revoked sessions accepted {len(figures.revoked_accepted)}")
    print(f"  answers: below 500 {outcomes.get('ok', 0)}, 503 with the error body {outcomes.get('503', 0)}")
    print(
        f"  5xx other than 503 {outcomes.get('5xx', 0)}, malformed 503 {outcomes.get('bad_503', 0)}, "
        f"unanswered after {HANG_SECONDS:.0f}s {outcomes.get('hang', 0)}"
    )
    for what, taken in figures.recovery.items():
        shown = "not within the bound" if taken is None else f"{taken:.2f}s"
        print(f"  recovery, {what}: {shown} (bound {RECOVERY_BOUND_SECONDS:.0f}s)")
    print(f"  run time {seconds:.0f}s")
    problems = figures.broken()
    for problem in problems:
        print(f"BROKEN: {problem}")
    for line in figures.lost[:10]:
        print(f"  lost: {line}")
    for line in figures.bad_answers:
        print(f"  answer: {line}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.crash", description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers (default 8)")
    parser.add_argument("--outage", type=float, default=3.0, help="seconds each outage lasts (default 3)")
    args = parser.parse_args(argv)
    if args.writers < 1 or not 0.5 <= args.outage <= 60:
        parser.error("--writers must be >= 1 and --outage between 0.5 and 60 seconds")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="notes-crash-"))
    try:
        with (
            RedisServer(password=REDIS_TOKEN) as redis,
            SecantusServer(durable=True) as mongo,
            running_service(redis, mongo, workdir) as service,
        ):
            figures = CrashRun(service, redis, mongo, workdir / "scratch").run(args.writers, args.outage)
            problems = report(figures, time.monotonic() - started)
            if problems:
                print(f"service log: last lines\n{service.log_path.read_text(errors='replace')[-2000:]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
