"""`make bench-exports`: the export worker's throughput and memory against the local servers.

Prints figures and asserts nothing about speed. One run:

1. starts a SecantusDB and a moto server (SQS and S3 over HTTP) on free loopback ports, makes
   the export queue, its DLQ and the bucket, and seeds the notes: one user with 1,000 notes
   for the throughput, and one user per memory size (1,000 and 10,000 by default, 50,000 too:
   past one 8 MiB part). Bodies are about 1 KB of prose-like text (gzip takes it to about a
   third, as real notes);
2. throughput: one worker process (``python -m notes_api.worker``, as its task runs it) takes
   a few exports to warm up, then ``--exports`` exports of the 1,000-note user queued at once;
   exports per minute = exports / wall time from the first send to the last done record. The
   worker's own per-job seconds (its log) and the CPU each process used are printed beside it:
   the worker, moto and SecantusDB share the machine's cores;
3. memory: per size, a fresh worker process exports that user's notes once; its peak resident
   set (VmHWM in /proc/<pid>/status) is read when the export is done, and its peak while idle
   before it. Flat means the ratio of the peaks is close to 1.

moto and SecantusDB are local stand-ins (Python servers on the same cores), not S3 and
DocumentDB: the absolute rate says more about them than about the worker. The memory figures
are the worker's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from devtools.localservices import ExportResources, MotoServer, SecantusServer, create_export_resources
from devtools.worker_process import WorkerProcess
from notes_api.core.db import NOTE_INDEXES, Database
from notes_api.exports.records import DONE, ExportRecords, message_body
from notes_api.worker.settings import WorkerSettings, load_worker_settings

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DATABASE = "notes_bench_exports"
THROUGHPUT_OWNER = "bench-throughput"
WARM_UP_EXPORTS = 3
# Distinct bodies cycled through: far more text than gzip's 32 KB window, so no note compresses
# against a copy of itself.
BODY_POOL = 400
VOCABULARY = (  # noqa: SIM905 - a word list reads better as prose
    "the a to and of in is it for on with as this that be at by from or an are was not have we "
    "meeting notes draft idea list todo project review plan budget design call follow up release "
    "bug fix deploy queue worker export import backup archive tag pinned markdown customer team "
    "week month quarter goal metric report summary question answer decision owner due date next "
    "step risk issue launch test staging production database cache latency error retry timeout"
).split()


# --- processes ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the process's peak resident set size since it started (proc(5))."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def job_records(worker: WorkerProcess) -> list[dict[str, Any]]:
    """The worker's per-job log records (export id, notes, bytes, parts, seconds)."""
    return [r for r in worker.records() if "seconds" in r and "notes" in r]


# --- data --------------------------------------------------------------------------------------


def bodies(size: int, rng: random.Random) -> list[str]:
    pool = []
    for _ in range(BODY_POOL):
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(VOCABULARY)
            words.append(word)
            length += len(word) + 1
        pool.append(" ".join(words)[:size])
    return pool


