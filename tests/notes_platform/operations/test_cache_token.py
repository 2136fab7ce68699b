"""`notes-platform rotate-cache-token`: the two steps of a Redis AUTH token rotation as edits of a
planted stack file (copies of the committed ones), the refusals the file's state or the running
service call for, and `auto`'s choice from the file's git history and the service (moto)."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from notes_platform.cli import main
from notes_platform.operations.cache_token import (
    GENERATION,
    PREVIOUS,
    StepRefused,
    TokenEdit,
    TokenState,
    plan_edit,
    read_state,
    validate,
)
from notes_platform.operations.cache_token_gate import (
    GateError,
    generation_set_at,
    rotation_due,
    secret_generation,
)
from notes_platform.release.stack_file import StackFileError
from stacks.config import ROOT, StackConfigError

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.fixture(params=["staging", "prod"])
def stack_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"Pulumi.{request.param}.yaml"
    shutil.copy(ROOT / path.name, path)
    return path


# --- the edits --------------------------------------------------------------------------------


def test_rotate_changes_the_generation_line_and_adds_the_previous_one_only(stack_file: Path) -> None:
    # GIVEN a committed stack file at generation 1, no rotation under way
    before = stack_file.read_text()
    assert read_state(stack_file) == TokenState(1, None)
    # WHEN the rotate step is written
    edit = plan_edit(stack_file, "rotate")
    edit.write()
    # THEN exactly the generation line changes and the previous generation follows it
    assert changed_lines(before, stack_file.read_text()) == [
        f"-  {GENERATION}: 1",
        f"+  {GENERATION}: 2",
        f"+  {PREVIOUS}: 1",
    ]
    # and the file passes the schema with ROTATE's keys (infra/cache.py: previous set -> ROTATE)
    config = validate(edit, stack_file.name[7:-5])
    assert (config.cache.auth_token_generation, config.cache.auth_token_previous_generation) == (2, 1)


def test_set_removes_the_previous_line_only_and_the_file_is_as_before_but_the_generation(
    stack_file: Path,
) -> None:
    # GIVEN a file after the rotate step
    original = stack_file.read_text()
    plan_edit(stack_file, "rotate").write()
    rotated = stack_file.read_text()
    # WHEN the set step is written
    edit = plan_edit(stack_file, "set")
    edit.write()
    # THEN only the previous generation's line goes, and the blank line after the group stays
    assert changed_lines(rotated, stack_file.read_text()) == [f"-  {PREVIOUS}: 1"]
    assert changed_lines(original, stack_file.read_text()) == [f"-  {GENERATION}: 1", f"+  {GENERATION}: 2"]
    assert validate(edit, stack_file.name[7:-5]).cache.auth_token_previous_generation is None


def test_rotate_during_a_rotation_is_refused_and_changes_nothing(stack_file: Path) -> None:
    plan_edit(stack_file, "rotate").write()
    text = stack_file.read_text()
    with pytest.raises(StepRefused, match=r"rotate: .*PreviousGeneration is 1: the rotation to generation 2"):
        plan_edit(stack_file, "rotate")
    assert stack_file.read_text() == text


def test_set_without_a_rotation_under_way_is_refused(stack_file: Path) -> None:
    with pytest.raises(StepRefused, match="set: no notes-platform:cacheAuthTokenPreviousGeneration"):
        plan_edit(stack_file, "set")


def test_an_edit_that_would_reformat_another_line_is_refused(tmp_path: Path) -> None:
    # GIVEN a file with a line the emitter would rewrite (planted: a flow list without spaces)
    path = tmp_path / "Pulumi.prod.yaml"
    text = (
        (ROOT / path.name)
        .read_text()
        .replace("[eu-west-1a, eu-west-1b, eu-west-1c]", "[eu-west-1a,eu-west-1b,eu-west-1c]")
    )
    path.write_text(text)
    # WHEN a step is planned THEN it is refused, showing the diff it would have written
    with pytest.raises(StackFileError, match="would change more than the AUTH token lines") as exc:
        plan_edit(path, "rotate")
    assert "eu-west-1a,eu-west-1b" in str(exc.value)
    assert path.read_text() == text


def test_a_file_without_the_generation_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text((ROOT / path.name).read_text().replace(f"  {GENERATION}: 1\n", ""))
    with pytest.raises(StackFileError, match=f"{GENERATION}: missing"):
        plan_edit(path, "rotate")


def test_a_result_the_schema_refuses_is_named_with_file_and_key(tmp_path: Path) -> None:
    # GIVEN an edit whose result names a previous generation above the current one (planted)
    path = tmp_path / "Pulumi.staging.yaml"
    before = (ROOT / path.name).read_text()
    after = before.replace(f"  {GENERATION}: 1\n", f"  {GENERATION}: 1\n  {PREVIOUS}: 3\n")
    edit = TokenEdit(path, "rotate", before, after, TokenState(1, None), TokenState(1, 3))
    # WHEN it is validated THEN the stack schema's message names the file and the key
    with pytest.raises(
        StackConfigError, match=r"Pulumi.staging.yaml: notes-platform:cacheAuthTokenPreviousGeneration"
    ):
        validate(edit, "staging")


# --- when is a rotation due: the generation line's git history ---------------------------------


def git(repo: Path, *argv: str, when: datetime | None = None) -> None:
    date = (when or datetime.now(UTC)).isoformat()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    subprocess.run(["git", "-C", str(repo), *argv], check=True, capture_output=True, env=env, timeout=30)


def repository(tmp_path: Path, stack: str, generation_days_ago: int) -> Path:
    """A repository whose stack file got its generation line that many days ago."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    path = repo / f"Pulumi.{stack}.yaml"
    shutil.copy(ROOT / path.name, path)
    git(repo, "add", path.name)
    git(repo, "commit", "-q", "-m", "stack", when=datetime.now(UTC) - timedelta(days=generation_days_ago))
    return path


