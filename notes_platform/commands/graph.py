"""``notes-platform graph STACK``: the planned stack as a picture, drawn from the offline plan.

Prints the Mermaid diagram (or writes it with ``--mermaid FILE``), renders SVG through Graphviz
with ``--svg FILE``, and with ``--readme FILE`` replaces the Mermaid block between the markers
``<!-- notes-platform graph STACK -->`` and ``<!-- end notes-platform graph -->``. Exit 0 when
done, 2 on a bad stack file or a README without the markers, 3 when ``--svg`` is asked for and
Graphviz's ``dot`` is not installed (the Mermaid outputs are still written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

END_MARKER = "<!-- end notes-platform graph -->"


def begin_marker(stack: str) -> str:
    return f"<!-- notes-platform graph {stack} -->"


def embed(text: str, stack: str, diagram: str) -> str | None:
    """``text`` with the block between the stack's markers replaced by ``diagram`` as a fenced
    Mermaid block; None when the markers are missing."""
    begin = text.find(begin_marker(stack))
    end = text.find(END_MARKER, begin)
    if begin < 0 or end < 0:
        return None
    head = text[: begin + len(begin_marker(stack))]
    return f"{head}\n```mermaid\n{diagram}```\n{text[end:]}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--mermaid", type=Path, metavar="FILE", help="write the Mermaid diagram to FILE")
    parser.add_argument("--svg", type=Path, metavar="FILE", help="render SVG with Graphviz to FILE")
    parser.add_argument("--readme", type=Path, metavar="FILE", help="replace the diagram block in FILE")
    parser.add_argument("--project-dir", type=Path, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from stacks.config import ROOT, StackConfigError  # noqa: PLC0415 (keeps --help fast)

    try:
        from notes_platform.graph.plan import run_plan  # noqa: PLC0415

        plan = run_plan(args.stack, args.project_dir or ROOT)
    except StackConfigError as exc:
        print(f"notes-platform: invalid stack configuration\n{exc}", file=sys.stderr)
        return 2
    from notes_platform.graph.diagram import mermaid, svg  # noqa: PLC0415

    diagram = mermaid(plan.resources)
    if args.mermaid:
        args.mermaid.parent.mkdir(parents=True, exist_ok=True)
        args.mermaid.write_text(diagram)
    if args.readme:
        embedded = embed(args.readme.read_text(), args.stack, diagram)
        if embedded is None:
            print(
                f"notes-platform: {args.readme} has no '{begin_marker(args.stack)}' ... "
                f"'{END_MARKER}' block to replace",
                file=sys.stderr,
            )
            return 2
        args.readme.write_text(embedded)
    if not (args.mermaid or args.readme or args.svg):
        sys.stdout.write(diagram)
    if args.svg:
        import graphviz  # type: ignore[import-untyped]  # noqa: PLC0415

        try:
            rendered = svg(plan.resources)
        except graphviz.ExecutableNotFound:
            print(
                "notes-platform: --svg needs Graphviz's `dot` on PATH, which is not installed "
                "(Debian package graphviz; scripts/bootstrap.sh installs it). No SVG written.",
                file=sys.stderr,
            )
            return 3
        args.svg.parent.mkdir(parents=True, exist_ok=True)
        args.svg.write_bytes(rendered)
    return 0
