"""The app's DocumentDB secret rewritten for a restored cluster: endpoints accepted and refused,
both secret shapes, what is kept, what is masked."""

from __future__ import annotations

import json
import re

import pytest

from infra.secrets import secret_name
from notes_platform.operations.docdb_secret import (
    MASK,
    EndpointError,
    SecretFormatError,
    check_port,
    cluster_endpoint,
    masked_diff,
    parse_secret,
    repointed,
)
from notes_platform.operations.repoint import SECRET_PURPOSES, default_secret_names

RESTORED = "notes-prod-docdb-restored.cluster-c1a2b3c4d5e6.eu-west-1.docdb.amazonaws.com"
OLD = "notes-prod-docdb.cluster-c1a2b3c4d5e6.eu-west-1.docdb.amazonaws.com"
PASSWORD = "p%40ss%2Fw0rd"  # percent-encoded in the URI, as infra/documentdb.py connection_uri writes it
OPTIONS = (
    "tls=true&tlsCAFile=/etc/ssl/docdb/global-bundle.pem&replicaSet=rs0&authSource=admin"
    "&readPreference=secondaryPreferred&retryWrites=false"
)
URI = f"mongodb://notes_app:{PASSWORD}@{OLD}:27017/notes?{OPTIONS}"
APP_SECRET = {
    "engine": "mongo",
    "host": OLD,
    "port": 27017,
    "username": "notes_app",
    "password": "p@ss/w0rd",
    "dbname": "notes",
    "ssl": True,
    "masterarn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-old-AbCdEf",
    "uri": URI,
}


def test_the_default_secret_names_are_the_programs() -> None:
    # THEN the command looks for the names infra/secrets.py gives the two secrets, app user's first
    assert default_secret_names("prod") == tuple(secret_name("prod", p) for p in SECRET_PURPOSES)
    assert default_secret_names("prod") == ("notes/prod/docdb-app", "notes/prod/docdb-uri")


def test_a_cluster_endpoint_of_the_stacks_region_is_accepted() -> None:
    endpoint = cluster_endpoint(RESTORED.upper() + ".", "eu-west-1")
    assert (endpoint.host, endpoint.cluster, endpoint.region) == (
        RESTORED,
        "notes-prod-docdb-restored",
        "eu-west-1",
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (RESTORED.replace(".cluster-", ".cluster-ro-"), "the reader endpoint (cluster-ro-) takes no writes"),
        ("notes-prod-docdb-1.c1a2b3c4d5e6.eu-west-1.docdb.amazonaws.com", "an instance endpoint"),
        (RESTORED.replace("eu-west-1", "eu-central-1"), "in eu-central-1, but the stack runs in eu-west-1"),
        ("notes-prod.abc123.ng.0001.euw1.cache.amazonaws.com", "not a DocumentDB cluster endpoint"),
        ("notes-prod-db.cluster-c1a2b3.eu-west-1.rds.amazonaws.com", "not a DocumentDB cluster endpoint"),
        ("10.30.64.12", "not a DocumentDB cluster endpoint"),
        ("notes--prod.cluster-c1a2b3.eu-west-1.docdb.amazonaws.com", "not a cluster identifier"),
    ],
)
def test_anything_but_a_cluster_endpoint_of_the_region_is_refused(host: str, message: str) -> None:
    # GIVEN a host that is not the restored cluster's writer endpoint in the stack's region
    # WHEN it is checked THEN the refusal says what the host is instead
    with pytest.raises(EndpointError, match=re.escape(message)):
        cluster_endpoint(host, "eu-west-1")


@pytest.mark.parametrize("port", [1149, 65536, 0])
def test_a_port_docdb_cannot_listen_on_is_refused(port: int) -> None:
    with pytest.raises(EndpointError, match="1150-65535"):
        check_port(port)


def test_the_app_secret_points_at_the_restored_cluster_and_keeps_everything_else() -> None:
    # GIVEN the app user's JSON secret
    before = parse_secret("notes/prod/docdb-app", json.dumps(APP_SECRET))
    new_master = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-new-GhIjKl"
    # WHEN it is repointed with the restored cluster's own master secret
    after = repointed(before, RESTORED, 27018, new_master)
    document = json.loads(after.text())
    # THEN host, port, the URI's host:port and masterarn change; the rest is as it was
    assert document == APP_SECRET | {
        "host": RESTORED,
        "port": 27018,
        "masterarn": new_master,
        "uri": f"mongodb://notes_app:{PASSWORD}@{RESTORED}:27018/notes?{OPTIONS}",
    }
    assert list(document) == list(APP_SECRET), "key order kept"


def test_a_plain_uri_secret_keeps_user_password_database_and_options() -> None:
    before = parse_secret("notes/prod/docdb-uri", URI + "\n")
    after = repointed(before, RESTORED, 27017)
    assert after.kind == "uri"
    assert after.text() == URI.replace(OLD, RESTORED)


def test_a_string_port_stays_a_string() -> None:
    before = parse_secret("s", json.dumps(APP_SECRET | {"port": "27017"}))
    assert json.loads(repointed(before, RESTORED, 27017).text())["port"] == "27017"


def test_without_a_new_master_secret_masterarn_is_kept() -> None:
    before = parse_secret("s", json.dumps(APP_SECRET))
    assert json.loads(repointed(before, RESTORED, 27017, None).text())["masterarn"] == APP_SECRET["masterarn"]


def test_the_diff_shows_where_it_points_and_never_a_password() -> None:
    # GIVEN the secret before and after
    before = parse_secret("notes/prod/docdb-app", json.dumps(APP_SECRET))
    diff = masked_diff(before, repointed(before, RESTORED, 27017))
    # THEN the diff names both hosts and shows masks where the password was, in the field and the URI
    assert f'-  "host": "{OLD}",' in diff and f'+  "host": "{RESTORED}",' in diff
    assert f"notes_app:{MASK}@{RESTORED}:27017" in diff
    assert "p@ss/w0rd" not in diff and PASSWORD not in diff
    assert f'"password": "{MASK}"' in before.masked()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"host": "x"}', "JSON without a string `uri`"),
        ("{not json", "starts like JSON but is not"),
        ("postgres://u:p@h:5432/db", "scheme 'postgres': expected a mongodb:// URI"),
        ("mongodb://u:p@a:27017,b:27017/notes", "names several hosts"),
        ("just-a-password", "expected a mongodb:// URI"),
    ],
)
def test_a_secret_of_another_shape_is_refused_naming_it(value: str, message: str) -> None:
    with pytest.raises(SecretFormatError, match=f"^notes/prod/docdb-app: .*{message}"):
        parse_secret("notes/prod/docdb-app", value)
