"""The GitHub workflows (``.github/workflows/``), checked offline.

No machine here reaches GitHub, so what can be proven locally is proven here: the rules every
workflow keeps (pinned actions, least privilege, no persisted credentials, deploys that are never
cancelled), that every ``make`` target and ``notes-platform`` command a workflow runs exists and
parses, the shell the steps run (review's exit codes, the sticky comment, the rollback input, the
runbook, the staging record) against stand-ins for ``gh`` and ``pulumi``, and zizmor and actionlint
over the files. Each rule is a function from a workflow to the problems it finds, each naming the
file and the job or step; each runs on the committed workflows (no problem) and on a workflow with
the mistake planted (the problem named).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from notes_platform.cli import COMMANDS, build_parser
from notes_platform.release.records import read_staging_image
from stacks.config import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("ci.yml", "preview.yml", "deploy-staging.yml", "promote-prod.yml", "rotate-cache-token.yml")
CHECKOUT_SHA = "df4cb1c069e1874edd31b4311f1884172cec0e10"
AWS_SHA = "e6de054238d6b7531b4efff3b6587d9aade6a06c"


@dataclass(frozen=True)
class Workflow:
    name: str
    text: str
    doc: dict[str, Any]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        jobs: dict[str, dict[str, Any]] = self.doc.get("jobs") or {}
        return jobs


def parse(name: str, text: str) -> Workflow:
    doc = yaml.safe_load(text)
    # YAML 1.1 reads the bare key `on` as the boolean true (PyYAML does); GitHub means "on".
    if True in doc:
        doc["on"] = doc.pop(True)
    return Workflow(name, text, doc)


def committed() -> list[Workflow]:
    return [parse(path.name, path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def uses(step_or_job: dict[str, Any], action: str) -> bool:
    return str(step_or_job.get("uses", "")).startswith(action + "@")


# --- the rules --------------------------------------------------------------------------------

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION = re.compile(r"^v\d+\.\d+\.\d+(\s|$)")


def unpinned(wf: Workflow) -> list[str]:
    """Every third-party `uses:` names a full commit SHA and says its version in a comment.

    A tag or branch can be moved to other code after review; a 40-hex commit cannot (GitHub docs,
    "Security hardening for GitHub Actions": pin actions to a full-length commit SHA).
    """
    problems, seen = [], 0
    for number, line in enumerate(wf.text.splitlines(), 1):
        if not (match := USES_LINE.match(line)):
            continue
        seen += 1
        ref = match["ref"].strip("'\"")
        if ref.startswith("./"):
            continue  # this repository's own workflow or action, reviewed with the change
        if not PINNED.match(ref):
            problems.append(f"{wf.name}:{number}: `{ref}` is not pinned to a full 40-hex commit SHA")
        elif not VERSION.match((match["comment"] or "").strip()):
            problems.append(f"{wf.name}:{number}: `{ref}` has no `# vX.Y.Z` comment naming its version")
    declared = sum(1 for job in wf.jobs.values() for s in [job, *steps(job)] if "uses" in s)
    if seen != declared:
        problems.append(f"{wf.name}: {declared} uses: but {seen} on lines of their own; write one per line")
    return problems


def permissions(wf: Workflow) -> list[str]:
    """Nothing at the top (`permissions: {}`); each job says what it needs."""
    problems = []
    if wf.doc.get("permissions") != {}:
        problems.append(f"{wf.name}: top-level permissions must be {{}}, found {wf.doc.get('permissions')!r}")
    for name, job in wf.jobs.items():
        if "permissions" not in job:
            problems.append(f"{wf.name}: job {name} declares no permissions")
        elif not isinstance(job["permissions"], dict):
            problems.append(f"{wf.name}: job {name}: permissions {job['permissions']!r}; list each scope")
    return problems


def oidc(wf: Workflow) -> list[str]:
    """`id-token: write` exactly where a job assumes an AWS role, never with other write access."""
    problems = []
    for name, job in wf.jobs.items():
        declared = job.get("permissions")
        granted: dict[str, Any] = declared if isinstance(declared, dict) else {}
        token = granted.get("id-token") == "write"
        logins = [s for s in steps(job) if uses(s, "aws-actions/configure-aws-credentials")]
        if logins and not token:
            problems.append(f"{wf.name}: job {name} assumes an AWS role without `id-token: write`")
        if token and not logins and "uses" not in job:  # a called workflow logs in itself
            problems.append(f"{wf.name}: job {name} has `id-token: write` but no OIDC login")
        for login in logins:
            given = login.get("with") or {}
            if "role-to-assume" not in given or {"aws-access-key-id", "aws-secret-access-key"} & set(given):
                problems.append(f"{wf.name}: job {name}: AWS credentials must come from role-to-assume only")
        writes = sorted(scope for scope, level in granted.items() if level == "write" and scope != "id-token")
        if token and writes:
            problems.append(
                f"{wf.name}: job {name} holds an AWS token and write access to {', '.join(writes)}"
            )
    return problems


def persisted_credentials(wf: Workflow) -> list[str]:
    """actions/checkout leaves the token in .git/config unless told not to (its input defaults to true)."""
    return [
        f"{wf.name}: job {name}: actions/checkout without `persist-credentials: false`"
        for name, job in wf.jobs.items()
        for step in steps(job)
        if uses(step, "actions/checkout") and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def cancelled_deploys(wf: Workflow) -> list[str]:
    """A deploy runs in an environment, and nothing cancels it, running or waiting for approval."""
    problems = []
    deploys = {
        name
        for name, job in wf.jobs.items()
        if "environment" in job or any("pulumi up" in str(s.get("run", "")) for s in steps(job))
    }
    top = wf.doc.get("concurrency")
    if deploys and isinstance(top, dict) and top.get("cancel-in-progress") is not False:
        problems.append(f"{wf.name}: workflow-level concurrency may cancel the deploy jobs {sorted(deploys)}")
    for name in sorted(deploys):
        job = wf.jobs[name]
        if "environment" not in job:
            problems.append(f"{wf.name}: job {name} runs `pulumi up` outside an environment")
        group = job.get("concurrency")
        if not isinstance(group, dict) or group.get("cancel-in-progress") is not False:
            problems.append(f"{wf.name}: job {name} deploys without concurrency `cancel-in-progress: false`")
        elif group.get("queue") != "max":
            problems.append(
                f"{wf.name}: job {name}: without `queue: max` a newer run cancels a pending deploy"
            )
    return problems


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m[1] for m in re.finditer(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, re.MULTILINE)}


def command_lines(script: str) -> Iterator[list[str]]:
    """The simple commands of a `run:` script as word lists (heredoc bodies and comments skipped)."""
    script = re.sub(r"\$\{\{.*?\}\}", "EXPR", script).replace("\\\n", " ")
    heredoc = None
    for line in script.splitlines():
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        if found := re.search(r"<<-?\s*'?\"?(\w+)", line):
            heredoc = found[1]
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token and set(token) <= set("();<>|&"):
                if words:
                    yield words
                words = []
            else:
                words.append(token)


def missing_commands(wf: Workflow) -> list[str]:
    """Every `make TARGET` is a Makefile target; every `notes-platform ...` is a command that parses."""
    problems, targets = [], make_targets()
    for name, job in wf.jobs.items():
        for step in steps(job):
            for line in command_lines(str(step.get("run", ""))):
                words = list(line)
                while words and re.match(r"^\w+=", words[0]):
                    words = words[1:]
                program = Path(words[0]).name if words else ""
                if program == "make":
                    for target in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                        if target not in targets:
                            problems.append(
                                f"{wf.name}: job {name}: `make {target}`: no such Makefile target"
                            )
                elif program == "notes-platform":
                    problems += _notes_platform(f"{wf.name}: job {name}", words[1:])
    return problems


# What the shell variables the steps pass to notes-platform hold at run time (each step sets or
# validates it), so the command's own argument types judge a realistic value.
EXAMPLE_VALUES = {"$DIGEST": "sha256:" + "0" * 64, "$STACK": "staging", "$STEP": "auto"}


def _notes_platform(where: str, argv: list[str]) -> list[str]:
    argv = [EXAMPLE_VALUES.get(word, word) for word in argv]
    if not argv or argv[0] not in COMMANDS:
        return [
            f"{where}: `notes-platform {' '.join(argv)}`: not a command in notes_platform/cli.py COMMANDS"
        ]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser(argv).parse_args(argv)
    except SystemExit:
        return [f"{where}: `notes-platform {' '.join(argv)}` does not parse: {errors.getvalue().strip()}"]
    return []


def runs(step: dict[str, Any], *words: str) -> bool:
    """Whether a step's `run:` script has a simple command starting with these words."""
    return any(line[: len(words)] == list(words) for line in command_lines(str(step.get("run", ""))))


