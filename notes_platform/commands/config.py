"""``notes-platform config --write | --check``: Pulumi.yaml's ``config:`` block, from the schema.

The stack schema (``stacks/config.py``) is the one description of every key; Pulumi.yaml
declares the same keys so that the CLI knows their types and shows their descriptions.
``--write`` regenerates the block (the rest of the file is kept), ``--check`` exits 1 when
the committed block has drifted from the schema.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args, get_origin


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the config: block of Pulumi.yaml")
    action.add_argument(
        "--check", action="store_true", help="exit 1 if Pulumi.yaml's config: block differs from the schema"
    )
    parser.add_argument("--project-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _pulumi_type(annotation: Any) -> dict[str, Any]:
    if get_origin(annotation) is list:
        return {"type": "array", "items": {"type": "string"}}
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if base is bool:
        return {"type": "boolean"}
    if base is int:
        return {"type": "integer"}
    return {"type": "string"}


def project_config_block() -> dict[str, Any]:
    """The ``config:`` declarations for Pulumi.yaml, one per key, with type and description."""
    from stacks.config import SECTIONS, config_key  # noqa: PLC0415 (keeps --help fast)

    block: dict[str, Any] = {}
    for section, model in SECTIONS.items():
        for field, info in model.model_fields.items():
            entry = _pulumi_type(info.annotation)
            entry["description"] = info.description or ""
            # Declared without namespace: typed declarations are for the project's own keys.
            block[config_key(section, field)] = entry
    return block


def run(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from stacks.config import ROOT  # noqa: PLC0415

    path = (args.project_dir or ROOT) / "Pulumi.yaml"
    document = yaml.safe_load(path.read_text())
    block = project_config_block()
    if args.check:
        declared = document.get("config") or {}
        if declared == block:
            print(f"{path.name}: {len(block)} config declarations, in step with the schema")
            return 0
        drift = sorted(k for k in {*declared, *block} if declared.get(k) != block.get(k))
        print(
            f"{path.name}: config declarations differ from the schema for {', '.join(drift)}; "
            "run `notes-platform config --write`",
            file=sys.stderr,
        )
        return 1
    document["config"] = block
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=120))
    print(f"wrote {len(block)} config declarations to {path.name}")
    return 0
