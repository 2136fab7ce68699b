"""``notes-platform review PREVIEW.json [...]``: triage `pulumi preview --json` output.

One file per stack, as the CLI writes it (``pulumi preview --json -s prod > prod.json``; add
``--show-replacement-steps`` or not, both are read). Prints what needs explicit approval, what
deserves a look and what is routine; ``--markdown FILE`` also writes the pull-request comment.
"""

from __future__ import annotations

import argparse

from notes_platform.review.outcome import add_output_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "previews", nargs="+", metavar="PREVIEW.json", help="`pulumi preview --json` output, one per stack"
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from notes_platform.review.outcome import emit, unreadable  # noqa: PLC0415 (keeps --help fast)
    from notes_platform.review.preview import UnreadableInput, read_preview  # noqa: PLC0415
    from notes_platform.review.report import build  # noqa: PLC0415

    try:
        changes = [read_preview(path) for path in args.previews]
    except UnreadableInput as exc:
        return unreadable(str(exc))
    return emit([build(change) for change in changes], args)