def rotation_deps_first(wf: Workflow) -> list[str]:
    """A job running `pulumi up` runs `make rotation-deps` in an earlier step.

    `pulumi up` packages build/rotation-deps (pymongo and the DocumentDB CA bundle) into the
    app-user rotation function and stops without it (infra/rotation_code.py); nothing commits it.
    """
    problems = []
    for name, job in wf.jobs.items():
        order = steps(job)
        ups = [i for i, s in enumerate(order) if runs(s, "pulumi", "up")]
        if ups and not any(runs(s, "make", "rotation-deps") for s in order[: ups[0]]):
            problems.append(f"{wf.name}: job {name} runs `pulumi up` without `make rotation-deps` before it")
    return problems


RULES: dict[str, Callable[[Workflow], list[str]]] = {
    "unpinned": unpinned,
    "permissions": permissions,
    "oidc": oidc,
    "persisted_credentials": persisted_credentials,
    "cancelled_deploys": cancelled_deploys,
    "missing_commands": missing_commands,
    "rotation_deps_first": rotation_deps_first,
}


# --- the committed workflows keep every rule ----------------------------------------------------


def test_the_workflows_are_there() -> None:
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == sorted(EXPECTED)


@pytest.mark.parametrize("rule", [r for r in RULES if r != "missing_commands"])
def test_committed_workflows_keep_the_rule(rule: str) -> None:
    # GIVEN the committed workflows / WHEN the rule reads them / THEN it finds nothing
    assert [p for wf in committed() for p in RULES[rule](wf)] == []


