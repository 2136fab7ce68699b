"""The copy against a real registry on loopback: the digest survives, and the check catches a copy
that rewrote the manifest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from notes_platform.release.promote import Exit, Refusal, check_copied, copy_checked, gate_image_exists
from notes_platform.release.registry import ImageMissingError, Repository, Skopeo, promoted_tag
from tests.notes_platform.release.conftest import Registry

ABSENT = "sha256:" + "0" * 64


def test_copy_between_repositories_keeps_the_digest(
    registry: Registry, skopeo: Skopeo, tmp_path: Path
) -> None:
    # GIVEN an image in staging's repository
    digest = registry.push(tmp_path, "staging/notes-api", "release 1")
    staging = Repository(registry.host, "staging/notes-api")
    prod = Repository(registry.host, "prod/notes-api")
    # WHEN it is copied by digest into prod's repository
    line = copy_checked(skopeo, staging, prod, digest)
    # THEN prod has it under the promoted tag with the same manifest digest
    assert line == f"copy: {prod}:{promoted_tag(digest)} has digest {digest}, unchanged"
    assert skopeo.digest_of(f"{prod}@{digest}") == digest
    # AND a second run finds it there and copies nothing
    assert (
        copy_checked(skopeo, staging, prod, digest) == f"copy: {prod}@{digest} already there, nothing copied"
    )


def test_a_missing_image_is_refused_with_its_exit_code(registry: Registry, skopeo: Skopeo) -> None:
    staging = Repository(registry.host, "staging/notes-api")
    with pytest.raises(Refusal) as refusal:
        gate_image_exists(skopeo, staging, ABSENT)
    assert refusal.value.code == Exit.IMAGE_MISSING
    assert f"{ABSENT} is not in {staging}" in str(refusal.value)
    with pytest.raises(ImageMissingError):
        skopeo.digest_of(f"{registry.host}/nowhere/notes-api@{ABSENT}")


def test_the_check_catches_a_copy_that_rewrote_the_manifest(
    registry: Registry, skopeo: Skopeo, tmp_path: Path
) -> None:
    # GIVEN an image copied the way a digest gets lost: converted to Docker's schema 2 manifest on
    # the way, as a pull/push through another tool may do (planted: no --preserve-digests)
    digest = registry.push(tmp_path, "staging/notes-api", "release 2")
    tagged = f"{registry.host}/prod/notes-api:{promoted_tag(digest)}"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--format",
            "v2s2",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{registry.host}/staging/notes-api@{digest}",
            f"docker://{tagged}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    # WHEN the copy is checked THEN it is refused with the digest it found
    with pytest.raises(Refusal) as refusal:
        check_copied(skopeo, tagged, digest)
    assert refusal.value.code == Exit.DIGEST_CHANGED
    assert f"not {digest}: the copy rewrote the manifest" in str(refusal.value)


def test_preserve_digests_keeps_the_manifest_even_when_a_conversion_is_asked(
    registry: Registry, skopeo: Skopeo, tmp_path: Path
) -> None:
    # GIVEN the same conversion as above, asked of skopeo with --preserve-digests, as our copy passes it
    digest = registry.push(tmp_path, "staging/notes-api", "release 3")
    tagged = f"{registry.host}/prod/notes-api:converted"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--format",
            "v2s2",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{registry.host}/staging/notes-api@{digest}",
            f"docker://{tagged}",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    # THEN the manifest was copied unchanged (skopeo 1.9 lets --preserve-digests win over --format)
    assert check_copied(skopeo, tagged, digest) == f"copy: {tagged} has digest {digest}, unchanged"


def test_repository_in_another_environment_and_region() -> None:
    staging = Repository.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api")
    assert staging.ecr_account == "123456789012" and staging.ecr_region == "eu-west-1"
    assert (
        str(staging.in_environment("prod", "eu-west-1"))
        == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod/notes-api"
    )
    assert (
        str(staging.in_environment("prod", "us-east-2"))
        == "123456789012.dkr.ecr.us-east-2.amazonaws.com/prod/notes-api"
    )
    for bad in ("notes-api", "host/repo:tag", "host/repo@sha256:" + "a" * 64):
        with pytest.raises(ValueError, match="is not REGISTRY/REPOSITORY"):
            Repository.parse(bad)
