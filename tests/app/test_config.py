"""Configuration from NOTES_* variables: required secrets, the production guard, type errors that
name the variable, list and rate-limit parsing, and secrets read from Secrets Manager by ARN
(moto stands in for AWS)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from notes_api.core.config import MIN_SIGNING_KEY_BYTES, ConfigError, Settings, load_settings

# Values that would pass the production check; each test removes or spoils one of them.
GOOD_KEY = "Zq8v1N3xW0pL6tR9yB2cD5fG7hJ4kM1sQ0uE3wA6"  # 40 bytes, not a placeholder
GOOD_TOKEN = "redis-auth-4f9c2a7e1b3d5f8a0c6e9b2d4f7a1c3e"
PRODUCTION_ENV = {
    "NOTES_MONGODB_URI": "mongodb://docdb.internal:27017/?tls=true",
    "NOTES_REDIS_URL": "rediss://cache.internal:6379/0",
    "NOTES_REDIS_AUTH_TOKEN": GOOD_TOKEN,
    "NOTES_JWT_SIGNING_KEY": GOOD_KEY,
}
UNKNOWN_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:notes/missing-AbCdEf"


def clean_environ() -> dict[str, str]:
    """The current environment without NOTES_* and AWS_* variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("NOTES_", "AWS_"))}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No NOTES_* variable from the machine running the tests leaks into them; production by default."""
    for name in list(os.environ):
        if name.startswith("NOTES_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def production(env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in PRODUCTION_ENV.items():
        env.setenv(name, value)
    return env


def config_error(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    return str(caught.value)


# --- production guard ---------------------------------------------------------------------


def test_production_is_the_default_and_accepts_real_secrets(production: pytest.MonkeyPatch) -> None:
    # GIVEN real-looking secrets and no NOTES_ENV
    # WHEN the settings load
    settings = load_settings()
    # THEN the service runs as production, with exactly the secrets it was given
    assert settings.env == "production", "NOTES_ENV unset must mean production"
    assert settings.is_production, "NOTES_ENV unset must mean production"
    assert settings.secret("jwt_signing_key") == GOOD_KEY, "NOTES_JWT_SIGNING_KEY"
    assert settings.secret("redis_auth_token") == GOOD_TOKEN, "NOTES_REDIS_AUTH_TOKEN"
    # AND no secret shows up in the settings' repr (which ends up in tracebacks and logs)
    assert GOOD_KEY not in repr(settings), "NOTES_JWT_SIGNING_KEY shows in repr(settings)"
    assert GOOD_TOKEN not in repr(settings), "NOTES_REDIS_AUTH_TOKEN shows in repr(settings)"


def test_secrets_have_no_defaults() -> None:
    # GIVEN the settings model itself
    # THEN no secret field carries a default value someone could deploy by accident
    for field in ("mongodb_uri", "redis_auth_token", "jwt_signing_key"):
        assert Settings.model_fields[field].default is None, f"{field} has a default"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("NOTES_MONGODB_URI", None, "required in production"),
        ("NOTES_MONGODB_URI", "", "placeholder"),
        ("NOTES_JWT_SIGNING_KEY", None, "required in production"),
        ("NOTES_JWT_SIGNING_KEY", "changeme", "placeholder"),
        ("NOTES_JWT_SIGNING_KEY", "please-change-me-before-deploying-this-key", "placeholder"),
        ("NOTES_JWT_SIGNING_KEY", "dev-only-insecure-key", "placeholder"),
        ("NOTES_JWT_SIGNING_KEY", GOOD_KEY[: MIN_SIGNING_KEY_BYTES - 1], "shorter than"),
        ("NOTES_REDIS_AUTH_TOKEN", "changeme", "placeholder"),
        ("NOTES_REDIS_AUTH_TOKEN", "PLACEHOLDER", "placeholder"),
        ("NOTES_REDIS_AUTH_TOKEN", None, "required in production"),
    ],
    ids=lambda v: "missing" if v is None else (v[:12] if isinstance(v, str) else v),
)
def test_production_refuses_missing_or_placeholder_secret(
    production: pytest.MonkeyPatch, variable: str, value: str | None, expected: str
) -> None:
    # GIVEN production settings where one secret is missing or not a real one
    if value is None:
        production.delenv(variable)
    else:
        production.setenv(variable, value)
    # WHEN the settings load
    message = config_error()
    # THEN start-up is refused, naming the variable and the reason
    assert message.startswith(variable), f"{variable}={value!r}: {message}"
    assert expected in message, f"{variable}={value!r}: {message}"
    # AND the message never repeats a secret value
    if value:
        assert value not in message, f"{variable}: message leaks the value: {message}"


def test_production_refuses_missing_redis_url(production: pytest.MonkeyPatch) -> None:
    # GIVEN production without Redis at all (no URL and so no token either)
    production.delenv("NOTES_REDIS_URL")
    production.delenv("NOTES_REDIS_AUTH_TOKEN")
    # WHEN the settings load
    message = config_error()
    # THEN the missing NOTES_REDIS_URL is named (rate limits and revocations live there)
    assert "NOTES_REDIS_URL" in message, message
    assert "required in production" in message, message


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NOTES_PASSWORD_HASH_MEMORY_KIB", "8192"), ("NOTES_PASSWORD_HASH_TIME_COST", "1")],
)
def test_production_refuses_weak_password_hashing(
    production: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    # GIVEN production with an argon2id cost below the OWASP minimum (as tests use to stay fast)
    production.setenv(variable, value)
    # WHEN the settings load THEN start-up is refused, naming the variable
    message = config_error()
    assert variable in message, f"{variable}={value}: {message}"


def test_weak_password_hashing_is_allowed_outside_production(env: pytest.MonkeyPatch) -> None:
    # GIVEN the test environment with the cheapest argon2id cost
    env.setenv("NOTES_ENV", "test")
    env.setenv("NOTES_PASSWORD_HASH_MEMORY_KIB", "8")
    env.setenv("NOTES_PASSWORD_HASH_TIME_COST", "1")
    # WHEN the settings load THEN they are accepted as given
    assert load_settings().password_hash_memory_kib == 8, "NOTES_PASSWORD_HASH_MEMORY_KIB"


@pytest.mark.parametrize("mode", ["development", "test"])
def test_outside_production_a_missing_key_becomes_an_ephemeral_one(
    env: pytest.MonkeyPatch, mode: str
) -> None:
    # GIVEN a non-production environment with no signing key and no other secret
    env.setenv("NOTES_ENV", mode)
    # WHEN the settings load twice (two process starts)
    first, second = load_settings(), load_settings()
    # THEN each start gets a random key long enough for production, never a fixed one
    key_1, key_2 = first.secret("jwt_signing_key"), second.secret("jwt_signing_key")
    assert key_1 is not None, f"NOTES_ENV={mode}: no ephemeral key"
    assert key_2 is not None, f"NOTES_ENV={mode}: no ephemeral key"
    assert len(key_1.encode()) >= MIN_SIGNING_KEY_BYTES, f"NOTES_ENV={mode}: key too short"
    assert key_1 != key_2, f"NOTES_ENV={mode}: the 'ephemeral' key repeats across starts"


def test_outside_production_an_explicit_key_is_kept(env: pytest.MonkeyPatch) -> None:
    # GIVEN development with a key set
    env.setenv("NOTES_ENV", "development")
    env.setenv("NOTES_JWT_SIGNING_KEY", "short-dev-key")
    # WHEN the settings load THEN that key is used as given (tokens survive a restart)
    assert load_settings().secret("jwt_signing_key") == "short-dev-key", "NOTES_JWT_SIGNING_KEY"


# --- types and parsing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTES_PORT", "abc"),
        ("NOTES_PORT", "70000"),
        ("NOTES_WORKERS", "0"),
        ("NOTES_ENV", "prod"),
        ("NOTES_SHUTDOWN_GRACE_SECONDS", "soon"),
        ("NOTES_REDIS_TIMEOUT_SECONDS", "0"),
        ("NOTES_CACHE_ENABLED", "maybe"),
        ("NOTES_LOG_LEVEL", "chatty"),
    ],
)
def test_a_wrong_value_names_its_variable(production: pytest.MonkeyPatch, variable: str, value: str) -> None:
    # GIVEN otherwise valid production settings and one variable of the wrong type or range
    production.setenv(variable, value)
    # WHEN the settings load
    message = config_error()
    # THEN the message starts with the variable's name
    assert message.startswith(f"{variable}:"), f"{variable}={value!r}: {message}"


@pytest.mark.parametrize(
    "value",
    [
        "https://a.example,https://b.example",
        " https://a.example , https://b.example ,",
        '["https://a.example", "https://b.example"]',
    ],
    ids=["comma", "comma-with-spaces", "json"],
)
def test_cors_origins_accept_a_comma_list_or_json(production: pytest.MonkeyPatch, value: str) -> None:
    # GIVEN NOTES_CORS_ALLOW_ORIGINS in either notation
    production.setenv("NOTES_CORS_ALLOW_ORIGINS", value)
    # WHEN the settings load THEN both origins come out, trimmed
    assert load_settings().cors_allow_origins == ["https://a.example", "https://b.example"], value


def test_cors_origins_default_to_none(production: pytest.MonkeyPatch) -> None:
    # GIVEN no NOTES_CORS_ALLOW_ORIGINS THEN no browser origin is allowed
    assert load_settings().cors_allow_origins == [], "NOTES_CORS_ALLOW_ORIGINS unset"


@pytest.mark.parametrize("value", ["*", '["*"]', "https://a.example,*", "[not json"])
def test_cors_wildcard_or_malformed_list_is_refused(production: pytest.MonkeyPatch, value: str) -> None:
    # GIVEN a wildcard origin (credentials + '*' is what CORS exists to stop) or broken JSON
    production.setenv("NOTES_CORS_ALLOW_ORIGINS", value)
    # WHEN the settings load THEN the variable is named
    message = config_error()
    assert message.startswith("NOTES_CORS_ALLOW_ORIGINS:"), f"NOTES_CORS_ALLOW_ORIGINS={value!r}: {message}"
    if "*" in value:
        assert "'*' is not allowed" in message, message


@pytest.mark.parametrize("variable", ["NOTES_RATE_LIMIT_AUTH", "NOTES_RATE_LIMIT_API"])
@pytest.mark.parametrize("value", ["ten per minute", "10/fortnight", "", "0/minute"])
def test_bad_rate_limit_is_refused(production: pytest.MonkeyPatch, variable: str, value: str) -> None:
    # GIVEN a rate limit the limiter cannot use (or one that would refuse every request)
    production.setenv(variable, value)
    # WHEN the settings load THEN the variable is named
    message = config_error()
    assert message.startswith(f"{variable}:"), f"{variable}={value!r}: {message}"


def test_rate_limit_accepts_several_windows(production: pytest.MonkeyPatch) -> None:
    # GIVEN the limits notation with two windows
    production.setenv("NOTES_RATE_LIMIT_AUTH", "5/second;100/minute")
    # WHEN the settings load THEN it is kept verbatim for the limiter
    assert load_settings().rate_limit_auth == "5/second;100/minute", "NOTES_RATE_LIMIT_AUTH"


# --- the real entry point -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("NOTES_JWT_SIGNING_KEY", "changeme"), ("NOTES_PORT", "abc")],
)
def test_entry_point_exits_2_naming_the_variable(variable: str, value: str) -> None:
    # GIVEN production settings with one bad variable
    environ = {**clean_environ(), **PRODUCTION_ENV, "NOTES_ENV": "production", variable: value}
    # WHEN the service is started the way the image starts it
    proc = subprocess.run(
        [sys.executable, "-m", "notes_api"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # THEN it exits 2 before serving, with one line naming the variable and no traceback
    assert proc.returncode == 2, f"{variable}={value!r}: exit {proc.returncode}\n{proc.stderr}"
    assert variable in proc.stderr, f"{variable}={value!r}: stderr does not name it:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, f"{variable}={value!r}: traceback printed:\n{proc.stderr}"


# --- secrets by ARN (the EKS path) ---------------------------------------------------------


@pytest.fixture
def secretsmanager(env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """moto's Secrets Manager, with fake credentials and no AWS config from the machine."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            env.delenv(name)
    env.setenv("AWS_ACCESS_KEY_ID", "testing")
    env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def create_secret(client: Any, name: str, value: str) -> str:
    arn: str = client.create_secret(Name=name, SecretString=value)["ARN"]
    return arn


