"""Service configuration, read from NOTES_* environment variables.

Secrets have no defaults. In production the service refuses to start when a secret is
missing or is a placeholder, and the message names the variable to set. On ECS the task
definition injects Secrets Manager values as environment variables; on EKS a pod may
instead carry ``NOTES_<NAME>_SECRET_ARN`` and the value is read with boto3 at start-up.
With an ARN, the JWT key set and the MongoDB URI are read again every
``NOTES_SECRETS_REFRESH_SECONDS`` while the service runs (core/refresh.py), so a rotation needs
no restart.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notes_api.core.keyset import KeySetError, parse_key_set

log = logging.getLogger("notes_api.config")

ENV_PREFIX = "NOTES_"

# Values that people type while trying things out. Refused in production, together with
# any signing key too short to be a real one.
PLACEHOLDERS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "dev",
        "development",
        "test",
        "placeholder",
        "example",
        "todo",
        "xxx",
        "insecure",
        "dev-only-insecure-key",
    }
)
MIN_SIGNING_KEY_BYTES = 32
OWASP_MIN_MEMORY_KIB = 19456

# (field, what it is) for every secret the service can take from Secrets Manager by ARN.
SECRET_FIELDS: tuple[tuple[str, str], ...] = (
    ("mongodb_uri", "DocumentDB connection URI"),
    ("redis_auth_token", "Redis AUTH token"),
    ("jwt_signing_key", "JWT signing key"),
)
# Secrets the service runs without: resolved from their ARN like the others, never required.
OPTIONAL_SECRET_FIELDS: tuple[tuple[str, str], ...] = (("sentry_dsn", "Sentry DSN"),)


class ConfigError(Exception):
    """A configuration the service must not start with; the message names the variable."""


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Literal["development", "test", "production"] = Field(
        "production", description="production refuses placeholder or missing secrets (default)."
    )
    service_name: str = "notes-api"

    # --- HTTP server -------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="bind address; the image sets 0.0.0.0")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    # How long in-flight requests may run after SIGTERM. ECS stopTimeout must exceed it.
    shutdown_grace_seconds: float = Field(20.0, ge=0, le=120)
    # Time between SIGTERM and closing the listener, /ready answering 503 meanwhile, so a
    # load balancer that polls readiness (Kubernetes) stops routing before we stop accepting.
    shutdown_drain_seconds: float = Field(0.0, ge=0, le=60)
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="peers (addresses or CIDRs) whose X-Forwarded-For is trusted: the ALB subnets",
    )
    # The client address per-IP limits count on, from a header a trusted edge sets on every
    # request (CloudFront-Viewer-Address, "ip:port"). Only where nothing else reaches the
    # service: behind the origin-locked ALB, a client cannot send it past CloudFront, whereas
    # the left end of X-Forwarded-For is whatever the client wrote. Unset: the peer address.
    client_ip_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True
    # FastAPI's own OpenTelemetry spans, metrics and logs. Off: the service's metrics are
    # Prometheus (/metrics) and its logs JSON on stdout, and with no exporter configured the
    # native instrumentation still cost about a fifth of a cached read. On for a deployment
    # that configures OpenTelemetry providers (OTEL_* variables, FASTAPI_OTEL_AUTO_CONFIGURE).
    otel_enabled: bool = False
    docs_enabled: bool = Field(False, description="serve /docs (Swagger UI); /openapi.json always")

    # --- HTTP hardening ------------------------------------------------------------------
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024)
    gzip_min_bytes: int = Field(1024, ge=0)
    hsts_max_age: int = Field(63072000, ge=0)

    # --- MongoDB / DocumentDB ------------------------------------------------------------
    mongodb_uri: SecretStr | None = None
    mongodb_uri_secret_arn: str | None = None
    mongodb_database: str = "notes"
    mongodb_tls_ca_file: str | None = Field(
        None, description="CA bundle for DocumentDB TLS (the image ships global-bundle.pem)"
    )
    mongodb_max_pool_size: int = Field(50, ge=1, le=1000)
    mongodb_min_pool_size: int = Field(0, ge=0, le=1000)
    mongodb_server_selection_timeout_ms: int = Field(3000, ge=50)
    mongodb_connect_timeout_ms: int = Field(3000, ge=50)
    mongodb_socket_timeout_ms: int = Field(10000, ge=50)
    mongodb_max_idle_time_ms: int = Field(60000, ge=0)
    # The write concern every write carries, so a 2xx means the write is durable rather than
    # whatever the server defaults to. "majority" or a member count (1-50, mongod's bound);
    # 0 (unacknowledged) is refused: the API would answer 201 for a write it never saw done.
    # The settings win over w=/journal= in the URI (pymongo: "If the same option is passed in a
    # URI and as a keyword parameter the keyword parameter takes precedence", MongoClient doc).
    # DocumentDB ignores both and always acknowledges only what its storage quorum holds.
    mongodb_write_concern_w: str = Field(
        "majority", description='"majority" (default) or the number of members (1-50) to acknowledge'
    )
    mongodb_write_concern_j: bool = Field(True, description="acknowledge only once the journal is on disk")

    # --- Redis / ElastiCache -------------------------------------------------------------
    redis_url: str | None = Field(None, description="redis:// or rediss:// (TLS) URL")
    redis_auth_token: SecretStr | None = None
    redis_auth_token_secret_arn: str | None = None
    redis_ca_file: str | None = None
    redis_timeout_seconds: float = Field(0.25, gt=0, le=10, description="per command")
    redis_connect_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="per new connection (TLS handshake) and per wait for a pooled one"
    )
    redis_max_connections: int = Field(64, ge=1)
    # After a Redis failure, skip Redis for this long instead of paying a timeout per request.
    redis_retry_after_seconds: float = Field(5.0, ge=0, le=300)
    cache_ttl_seconds: int = Field(60, ge=1, le=86400)
    cache_enabled: bool = True

    # --- Tokens --------------------------------------------------------------------------
    jwt_signing_key: SecretStr | None = None
    jwt_signing_key_secret_arn: str | None = None
    jwt_issuer: str = "notes-api"
    jwt_audience: str = "notes-api"
    access_token_ttl_seconds: int = Field(15 * 60, ge=30, le=24 * 3600)
    refresh_token_ttl_seconds: int = Field(7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    # How long a task trusts that a session it checked is still live: logout on another task
    # takes effect here within this time (at once on the task that handled it). 0 = always ask.
    session_check_cache_seconds: float = Field(2.0, ge=0, le=60)
    # How long Redis may answer "live" for a session it read from the database (the source of
    # truth). A revocation Redis could not record (down at the time) takes effect on every
    # task within this plus the window above. 0 = every Redis miss asks the database.
    session_live_cache_seconds: float = Field(10.0, ge=0, le=300)

    # --- Secrets read by ARN, re-read while serving ----------------------------------------
    # The JWT key set's rotation activates a new key 180 s after it is written
    # (notes_rotation.jwt ACTIVATION_DELAY_SECONDS), counting on every task having read it
    # within two of these intervals: raise one, raise the other.
    secrets_refresh_seconds: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="how often the *_SECRET_ARN secrets (JWT key set, MongoDB URI) are read again",
    )

    # --- Error tracking (Sentry), off unless a DSN is set ------------------------------------
    sentry_dsn: SecretStr | None = Field(None, description="Sentry DSN; unset: no error tracking")
    sentry_dsn_secret_arn: str | None = None
    sentry_environment: str | None = Field(None, description="Sentry environment; default: NOTES_ENV")
    sentry_release: str | None = Field(None, description="Sentry release; default: notes-api@<version>")

    # --- Password hashing (argon2id). Defaults: RFC 9106's low-memory profile. Production
    # refuses less than OWASP's minimum (19 MiB, 2 passes); tests lower it to stay fast.
    password_hash_time_cost: int = Field(3, ge=1, le=20)
    password_hash_memory_kib: int = Field(65536, ge=8, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(4, ge=1, le=16)

    # --- Rate limits (the `limits` library's notation, e.g. "10/minute") ----------------
    rate_limit_enabled: bool = True
    rate_limit_auth: str = Field("10/minute", description="per client IP + account on auth routes")
    rate_limit_api: str = Field("600/minute", description="per user on every /api route")
    # Hits of the per-user API limit a process takes from Redis at once and then spends
    # locally: one Redis call per `lease` requests instead of one per request. Never more
    # than the limit is served (hits are counted before they are spent); a user may be
    # refused up to lease-1 requests early per process. Limits under 20 x lease are counted
    # one by one. 1 turns leasing off.
    rate_limit_api_lease: int = Field(10, ge=1, le=100)

    rate_limit_exports: str = Field(
        "10/hour", description="per user on POST /api/v1/exports, replays of an Idempotency-Key included"
    )

    # --- Note exports (SQS queue, S3 bucket, the worker) ---------------------------------
    # Without the queue URL and the bucket the API still starts and POST /api/v1/exports answers
    # 503 exports_unavailable; the worker refuses to start. Local endpoints (moto) come from
    # boto3's own AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_S3, never from a setting of ours, so
    # the code talks to a local server exactly as to AWS.
    export_queue_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+/\S+$",
        description="URL of the SQS queue exports are sent to (https://sqs.<region>.amazonaws.com/<account>/<name>)",
    )
    export_bucket: str | None = Field(
        None,
        # S3 general purpose bucket naming rules (S3 User Guide, "Bucket naming rules"): 3-63
        # characters, lower-case letters, digits, dots and hyphens, a letter or digit at each end.
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="S3 bucket the worker writes exports to and the API presigns downloads from",
    )
    export_prefix: str = Field(
        "exports/",
        min_length=1,
        max_length=200,
        description="key prefix of every export object: <prefix><owner_id>/<export_id>.json.gz; "
        "the task roles' S3 permissions name the same prefix",
    )
    export_retention_days: int = Field(
        7,
        ge=1,
        le=365,
        description="days an export and its record live; the bucket's lifecycle rule uses the same",
    )
    export_max_in_flight: int = Field(
        2, ge=1, le=100, description="exports per user queued or running at once; more answer 429"
    )
    # A presigned URL stops working when the credentials that signed it expire, whatever its own
    # expiry says (AWS re:Post, "presigned-url-s3-bucket-expiration"): a task role's credentials
    # are temporary, so a long TTL would promise what it cannot keep. Links stay short-lived.
    export_url_ttl_seconds: int = Field(
        300, ge=10, le=3600, description="lifetime of a download URL (presigned S3 GET)"
    )
    # SQS accepts a redrive maxReceiveCount from 1 to 1000 (SQS Developer Guide, dead-letter queues).
    export_max_receives: int = Field(
        5,
        ge=1,
        le=1000,
        description="receives after which the worker marks an export failed (the queue's maxReceiveCount)",
    )
    # The queue's visibility timeout must exceed it, and SQS caps that timeout at 43,200 s (12 h,
    # SQS API Reference, ChangeMessageVisibility): 43,000 leaves the stack room above it.
    export_job_timeout_seconds: int = Field(
        600, ge=10, le=43000, description="the worker gives a job up after this many seconds"
    )

    # --- AWS: the region of the export queue and bucket, and of *_SECRET_ARN reads ---------
    aws_region: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="AWS region, e.g. eu-west-1"
    )

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        # Accept "a,b" as well as a JSON list, so a task definition can stay readable.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError("'*' is not allowed: list the origins that may call the API")
        return value

    @field_validator("mongodb_write_concern_w")
    @classmethod
    def _write_concern_w(cls, value: str) -> str:
        text = value.strip()
        if text == "majority":
            return text
        if not text.isdigit() or not 1 <= int(text) <= 50:
            raise ValueError(
                f'write concern w must be "majority" or a member count from 1 to 50, not {value!r} '
                "(0 would acknowledge writes the server has not made)"
            )
        return str(int(text))

    @property
    def mongodb_write_concern(self) -> dict[str, Any]:
        """pymongo's ``w`` and ``journal`` keyword options (MongoClient doc, "Write Concern options")."""
        w = self.mongodb_write_concern_w
        return {"w": w if w == "majority" else int(w), "journal": self.mongodb_write_concern_j}

    @field_validator("export_prefix")
    @classmethod
    def _export_prefix(cls, value: str) -> str:
        # The key is <prefix><owner>/<id>.json.gz and IAM grants <bucket>/<prefix>*: a prefix
        # without its trailing "/" would also match a sibling prefix ("exports-old/"), and a
        # leading "/" makes keys S3 stores with an empty first segment that no grant names.
        if not value.endswith("/"):
            raise ValueError(f'the export prefix must end with "/": {value!r}')
        if value.startswith("/"):
            raise ValueError(f'the export prefix must not start with "/": {value!r}')
        if "//" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            raise ValueError(f"the export prefix has an empty segment or a control character: {value!r}")
        return value

    @field_validator("rate_limit_auth", "rate_limit_api", "rate_limit_exports")
    @classmethod
    def _parse_limit(cls, value: str) -> str:
        try:
            items = parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {value!r}") from exc
        # limits accepts "0/minute", which would refuse every request: an outage, not a limit.
        # Switching limits off is NOTES_RATE_LIMIT_ENABLED=false.
        if any(item.amount < 1 for item in items):
            raise ValueError(f"a rate limit must allow at least 1 request: {value!r}")
        return value

    @property
    def exports_configured(self) -> bool:
        """Whether the export queue and bucket are both set (the production check refuses one alone)."""
        return self.export_queue_url is not None and self.export_bucket is not None

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def secret(self, field: str) -> str | None:
        value = getattr(self, field)
        return value.get_secret_value() if value is not None else None


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in PLACEHOLDERS or "change-me" in lowered or "placeholder" in lowered


