"""The dashboard: its body charts only metrics AWS publishes, for the stack's own resources,
and fits the grid; the export rows come with a worker; the component refuses what the body
cannot show and links to the console."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.observability.dashboard import (
    GRID_WIDTH,
    DashboardArgs,
    DashboardValues,
    dashboard_body,
    dashboard_url,
)
from infra.observability.dashboard import Dashboard as DashboardComponent
from infra.observability.metrics_catalog import CATALOG, GLOBAL_REGION, published
from infra.observability.worker_widgets import WorkerWidgetValues, worker_widgets
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.harness import Graph, run
from tests.infra.observability.stack import (
    ALB_SUFFIX,
    PROD,
    REGION,
    TARGET_GROUP_SUFFIX,
    cache_ids,
    docdb_ids,
)
from tests.type_tokens import DASHBOARD, METRIC_ALARM

WORKER = WorkerWidgetValues(
    region=REGION,
    queue_name="notes-prod-exports",
    dlq_name="notes-prod-exports-dlq",
    cluster_name="notes-prod",
    service_name="notes-prod-worker",
    oldest_message_alarm_seconds=900,
)


def values(**overrides: Any) -> DashboardValues:
    base: dict[str, Any] = {
        "region": REGION,
        "alb_arn_suffix": ALB_SUFFIX.format(env="prod"),
        "target_group_arn_suffix": TARGET_GROUP_SUFFIX.format(env="prod"),
        "cluster_name": "notes-prod",
        "service_name": "notes-prod-api",
        "docdb_instance_ids": docdb_ids("prod", 3),
        "cache_cluster_ids": cache_ids("prod", 3),
        "alarm_arns": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:notes-prod-a{n}" for n in range(3)],
        "web_acl_name": "notes-prod-edge",
        "distribution_id": "E2EXAMPLE",
        **overrides,
    }
    return DashboardValues(**base)


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "metric"]


def metric_lines(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, name, dimensions, options) of each metric line; expressions left out."""
    lines = []
    for line in widget["properties"]["metrics"]:
        if isinstance(line[0], dict):
            continue
        options = line[-1] if isinstance(line[-1], dict) else {}
        names_and_values = line[2:-1] if options else line[2:]
        dimensions = dict(zip(names_and_values[::2], names_and_values[1::2], strict=True))
        lines.append((line[0], line[1], dimensions, options))
    return lines


def test_every_dashboard_metric_is_published_for_the_resources_it_names() -> None:
    # GIVEN the ECS dashboard with the export worker, and the EKS one
    v = values(worker=WORKER)
    resources = {
        "LoadBalancer": {v.alb_arn_suffix},
        "TargetGroup": {v.target_group_arn_suffix},
        "ClusterName": {v.cluster_name},
        "ServiceName": {v.service_name, WORKER.service_name},
        "QueueName": {WORKER.queue_name, WORKER.dlq_name},
        "DBInstanceIdentifier": set(v.docdb_instance_ids),
        "CacheClusterId": set(v.cache_cluster_ids),
        "WebACL": {v.web_acl_name},
        "Rule": {"ALL"},
        "DistributionId": {v.distribution_id},
        "Region": {"Global"},
        # On EKS (compute: eks) the service row names the Kubernetes Service and its namespace.
        "Service": {v.service_name},
        "Namespace": {"notes"},
    }
    eks = dashboard_body(replace(v, kubernetes_namespace="notes", worker=None))
    seen = set()
    for widget in metric_widgets(dashboard_body(v)) + metric_widgets(eks):
        for namespace, name, dimensions, _ in metric_lines(widget):
            title = widget["properties"]["title"]
            assert published(namespace, name, frozenset(dimensions)), (
                f"{title}: {namespace} {name} {dimensions}"
            )
            for key, value in dimensions.items():
                assert value in resources[key], f"{title}: {key}={value} names no resource of the stack"
            seen.add(namespace)
    # THEN the dashboard, on ECS or on EKS, covers every namespace of the catalog but Lambda's: the
    # rotation functions run a few times a month and are alarmed on their errors, not charted
    assert seen == set(CATALOG) - {"AWS/Lambda"}


