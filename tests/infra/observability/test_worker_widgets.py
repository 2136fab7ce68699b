"""The export rows of the dashboard: every line is a metric AWS publishes for the exports queue,
its dead-letter queue or the worker service; together they chart what the worker alarms watch;
the widgets have the dashboard's own shape and fit its grid."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.observability.dashboard import GRID_WIDTH, _layout, dashboard_body
from infra.observability.metrics_catalog import published
from infra.observability.worker_widgets import WorkerWidgetValues, _line, worker_rows, worker_widgets
from tests.infra.observability.stack import REGION
from tests.infra.observability.test_dashboard import metric_lines, metric_widgets, values

QUEUE, DLQ = "notes-prod-exports", "notes-prod-exports-dlq"
CLUSTER, WORKER = "notes-prod", "notes-prod-worker"


def worker_values(**overrides: object) -> WorkerWidgetValues:
    base = WorkerWidgetValues(
        region=REGION,
        queue_name=QUEUE,
        dlq_name=DLQ,
        cluster_name=CLUSTER,
        service_name=WORKER,
        oldest_message_alarm_seconds=900,
    )
    return replace(base, **overrides)


def lines_of(title_start: str) -> list[tuple[str, str, dict[str, str], dict[str, object]]]:
    body = {"widgets": worker_widgets(worker_values())}
    [widget] = [w for w in metric_widgets(body) if w["properties"]["title"].startswith(title_start)]
    return metric_lines(widget)


def test_every_export_line_is_published_for_the_resource_it_names() -> None:
    names = {"QueueName": {QUEUE, DLQ}, "ClusterName": {CLUSTER}, "ServiceName": {WORKER}}
    widgets = worker_widgets(worker_values())
    assert len(widgets) == 6
    for widget in widgets:
        title = widget["properties"]["title"]
        # GIVEN each widget WHEN its lines are read THEN each one is a metric AWS publishes
        for namespace, name, dimensions, _ in metric_lines(widget):
            assert published(namespace, name, frozenset(dimensions)), f"{title}: {namespace} {name}"
            # ... for the exports' own queues and the worker, never the API's service
            for key, value in dimensions.items():
                assert value in names[key], f"{title}: {key}={value}"
        assert widget["properties"]["region"] == REGION, title


def test_the_rows_chart_what_the_worker_alarms_watch() -> None:
    # THEN the queue's waiting and in-flight messages and its oldest message, on the queue
    depth = {(n, d["QueueName"]) for _, n, d, _ in lines_of("Exports: requests waiting")}
    assert depth == {
        ("ApproximateNumberOfMessagesVisible", QUEUE),
        ("ApproximateNumberOfMessagesNotVisible", QUEUE),
    }
    assert [(n, d) for _, n, d, _ in lines_of("Exports: oldest")] == [
        ("ApproximateAgeOfOldestMessage", {"QueueName": QUEUE})
    ]
    # AND the dead-letter queue's messages, on the dead-letter queue
    assert [(n, d) for _, n, d, _ in lines_of("Exports: failed")] == [
        ("ApproximateNumberOfMessagesVisible", {"QueueName": DLQ})
    ]
    # AND the worker's running against desired tasks, and its CPU and memory
    service = {"ClusterName": CLUSTER, "ServiceName": WORKER}
    tasks = {n for _, n, d, _ in lines_of("Worker: tasks") if d == service}
    assert {"RunningTaskCount", "DesiredTaskCount"} <= tasks
    saturation = {(ns, n) for ns, n, d, _ in lines_of("Worker saturation") if d == service}
    assert saturation == {("AWS/ECS", "CPUUtilization"), ("AWS/ECS", "MemoryUtilization")}


def test_the_oldest_message_chart_draws_the_alarm_threshold_only_when_given() -> None:
    def age_widget(v: WorkerWidgetValues) -> dict[str, object]:
        [w] = [w for w in worker_widgets(v) if w["properties"]["title"].startswith("Exports: oldest")]
        return w["properties"]

    assert age_widget(worker_values())["annotations"] == {"horizontal": [{"label": "alarm", "value": 900}]}
    assert "annotations" not in age_widget(worker_values(oldest_message_alarm_seconds=None))


def test_export_widgets_have_the_dashboards_own_shape_and_fit_its_grid() -> None:
    # GIVEN a widget the dashboard builds itself and the export widgets
    own = metric_widgets(dashboard_body(values()))[0]
    for widget in worker_widgets(worker_values()):
        # THEN each carries the same keys (its chart-specific extras aside)
        assert set(widget) == set(own) - {"x", "y", "width", "height"}
        assert set(own["properties"]) - {"yAxis"} <= set(widget["properties"])
    # AND placed as two rows by the dashboard's layout, they fill the width without overlapping
    placed = _layout(worker_rows(worker_values()))
    cells: set[tuple[int, int]] = set()
    for widget in placed:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x + width <= GRID_WIDTH, widget["properties"]["title"]
        area = {(c, r) for c in range(x, x + width) for r in range(y, y + height)}
        assert not area & cells, widget["properties"]["title"]
        cells |= area
    assert len({w["y"] for w in placed}) == 2


def test_a_line_the_catalog_does_not_know_is_refused_as_the_widget_is_built() -> None:
    # GIVEN lines a typo or a wrong dimension would make WHEN built THEN refused, naming the metric
    with pytest.raises(ValueError, match=r"AWS/SQS publishes no metric 'NumberOfMessagesMoved'"):
        _line("AWS/SQS", "NumberOfMessagesMoved", {"QueueName": QUEUE})
    with pytest.raises(ValueError, match=r"AWS/ECS CPUUtilization is not published with dimensions"):
        _line("AWS/ECS", "CPUUtilization", {"QueueName": QUEUE})
