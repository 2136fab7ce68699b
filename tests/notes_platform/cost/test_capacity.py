"""The capacity question: tasks for a traffic at the CPU target, what the request-count policy asks
for, whether serviceMaxCount carries it, and the month's cost at that traffic; and the command."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from notes_platform.cli import main
from notes_platform.cost.capacity import (
    Benchmark,
    Scaling,
    capacity,
    default_rps_per_task,
    policy_tasks_for,
    tasks_for,
    verdict,
)
from notes_platform.cost.context import SECONDS_PER_MONTH
from notes_platform.cost.model import estimate
from notes_platform.cost.usage import load_usage
from notes_platform.graph.plan import Plan

PROD_SCALING = Scaling(min_count=3, max_count=12, cpu_target_percent=60, requests_per_target=1000)


@pytest.mark.parametrize(
    ("traffic", "rps_per_task", "tasks", "policy", "carried"),
    [
        # 1,000 / (1,000 x 60%) = 1.67 -> 2, below min_count 3
        (1_000, Decimal(1000), 3, 60, True),
        # 10,000 / 600 = 16.7 -> 17 tasks: more than max_count 12
        (10_000, Decimal(1000), 17, 600, False),
        # 10,000 / (3,256 x 60%) = 5.1 -> 6 tasks
        (10_000, Decimal(3256), 6, 600, True),
        (100_000, Decimal(3256), 52, 6000, False),
    ],
)
def test_tasks_for_a_traffic_at_the_cpu_target(
    traffic: int, rps_per_task: Decimal, tasks: int, policy: int, carried: bool
) -> None:
    # GIVEN prod's scaling and what one task sustains / WHEN asked for a traffic
    # THEN the tasks, the request-count policy's ask (requests x 60 s / 1,000 per target) and the verdict
    assert tasks_for(traffic, rps_per_task, PROD_SCALING) == tasks
    assert policy_tasks_for(traffic, PROD_SCALING) == policy
    assert ("does NOT carry it" not in verdict(traffic, rps_per_task, PROD_SCALING)[0]) is carried


def test_the_verdict_names_a_request_target_that_outruns_cpu() -> None:
    # GIVEN a request target of 1,000/min (16.7 req/s a task) and tasks that sustain 3,256 req/s
    lines = verdict(10_000, Decimal(3256), PROD_SCALING)
    # THEN the check says max_count carries the traffic, and that the request policy pins it at max
    assert lines[0] == (
        "at 10,000 req/s: 6 tasks at 60% CPU; serviceMaxCount 12 carries it (it carries about 23,443 req/s)"
    )
    assert "asks for 600 tasks, pinned at serviceMaxCount 12" in lines[1]
    # and a target in step with the tasks' capacity draws no such line (clean case)
    in_step = Scaling(min_count=3, max_count=12, cpu_target_percent=60, requests_per_target=120_000)
    assert len(verdict(10_000, Decimal(3256), in_step)) == 1


def test_capacity_rows_price_the_stack_at_that_traffic(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan and usage / WHEN the capacity table is built for 10k req/s
    resources, usage = plans["prod"].resources, load_usage("prod")
    (row,) = capacity(resources, "prod", usage, PROD_SCALING, Decimal(3256), [10_000])
    # THEN its cost is the estimate with that month of requests and those tasks
    at_traffic = usage.model_copy(
        update={"requests_per_month": int(10_000 * SECONDS_PER_MONTH), "average_tasks": Decimal(6)}
    )
    assert (row.tasks, row.policy_tasks, row.carried) == (6, 600, True)
    assert row.monthly == estimate(resources, "prod", at_traffic).total
    assert row.monthly > estimate(resources, "prod", usage).total


def test_the_default_per_task_figure_is_the_benchmark_row_per_vcpu(plans: dict[str, Plan]) -> None:
    # prod's tasks have 1 vCPU, staging's 0.25: the benchmark's one worker on one core, scaled
    assert Benchmark().rps_per_vcpu == Decimal(3256)
    assert default_rps_per_task(plans["prod"].resources) == Decimal(3256)
    assert default_rps_per_task(plans["staging"].resources) == Decimal(814)


def test_cost_command_prints_lines_total_source_and_capacity(capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN `notes-platform cost prod --traffic 10000 --json` runs
    assert main(["cost", "prod", "--traffic", "10000", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    # THEN the estimate carries its lines, total, assumptions and the prices' source and date
    estimated = answer["estimate"]
    assert Decimal(estimated["total_usd"]) > 0 and estimated["lines"]
    assert estimated["prices_date"] and "prices/eu-west-1.json" in estimated["prices_source"]
    assert any(item.startswith("requests_per_month = 500,000,000") for item in estimated["assumptions"])
    # and the capacity table holds 1k, 10k and 100k req/s with the check of the autoscaling
    assert [row["traffic"] for row in answer["capacity"]["rows"]] == [1_000, 10_000, 100_000]
    assert answer["capacity"]["benchmark"]["date"] == "2026-11-22"
    assert "serviceMaxCount 12 carries it" in answer["capacity"]["verdict"][0]


def test_cost_command_refuses_a_bad_usage_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a usage file with an unknown key / WHEN cost runs with it / THEN exit 2 naming file and key
    bad = tmp_path / "usage.yaml"
    bad.write_text("requests_per_day: 5\n")
    assert main(["cost", "staging", "--usage", str(bad)]) == 2
    assert f"{bad}: requests_per_day: Extra inputs are not permitted" in capsys.readouterr().err
