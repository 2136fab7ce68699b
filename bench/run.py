"""`make bench`: wrk against the notes API on loopback, next to a bare-framework ceiling.

One run, per worker count: the ceiling (bench/hello_app.py, same uvicorn options as the API),
then the API started like production (``python -m notes_api``, NOTES_ENV=production) with its
own Redis and SecantusDB: the cached first page, a cached note, note creation and login.
wrk shares the machine's cores with everything it measures, so the figures that carry over
to other machines are the ratios to the ceiling measured in the same run, not the absolutes.

Prints a table, the exact wrk command lines, and PASS/FAIL per target. A missed target only
fails the exit status with ``--strict``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devtools.localservices import RedisServer, SecantusServer, free_port
from devtools.tlsfiles import make_tls_files
from notes_api.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
# Relative to ROOT, where wrk runs, so the printed commands can be pasted from the repo root.
LUA_DIR = Path("bench") / "lua"

RAISED_LIMIT = "1000000/minute"
PRODUCTION_LIMITS = (
    f"NOTES_RATE_LIMIT_API={Settings.model_fields['rate_limit_api'].default}, "
    f"NOTES_RATE_LIMIT_AUTH={Settings.model_fields['rate_limit_auth'].default}"
)
# A login takes hundreds of milliseconds of CPU, and queued ones add up: wrk's default 2 s
# would count them as timeouts rather than as latency.
LOGIN_TIMEOUT = 10
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account on a throwaway database
SEED_NOTES = 25  # more than the default page (20), so the cached first page is a full one

# The targets for the cached reads, defined at 64 connections on a 2-core machine.
TARGET_CONNECTIONS = 64
TARGET_MIN_RATIO = 0.5
TARGET_MAX_P99_MS = 50.0

SCENARIOS = ("hello", "list", "get", "create", "login")

# Cores busy outside the benchmark above which a scenario waits (--wait-quiet) and warns.
QUIET_CORES = 0.25
# Warn when the ceiling before and after the API differ by more than this share of their mean.
DRIFT_WARNING = 0.15

CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark could not measure (a server did not start, wrk failed)."""


# --- processes ---------------------------------------------------------------------------


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after the last ")" do not.
    return raw[raw.rindex(")") + 2 :].split()


def process_cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent on anything but idle and I/O wait since boot."""
    with Path("/proc/stat").open() as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def busy_cores(seconds: float) -> float:
    start, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy_seconds() - start) / (time.monotonic() - t0)


def group_cpu_seconds(pgid: int) -> float:
    """CPU of every live process in a process group: the uvicorn supervisor and its workers."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


# No proxy from the environment: every request of the benchmark stays on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """One request with the standard library; returns (status, parsed JSON or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URLs only
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@dataclass
class ServerProcess:
    """A uvicorn server in its own process group, so stop() reaches every worker."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    logdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.logdir / f"{self.name}.log"

    def start(self, ready_path: str, timeout: float = 40.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                status, _ = http("GET", self.base + ready_path, timeout=2.0)
                if status == 200:
                    return
            time.sleep(0.1)
        raise BenchError(
            f"{self.name} did not answer 200 on {ready_path} within {timeout:.0f}s; "
            f"log: {self.log_path}\n{self.log_tail()}"
        )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(
                f"{self.name} exited with {self.proc.returncode}; log: {self.log_path}\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        pgid = proc.pid
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)
        finally:
            # Also after Ctrl-C: workers that outlived their supervisor would keep the port
            # and a core busy.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


@contextlib.contextmanager
def running(server: ServerProcess, ready_path: str) -> Iterator[ServerProcess]:
    try:
        server.start(ready_path)
        yield server
    finally:
        server.stop()


# --- scenarios and results -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    script: str
    path: str
    connections: int
    duration: int
    warmup: int
    timeout: int
    args: tuple[str, ...] = ()
    shown_args: tuple[str, ...] = ()  # args as printed: no tokens or passwords in the output
    cached: bool = False  # the targets apply
    cache_name: str | None = None  # label of notes_cache_requests_total to check for hits
    note: str = ""


@dataclass
class Result:
    key: str
    label: str
    workers: int
    connections: int
    threads: int
    duration_s: int
    warmup_s: int
    command: str
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    timeouts: int
    ratio: float | None = None
    # The ceiling's CPU per request over this scenario's: the ratio to expect with the same
    # CPU for both, so it holds when other processes made the requests/s ratio unfair.
    cpu_ratio: float | None = None
    # Server CPU per request: unlike requests/s, it hardly moves when other processes
    # take cores away, so it is the figure to compare across noisy runs.
    server_cpu_us_per_request: float = 0.0
    response_bytes: int = 0
    cpu_cores: dict[str, float] = field(default_factory=dict)
    cache: dict[str, float] | None = None
    dependency_errors: float = 0.0
    note: str = ""
    # Measured again in slices alternating with the ceiling (see Bench.slices): how
    # many, what this scenario and the ceiling did in their slices; the ratios come from those.
    slices: int = 1
    paired_rps: float | None = None
    paired_cpu_us_per_request: float | None = None
    paired_ceiling_rps: float | None = None
    paired_ceiling_cpu_us_per_request: float | None = None


@dataclass
class Sample:
    """One wrk run against one server: wrk's figures, the wall time, and CPU seconds used
    meanwhile by wrk and by each process we watch (plus the whole machine)."""

    figures: dict[str, Any]
    wall: float
    wrk_cpu: float
    cpu: dict[str, float]


@dataclass(frozen=True)
class TargetCheck:
    workers: int
    scenario: str
    what: str
    measured: str
    passed: bool


def wrk_command(scenario: Scenario, base: str, threads: int, duration: int, shown: bool = False) -> list[str]:
    """wrk's argv; with shown=True, tokens and passwords are replaced by placeholders."""
    argv = [
        "wrk",
        f"-t{min(threads, scenario.connections)}",
        f"-c{scenario.connections}",
        f"-d{duration}s",
        "--timeout",
        f"{scenario.timeout}s",
        "--latency",
        "-s",
        str(LUA_DIR / scenario.script),
        base + scenario.path,
    ]
    extra = scenario.shown_args if shown else scenario.args
    return [*argv, "--", *extra] if extra else argv