def seed(client: MongoClient[dict[str, Any]], owner: str, count: int, pool: list[str]) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    for offset in range(0, count, 5000):
        batch = []
        for i in range(offset, min(count, offset + 5000)):
            created = start + timedelta(seconds=i)
            batch.append(
                {
                    "_id": ObjectId(),
                    "owner_id": owner,
                    "title": f"note {i}: {pool[i % len(pool)][:40]}",
                    "body": pool[i % len(pool)],
                    "tags": ["bench", f"t{i % 9}"],
                    "pinned": i % 10 == 0,
                    "archived": i % 13 == 0,
                    "version": 1 + i % 4,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        client[DATABASE]["notes"].insert_many(batch)


async def _create(settings: WorkerSettings, owner: str, count: int) -> list[str]:
    db = Database(settings)
    try:
        records = ExportRecords(db, settings)
        return [(await records.create(owner, None))[0].id for _ in range(count)]
    finally:
        await db.close()


def queue_exports(settings: WorkerSettings, sqs: Any, owner: str, count: int) -> tuple[list[str], float]:
    """``count`` export records of ``owner`` and their messages; (ids, time the first was sent)."""
    ids = asyncio.run(_create(settings, owner, count))
    assert settings.export_queue_url is not None
    started = time.monotonic()
    for offset in range(0, count, 10):  # SendMessageBatch takes at most 10 entries
        entries = [
            {"Id": str(i), "MessageBody": message_body(ids[i], owner)}
            for i in range(offset, min(count, offset + 10))
        ]
        sqs.send_message_batch(QueueUrl=settings.export_queue_url, Entries=entries)
    return ids, started


def wait_done(client: MongoClient[dict[str, Any]], ids: list[str], timeout: float) -> float:
    """Wait until every export in ``ids`` is done; the time it happened."""
    selector = {"_id": {"$in": [ObjectId(i) for i in ids]}, "status": DONE}
    deadline = time.monotonic() + timeout
    while client[DATABASE]["exports"].count_documents(selector) < len(ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"exports not done within {timeout}s")
        time.sleep(0.01)
    return time.monotonic()


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Throughput:
    exports: int
    notes: int
    wall_seconds: float
    exports_per_minute: float
    job_seconds_median: float
    job_seconds_p95: float
    gzip_bytes: int
    cores_worker: float
    cores_moto: float
    cores_secantus: float


@dataclass
class Memory:
    notes: int
    gzip_bytes: int
    parts: int
    job_seconds: float
    idle_peak_rss: int
    peak_rss: int


def measure_throughput(
    env: dict[str, str], settings: WorkerSettings, servers: dict[str, int], client: Any, sqs: Any, args: Any
) -> Throughput:
    worker = WorkerProcess(env)
    try:
        worker.wait_logged("worker started")
        ids, _ = queue_exports(settings, sqs, THROUGHPUT_OWNER, WARM_UP_EXPORTS)
        wait_done(client, ids, 120)
        pids = {"worker": worker.proc.pid, **servers}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        ids, started = queue_exports(settings, sqs, THROUGHPUT_OWNER, args.exports)
        finished = wait_done(client, ids, 600)
        wall = finished - started
        cores = {name: (cpu_seconds(pid) - cpu_before[name]) / wall for name, pid in pids.items()}
        jobs = [job for job in job_records(worker) if job["export_id"] in set(ids)]
    finally:
        worker.drain()
    seconds = sorted(job["seconds"] for job in jobs)
    return Throughput(
        exports=len(ids),
        notes=args.notes,
        wall_seconds=round(wall, 2),
        exports_per_minute=round(len(ids) / wall * 60, 1),
        job_seconds_median=round(statistics.median(seconds), 3),
        job_seconds_p95=round(seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))], 3),
        gzip_bytes=int(jobs[0]["bytes"]),
        cores_worker=round(cores["worker"], 2),
        cores_moto=round(cores["moto"], 2),
        cores_secantus=round(cores["secantus"], 2),
    )


def measure_memory(
    env: dict[str, str], settings: WorkerSettings, client: Any, sqs: Any, notes: int
) -> Memory:
    worker = WorkerProcess(env)
    try:
        worker.wait_logged("worker started")
        time.sleep(0.5)
        idle = peak_rss_bytes(worker.proc.pid)
        ids, _ = queue_exports(settings, sqs, f"bench-rss-{notes}", 1)
        worker.wait_logged(f"export {ids[0]} done", timeout=600)
        peak = peak_rss_bytes(worker.proc.pid)
        job = next(job for job in job_records(worker) if job["export_id"] == ids[0])
    finally:
        worker.drain()
    return Memory(notes, int(job["bytes"]), int(job["parts"]), float(job["seconds"]), idle, peak)


# --- output ------------------------------------------------------------------------------------


def mib(value: int) -> str:
    return f"{value / 1024 / 1024:.1f}"


