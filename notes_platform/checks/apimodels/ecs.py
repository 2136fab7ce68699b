"""ECS task definitions -> ecs RegisterTaskDefinition.

``containerDefinitions`` is a JSON string in AWS's own (camelCase) form, so it is walked as
written. The provider decodes it with Go's JSON package, which drops members it does not know:
a misspelt ``portMapping`` would vanish without an error at deploy time, which is why unknown
members are findings here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infra.fargate import FARGATE_SIZES, MAX_STOP_TIMEOUT_SECONDS
from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
    decoded,
    json_document,
    name_value_list,
    tag_list,
)
from notes_platform.checks.apimodels._shapes import (
    IGNORE,
    At,
    Family,
    Report,
    Rule,
    Translation,
    is_number,
    items,
    unknown,
)

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

TRANSLATION = Translation(
    rules={
        "RegisterTaskDefinitionRequest": {
            **PROVIDER_ONLY,
            "containerDefinitions": Rule("containerDefinitions", json_document),
            "tags": Rule("tags", tag_list),
            # The provider's own lifecycle switches.
            "skipDestroy": IGNORE,
            "trackLatest": IGNORE,
        },
        "Volume": {
            "hostPath": Rule("host", lambda value, path: {"sourcePath": At(path, value)}),
            "configureAtLaunch": Rule("configuredAtLaunch"),
        },
        "ProxyConfiguration": {"properties": Rule("properties", name_value_list)},
        "EphemeralStorage": {"sizeInGib": Rule("sizeInGiB")},
    },
    # The ContainerDefinition reference marks both "Required: Yes"; the model does not.
    required={"ContainerDefinition": frozenset({"name", "image"})},
    # Stated in each HealthCheck member's documentation ("You may specify between 5 and 300").
    bounds={
        ("HealthCheck", "interval"): (5, 300),
        ("HealthCheck", "timeout"): (2, 60),
        ("HealthCheck", "retries"): (1, 10),
        ("HealthCheck", "startPeriod"): (0, 300),
    },
)


def _units(value: Any, path: str, report: Report, *, unit: str, scaled: str) -> int | None:
    """Task cpu ("256" or "0.25 vCPU") in CPU units, task memory ("512" or "0.5 GB") in MiB."""
    if value is None or unknown(value):
        return None
    text = str(value).strip()
    match = re.fullmatch(rf"(\d+(?:\.\d+)?)\s*({scaled})?", text, re.IGNORECASE)
    if match is None:
        report(path, f"value {text!r} is neither a number of {unit} nor a number of {scaled}")
        return None
    number = float(match.group(1))
    return round(number * 1024) if match.group(2) else round(number)


def _containers(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in items(decoded(inputs.get("containerDefinitions"))) if isinstance(c, dict)]


def _number(value: Any) -> int | None:
    return int(value) if is_number(value) else None


def _task(inputs: Mapping[str, Any], report: Report) -> None:
    compatibilities = inputs.get("requiresCompatibilities")
    fargate = isinstance(compatibilities, list) and "FARGATE" in compatibilities
    cpu = _units(inputs.get("cpu"), "cpu", report, unit="CPU units", scaled="vCPU")
    memory = _units(inputs.get("memory"), "memory", report, unit="MiB", scaled="GB")
    containers = _containers(inputs)
    if fargate:
        _fargate(inputs, cpu, memory, containers, report)
    if containers and not any(c.get("essential", True) is not False for c in containers):
        report("containerDefinitions", "at least one container must be essential")
    if cpu is not None:
        reserved = sum(_number(c.get("cpu")) or 0 for c in containers)
        if reserved > cpu:
            report(
                "containerDefinitions", f"containers reserve {reserved} CPU units, more than the task's {cpu}"
            )
    reserved_memory = 0
    for index, container in enumerate(containers):
        where = f"containerDefinitions[{index}]"
        hard, soft = _number(container.get("memory")), _number(container.get("memoryReservation"))
        if hard is not None and soft is not None and soft >= hard:
            report(
                f"{where}.memoryReservation", f"{soft} MiB must be lower than the container's memory {hard}"
            )
        if inputs.get("memory") is None and hard is None and soft is None:
            report(where, "without a task-level memory, each container needs memory or memoryReservation")
        if memory is not None and hard is not None and hard > memory:
            report(f"{where}.memory", f"{hard} MiB is more than the task's memory {memory}")
        reserved_memory += soft if soft is not None else hard or 0
        if inputs.get("networkMode") == "awsvpc":
            _awsvpc_ports(container, where, report)
    if memory is not None and reserved_memory > memory:
        report(
            "containerDefinitions", f"containers reserve {reserved_memory} MiB, more than the task's {memory}"
        )


def _fargate(
    inputs: Mapping[str, Any],
    cpu: int | None,
    memory: int | None,
    containers: list[dict[str, Any]],
    report: Report,
) -> None:
    if inputs.get("networkMode") != "awsvpc" and not unknown(inputs.get("networkMode")):
        report("networkMode", f"Fargate tasks need networkMode 'awsvpc', got {inputs.get('networkMode')!r}")
    for name, value in (("cpu", cpu), ("memory", memory)):
        if value is None and not unknown(inputs.get(name)):
            report(name, f"Fargate tasks need a task-level {name}")
    if cpu is not None and memory is not None:
        offered = FARGATE_SIZES.get(cpu)
        if offered is None:
            sizes = ", ".join(str(c) for c in FARGATE_SIZES)
            report("cpu", f"{cpu} CPU units is not a Fargate task size; Fargate offers {sizes}")
        elif memory not in offered:
            report(
                "memory",
                f"{memory} MiB does not go with {cpu} CPU units on Fargate; "
                f"it offers {', '.join(str(m) for m in offered)} MiB",
            )
    for index, container in enumerate(containers):
        stop = _number(container.get("stopTimeout"))
        if stop is not None and stop > MAX_STOP_TIMEOUT_SECONDS:
            report(
                f"containerDefinitions[{index}].stopTimeout",
                f"{stop} is above the maximum {MAX_STOP_TIMEOUT_SECONDS} on Fargate",
            )


def _awsvpc_ports(container: Mapping[str, Any], where: str, report: Report) -> None:
    # RegisterTaskDefinition: with awsvpc, hostPort is left out or equals containerPort.
    mappings = container.get("portMappings")
    for index, mapping in enumerate(items(mappings)):
        if not isinstance(mapping, dict):
            continue
        host, port = mapping.get("hostPort"), mapping.get("containerPort")
        if host is not None and port is not None and host != port:
            report(
                f"{where}.portMappings[{index}].hostPort",
                f"{host} differs from containerPort {port}; with awsvpc they must be equal",
            )


FAMILY = Family(
    title="ECS task definition",
    types=(TASK_DEFINITION,),
    service="ecs",
    operation="RegisterTaskDefinition",
    translation=TRANSLATION,
    semantic=_task,
)