def test_the_clock_is_the_commit_of_the_generation_line_not_the_files_last_commit(tmp_path: Path) -> None:
    # GIVEN the generation set 100 days ago and another line of the file changed today
    path = repository(tmp_path, "staging", 100)
    path.write_text(path.read_text().replace("owner: platform-team", "owner: notes-team"))
    git(path.parent, "commit", "-q", "-am", "owner")
    # WHEN asked when the generation was set THEN it is 100 days ago, and 90-day rotation is due
    set_at = generation_set_at(path)
    assert timedelta(days=99) < datetime.now(UTC) - set_at < timedelta(days=101)
    assert rotation_due(set_at, datetime.now(UTC), 90).due


def test_a_shallow_clone_is_refused_rather_than_read_as_fresh(tmp_path: Path) -> None:
    path = repository(tmp_path, "staging", 100)
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{path.parent}", str(shallow)], check=True, timeout=30
    )
    with pytest.raises(GateError, match=r"shallow clone .* fetch-depth: 0"):
        generation_set_at(shallow / path.name)


def test_an_uncommitted_file_is_refused(tmp_path: Path) -> None:
    path = repository(tmp_path, "staging", 1)
    other = path.parent / "Pulumi.prod.yaml"
    shutil.copy(ROOT / other.name, other)
    with pytest.raises(GateError, match="no commit sets"):
        generation_set_at(other)


