"""The worker's configuration: the service's NOTES_* settings, minus what only the API needs.

The worker reads MongoDB, the export queue and the bucket; it needs neither Redis nor a JWT
signing key, in production either, so it does not run the API's production check (which
demands both). It refuses to start without the three it does need, naming the variable.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field, ValidationError

from notes_api.core.config import (
    ConfigError,
    SecretFetcher,
    Settings,
    check_exports,
    env_name,
    resolve_secret_arns,
)

# (field, what the worker uses it for), in the order a missing one is reported.
REQUIRED: tuple[tuple[str, str], ...] = (
    ("mongodb_uri", "the export records and the notes; or set NOTES_MONGODB_URI_SECRET_ARN"),
    ("export_queue_url", "the SQS queue the worker consumes"),
    ("export_bucket", "the S3 bucket the worker writes exports to"),
)


class WorkerSettings(Settings):
    # A failed job's message becomes visible again after base * 2^(receives - 1) seconds, capped
    # at export_retry_max_seconds: 10, 20, 40, 80 s for the default five receives, so a brief
    # outage of S3 or the database is ridden out instead of burning every receive within seconds.
    export_retry_base_seconds: float = Field(
        10.0, ge=0, le=3600, description="first retry delay of a failed export (doubles per receive)"
    )
    export_retry_max_seconds: float = Field(
        900.0, ge=0, le=43200, description="longest retry delay (SQS caps a visibility timeout at 12 h)"
    )

    def retry_delay(self, receive_count: int) -> int:
        """Seconds until a failed message is visible again (ChangeMessageVisibility takes whole seconds)."""
        delay = self.export_retry_base_seconds * 2 ** max(0, receive_count - 1)
        return int(min(delay, self.export_retry_max_seconds))


def load_worker_settings(fetch: SecretFetcher | None = None, **overrides: Any) -> WorkerSettings:
    """Read and check the worker's configuration; raise ConfigError naming the variable."""
    try:
        settings = WorkerSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"{env_name(field)}: {first['msg']}") from exc
    # Only the database secret: an ARN for the API's Redis token or signing key in the worker's
    # environment would be a permission the worker's task role should not have.
    only_database = settings.model_copy(
        update={"redis_auth_token_secret_arn": None, "jwt_signing_key_secret_arn": None}
    )
    # model_copy keeps the class: what comes back is still a WorkerSettings.
    settings = cast(WorkerSettings, resolve_secret_arns(only_database, fetch))
    for field, what in REQUIRED:
        if getattr(settings, field) is None:
            raise ConfigError(f"{env_name(field)} is required by the export worker ({what})")
    if settings.is_production:
        check_exports(settings)
    return settings
