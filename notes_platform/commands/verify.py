"""``notes-platform verify STACK``: check a deploy after ``pulumi up``, with boto3 and over HTTP.

Prints each check, pass or fail with what it saw; ``--json`` prints them as one JSON document.
Writes the verify record (``notes_platform/release/records.py``) that ``promote`` reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CODES = """\
checks, in order: ecs-image (the primary deployment runs the stack's imageDigest: a
circuit-breaker rollback fails here), ecs-rollout (rolloutState COMPLETED, no other
deployment), ecs-capacity (running == desired), targets-healthy, alarms-<region> (none of
notes-<env>-* in ALARM, in the stack's region and us-east-1), docdb-cluster, docdb-instances,
cache, cloudfront-deployed, cloudfront-web-acl, then smoke-<step> through apiUrl (health,
register, login, create, read, list, delete).

exit codes (the most severe failure wins):
  0  every check passed
  1  the stack's outputs could not be read (the message names the file or stack and the key)
  2  usage error
  3  the deploy did not roll out: ecs-image or ecs-rollout failed (rolled back, FAILED, in progress)
  4  the stack is unwell: another AWS check failed
  5  only the HTTP smoke failed
  6  AWS could not be reached (no credentials, no endpoint): nothing was checked
  7  no outputs: no --outputs FILE and no `pulumi` CLI on PATH for the Automation API
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument("stack", metavar="STACK", help="the stack to verify (staging, prod)")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="the stack's outputs as `pulumi stack output --json` writes them "
        "(default: read them with the Automation API, which needs the Pulumi CLI)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="where to write the verify record promote reads (default: verify-STACK.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON instead of text")
    parser.add_argument(
        "--region", help="the stack's AWS region (default: the region of its alarmTopicArn output)"
    )
    parser.add_argument(
        "--environment", help="the stack's `environment` config, which names its resources (default: STACK)"
    )
    parser.add_argument("--no-smoke", action="store_true", help="skip the HTTP round trip through apiUrl")
    parser.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project, for the Automation API"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: verify pulls in the stack's output names and, when it
    # checks, boto3; --help must not pay for either.
    from notes_platform.release import verify  # noqa: PLC0415

    try:
        if args.outputs is not None:
            outputs, source = verify.read_outputs_file(args.outputs), str(args.outputs)
        else:
            outputs, source = (
                verify.outputs_from_pulumi(args.stack, args.project_dir),
                f"pulumi stack {args.stack}",
            )
        expected = verify.expected_from_outputs(
            args.stack, outputs, source, environment=args.environment, region=args.region
        )
    except verify.PulumiUnavailable as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return verify.NO_OUTPUTS
    except verify.VerifyInputError as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return verify.BAD_INPUT
    try:
        checks = verify.run_checks(expected, smoke=not args.no_smoke)
    except verify.aws_unreachable_errors() as exc:
        print(f"verify: AWS could not be reached, nothing was checked: {exc}", file=sys.stderr)
        return verify.AWS_UNREACHABLE
    code = verify.exit_code(checks)
    record_path = args.record or Path(f"verify-{args.stack}.json")
    verify.write_record(record_path, expected, checks)
    print(verify.render(expected, checks, code, record_path, as_json=args.json))
    return code
