"""The dashboard's rows for note exports: the queue the API fills, its dead-letter queue and the
worker service, charting what ``infra.observability.worker_alarms`` watches and what explains it.

Plain data, as ``dashboard_body`` is: ``worker_rows`` takes resolved values and returns widgets
in the shape ``dashboard`` builds its own (``type`` and ``properties``, placed by its
``_layout``). Every metric is checked against ``infra.observability.metrics_catalog`` as the line
is built. This module imports no Pulumi and nothing of ``dashboard``, which imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.observability.metrics_catalog import CONTAINER_INSIGHTS, ECS, SQS, check

PERIOD_SECONDS = 60


@dataclass(frozen=True)
class WorkerWidgetValues:
    """What the export rows show, as plain values (the dashboard resolves its outputs first)."""

    region: str
    queue_name: str
    dlq_name: str
    cluster_name: str
    # The worker's ECS service.
    service_name: str
    # Where the oldest-message alarm fires, drawn as a line on its chart. Default None: no line.
    oldest_message_alarm_seconds: int | None = None


def _line(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list[Any]:
    """One metric line: [namespace, name, dim, value, ..., {options}], as ``dashboard.metric``."""
    check(namespace, name, frozenset(dimensions))
    line: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        line += [key, value]
    if options:
        line.append(options)
    return line


def _graph(
    title: str,
    region: str,
    metrics: list[list[Any]],
    *,
    stat: str,
    y_label: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": PERIOD_SECONDS,
        "metrics": metrics,
        **extra,
    }
    if y_label:
        properties["yAxis"] = {"left": {"label": y_label, "showUnits": False}}
    return {"type": "metric", "properties": properties}


def _queues(v: WorkerWidgetValues) -> list[dict[str, Any]]:
    queue, dlq = {"QueueName": v.queue_name}, {"QueueName": v.dlq_name}
    age: dict[str, Any] = {}
    if v.oldest_message_alarm_seconds is not None:
        # A horizontal annotation: "Dashboard Body Structure and Syntax", properties of a metric
        # widget object (CloudWatch API Reference).
        age["annotations"] = {"horizontal": [{"label": "alarm", "value": v.oldest_message_alarm_seconds}]}
    return [
        _graph(
            "Exports: requests waiting and in progress",
            v.region,
            [
                # Visible: waiting for a worker. Not visible: received, its export running.
                _line(SQS, "ApproximateNumberOfMessagesVisible", queue, label="waiting"),
                _line(SQS, "ApproximateNumberOfMessagesNotVisible", queue, label="in progress"),
            ],
            stat="Maximum",
        ),
        _graph(
            "Exports: oldest request waiting, seconds",
            v.region,
            [_line(SQS, "ApproximateAgeOfOldestMessage", queue, label="oldest")],
            stat="Maximum",
            y_label="seconds",
            **age,
        ),
        _graph(
            "Exports: failed for good (dead-letter queue)",
            v.region,
            [_line(SQS, "ApproximateNumberOfMessagesVisible", dlq, label="in the dead-letter queue")],
            stat="Maximum",
        ),
    ]


def _worker(v: WorkerWidgetValues) -> list[dict[str, Any]]:
    queue = {"QueueName": v.queue_name}
    service = {"ClusterName": v.cluster_name, "ServiceName": v.service_name}
    return [
        _graph(
            "Exports: requested and finished per minute",
            v.region,
            [
                _line(SQS, "NumberOfMessagesSent", queue, label="requested"),
                # The worker deletes a message only after its export succeeded.
                _line(SQS, "NumberOfMessagesDeleted", queue, label="finished"),
            ],
            stat="Sum",
        ),
        _graph(
            "Worker: tasks running, desired and pending",
            v.region,
            [
                _line(CONTAINER_INSIGHTS, "DesiredTaskCount", service, label="desired"),
                _line(CONTAINER_INSIGHTS, "RunningTaskCount", service, label="running"),
                _line(CONTAINER_INSIGHTS, "PendingTaskCount", service, label="pending"),
            ],
            stat="Average",
        ),
        _graph(
            "Worker saturation: CPU and memory, %",
            v.region,
            [
                _line(ECS, "CPUUtilization", service, stat="Average", label="CPU average"),
                _line(ECS, "CPUUtilization", service, stat="Maximum", label="CPU busiest task"),
                _line(ECS, "MemoryUtilization", service, stat="Average", label="memory average"),
                _line(ECS, "MemoryUtilization", service, stat="Maximum", label="memory fullest task"),
            ],
            stat="Average",
            y_label="%",
        ),
    ]


def worker_rows(v: WorkerWidgetValues) -> list[list[dict[str, Any]]]:
    """Two rows of three: the queues (depth, oldest request, dead letters), then throughput and
    the worker service (tasks, CPU and memory)."""
    return [_queues(v), _worker(v)]


def worker_widgets(v: WorkerWidgetValues) -> list[dict[str, Any]]:
    """The same widgets, unplaced, in one list."""
    return [widget for row in worker_rows(v) for widget in row]