def shown_command(argv: list[str]) -> str:
    return " ".join(a if a.startswith("<") else shlex.quote(a) for a in argv)


def redacted(argv: list[str]) -> str:
    """The command for an error message: what follows "--" is a token or a password."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    return shlex.join(head) + (" -- <script arguments>" if "--" in argv else "")


def run_wrk(argv: list[str], duration: int) -> tuple[dict[str, Any], str, float]:
    """Run wrk; return (its done() figures, its output, its CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        completed = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=duration + 30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not stop after {duration + 30}s: {redacted(argv)}") from exc
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = completed.stdout + completed.stderr
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {completed.returncode}): {redacted(argv)}\n{output}")
    return json.loads(line.removeprefix("WRK_RESULT ")), output, cpu


_METRIC = re.compile(r"^(notes_cache_requests_total|notes_dependency_errors_total)\{([^}]*)\}\s+(\S+)$")


def scrape(base: str) -> dict[str, float]:
    """Cache lookups by (cache, result) and dependency errors, summed over the workers."""
    status, text = http("GET", base + "/metrics")
    if status != 200 or not isinstance(text, str):
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if match.group(1) == "notes_cache_requests_total":
            key = f"cache:{labels.get('cache')}:{labels.get('result')}"
        else:
            key = "dependency_errors"
        found[key] = found.get(key, 0.0) + float(match.group(3))
    return found


