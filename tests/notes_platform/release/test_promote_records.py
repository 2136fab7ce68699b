"""The records verify and the staging job write, and promote reads: round trip and refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notes_platform.release.records import (
    RecordError,
    StagingImage,
    VerifyCheck,
    VerifyRecord,
    read_staging_image,
    read_verify_record,
    write_staging_image,
    write_verify_record,
)

DIGEST = "sha256:" + "ab" * 32
WHEN = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


def test_a_verify_record_round_trips(tmp_path: Path) -> None:
    # GIVEN a record with its checks
    record = VerifyRecord("staging", DIGEST, True, WHEN, (VerifyCheck("ecs-rollout", True, "COMPLETED"),))
    # WHEN it is written and read back
    write_verify_record(tmp_path / "out" / "verify.json", record)
    # THEN it is the same record, and the file speaks camelCase with a UTC timestamp
    assert read_verify_record(tmp_path / "out" / "verify.json") == record
    document = json.loads((tmp_path / "out" / "verify.json").read_text())
    assert document["checkedAt"] == "2026-12-07T10:30:00Z" and document["format"] == 1


def test_a_staging_image_round_trips(tmp_path: Path) -> None:
    image = StagingImage("staging", "1.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api", DIGEST, WHEN)
    write_staging_image(tmp_path / "image.json", image)
    assert read_staging_image(tmp_path / "image.json") == image


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ({"digest": "sha256:abc"}, "verify.json: digest: 'sha256:abc' is not sha256:<64 lowercase hex>"),
        ({"passed": "yes"}, "verify.json: passed: expected bool, found 'yes'"),
        (
            {"checkedAt": "2026-12-07T10:30:00"},
            "verify.json: checkedAt: '2026-12-07T10:30:00' has no timezone",
        ),
        ({"format": 2}, "verify.json: format: expected 1, found 2"),
        (
            {"checks": [{"name": "smoke", "passed": False}]},
            "verify.json: passed: true while checks failed (smoke)",
        ),
        ({"checks": [{"name": "smoke"}]}, "verify.json: passed: expected bool, found None"),
    ],
)
def test_a_malformed_verify_record_is_refused_naming_file_and_key(
    tmp_path: Path, mutation: dict[str, object], expected: str
) -> None:
    # GIVEN a good record with one planted mistake
    path = tmp_path / "verify.json"
    write_verify_record(path, VerifyRecord("staging", DIGEST, True, WHEN))
    path.write_text(json.dumps(json.loads(path.read_text()) | mutation))
    # WHEN it is read THEN the error names the file and the key
    with pytest.raises(RecordError) as exc:
        read_verify_record(path)
    assert str(exc.value).endswith(expected), str(exc.value)
    assert str(exc.value).startswith(str(tmp_path))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "image.json: no such file"),
        ("{", "image.json: not JSON"),
        ('{"format": 1, "stack": "staging"}', "image.json: ecrRepositoryUrl: expected str, found None"),
    ],
)
def test_a_missing_or_broken_staging_image_file_is_refused(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "image.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RecordError, match=expected):
        read_staging_image(path)


def test_a_repository_url_with_a_tag_is_refused() -> None:
    with pytest.raises(RecordError, match=r"ecrRepositoryUrl: .* is not REGISTRY/REPOSITORY"):
        StagingImage("staging", "registry.example/staging/notes-api:latest", DIGEST, WHEN)
