"""HTTP hardening: headers, CORS allow-list, body limits, gzip, request ids, error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.app.conftest import new_note, signup

NOTES = "/api/v1/notes"


def test_every_response_carries_security_headers(client: TestClient) -> None:
    for path in ("/health", "/api/v1/me", "/nowhere"):
        response = client.get(path)
        assert response.headers["Strict-Transport-Security"].startswith("max-age="), path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["X-Request-ID"], path


def test_api_responses_are_never_stored_by_caches(client: TestClient) -> None:
    user = signup(client)
    response = client.get(NOTES, headers=user["headers"])
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_request_id_is_honoured_or_generated(client: TestClient) -> None:
    given = client.get("/health", headers={"X-Request-ID": "req-123.abc"})
    bogus = client.get("/health", headers={"X-Request-ID": "has spaces and\ttabs"})
    assert given.headers["X-Request-ID"] == "req-123.abc"
    assert (
        bogus.headers["X-Request-ID"] != "has spaces and\ttabs" and len(bogus.headers["X-Request-ID"]) == 32
    )


def test_error_bodies_carry_the_request_id(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"X-Request-ID": "trace-me"})
    assert response.json()["request_id"] == "trace-me"


def test_cors_allows_only_listed_origins(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(cors_allow_origins=["https://app.example.com"])
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options(NOTES, headers={"Origin": "https://app.example.com", **preflight})
    denied = client.options(NOTES, headers={"Origin": "https://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert denied.status_code == 400 and "Access-Control-Allow-Origin" not in denied.headers
    simple = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in simple.headers


def test_no_cors_headers_without_an_allow_list(client: TestClient) -> None:
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_oversized_body_is_413(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_body_bytes=4096)
    user = signup(client)
    big = client.post(NOTES, json={"title": "t", "body": "x" * 5000}, headers=user["headers"])
    assert big.status_code == 413 and big.json()["code"] == "body_too_large"
    assert big.headers["X-Request-ID"]


def test_oversized_chunked_body_is_413(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_body_bytes=4096)
    user = signup(client)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"title": "t", "body": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    response = client.post(
        NOTES, content=chunks(), headers={**user["headers"], "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


def test_small_chunked_body_is_accepted(client: TestClient) -> None:
    user = signup(client)

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"title": "chunked",'
        yield b' "body": "ok"}'

    response = client.post(
        NOTES, content=chunks(), headers={**user["headers"], "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[1,2]", "application/json"),
        (b"title=x", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_malformed_bodies_are_422_not_500(client: TestClient, content: bytes, content_type: str) -> None:
    user = signup(client)
    response = client.post(NOTES, content=content, headers={**user["headers"], "Content-Type": content_type})
    assert response.status_code == 422, (content, response.text)
    assert response.json()["code"] == "validation_error"


def test_large_responses_are_gzipped(client: TestClient) -> None:
    user = signup(client)
    for i in range(5):
        new_note(client, user["headers"], title=f"n{i}", body="lorem ipsum " * 200)
    response = client.get(NOTES, headers={**user["headers"], "Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    small = client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    # AND the client decodes it back to the same page
    assert len(response.json()["items"]) == 5


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing")
    wrong = client.put("/health")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_docs_ui_is_off_by_default_but_openapi_is_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "Notes API"


def test_metrics_label_routes_by_template_not_by_id(client: TestClient) -> None:
    user = signup(client)
    note = new_note(client, user["headers"])
    client.get(f"{NOTES}/{note['id']}", headers=user["headers"])
    client.get("/no/such/path/123")
    text = client.get("/metrics").text
    assert 'method="GET",route="/api/v1/notes/{note_id}",status="200"' in text
    assert note["id"] not in text
    assert 'route="unmatched"' in text
