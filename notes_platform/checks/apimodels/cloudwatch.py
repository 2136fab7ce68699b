"""CloudWatch metric alarms -> cloudwatch PutMetricAlarm, and dashboards -> PutDashboard.

An alarm's members map by name except ``name`` (AlarmName), ``dimensions`` (a map in Pulumi,
a list of ``{Name, Value}`` in the API) and ``metricQueries`` (``Metrics``), whose ``metric``
block holds what the API splits into ``MetricStat`` and its ``Metric``. The rules the model
states only in prose (one of Statistic or ExtendedStatistic, the valid periods, exactly one
query returning data) come from the member documentation in botocore's cloudwatch model.

A dashboard body is a plain string in the model. Its structure is checked against "Dashboard
Body Structure and Syntax" in the CloudWatch API reference
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html):
0 to 500 widgets of a known type on a 24-column grid (x 0-23, width 1-24, height 1-1000),
properties per type, and metric arrays of [namespace, metric name, dimension name, value, ...,
{rendering options}].
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
    choice,
    json_object,
    name_value_list,
    tag_list,
    unexpected_members,
)
from notes_platform.checks.apimodels._shapes import (
    At,
    Family,
    Report,
    Rule,
    Translation,
    Unfit,
    child,
    describe,
    is_number,
    service_model,
    unknown,
)

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

# PutMetricAlarm, ExtendedStatistic: p90, tm90, tc90, ts90, wm90, IQM, PR(n:m), TC(X%:X%),
# TM(X%:X%), TS(X%:X%), WM(X%:X%).
_NUMBER = r"\d+(?:\.\d+)?"
EXTENDED_STATISTIC = re.compile(
    rf"(?:p|tm|tc|ts|wm)(?:100|\d{{1,2}}(?:\.\d{{1,2}})?)|IQM"
    rf"|PR\((?:-?{_NUMBER})?:(?:-?{_NUMBER})?\)"
    rf"|(?:TM|TC|TS|WM)\((?:{_NUMBER}%?)?:(?:{_NUMBER}%?)?\)"
)
# PutMetricAlarm, Period: "Valid values are 10, 20, 30, and any multiple of 60."
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
# "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds. For alarms with a
# period of less than one hour (3,600 seconds), the total evaluation period can't be longer
# than one day (86,400 seconds)."
MAX_EVALUATION_SECONDS = 604_800
MAX_SHORT_EVALUATION_SECONDS = 86_400
# ComparisonOperator: "used only for alarms based on anomaly detection models".
ANOMALY_OPERATORS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
# MetricDataQuery.Id: "letters, numbers, and underscore. The first character must be a
# lowercase letter."
QUERY_ID = re.compile(r"[a-z][A-Za-z0-9_]*")


def statistic_problem(value: Any) -> str | None:
    """Why ``value`` is neither a statistic nor an extended statistic, or None."""
    statistics = _statistics()
    if not isinstance(value, str):
        return f"expected a statistic, got {describe(value)}"
    if value in statistics or EXTENDED_STATISTIC.fullmatch(value):
        return None
    return f"value {describe(value)} is not one of {', '.join(statistics)} nor an extended statistic like p99"


@functools.cache
def _statistics() -> tuple[str, ...]:
    return tuple(service_model("cloudwatch").shape_for("Statistic").enum)


def _stat(value: Any, path: str, report: Report) -> None:
    """Report a stat (of a query, a widget or a metric's options) that CloudWatch has not."""
    problem = statistic_problem(value) if value is not None else None
    if problem:
        report(path, problem)


def _metric_stat(value: Any, path: str) -> Any:
    """Pulumi's ``metric {metricName, namespace, dimensions, period, stat, unit}`` -> the
    API's ``MetricStat {Metric {MetricName, Namespace, Dimensions}, Period, Stat, Unit}``."""
    if not isinstance(value, dict):
        raise Unfit(f"expected an object, got {describe(value)}")
    names = ("metricName", "namespace", "dimensions")
    stat: dict[str, Any] = {k: At(child(path, k), v) for k, v in value.items() if k not in names}
    stat["Metric"] = At(path, {k: At(child(path, k), v) for k, v in value.items() if k in names})
    return stat


ALARM_TRANSLATION = Translation(
    rules={
        "PutMetricAlarmInput": {
            **PROVIDER_ONLY,
            "name": Rule("AlarmName"),
            "dimensions": Rule("Dimensions", name_value_list),
            "metricQueries": Rule("Metrics"),
            "evaluateLowSampleCountPercentiles": Rule("EvaluateLowSampleCountPercentile"),
            "tags": Rule("Tags", tag_list),
        },
        "MetricDataQuery": {"metric": Rule("MetricStat", _metric_stat)},
        "Metric": {"dimensions": Rule("Dimensions", name_value_list)},
        "EvaluationCriteria": {"promqlCriteria": Rule("PromQLCriteria")},
    },
    provided={"PutMetricAlarmInput": frozenset({"AlarmName"})},  # auto-named
    documented={
        ("PutMetricAlarmInput", "TreatMissingData"): ("breaching", "notBreaching", "ignore", "missing"),
        ("PutMetricAlarmInput", "EvaluateLowSampleCountPercentile"): ("evaluate", "ignore"),
    },
)


def _number(value: Any) -> float | None:
    return value if is_number(value) else None


def _period(value: Any, path: str, report: Report) -> None:
    period = _number(value)
    if period is not None and period > 0 and period not in HIGH_RESOLUTION_PERIODS and period % 60:
        report(path, f"{value} is not 10, 20, 30 or a multiple of 60 seconds")


def _alarm(inputs: Mapping[str, Any], report: Report) -> None:
    metric_name, queries = inputs.get("metricName"), inputs.get("metricQueries")
    if metric_name is not None and queries:
        report("metricQueries", "only one of metricName, metricQueries may be set")
    if metric_name is None and not queries and inputs.get("evaluationCriteria") is None:
        report("metricName", "an alarm needs metricName (with namespace) or metricQueries")
    if metric_name is not None:
        given = [k for k in ("statistic", "extendedStatistic") if inputs.get(k) is not None]
        if len(given) != 1:
            report(
                "statistic",
                f"with metricName, set exactly one of statistic, extendedStatistic; found {len(given)}",
            )
        if inputs.get("period") is None:
            report("period", "required member 'period' is missing (alarms on a metric need one)")
    extended = inputs.get("extendedStatistic")
    if extended is not None and not unknown(extended) and statistic_problem(extended):
        report(
            "extendedStatistic", f"value {describe(extended)} is not an extended statistic like p99 or tm90"
        )
    _period(inputs.get("period"), "period", report)
    period, evaluations = _number(inputs.get("period")), _number(inputs.get("evaluationPeriods"))
    if period is not None and evaluations is not None and period > 0:
        total = period * evaluations
        limit = MAX_SHORT_EVALUATION_SECONDS if period < 3600 else MAX_EVALUATION_SECONDS
        if total > limit:
            report(
                "evaluationPeriods",
                f"period x evaluationPeriods is {int(total)} seconds, above the maximum {limit}",
            )
    datapoints = _number(inputs.get("datapointsToAlarm"))
    if datapoints is not None and evaluations is not None and datapoints > evaluations:
        report("datapointsToAlarm", f"{int(datapoints)} is above evaluationPeriods {int(evaluations)}")
    operator, threshold_metric = inputs.get("comparisonOperator"), inputs.get("thresholdMetricId")
    if operator in ANOMALY_OPERATORS and threshold_metric is None:
        report(
            "comparisonOperator", f"{operator} is only for anomaly detection alarms (set thresholdMetricId)"
        )
    if (
        threshold_metric is None
        and inputs.get("threshold") is None
        and inputs.get("evaluationCriteria") is None
    ):
        report("threshold", "required member 'threshold' is missing (alarms on a static threshold need one)")
    if isinstance(queries, list):
        _queries(queries, report, anomaly_band=threshold_metric is not None)


def _queries(queries: list[Any], report: Report, *, anomaly_band: bool) -> None:
    returning = [i for i, q in enumerate(queries) if isinstance(q, dict) and q.get("returnData") is True]
    undecided = any(isinstance(q, dict) and unknown(q.get("returnData")) for q in queries)
    # An anomaly detection alarm returns both the metric and its band (ThresholdMetricId).
    if len(returning) != 1 and not undecided and not anomaly_band:
        found = ", ".join(f"metricQueries[{i}]" for i in returning) or "none"
        report(
            "metricQueries", f"exactly one query must set returnData true (the alarm's value); found {found}"
        )
    seen: set[str] = set()
    for index, query in enumerate(queries):
        if not isinstance(query, dict):
            continue
        where = f"metricQueries[{index}]"
        query_id = query.get("id")
        if unknown(query_id):
            query_id = None
        if isinstance(query_id, str) and not QUERY_ID.fullmatch(query_id):
            report(
                f"{where}.id",
                f"value {query_id!r} must start with a lowercase letter and hold letters, digits, _",
            )
        if isinstance(query_id, str) and query_id in seen:
            report(f"{where}.id", f"id {query_id!r} is used by an earlier query")
        if isinstance(query_id, str):
            seen.add(query_id)
        has_metric, has_expression = query.get("metric") is not None, query.get("expression") is not None
        if has_metric == has_expression:
            report(where, "set exactly one of metric, expression")
        metric = query.get("metric")
        if isinstance(metric, dict):
            if not unknown(metric.get("stat")):
                _stat(metric.get("stat"), f"{where}.metric.stat", report)
            _period(metric.get("period"), f"{where}.metric.period", report)
        _period(query.get("period"), f"{where}.period", report)


ALARMS = Family(
    title="CloudWatch metric alarm",
    types=(METRIC_ALARM,),
    service="cloudwatch",
    operation="PutMetricAlarm",
    translation=ALARM_TRANSLATION,
    semantic=_alarm,
)

# --- dashboards -------------------------------------------------------------------------------

DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")  # PutDashboard, DashboardName
MAX_WIDGETS = 500
BODY_MEMBERS = ("widgets", "variables", "start", "end", "periodOverride")
PERIOD_OVERRIDES = ("auto", "inherit")
WIDGET_MEMBERS = ("type", "x", "y", "width", "height", "properties")
# The documented types, and "custom" for widgets a Lambda function renders.
WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom")
# (member, minimum, maximum) on the 24-column grid.
GRID = (("x", 0, 23), ("y", 0, None), ("width", 1, 24), ("height", 1, 1000))
VIEWS = ("timeSeries", "singleValue", "gauge", "bar", "pie", "table")
Y_AXES = ("left", "right")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_ALARMS_PER_WIDGET = 100
# The shorthand of a metric array: "..." repeats the previous metric up to the next value,
# "." repeats the value in the same position.
SHORTHAND = frozenset({"...", "."})


def _dashboard(inputs: Mapping[str, Any], report: Report) -> None:
    name = inputs.get("dashboardName")
    if isinstance(name, str) and not unknown(name) and not DASHBOARD_NAME.fullmatch(name):
        report("dashboardName", f"value {describe(name)} may hold only A-Z, a-z, 0-9, '-' and '_' (1-255)")
    path = "dashboardBody"
    body = json_object(inputs.get(path), path, report)
    if body is None:
        return
    unexpected_members(body, BODY_MEMBERS, path, report, owner="a dashboard body")
    choice(body, "periodOverride", PERIOD_OVERRIDES, path, report)
    widgets = body.get("widgets")
    if widgets is None:
        report(child(path, "widgets"), "required member 'widgets' is missing (it may be empty)")
    elif not isinstance(widgets, list):
        report(child(path, "widgets"), f"expected a list, got {describe(widgets)}")
    else:
        if len(widgets) > MAX_WIDGETS:
            report(child(path, "widgets"), f"{len(widgets)} items is above the maximum {MAX_WIDGETS}")
        for index, widget in enumerate(widgets):
            _widget(widget, f"{path}.widgets[{index}]", report)


def _widget(widget: Any, path: str, report: Report) -> None:
    if not isinstance(widget, dict):
        report(path, f"expected a widget object, got {describe(widget)}")
        return
    unexpected_members(widget, WIDGET_MEMBERS, path, report, owner="a widget")
    choice(widget, "type", WIDGET_TYPES, path, report, required=True)
    kind = widget.get("type")
    _grid(widget, path, report)
    properties = widget.get("properties")
    where = child(path, "properties")
    if properties is None:
        report(where, "required member 'properties' is missing")
    elif not isinstance(properties, dict):
        report(where, f"expected an object, got {describe(properties)}")
    elif isinstance(kind, str) and kind in WIDGET_PROPERTIES:
        WIDGET_PROPERTIES[kind](properties, where, report)


def _grid(widget: Mapping[str, Any], path: str, report: Report) -> None:
    for member, low, high in GRID:
        value = widget.get(member)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            report(child(path, member), f"expected an integer, got {describe(value)}")
        elif value < low:
            report(child(path, member), f"{value} is below the minimum {low}")
        elif high is not None and value > high:
            report(child(path, member), f"{value} is above the maximum {high}")


def _required_strings(*members: str) -> Callable[[Mapping[str, Any], str, Report], None]:
    def check(properties: Mapping[str, Any], path: str, report: Report) -> None:
        for member in members:
            if not isinstance(properties.get(member), str):
                report(child(path, member), f"required member {member!r} is missing")

    return check


def _alarm_widget(properties: Mapping[str, Any], path: str, report: Report) -> None:
    alarms = properties.get("alarms")
    if not isinstance(alarms, list) or not alarms:
        report(child(path, "alarms"), "required member 'alarms' is missing (a list of 1-100 alarm ARNs)")
    elif len(alarms) > MAX_ALARMS_PER_WIDGET:
        report(child(path, "alarms"), f"{len(alarms)} items is above the maximum {MAX_ALARMS_PER_WIDGET}")


def _metric_widget(properties: Mapping[str, Any], path: str, report: Report) -> None:
    _required_strings("region")(properties, path, report)
    choice(properties, "view", VIEWS, path, report)
    _stat(properties.get("stat"), child(path, "stat"), report)
    metrics = properties.get("metrics")
    annotations = properties.get("annotations")
    alarm_graph = isinstance(annotations, dict) and bool(annotations.get("alarms"))
    if metrics is None:
        if not alarm_graph:
            report(child(path, "metrics"), "required member 'metrics' is missing (or graph an alarm)")
        return
    if not isinstance(metrics, list):
        report(child(path, "metrics"), f"expected a list of metric arrays, got {describe(metrics)}")
        return
    for index, metric in enumerate(metrics):
        _metric_array(metric, f"{child(path, 'metrics')}[{index}]", report)


def _metric_array(metric: Any, path: str, report: Report) -> None:
    if not isinstance(metric, list) or not metric:
        report(path, f"expected a metric array, got {describe(metric)}")
        return
    *values, last = metric
    options = last if isinstance(last, dict) else None
    if options is None:
        values.append(last)
    for index, value in enumerate(values):
        if not isinstance(value, str):
            report(
                f"{path}[{index}]",
                f"expected a string (the rendering options go last), got {describe(value)}",
            )
            return
    if options is not None and not values:
        if "expression" not in options:
            report(path, "an array holding only options needs an expression")
    elif not SHORTHAND & set(values) and (len(values) < 2 or len(values) % 2):
        report(
            path,
            f"expected namespace, metric name, then dimension name/value pairs; got {len(values)} strings",
        )
    if options is not None:
        _rendering(options, f"{path}[{len(values)}]", report)


def _rendering(options: Mapping[str, Any], path: str, report: Report) -> None:
    choice(options, "yAxis", Y_AXES, path, report)
    color = options.get("color")
    if color is not None and not (isinstance(color, str) and COLOR.fullmatch(color)):
        report(child(path, "color"), f"value {describe(color)} is not a six-digit hex colour like #1f77b4")
    period = options.get("period")
    if period is not None and (isinstance(period, bool) or not isinstance(period, int) or period < 1):
        report(child(path, "period"), f"value {describe(period)} is not a positive number of seconds")
    _stat(options.get("stat"), child(path, "stat"), report)
    visible = options.get("visible")
    if visible is not None and not isinstance(visible, bool):
        report(child(path, "visible"), f"expected true or false, got {describe(visible)}")


WIDGET_PROPERTIES: dict[str, Callable[[Mapping[str, Any], str, Report], None]] = {
    "metric": _metric_widget,
    "text": _required_strings("markdown"),
    "log": _required_strings("query", "region"),
    "alarm": _alarm_widget,
}

DASHBOARDS = Family(
    title="CloudWatch dashboard",
    types=(DASHBOARD,),
    service="cloudwatch",
    operation="PutDashboard",
    translation=Translation(rules={"PutDashboardInput": PROVIDER_ONLY}),
    semantic=_dashboard,
)

FAMILIES = (ALARMS, DASHBOARDS)