def test_secrets_by_arn_are_read_and_pass_the_production_check(
    secretsmanager: Any, env: pytest.MonkeyPatch
) -> None:
    # GIVEN production with every secret given as an ARN only
    uri = "mongodb://notes:s3cret@docdb.internal:27017/?tls=true"
    env.setenv("NOTES_MONGODB_URI_SECRET_ARN", create_secret(secretsmanager, "notes/mongodb-uri", uri))
    env.setenv("NOTES_REDIS_AUTH_TOKEN_SECRET_ARN", create_secret(secretsmanager, "notes/redis", GOOD_TOKEN))
    env.setenv("NOTES_JWT_SIGNING_KEY_SECRET_ARN", create_secret(secretsmanager, "notes/jwt", GOOD_KEY))
    env.setenv("NOTES_REDIS_URL", "rediss://cache.internal:6379/0")
    # WHEN the settings load
    settings = load_settings()
    # THEN the values come from Secrets Manager and production accepts them
    assert settings.is_production, "NOTES_ENV unset must mean production"
    assert settings.secret("mongodb_uri") == uri, "NOTES_MONGODB_URI_SECRET_ARN"
    assert settings.secret("redis_auth_token") == GOOD_TOKEN, "NOTES_REDIS_AUTH_TOKEN_SECRET_ARN"
    assert settings.secret("jwt_signing_key") == GOOD_KEY, "NOTES_JWT_SIGNING_KEY_SECRET_ARN"


