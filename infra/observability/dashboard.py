"""The environment's CloudWatch dashboard: ``Dashboard``, the component, and its body built as
plain data.

``dashboard_body`` takes resolved values (no Pulumi outputs), so tests read the exact JSON
CloudWatch receives. Every metric comes from ``infra.observability.metrics_catalog``: a widget
cannot name a metric AWS does not publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.observability.eks_widgets import pod_charts
from infra.observability.metrics_catalog import (
    ALB,
    CLOUDFRONT,
    CLOUDFRONT_REGION_DIMENSION,
    CONTAINER_INSIGHTS,
    DEFAULT_MIN_REQUESTS,
    DOCDB,
    ECS,
    EKS_CONTAINER_INSIGHTS,
    ELASTICACHE,
    GLOBAL_REGION,
    WAF,
    WAF_ALL_RULES,
    check,
    error_rate_expression,
)
from infra.observability.naming import check_environment
from infra.observability.thresholds import AlarmThresholds
from infra.observability.worker_widgets import WorkerWidgetValues, worker_rows

GRID_WIDTH = 24  # CloudWatch dashboards are 24 columns wide
WIDGET_HEIGHT = 6
# An alarm status widget shows at most 100 alarms.
MAX_ALARMS_PER_WIDGET = 100


def dashboard_name(environment: str) -> str:
    return f"notes-{environment}"


def dashboard_url(region: str, name: str) -> str:
    """Console address of a dashboard."""
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"


@dataclass(frozen=True)
class DashboardValues:
    """What the dashboard shows, as plain values."""

    region: str
    alb_arn_suffix: str
    target_group_arn_suffix: str
    cluster_name: str
    service_name: str
    # DocumentDB instance identifiers, writer first.
    docdb_instance_ids: Sequence[str]
    # ElastiCache member cluster ids of the replication group (<group id>-001, -002, ...).
    cache_cluster_ids: Sequence[str]
    # ARNs of the alarms the status widget lists. Default none.
    alarm_arns: Sequence[str] = field(default_factory=tuple)
    # Web ACL (CLOUDFRONT scope) whose blocks are charted. Default None: no WAF widget.
    web_acl_name: str | None = None
    # CloudFront distribution in front of the ALB. Default None: no CloudFront widget.
    distribution_id: str | None = None
    # Requests per minute below which the 5xx rate reads 0. Default 50, as the alarm's.
    min_requests: int = DEFAULT_MIN_REQUESTS
    # The API's Kubernetes namespace on EKS: cluster_name is then the EKS cluster and
    # service_name the Kubernetes Service. Default None: ECS.
    kubernetes_namespace: str | None = None
    # The exports queue, its dead-letter queue and the worker service. Default None: no export rows.
    worker: WorkerWidgetValues | None = None


def check_sizes(*, alarms: int, docdb_instances: int, cache_nodes: int) -> None:
    """Refuse what the body cannot show; the Dashboard component calls it before any Output
    resolves, so a bad count fails at construction rather than inside an apply."""
    if alarms > MAX_ALARMS_PER_WIDGET:
        raise ValueError(f"{alarms} alarms: an alarm status widget shows at most {MAX_ALARMS_PER_WIDGET}")
    if not docdb_instances or not cache_nodes:
        raise ValueError("docdb_instance_ids and cache_cluster_ids must each name at least one")


def metric(
    namespace: str,
    name: str,
    dimensions: Mapping[str, str],
    **options: Any,
) -> list[Any]:
    """One metric line of a widget: [namespace, name, dim, value, ..., {options}]."""
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
    stat: str = "Average",
    period: int = 60,
    y_label: str | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": period,
        "metrics": metrics,
    }
    if y_label:
        properties["yAxis"] = {"left": {"label": y_label, "showUnits": False}}
    return {"type": "metric", "properties": properties}


def _traffic(v: DashboardValues) -> list[dict[str, Any]]:
    lb = {"LoadBalancer": v.alb_arn_suffix}
    widgets = [
        _graph(
            "Traffic: requests per minute (ALB)",
            v.region,
            [metric(ALB, "RequestCount", lb, label="requests")],
            stat="Sum",
        )
    ]
    if v.distribution_id:
        distribution = {"DistributionId": v.distribution_id, "Region": CLOUDFRONT_REGION_DIMENSION}
        widgets.append(
            _graph(
                "Traffic: CloudFront requests and 5xx rate",
                GLOBAL_REGION,
                [
                    metric(CLOUDFRONT, "Requests", distribution, stat="Sum", label="requests"),
                    metric(
                        CLOUDFRONT, "5xxErrorRate", distribution, stat="Average", label="5xx %", yAxis="right"
                    ),
                ],
            )
        )
    return widgets


def _errors(v: DashboardValues) -> list[dict[str, Any]]:
    lb = {"LoadBalancer": v.alb_arn_suffix}
    rate = error_rate_expression(
        requests="requests", target_5xx="target5xx", elb_5xx="elb5xx", min_requests=v.min_requests
    )
    return [
        _graph(
            "Errors: 5xx rate, % of requests",
            v.region,
            [
                [{"expression": rate, "label": "5xx rate %", "id": "rate"}],
                metric(ALB, "RequestCount", lb, id="requests", visible=False),
                metric(ALB, "HTTPCode_Target_5XX_Count", lb, id="target5xx", visible=False),
                metric(ALB, "HTTPCode_ELB_5XX_Count", lb, id="elb5xx", visible=False),
            ],
            stat="Sum",
            y_label="%",
        ),
        _graph(
            "Errors: responses by origin",
            v.region,
            [
                metric(ALB, "HTTPCode_Target_5XX_Count", lb, label="5xx from tasks"),
                metric(ALB, "HTTPCode_ELB_5XX_Count", lb, label="5xx from the ALB"),
                metric(ALB, "HTTPCode_Target_4XX_Count", lb, label="4xx from tasks"),
                metric(ALB, "HTTPCode_ELB_4XX_Count", lb, label="4xx from the ALB"),
            ],
            stat="Sum",
        ),
    ]


def _latency(v: DashboardValues) -> list[dict[str, Any]]:
    target = {"LoadBalancer": v.alb_arn_suffix, "TargetGroup": v.target_group_arn_suffix}
    return [
        _graph(
            "Latency: target response time percentiles",
            v.region,
            [
                metric(ALB, "TargetResponseTime", target, stat=stat, label=stat)
                for stat in ("p50", "p90", "p99", "p99.9")
            ],
            y_label="seconds",
        ),
        _graph(
            "Service: healthy and unhealthy targets",
            v.region,
            [
                metric(ALB, "HealthyHostCount", target, stat="Minimum", label="healthy"),
                metric(ALB, "UnHealthyHostCount", target, stat="Maximum", label="unhealthy"),
            ],
        ),
    ]


def _service(v: DashboardValues) -> list[dict[str, Any]]:
    if v.kubernetes_namespace is not None:
        return [
            _graph(
                title,
                v.region,
                [metric(EKS_CONTAINER_INSIGHTS, *ln[:2], stat=ln.stat, label=ln.label) for ln in lines],
                y_label=y,
            )
            for title, lines, y in pod_charts(v.cluster_name, v.service_name, v.kubernetes_namespace)
        ]
    service = {"ClusterName": v.cluster_name, "ServiceName": v.service_name}
    return [
        _graph(
            "Service saturation: CPU and memory, %",
            v.region,
            [
                metric(ECS, "CPUUtilization", service, stat="Average", label="CPU average"),
                metric(ECS, "CPUUtilization", service, stat="Maximum", label="CPU busiest task"),
                metric(ECS, "MemoryUtilization", service, stat="Average", label="memory average"),
                metric(ECS, "MemoryUtilization", service, stat="Maximum", label="memory fullest task"),
            ],
            y_label="%",
        ),
        _graph(
            "Service: tasks running, desired and pending",
            v.region,
            [
                metric(CONTAINER_INSIGHTS, "DesiredTaskCount", service, label="desired"),
                metric(CONTAINER_INSIGHTS, "RunningTaskCount", service, label="running"),
                metric(CONTAINER_INSIGHTS, "PendingTaskCount", service, label="pending"),
            ],
        ),
    ]


def _per_instance(namespace: str, name: str, key: str, ids: Sequence[str], stat: str) -> list[list[Any]]:
    return [metric(namespace, name, {key: i}, stat=stat, label=i) for i in ids]


def _database(v: DashboardValues) -> list[dict[str, Any]]:
    ids = v.docdb_instance_ids
    key = "DBInstanceIdentifier"
    widgets = [
        _graph(
            "Database saturation: CPU, %",
            v.region,
            _per_instance(DOCDB, "CPUUtilization", key, ids, "Average"),
        ),
        _graph(
            "Database: freeable memory",
            v.region,
            _per_instance(DOCDB, "FreeableMemory", key, ids, "Minimum"),
            y_label="bytes",
        ),
        _graph(
            "Database: connections",
            v.region,
            _per_instance(DOCDB, "DatabaseConnections", key, ids, "Maximum"),
        ),
    ]
    if len(ids) > 1:
        widgets.append(
            _graph(
                "Database: replica lag",
                v.region,
                _per_instance(DOCDB, "DBInstanceReplicaLag", key, ids, "Maximum"),
                y_label="ms",
            )
        )
    return widgets


def _cache(v: DashboardValues) -> list[dict[str, Any]]:
    ids = v.cache_cluster_ids
    key = "CacheClusterId"
    widgets = [
        _graph(
            "Cache saturation: engine CPU, %",
            v.region,
            _per_instance(ELASTICACHE, "EngineCPUUtilization", key, ids, "Maximum"),
            y_label="%",
        ),
        _graph(
            "Cache saturation: host CPU, %",
            v.region,
            _per_instance(ELASTICACHE, "CPUUtilization", key, ids, "Maximum"),
            y_label="%",
        ),
        _graph(
            "Cache: memory used, %",
            v.region,
            _per_instance(ELASTICACHE, "DatabaseMemoryUsagePercentage", key, ids, "Maximum"),
            y_label="%",
        ),
        _graph(
            "Cache: evictions",
            v.region,
            _per_instance(ELASTICACHE, "Evictions", key, ids, "Sum"),
            stat="Sum",
        ),
        _graph(
            "Cache: hits and misses",
            v.region,
            [
                metric(ELASTICACHE, name, {key: i}, label=f"{i} {name.removeprefix('Cache').lower()}")
                for i in ids
                for name in ("CacheHits", "CacheMisses")
            ],
            stat="Sum",
        ),
    ]
    if len(ids) > 1:
        widgets.append(
            _graph(
                "Cache: replication lag",
                v.region,
                _per_instance(ELASTICACHE, "ReplicationLag", key, ids, "Maximum"),
                y_label="seconds",
            )
        )
    return widgets


def _edge(v: DashboardValues) -> list[dict[str, Any]]:
    if not v.web_acl_name:
        return []
    acl = {"WebACL": v.web_acl_name, "Rule": WAF_ALL_RULES}
    return [
        _graph(
            "WAF: blocked and allowed requests",
            GLOBAL_REGION,
            [
                metric(WAF, "BlockedRequests", acl, label="blocked"),
                metric(WAF, "AllowedRequests", acl, label="allowed"),
            ],
            stat="Sum",
        )
    ]


def _alarms(v: DashboardValues) -> list[dict[str, Any]]:
    if not v.alarm_arns:
        return []
    return [
        {
            "type": "alarm",
            "properties": {
                "title": "Alarms",
                "alarms": sorted(v.alarm_arns),
                "sortBy": "stateUpdatedTimestamp",
            },
        }
    ]


def _layout(rows: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Place each row's widgets side by side, the rows one under another."""
    placed: list[dict[str, Any]] = []
    y = 0
    for row in rows:
        if not row:
            continue
        width = GRID_WIDTH // len(row)
        for index, widget in enumerate(row):
            placed.append({**widget, "x": index * width, "y": y, "width": width, "height": WIDGET_HEIGHT})
        y += WIDGET_HEIGHT
    return placed


