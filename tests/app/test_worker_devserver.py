"""`make dev` with exports: a local SQS and S3 (moto), the queue, DLQ and bucket, and the export
worker as a child process next to the API; an export works end to end, and on SIGTERM the
worker and the moto server stop with the rest."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools.localservices import free_port
from devtools.worker_process import wait_until


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_dev_runs_the_worker_against_local_sqs_and_s3_and_stops_them(tmp_path: Path) -> None:
    # GIVEN no database, Redis, queue or bucket configured, and no AWS settings
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "AWS_"))}
    env["PORT"] = str(port)
    out, err = (tmp_path / "stdout").open("w"), (tmp_path / "stderr").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "devtools.devserver"], env=env, stdout=out, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        # WHEN it is ready
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            try:
                return httpx.get(f"{base}/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "the devserver to be ready", interval=0.2)
        # AND a user asks for an export of their notes
        body = {"email": "dev@example.com", "password": "development password"}
        assert httpx.post(f"{base}/api/v1/auth/register", json=body).status_code == 201
        token = httpx.post(f"{base}/api/v1/auth/login", json=body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(3):
            note = {"title": f"dev note {i}", "body": "hello"}
            assert httpx.post(f"{base}/api/v1/notes", json=note, headers=headers).status_code == 201
        accepted = httpx.post(f"{base}/api/v1/exports", headers=headers)
        assert accepted.status_code == 202, accepted.text
        status_url = f"{base}{accepted.json()['status_url']}"

        # THEN the worker next to the API exports them to the local S3
        def done() -> dict[str, object] | None:
            document: dict[str, object] = httpx.get(status_url, headers=headers).json()
            return document if document["status"] == "done" else None

        status = wait_until(done, 60, "the export to be done", interval=0.2)
        download = httpx.get(str(status["download_url"]))
        assert download.status_code == 200
        exported = json.loads(gzip.decompress(download.content))
        assert sorted(note["title"] for note in exported["notes"]) == [
            "dev note 0",
            "dev note 1",
            "dev note 2",
        ]
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        out.close()
        err.close()
    stderr = (tmp_path / "stderr").read_text()
    # AND on SIGTERM everything stops, promptly and cleanly: the API, the worker, moto
    assert proc.returncode == 0, stderr
    assert time.monotonic() - started < 20, stderr
    moto_url = re.search(r"devserver: started moto \(local SQS and S3\) at http://127.0.0.1:(\d+)", stderr)
    worker_pid = re.search(r"devserver: started the export worker \(pid (\d+)\)", stderr)
    assert moto_url is not None and worker_pid is not None, stderr
    assert not _port_open(int(moto_url.group(1))), "moto still listening after the devserver stopped"
    assert not _alive(int(worker_pid.group(1))), "the worker outlived the devserver"
    # AND the queue, DLQ and bucket it made were announced
    assert re.search(
        r"export setting NOTES_EXPORT_QUEUE_URL=http://127.0.0.1:\d+/\d+/notes-dev-exports", stderr
    )
    assert "export setting NOTES_EXPORT_BUCKET=notes-dev-exports" in stderr
    assert re.search(r"export dead-letter queue http://127.0.0.1:\d+/\d+/notes-dev-exports-dlq", stderr)