def test_secret_arn_region_comes_from_the_arn(secretsmanager: Any, env: pytest.MonkeyPatch) -> None:
    # GIVEN a secret in another region than the default one
    other = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = create_secret(other, "notes/jwt", GOOD_KEY)
    env.setenv("NOTES_ENV", "test")
    env.setenv("NOTES_JWT_SIGNING_KEY_SECRET_ARN", arn)
    # WHEN the settings load THEN the secret is read from the ARN's region
    assert load_settings().secret("jwt_signing_key") == GOOD_KEY, arn


def test_explicit_value_wins_over_arn(secretsmanager: Any, production: pytest.MonkeyPatch) -> None:
    # GIVEN a signing key set directly and also an ARN holding another key
    other_key = "A" * 48
    arn = create_secret(secretsmanager, "notes/jwt", other_key)
    production.setenv("NOTES_JWT_SIGNING_KEY_SECRET_ARN", arn)
    # WHEN the settings load THEN the explicit value is used
    assert load_settings().secret("jwt_signing_key") == GOOD_KEY, "NOTES_JWT_SIGNING_KEY lost to its ARN"


@pytest.mark.parametrize("field", ["MONGODB_URI", "REDIS_AUTH_TOKEN", "JWT_SIGNING_KEY"])
def test_unknown_arn_names_the_variable(
    secretsmanager: Any, production: pytest.MonkeyPatch, field: str
) -> None:
    # GIVEN a secret given only by an ARN that does not exist
    production.delenv(f"NOTES_{field}")
    production.setenv(f"NOTES_{field}_SECRET_ARN", UNKNOWN_ARN)
    # WHEN the settings load
    message = config_error()
    # THEN the ARN variable is named, with the reason from Secrets Manager
    assert f"NOTES_{field}_SECRET_ARN" in message, message
    assert "ResourceNotFoundException" in message, message