def check_production(settings: Settings) -> None:
    """Raise ConfigError naming the first variable that makes production unsafe."""
    if not settings.is_production:
        return
    for field, what in SECRET_FIELDS:
        value = settings.secret(field)
        if value is None:
            if field == "redis_auth_token" and settings.redis_url is None:
                continue
            raise ConfigError(
                f"{env_name(field)} is required in production ({what}); set it or "
                f"{env_name(field + '_secret_arn')}"
            )
        if _is_placeholder(value):
            raise ConfigError(
                f"{env_name(field)} holds a placeholder value; production needs the real {what}"
            )
    check_signing_keys(settings.secret("jwt_signing_key") or "", production=True)
    if settings.redis_url is None:
        raise ConfigError(f"{env_name('redis_url')} is required in production (cache and rate limits)")
    if settings.password_hash_memory_kib < OWASP_MIN_MEMORY_KIB or settings.password_hash_time_cost < 2:
        raise ConfigError(
            f"{env_name('password_hash_memory_kib')}/{env_name('password_hash_time_cost')} are below "
            f"the argon2id minimum for production ({OWASP_MIN_MEMORY_KIB} KiB, 2 passes)"
        )
    check_exports(settings)


def check_signing_keys(value: str, production: bool) -> None:
    """Raise ConfigError unless ``value`` is a key set (core/keyset.py), in production one whose
    every key is long enough: a plain string, the legacy form, is one key."""
    try:
        keys = parse_key_set(value)
    except KeySetError as exc:
        raise ConfigError(f"{env_name('jwt_signing_key')}: {exc}") from None
    if production and keys.shortest_key_bytes() < MIN_SIGNING_KEY_BYTES:
        raise ConfigError(
            f"{env_name('jwt_signing_key')} is shorter than {MIN_SIGNING_KEY_BYTES} bytes; "
            "production needs a generated key"
        )


