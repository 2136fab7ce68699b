"""``notes-platform cost STACK [--traffic RPS] [--json]``: the monthly estimate of a stack.

Plans the stack under mocks (as ``plan`` does), prices every billable resource from the committed
price tables of the region its provider names, with the usage in
``notes_platform/cost/usage/<STACK>.yaml``, and prints the lines, the total, the assumptions and
the prices' source and date. With ``--traffic`` it also answers the capacity question for 1k, 10k
and 100k req/s and the given traffic, and checks the stack's autoscaling against it. Exit 0, or 2
on a bad stack or usage file.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml and cost/usage/<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print the estimate (and capacity) as JSON")
    parser.add_argument(
        "--usage",
        type=Path,
        metavar="FILE",
        help="usage file (default: notes_platform/cost/usage/<stack>.yaml)",
    )
    parser.add_argument(
        "--traffic",
        type=int,
        metavar="RPS",
        help="target requests per second: adds the capacity table (1k, 10k, 100k and RPS) and the check "
        "of the stack's autoscaling",
    )
    parser.add_argument(
        "--rps-per-task",
        type=Decimal,
        metavar="N",
        help="requests per second one task sustains (default: the README's benchmark, per task vCPU)",
    )
    parser.add_argument("--project-dir", type=Path, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from notes_platform.cost import capacity as cap  # noqa: PLC0415 (keeps --help fast)
    from notes_platform.cost.model import estimate  # noqa: PLC0415
    from notes_platform.cost.report import render, render_capacity  # noqa: PLC0415
    from notes_platform.cost.usage import UsageError, load_usage  # noqa: PLC0415
    from stacks.config import ROOT, StackConfigError  # noqa: PLC0415

    try:
        usage = load_usage(args.stack, args.usage)
        from notes_platform.graph.plan import run_plan  # noqa: PLC0415

        plan = run_plan(args.stack, args.project_dir or ROOT)
    except (StackConfigError, UsageError) as exc:
        print(f"notes-platform: {exc}", file=sys.stderr)
        return 2
    result = estimate(plan.resources, args.stack, usage)
    output: dict[str, object] = {"estimate": result.to_dict()}
    text = render(result)
    if args.traffic is not None:
        service = plan.config.service
        scaling = cap.Scaling(
            min_count=service.min_count,
            max_count=service.max_count,
            cpu_target_percent=service.cpu_target_percent,
            requests_per_target=service.requests_per_target,
        )
        benchmark = None if args.rps_per_task else cap.Benchmark()
        rps_per_task = args.rps_per_task or cap.default_rps_per_task(plan.resources)
        levels = sorted({*cap.TRAFFIC_LEVELS, args.traffic})
        rows = cap.capacity(plan.resources, args.stack, usage, scaling, rps_per_task, levels)
        verdict = cap.verdict(args.traffic, rps_per_task, scaling)
        text += "\n" + render_capacity(args.stack, rows, rps_per_task, benchmark)
        text += "".join(f"  {line}\n" for line in verdict)
        output["capacity"] = {
            "rps_per_task": str(rps_per_task),
            "benchmark": None
            if benchmark is None
            else vars(benchmark) | {"rps_per_vcpu": str(benchmark.rps_per_vcpu)},
            "scaling": vars(scaling),
            "rows": [vars(row) | {"monthly": str(row.monthly)} for row in rows],
            "verdict": verdict,
        }
    sys.stdout.write(json.dumps(output, indent=2, default=str) + "\n" if args.json else text)
    return 0
