"""``notes-platform plan STACK [--json FILE]``: the offline plan, no credentials, no CLI."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from stacks.config import ROOT, StackConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notes-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="run the program for a stack under mocks and show its resources")
    plan.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--json", type=Path, metavar="FILE", help="also write the recorded graph as JSON")
    plan.add_argument("--quiet", action="store_true", help="no tree, only the summary line")
    plan.add_argument("--project-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        from stacks.plan import render_tree, run_plan  # noqa: PLC0415 (keeps --help fast)

        result = run_plan(args.stack, args.project_dir)
    except StackConfigError as exc:
        print(f"notes-platform: invalid stack configuration\n{exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json())
    if not args.quiet:
        sys.stdout.write(render_tree(result))
    elapsed = time.perf_counter() - started
    print(
        f"\nplanned {args.stack}: {sum(r.custom for r in result.resources)} resources in {elapsed:.1f}s"
        + (f", graph written to {args.json}" if args.json else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