def dashboard_body(v: DashboardValues) -> dict[str, Any]:
    """The dashboard: alarm states; traffic, errors and latency; saturation of the service,
    the database and the cache; what WAF blocks at the edge; the exports queue and its worker."""
    check_sizes(
        alarms=len(v.alarm_arns),
        docdb_instances=len(v.docdb_instance_ids),
        cache_nodes=len(v.cache_cluster_ids),
    )
    cache = _cache(v)
    rows = [
        _alarms(v),
        _traffic(v) + _edge(v),
        _errors(v),
        _latency(v),
        _service(v),
        _database(v),
        cache[:3],
        cache[3:],
        *(worker_rows(v.worker) if v.worker else []),
    ]
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": _layout(rows)}


# --- the component --------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardArgs:
    """What the environment's dashboard shows."""

    environment: str
    """Environment name: the dashboard is notes-<env>. From config ``environment``. Required."""
    region: str
    """Region of the stack; CloudFront and WAF widgets read us-east-1 whatever this is. From
    config ``aws:region``. Required."""
    alb_arn_suffix: pulumi.Input[str]
    """ARN suffix of the ALB (``LoadBalancer.arn_suffix``): traffic and errors. Required."""
    target_group_arn_suffix: pulumi.Input[str]
    """ARN suffix of the API's target group (``LoadBalancer.target_group_arn_suffix``): latency
    and target health. Required."""
    cluster_name: pulumi.Input[str]
    """ECS cluster (``ApiService.cluster_name``): service saturation and task counts. Required."""
    service_name: pulumi.Input[str]
    """ECS service (``ApiService.service_name``). Required."""
    docdb_instance_ids: Sequence[pulumi.Input[str]]
    """DocumentDB instance identifiers (``DocumentDb.instances[i].identifier``), writer first: as
    many as config ``docdbInstanceCount``, at least one. Required."""
    cache_cluster_ids: Sequence[pulumi.Input[str]]
    """ElastiCache member cluster ids (see ``cache_member_ids``): as many as config
    ``cacheNodeCount``, at least one. Required."""
    alarm_arns: Sequence[pulumi.Input[str]] = ()
    """Alarms the status widget lists (the alarm components' alarm_arns), at most 100. Default
    none."""
    web_acl_name: pulumi.Input[str] | None = None
    """Name of the CLOUDFRONT-scope web ACL (``Edge.web_acl_name``). Default None: no WAF widget."""
    distribution_id: pulumi.Input[str] | None = None
    """CloudFront distribution id (``Edge.distribution_id``). Default None: no CloudFront widget."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """The 5xx rate's low-traffic guard comes from here, as the alarm's does (config
    ``alarmsAlb5xxMinRequests``). Default ``AlarmThresholds()``."""
    kubernetes_namespace: str | None = None
    """The API's namespace on EKS (config ``eksNamespace``): ``cluster_name`` is then the EKS
    cluster, ``service_name`` the Kubernetes Service. Default None: ECS."""
    worker: pulumi.Input[WorkerWidgetValues] | None = None
    """The export rows' queues and worker service (``ExportQueue``'s and ``WorkerService``'s names),
    an Output of the values as the stack builds it. Default None: no export rows (no worker)."""


class Dashboard(pulumi.ComponentResource):
    """The CloudWatch dashboard notes-<env>; ``dashboard_url`` opens it in the console."""

    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: str
    dashboard_url: pulumi.Output[str]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_environment(args.environment)
        check_sizes(
            alarms=len(args.alarm_arns),
            docdb_instances=len(args.docdb_instance_ids),
            cache_nodes=len(args.cache_cluster_ids),
        )
        super().__init__("notes:infra:Dashboard", name, None, opts)
        self.dashboard_name = dashboard_name(args.environment)
        # Keyed by DashboardValues' field names, so the resolved dict is its arguments.
        resolved = pulumi.Output.all(
            alb_arn_suffix=args.alb_arn_suffix,
            target_group_arn_suffix=args.target_group_arn_suffix,
            cluster_name=args.cluster_name,
            service_name=args.service_name,
            docdb_instance_ids=pulumi.Output.all(*args.docdb_instance_ids),
            cache_cluster_ids=pulumi.Output.all(*args.cache_cluster_ids),
            alarm_arns=pulumi.Output.all(*args.alarm_arns),
            web_acl_name=args.web_acl_name,
            distribution_id=args.distribution_id,
            worker=args.worker,
        )
        body = resolved.apply(
            lambda v: json.dumps(
                dashboard_body(
                    DashboardValues(
                        region=args.region,
                        min_requests=args.thresholds.alb_5xx_min_requests,
                        kubernetes_namespace=args.kubernetes_namespace,
                        **v,
                    )
                )
            )
        )
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self.dashboard_name,
            dashboard_body=body,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_url = self.dashboard.dashboard_name.apply(lambda n: dashboard_url(args.region, n))
        self.register_outputs({"dashboardUrl": self.dashboard_url})
