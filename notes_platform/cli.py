"""notes-platform: the offline tooling of the notes platform (plan, config), one module per command."""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

# Command name -> module under notes_platform.commands, in the order `--help` lists them. A
# command's module is imported only when that command (or its --help) runs: the table itself
# must not pay for pulumi, pydantic or botocore.
COMMANDS: dict[str, str] = {
    "plan": "run the program for a stack under mocks and show its resources",
    "config": "regenerate or check Pulumi.yaml's config declarations from the stack schema",
    "review": "triage `pulumi preview --json` output: what needs approval, what deserves a look",
    "diff": "the review's rules between two offline plans (`plan --json` files)",
    "graph": "draw the planned stack as a diagram (Mermaid, or SVG through Graphviz)",
    "cost": "the monthly cost of a stack from its plan, and the tasks and cost for a target traffic",
    "promote": "promote the image a stack runs to another by digest, behind scan and verify gates",
    "verify": "check a deploy: rollout, capacity, targets, alarms, data stores, edge, then an HTTP smoke",
    "restore-repoint": "point the app's database secret at a restored DocumentDB cluster and redeploy",
    "rotate-cache-token": "take the next step of the Redis AUTH token rotation in a stack file",
}


def _command_module(name: str) -> ModuleType:
    # A command of two words is one with a hyphen; its module has an underscore.
    return importlib.import_module(f"notes_platform.commands.{name.replace('-', '_')}")


def _chosen(argv: list[str]) -> str | None:
    """The subcommand argv names: the first argument that is not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser, with the arguments of the chosen command only (the others stay unimported)."""
    parser = argparse.ArgumentParser(prog="notes-platform", description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _chosen(argv)
    for name, help_text in COMMANDS.items():
        sub = subcommands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _command_module(name).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser(arguments).parse_args(arguments)
    result: int = _command_module(args.command).run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
