"""``notes-platform restore-repoint STACK --cluster-endpoint HOST``: the repoint step of the restore
runbook (README, "Day-2 operations", Restoring the database). Checks the restored cluster,
rewrites the app's database secret to it (user, password and options kept), shows the diff with
passwords masked, writes it as the new AWSCURRENT version and starts a new deployment of the
services that read it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

EXIT_CODES = """\
exit codes:
  0  repointed (or, with --dry-run, everything checked and the diff shown)
  2  usage: the endpoint is not a DocumentDB cluster endpoint of the stack's region, the port is
     out of range, or the stack file is missing or has no aws:region
  3  the app's secret is missing, not in a known format, or being rotated (AWSPENDING)
  4  the restored cluster is not ready: not found, not available, no writer, or another endpoint
  5  not confirmed: no --yes and no terminal to ask on (CI=true or stdin not a TTY), or the
     answer was not the environment's name; nothing written
  6  --check-connect: the restored cluster refused the TLS handshake or the sign-in
  7  an ECS service is missing (nothing written) or did not redeploy (the secret is written;
     the rollback command is printed)
  8  AWS could not be reached or refused a call (the message names it)
"""

_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "notes-platform"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument("stack", metavar="STACK", help="the stack whose app is repointed (staging, prod)")
    parser.add_argument(
        "--cluster-endpoint",
        required=True,
        metavar="HOST",
        help="the restored cluster's endpoint (<cluster>.cluster-<suffix>.<region>.docdb.amazonaws.com)",
    )
    parser.add_argument("--port", type=int, default=27017, help="the restored cluster's port (default 27017)")
    parser.add_argument("--dry-run", action="store_true", help="check and show the diff; write nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask before writing (needed without a TTY)")
    parser.add_argument(
        "--check-connect",
        action="store_true",
        help="sign in to the restored cluster with the new URI over TLS before writing (works from "
        "inside the VPC; elsewhere it says it could not reach the cluster and goes on)",
    )
    parser.add_argument(
        "--ca-file",
        metavar="PEM",
        help="DocumentDB's CA bundle for --check-connect (default: the URI's tlsCAFile, the image's path)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long --check-connect waits for the cluster (default 10)",
    )
    parser.add_argument(
        "--secret-id",
        action="append",
        metavar="NAME",
        help="the secret to repoint (repeatable; default: notes/<env>/docdb-app and notes/<env>/docdb-uri, "
        "each that exists)",
    )
    parser.add_argument("--stack-file", type=Path, metavar="FILE", help="default: Pulumi.<STACK>.yaml")
    parser.add_argument("--region", help="default: the stack file's aws:region")
    parser.add_argument("--environment", help="default: the stack file's environment, else STACK")


def _stack_settings(path: Path) -> dict[str, Any]:
    import yaml  # noqa: PLC0415

    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"{path}: no such stack file") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML ({exc})") from exc
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: config: expected a mapping of stack settings")
    return config


def _interactive() -> bool:
    # GitHub Actions and most CI systems set CI=true; a prompt there would hang or read nothing.
    ci = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
    return not ci and sys.stdin.isatty()


def _confirm(environment: str) -> bool:
    answer = input(f"Type the environment's name ({environment}) to write the secret and redeploy: ")
    if answer.strip() != environment:
        print(f"restore-repoint: {answer.strip()!r} is not {environment!r}: nothing written", file=sys.stderr)
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from notes_platform.operations import repoint  # noqa: PLC0415 (boto3, yaml only when it runs)
    from notes_platform.operations.docdb_secret import EndpointError, check_port, cluster_endpoint  # noqa: PLC0415

    path = args.stack_file or _ROOT / f"Pulumi.{args.stack}.yaml"
    try:
        config = _stack_settings(path)
        region = args.region or config.get("aws:region")
        if not region:
            raise ValueError(f"{path}: aws:region: missing; pass --region")
        environment = args.environment or config.get(f"{PROJECT}:environment") or args.stack
        endpoint = cluster_endpoint(args.cluster_endpoint, str(region))
        port = check_port(args.port)
    except (ValueError, EndpointError) as exc:
        print(f"restore-repoint: {exc}", file=sys.stderr)
        return repoint.USAGE
    if not (args.dry_run or args.yes or _interactive()):
        print(
            "restore-repoint: refusing to write without --yes: there is no terminal to confirm on "
            "(CI=true or stdin is not a TTY); nothing was read or written",
            file=sys.stderr,
        )
        return repoint.NOT_CONFIRMED
    request = repoint.Request(
        stack=args.stack,
        environment=str(environment),
        region=str(region),
        compute=str(config.get(f"{PROJECT}:compute", "ecs")),
        endpoint=endpoint,
        port=port,
        secret_names=tuple(args.secret_id or repoint.default_secret_names(str(environment))),
        eks_namespace=str(config.get(f"{PROJECT}:eksNamespace", "notes")),
        check_connect=args.check_connect,
        ca_file=args.ca_file,
        connect_timeout=args.connect_timeout,
        dry_run=args.dry_run,
    )
    return _execute(request, args.yes)


def _clients(region: str) -> Any:
    """service -> a boto3 client in the stack's region (tests put moto and stubbed clients here)."""
    import boto3  # noqa: PLC0415

    return lambda service: boto3.client(service, region_name=region)


def _execute(request: Any, yes: bool) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from notes_platform.operations import repoint  # noqa: PLC0415

    try:
        return repoint.execute(
            request, _clients(request.region), lambda: yes or _confirm(request.environment), sys.stdout
        )
    except repoint.RepointError as exc:
        print(f"restore-repoint: {exc}", file=sys.stderr)
        return exc.code
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"restore-repoint: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return repoint.AWS_UNREACHABLE
    except BotoCoreError as exc:
        print(f"restore-repoint: AWS could not be reached: {exc}", file=sys.stderr)
        return repoint.AWS_UNREACHABLE
