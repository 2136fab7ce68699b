"""`restore-repoint --check-connect` against a real MongoDB-wire server with TLS (SecantusDB on
loopback, a throwaway CA), standing in for the restored cluster.

What it cannot stand in for: DocumentDB's replica set (the URI in the secret says replicaSet=rs0;
SecantusDB runs standalone, so these URIs connect directly) and DocumentDB's own CA bundle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from devtools.localservices import SecantusServer, free_port
from devtools.tlsfiles import TlsFiles, make_tls_files
from notes_platform.operations.repoint import check_connection, with_ca_file

IMAGE_CA = "/etc/ssl/docdb/global-bundle.pem"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def cluster(tls: TlsFiles) -> Iterator[SecantusServer]:
    """The 'restored cluster': TLS only, with the app user the restore brought back."""
    with SecantusServer(tls=tls) as server:
        admin: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://127.0.0.1:{server.port}/?directConnection=true&tls=true&tlsCAFile={tls.ca_file}"
        )
        admin.admin.command(
            "createUser", "notes_app", pwd="restored-pw", roles=[{"role": "readWrite", "db": "notes"}]
        )
        admin.close()
        yield server


def uri(port: int, password: str) -> str:
    """The secret's URI as it points at the restored cluster (its CA path is the image's)."""
    return (
        f"mongodb://notes_app:{password}@127.0.0.1:{port}/notes?tls=true&tlsCAFile={IMAGE_CA}"
        "&authSource=admin&directConnection=true&retryWrites=false"
    )


def test_the_right_credentials_over_tls_sign_in(cluster: SecantusServer, tls: TlsFiles) -> None:
    result = check_connection(uri(cluster.port, "restored-pw"), str(tls.ca_file), timeout_seconds=5)
    assert (result.status, result.saw) == ("ok", "signed in and pinged notes")


def test_a_password_the_restored_cluster_does_not_know_fails_naming_the_users_task(
    cluster: SecantusServer, tls: TlsFiles
) -> None:
    # GIVEN the secret's password is newer than the restore point (a rotation after it)
    result = check_connection(uri(cluster.port, "rotated-since"), str(tls.ca_file), timeout_seconds=5)
    # THEN the check fails, and says what sets the user's password again
    assert result.status == "failed"
    assert "authentication failed" in result.saw.lower() and "db-users task" in result.saw


def test_a_certificate_from_another_ca_fails(cluster: SecantusServer, tmp_path: Path) -> None:
    other = make_tls_files(tmp_path / "other")
    result = check_connection(uri(cluster.port, "restored-pw"), str(other.ca_file), timeout_seconds=3)
    assert result.status == "failed" and result.saw.startswith("TLS:")


def test_a_cluster_out_of_reach_is_skipped_not_failed(tls: TlsFiles) -> None:
    # GIVEN nothing listening where the URI points (as from a laptop outside the VPC)
    result = check_connection(uri(free_port(), "restored-pw"), str(tls.ca_file), timeout_seconds=1)
    assert result.status == "skipped" and "not reachable from here" in result.saw


def test_without_the_ca_bundle_here_it_is_skipped_naming_the_option(cluster: SecantusServer) -> None:
    result = check_connection(uri(cluster.port, "restored-pw"), "/nonexistent/global-bundle.pem")
    assert result.status == "skipped" and "--ca-file" in result.saw


def test_a_ca_file_that_is_no_pem_bundle_is_skipped_naming_the_problem(
    cluster: SecantusServer, tmp_path: Path
) -> None:
    garbage = tmp_path / "global-bundle.pem"
    garbage.write_text("not a certificate\n")
    result = check_connection(uri(cluster.port, "restored-pw"), str(garbage))
    assert result.status == "skipped" and "cannot set up the client here" in result.saw


def test_the_ca_file_replaces_the_uris_own_whatever_its_case() -> None:
    replaced = with_ca_file(
        "mongodb://u:p@h:27017/notes?tls=true&TLSCAFILE=/etc/x.pem&replicaSet=rs0", "/tmp/ca.pem"
    )
    assert replaced == "mongodb://u:p@h:27017/notes?tls=true&replicaSet=rs0&tlsCAFile=/tmp/ca.pem"