def test_the_export_rows_chart_the_stacks_queues_and_worker_only_when_a_worker_runs() -> None:
    # GIVEN the dashboard without a worker and with one
    without = dashboard_body(values())
    body = dashboard_body(values(worker=WORKER))
    titles = [w["properties"]["title"] for w in metric_widgets(body)]
    export_titles = [w["properties"]["title"] for w in worker_widgets(WORKER)]
    # THEN the export widgets are there, once each, after everything the dashboard showed before
    assert titles[-len(export_titles) :] == export_titles, titles
    assert not set(export_titles) & {w["properties"]["title"] for w in metric_widgets(without)}
    assert len(body["widgets"]) == len(without["widgets"]) + len(export_titles)
    # AND they name this stack's queue, dead-letter queue and worker service
    named: dict[str, set[str]] = {}
    for widget in metric_widgets(body)[-len(export_titles) :]:
        for _, _, dimensions, _ in metric_lines(widget):
            for key, value in dimensions.items():
                named.setdefault(key, set()).add(value)
    assert named == {
        "QueueName": {"notes-prod-exports", "notes-prod-exports-dlq"},
        "ClusterName": {"notes-prod"},
        "ServiceName": {"notes-prod-worker"},
    }
    # AND the rows sit below the others, on the grid, without overlapping them
    rows_before = {w["y"] for w in without["widgets"]}
    export_rows = {w["y"] for w in body["widgets"][-len(export_titles) :]}
    assert min(export_rows) > max(rows_before) and len(export_rows) == 2


def test_the_component_resolves_the_export_rows_from_outputs() -> None:
    # GIVEN the worker's names as Outputs, as the stack builds them
    def program() -> dict[str, Any]:
        dashboard = DashboardComponent(
            "prod-dashboard",
            DashboardArgs(
                environment="prod",
                region=REGION,
                alb_arn_suffix="app/x/1",
                target_group_arn_suffix="targetgroup/x/1",
                cluster_name="notes-prod",
                service_name="notes-prod-api",
                docdb_instance_ids=["notes-prod-docdb-1"],
                cache_cluster_ids=["notes-prod-redis-001"],
                worker=pulumi.Output.from_input("notes-prod-exports").apply(
                    lambda queue: replace(WORKER, queue_name=queue)
                ),
            ),
        )
        return {"url": dashboard.dashboard_url}

    graph = run(program)
    # WHEN the dashboard is planned THEN its body carries the export rows for those names
    body = json.loads(graph.one(DASHBOARD).inputs["dashboardBody"])
    titles = {w["properties"]["title"] for w in body["widgets"]}
    assert {w["properties"]["title"] for w in worker_widgets(WORKER)} <= titles
    assert "notes-prod-exports-dlq" in json.dumps(body)


def test_dashboard_expressions_use_only_ids_of_their_own_widget() -> None:
    for widget in metric_widgets(dashboard_body(values())):
        lines = widget["properties"]["metrics"]
        ids = {line[-1]["id"] for line in lines if isinstance(line[-1], dict) and "id" in line[-1]}
        for line in lines:
            if isinstance(line[0], dict):
                referenced = set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", line[0]["expression"]))
                assert referenced <= ids, f"{widget['properties']['title']}: {referenced - ids}"


def test_every_metric_widget_says_its_region_and_edge_metrics_read_us_east_1() -> None:
    for widget in metric_widgets(dashboard_body(values())):
        namespaces = {namespace for namespace, *_ in metric_lines(widget)}
        region = widget["properties"]["region"]
        if namespaces & {"AWS/CloudFront", "AWS/WAFV2"}:
            assert region == GLOBAL_REGION, widget["properties"]["title"]
        else:
            assert region == REGION, widget["properties"]["title"]