def check_exports(settings: Settings) -> None:
    """Raise ConfigError naming the NOTES_EXPORT_* variable that makes production exports unsafe
    or half configured. Exports left out altogether are allowed: the API answers 503 for them."""
    queue, bucket = settings.export_queue_url, settings.export_bucket
    if queue is None and bucket is None:
        return
    if bucket is None:
        raise ConfigError(
            f"{env_name('export_bucket')} is required when {env_name('export_queue_url')} is set "
            "(the worker writes exports to it and the API presigns downloads from it)"
        )
    if queue is None:
        raise ConfigError(
            f"{env_name('export_queue_url')} is required when {env_name('export_bucket')} is set "
            "(POST /api/v1/exports sends its jobs to it)"
        )
    if not queue.startswith("https://"):
        raise ConfigError(
            f"{env_name('export_queue_url')} must be an https:// SQS queue URL in production, not {queue!r}"
        )
    if settings.aws_region is None:
        raise ConfigError(
            f"{env_name('aws_region')} is required in production when exports are configured "
            "(download URLs are signed for the bucket's region)"
        )


SecretFetcher = Callable[[str], str]


def fetch_secret_with_boto3(arn: str, region: str | None = None) -> str:
    # Imported here: only the EKS path needs it, and it costs start-up time everywhere else.
    import boto3  # noqa: PLC0415

    client = boto3.client("secretsmanager", region_name=region or _region_from_arn(arn))
    # AWSCURRENT is GetSecretValue's default (botocore's secretsmanager model, VersionStage); said
    # explicitly because moto keeps returning the created version after a rotation moved the
    # label, and the refresh (core/refresh.py) must follow the label, as on AWS.
    response = client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    value = response.get("SecretString")
    if value is None:
        raise ConfigError("it has no SecretString (binary secrets are not supported)")
    return str(value)


