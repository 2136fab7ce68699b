"""What `review` and `diff` share as commands: the output options, the exit codes, the writing.

Only the standard library at import time: both commands' ``--help`` read ``EXIT_CODES`` from here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notes_platform.review.report import Report

NO_CHANGES = 0
UNREADABLE = 1
# 2 is argparse's: a usage error (an unknown option, a missing file argument).
CHANGES = 3  # changes, none needs explicit approval
NEEDS_APPROVAL = 4

EXIT_CODES = f"""exit codes:
  {NO_CHANGES}  no changes
  {UNREADABLE}  an input could not be read (the message names the file and what was wrong)
  2  usage error (argparse)
  {CHANGES}  changes, none needs explicit approval
  {NEEDS_APPROVAL}  at least one change needs explicit approval"""


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="also write the pull-request comment (Markdown, one sticky comment, under GitHub's size limit)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print nothing to the terminal; only the exit code"
    )


def exit_code(reports: Sequence[Report]) -> int:
    from notes_platform.review.findings import Level  # noqa: PLC0415

    if any(r.at(Level.APPROVAL) for r in reports):
        return NEEDS_APPROVAL
    return CHANGES if any(r.changes for r in reports) else NO_CHANGES


def emit(reports: Sequence[Report], args: argparse.Namespace) -> int:
    from notes_platform.review.render import markdown, terminal  # noqa: PLC0415

    if not args.quiet:
        sys.stdout.write(terminal(reports))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(reports), encoding="utf-8")
    return exit_code(reports)


def unreadable(message: str) -> int:
    print(f"notes-platform: cannot review {message}", file=sys.stderr)
    return UNREADABLE
