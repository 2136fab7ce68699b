"""``notes-platform plan STACK [--json FILE]``: the offline plan, no credentials, no CLI.

Runs the program under mocks with ``Pulumi.<STACK>.yaml``, prints the resource tree, then
checks the recorded graph with the policy pack (the settings CI passes), the AWS API
models, and the ordering and provider rules. Exit 0 when clean, 1 on a mandatory violation or
a finding, 2 on a bad stack file or policy configuration.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the recorded graph as JSON")
    parser.add_argument("--quiet", action="store_true", help="no tree, only the summary lines")
    parser.add_argument(
        "--policy-config",
        type=Path,
        metavar="FILE",
        help="policy pack settings (default: policies/config/<stack>.json, as CI passes them)",
    )
    # Default: the repository root (stacks.config.ROOT), resolved in run() so that --help
    # does not import the schema.
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the Pulumi project to plan: the repository root (default) or bootstrap "
        "(`plan bootstrap --project-dir bootstrap`: the one-time bootstrap program)",
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from stacks.bootstrap.config import PROJECT as BOOTSTRAP  # noqa: PLC0415 (keeps --help fast)
    from stacks.bootstrap.config import BootstrapConfigError  # noqa: PLC0415
    from stacks.config import ROOT, StackConfigError  # noqa: PLC0415

    try:
        from notes_platform.graph.plan import (  # noqa: PLC0415
            ProjectPlan,
            project_name,
            render_tree,
            run_bootstrap_plan,
            run_plan,
        )

        directory = args.project_dir or ROOT
        result: ProjectPlan
        if project_name(directory) == BOOTSTRAP:
            result = run_bootstrap_plan(args.stack, directory)
        else:
            result = run_plan(args.stack, directory)
    except (StackConfigError, BootstrapConfigError) as exc:
        print(f"notes-platform: invalid stack configuration\n{exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json())
    if not args.quiet:
        sys.stdout.write(render_tree(result))
    from notes_platform.checks.apimodels import check  # noqa: PLC0415
    from notes_platform.checks.apimodels import render as render_findings  # noqa: PLC0415
    from notes_platform.checks.policy_pack import (  # noqa: PLC0415
        PackConfig,
        PackConfigError,
        blocking,
        evaluate,
    )
    from notes_platform.checks.policy_pack import render as render_violations  # noqa: PLC0415

    # The policy pack, with the rule settings CI passes to `pulumi preview --policy-pack`
    # (policies/config/<stack>.json unless --policy-config says otherwise), on the recorded graph.
    try:
        config = PackConfig.load(args.policy_config) if args.policy_config else None
        violations = evaluate(result.resources, args.stack, config)
    except PackConfigError as exc:
        print(f"notes-platform: invalid policy pack configuration\n{exc}", file=sys.stderr)
        return 2
    mandatory = blocking(violations)
    if violations:
        report = render_violations(violations)
        print(f"\nPolicy pack: {len(violations)} violation(s)\n{report}", file=sys.stderr)
    # Inputs checked against the AWS API's own request shapes (botocore's models): mistakes
    # the provider would report only during `pulumi up`.
    findings = check(result.resources)
    if findings:
        report = render_findings(findings)
        print(f"\nAWS API model check: {len(findings)} finding(s)\n{report}", file=sys.stderr)
    # Orderings no input expresses, provider/engine rules and replacement traps: mistakes mocks
    # accept and `pulumi up` or `pulumi destroy` would report (notes_platform/checks/ordering.py,
    # provider_rules.py and replacement.py), and containers reading what their roles cannot
    # (secret_access.py), and rotated secrets whose own version could undo a rotation
    # (rotated_versions.py), access logs no policy admits (log_delivery.py) and services told to
    # notify a topic that does not admit them (topic_publishers.py).
    from notes_platform.checks import (  # noqa: PLC0415
        log_delivery,
        ordering,
        provider_rules,
        replacement,
        rotated_versions,
        secret_access,
        topic_publishers,
    )

    rules = [
        *ordering.check(result.resources),
        *provider_rules.check(result.resources),
        *replacement.check(result.resources),
        *secret_access.check(result.resources),
        *rotated_versions.check(result.resources),
        *log_delivery.check(result.resources),
        *topic_publishers.check(result.resources),
    ]
    if rules:
        print(
            f"\nOrdering and provider rules: {len(rules)} finding(s)\n{ordering.render(rules)}",
            file=sys.stderr,
        )
    elapsed = time.perf_counter() - started
    print(
        f"\nplanned {args.stack}: {sum(r.custom for r in result.resources)} resources in {elapsed:.1f}s"
        + (f", graph written to {args.json}" if args.json else "")
        + f"\npolicy pack: {len(mandatory)} mandatory, {len(violations) - len(mandatory)} advisory"
        + " violation(s)"
        + f"; AWS API model check: {len(findings)} finding(s)"
        + f"; ordering and provider rules: {len(rules)} finding(s)"
    )
    return 1 if mandatory or findings or rules else 0
