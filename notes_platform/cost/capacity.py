"""The capacity question: for a target traffic, how many tasks, at what monthly cost, and can the
stack's autoscaling (``serviceMaxCount``, ``serviceRequestsPerTarget``) carry it.

What one task sustains is an input (``--rps-per-task``); its default comes from the README's
benchmark, scaled by the task's vCPU, and the table says which row and which date.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from notes_platform.cost.context import SECONDS_PER_MONTH, Context
from notes_platform.cost.model import estimate
from notes_platform.cost.pricers import is_worker, task_definition
from notes_platform.cost.usage import Usage

if TYPE_CHECKING:
    from notes_platform.graph.mocks import Recorded

TRAFFIC_LEVELS = (1_000, 10_000, 100_000)
# Target tracking on ALBRequestCountPerTarget holds each target's requests per minute at the target
# value (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-autoscaling-targettracking.html).
SECONDS_PER_TARGET_PERIOD = 60


@dataclass(frozen=True)
class Benchmark:
    """What one worker process sustained on one core in ``make bench``: the README's Benchmark
    table, row ``GET /api/v1/notes (cached first page, 12 KB)``, measured 2026-11-22 (1 worker;
    2 cores shared by wrk, the server, Redis and SecantusDB). A cached read, so an upper bound
    for a mix with writes (the POST row did 543 req/s)."""

    rps_per_vcpu: Decimal = Decimal(3256)
    row: str = "GET /api/v1/notes (cached first page, 12 KB)"
    date: str = "2026-11-22"
    source: str = "README.md, Benchmark (`python -m bench.run --workers 1,2`, 1 worker)"


@dataclass(frozen=True)
class Scaling:
    """The stack's autoscaling, from its config (``service*`` keys)."""

    min_count: int
    max_count: int
    cpu_target_percent: int
    requests_per_target: int  # per target per minute


@dataclass(frozen=True)
class CapacityRow:
    traffic: int  # requests per second, sustained all month
    tasks: int  # tasks that carry it at the CPU target
    policy_tasks: int  # what the request-count policy asks for (before max_count)
    carried: bool  # max_count >= tasks
    monthly: Decimal  # the stack's estimate with that traffic and those tasks


def task_vcpu(resources: Sequence[Recorded]) -> Decimal:
    context = Context(resources=resources, usage=Usage(), by_urn={r.urn: r for r in resources})
    # The API's service: the export worker's does not serve requests.
    services = [s for s in context.of_type("aws:ecs/service:Service") if not is_worker(s)]
    definition = task_definition(context, services[0]) if services else None
    return Decimal(str(definition.inputs.get("cpu", 1024))) / 1024 if definition else Decimal(1)


def default_rps_per_task(resources: Sequence[Recorded], benchmark: Benchmark = Benchmark()) -> Decimal:
    # One worker is one process on one core, so a task sustains its vCPU's share of that figure.
    return benchmark.rps_per_vcpu * task_vcpu(resources)


def tasks_for(traffic: int, rps_per_task: Decimal, scaling: Scaling) -> int:
    usable = rps_per_task * scaling.cpu_target_percent / 100
    return max(scaling.min_count, math.ceil(Decimal(traffic) / usable))


def policy_tasks_for(traffic: int, scaling: Scaling) -> int:
    return math.ceil(Decimal(traffic) * SECONDS_PER_TARGET_PERIOD / scaling.requests_per_target)


def capacity(
    resources: Sequence[Recorded],
    stack: str,
    usage: Usage,
    scaling: Scaling,
    rps_per_task: Decimal,
    levels: Sequence[int] = TRAFFIC_LEVELS,
) -> list[CapacityRow]:
    rows = []
    for traffic in levels:
        tasks = tasks_for(traffic, rps_per_task, scaling)
        at_traffic = usage.model_copy(
            update={"requests_per_month": int(traffic * SECONDS_PER_MONTH), "average_tasks": Decimal(tasks)}
        )
        rows.append(
            CapacityRow(
                traffic=traffic,
                tasks=tasks,
                policy_tasks=policy_tasks_for(traffic, scaling),
                carried=tasks <= scaling.max_count,
                monthly=estimate(resources, stack, at_traffic).total,
            )
        )
    return rows


def verdict(traffic: int, rps_per_task: Decimal, scaling: Scaling) -> list[str]:
    """What the stack's autoscaling does at ``traffic``, in sentences."""
    tasks = tasks_for(traffic, rps_per_task, scaling)
    ceiling = int(scaling.max_count * rps_per_task * scaling.cpu_target_percent / 100)
    lines = [
        f"at {traffic:,} req/s: {tasks} tasks at {scaling.cpu_target_percent}% CPU; serviceMaxCount "
        f"{scaling.max_count} {'carries it' if tasks <= scaling.max_count else 'does NOT carry it'} "
        f"(it carries about {ceiling:,} req/s)"
    ]
    policy = policy_tasks_for(traffic, scaling)
    per_task = Decimal(scaling.requests_per_target) / SECONDS_PER_TARGET_PERIOD
    if policy > tasks:
        pinned = (
            f"pinned at serviceMaxCount {scaling.max_count}"
            if policy > scaling.max_count
            else "more than needed"
        )
        lines.append(
            f"serviceRequestsPerTarget {scaling.requests_per_target}/min ({per_task:.1f} req/s a task) "
            f"asks for {policy} tasks, {pinned}: the request-count policy, not CPU, decides the task count "
            f"(a task sustains about {int(rps_per_task):,} req/s)"
        )
    return lines
