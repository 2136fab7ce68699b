"""Changes to our own prod plan, as the previews a reviewer would get: the snapshot is copied, edited
the way a pull request could, and turned into `pulumi preview --json` steps (review/synth.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from notes_platform.review.synth import preview_document
from stacks.config import ROOT

SNAPSHOT = ROOT / "tests" / "snapshots" / "prod.json"
FIXTURES = Path(__file__).parent / "fixtures"
RISKY_FIXTURE = FIXTURES / "prod_risky_change.json"

Edit = Callable[[dict[str, Any]], None]


def prod_plan() -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(SNAPSHOT.read_text())
    return plan


def resource(plan: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in plan["resources"] if r["name"] == name)
    return found


def inputs(plan: dict[str, Any], name: str) -> dict[str, Any]:
    values: dict[str, Any] = resource(plan, name)["inputs"]
    return values


def containers(plan: dict[str, Any]) -> list[dict[str, Any]]:
    decoded: list[dict[str, Any]] = json.loads(inputs(plan, "prod-api-task")["containerDefinitions"])
    return decoded


def set_containers(plan: dict[str, Any], definitions: list[dict[str, Any]]) -> None:
    inputs(plan, "prod-api-task")["containerDefinitions"] = json.dumps(definitions)


def edited(*edits: Edit) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the prod plan, a copy with ``edits`` applied)."""
    old = prod_plan()
    new = copy.deepcopy(old)
    for edit in edits:
        edit(new)
    return old, new


def preview(*edits: Edit) -> dict[str, Any]:
    old, new = edited(*edits)
    return preview_document(old, new)


def new_digest(plan: dict[str, Any]) -> None:
    definitions = containers(plan)
    definitions[0]["image"] = definitions[0]["image"].rsplit("@", 1)[0] + "@sha256:" + "9" * 64
    set_containers(plan, definitions)


def aws_filled_defaults(plan: dict[str, Any]) -> None:
    """What AWS hands back for the same containers: cpu and empty lists left out, tcp implied."""
    definitions = containers(plan)
    for container in definitions:
        container.pop("cpu", None)
        container.pop("volumesFrom", None)
        container.pop("systemControls", None)
        for mapping in container["portMappings"]:
            mapping.pop("protocol", None)
        container["environment"].reverse()
    set_containers(plan, definitions)


def more_workers(plan: dict[str, Any]) -> None:
    definitions = containers(plan)
    next(e for e in definitions[0]["environment"] if e["name"] == "NOTES_WORKERS")["value"] = "4"
    set_containers(plan, definitions)


def risky(plan: dict[str, Any]) -> None:
    """The README's example: several approvals at once, and things that deserve a look."""
    docdb = inputs(plan, "prod-docdb-cluster")
    docdb["kmsKeyId"] = docdb["kmsKeyId"].replace("a41b9d0e", "5e11ab1e")
    inputs(plan, "prod-network-endpoints-in-https-vpc")["cidrIpv4"] = "0.0.0.0/0"
    resource(plan, "prod-redis-group")["protect"] = False
    next(r for r in inputs(plan, "prod-edge-web-acl")["rules"] if r["name"] == "rate-limit-auth")[
        "action"
    ] = {"count": {}}
    inputs(plan, "prod-alb-https-origin")["conditions"] = [{"pathPattern": {"values": ["/*"]}}]
    new_digest(plan)
    more_workers(plan)
    aws_filled_defaults(plan)
    inputs(plan, "prod-api-scaling-target")["maxCapacity"] = 6