def test_every_make_target_the_workflows_run_exists() -> None:
    problems = [p for wf in committed() for p in missing_commands(wf) if "`make " in p]
    assert problems == []


def _notes_platform_runs() -> list[tuple[str, list[str]]]:
    runs = []
    for wf in committed():
        for name, job in wf.jobs.items():
            for step in steps(job):
                for words in command_lines(str(step.get("run", ""))):
                    if words and Path(words[0]).name == "notes-platform":
                        runs.append((f"{wf.name}: job {name}", words[1:]))
    return runs


@pytest.mark.parametrize(
    ("where", "argv"), _notes_platform_runs(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_notes_platform_command_the_workflows_run_exists_and_parses(
    where: str, argv: list[str]
) -> None:
    # GIVEN a `notes-platform ...` line of a workflow / WHEN its words go through the CLI's parser
    # THEN the command is in the table and accepts those options
    assert _notes_platform(where, argv) == []


def test_the_staging_deploy_is_environment_scoped_and_prod_runs_after_it() -> None:
    deploy = parse("deploy-staging.yml", (WORKFLOWS / "deploy-staging.yml").read_text())
    promote = parse("promote-prod.yml", (WORKFLOWS / "promote-prod.yml").read_text())
    # THEN each deploy job names the environment its role's OIDC subject is scoped to
    assert deploy.jobs["staging"]["environment"] == "staging"
    assert promote.jobs["prod"]["environment"] == "prod"
    # and prod is promoted from the same run, after staging verified
    assert deploy.jobs["promote"] == deploy.jobs["promote"] | {
        "needs": "staging",
        "uses": "./.github/workflows/promote-prod.yml",
    }
    assert {"workflow_call", "workflow_dispatch"} <= set(promote.doc["on"])


@pytest.mark.parametrize(
    ("workflow", "job"), [("deploy-staging.yml", "staging"), ("promote-prod.yml", "prod")]
)
def test_both_deploys_fetch_the_rotation_deps_before_pulumi_up(workflow: str, job: str) -> None:
    # GIVEN a deploy job's steps, in order
    order = steps(parse(workflow, (WORKFLOWS / workflow).read_text()).jobs[job])
    # WHEN the steps running `make rotation-deps` and `pulumi up` are found
    deps = [i for i, s in enumerate(order) if runs(s, "make", "rotation-deps")]
    ups = [i for i, s in enumerate(order) if runs(s, "pulumi", "up")]
    # THEN there is one of each, the dependencies first
    assert len(deps) == len(ups) == 1, f"{workflow}: job {job}: {deps=} {ups=}"
    assert deps[0] < ups[0], f"{workflow}: job {job}: `make rotation-deps` must come before `pulumi up`"


# --- each rule catches its planted mistake -------------------------------------------------------

GOOD = f"""
name: planted
on: push
permissions: {{}}
jobs:
  deploy:
    runs-on: ubuntu-24.04
    environment: staging
    permissions:
      contents: read
      id-token: write
    concurrency:
      group: deploy-staging
      cancel-in-progress: false
      queue: max
    steps:
      - uses: actions/checkout@{CHECKOUT_SHA} # v6.0.3
        with:
          persist-credentials: false
      - uses: aws-actions/configure-aws-credentials@{AWS_SHA} # v6.2.3
        with:
          role-to-assume: arn:aws:iam::123456789012:role/deploy
          aws-region: eu-west-1
      - run: make test
      - run: make rotation-deps
      - run: pulumi up --yes -s staging
      - run: .venv/bin/notes-platform review preview-staging.json --markdown comment.md
"""

PLANTED = [
    ("unpinned", (f"checkout@{CHECKOUT_SHA}", "checkout@v6"), "`actions/checkout@v6` is not pinned"),
    ("unpinned", (f"checkout@{CHECKOUT_SHA}", f"checkout@{CHECKOUT_SHA[:12]}"), "is not pinned"),
    ("unpinned", (" # v6.0.3", ""), "has no `# vX.Y.Z` comment"),
    ("permissions", ("permissions: {}\n", "permissions: write-all\n"), "top-level permissions must be {}"),
    (
        "permissions",
        ("    permissions:\n      contents: read\n      id-token: write\n", ""),
        "declares no permissions",
    ),
    ("oidc", ("      id-token: write\n", ""), "assumes an AWS role without `id-token: write`"),
    (
        "oidc",
        ("      contents: read\n", "      contents: write\n"),
        "holds an AWS token and write access to contents",
    ),
    (
        "oidc",
        ("role-to-assume: arn:aws:iam::123456789012:role/deploy", "aws-access-key-id: AKIAEXAMPLE"),
        "role-to-assume only",
    ),
    (
        "persisted_credentials",
        ("persist-credentials: false", "persist-credentials: true"),
        "without `persist-credentials: false`",
    ),
    (
        "persisted_credentials",
        ("        with:\n          persist-credentials: false\n", ""),
        "without `persist-credentials: false`",
    ),
    (
        "cancelled_deploys",
        ("cancel-in-progress: false", "cancel-in-progress: true"),
        "without concurrency `cancel-in-progress: false`",
    ),
    ("cancelled_deploys", ("      queue: max\n", ""), "without `queue: max`"),
    ("cancelled_deploys", ("    environment: staging\n", ""), "runs `pulumi up` outside an environment"),
    (
        "cancelled_deploys",
        ("permissions: {}\n", "permissions: {}\nconcurrency:\n  group: x\n  cancel-in-progress: true\n"),
        "workflow-level concurrency may cancel",
    ),
    ("missing_commands", ("make test", "make tests"), "`make tests`: no such Makefile target"),
    (
        "missing_commands",
        ("notes-platform review", "notes-platform reveiw"),
        "`notes-platform reveiw preview-staging.json",
    ),
    ("missing_commands", ("--markdown comment.md", "--markdwn comment.md"), "does not parse: "),
    (
        "rotation_deps_first",
        ("      - run: make rotation-deps\n", ""),
        "job deploy runs `pulumi up` without `make rotation-deps` before it",
    ),
    (
        "rotation_deps_first",
        (
            "      - run: make rotation-deps\n      - run: pulumi up --yes -s staging\n",
            "      - run: pulumi up --yes -s staging\n      - run: make rotation-deps\n",
        ),
        "job deploy runs `pulumi up` without `make rotation-deps` before it",
    ),
]


def test_the_planted_workflow_is_clean_before_the_mistake() -> None:
    assert [p for rule in RULES.values() for p in rule(parse("planted.yml", GOOD))] == []


@pytest.mark.parametrize(("rule", "edit", "message"), PLANTED, ids=[f"{r}:{m[:30]}" for r, _, m in PLANTED])
def test_each_rule_catches_its_planted_mistake(rule: str, edit: tuple[str, str], message: str) -> None:
    # GIVEN a clean workflow with one mistake planted
    old, new = edit
    assert old in GOOD, old
    planted = parse("planted.yml", GOOD.replace(old, new, 1))
    # WHEN the rule reads it / THEN the problem is named, with the file
    problems = RULES[rule](planted)
    assert any(message in p and p.startswith("planted.yml") for p in problems), problems


# --- the steps' shell, run against stand-ins for gh and pulumi ----------------------------------


def step(workflow: str, job: str, name_starts: str) -> dict[str, Any]:
    wf = parse(workflow, (WORKFLOWS / workflow).read_text())
    found = [s for s in steps(wf.jobs[job]) if str(s.get("name", "")).startswith(name_starts)]
    assert len(found) == 1, f"{workflow}: job {job}: one step named {name_starts!r}"
    return found[0]


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # An unspecified `shell:` on a Linux runner is `bash -e {0}` (GitHub docs, workflow syntax,
    # jobs.<job_id>.steps[*].shell).
    (cwd / "step.sh").write_text(script)
    summary = cwd / "summary.md"
    summary.touch()
    full = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), **env}
    return subprocess.run(
        ["bash", "-e", "step.sh"], check=False, cwd=cwd, env=full, capture_output=True, text=True, timeout=60
    )


def stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize(("code", "job_exit"), [(0, 0), (3, 0), (4, 0), (1, 1), (2, 2)])
def test_review_verdicts_pass_and_broken_inputs_fail_the_comment_job(
    tmp_path: Path, code: int, job_exit: int
) -> None:
    # GIVEN `notes-platform review` exiting with one of its documented codes
    stub(tmp_path, ".venv/bin/notes-platform", f'echo review "$@" > review-args\nexit {code}\n')
    script = step("preview.yml", "comment", "notes-platform review")["run"]
    # WHEN the comment job's review step runs
    result = run_step(script, tmp_path, {})
    # THEN 0, 3 and 4 are verdicts that go to the summary; 1 and 2 fail the job with that code
    assert result.returncode == job_exit, result.stderr
    assert (
        "preview-staging.json preview-prod.json --markdown comment.md"
        in (tmp_path / "review-args").read_text()
    )
    if job_exit == 0:
        assert f"exit {code}" in (tmp_path / "summary.md").read_text()


MARKER = "<!-- notes-platform-review -->"
BOT = {"login": "github-actions[bot]"}
PERSON = {"login": "a-reviewer"}

# The stand-in gh: GET applies the --jq filter with jq to $COMMENTS (one page, as the API returns
# it); PATCH and POST record the method, the path and the body read from the @file.
GH = """
if [ "$1 $2" = "api --paginate" ]; then
  jq -r "$5" "$COMMENTS"
  exit
fi
method=$3 path=$4 body=${6#body=@}
jq -cn --arg m "$method" --arg p "$path" --rawfile b "$body" '{method: $m, path: $p, body: $b}' >> "$CALLS"
"""


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        ([], ("POST", "repos/o/r/issues/7/comments")),
        (
            [{"id": 11, "user": PERSON, "body": "lgtm"}, {"id": 12, "user": BOT, "body": f"{MARKER}\nold"}],
            ("PATCH", "repos/o/r/issues/comments/12"),
        ),
        (
            [{"id": 21, "user": PERSON, "body": f"{MARKER} quoted by a person"}],
            ("POST", "repos/o/r/issues/7/comments"),
        ),
        ([{"id": 31, "user": BOT, "body": "another bot comment"}], ("POST", "repos/o/r/issues/7/comments")),
    ],
    ids=["first-comment", "updates-ours", "never-a-persons", "not-other-bot-comments"],
)
def test_one_sticky_comment_is_created_or_updated(
    tmp_path: Path, comments: list[dict[str, Any]], expected: tuple[str, str]
) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (scripts/bootstrap.sh installs it)")
    # GIVEN the pull request's comments and the review's comment.md
    (tmp_path / "comments.json").write_text(json.dumps(comments))
    (tmp_path / "comment.md").write_text(f"{MARKER}\n## Infrastructure review\nnew")
    stub(tmp_path / "bin", "gh", GH)
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "COMMENTS": str(tmp_path / "comments.json"),
        "CALLS": str(tmp_path / "calls.json"),
        "GH_TOKEN": "t",
        "PR": "7",
        "REPO": "o/r",
    }
    # WHEN the posting step runs
    result = run_step(step("preview.yml", "comment", "Post or update")["run"], tmp_path, env)
    # THEN exactly one call writes the comment: an update of our own, else a new one
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in (tmp_path / "calls.json").read_text().splitlines()]
    assert [(c["method"], c["path"]) for c in calls] == [expected]
    assert calls[0]["body"].startswith(MARKER)


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("digest", "accepted"),
    [
        (DIGEST, True),
        ("sha256:" + "AB" * 32, False),
        ("sha256:" + "ab" * 31, False),
        (f"{DIGEST}; echo pwned", False),
        ("latest", False),
    ],
)
def test_the_rollback_input_reaches_the_stack_only_as_a_digest(
    tmp_path: Path, digest: str, accepted: bool
) -> None:
    # GIVEN a typed rollback-digest and a stand-in notes-platform that records its arguments
    stub(tmp_path, ".venv/bin/notes-platform", 'echo "$@" >> "$CALLS"\n')
    env = {"CALLS": str(tmp_path / "calls"), "DIGEST": digest}
    # WHEN the rollback step runs
    result = run_step(step("promote-prod.yml", "prod", "Or redeploy")["run"], tmp_path, env)
    # THEN only a well-formed digest reaches `promote --rollback`; anything else stops the job
    calls = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    if accepted:
        assert result.returncode == 0, result.stderr
        assert calls == f"promote --rollback --digest {digest} --to prod\n"
    else:
        assert result.returncode == 1 and calls == ""
        assert "rollback-digest must be sha256:<64 lowercase hex>" in result.stdout