def report(throughput: Throughput, memory: list[Memory], elapsed: float) -> str:
    lines = [
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"moto {metadata.version('moto')}, SecantusDB {metadata.version('SecantusDB')}, "
        f"boto3 {metadata.version('boto3')}, pymongo {metadata.version('pymongo')}",
        "",
        f"throughput: one worker process, {throughput.exports} exports of {throughput.notes} notes "
        f"(~1 KB bodies, {throughput.gzip_bytes} bytes of gzip each), queued at once",
        f"  exports per minute per worker: {throughput.exports_per_minute} "
        f"({throughput.exports} in {throughput.wall_seconds} s, send to last done record)",
        f"  per job (worker log): median {throughput.job_seconds_median} s, "
        f"p95 {throughput.job_seconds_p95} s",
        f"  cores used: worker {throughput.cores_worker}, moto {throughput.cores_moto}, "
        f"SecantusDB {throughput.cores_secantus}",
        "",
        "memory: a fresh worker process per export, peak resident set (VmHWM)",
        "| notes | gzip MiB | parts | job s | idle peak MiB | export peak MiB | growth MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in memory:
        lines.append(
            f"| {m.notes} | {mib(m.gzip_bytes)} | {m.parts} | {m.job_seconds:.2f} | {mib(m.idle_peak_rss)} "
            f"| {mib(m.peak_rss)} | {mib(m.peak_rss - m.idle_peak_rss)} |"
        )
    base = memory[0]
    for m in memory[1:]:
        lines.append(
            f"peak RSS {m.notes} / {base.notes} notes: {mib(m.peak_rss)} / {mib(base.peak_rss)} MiB "
            f"= {m.peak_rss / base.peak_rss:.2f}"
        )
    lines.append(f"\nrun took {elapsed:.0f} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--exports", type=int, default=60, help="exports in the throughput run (at most 100)")
    parser.add_argument("--notes", type=int, default=1000, help="notes of the throughput user")
    parser.add_argument(
        "--memory-notes", default="1000,10000,50000", help="note counts of the memory runs, comma separated"
    )
    parser.add_argument("--body-bytes", type=int, default=1000, help="size of each note's body")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.exports <= 100:
        parser.error("--exports must be between 1 and 100 (NOTES_EXPORT_MAX_IN_FLIGHT's bound)")
    args.memory_sizes = [int(value) for value in args.memory_notes.split(",") if value.strip()]
    if len(args.memory_sizes) < 2:
        parser.error("--memory-notes needs at least two counts to compare")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    with SecantusServer() as mongo, MotoServer() as moto:
        resources: ExportResources = create_export_resources(moto, name="bench", visibility_timeout=660)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "AWS_"))}
        env.update(moto.environment())
        env.update(
            {
                "NOTES_ENV": "production",
                # Production refuses a plain-http queue URL; the queue's URL in AWS's form still
                # reaches moto, whose address boto3 takes from AWS_ENDPOINT_URL_SQS.
                "NOTES_EXPORT_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/"
                + resources.queue_url.rsplit("/", 1)[1],
                "NOTES_EXPORT_BUCKET": resources.bucket,
                "NOTES_AWS_REGION": MotoServer.REGION,
                "NOTES_MONGODB_URI": mongo.uri,
                "NOTES_MONGODB_DATABASE": DATABASE,
            }
        )
        os.environ.update(moto.environment())
        settings = load_worker_settings(
            env="test",
            mongodb_uri=mongo.uri,
            mongodb_database=DATABASE,
            export_queue_url=resources.queue_url,
            export_bucket=resources.bucket,
            export_max_in_flight=100,
            aws_region=MotoServer.REGION,
        )
        client: MongoClient[dict[str, Any]] = MongoClient(mongo.uri)
        # The indexes the API makes at start-up (notes_api.core.db): the export's cursor walks
        # owner_newest backwards, as it does in production.
        client[DATABASE]["notes"].create_indexes(NOTE_INDEXES)
        pool = bodies(args.body_bytes, random.Random(16))  # noqa: S311 - filler text, not a secret
        seed(client, THROUGHPUT_OWNER, args.notes, pool)
        for size in args.memory_sizes:
            seed(client, f"bench-rss-{size}", size, pool)
        print(f"seeded {args.notes + sum(args.memory_sizes)} notes", file=sys.stderr)
        sqs = moto.client("sqs")
        assert moto.proc is not None
        assert mongo.proc is not None
        servers = {"moto": moto.proc.pid, "secantus": mongo.proc.pid}
        throughput = measure_throughput(env, settings, servers, client, sqs, args)
        memory = [measure_memory(env, settings, client, sqs, size) for size in args.memory_sizes]
        client.close()
    elapsed = time.monotonic() - began
    print(report(throughput, memory, elapsed))
    if args.json:
        args.json.write_text(
            json.dumps({"throughput": asdict(throughput), "memory": [asdict(m) for m in memory]}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