class Bench:
    def __init__(
        self, args: argparse.Namespace, redis: RedisServer, mongo: SecantusServer, logdir: Path
    ) -> None:
        self.args = args
        self.redis = redis
        self.mongo = mongo
        self.logdir = logdir
        self.signing_key = secrets.token_urlsafe(48)
        self.quiet_budget = float(args.wait_quiet)

    # --- environments --------------------------------------------------------------------

    def server_env(self, workers: int, port: int, database: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.redis.tls is not None:
            env["NOTES_REDIS_CA_FILE"] = str(self.redis.tls.ca_file)
        env.update(
            {
                "NOTES_ENV": "production",
                "NOTES_HOST": "127.0.0.1",
                "NOTES_PORT": str(port),
                "NOTES_WORKERS": str(workers),
                "NOTES_ACCESS_LOG": "true" if self.args.access_log else "false",
                "NOTES_MONGODB_URI": self.mongo.uri,
                "NOTES_MONGODB_DATABASE": database,
                "NOTES_REDIS_URL": self.redis.url,
                "NOTES_REDIS_AUTH_TOKEN": self.redis.password or "",
                "NOTES_JWT_SIGNING_KEY": self.signing_key,
                "NOTES_RATE_LIMIT_API": RAISED_LIMIT,
                "NOTES_RATE_LIMIT_AUTH": RAISED_LIMIT,
                # Only shortens the stop between worker counts; requests are long finished then.
                "NOTES_SHUTDOWN_GRACE_SECONDS": "2",
            }
        )
        return env

    @staticmethod
    def shown_env(env: dict[str, str]) -> str:
        shown = {
            k: ("<generated>" if k in ("NOTES_JWT_SIGNING_KEY", "NOTES_REDIS_AUTH_TOKEN") else v)
            for k, v in sorted(env.items())
            if k.startswith("NOTES_")
        }
        return " ".join(f"{k}={shlex.quote(v) if not v.startswith('<') else v}" for k, v in shown.items())

    # --- one worker count ------------------------------------------------------------------

    def measure(
        self,
        scenario: Scenario,
        server: ServerProcess,
        workers: int,
        paired: tuple[Scenario, ServerProcess] | None = None,
    ) -> Result:
        """One run of the full duration. With ``paired`` (the ceiling and its server), then
        slices for the ratio, see ``slices``; the cache and error counts cover both."""
        self.warm_up(scenario, server)
        self.wait_for_quiet()
        server.check_alive()
        metrics_before = scrape(server.base) if scenario.key != "hello" else {}
        progress(f"  measure {scenario.label} ({scenario.duration}s, {scenario.connections} connections)")
        profiler = self.start_profiler(server, scenario, workers, scenario.duration)
        sampled = self.sample(scenario, server, scenario.duration)
        self.stop_profiler(profiler)
        result = self.result(scenario, server, workers, [sampled])
        if paired is not None:
            self.slices(result, scenario, server, *paired, workers)
        metrics_after = scrape(server.base) if scenario.key != "hello" else {}
        self.count_cache(result, scenario, metrics_before, metrics_after)
        return result

    def slices(
        self,
        result: Result,
        scenario: Scenario,
        server: ServerProcess,
        ceiling: Scenario,
        ceiling_server: ServerProcess,
        workers: int,
    ) -> None:
        """The scenario again, in slices that alternate with slices of the ceiling
        (ceiling-API, API-ceiling, ceiling-API, ...), for its ratio: both sides of the ratio see
        the same machine, whose speed drifts by up to a third within a run. Requests, time and
        CPU are summed over each side's slices. Latency stays the full run's: every short run
        starts with wrk opening all its connections at once, which puts a burst into the tail
        of a 2 s window (the ceiling's own p99 in slices was 3 to 10 times its full run's)."""
        count = max(1, min(self.args.slices, scenario.duration))
        length = max(1, round(scenario.duration / count))
        progress(
            f"  measure {scenario.label} again: {count} slices of {length}s alternating with the ceiling"
        )
        mine: list[Sample] = []
        theirs: list[Sample] = []
        for index in range(count):
            steps = [(ceiling, ceiling_server, theirs), (scenario, server, mine)]
            for which, where, into in steps if index % 2 == 0 else reversed(steps):
                into.append(self.sample(which, where, length))
        sliced = self.result(scenario, server, workers, mine)
        reference = self.result(ceiling, ceiling_server, workers, theirs)
        # A failure in a slice counts like one in the full run.
        result.non2xx += sliced.non2xx
        result.socket_errors += sliced.socket_errors
        result.timeouts += sliced.timeouts
        result.slices = count
        result.paired_rps = sliced.rps
        result.paired_cpu_us_per_request = sliced.server_cpu_us_per_request
        result.paired_ceiling_rps = reference.rps
        result.paired_ceiling_cpu_us_per_request = reference.server_cpu_us_per_request

    def warm_up(self, scenario: Scenario, server: ServerProcess) -> None:
        if scenario.warmup:
            progress(f"  warm-up {scenario.label} ({scenario.warmup}s)")
            run_wrk(wrk_command(scenario, server.base, self.args.threads, scenario.warmup), scenario.warmup)

    def sample(self, scenario: Scenario, server: ServerProcess, duration: int) -> Sample:
        cpu_before = self.cpu_snapshot(server)
        started = time.monotonic()
        figures, output, wrk_cpu = run_wrk(
            wrk_command(scenario, server.base, self.args.threads, duration), duration
        )
        wall = time.monotonic() - started
        cpu_after = self.cpu_snapshot(server)
        server.check_alive()
        if self.args.verbose:
            progress(output.rstrip())
        return Sample(
            figures, wall, wrk_cpu, {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
        )

    def result(
        self, scenario: Scenario, server: ServerProcess, workers: int, samples: list[Sample]
    ) -> Result:
        requests = sum(s.figures["requests"] for s in samples)
        duration_us = sum(s.figures["duration_us"] for s in samples)
        wall = sum(s.wall for s in samples)
        lat = [s.figures["latency_us"] for s in samples]

        def median(key: str) -> float:
            values = sorted(x[key] for x in lat)
            return float(values[len(values) // 2])

        def worst(key: str) -> float:
            return float(max(x[key] for x in lat))

        def total(key: str) -> int:
            return int(sum(s.figures[key] for s in samples))

        server_cpu = sum(s.cpu["server"] for s in samples)
        cpu = {name: sum(s.cpu[name] for s in samples) / wall for name in samples[0].cpu}
        cpu["wrk"] = sum(s.wrk_cpu for s in samples) / wall
        machine_busy = cpu.pop("machine")
        # Whatever else ran on the machine meanwhile (other builds or tests) took cores from
        # the server: the figure to read before trusting a scenario.
        cpu["other"] = max(0.0, machine_busy - sum(cpu.values()))
        # The command shown is one slice's: with several, it ran once per slice.
        seconds = [int(s.figures["duration_us"] / 1e6 + 0.5) for s in samples]
        shown = wrk_command(scenario, server.base, self.args.threads, seconds[0], shown=True)
        return Result(
            key=scenario.key,
            label=scenario.label,
            workers=workers,
            connections=scenario.connections,
            threads=min(self.args.threads, scenario.connections),
            duration_s=sum(seconds),
            warmup_s=scenario.warmup,
            command=shown_command(shown),
            requests=requests,
            rps=requests / (duration_us / 1e6),
            p50_ms=median("p50") / 1000,
            p90_ms=median("p90") / 1000,
            p99_ms=worst("p99") / 1000,
            p999_ms=worst("p999") / 1000,
            max_ms=worst("max") / 1000,
            non2xx=total("non2xx"),
            socket_errors=total("connect_errors") + total("read_errors") + total("write_errors"),
            timeouts=total("timeouts"),
            server_cpu_us_per_request=round(server_cpu / max(requests, 1) * 1e6, 1),
            response_bytes=total("bytes") // max(requests, 1),
            cpu_cores={name: round(value, 2) for name, value in cpu.items()},
            note=scenario.note,
        )

    @staticmethod
    def count_cache(
        result: Result, scenario: Scenario, before: dict[str, float], after: dict[str, float]
    ) -> None:
        result.dependency_errors = after.get("dependency_errors", 0.0) - before.get("dependency_errors", 0.0)
        if scenario.cache_name:
            delta = {
                r: after.get(f"cache:{scenario.cache_name}:{r}", 0.0)
                - before.get(f"cache:{scenario.cache_name}:{r}", 0.0)
                for r in ("hit", "miss", "bypass", "error")
            }
            hits = sum(delta.values())
            result.cache = {**delta, "hit_ratio": round(delta["hit"] / hits, 4) if hits else 0.0}

    def wait_for_quiet(self) -> None:
        """Between scenarios our own servers idle, so what keeps the cores busy is someone else."""
        deadline = time.monotonic() + self.quiet_budget
        while True:
            busy = busy_cores(0.5)
            if busy < QUIET_CORES:
                break
            if time.monotonic() >= deadline:
                progress(
                    f"  the machine stays busy ({busy:.2f} cores used by other processes); measuring anyway"
                )
                break
            progress(f"  waiting for the machine to be quiet ({busy:.2f} cores busy elsewhere)")
            time.sleep(1.5)
        self.quiet_budget = max(0.0, deadline - time.monotonic())

    def cpu_snapshot(self, server: ServerProcess) -> dict[str, float]:
        snapshot = {"machine": machine_busy_seconds(), "server": server.cpu_seconds()}
        if server.name.startswith("api"):
            snapshot["redis"] = process_cpu_seconds(self.redis.proc.pid) if self.redis.proc else 0.0
            snapshot["mongo"] = process_cpu_seconds(self.mongo.proc.pid) if self.mongo.proc else 0.0
        return snapshot

    def start_profiler(
        self, server: ServerProcess, scenario: Scenario, workers: int, duration: int
    ) -> subprocess.Popen[bytes] | None:
        if not self.args.profile or server.proc is None:
            return None
        # Collapsed stacks: flamegraph.pl and speedscope both read them, and so does grep.
        out = Path(self.args.profile) / f"w{workers}-{scenario.key}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            self.py_spy(),
            "record",
            "--pid",
            str(server.proc.pid),
            "--subprocesses",
            "--nonblocking",
            # Only samples holding the GIL: a CPU profile, without idle thread-pool threads.
            "--gil",
            "--rate",
            "250",
            "--duration",
            str(duration),
            "--format",
            "raw",
            "-o",
            str(out),
        ]
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def stop_profiler(profiler: subprocess.Popen[bytes] | None) -> None:
        if profiler is None:
            return
        try:
            profiler.wait(30)
        except subprocess.TimeoutExpired:
            profiler.terminate()
            profiler.wait(5)

    @staticmethod
    def py_spy() -> str:
        beside = Path(sys.executable).with_name("py-spy")
        found = str(beside) if beside.exists() else shutil.which("py-spy")
        if found is None:
            raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
        return found

    def ceiling_server(self, workers: int) -> ServerProcess:
        port = free_port()
        env = self.server_env(workers, port, "unused")
        progress(f"workers={workers}: ceiling on port {port}")
        return ServerProcess(
            f"hello-w{workers}", [sys.executable, "-m", "bench.hello_app"], env, port, self.logdir
        )

    def ceiling_scenario(self, again: bool = False) -> Scenario:
        return Scenario(
            "hello-after" if again else "hello",
            "GET /hello (ceiling, after)" if again else "GET /hello (ceiling)",
            "hello.lua",
            "/hello",
            self.args.connections,
            self.args.duration,
            self.args.warmup,
            self.args.wrk_timeout,
            note="bench/hello_app.py: bare FastAPI, same uvicorn options",
        )

    def api(self, workers: int, ceiling_server: ServerProcess | None) -> tuple[list[Result], str]:
        port = free_port()
        env = self.server_env(workers, port, f"bench_w{workers}_{secrets.token_hex(3)}")
        server = ServerProcess(f"api-w{workers}", [sys.executable, "-m", "notes_api"], env, port, self.logdir)
        shown = f"{self.shown_env(env)} python -m notes_api"
        progress(f"workers={workers}: API on port {port}")
        with running(server, "/ready"):
            seed = self.seed(server.base, workers)
            scenarios = self.api_scenarios(seed)
            results = []
            for scenario in scenarios:
                if scenario.key not in self.args.scenarios:
                    continue
                if scenario.cached:
                    self.warm(server.base, scenario, seed["reader_token"])
                # The targets' scenarios get their ratio from slices beside the ceiling.
                paired = None
                if scenario.cached and ceiling_server is not None and self.args.slices > 1:
                    paired = (self.ceiling_scenario(), ceiling_server)
                results.append(self.measure(scenario, server, workers, paired))
        return results, shown

    def seed(self, base: str, workers: int) -> dict[str, str]:
        """Two accounts: the reader's cache is never invalidated by the writer's inserts."""
        progress(f"  seed: 2 accounts, {SEED_NOTES} notes")
        tag = f"w{workers}-{secrets.token_hex(3)}"
        seed: dict[str, str] = {}
        for role in ("reader", "writer"):
            email = f"bench-{role}-{tag}@example.com"
            status, body = http(
                "POST", f"{base}/api/v1/auth/register", {"email": email, "password": PASSWORD}
            )
            expect(status, 201, "register", body)
            status, body = http("POST", f"{base}/api/v1/auth/login", {"email": email, "password": PASSWORD})
            expect(status, 200, "login", body)
            seed[f"{role}_email"] = email
            seed[f"{role}_token"] = body["access_token"]
        for i in range(SEED_NOTES):
            status, body = http(
                "POST",
                f"{base}/api/v1/notes",
                {
                    "title": f"Note {i}: planning the week",
                    "body": (
                        "## Agenda\n\n- review the *release* checklist\n- answer the support queue\n"
                        "- write the post-mortem for the cache outage\n\n"
                    )
                    * 3,
                    "tags": ["work", f"t{i % 5}"],
                    "pinned": i % 7 == 0,
                    "archived": False,
                },
                token=seed["reader_token"],
            )
            expect(status, 201, "create note", body)
            seed["note_id"] = body["id"]
        return seed

    @staticmethod
    def warm(base: str, scenario: Scenario, token: str) -> None:
        """Fill the cache and check that the scenario's request succeeds before timing it."""
        for _ in range(2):
            status, body = http("GET", base + scenario.path, token=token)
            expect(status, 200, f"warm {scenario.label}", body)

    def api_scenarios(self, seed: dict[str, str]) -> list[Scenario]:
        a = self.args
        token = seed["reader_token"]
        return [
            Scenario(
                "list",
                "GET /api/v1/notes (cached)",
                "notes_list.lua",
                "/api/v1/notes",
                a.connections,
                a.duration,
                a.warmup,
                a.wrk_timeout,
                (token,),
                ("<access token>",),
                cached=True,
                cache_name="list",
                note=f"first page of {min(SEED_NOTES, 20)} notes from Redis",
            ),
            Scenario(
                "get",
                "GET /api/v1/notes/{id} (cached)",
                "note_get.lua",
                f"/api/v1/notes/{seed['note_id']}",
                a.connections,
                a.duration,
                a.warmup,
                a.wrk_timeout,
                (token,),
                ("<access token>",),
                cached=True,
                cache_name="note",
                note="one note from Redis",
            ),
            Scenario(
                "create",
                "POST /api/v1/notes",
                "note_create.lua",
                "/api/v1/notes",
                a.connections,
                a.duration,
                a.warmup,
                a.wrk_timeout,
                (seed["writer_token"],),
                ("<access token>",),
                note="insert into SecantusDB (~1 ms/insert, not DocumentDB)",
            ),
            Scenario(
                "login",
                "POST /api/v1/auth/login",
                "login.lua",
                "/api/v1/auth/login",
                a.login_connections,
                a.login_duration,
                a.login_warmup,
                max(a.wrk_timeout, LOGIN_TIMEOUT),
                (seed["writer_email"], PASSWORD),
                ("<email>", "<password>"),
                note=f"argon2id verify ({argon2_cost()}) per request",
            ),
        ]

    def run(self, workers: int) -> dict[str, Any]:
        # The ceiling is measured before and after the API and the other scenarios' ratios
        # taken to the mean of the two: this machine's speed drifts over a run (the ceiling
        # alone moved by a third between runs), and one measurement at the start would credit
        # or charge the API with the drift. The cached reads, which the targets are about, go
        # further: they alternate with the ceiling in short slices (Bench.slices), so the
        # ceiling server stays up, idle, while the API runs.
        wanted = "hello" in self.args.scenarios
        with contextlib.ExitStack() as stack:
            ceiling_server = (
                stack.enter_context(running(self.ceiling_server(workers), "/hello")) if wanted else None
            )
            before = (
                self.measure(self.ceiling_scenario(), ceiling_server, workers) if ceiling_server else None
            )
            api_results, server_command = self.api(workers, ceiling_server)
            after = (
                self.measure(self.ceiling_scenario(again=True), ceiling_server, workers)
                if ceiling_server is not None and self.args.bracket_ceiling
                else None
            )
        ceilings = [c for c in (before, after) if c is not None]
        drift = assign_ratios(ceilings, api_results)
        results = [*ceilings[:1], *api_results, *ceilings[1:]]
        return {
            "workers": workers,
            "ceiling_drift": drift,
            "server_command": server_command,
            "results": results,
            "targets": evaluate(results, workers),
        }


def assign_ratios(ceilings: list[Result], results: list[Result]) -> float | None:
    """Set each result's ratios to the ceiling: a sliced result's from its slices and the
    ceiling's alternating with them, the others' (and the ceilings' own) to the mean of the
    full ceiling runs. Returns
    how far the full ceiling runs differ, as a share of their mean (None unless two)."""
    if not ceilings:
        return None
    reference_rps = sum(c.rps for c in ceilings) / len(ceilings)
    reference_cpu = sum(c.server_cpu_us_per_request for c in ceilings) / len(ceilings)
    for result in [*ceilings, *results]:
        if result.paired_rps and result.paired_ceiling_rps:
            result.ratio = result.paired_rps / result.paired_ceiling_rps
            if result.paired_cpu_us_per_request and result.paired_ceiling_cpu_us_per_request:
                result.cpu_ratio = result.paired_ceiling_cpu_us_per_request / result.paired_cpu_us_per_request
            continue
        result.ratio = result.rps / reference_rps if reference_rps else None
        if result.server_cpu_us_per_request:
            result.cpu_ratio = reference_cpu / result.server_cpu_us_per_request
    if len(ceilings) == 2 and reference_rps:
        return abs(ceilings[1].rps - ceilings[0].rps) / reference_rps
    return None


def expect(status: int, wanted: int, what: str, body: Any) -> None:
    if status != wanted:
        raise BenchError(f"{what}: expected {wanted}, got {status}: {str(body)[:300]}")


def evaluate(results: list[Result], workers: int) -> list[TargetCheck]:
    checks = []
    for r in results:
        if r.key not in ("list", "get"):
            continue
        if r.ratio is not None:  # None when the ceiling was left out with --scenarios
            checks.append(
                TargetCheck(
                    workers,
                    r.label,
                    f">= {TARGET_MIN_RATIO:.0%} of ceiling",
                    f"{r.ratio:.0%}" + (f" (by cpu {r.cpu_ratio:.0%})" if r.cpu_ratio is not None else ""),
                    r.ratio >= TARGET_MIN_RATIO,
                )
            )
        checks += [
            TargetCheck(
                workers,
                r.label,
                f"p99 < {TARGET_MAX_P99_MS:.0f} ms",
                f"{r.p99_ms:.1f} ms",
                r.p99_ms < TARGET_MAX_P99_MS,
            ),
            TargetCheck(workers, r.label, "no non-2xx responses", str(r.non2xx), r.non2xx == 0),
            # A timed-out request has no latency sample, so it would otherwise flatter the p99.
            TargetCheck(
                workers,
                r.label,
                "no socket errors or timeouts",
                str(r.socket_errors + r.timeouts),
                r.socket_errors + r.timeouts == 0,
            ),
        ]
    return checks


# --- output --------------------------------------------------------------------------------


def argon2_cost() -> str:
    """The production defaults, which the benchmark uses (it passes no NOTES_PASSWORD_HASH_*)."""
    fields = Settings.model_fields
    names = ("password_hash_time_cost", "password_hash_memory_kib", "password_hash_parallelism")
    if not all(name in fields for name in names):
        return "the service's default cost"
    t, m, p = (fields[name].default for name in names)
    return f"t={t}, m={m // 1024} MiB, p={p}"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("uvicorn", "fastapi", "starlette", "uvloop", "httptools", "redis", "pymongo"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "absent"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    first = (wrk.stdout + wrk.stderr).splitlines()[:1]
    found["wrk"] = first[0].split(" Copyright")[0].removeprefix("wrk ").strip() if first else "unknown"
    return found


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": model,
        "kernel": platform.release(),
    }


CPU_COLUMNS = ("server", "redis", "mongo", "wrk", "other")


def table(results: list[Result]) -> str:
    head = (
        f"{'scenario':<32} {'conns':>5} {'time':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'non-2xx':>7} {'errors':>6} {'ceiling':>7} {'by cpu':>6} {'cpu us/req':>10}  "
        f"{'cores: server/redis/mongo/wrk/other':<35} cache hits"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        cpu = r.cpu_cores
        cpu_text = "/".join(f"{cpu[k]:.2f}" if k in cpu else "-" for k in CPU_COLUMNS)
        cache = f"{r.cache['hit_ratio']:.1%}" if r.cache else "-"
        ratio = f"{r.ratio:.0%}" if r.ratio is not None else "-"
        cpu_ratio = f"{r.cpu_ratio:.0%}" if r.cpu_ratio is not None else "-"
        lines.append(
            f"{r.label:<32} {r.connections:>5} {r.duration_s:>4}s {r.rps:>7.0f} "
            f"{r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.non2xx:>7} {r.socket_errors + r.timeouts:>6} "
            f"{ratio:>7} {cpu_ratio:>6} {r.server_cpu_us_per_request:>10.0f}  {cpu_text:<35} {cache}"
        )
    return "\n".join(lines)


def report(args: argparse.Namespace, runs: list[dict[str, Any]], env_info: dict[str, Any]) -> str:
    m, v = env_info["machine"], env_info["versions"]
    out = [
        "",
        "notes-api benchmark (wrk on loopback)",
        f"machine: {m['cores']} cores ({m['usable_cores']} usable), {m['cpu']}; wrk, the server, Redis and "
        "SecantusDB share them, so compare ratios to the ceiling, not absolute figures",
        f"software: python {v['python']}, uvicorn {v['uvicorn']} (uvloop {v['uvloop']}, httptools "
        f"{v['httptools']}), fastapi {v['fastapi']}, starlette {v['starlette']}, wrk {v['wrk']}",
        f"parameters: workers={','.join(map(str, args.workers))} connections={args.connections} "
        f"threads={args.threads} duration={args.duration}s warm-up={args.warmup}s per scenario; "
        f"login: connections={args.login_connections} duration={args.login_duration}s "
        f"warm-up={args.login_warmup}s",
        f"rate limits RAISED for the run: NOTES_RATE_LIMIT_API and NOTES_RATE_LIMIT_AUTH={RAISED_LIMIT} "
        f"(production defaults {PRODUCTION_LIMITS}); the limiter still runs its Redis call per request",
        f"access log: {'on' if args.access_log else 'off'} (NOTES_ACCESS_LOG="
        f"{'true' if args.access_log else 'false'}); Redis: "
        + (
            "TLS, as ElastiCache in production"
            if args.redis_tls
            else "plain TCP (production uses TLS: --redis-tls)"
        ),
        "POST /api/v1/notes writes to SecantusDB (a Python MongoDB-wire server on the same cores, ~1 ms per "
        "insert): its figure is not representative of DocumentDB",
        f"login is slow by design (argon2id {argon2_cost()}: a fraction of a second of CPU per "
        f"request), so it runs at {args.login_connections} connections for {args.login_duration}s with a "
        f"{max(args.wrk_timeout, LOGIN_TIMEOUT)} s wrk timeout; more connections would only queue",
        "non-2xx is wrk's status error count (statuses > 399); errors = socket errors + wrk timeouts; "
        "ceiling = req/s as a share of the ceiling's: for the cached reads, measured again in slices "
        "alternating with slices of the ceiling (--slices) and taken from those, for the others to the "
        "mean of the ceiling measured before and after the API; by cpu = the ceiling's CPU per request "
        "over this one's, paired the same way (the same ratio with equal CPU for both, robust to other "
        "load); cpu us/req = server CPU per request; cores = CPU used during the measured seconds "
        "(other: processes outside the benchmark)",
    ]
    if args.profile:
        out.append(
            f"PROFILING with py-spy during the API scenarios ({args.profile}): figures are lower than "
            "without it"
        )
    for run in runs:
        out += [
            "",
            f"== workers={run['workers']} ==",
            f"server: {run['server_command']}",
            "",
            table(run["results"]),
            "",
            "commands:",
        ]
        out += [f"  {r.command}" for r in run["results"]]
        for r in run["results"]:
            if r.paired_rps is not None and r.paired_ceiling_rps is not None:
                out.append(
                    f"  {r.label}, ratio: then {r.slices} slices of "
                    f"{r.duration_s // r.slices}s alternating with the ceiling's: "
                    f"{r.paired_rps:.0f} req/s at {r.paired_cpu_us_per_request:.0f} us/req against "
                    f"{r.paired_ceiling_rps:.0f} req/s at {r.paired_ceiling_cpu_us_per_request:.0f} us/req"
                )
        drift = run.get("ceiling_drift")
        if drift is not None and drift > DRIFT_WARNING:
            out.append(
                f"  WARNING: the ceiling moved {drift:.0%} between before and after the API: the "
                "machine's speed changed during the run; the ratios of the scenarios not measured in "
                "slices use the mean of the two"
            )
        for r in run["results"]:
            other = r.cpu_cores.get("other", 0.0)
            if other >= QUIET_CORES:
                out.append(
                    f"  WARNING: {r.label}: other processes used {other:.2f} cores meanwhile; "
                    "this figure understates the server (rerun on a quiet machine)"
                )
            if r.cache and r.cache["hit_ratio"] < 0.99:
                c = r.cache
                out.append(
                    f"  WARNING: {r.label}: cache hit ratio {c['hit_ratio']:.1%} ({c['miss']:.0f} misses, "
                    f"{c['bypass']:.0f} bypassed, {c['error']:.0f} errors): not the cached path; "
                    "bypassed means the API's Redis circuit was open (see --logs)"
                )
            if r.dependency_errors:
                out.append(
                    f"  WARNING: {r.label}: {r.dependency_errors:.0f} dependency errors during the run "
                    "(the API degrades rather than fails: figures may not be the normal path)"
                )
    out += ["", f"targets (cached reads; defined at {TARGET_CONNECTIONS} connections on 2 cores):"]
    if args.connections != TARGET_CONNECTIONS:
        out.append(f"  note: this run used {args.connections} connections")
    for run in runs:
        for t in run["targets"]:
            out.append(
                f"  workers={t.workers} {t.scenario:<32} {t.what:<30} {t.measured:>19}  "
                f"{'PASS' if t.passed else 'FAIL'}"
            )
    return "\n".join(out)


def write_json(
    path: str, args: argparse.Namespace, runs: list[dict[str, Any]], env_info: dict[str, Any]
) -> None:
    document = {
        **env_info,
        "parameters": {k: v for k, v in vars(args).items() if k != "json"},
        "rate_limits": {"api": RAISED_LIMIT, "auth": RAISED_LIMIT, "raised": True},
        "runs": [
            {
                "workers": run["workers"],
                "server_command": run["server_command"],
                "ceiling_drift": run.get("ceiling_drift"),
                "results": [asdict(r) for r in run["results"]],
                "targets": [asdict(t) for t in run["targets"]],
            }
            for run in runs
        ],
        "all_targets_passed": all(t.passed for run in runs for t in run["targets"]),
    }
    Path(path).write_text(json.dumps(document, indent=2) + "\n")


# --- entry point ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="uvicorn worker counts to measure, comma-separated (e.g. 1,2)",
    )
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS, help="wrk connections")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk threads; one leaves the most CPU to the server on a small machine",
    )
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured seconds before each scenario")
    parser.add_argument("--wrk-timeout", type=int, default=2, help="wrk --timeout in seconds")
    parser.add_argument("--login-connections", type=int, default=4)
    parser.add_argument("--login-duration", type=int, default=5)
    parser.add_argument("--login-warmup", type=int, default=1)
    parser.add_argument("--access-log", action="store_true", help="measure with NOTES_ACCESS_LOG=true")
    parser.add_argument(
        "--redis-tls",
        action="store_true",
        help="Redis over TLS, as ElastiCache with in-transit encryption (default: plain TCP)",
    )
    parser.add_argument("--logs", metavar="DIR", help="keep the servers' logs in DIR (default: discarded)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--profile", metavar="DIR", help="record each API scenario with py-spy (collapsed stacks in DIR)"
    )
    parser.add_argument(
        "--scenarios",
        type=lambda s: s.split(","),
        default=list(SCENARIOS),
        help="comma-separated subset of " + ",".join(SCENARIOS) + " (targets need hello)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30,
        help="seconds, over the whole run, to wait for other processes to leave the cores idle",
    )
    parser.add_argument(
        "--no-bracket-ceiling",
        dest="bracket_ceiling",
        action="store_false",
        help="measure the ceiling once, before the API (default: before and after, ratios to the mean)",
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="the cached reads alternate with the ceiling in this many slices of duration/slices "
        "seconds each, and their ratios are taken to the ceiling's own slices; 1 measures them in one "
        "go, with ratios to the mean of the ceiling before and after",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's own output too")
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {','.join(SCENARIOS)}")
    if any(w < 1 for w in args.workers) or min(args.connections, args.login_connections, args.threads) < 1:
        parser.error("workers, connections and threads must be at least 1")
    if args.slices < 1:
        parser.error("--slices must be at least 1")
    if min(args.duration, args.login_duration) < 1 or min(args.warmup, args.login_warmup) < 0:
        parser.error("durations must be at least 1 s and warm-ups not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        progress("bench: wrk is not installed (scripts/bootstrap.sh bench installs it)")
        return 2
    started = time.monotonic()
    env_info = {"machine": machine(), "versions": versions()}
    runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as cleanup:
        if args.logs:
            logdir = args.logs
            Path(logdir).mkdir(parents=True, exist_ok=True)
        else:
            logdir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="notes-bench-"))
        try:
            # Production refuses a Redis without AUTH, so the local one gets a password too.
            tls = make_tls_files(Path(logdir) / "tls") if args.redis_tls else None
            with (
                RedisServer(password=secrets.token_urlsafe(24), tls=tls) as redis,
                SecantusServer() as mongo,
            ):
                bench = Bench(args, redis, mongo, Path(logdir))
                runs = [bench.run(workers) for workers in args.workers]
        except BenchError as exc:
            progress(f"bench: {exc}")
            return 2
    print(report(args, runs, env_info))
    print(f"\ntotal time {time.monotonic() - started:.0f}s")
    if args.json:
        write_json(args.json, args, runs, env_info)
        print(f"figures written to {args.json}")
    missed = [t for run in runs for t in run["targets"] if not t.passed]
    if missed and args.strict:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
