"""``notes-platform rotate-cache-token STACK [--step auto|rotate|set] [--write]``: the next step of
the Redis AUTH token rotation, as an edit of ``Pulumi.<STACK>.yaml`` that changes the two token
keys and nothing else (README, "Rotating the Redis AUTH token" and "Day-2 operations"). The edit
deploys through the normal pipeline; the scheduled workflow rotate-cache-token.yml runs this
command and opens the pull request.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_CODES = """\
steps:
  rotate  previous := current, current += 1 (ElastiCache ROTATE: both tokens accepted while the
          tasks roll); only when no rotation is under way
  set     remove the previous generation (ElastiCache SET: the old token stops working); only
          while a rotation is under way and once its rotate step is deployed: the API service
          runs the current generation's secret, one COMPLETED deployment, the cache available
  auto    set when a rotation is under way (and deployed), else rotate when the generation is
          older than --every-days (by the file's git history), else nothing

exit codes:
  0  the step is planned (written with --write); with auto, also when nothing is due yet
     (the message says until when, or what the set step waits for)
  2  bad input: the stack file is missing, malformed or fails the schema, the edit would change
     another line, or (auto) git cannot say when the generation was set
  3  the file's state forbids the step (rotate during a rotation, set without one)
  4  set refused: the rotate step is not deployed (what was seen is printed), or it cannot be
     checked (compute: eks) without --assume-deployed
  6  AWS could not be reached or refused a call while checking the deploy
"""

_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument("stack", metavar="STACK", help="the stack whose token rotates (staging, prod)")
    parser.add_argument("--step", choices=("auto", "rotate", "set"), default="auto", help="default: auto")
    parser.add_argument("--write", action="store_true", help="write the file (default: show the diff only)")
    parser.add_argument("--stack-file", type=Path, metavar="FILE", help="default: Pulumi.<STACK>.yaml")
    parser.add_argument(
        "--every-days",
        type=int,
        metavar="N",
        help="auto rotates a generation older than this (default: the stack's "
        "cacheAuthTokenRotationDays where the schema has it, else 90)",
    )
    parser.add_argument(
        "--assume-deployed",
        action="store_true",
        help=(
            "set without checking the running service (you checked that step 1's deployment completed: "
            'README, "Rotating the Redis AUTH token")'
        ),
    )
    parser.add_argument("--result", type=Path, metavar="FILE", help="write the outcome as JSON (workflow)")


@dataclass
class Outcome:
    stack: str
    step: str | None = None
    changed: bool = False
    title: str = ""
    body: str = ""
    reason: str = ""


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from notes_platform.operations.cache_token import StepRefused  # noqa: PLC0415
    from notes_platform.operations.cache_token_gate import GateError  # noqa: PLC0415
    from notes_platform.release.stack_file import StackFileError  # noqa: PLC0415
    from stacks.config import StackConfigError  # noqa: PLC0415

    outcome = Outcome(args.stack)
    try:
        code = _run(args, outcome)
    except (StackFileError, StackConfigError, GateError) as exc:
        print(f"rotate-cache-token: {exc}", file=sys.stderr)
        code = 2
    except StepRefused as exc:
        print(f"rotate-cache-token: {exc}", file=sys.stderr)
        code = 3
    except (BotoCoreError, ClientError) as exc:
        print(f"rotate-cache-token: AWS could not be asked whether the rotate step is deployed: {exc}",
              file=sys.stderr)  # fmt: skip
        code = 6
    if args.result is not None:
        args.result.write_text(json.dumps(asdict(outcome), indent=2) + "\n")
    return code


def _run(args: argparse.Namespace, outcome: Outcome) -> int:
    import yaml  # noqa: PLC0415

    from notes_platform.operations import cache_token as ct  # noqa: PLC0415
    from stacks.config import load as load_config  # noqa: PLC0415

    path: Path = args.stack_file or _ROOT / f"Pulumi.{args.stack}.yaml"
    state = ct.read_state(path)
    # The file as it is must pass the schema too: a step never starts from a file that cannot deploy.
    config = load_config(yaml.safe_load(path.read_text())["config"], args.stack, path.parent)
    print(f"{path.name}: {state.describe()}")
    step = args.step
    if step == "auto":
        step = state.next_step
        if step == ct.ROTATE and not _due(args, path, config, outcome):
            return 0
    if step == ct.SET and (problem := ct.step_problem(state, ct.SET)) is None:
        deployed, saw = _deployed(args, config, state.generation)
        for line in saw:
            print(f"  {line}")
        if not deployed:
            outcome.reason = "the rotate step is not deployed yet: " + "; ".join(saw)
            if args.step == "auto":
                print(f"nothing to do yet: {outcome.reason}")
                return 0
            print(f"rotate-cache-token: set refused: {outcome.reason}", file=sys.stderr)
            return 4
    elif step == ct.SET:
        raise ct.StepRefused(f"{path}: set: {problem}")
    edit = ct.plan_edit(path, step)
    ct.validate(edit, args.stack)
    outcome.step, outcome.changed = step, True
    outcome.title, outcome.body = _pull_request(args.stack, edit, config, args.assume_deployed)
    print(edit.diff(), end="")
    if args.write:
        edit.write()
        print(f"wrote {path}")
    print(_checklist(args.stack, edit, config))
    return 0


def _due(args: argparse.Namespace, path: Path, config: Any, outcome: Outcome) -> bool:
    from notes_platform.operations import cache_token_gate as gate  # noqa: PLC0415

    every = args.every_days or getattr(config.cache, "auth_token_rotation_days", None)
    every = int(every or gate.DEFAULT_ROTATION_DAYS)
    due = gate.rotation_due(gate.generation_set_at(path), datetime.now(UTC), every)
    print(f"{due.describe()} (every {every} days)")
    if not due.due:
        outcome.reason = f"not due: {due.describe()}"
        print("nothing to do yet")
    return due.due


def _deployed(args: argparse.Namespace, config: Any, generation: int) -> tuple[bool, list[str]]:
    if args.assume_deployed:
        return True, ["deploy of the rotate step asserted with --assume-deployed, not checked"]
    if config.general.compute != "ecs":
        return False, [
            f"compute is {config.general.compute}: only an ECS service can be checked; check the pods "
            "run the new generation, then pass --assume-deployed"
        ]
    import boto3  # noqa: PLC0415

    from notes_platform.operations.cache_token_gate import deploy_evidence  # noqa: PLC0415

    region, environment = config.region, config.general.environment
    evidence = deploy_evidence(
        boto3.client("ecs", region_name=region),
        boto3.client("elasticache", region_name=region),
        environment,
        generation,
    )
    return evidence.deployed, list(evidence.saw)


def _pull_request(stack: str, edit: Any, config: Any, asserted: bool) -> tuple[str, str]:
    was, becomes = edit.was, edit.becomes
    diff = f"```diff\n{edit.diff()}```"
    reopen = (
        "This pull request was opened with the workflow's GITHUB_TOKEN, which starts no workflow "
        '(GitHub Docs, "Triggering a workflow from a workflow"): close and reopen it to run the preview.'
    )
    if edit.step == "rotate":
        title = (
            f"{stack}: rotate the Redis AUTH token, step 1 of 2 (ROTATE to generation {becomes.generation})"
        )
        body = (
            f"Generation {becomes.generation} becomes the token the tasks use; generation {was.generation} "
            "stays accepted while they roll (ElastiCache `ROTATE`).\n\n"
            f"{diff}\n\n{_checklist(stack, edit, config)}\n\n{reopen}\n"
        )
        return title, body
    title = f"{stack}: rotate the Redis AUTH token, step 2 of 2 (SET: retire generation {was.previous})"
    checked = (
        "The deploy of step 1 was asserted by whoever ran this with --assume-deployed."
        if asserted
        else "Checked before this was opened: the API service runs generation "
        f"{becomes.generation}'s secret in one COMPLETED deployment with every task running, and the "
        "replication group is available."
    )
    body = (
        f"Only generation {becomes.generation} stays accepted (ElastiCache `SET`); "
        f"generation {was.previous}'s token stops working and its secret is deleted after the "
        f"recovery window.\n\n{checked}\n\n"
        f"{diff}\n\n{_checklist(stack, edit, config)}\n\n{reopen}\n"
    )
    return title, body


def _checklist(stack: str, edit: Any, config: Any) -> str:
    env = config.general.environment
    if edit.step == "rotate":
        return (
            "Before merging: the preview shows a new secret `notes/"
            f"{env}/redis-auth-token-g{edit.becomes.generation}`, the replication group's AUTH token "
            "change (strategy `ROTATE`) and a new task definition, and replaces nothing.\n"
            f"After the deploy: `notes-platform verify {stack}` passes. The workflow's next run opens "
            "step 2 (SET) once the API runs the new generation."
        )
    return (
        "Before merging, a human checks what the command cannot: the last `notes-platform verify "
        f"{stack}` after step 1's deploy passed; `aws ecs describe-services --cluster notes-{env} "
        f"--services notes-{env}-api` still shows one deployment, COMPLETED (nothing rolled since); "
        "no other client of the cache (a one-off task, a developer's tunnel) still holds the old token; "
        "the preview shows the replication group's AUTH token change (strategy `SET`) and the deletion "
        f"of `notes/{env}/redis-auth-token-g{edit.was.previous}`, and nothing else."
    )
