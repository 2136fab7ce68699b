"""The NOTES_EXPORT_* settings: defaults, bounds that name the variable, and the production check
for a half-configured or unsafe export setup."""

from __future__ import annotations

import os
from typing import Any

import pytest

from notes_api.core.config import ConfigError, Settings, load_settings

GOOD_KEY = "Zq8v1N3xW0pL6tR9yB2cD5fG7hJ4kM1sQ0uE3wA6"
PRODUCTION: dict[str, Any] = {
    "mongodb_uri": "mongodb://docdb.internal:27017/?tls=true",
    "redis_url": "rediss://cache.internal:6379/0",
    "redis_auth_token": "redis-auth-4f9c2a7e1b3d5f8a0c6e9b2d4f7a1c3e",
    "jwt_signing_key": GOOD_KEY,
}
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/notes-prod-exports"
BUCKET = "notes-prod-exports-123456789012"


@pytest.fixture(autouse=True)
def _no_machine_notes_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("NOTES_"):
            monkeypatch.delenv(name)


def config_error(**overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    return str(caught.value)


def test_defaults_are_the_contracts() -> None:
    settings = load_settings(**PRODUCTION)
    assert (settings.export_queue_url, settings.export_bucket) == (None, None)
    assert not settings.exports_configured
    assert settings.export_prefix == "exports/"
    assert settings.export_retention_days == 7
    assert settings.export_max_in_flight == 2
    assert settings.export_url_ttl_seconds == 300
    assert settings.export_max_receives == 5
    assert settings.export_job_timeout_seconds == 600
    assert settings.rate_limit_exports == "10/hour"


def test_production_with_exports_configured_passes() -> None:
    settings = load_settings(
        **PRODUCTION, export_queue_url=QUEUE, export_bucket=BUCKET, aws_region="eu-west-1"
    )
    assert settings.exports_configured


def test_the_variables_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTES_EXPORT_QUEUE_URL", QUEUE)
    monkeypatch.setenv("NOTES_EXPORT_BUCKET", BUCKET)
    monkeypatch.setenv("NOTES_EXPORT_MAX_IN_FLIGHT", "4")
    monkeypatch.setenv("NOTES_EXPORT_PREFIX", "out/exports/")
    settings = Settings()
    assert (settings.export_queue_url, settings.export_bucket) == (QUEUE, BUCKET)
    assert (settings.export_max_in_flight, settings.export_prefix) == (4, "out/exports/")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"export_queue_url": QUEUE, "aws_region": "eu-west-1"}, "NOTES_EXPORT_BUCKET is required"),
        ({"export_bucket": BUCKET, "aws_region": "eu-west-1"}, "NOTES_EXPORT_QUEUE_URL is required"),
        (
            {
                "export_queue_url": "http://sqs.eu-west-1.amazonaws.com/1/q",
                "export_bucket": BUCKET,
                "aws_region": "eu-west-1",
            },
            "NOTES_EXPORT_QUEUE_URL must be an https://",
        ),
        ({"export_queue_url": QUEUE, "export_bucket": BUCKET}, "NOTES_AWS_REGION is required"),
    ],
)
def test_production_refuses_a_half_or_unsafe_export_setup(overrides: dict[str, Any], named: str) -> None:
    assert named in config_error(**PRODUCTION, **overrides)


def test_outside_production_a_local_http_queue_and_no_region_are_allowed() -> None:
    settings = load_settings(
        env="test",
        mongodb_uri="mongodb://127.0.0.1:1",
        export_queue_url="http://127.0.0.1:5000/123456789012/q",
        export_bucket="local-exports",
    )
    assert settings.exports_configured


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("export_prefix", "exports", "NOTES_EXPORT_PREFIX"),
        ("export_prefix", "/exports/", "NOTES_EXPORT_PREFIX"),
        ("export_prefix", "a//b/", "NOTES_EXPORT_PREFIX"),
        ("export_prefix", "", "NOTES_EXPORT_PREFIX"),
        ("export_max_receives", 0, "NOTES_EXPORT_MAX_RECEIVES"),
        ("export_max_receives", 1001, "NOTES_EXPORT_MAX_RECEIVES"),
        ("export_job_timeout_seconds", 9, "NOTES_EXPORT_JOB_TIMEOUT_SECONDS"),
        ("export_job_timeout_seconds", 43001, "NOTES_EXPORT_JOB_TIMEOUT_SECONDS"),
        ("export_url_ttl_seconds", 0, "NOTES_EXPORT_URL_TTL_SECONDS"),
        ("export_url_ttl_seconds", 3601, "NOTES_EXPORT_URL_TTL_SECONDS"),
        ("export_max_in_flight", 0, "NOTES_EXPORT_MAX_IN_FLIGHT"),
        ("export_retention_days", 0, "NOTES_EXPORT_RETENTION_DAYS"),
        ("export_bucket", "Not_A_Bucket", "NOTES_EXPORT_BUCKET"),
        ("export_bucket", "ab", "NOTES_EXPORT_BUCKET"),
        ("export_queue_url", "sqs/notes", "NOTES_EXPORT_QUEUE_URL"),
        ("aws_region", "Europe", "NOTES_AWS_REGION"),
        ("rate_limit_exports", "0/hour", "NOTES_RATE_LIMIT_EXPORTS"),
        ("rate_limit_exports", "often", "NOTES_RATE_LIMIT_EXPORTS"),
    ],
)
def test_a_bad_export_value_names_its_variable(field: str, value: Any, named: str) -> None:
    assert config_error(**PRODUCTION, **{field: value}).startswith(named)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("export_max_receives", 1),
        ("export_max_receives", 1000),
        ("export_job_timeout_seconds", 10),
        ("export_job_timeout_seconds", 43000),
        ("export_prefix", "a/b/"),
        ("aws_region", "us-gov-west-1"),
    ],
)
def test_the_bounds_themselves_are_accepted(field: str, value: Any) -> None:
    assert getattr(load_settings(**PRODUCTION, **{field: value}), field) == value
