"""The crash run's invariant arithmetic (devtools/crash.py): what counts as a lost write, a stale
read, an acceptable answer during an outage, and a broken run. The run itself is `make crash`."""

from __future__ import annotations

import json

import pytest

from devtools.crash import RECOVERY_BOUND_SECONDS, Figures, NoteRecord, classify, is_stale, lost_writes

ERROR_BODY = json.dumps({"detail": "database unavailable", "code": "database_unavailable", "request_id": "r"})


@pytest.mark.parametrize(
    ("record", "stored", "lost"),
    [
        # acknowledged and stored as told
        (NoteRecord("a", 2, "t2"), {"a": (2, "t2")}, False),
        # a later write in doubt (503 or no answer) may have happened: a newer version is fine
        (NoteRecord("a", 2, "t2", in_doubt=True), {"a": (3, "t3")}, False),
        # newer than acknowledged without doubt still is not a loss (it is at least what was told)
        (NoteRecord("a", 2, "t2"), {"a": (3, "t3")}, False),
        # missing, or older than acknowledged: lost
        (NoteRecord("a", 1, "t1"), {}, True),
        (NoteRecord("a", 2, "t2"), {"a": (1, "t1")}, True),
        # same version, other content: the acknowledged write is not what is stored
        (NoteRecord("a", 2, "t2"), {"a": (2, "other")}, True),
        # an acknowledged delete must stay deleted; one in doubt may have happened or not
        (NoteRecord("a", 1, "t1", deleted=True), {"a": (1, "t1")}, True),
        (NoteRecord("a", 1, "t1", deleted=True), {}, False),
        (NoteRecord("a", 1, "t1", delete_tried=True), {}, False),
        (NoteRecord("a", 1, "t1", delete_tried=True), {"a": (1, "t1")}, False),
    ],
)
def test_a_write_is_lost_only_when_the_database_contradicts_what_the_client_was_told(
    record: NoteRecord, stored: dict[str, tuple[int, str]], lost: bool
) -> None:
    # GIVEN what the writer was told and what the database holds WHEN compared THEN
    assert bool(lost_writes([record], stored)) is lost


def test_a_stale_read_is_one_older_than_the_acknowledged_version() -> None:
    assert is_stale(3, 2)
    assert not is_stale(3, 3)
    assert not is_stale(3, 4)


@pytest.mark.parametrize(
    ("status", "body", "path", "kind"),
    [
        (200, b"{}", "/api/v1/notes", "ok"),
        (404, b"{}", "/api/v1/notes/x", "ok"),
        (503, ERROR_BODY.encode(), "/api/v1/notes", "503"),
        (503, b'{"detail": "x"}', "/api/v1/notes", "bad_503"),
        (503, b"Service Unavailable", "/api/v1/notes", "bad_503"),
        (503, b'{"status": "not_ready", "checks": {"database": "error"}}', "/ready", "503"),
        (503, ERROR_BODY.encode(), "/ready", "bad_503"),
        (500, ERROR_BODY.encode(), "/api/v1/notes", "5xx"),
        (502, b"", "/api/v1/notes", "5xx"),
        (None, b"", "/api/v1/notes", "hang"),
    ],
)
def test_only_a_503_with_its_documented_body_is_an_acceptable_failure(
    status: int | None, body: bytes, path: str, kind: str
) -> None:
    assert classify(status, body, path) == kind


def good_run() -> Figures:
    figures = Figures(acknowledged=100)
    figures.count("ok")
    figures.count("503")
    figures.recovery["database"] = 0.5
    return figures


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda f: f.lost.append("a: missing"), "1 acknowledged writes lost"),
        (lambda f: setattr(f, "stale_reads", 2), "2 stale reads"),
        (lambda f: f.revoked_accepted.append("redis: logged out"), "revoked sessions accepted"),
        (lambda f: f.count("5xx"), "answers of kind '5xx'"),
        (lambda f: f.count("bad_503"), "answers of kind 'bad_503'"),
        (lambda f: f.count("hang"), "answers of kind 'hang'"),
        (lambda f: f.recovery.update(database=None), "database: no recovery"),
        (lambda f: f.recovery.update(database=RECOVERY_BOUND_SECONDS + 0.1), "database: no recovery"),
        (lambda f: setattr(f, "acknowledged", 0), "no write was acknowledged"),
    ],
)
def test_each_broken_invariant_fails_the_run(spoil, problem: str) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a run where every invariant held
    figures = good_run()
    assert figures.broken() == []
    # WHEN one invariant is broken THEN the run reports it (and exits non-zero)
    spoil(figures)
    assert any(problem in line for line in figures.broken()), figures.broken()
