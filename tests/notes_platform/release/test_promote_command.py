"""``notes-platform promote`` end to end: a real registry on loopback for the image and the copy,
moto's ECR (in-process) for the scan, the records on disk, a copy of Pulumi.prod.yaml."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from pulumi.automation import OutputValue

from notes_platform.cli import main
from notes_platform.commands.promote import EXIT_CODES
from notes_platform.release import staging_source
from notes_platform.release.promote import EXIT_HELP, Exit
from notes_platform.release.records import (
    StagingImage,
    VerifyCheck,
    VerifyRecord,
    write_staging_image,
    write_verify_record,
)
from notes_platform.release.registry import Skopeo, write_ecr_authfile
from stacks import outputs
from stacks.config import ROOT
from tests.notes_platform.release.conftest import Registry

REGION = "eu-west-1"
WHEN = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _manifest(digest: str) -> str:
    """What moto records for an image: moto keys images by manifest, so each digest gets its own."""
    body = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}
    return json.dumps(body | {"annotations": {"test.digest": digest}})


@dataclass
class Scene:
    registry: Registry
    ecr: Any
    tmp: Path
    digest: str
    stack_file: Path
    staging_image: Path
    verify_record: Path
    allowlist: Path

    def argv(self, *extra: str) -> list[str]:
        return [
            "promote", "--from", "staging", "--to", "prod", "--staging-image", str(self.staging_image),
            "--verify-record", str(self.verify_record), "--allowlist", str(self.allowlist),
            "--stack-file", str(self.stack_file), "--insecure-registry", *extra,
        ]  # fmt: skip

    def scan(self, findings: list[dict[str, Any]] | None = None) -> None:
        """A finished scan: clean, or with ``findings`` (None keeps moto's own HIGH finding)."""
        self.ecr.start_image_scan(repositoryName="staging/notes-api", imageId={"imageDigest": self.digest})
        if findings is None:
            return
        counts: dict[str, int] = {}
        for finding in findings:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
        result = {
            "repositoryName": "staging/notes-api",
            "imageId": {"imageDigest": self.digest},
            "imageScanStatus": {"status": "COMPLETE", "description": "done"},
            "imageScanFindings": {"findings": findings, "findingSeverityCounts": counts},
        }
        requests.post(
            "http://motoapi.amazonaws.com/moto-api/static/ecr/scan-finding-results",
            json={"results": [result], "region": REGION},
            timeout=5,
        ).raise_for_status()

    def in_prod(self, digest: str) -> bool:
        try:
            Skopeo(insecure=True).digest_of(f"{self.registry.host}/prod/notes-api@{digest}")
        except LookupError:
            return False
        return True


@pytest.fixture
def scene(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: Any
) -> Iterator[Scene]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    # GIVEN an image staging runs (its own content per test, so no test finds another's copy)
    digest = registry.push(tmp_path, "staging/notes-api", request.node.nodeid)
    with mock_aws():
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.create_repository(repositoryName="staging/notes-api")
        ecr.put_image(
            repositoryName="staging/notes-api",
            imageManifest=_manifest(digest),
            imageTag="t",
            imageDigest=digest,
        )
        # AND the staging job's image file, staging's passed verify of it, an empty allow-list and prod's file
        staging_image = tmp_path / "staging-image.json"
        write_staging_image(
            staging_image, StagingImage("staging", f"{registry.host}/staging/notes-api", digest, WHEN)
        )
        verify = tmp_path / "verify-staging.json"
        write_verify_record(
            verify, VerifyRecord("staging", digest, True, WHEN, (VerifyCheck("smoke", True),))
        )
        allowlist = tmp_path / "allow.yaml"
        allowlist.write_text("entries: []\n")
        stack_file = tmp_path / "Pulumi.prod.yaml"
        shutil.copy(ROOT / "Pulumi.prod.yaml", stack_file)
        yield Scene(registry, ecr, tmp_path, digest, stack_file, staging_image, verify, allowlist)


def _changed(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_promotion_copies_by_digest_and_changes_one_line(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a clean, finished scan
    scene.scan([])
    before = scene.stack_file.read_text()
    previous = re.search(r"imageDigest: (\S+)", before)
    # WHEN the image is promoted
    code = main(scene.argv())
    out = capsys.readouterr().out
    # THEN prod's repository has the same digest, and the stack file differs by the digest line only
    assert code == 0, out
    assert scene.in_prod(scene.digest)
    assert _changed(before, scene.stack_file.read_text()) == [
        f"-  notes-platform:imageDigest: {previous and previous[1]}",
        f"+  notes-platform:imageDigest: {scene.digest}",
    ]
    assert f"copy: {scene.registry.host}/prod/notes-api:promoted-{scene.digest[7:]} has digest" in out
    # AND it prints the one command that rolls back to what prod ran before
    assert f"notes-platform promote --to prod --rollback --digest {previous and previous[1]}" in out


def test_dry_run_checks_the_gates_and_changes_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    scene.scan([])
    before = scene.stack_file.read_text()
    assert main(scene.argv("--dry-run")) == 0
    out = capsys.readouterr().out
    # THEN it says what it would copy and the diff it would write, and did neither
    assert "would copy: skopeo copy --all --preserve-digests" in out
    assert f"+  notes-platform:imageDigest: {scene.digest}" in out
    assert scene.stack_file.read_text() == before
    assert not scene.in_prod(scene.digest)


def _missing_image(scene: Scene) -> None:
    absent = "sha256:" + "0" * 64
    write_staging_image(
        scene.staging_image, StagingImage("staging", f"{scene.registry.host}/staging/notes-api", absent, WHEN)
    )
    write_verify_record(scene.verify_record, VerifyRecord("staging", absent, True, WHEN))


def _verify_of_another_digest(scene: Scene) -> None:
    scene.scan([])
    write_verify_record(scene.verify_record, VerifyRecord("staging", "sha256:" + "1" * 64, True, WHEN))


def _failed_verify(scene: Scene) -> None:
    scene.scan([])
    checks = (VerifyCheck("ecs-rollout", False, "rolloutState FAILED (circuit breaker rolled back)"),)
    write_verify_record(scene.verify_record, VerifyRecord("staging", scene.digest, False, WHEN, checks))


def _expired_allowance(scene: Scene) -> None:
    scene.scan([{"name": "CVE-2026-1", "severity": "HIGH"}])
    scene.allowlist.write_text(
        "entries:\n  - id: CVE-2026-1\n    reason: r\n    added: 2026-01-01\n    expires: 2026-02-01\n"
        "    approvedBy: platform-team\n"
    )


@pytest.mark.parametrize(
    ("plant", "code", "message"),
    [
        (_missing_image, Exit.IMAGE_MISSING, "is not in"),
        (lambda scene: None, Exit.SCAN_UNFINISHED, "no ECR scan of staging/notes-api@"),
        (
            lambda scene: scene.scan([{"name": "CVE-2026-9", "severity": "CRITICAL"}]),
            Exit.SCAN_FINDINGS,
            "CRITICAL CVE-2026-9: not on the allow-list",
        ),
        (_expired_allowance, Exit.SCAN_FINDINGS, "its allow-list entry expired on 2026-02-01"),
        (
            _verify_of_another_digest,
            Exit.VERIFY_OTHER_IMAGE,
            "the last verify is of stack 'staging' running sha256:111",
        ),
        (
            _failed_verify,
            Exit.VERIFY_FAILED,
            "ecs-rollout: rolloutState FAILED (circuit breaker rolled back)",
        ),
    ],
    ids=["missing-image", "no-scan", "critical", "expired-allowance", "verify-other-digest", "failed-verify"],
)
def test_each_gate_refuses_with_its_own_exit_code_and_touches_nothing(
    scene: Scene, capsys: pytest.CaptureFixture[str], plant: Any, code: Exit, message: str
) -> None:
    # GIVEN one planted reason to refuse
    plant(scene)
    before = scene.stack_file.read_text()
    # WHEN the promotion runs
    result = main(scene.argv())
    err = capsys.readouterr().err
    # THEN it exits with that gate's code and message, copied nothing and left the stack file alone
    assert result == code, err
    assert f"refused (exit {int(code)})" in err and message in err, err
    assert scene.stack_file.read_text() == before
    assert not scene.in_prod(scene.digest)


def test_rollback_puts_back_a_digest_already_in_prod(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a first image promoted, then a second one
    scene.scan([])
    assert main(scene.argv()) == 0
    first = scene.digest
    second = scene.registry.push(scene.tmp, "staging/notes-api", "the next release")
    scene.ecr.put_image(
        repositoryName="staging/notes-api", imageManifest=_manifest(second), imageTag="u", imageDigest=second
    )
    scene.digest = second
    scene.scan([])
    write_staging_image(
        scene.staging_image, StagingImage("staging", f"{scene.registry.host}/staging/notes-api", second, WHEN)
    )
    write_verify_record(scene.verify_record, VerifyRecord("staging", second, True, WHEN))
    assert main(scene.argv()) == 0
    assert f"--rollback --digest {first}" in capsys.readouterr().out
    # WHEN prod is rolled back to the first
    prod = f"{scene.registry.host}/prod/notes-api"
    argv = ["promote", "--to", "prod", "--rollback", "--digest", first, "--to-repository", prod,
            "--stack-file", str(scene.stack_file), "--insecure-registry"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    # THEN the stack file names the first again
    assert f"notes-platform:imageDigest: {first}\n" in scene.stack_file.read_text()
    # AND a digest prod never had is refused with exit 3
    argv[argv.index(first)] = "sha256:" + "2" * 64
    assert main(argv) == Exit.IMAGE_MISSING


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.argv("--digest", "sha256:" + "3" * 64), "--digest is for --rollback only"),
        (
            lambda s: [a for a in s.argv() if a not in ("--verify-record", str(s.verify_record))],
            "--verify-record FILE is required",
        ),
        (lambda s: s.argv()[:1] + s.argv()[3:] + ["--rollback"], "--rollback needs --digest"),
        (
            lambda s: (s.verify_record.write_text("{}"), s.argv())[1],
            "verify-staging.json: format: expected 1",
        ),
        (
            lambda s: (
                s.staging_image.write_text(s.staging_image.read_text().replace('"staging"', '"qa"')),
                s.argv(),
            )[1],
            "the file is for 'qa', not --from 'staging'",
        ),
    ],
    ids=[
        "digest-without-rollback",
        "no-verify-record",
        "rollback-without-digest",
        "bad-record",
        "other-stack",
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    scene: Scene, capsys: pytest.CaptureFixture[str], mutate: Any, message: str
) -> None:
    scene.scan([])
    assert main(mutate(scene)) == Exit.BAD_INPUT
    assert message in capsys.readouterr().err


def test_without_a_pulumi_cli_the_staging_image_file_is_required(
    scene: Scene, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN no pulumi on PATH and no --staging-image
    monkeypatch.setenv("PATH", str(scene.tmp / "empty-bin"))
    argv = [a for a in scene.argv() if a not in ("--staging-image", str(scene.staging_image))]
    assert main(argv) == Exit.BAD_INPUT
    assert (
        "no Pulumi CLI on PATH to read stack 'staging''s outputs: pass --staging-image FILE"
        in capsys.readouterr().err
    )


@pytest.mark.skipif(
    shutil.which("pulumi") is None, reason="no Pulumi CLI here: the Automation API drives the CLI"
)
def test_the_automation_api_reads_a_real_stacks_outputs() -> (
    None
):  # pragma: no cover (needs a CLI and a backend)
    outputs_ = staging_source.stack_outputs(os.environ.get("NOTES_PROMOTE_STACK", "staging"), ROOT)
    assert staging_source.DIGEST_OUTPUT in outputs_


def test_stack_outputs_become_the_staging_image() -> None:
    # GIVEN outputs as Stack.outputs() returns them, values unwrapped as stack_outputs() does
    raw = {
        outputs.ECR_REPOSITORY_URL: OutputValue("1.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api", False),
        outputs.IMAGE_DIGEST: OutputValue("sha256:" + "ab" * 32, False),
        outputs.JWT_SECRET_ARN: OutputValue("arn", True),
    }
    image = staging_source.staging_image_from_outputs("staging", {k: v.value for k, v in raw.items()}, WHEN)
    assert image == StagingImage(
        "staging", "1.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api", "sha256:" + "ab" * 32, WHEN
    )
    # AND a stack deployed without an image is refused naming the output
    with pytest.raises(staging_source.StagingSourceError, match="stack 'staging' has no imageDigest output"):
        staging_source.staging_image_from_outputs(
            "staging", {outputs.ECR_REPOSITORY_URL: "h/staging/notes-api"}
        )
    # AND the names the command reads are the program's own
    assert (staging_source.REPOSITORY_OUTPUT, staging_source.DIGEST_OUTPUT) == (
        outputs.ECR_REPOSITORY_URL,
        outputs.IMAGE_DIGEST,
    )


def test_the_ecr_auth_file_is_private_and_in_containers_auth_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "t")
    with mock_aws():
        client = boto3.client("ecr", region_name=REGION)
        token = client.get_authorization_token()["authorizationData"][0]
        path = write_ecr_authfile([client], tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    host = token["proxyEndpoint"].removeprefix("https://")
    assert json.loads(path.read_text()) == {"auths": {host: {"auth": token["authorizationToken"]}}}


def test_help_lists_every_exit_code_as_the_code_defines_them() -> None:
    listed = dict(re.findall(r"^  (\d)  (.+?)(?=^  \d  |\Z)", EXIT_CODES, flags=re.M | re.S))
    assert {int(k): " ".join(v.split()) for k, v in listed.items()} == {
        int(k): v for k, v in EXIT_HELP.items()
    }
    assert set(EXIT_HELP) == set(Exit)