def test_the_runbook_names_prods_previous_digest_as_one_command(tmp_path: Path) -> None:
    # GIVEN the digest prod ran before the failed deploy
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "prod-previous-digest").write_text(DIGEST + "\n")
    # WHEN the runbook step runs
    result = run_step(step("promote-prod.yml", "prod", "Rollback runbook")["run"], tmp_path, {})
    # THEN the summary holds the one command, and its input is the one the workflow declares
    assert result.returncode == 0, result.stderr
    assert (
        f"gh workflow run promote-prod.yml -f rollback-digest={DIGEST}"
        in (tmp_path / "summary.md").read_text()
    )
    promote = parse("promote-prod.yml", (WORKFLOWS / "promote-prod.yml").read_text())
    assert "rollback-digest" in promote.doc["on"]["workflow_dispatch"]["inputs"]


def test_the_runbook_says_so_when_there_is_nothing_to_roll_back_to(tmp_path: Path) -> None:
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "prod-previous-digest").write_text("")
    result = run_step(step("promote-prod.yml", "prod", "Rollback runbook")["run"], tmp_path, {})
    assert result.returncode == 0 and "nothing to roll back to" in (tmp_path / "summary.md").read_text()


def staging_outputs(tmp_path: Path, digest: str) -> None:
    (tmp_path / "release").mkdir()
    outputs = {
        "ecrRepositoryUrl": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api",
        "imageDigest": digest,
    }
    (tmp_path / "release" / "staging-outputs.json").write_text(json.dumps(outputs))
    stub(tmp_path, ".venv/bin/python", f'exec {shlex.quote(sys.executable)} "$@"\n')


