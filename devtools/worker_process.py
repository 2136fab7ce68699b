"""``python -m notes_api.worker`` as a child process, for the tests and the export benchmark:
its JSON log lines collected as they come, waits on them, and the two ways to stop it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class WorkerProcess:
    """``python -m notes_api.worker`` as a child, its JSON log lines collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notes_api.worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        parsed = []
        for line in list(self.lines):
            parsed.append(json.loads(line))  # every line is a JSON object, or the test fails here
        return parsed

    def logged(self, fragment: str) -> bool:
        return any(fragment in record.get("message", "") for record in self.records())

    def wait_logged(self, fragment: str, timeout: float = 30.0) -> None:
        wait_until(lambda: self.logged(fragment) or self._died(), timeout, f"log line {fragment!r}")
        assert self.logged(fragment), self.output()

    def _died(self) -> bool:
        return self.proc.poll() is not None

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return code

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.stderr

    def drain(self, timeout: float = 30.0) -> None:
        """One SIGTERM, as ECS sends: the worker finishes its long poll (at most 20 s) and exits.
        A second signal would abandon the poll, and a server may still hand the next message to
        that dead request (it stays invisible for the whole visibility timeout)."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait(5)

    def stop(self) -> None:
        """Teardown: two signals, the second of which ends the worker at once."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            time.sleep(0.2)
            if self.proc.poll() is None:
                self.signal(signal.SIGTERM)
            try:
                self.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.wait(5)
