""".github/workflows/rotate-cache-token.yml, checked offline: the shape of its two jobs, and the
steps' shell run against a real git repository (a bare one as `origin`) and a stand-in `gh` that
records what it is asked. What cannot run here: GitHub itself (the schedule, OIDC, the token's
permissions, the repository setting that lets Actions open pull requests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from notes_platform.operations.cache_token import GENERATION, PREVIOUS, plan_edit
from stacks.config import ROOT
from tests.test_workflows import WORKFLOWS, parse, run_step, step, steps, stub

WORKFLOW = "rotate-cache-token.yml"

# The stand-in gh: `pr list` answers $OPEN_PR (empty: none open); everything else is recorded,
# one JSON line per call, with the body file's text when one is passed.
GH = """
if [ "$1 $2" = "auth setup-git" ]; then exit 0; fi
if [ "$1 $2" = "pr list" ]; then echo "${OPEN_PR:-}"; exit 0; fi
body=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--body-file" ]; then j=$((i + 1)); body=$(cat "${!j}"); fi
done
printf '%s\n' "$@" | jq -R . | jq -cs --arg body "$body" '{argv: ., body: $body}' >> "$CALLS"
"""


def workflow() -> Any:
    return parse(WORKFLOW, (WORKFLOWS / WORKFLOW).read_text())


def test_no_job_holds_aws_credentials_and_write_access_together() -> None:
    jobs = workflow().jobs
    assert jobs["plan"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert jobs["pull-request"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    logins = [s for s in steps(jobs["pull-request"]) if "configure-aws-credentials" in str(s.get("uses", ""))]
    assert logins == [] and jobs["pull-request"]["needs"] == "plan"


def test_it_runs_weekly_and_on_demand_with_the_full_history() -> None:
    wf = workflow()
    assert set(wf.doc["on"]) == {"schedule", "workflow_dispatch"}
    assert wf.doc["on"]["workflow_dispatch"]["inputs"]["step"]["options"] == ["auto", "rotate", "set"]
    checkout = steps(wf.jobs["plan"])[0]
    # a shallow clone would hide when the generation was set
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}


@pytest.fixture
def gh(tmp_path: Path) -> dict[str, str]:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (scripts/bootstrap.sh installs it)")
    stub(tmp_path / "bin", "gh", GH)
    return {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.json")}


def git(cwd: Path, *argv: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", *argv], cwd=cwd, env=env, check=True, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The pull-request job's checkout: main with the stack files, `origin` a bare repository."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for stack in ("staging", "prod"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", work / f"Pulumi.{stack}.yaml")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "stacks")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    return work


def artifact(work: Path, stack: str, *, changed: bool, text: str | None = None) -> None:
    """What the plan job uploads: the result and the (edited) stack file."""
    directory = work / "rotation" / f"rotation-{stack}"
    directory.mkdir(parents=True)
    path = directory / f"Pulumi.{stack}.yaml"
    shutil.copy(work / path.name, path)
    result: dict[str, Any] = {"stack": stack, "step": None, "changed": False, "reason": "not due: ..."}
    if changed:
        plan_edit(path, "rotate").write()
        result = {
            "stack": stack,
            "step": "rotate",
            "changed": True,
            "title": f"{stack}: rotate",
            "body": "why",
        }
    if text is not None:
        path.write_text(text)
    (directory / "result.json").write_text(json.dumps(result | {"reason": result.get("reason", "")}))


def open_pull_requests(work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = step(WORKFLOW, "pull-request", "Open or update")["run"]
    sha = git(work, "rev-parse", "HEAD")
    return run_step(script, work, {**env, "GITHUB_SHA": sha, "BASE": "main"})


def calls(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["CALLS"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_planned_step_becomes_a_branch_with_one_commit_and_a_new_pull_request(
    checkout: Path, gh: dict[str, str]
) -> None:
    # GIVEN prod's plan wrote the rotate step, staging's found nothing due
    artifact(checkout, "prod", changed=True)
    artifact(checkout, "staging", changed=False)
    # WHEN the pull-request job's step runs
    result = open_pull_requests(checkout, gh)
    # THEN prod's branch holds one commit changing only the token lines, and a pull request is opened
    assert result.returncode == 0, result.stdout + result.stderr
    origin = checkout.parent / "origin.git"
    assert git(origin, "log", "--format=%s", "main..rotate-cache-token/prod") == "prod: rotate"
    diff = git(origin, "diff", "-U0", "main", "rotate-cache-token/prod")
    assert f"+  {GENERATION}: 2" in diff and f"+  {PREVIOUS}: 1" in diff
    assert git(origin, "diff", "--name-only", "main", "rotate-cache-token/prod") == "Pulumi.prod.yaml"
    assert [c["argv"][:2] for c in calls(gh)] == [["pr", "create"]]
    assert calls(gh)[0]["body"] == "why" and "--base" in calls(gh)[0]["argv"]
    # and staging's run says why it did nothing
    summary = (checkout / "summary.md").read_text()
    assert "staging: no step this run: not due: ..." in summary and "prod: prod: rotate" in summary


def test_an_open_pull_request_of_the_branch_is_updated_not_duplicated(
    checkout: Path, gh: dict[str, str]
) -> None:
    artifact(checkout, "staging", changed=True)
    result = open_pull_requests(checkout, {**gh, "OPEN_PR": "42"})
    assert result.returncode == 0, result.stderr
    assert [c["argv"][:3] for c in calls(gh)] == [["pr", "edit", "42"]]


def test_an_artifact_that_changes_another_line_is_refused_and_nothing_is_pushed(
    checkout: Path, gh: dict[str, str]
) -> None:
    # GIVEN a planted artifact: the token step plus another change to the stack file
    planted = (checkout / "Pulumi.prod.yaml").read_text()
    planted = planted.replace(f"{GENERATION}: 1", f"{GENERATION}: 2\n  {PREVIOUS}: 1")
    planted = planted.replace("serviceMinCount: 3", "serviceMinCount: 1")
    artifact(checkout, "prod", changed=True, text=planted)
    # WHEN the step runs THEN it fails naming the stack, and neither a branch nor a pull request appears
    result = open_pull_requests(checkout, gh)
    assert result.returncode == 1
    assert "prod: the planned edit touches more than the AUTH token lines" in result.stdout
    assert git(checkout.parent / "origin.git", "branch", "--format=%(refname:short)") == "main"
    assert calls(gh) == []


def test_an_artifact_naming_another_stack_is_refused(checkout: Path, gh: dict[str, str]) -> None:
    artifact(checkout, "staging", changed=True)
    result_file = checkout / "rotation" / "rotation-staging" / "result.json"
    result_file.write_text(json.dumps(json.loads(result_file.read_text()) | {"stack": "../staging"}))
    result = open_pull_requests(checkout, gh)
    assert result.returncode == 1 and "names stack '../staging'" in result.stdout
    assert calls(gh) == []


def test_the_plan_step_hands_on_the_result_and_the_stack_file(tmp_path: Path) -> None:
    # GIVEN a stand-in notes-platform that records its arguments and writes a result
    stub(
        tmp_path,
        ".venv/bin/notes-platform",
        'echo "$@" > args\nfor ((i = 1; i <= $#; i++)); do\n'
        '  if [ "${!i}" = "--result" ]; then j=$((i + 1)); echo "{}" > "${!j}"; fi\ndone\n',
    )
    shutil.copy(ROOT / "Pulumi.prod.yaml", tmp_path / "Pulumi.prod.yaml")
    # WHEN the plan job's step runs for prod with the scheduled default
    script = step(WORKFLOW, "plan", "notes-platform rotate-cache-token")["run"]
    result = run_step(script, tmp_path, {"STACK": "prod", "STEP": "auto"})
    # THEN the command took the next step with --write, and both files are in the artifact's folder
    assert result.returncode == 0, result.stderr
    assert (
        tmp_path / "args"
    ).read_text() == "rotate-cache-token prod --step auto --write --result rotation/result.json\n"
    assert sorted(p.name for p in (tmp_path / "rotation").iterdir()) == ["Pulumi.prod.yaml", "result.json"]
