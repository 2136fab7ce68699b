"""Local Redis, MongoDB-wire (SecantusDB) and AWS (moto: SQS and S3) servers on 127.0.0.1 for
development and tests.

Development-only: SecantusDB is GPL-2.0, and neither it nor moto is ever part of the service image.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from devtools.tlsfiles import TlsFiles


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class LocalServer:
    """A child process listening on 127.0.0.1:port; stop() is idempotent, start() restarts."""

    name: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="notes-local-")))

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {}

    def start(self, timeout: float = 20.0) -> Self:
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 (argv built here, no shell)
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env={**os.environ, **self.environment()},
        )
        wait_for_port(self.port, timeout, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs, nothing is flushed or checkpointed."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisServer(LocalServer):
    """redis-server; with ``tls`` it listens with TLS only, like ElastiCache in-transit encryption."""

    def __init__(self, password: str | None = None, tls: TlsFiles | None = None) -> None:
        super().__init__("redis")
        self.password = password
        self.tls = tls

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/bootstrap.sh installs it)")
        cmd = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.tls:
            cmd += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            cmd += ["--tls-cert-file", str(self.tls.cert_file), "--tls-key-file", str(self.tls.key_file)]
            cmd += ["--tls-ca-cert-file", str(self.tls.ca_file)]
        else:
            cmd += ["--port", str(self.port)]
        if self.password:
            cmd += ["--requirepass", self.password]
        return cmd

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"


class SecantusServer(LocalServer):
    """SecantusDB standalone; with ``tls`` it accepts TLS connections only, like DocumentDB."""

    def __init__(self, tls: TlsFiles | None = None, durable: bool = False) -> None:
        super().__init__("secantus")
        self.tls = tls
        # durable: data files under workdir (WiredTiger with its journal), kept across a kill
        # and a restart on the same port; otherwise ':memory:', lost with the process.
        self.durable = durable

    def environment(self) -> dict[str, str]:
        # SecantusDB opens its files without the journal when SECANTUS_TEST_FAST_STORAGE=1 is in
        # the environment (secantus/storage.py, `durable` resolution); FORCE_DURABLE overrides it.
        return {"SECANTUS_FORCE_DURABLE": "1"} if self.durable else {}

    @property
    def storage_path(self) -> str:
        return str(self.workdir / "data") if self.durable else ":memory:"

    def command(self) -> list[str]:
        launcher = Path(sys.executable).with_name("secantusd-py")
        binary = str(launcher) if launcher.exists() else shutil.which("secantusd-py")
        if binary is None:
            raise RuntimeError("secantusd-py is not installed (pip install SecantusDB)")
        cmd = [binary, "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", self.storage_path]
        cmd += ["--standalone", "--log-level", "WARNING"]
        if self.tls:
            cmd += ["--tls-cert-file", str(self.tls.cert_file), "--tls-key-file", str(self.tls.key_file)]
        return cmd

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"


class MotoServer(LocalServer):
    """moto in server mode: SQS and S3 (and every other service moto has) over plain HTTP, state
    in memory, lost with the process.

    The code under test creates ordinary boto3 clients; ``environment()`` points them here
    through botocore's service-specific endpoint variables AWS_ENDPOINT_URL_SQS and
    AWS_ENDPOINT_URL_S3 (AWS SDKs and Tools Reference Guide, "Service-specific endpoints"),
    with dummy credentials, the same way a deployment's code reaches AWS.
    """

    ACCESS_KEY = "testing"
    REGION = "us-east-1"

    def __init__(self) -> None:
        super().__init__("moto")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def start(self, timeout: float = 30.0) -> Self:
        # moto's server imports every service's backend before it listens: slower than the others.
        return super().start(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a boto3 client (in this process or a child) needs to reach this server."""
        return {
            "AWS_ENDPOINT_URL_SQS": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.REGION,
        }

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` bound to this server explicitly (for fixtures and checks,
        not for the code under test, which finds the server through ``environment()``)."""
        import boto3  # noqa: PLC0415 (dev and test dependency, loaded only when moto is used)

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=self.REGION,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.ACCESS_KEY,
        )


@dataclass(frozen=True)
class ExportResources:
    """A queue with its dead-letter queue and a bucket, made on a MotoServer."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    bucket: str
    max_receives: int
    visibility_timeout: int


def create_export_resources(
    server: MotoServer, name: str | None = None, max_receives: int = 5, visibility_timeout: int = 30
) -> ExportResources:
    """The export queue as the stack makes it (a DLQ and a redrive policy with maxReceiveCount =
    ``max_receives``) and an export bucket, under a fresh name unless one is given."""
    name = name or f"notes-{uuid.uuid4().hex[:12]}"
    sqs, s3 = server.client("sqs"), server.client("s3")
    dlq_url = sqs.create_queue(QueueName=f"{name}-exports-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # SQS takes the redrive policy as a JSON string attribute (SQS API Reference, SetQueueAttributes).
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    queue_url = sqs.create_queue(
        QueueName=f"{name}-exports",
        Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_timeout)},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bucket = f"{name}-exports"
    s3.create_bucket(Bucket=bucket)
    return ExportResources(queue_url, queue_arn, dlq_url, dlq_arn, bucket, max_receives, visibility_timeout)


@contextlib.contextmanager
def local_dependencies() -> Iterator[dict[str, str]]:
    """Start whatever NOTES_REDIS_URL / NOTES_MONGODB_URI do not already point at."""
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if not os.environ.get("NOTES_REDIS_URL"):
            env["NOTES_REDIS_URL"] = stack.enter_context(RedisServer()).url
        if not os.environ.get("NOTES_MONGODB_URI"):
            env["NOTES_MONGODB_URI"] = stack.enter_context(SecantusServer()).uri
        yield env
