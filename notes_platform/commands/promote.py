"""``notes-platform promote --from staging --to prod``: promote the image staging runs, by digest.

Finds the digest staging runs (``--staging-image FILE``, the file the staging job writes, or
staging's stack outputs through the Automation API when a Pulumi CLI is installed), checks three
gates (the image is in staging's repository; ECR's scan finished with no CRITICAL or HIGH finding
the allow-list does not accept; staging's last verify passed for that digest), copies the image
into the target's repository with ``skopeo copy --all --preserve-digests`` and checks the copy's
digest, then writes ``imageDigest`` into ``Pulumi.<to>.yaml``, changing nothing else.

``--rollback --digest sha256:...`` puts a digest already in the target's repository back into
the stack file (no gates but its presence, no copy). Exit codes are listed below.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# Duplicated from notes_platform.release.promote.Exit so --help imports nothing; a test keeps the
# two in step.
EXIT_CODES = """exit codes:
  0  promoted (or, with --dry-run, every gate passed)
  2  bad input: an option, the staging image file, the verify record, the allow-list or the stack
     file is missing or malformed (the message names the file and key)
  3  the digest is not in the source repository (on --rollback: not in the target's)
  4  ECR has no finished scan of the image (pending, in progress, failed, unsupported)
  5  a CRITICAL or HIGH finding is not on the allow-list, or its entry has expired
  6  the verify record is for another stack or another digest
  7  staging's last verify of this digest failed
  8  after the copy the target's manifest digest differs from the source's
  9  skopeo is missing, or a registry or the ECR API refused or could not be reached
"""

_ROOT = Path(__file__).resolve().parents[2]
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _digest(text: str) -> str:
    if not _DIGEST.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not sha256:<64 lowercase hex>")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument("--from", dest="source", metavar="STACK", help="the stack whose image is promoted")
    parser.add_argument(
        "--to", dest="target", metavar="STACK", required=True, help="the stack that receives it"
    )
    parser.add_argument(
        "--staging-image",
        type=Path,
        metavar="FILE",
        help="the JSON file the staging job writes (format 1: stack, ecrRepositoryUrl, imageDigest, "
        "recordedAt); without it the source stack's outputs are read with the Pulumi CLI",
    )
    parser.add_argument(
        "--verify-record",
        type=Path,
        metavar="FILE",
        help="what `notes-platform verify STACK` wrote for the source",
    )
    parser.add_argument(
        "--allowlist",
        type=Path,
        metavar="FILE",
        help="scan findings allowed (default: release/scan-allowlist.yaml)",
    )
    parser.add_argument("--stack-file", type=Path, metavar="FILE", help="default: Pulumi.<to>.yaml")
    parser.add_argument(
        "--to-repository",
        metavar="URL",
        help="the target's repository (default: the source's registry, <to environment>/<name>; "
        "on --rollback, the target stack's ecrRepositoryUrl output)",
    )
    parser.add_argument("--dry-run", action="store_true", help="check the gates, print the copy and the diff")
    parser.add_argument(
        "--rollback", action="store_true", help="put back a digest already in the target repository"
    )
    parser.add_argument("--digest", type=_digest, help="with --rollback: the digest to deploy again")
    parser.add_argument(
        "--insecure-registry",
        action="store_true",
        help="plain HTTP without TLS verification: only for a registry on loopback (tests, a local mirror)",
    )


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.rollback:
        return None if args.digest else "--rollback needs --digest sha256:... (the digest to deploy again)"
    if args.digest:
        return "--digest is for --rollback only: a promotion takes the digest the source stack runs"
    if not args.source:
        return "--from STACK is required (or --rollback --digest to deploy a digest again)"
    if args.verify_record is None:
        return "--verify-record FILE is required: the promotion needs the source's last verify"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _usage_error(args)
    if problem:
        print(f"notes-platform promote: {problem}", file=sys.stderr)
        return 2
    from notes_platform.release.promote_run import execute  # noqa: PLC0415 (keeps --help fast)

    return execute(args, _ROOT)