def _region_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def resolve_secret_arns(settings: Settings, fetch: SecretFetcher | None = None) -> Settings:
    """Fill secrets given as ``*_SECRET_ARN`` from Secrets Manager; an explicit value wins."""
    updates: dict[str, SecretStr] = {}
    for field, _what in (*SECRET_FIELDS, *OPTIONAL_SECRET_FIELDS):
        arn = getattr(settings, f"{field}_secret_arn")
        if arn and getattr(settings, field) is None:
            try:
                value = (fetch or (lambda a: fetch_secret_with_boto3(a, settings.aws_region)))(arn)
            # ConfigError included: the fetcher's own message (e.g. a binary secret) does not
            # know which variable pointed at the secret, and the operator needs that name.
            except Exception as exc:  # botocore raises many types; all mean the same here
                raise ConfigError(f"cannot read {env_name(field + '_secret_arn')}={arn}: {exc}") from exc
            updates[field] = SecretStr(value)
    return settings.model_copy(update=updates) if updates else settings


def with_development_defaults(settings: Settings) -> Settings:
    """Outside production a missing signing key becomes an ephemeral random one."""
    if settings.is_production or settings.jwt_signing_key is not None:
        return settings
    log.warning("no %s set: using an ephemeral development key", env_name("jwt_signing_key"))
    return settings.model_copy(update={"jwt_signing_key": SecretStr(secrets.token_urlsafe(48))})


def load_settings(fetch: SecretFetcher | None = None, **overrides: Any) -> Settings:
    """Read, resolve and check the configuration; raise ConfigError with the variable name."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"{env_name(field)}: {first['msg']}") from exc
    settings = resolve_secret_arns(settings, fetch)
    check_production(settings)
    key = settings.secret("jwt_signing_key")
    if key is not None:
        check_signing_keys(key, production=settings.is_production)
    return with_development_defaults(settings)