def test_dashboard_covers_traffic_errors_latency_saturation_and_waf() -> None:
    body = dashboard_body(values())
    titles = " | ".join(w["properties"]["title"] for w in body["widgets"])
    for section in (
        "Traffic",
        "Errors: 5xx rate",
        "Latency",
        "Service saturation",
        "Database saturation",
        "Cache saturation",
        "WAF",
        "Alarms",
    ):
        assert section in titles, titles
    latency = next(w for w in metric_widgets(body) if w["properties"]["title"].startswith("Latency"))
    assert {o["stat"] for *_, o in metric_lines(latency)} >= {"p50", "p90", "p99"}


def test_edge_widgets_appear_only_for_what_exists() -> None:
    body = dashboard_body(values(web_acl_name=None, distribution_id=None))
    namespaces = {line[0] for w in metric_widgets(body) for line in metric_lines(w)}
    assert not namespaces & {"AWS/CloudFront", "AWS/WAFV2"}
    # AND with one instance and one node there is no lag to chart
    single = dashboard_body(values(docdb_instance_ids=["notes-prod-docdb-1"], cache_cluster_ids=["c-001"]))
    names = {line[1] for w in metric_widgets(single) for line in metric_lines(w)}
    assert not names & {"DBInstanceReplicaLag", "ReplicationLag"}


def test_dashboard_widgets_fit_the_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard_body(values())["widgets"]:
        x, y, width, height = widget["x"], widget["y"], widget["width"], widget["height"]
        assert x + width <= GRID_WIDTH, widget["properties"]["title"]
        area = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        assert not area & cells, widget["properties"]["title"]
        cells |= area


def test_too_many_alarms_for_one_status_widget_are_refused() -> None:
    with pytest.raises(ValueError, match=r"101 alarms: an alarm status widget shows at most 100"):
        dashboard_body(values(alarm_arns=[f"arn:aws:cloudwatch:x:1:alarm:a{n}" for n in range(101)]))


def test_dashboard_component_refuses_what_the_body_cannot_show_before_anything_resolves() -> None:
    # GIVEN more alarms than a status widget shows / WHEN the component is built / THEN it fails
    # at construction, not later inside an apply
    args = DashboardArgs(
        environment="prod",
        region=REGION,
        alb_arn_suffix="app/x/1",
        target_group_arn_suffix="targetgroup/x/1",
        cluster_name="notes-prod",
        service_name="notes-prod-api",
        docdb_instance_ids=["notes-prod-docdb-1"],
        cache_cluster_ids=["notes-prod-redis-001"],
        alarm_arns=[f"arn:aws:cloudwatch:x:1:alarm:a{n}" for n in range(101)],
    )
    with pytest.raises(ValueError, match=r"101 alarms: an alarm status widget shows at most 100"):
        DashboardComponent("bad", args)
    with pytest.raises(ValueError, match=r"must each name at least one"):
        DashboardComponent("bad", replace(args, alarm_arns=(), cache_cluster_ids=()))


def test_dashboard_component_lists_the_stacks_alarms_and_links_to_the_console(prod: Graph) -> None:
    dashboard = prod.one(DASHBOARD)
    assert dashboard.inputs["dashboardName"] == "notes-prod", dashboard.urn
    body = json.loads(dashboard.inputs["dashboardBody"])
    # THEN the body is the pure function's, for the stack's resolved values
    expected = dashboard_body(
        values(alarm_arns=prod.result["alarm_arns"], min_requests=PROD.alb_5xx_min_requests)
    )
    assert body == expected, dashboard.urn
    # AND its status widget lists every alarm of the stack, and nothing else
    [status] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarm_arns = {
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:metricalarm/{a.name}-" for a in prod.of_type(METRIC_ALARM)
    }
    assert len(status["properties"]["alarms"]) == len(alarm_arns) == len(prod.of_type(METRIC_ALARM))
    for arn in status["properties"]["alarms"]:
        assert [prefix for prefix in alarm_arns if arn.startswith(prefix)], arn
    assert prod.result["dashboard_url"] == dashboard_url(REGION, "notes-prod")
    assert prod.result["dashboard_url"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards:name=notes-prod"
    )
