"""The app's DocumentDB secret, read and rewritten for a restored cluster: pure functions, no AWS.

Two shapes are in use. The app user's secret (``notes/<env>/docdb-app``) is JSON in the format
AWS's MongoDB rotation functions read and write (Secrets Manager User Guide, "JSON structure of
Secrets Manager secrets", Amazon DocumentDB credentials: engine, host, port, username, password,
dbname, ssl, masterarn) plus the ready-made ``uri`` the API connects with. The older secret
(``notes/<env>/docdb-uri``) holds the URI alone. A repoint changes where they point (host, port,
the URI's host:port and, given the restored cluster's own, ``masterarn``) and nothing else: the
user, password, database and every URI option stay as they are.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# DocumentDB's ports (RestoreDBClusterToPointInTime's Port, botocore's docdb model: "Must be a
# value from 1150 to 65535").
PORT_RANGE = (1150, 65535)

# A cluster endpoint is <cluster identifier>.cluster-<account and region suffix>.<region>.
# docdb.amazonaws.com; the reader endpoint has "cluster-ro-" where this has "cluster-", and an
# instance endpoint has no "cluster-" part at all (Amazon DocumentDB Developer Guide,
# "Understanding Amazon DocumentDB endpoints" and "Finding a cluster's endpoints"; the same
# shapes the offline mocks answer, notes_platform/graph/mocks.py). Identifiers: 1-63 letters,
# digits or hyphens, starting with a letter (CreateDBCluster's DBClusterIdentifier).
_CLUSTER = re.compile(
    r"^(?P<cluster>[a-z][a-z0-9-]{0,62})\.cluster-(?P<suffix>[a-z0-9]+)\."
    r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.docdb\.amazonaws\.com$"
)
_READER = re.compile(r"^[a-z][a-z0-9-]{0,62}\.cluster-ro-[a-z0-9]+\.[a-z0-9-]+\.docdb\.amazonaws\.com$")
_INSTANCE = re.compile(r"^[a-z][a-z0-9-]{0,62}\.[a-z0-9]+\.[a-z0-9-]+\.docdb\.amazonaws\.com$")


class SecretFormatError(ValueError):
    """The secret's value is neither shape this module knows; the message names the secret."""


class EndpointError(ValueError):
    """The host is not a cluster endpoint of the stack's region; the message says what it is."""


@dataclass(frozen=True)
class ClusterEndpoint:
    host: str
    cluster: str
    region: str


def cluster_endpoint(host: str, region: str) -> ClusterEndpoint:
    """``host`` as a DocumentDB cluster endpoint in ``region``, or :class:`EndpointError`."""
    name = host.strip().lower().rstrip(".")
    if match := _CLUSTER.match(name):
        cluster = match["cluster"]
        if "--" in cluster or cluster.endswith("-"):
            raise EndpointError(
                f"{host}: {cluster!r} is not a cluster identifier (no double or trailing hyphen)"
            )
        if match["region"] != region:
            raise EndpointError(
                f"{host}: a cluster endpoint in {match['region']}, but the stack runs in {region}"
            )
        return ClusterEndpoint(name, cluster, region)
    if _READER.match(name):
        raise EndpointError(
            f"{host}: the reader endpoint (cluster-ro-) takes no writes: give the cluster endpoint "
            "(cluster-), `aws docdb describe-db-clusters --query 'DBClusters[0].Endpoint'`"
        )
    if _INSTANCE.match(name):
        raise EndpointError(
            f"{host}: an instance endpoint, which does not follow a failover: give the cluster "
            "endpoint (<cluster>.cluster-<suffix>.<region>.docdb.amazonaws.com)"
        )
    raise EndpointError(
        f"{host}: not a DocumentDB cluster endpoint (<cluster>.cluster-<suffix>.{region}.docdb.amazonaws.com)"
    )


def check_port(port: int) -> int:
    low, high = PORT_RANGE
    if not low <= port <= high:
        raise EndpointError(f"--port {port}: DocumentDB listens on {low}-{high}")
    return port


@dataclass(frozen=True)
class AppSecret:
    """One version of the app's secret: JSON (``document``) or a plain URI (``document`` None)."""

    name: str
    uri: str
    document: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return "uri" if self.document is None else "json"

    def text(self) -> str:
        """The SecretString to store. JSON keeps its key order; AWS's rotation functions write
        ``json.dumps`` of the dict, so the same separators."""
        return self.uri if self.document is None else json.dumps(self.document)

    def masked(self) -> str:
        """What may be shown: every password replaced by a mask, the rest as stored."""
        if self.document is None:
            return mask_uri(self.uri)
        shown = dict(self.document)
        if "password" in shown:
            shown["password"] = MASK
        shown["uri"] = mask_uri(self.uri)
        return json.dumps(shown, indent=2)


def parse_secret(name: str, text: str) -> AppSecret:
    """The secret's current value, JSON with a ``uri`` or a plain ``mongodb://`` URI."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SecretFormatError(f"{name}: starts like JSON but is not ({exc.msg} at {exc.pos})") from exc
        uri = document.get("uri") if isinstance(document, dict) else None
        if not isinstance(uri, str):
            raise SecretFormatError(f"{name}: JSON without a string `uri`: not the app's DocumentDB secret")
        _single_host(name, uri)
        return AppSecret(name, uri, document)
    _single_host(name, stripped)
    return AppSecret(name, stripped)


def _single_host(name: str, uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme != "mongodb":
        raise SecretFormatError(f"{name}: scheme {parts.scheme or '(none)'!r}: expected a mongodb:// URI")
    hosts = parts.netloc.rpartition("@")[2]
    if not hosts or "," in hosts:
        raise SecretFormatError(
            f"{name}: the URI names {'no host' if not hosts else 'several hosts'}; a DocumentDB URI "
            "names the cluster endpoint once"
        )


def mask_uri(uri: str) -> str:
    parts = urlsplit(uri)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hosts}"))


def repoint_uri(uri: str, host: str, port: int) -> str:
    """``uri`` with its one host:port replaced; user, password (still percent-encoded), path
    and options byte for byte as they were."""
    parts = urlsplit(uri)
    userinfo, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}:{port}"))


def repointed(secret: AppSecret, host: str, port: int, master_arn: str | None = None) -> AppSecret:
    """The secret pointing at ``host:port``. ``master_arn``: the restored cluster's own managed
    master secret, written to ``masterarn`` where the secret has one (the rotation function and
    the users task sign in with it)."""
    uri = repoint_uri(secret.uri, host, port)
    if secret.document is None:
        return AppSecret(secret.name, uri)
    document = dict(secret.document)
    document["host"] = host
    # Keep the type the secret had: the rotation template reads the port as it wrote it.
    document["port"] = str(port) if isinstance(secret.document.get("port"), str) else port
    document["uri"] = uri
    if master_arn and "masterarn" in document:
        document["masterarn"] = master_arn
    return AppSecret(secret.name, uri, document)


def current_host(secret: AppSecret) -> str:
    return urlsplit(secret.uri).netloc.rpartition("@")[2]


def masked_diff(before: AppSecret, after: AppSecret) -> str:
    lines = difflib.unified_diff(
        before.masked().splitlines(keepends=True),
        after.masked().splitlines(keepends=True),
        fromfile=f"{before.name} (AWSCURRENT now)",
        tofile=f"{after.name} (new AWSCURRENT)",
        n=2,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
