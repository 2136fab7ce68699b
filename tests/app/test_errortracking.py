"""Optional Sentry error tracking (core/errortracking.py): off without a DSN; with one, what a real
sentry_sdk client puts in the envelope it hands its transport carries no request body, cookie,
token or e-mail address, and carries the request id. The transport here keeps the envelopes
instead of sending them: nothing leaves the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from notes_api.core.config import Settings, load_settings
from notes_api.core.errortracking import init_sentry, looks_like_token, scrub_text, sentry_options
from notes_api.core.logging import request_id_var

DSN = "https://public@sentry.example.invalid/42"
JWT = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2QxMjM0In0.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLWJ5dGVz"
REFRESH = "Zq3v8Jk1mN0pR5sT7uW9xY2bC4dF6gH8iJ0kL2mN4oP"  # 43 base64url characters, as issued
EMAILS = ("alice@example.com", "Bob.Smith+notes@mail.example.org")
REQUEST_ID = "req-7f3a9c1e"


class CapturingTransport(Transport):
    """The SDK's transport interface, keeping each envelope in memory."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        CapturingTransport.envelopes.append(envelope)


@pytest.fixture
def captured() -> Iterator[list[Envelope]]:
    CapturingTransport.envelopes = []
    settings = Settings(env="test", sentry_dsn=DSN, sentry_release="notes-api@test")
    options = sentry_options(settings)
    # The SDK's own client and event pipeline, without the integrations that would patch
    # Starlette and logging for the rest of this test process.
    sentry_sdk.init(
        **options, transport=CapturingTransport, default_integrations=False, auto_enabling_integrations=False
    )
    yield CapturingTransport.envelopes
    sentry_sdk.init(dsn=None, default_integrations=False, auto_enabling_integrations=False)


def payloads(envelopes: list[Envelope]) -> list[str]:
    """Every item of every envelope as the bytes that would go over the wire, decoded."""
    return [item.get_bytes().decode() for envelope in envelopes for item in envelope.items]


def test_no_dsn_no_error_tracking() -> None:
    # GIVEN settings without NOTES_SENTRY_DSN or its _SECRET_ARN
    settings = load_settings(env="test", jwt_signing_key="k" * 48)
    # WHEN the service would start Sentry THEN it does not
    assert settings.sentry_dsn is None
    assert init_sentry(settings) is False


def test_the_dsn_can_come_from_secrets_manager_by_arn() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes/prod/sentry-dsn"
    settings = load_settings(
        fetch={arn: DSN}.__getitem__, env="test", jwt_signing_key="k" * 48, sentry_dsn_secret_arn=arn
    )
    assert settings.secret("sentry_dsn") == DSN


def test_environment_and_release_come_from_the_settings() -> None:
    options = sentry_options(Settings(env="production", sentry_dsn=DSN))
    assert options["environment"] == "production" and options["release"].startswith("notes-api@")
    named = sentry_options(Settings(env="production", sentry_dsn=DSN, sentry_environment="staging"))
    assert named["environment"] == "staging"
    # sentry-sdk 3's data_collection at its most restrictive (2.x: send_default_pii=False)
    assert options["data_collection"]["user_info"] is False
    assert options["data_collection"]["http_bodies"] == []
    assert options["data_collection"]["cookies"] == {"mode": "off"}


def test_an_error_event_leaves_without_body_cookies_tokens_or_email_addresses(
    captured: list[Envelope],
) -> None:
    # GIVEN an error while serving a request whose id is set, with every kind of sensitive data
    # around it: the request (body, cookies, headers, query), a breadcrumb, extra, the user
    token = request_id_var.set(REQUEST_ID)
    try:
        sentry_sdk.add_breadcrumb(
            category="auth", message=f"login failed for {EMAILS[0]}", data={"refresh_token": REFRESH}
        )
        sentry_sdk.set_extra("account", {"email": EMAILS[1], "note": f"shared with {EMAILS[0]}"})
        sentry_sdk.set_user({"id": "u1", "email": EMAILS[0], "ip_address": "198.51.100.7"})
        event: dict[str, Any] = {
            "message": f"could not save the note of {EMAILS[1]} (Authorization: Bearer {JWT})",
            "level": "error",
            "request": {
                "url": f"https://api.example.com/api/v1/notes?access_token={JWT}&page=2",
                "method": "POST",
                "query_string": f"access_token={JWT}&page=2&ref={REFRESH}",
                "data": {"email": EMAILS[0], "password": "correct horse battery staple"},
                "cookies": {"session": REFRESH},
                "headers": {
                    "Authorization": f"Bearer {JWT}",
                    "Cookie": f"session={REFRESH}",
                    "X-Forwarded-Refresh": REFRESH,
                    "User-Agent": "notes-cli/1.0 (Linux)",
                    "Content-Type": "application/json",
                },
            },
        }
        # WHEN the SDK captures it and hands the envelope to its transport
        sentry_sdk.capture_event(event)  # type: ignore[arg-type]  # a plain dict, as integrations build one
        try:
            raise RuntimeError(f"lookup failed for {EMAILS[0]} with token {JWT}")
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush()
    finally:
        request_id_var.reset(token)

    # THEN two events went out, and no sensitive value appears anywhere in what was sent
    sent = payloads(captured)
    events = [json.loads(item) for item in sent if '"event_id"' in item]
    assert len(events) == 2, sent
    wire = "\n".join(sent)
    for secret in (JWT, REFRESH, *EMAILS, "correct horse battery staple", "198.51.100.7"):
        assert secret not in wire, f"{secret!r} was sent: {wire}"
    first = events[0]
    assert "data" not in first["request"] and "cookies" not in first["request"]
    headers = {name.lower() for name in first["request"]["headers"]}
    assert headers == {"user-agent", "content-type"}, first["request"]["headers"]
    assert "page=2" in first["request"]["query_string"]
    assert "user" not in first
    assert "[email]" in first["message"] or "[email]" in json.dumps(first.get("logentry", {}))
    # AND each event carries the request id as a tag, for the request's log lines
    assert [e["tags"]["request_id"] for e in events] == [REQUEST_ID, REQUEST_ID]


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (JWT, True),
        (f"Bearer {JWT}", True),
        ("Basic dXNlcjpwYXNzd29yZA==", True),
        (REFRESH, True),
        ("0123456789abcdef0123456789abcdef", True),
        ("application/x-www-form-urlencoded", False),
        ("Mozilla/5.0 (X11; Linux x86_64)", False),
        ("2", False),
    ],
)
def test_what_counts_as_a_token(value: str, token: bool) -> None:
    assert looks_like_token(value) is token


def test_scrub_text_keeps_the_rest_of_the_message() -> None:
    assert scrub_text(f"user {EMAILS[1]} sent {JWT} twice") == "user [email] sent [Filtered] twice"
