"""The HTTP smoke against the real API (a real Redis and a real MongoDB-wire server on loopback,
uvicorn on a free loopback port), the image test sharing it, and `notes-platform verify` end to
end: the AWS part in moto, the smoke through the outputs' apiUrl, the record promote reads."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from moto import mock_aws

from devtools import image_test
from devtools.localservices import RedisServer, SecantusServer, free_port
from notes_api.core.config import load_settings
from notes_api.main import create_app
from notes_platform.cli import main
from notes_platform.release import verify
from notes_platform.release.records import read_verify_record
from notes_platform.release.smoke import STEP_NAMES, Api, round_trip
from stacks.config import ROOT
from tests.notes_platform.release.verify_world import PREVIOUS_DIGEST, REGION, build, outputs_of, rolled_back


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, SecantusServer]]:
    with RedisServer() as redis_server, SecantusServer() as mongo_server:
        yield redis_server, mongo_server


class ApiServer:
    """The notes API served by uvicorn in a thread on 127.0.0.1:<free port>, until stop()."""

    def __init__(self, servers: tuple[RedisServer, SecantusServer], redis_db: int, **overrides: Any) -> None:
        redis_server, mongo_server = servers
        settings = load_settings(
            env="test",
            mongodb_uri=mongo_server.uri,
            mongodb_database=f"verify_{uuid.uuid4().hex[:10]}",
            redis_url=redis_server.url.rsplit("/", 1)[0] + f"/{redis_db}",
            jwt_signing_key="v" * 48,
            access_log=False,
            # Cheap argon2id: the smoke's one sign-up stays fast; production cost is tested in tests/app.
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
            **overrides,
        )
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def api(servers: tuple[RedisServer, SecantusServer]) -> Iterator[ApiServer]:
    server = ApiServer(servers, redis_db=0, rate_limit_auth="1000/minute", rate_limit_api="10000/minute")
    yield server
    server.stop()


def test_the_round_trip_passes_against_the_real_api(api: ApiServer) -> None:
    # WHEN the smoke runs against the API
    steps = round_trip(Api(api.url))
    # THEN every step passed, in order, each saying what it saw
    assert [s.name for s in steps] == list(STEP_NAMES)
    assert all(s.passed for s in steps), steps
    assert steps[0].saw.startswith("GET /health 200 ok")
    assert "then GET 404" in steps[-1].saw


def test_nothing_listening_fails_the_first_step_and_stops(api: ApiServer) -> None:
    # GIVEN a URL where nothing listens
    steps = round_trip(Api(f"http://127.0.0.1:{free_port()}", timeout=2))
    # THEN health fails with the reason, and nothing after it ran
    assert [(s.name, s.passed) for s in steps] == [("health", False)]
    assert steps[0].saw.startswith("no answer: ")


def test_a_wrong_base_path_fails_health(api: ApiServer) -> None:
    steps = round_trip(Api(f"{api.url}/not-the-api"))
    assert [(s.name, s.passed) for s in steps] == [("health", False)]
    assert steps[0].saw.startswith("GET /health: expected 200, got 404")


def test_a_step_failing_midway_is_the_last_reported(servers: tuple[RedisServer, SecantusServer]) -> None:
    # GIVEN an API that allows each user two API requests a minute (a limiter, or a WAF rule,
    # refusing the smoke's third call)
    strict = ApiServer(servers, redis_db=1, rate_limit_auth="1000/minute", rate_limit_api="2/minute")
    try:
        steps = round_trip(Api(strict.url))
    finally:
        strict.stop()
    # THEN the steps up to read passed, list failed with the status, and the round trip stopped
    assert [s.name for s in steps] == ["health", "register", "login", "create", "read", "list"]
    assert [s.passed for s in steps] == [True] * 5 + [False]
    assert steps[-1].saw.startswith("GET /api/v1/notes: expected 200, got 429")


def test_the_image_test_runs_the_same_round_trip(api: ApiServer) -> None:
    # WHEN the image test's round-trip step runs against the API
    assert image_test.round_trip(Api(api.url)) == ", ".join(STEP_NAMES)
    # AND against nothing, it raises its own CheckFailed naming the failed step
    with pytest.raises(image_test.CheckFailed, match=r"^health: no answer"):
        image_test.round_trip(Api(f"http://127.0.0.1:{free_port()}", timeout=2))


# --- the command, end to end -------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def run_verify(world: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> tuple[int, Path]:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(outputs_of(world)))
    record = tmp_path / "records" / "verify-staging.json"
    # DocumentDB from the Stubber (moto has none), every other service from moto.
    monkeypatch.setattr(verify, "default_clients", world.clients())
    code = main(["verify", "staging", "--outputs", str(outputs), "--record", str(record), "--json", *extra])
    return code, record


def test_verify_passes_a_good_deploy_and_records_it(
    aws: None,
    api: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the staging stack in moto, its apiUrl the local API
    world = build(monkeypatch, api_url=api.url)
    # WHEN `notes-platform verify staging --outputs FILE --json` runs
    code, record_path = run_verify(world, monkeypatch, tmp_path)
    report = json.loads(capsys.readouterr().out)
    # THEN it exits 0, every AWS check and every smoke step passed
    assert code == 0 and report["passed"] is True and report["exitCode"] == 0
    names = [c["name"] for c in report["checks"]]
    assert names[:2] == ["ecs-image", "ecs-rollout"] and names[-7:] == [f"smoke-{s}" for s in STEP_NAMES]
    assert [c for c in report["checks"] if not c["passed"]] == []
    # AND the record promote reads says this digest passed
    record = read_verify_record(record_path)
    assert (record.stack, record.digest, record.passed) == ("staging", world.expected.digest, True)
    assert len(record.checks) == len(names)


def test_verify_exits_3_on_a_rollback_and_records_the_digest_as_failed(
    aws: None,
    api: ApiServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a service the circuit breaker rolled back to the previous revision (ECS from the
    # Stubber: moto cannot roll back), the rest of the stack healthy and the API answering
    world = build(monkeypatch, api_url=api.url)
    world.stubs["ecs"] = rolled_back(world)
    # WHEN verified
    code, record_path = run_verify(world, monkeypatch, tmp_path)
    report = json.loads(capsys.readouterr().out)
    # THEN exit 3, the image check naming the previous digest; the record marks this digest failed
    assert code == verify.ROLLOUT_FAILED == 3
    image = next(c for c in report["checks"] if c["name"] == "ecs-image")
    assert not image["passed"] and PREVIOUS_DIGEST in image["saw"]
    record = read_verify_record(record_path)
    assert (record.digest, record.passed) == (world.expected.digest, False)


def test_verify_exits_5_when_only_the_smoke_fails(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a healthy stack whose public URL answers nothing
    world = build(monkeypatch, api_url=f"http://127.0.0.1:{free_port()}")
    code, _ = run_verify(world, monkeypatch, tmp_path)
    report = json.loads(capsys.readouterr().out)
    assert code == verify.SMOKE_FAILED == 5
    assert [c["name"] for c in report["checks"] if not c["passed"]] == ["smoke-health"]


def test_verify_text_output_and_no_smoke(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build(monkeypatch, api_url=f"http://127.0.0.1:{free_port()}")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(outputs_of(world)))
    monkeypatch.setattr(verify, "default_clients", world.clients())
    monkeypatch.chdir(tmp_path)
    # WHEN run without --json and without the smoke, and without --record
    assert main(["verify", "staging", "--outputs", str(outputs), "--no-smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # THEN one line per check, a verdict, and the record at its default place
    assert lines[0] == f"verify staging: {world.expected.digest} in {REGION}"
    assert lines[1].startswith("  [pass] ecs-image: primary deployment")
    assert lines[-1] == "verify staging: every check passed; exit 0; record verify-staging.json"
    assert read_verify_record(tmp_path / "verify-staging.json").passed


def test_verify_exits_6_when_aws_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN outputs, but every AWS endpoint a closed loopback port (AWS_ENDPOINT_URL: "the endpoint
    # used for all service requests", AWS SDKs and Tools reference guide, Service-specific
    # endpoints) and no retries
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(json.loads((ROOT / "tests" / "snapshots" / "staging.json").read_text())["outputs"])
    )
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }.items():
        monkeypatch.setenv(name, value)
    record = tmp_path / "r.json"
    # WHEN verified THEN exit 6 with the reason, and no record claims anything
    assert main(["verify", "staging", "--outputs", str(outputs), "--record", str(record)]) == 6
    assert "AWS could not be reached, nothing was checked: Could not connect" in capsys.readouterr().err
    assert not record.exists()