def test_binary_secret_names_the_variable(secretsmanager: Any, production: pytest.MonkeyPatch) -> None:
    # GIVEN an ARN pointing at a binary secret (no SecretString)
    arn = secretsmanager.create_secret(Name="notes/bin", SecretBinary=b"\x00\x01")["ARN"]
    production.delenv("NOTES_JWT_SIGNING_KEY")
    production.setenv("NOTES_JWT_SIGNING_KEY_SECRET_ARN", arn)
    # WHEN the settings load THEN the variable that pointed at it is named
    message = config_error()
    assert "NOTES_JWT_SIGNING_KEY_SECRET_ARN" in message, message
    assert "SecretString" in message, message


def test_placeholder_read_from_arn_is_still_refused(
    secretsmanager: Any, production: pytest.MonkeyPatch
) -> None:
    # GIVEN a secret in Secrets Manager that still holds a placeholder
    production.delenv("NOTES_JWT_SIGNING_KEY")
    arn = create_secret(secretsmanager, "notes/jwt", "changeme")
    production.setenv("NOTES_JWT_SIGNING_KEY_SECRET_ARN", arn)
    # WHEN the settings load THEN the production check runs on the resolved value
    message = config_error()
    assert message.startswith("NOTES_JWT_SIGNING_KEY "), message
    assert "placeholder" in message, message
