"""`make dev`: the API with its own local Redis and MongoDB-wire server, no cloud."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from devtools.localservices import free_port


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_devserver_starts_its_dependencies_serves_and_cleans_up() -> None:
    # GIVEN no database or Redis configured
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_")}
    env["PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.devserver"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # WHEN it has started
        deadline = time.monotonic() + 30
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        # THEN it is ready with both local dependencies, serves the API and the docs UI
        assert ready is not None and ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "redis": "ok"},
        }
        base = f"http://127.0.0.1:{port}/api/v1"
        body = {"email": "dev@example.com", "password": "development password"}
        assert httpx.post(f"{base}/auth/register", json=body).status_code == 201
        assert httpx.post(f"{base}/auth/login", json=body).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    # AND on SIGTERM it exits cleanly and stops the servers it started
    assert proc.returncode == 0, stderr
    started = dict(re.findall(r"devserver: started (NOTES_\w+)=(\S+)", stderr))
    assert set(started) == {"NOTES_REDIS_URL", "NOTES_MONGODB_URI"}, stderr
    for url in started.values():
        dep_port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        assert not _port_open(dep_port), f"{url} still listening after the devserver stopped"
