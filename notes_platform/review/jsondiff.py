"""Inputs that are JSON in a string (ECS container definitions, IAM and key policies, the
dashboard body) diffed as data, so a reviewer reads ``api.environment.NOTES_WORKERS: "2" -> "4"``
instead of two 3,000-character strings.

Container definitions are reduced first the way terraform-provider-aws compares them
(``internal/service/ecs/container_definitions.go``, ``containerDefinitions.reduce``: containers,
environment and secrets ordered by name; ``essential`` true, health check interval 30 / retries 3 /
timeout 5, port protocol ``tcp`` and, in awsvpc mode, hostPort = containerPort when left out;
empty lists dropped), plus ``cpu: 0``, which ECS also fills in (pulumi/pulumi-aws#4576 and #1985:
``cpu=0, mountPoints=[], volumesFrom=[]`` in the state but not in the program). What differs only
by those defaults is a perma-diff, shown as "no real change".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer

from notes_platform.review import redact

# Health-check values ECS fills in (terraform-provider-aws container_definitions.go, reduce()).
HEALTH_CHECK_DEFAULTS = {"interval": 30, "retries": 3, "timeout": 5}
# Lists keyed by their members' ``name``, so a diff names the variable rather than its index.
KEYED_BY_NAME = ("environment", "secrets", "ulimits", "systemControls")


def parse_json_string(value: Any) -> Any | None:
    """The data in a JSON-string input, or None when it is not a JSON object or list."""
    if not isinstance(value, str) or value[:1] not in ("{", "["):
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, (dict, list)) else None


def _keyed(items: list[Any]) -> dict[str, Any] | list[Any]:
    if all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return {i["name"]: {k: v for k, v in i.items() if k != "name"} for i in items}
    return items


def _reduce_container(container: dict[str, Any], awsvpc: bool) -> dict[str, Any]:
    reduced = {k: v for k, v in container.items() if v != [] and v is not None}
    reduced.setdefault("essential", True)
    if reduced.get("cpu") == 0:
        del reduced["cpu"]
    if isinstance(reduced.get("healthCheck"), dict):
        reduced["healthCheck"] = {**HEALTH_CHECK_DEFAULTS, **reduced["healthCheck"]}
    ports = []
    for mapping in reduced.get("portMappings", []):
        port = {k: v for k, v in mapping.items() if not (k == "protocol" and v == "tcp")}
        if not port.get("hostPort"):
            port.pop("hostPort", None)
            if awsvpc and "containerPort" in port:
                port["hostPort"] = port["containerPort"]
        ports.append(port)
    if ports:
        reduced["portMappings"] = ports
    for key in KEYED_BY_NAME:
        if isinstance(reduced.get(key), list):
            reduced[key] = _keyed(reduced[key])
    return reduced


def reduce_container_definitions(definitions: Any, *, awsvpc: bool = True) -> Any:
    """Container definitions keyed by container name with AWS-filled defaults normalised."""
    if not isinstance(definitions, list):
        return definitions
    containers = [_reduce_container(c, awsvpc) if isinstance(c, dict) else c for c in definitions]
    return _keyed(containers)


_DONE = {"add": "added", "remove": "removed", "replace": "changed"}


@dataclass(frozen=True)
class Edit:
    op: str  # add | remove | replace
    path: str  # dotted: api.environment.NOTES_WORKERS
    old: Any
    new: Any

    def line(self, secret_env: bool = False) -> str:
        sign = {"add": "+", "remove": "-", "replace": "~"}[self.op]
        if secret_env:
            return f"{sign} {self.path}: [secret] ({_DONE[self.op]})"
        if self.op == "add":
            return f"{sign} {self.path}: {redact.show(self.path, self.new)}"
        if self.op == "remove":
            return f"{sign} {self.path}: {redact.show(self.path, self.old)}"
        return f"{sign} {redact.change(self.path, self.old, self.new)}"


def _dotted(pointer: str) -> str:
    parts = jsonpointer.JsonPointer(pointer).parts
    return ".".join(parts) if parts else "(whole document)"


def edits(old: Any, new: Any) -> list[Edit]:
    """The edits from ``old`` to ``new`` (RFC 6902, by the jsonpatch library), with old values."""
    found: list[Edit] = []
    for operation in jsonpatch.make_patch(old, new):
        op, pointer = operation["op"], operation["path"]
        if op in {"move", "copy"}:  # jsonpatch may express a rename as a move
            source = operation["from"]
            found.append(
                Edit("remove", _dotted(source), jsonpointer.resolve_pointer(old, source, None), None)
            )
            found.append(Edit("add", _dotted(pointer), None, jsonpointer.resolve_pointer(new, pointer, None)))
            continue
        before = jsonpointer.resolve_pointer(old, pointer, None) if op != "add" else None
        found.append(Edit(op, _dotted(pointer), before, operation.get("value")))
    return found


def env_is_secret(path: str) -> bool:
    """A path to an environment variable whose name looks like it holds a secret."""
    parts = path.split(".")
    return "environment" in parts[:-1] and any(
        redact.secret_env(p) for p in parts[parts.index("environment") + 1 :]
    )


@dataclass(frozen=True)
class JsonChange:
    key: str
    edits: tuple[Edit, ...]  # empty: only AWS-filled defaults differ (a perma-diff)
    raw_differs: bool

    def lines(self) -> list[str]:
        return [e.line(secret_env=env_is_secret(e.path)) for e in self.edits]


def diff_json_input(
    key: str, old: Any, new: Any, *, container_definitions: bool = False
) -> JsonChange | None:
    """The data diff of a JSON-string input, or None when either side is not JSON."""
    before, after = parse_json_string(old), parse_json_string(new)
    if before is None or after is None:
        return None
    if container_definitions:
        before, after = reduce_container_definitions(before), reduce_container_definitions(after)
    return JsonChange(key=key, edits=tuple(edits(before, after)), raw_differs=old != new)
