"""Secrets re-read while serving: the JWT key set and the MongoDB URI, by their ARNs.

Every ``NOTES_SECRETS_REFRESH_SECONDS`` (60 s by default) the service reads
``NOTES_JWT_SIGNING_KEY_SECRET_ARN`` and ``NOTES_MONGODB_URI_SECRET_ARN`` again (whichever is
set), off the event loop, and installs what changed: a new key set replaces the old one in one
assignment (core/security.py ``TokenService.use_keys``), a new URI gets a new database client
(core/db.py ``Database.use_uri``). So a rotation reaches every task within one interval, without
a restart. A read that fails, or a value that does not parse, leaves the previous value in use,
is logged as a warning and counted (``notes_secret_refreshes_total{result="failed"}``); it never
stops the service. With an ARN set, its secret is what the service follows, even if the plain
variable was given as well (that value only wins at start-up, core/config.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from notes_api.core.config import SecretFetcher, Settings, env_name, fetch_secret_with_boto3
from notes_api.core.db import Database, uri_from_secret
from notes_api.core.keyset import parse_key_set
from notes_api.core.metrics import SECRET_REFRESHES
from notes_api.core.security import TokenService

log = logging.getLogger("notes_api.refresh")


@dataclass(frozen=True)
class Followed:
    """One secret to follow: its settings field (the metric's label), ARN, and what installs a
    value (returns whether it changed anything; raises on a value it cannot use)."""

    field: str
    arn: str
    install: Callable[[str], bool]


class SecretsRefresher:
    def __init__(
        self, settings: Settings, followed: list[Followed], fetch: SecretFetcher | None = None
    ) -> None:
        self.interval = settings.secrets_refresh_seconds
        self.followed = followed
        region = settings.aws_region
        self._fetch: SecretFetcher = fetch or (lambda arn: fetch_secret_with_boto3(arn, region))
        self._last = time.monotonic()

    @classmethod
    def for_api(
        cls, settings: Settings, tokens: TokenService, db: Database, fetch: SecretFetcher | None = None
    ) -> SecretsRefresher:
        followed = []
        if settings.jwt_signing_key_secret_arn:
            followed.append(
                Followed(
                    "jwt_signing_key",
                    settings.jwt_signing_key_secret_arn,
                    lambda value: tokens.use_keys(parse_key_set(value)),
                )
            )
        followed.extend(database_followed(settings, db))
        return cls(settings, followed, fetch)

    @property
    def active(self) -> bool:
        return bool(self.followed)

    async def refresh_once(self) -> dict[str, str]:
        """Read every followed secret once; the result per field: unchanged, changed or failed."""
        self._last = time.monotonic()
        results: dict[str, str] = {}
        for item in self.followed:
            try:
                value = await asyncio.to_thread(self._fetch, item.arn)
                result = "changed" if item.install(value) else "unchanged"
            except Exception as exc:  # botocore, a parse error: the old value stays either way
                result = "failed"
                # The type and botocore's message only: a parse error never includes the value.
                log.warning(
                    "could not refresh %s from %s; keeping the previous value: %s: %s",
                    env_name(item.field),
                    item.arn,
                    type(exc).__name__,
                    str(exc)[:200],
                )
            else:
                if result == "changed":
                    log.info("%s changed: the new value is in use", env_name(item.field))
            SECRET_REFRESHES.labels(item.field, result).inc()
            results[item.field] = result
        return results

    async def refresh_if_due(self) -> None:
        """Refresh if an interval has passed since the last refresh (or start-up); for a loop
        that must choose its moment, the export worker's between two jobs."""
        if self.active and time.monotonic() - self._last >= self.interval:
            await self.refresh_once()

    async def run(self) -> None:
        """Refresh every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh_once()


def database_followed(settings: Settings, db: Database) -> list[Followed]:
    """The MongoDB URI secret, if read by ARN (the API and the export worker both follow it)."""
    arn = settings.mongodb_uri_secret_arn
    if not arn:
        return []
    return [Followed("mongodb_uri", arn, lambda value: db.use_uri(uri_from_secret(value)))]