@pytest.mark.parametrize(
    ("arn", "generation"),
    [
        (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:notes/prod/redis-auth-token-g12-AbC1dE", 12),
        (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:notes/prod/redis-auth-token-g3", 3),
        (f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:notes/prod/jwt-signing-key-AbC1dE", None),
    ],
)
def test_the_generation_a_task_reads_is_the_one_in_its_secrets_name(arn: str, generation: int | None) -> None:
    assert secret_generation(arn) == generation


# --- the command: set waits for the running service -------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def staging_runs(
    monkeypatch: pytest.MonkeyPatch, generation: int, *, running: int = 2, desired: int = 2
) -> None:
    """Staging's API in moto, its tasks reading the given generation's token."""
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="notes-staging")
    secrets = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:notes/staging"
    secret = f"{secrets}/redis-auth-token-g{generation}-AbCdEf"
    ecs.register_task_definition(
        family="notes-staging-api",
        containerDefinitions=[
            {
                "name": "api",
                "image": "notes-api",
                "memory": 512,
                "secrets": [{"name": "NOTES_REDIS_AUTH_TOKEN", "valueFrom": secret}],
            }
        ],
    )
    # moto sets runningCount, and rolloutState COMPLETED when running >= desired, from this
    # variable when the service is created (moto/ecs/models.py, Service.__init__).
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
    ecs.create_service(
        cluster="notes-staging",
        serviceName="notes-staging-api",
        taskDefinition="notes-staging-api:1",
        desiredCount=desired,
    )
    boto3.client("elasticache", region_name=REGION).create_replication_group(
        ReplicationGroupId="notes-staging-redis",
        ReplicationGroupDescription="notes-staging",
        CacheNodeType="cache.t4g.micro",
        Engine="redis",
        NumCacheClusters=1,
    )


def rotated(tmp_path: Path, stack: str = "staging") -> Path:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    shutil.copy(ROOT / path.name, path)
    plan_edit(path, "rotate").write()
    return path


def rotate_cli(
    capsys: pytest.CaptureFixture[str], path: Path, *argv: str, stack: str = "staging"
) -> tuple[int, str, str, dict[str, object]]:
    result = path.parent / "result.json"
    code = main(["rotate-cache-token", stack, "--stack-file", str(path), "--result", str(result), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, json.loads(result.read_text())


def test_set_is_written_once_the_api_runs_the_new_generation(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN staging's file after the rotate step, and that step deployed: the API runs generation 2
    path = rotated(tmp_path)
    staging_runs(monkeypatch, 2)
    # WHEN the set step is asked for
    code, out, err, result = rotate_cli(capsys, path, "--step", "set", "--write")
    # THEN it is written, saying what it saw, and the result carries the pull request's text
    assert code == 0, err
    assert read_state(path) == TokenState(2, None)
    assert "the tasks read generation 2" in out and "notes-staging-redis: available" in out
    assert result["step"] == "set" and result["changed"] is True
    assert "step 2 of 2 (SET: retire generation 1)" in str(result["title"])
    assert "Before merging, a human checks" in str(result["body"]) and "close and reopen it" in str(
        result["body"]
    )


@pytest.mark.parametrize(
    ("generation", "running", "seen"),
    [(1, 2, "the tasks read generation 1 "), (2, 1, "running 1, desired 2")],
    ids=["old-task-definition", "rollout-not-finished"],
)
def test_set_before_the_rotate_step_is_live_exits_4_and_writes_nothing(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    generation: int,
    running: int,
    seen: str,
) -> None:
    # GIVEN the rotate step merged, but the API still on generation 1, or still rolling
    path = rotated(tmp_path)
    text = path.read_text()
    staging_runs(monkeypatch, generation, running=running)
    # WHEN set is asked for THEN it is refused with what was seen, and the file is untouched
    code, _, err, result = rotate_cli(capsys, path, "--step", "set", "--write")
    assert code == 4 and "set refused: the rotate step is not deployed yet" in err and seen in err
    assert path.read_text() == text and result["changed"] is False


def test_auto_during_a_rotation_that_is_not_live_yet_waits_without_failing(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = rotated(tmp_path)
    text = path.read_text()
    staging_runs(monkeypatch, 1)
    code, out, _, result = rotate_cli(capsys, path, "--write")
    assert code == 0 and "nothing to do yet: the rotate step is not deployed yet" in out
    assert path.read_text() == text and result == result | {"step": None, "changed": False}


def test_set_on_an_eks_stack_needs_the_operators_word(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN staging-eks after its rotate step: no ECS service to look at
    path = rotated(tmp_path, "staging-eks")
    code, _, err, _ = rotate_cli(capsys, path, "--step", "set", "--write", stack="staging-eks")
    assert code == 4 and "compute is eks" in err and "--assume-deployed" in err
    # WHEN the operator asserts the deploy THEN set is written, and the pull request says who vouched
    code, _, err, result = rotate_cli(
        capsys, path, "--step", "set", "--write", "--assume-deployed", stack="staging-eks"
    )
    assert code == 0, err
    assert read_state(path) == TokenState(2, None)
    assert "asserted by whoever ran this with --assume-deployed" in str(result["body"])


def test_aws_out_of_reach_during_the_set_check_exits_6(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = rotated(tmp_path)
    code, _, err, _ = rotate_cli(capsys, path, "--step", "set")
    assert code == 6 and "AWS could not be asked whether the rotate step is deployed" in err


# --- the command: rotate, and auto's choice ------------------------------------------------------


def test_rotate_without_write_shows_the_diff_and_leaves_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    shutil.copy(ROOT / path.name, path)
    code, out, _, result = rotate_cli(capsys, path, "--step", "rotate", stack="prod")
    assert code == 0
    assert f"+  {PREVIOUS}: 1" in out and path.read_text() == (ROOT / path.name).read_text()
    assert result["step"] == "rotate" and "step 1 of 2 (ROTATE to generation 2)" in str(result["title"])


def test_rotate_during_a_rotation_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = rotated(tmp_path)
    code, _, err, _ = rotate_cli(capsys, path, "--step", "rotate", "--write")
    assert code == 3 and "the rotation to generation 2 is under way" in err


def test_a_stack_file_the_schema_refuses_exits_2_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text((ROOT / path.name).read_text().replace("cacheNodeCount: 1", "cacheNodeCount: 9"))
    code, _, err, _ = rotate_cli(capsys, path, "--step", "rotate")
    assert code == 2 and "Pulumi.staging.yaml: notes-platform:cacheNodeCount" in err


@pytest.mark.parametrize(("days_ago", "planned"), [(100, True), (10, False)])
def test_auto_rotates_a_generation_older_than_the_period(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, days_ago: int, planned: bool
) -> None:
    # GIVEN staging's generation set that many days ago (its git history)
    path = repository(tmp_path, "staging", days_ago)
    # WHEN auto runs with --write
    code, out, err, result = rotate_cli(capsys, path, "--write", "--every-days", "90")
    # THEN past 90 days the rotate step is written; before, nothing, saying when it is due
    assert code == 0, err
    assert read_state(path) == (TokenState(2, 1) if planned else TokenState(1, None))
    assert result["changed"] is planned
    assert ("wrote" in out) is planned
    if not planned:
        assert "nothing to do yet" in out and "a rotation is due from" in out


def test_auto_in_a_shallow_clone_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = repository(tmp_path, "staging", 100)
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{path.parent}", str(shallow)], check=True, timeout=30
    )
    code, _, err, _ = rotate_cli(capsys, shallow / path.name)
    assert code == 2 and "shallow clone" in err
