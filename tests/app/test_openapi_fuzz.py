"""Schema-driven fuzzing of the OpenAPI document against a real server (uvicorn on loopback,
real Redis and SecantusDB): no input may produce a 5xx, and every response must match the
documented status codes, content types and schemas."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks as st_checks

from devtools.localservices import MotoServer, create_export_resources, free_port
from notes_api.core.config import Settings, load_settings
from notes_api.main import create_app
from tests.app.conftest import PASSWORD, aws_environment, export_overrides, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exports_on_moto(moto_server: MotoServer) -> Iterator[dict[str, Any]]:
    """Exports configured against moto, so their routes run rather than answer 503 unconfigured."""
    with aws_environment(moto_server):
        yield export_overrides(create_export_resources(moto_server))


@pytest.fixture(scope="module")
def live_server(redis_server, mongo_server, exports_on_moto) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    settings: Settings = load_settings(
        **exports_on_moto,
        env="test",
        mongodb_uri=mongo_server.uri,
        mongodb_database="notes_fuzz",
        redis_url=redis_server.url,
        jwt_signing_key="f" * 48,
        access_log=False,
        rate_limit_auth="100000/minute",
        rate_limit_api="100000/minute",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    headers = _fresh_session(base)
    note = httpx.post(f"{base}/api/v1/notes", json={"title": "seed"}, headers=headers).json()
    yield {"base": base, "headers": headers, "note_id": note["id"]}
    server.should_exit = True
    thread.join(10)


def _fresh_session(base: str) -> dict[str, str]:
    email = unique_email("fuzz")
    httpx.post(f"{base}/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    tokens = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(live_server: dict[str, Any]) -> Any:
    document = httpx.get(f"{live_server['base']}/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


CHECKS: list[Callable[..., Any]] = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 20


def _runner(operation: Any, live_server: dict[str, Any], seen: dict[str, set[int]]) -> Callable[[], None]:
    label = operation.label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        # Point half of the generated note ids at a real note, so success paths run too.
        note_id = (case.path_parameters or {}).get("note_id")
        if isinstance(note_id, str) and len(note_id) % 2 == 0:
            case.path_parameters["note_id"] = live_server["note_id"]
        headers = live_server["headers"]
        if label == "POST /api/v1/auth/logout":
            # Logging out would end the shared session the other operations rely on.
            headers = _fresh_session(live_server["base"])
        response = case.call_and_validate(
            base_url=live_server["base"], headers=headers, checks=CHECKS, timeout=10
        )
        seen.setdefault(label, set()).add(response.status_code)

    return call  # type: ignore[no-any-return]


def test_no_input_breaks_the_documented_contract(api_schema: Any, live_server: dict[str, Any]) -> None:
    # GIVEN every operation of the published document, called by an authenticated client
    failures: dict[str, str] = {}
    seen: dict[str, set[int]] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:
        # WHEN hypothesis generates requests for it
        try:
            _runner(operation, live_server, seen)()
        except Exception as exc:  # collect every operation's failure, then report all
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    # THEN no request produced a 5xx or an undocumented status, type or body
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    # AND the shared session stayed valid, so the authenticated operations were exercised
    # beyond the token check rather than answering 401 to everything
    authenticated = [op.label for op in operations if op.definition.raw.get("security")]
    unreached = [label for label in authenticated if seen.get(label, {401}) == {401}]
    assert authenticated and not unreached, {label: seen.get(label) for label in unreached}
