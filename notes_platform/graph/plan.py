"""The offline plan: the real program run under mocks with a stack's configuration.

``run_plan`` returns the recorded graph; ``render_tree`` prints it for people and
``Plan.to_json`` writes it for tools and snapshots. Two runs give byte-identical JSON:
resources are sorted by URN, keys are sorted, ids are derived from names.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from notes_platform.graph.mocks import Recorded, RecordedGraph, normalise, record
from stacks.config import PROJECT, ROOT, StackConfig, load, read_stack_file


@dataclass(kw_only=True)
class ProjectPlan(RecordedGraph):
    """A planned stack of any of our Pulumi projects (the environments' or the bootstrap's)."""

    project: str
    stack: str
    outputs: dict[str, Any]
    region: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


@dataclass(kw_only=True)
class Plan(ProjectPlan):
    """A planned environment stack, with its validated config."""

    config: StackConfig

    def __post_init__(self) -> None:
        self.region = self.region or self.config.region


def engine_config(values: dict[str, Any]) -> dict[str, str]:
    """Config as the Pulumi engine hands it to a program: every value a string."""
    wire: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            wire[key] = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            wire[key] = json.dumps(value)
        else:
            wire[key] = str(value)
    return wire


def run_plan(stack: str, root: Path = ROOT) -> Plan:
    """Run the program for ``stack`` under mocks. Raises StackConfigError for a bad stack
    file before anything is registered."""
    from stacks import app  # noqa: PLC0415 (imports pulumi_aws; only needed past validation)

    values = read_stack_file(stack, root)
    config = load(values, stack, root)
    produced: dict[str, pulumi.Output[Any]] = {}

    def program() -> pulumi.Output[Any]:
        outputs = app.build(app.config_from_pulumi())
        produced.update({name: pulumi.Output.from_input(value) for name, value in outputs.items()})
        return pulumi.Output.all(**{name: pulumi.Output.unsecret(o) for name, o in produced.items()})

    resources, outputs = _recorded(program, produced, stack, config.region, engine_config(values), PROJECT)
    return Plan(resources, project=PROJECT, stack=stack, region=config.region, config=config, outputs=outputs)


def _recorded(
    program: Any,
    produced: dict[str, pulumi.Output[Any]],
    stack: str,
    region: str,
    config: dict[str, str],
    project: str,
) -> tuple[list[Recorded], dict[str, Any]]:
    """Run ``program`` under mocks; its resources sorted by URN and its outputs, secrets masked."""
    recorded, resolved = record(program, stack=stack, region=region, config=config, project=project)
    loop = asyncio.get_event_loop()
    collected = {
        # The program has finished, so each output's secret flag resolves at once.
        name: "[secret]" if loop.run_until_complete(produced[name].is_secret()) else normalise(value)
        for name, value in (resolved or {}).items()
    }
    urns = [r.urn for r in recorded]
    duplicates = sorted(u for u, n in Counter(urns).items() if n > 1)
    if duplicates:
        raise RuntimeError(f"duplicate URNs (the engine would refuse them): {duplicates}")
    return sorted(recorded, key=lambda r: r.urn), dict(sorted(collected.items()))


def project_name(project_dir: Path) -> str | None:
    """The ``name:`` of ``project_dir/Pulumi.yaml`` (None when there is none)."""
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        return None
    document = yaml.safe_load(path.read_text()) or {}
    name = document.get("name") if isinstance(document, dict) else None
    return str(name) if name else None


def run_bootstrap_plan(stack: str, directory: Path | None = None) -> ProjectPlan:
    """Run the bootstrap program (``bootstrap/``) for ``stack`` under mocks. Raises
    BootstrapConfigError for a bad stack file before anything is registered."""
    from stacks.bootstrap import app as bootstrap_app  # noqa: PLC0415 (imports pulumi_aws)
    from stacks.bootstrap.config import DIRECTORY  # noqa: PLC0415
    from stacks.bootstrap.config import PROJECT as BOOTSTRAP  # noqa: PLC0415
    from stacks.bootstrap.config import load as load_bootstrap  # noqa: PLC0415
    from stacks.bootstrap.config import read_stack_file as read_bootstrap  # noqa: PLC0415

    values = read_bootstrap(stack, directory or DIRECTORY)
    config = load_bootstrap(values, stack)
    produced: dict[str, pulumi.Output[Any]] = {}

    def program() -> pulumi.Output[Any]:
        outputs = bootstrap_app.build(bootstrap_app.config_from_pulumi())
        produced.update({name: pulumi.Output.from_input(value) for name, value in outputs.items()})
        return pulumi.Output.all(**{name: pulumi.Output.unsecret(o) for name, o in produced.items()})

    resources, outputs = _recorded(program, produced, stack, config.region, engine_config(values), BOOTSTRAP)
    return ProjectPlan(resources, project=BOOTSTRAP, stack=stack, region=config.region, outputs=outputs)


def render_tree(plan: ProjectPlan) -> str:
    """Components with their resources, counts by type, and outputs."""
    children: dict[str | None, list[Recorded]] = {}
    known = {r.urn for r in plan.resources}
    for r in plan.resources:
        parent = r.parent if r.parent in known else None
        children.setdefault(parent, []).append(r)
    custom = [r for r in plan.resources if r.custom]
    lines = [
        f"{plan.project} / {plan.stack}: {len(custom)} resources in "
        f"{len(plan.resources) - len(custom)} components ({plan.region})",
        "",
    ]

    def walk(parent: str | None, prefix: str) -> None:
        items = sorted(children.get(parent, []), key=lambda r: (r.custom, r.type, r.name))
        for index, r in enumerate(items):
            last = index == len(items) - 1
            flags = "".join(
                [
                    " [protected]" if r.protect else "",
                    " [provider]" if r.type.startswith("pulumi:providers:") else "",
                ]
            )
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{r.name}  ({r.type}){flags}")
            walk(r.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    lines += ["", "Resources by type:"]
    for type_token, count in sorted(Counter(r.type for r in custom).items()):
        lines.append(f"  {count:4d}  {type_token}")
    lines += ["", "Outputs:"]
    width = max((len(k) for k in plan.outputs), default=0)
    for key, value in plan.outputs.items():
        lines.append(f"  {key:<{width}}  {value if isinstance(value, str) else json.dumps(value)}")
    return "\n".join(lines) + "\n"