def test_the_staging_record_is_what_promote_reads(tmp_path: Path) -> None:
    # GIVEN staging's stack outputs as `pulumi stack output --json` writes them
    staging_outputs(tmp_path, DIGEST)
    # WHEN the record step runs
    result = run_step(step("deploy-staging.yml", "staging", "Record the image")["run"], tmp_path, {})
    # THEN release/staging.json is a StagingImage the release records' reader accepts
    assert result.returncode == 0, result.stderr
    image = read_staging_image(tmp_path / "release" / "staging.json")
    assert (image.stack, image.digest) == ("staging", DIGEST)
    assert image.repository_url.endswith("/staging/notes-api")


def test_a_staging_output_that_is_not_a_digest_fails_the_record_step(tmp_path: Path) -> None:
    staging_outputs(tmp_path, "sha256:nope")
    result = run_step(step("deploy-staging.yml", "staging", "Record the image")["run"], tmp_path, {})
    assert result.returncode != 0 and "imageDigest" in result.stderr
    assert not (tmp_path / "release" / "staging.json").exists()


# --- zizmor and actionlint -----------------------------------------------------------------------

LINT = ROOT / "scripts" / "lint-workflows.sh"
UNSAFE = """
name: unsafe
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions: {}
    steps:
      - uses: actions/checkout@v6
      - run: echo $UNQUOTED ${{ github.event.head_commit.message }}
"""


def lint(directory: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(LINT)] + ([str(directory)] if directory else [])
    result = subprocess.run(argv, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if result.returncode == 3:
        pytest.skip(f"the workflow linters could not be installed: {result.stderr.strip()[-300:]}")
    return result


def test_zizmor_and_actionlint_report_nothing_on_the_workflows() -> None:
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_catch_a_planted_unsafe_workflow(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/bootstrap.sh installs it)")
    # GIVEN a workflow with a tag-pinned action, an expression expanded into a script and an
    # unquoted variable
    (tmp_path / "unsafe.yml").write_text(UNSAFE)
    # WHEN the lint script runs on it / THEN it exits 1 and each linter names its finding
    result = lint(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    for finding in ("unpinned-uses", "template-injection", "SC2086", "potentially untrusted"):
        assert finding in output, finding
