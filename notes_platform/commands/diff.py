"""``notes-platform diff OLD.json NEW.json``: the review's rules between two offline plans.

Both files are ``notes-platform plan STACK --json FILE`` graphs (e.g. the base branch's and the pull
request's). Each resource is created, deleted, updated or replaced; a plan has no replaceReasons,
so replacements are decided from the inputs terraform-provider-aws marks ForceNew.
"""

from __future__ import annotations

import argparse

from notes_platform.review.outcome import add_output_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD.json", help="the plan graph before the change")
    parser.add_argument("new", metavar="NEW.json", help="the plan graph after the change")
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from notes_platform.review.outcome import emit, unreadable  # noqa: PLC0415 (keeps --help fast)
    from notes_platform.review.plans import read_plan_diff  # noqa: PLC0415
    from notes_platform.review.preview import UnreadableInput  # noqa: PLC0415
    from notes_platform.review.report import build  # noqa: PLC0415

    try:
        change = read_plan_diff(args.old, args.new)
    except UnreadableInput as exc:
        return unreadable(str(exc))
    return emit([build(change)], args)
