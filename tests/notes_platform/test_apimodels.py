"""AWS API model checks: each covered family of resources is registered under mocks, found
clean, and then shown to catch one planted mistake of each kind (an invalid enum value, a
missing required member, a number out of range) at the Pulumi property path."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pulumi_aws as aws
import pytest

from infra.ecs import ecs_trust_policy
from infra.fargate import FARGATE_SIZES
from notes_platform.checks import apimodels
from notes_platform.checks.apimodels import FAMILIES, Finding, check, render
from notes_platform.checks.apimodels._shapes import Family, Walker, request_shape, service_model
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    CACHE_POLICY,
    DASHBOARD,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    LISTENER,
    LISTENER_RULE,
    METRIC_ALARM,
    ORIGIN_REQUEST_POLICY,
    RESPONSE_HEADERS_POLICY,
    S3_BUCKET_POLICY,
    TASK_DEFINITION,
    WEB_ACL,
)

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:alarms"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/api/0123456789abcdef"
LOAD_BALANCER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:loadbalancer/app/notes/0123456789abcdef"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0123"
DROP = object()  # planted(..., DROP) removes the member


CONTAINERS = [
    {
        "name": "api",
        "image": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/notes-api@sha256:{'1f' * 32}",
        "essential": True,
        "portMappings": [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}],
        "environment": [{"name": "NOTES_PORT", "value": "8000"}],
        "readonlyRootFilesystem": True,
        "user": "10001:10001",
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}],
        "stopTimeout": 30,
        "healthCheck": {
            "command": ["CMD", "true"],
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 15,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/ecs/notes/api", "awslogs-region": REGION, "mode": "non-blocking"},
        },
    }
]

VISIBILITY = {"cloudwatch_metrics_enabled": True, "sampled_requests_enabled": True}

DASHBOARD_BODY = {
    "start": "-PT6H",
    "periodOverride": "inherit",
    "widgets": [
        {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": "# notes"}},
        {
            "type": "metric",
            "x": 0,
            "y": 2,
            "width": 12,
            "height": 6,
            "properties": {
                "region": REGION,
                "view": "timeSeries",
                "stat": "Sum",
                "period": 60,
                "metrics": [
                    [
                        "AWS/ApplicationELB",
                        "RequestCount",
                        "LoadBalancer",
                        "app/notes/0123",
                        {"label": "requests"},
                    ],
                    ["...", "app/other/4567"],
                    [{"expression": "m1 * 2", "label": "doubled", "id": "e1"}],
                ],
            },
        },
        {"type": "alarm", "x": 12, "y": 2, "width": 12, "height": 6, "properties": {"alarms": [TOPIC]}},
    ],
}

TRUST = ecs_trust_policy(ACCOUNT_ID)
IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}
BUCKET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def program() -> None:
    """One well-formed resource of each covered family, written the way infra/ writes them."""
    aws.ecs.TaskDefinition(
        "task",
        family="notes-api",
        container_definitions=json.dumps(CONTAINERS),
        cpu="256",
        memory="512",
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform={"cpu_architecture": "X86_64", "operating_system_family": "LINUX"},
        volumes=[{"name": "tmp"}],
        skip_destroy=True,
        tags={"Project": "notes"},
    )
    aws.wafv2.WebAcl(
        "acl",
        scope="CLOUDFRONT",
        description="notes: managed rules and rate limits",
        default_action={"allow": {}},
        visibility_config={**VISIBILITY, "metric_name": "acl"},
        rules=[
            {
                "name": "common",
                "priority": 0,
                "override_action": {"none": {}},
                "statement": {
                    "managed_rule_group_statement": {
                        "vendor_name": "AWS",
                        "name": "AWSManagedRulesCommonRuleSet",
                        "rule_action_overrides": [
                            {"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}
                        ],
                    }
                },
                "visibility_config": {**VISIBILITY, "metric_name": "common"},
            },
            aws.wafv2.WebAclRuleArgs(
                name="rate-limit-auth",
                priority=1,
                action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        limit=100,
                        aggregate_key_type="IP",
                        scope_down_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs(
                            byte_match_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementArgs(
                                positional_constraint="STARTS_WITH",
                                search_string="/api/v1/auth/",
                                field_to_match=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchArgs(
                                    single_header={"name": "x-path"}
                                ),
                                text_transformations=[
                                    aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementTextTransformationArgs(
                                        priority=0, type="LOWERCASE"
                                    )
                                ],
                            )
                        ),
                    )
                ),
                visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                    cloudwatch_metrics_enabled=True,
                    metric_name="rate-limit-auth",
                    sampled_requests_enabled=True,
                ),
            ),
        ],
    )
    aws.cloudwatch.MetricAlarm(
        "alb-5xx",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=5,
        datapoints_to_alarm=3,
        threshold=1,
        metric_name="HTTPCode_Target_5XX_Count",
        namespace="AWS/ApplicationELB",
        period=60,
        statistic="Sum",
        dimensions={"LoadBalancer": "app/notes/0123"},
        treat_missing_data="notBreaching",
        alarm_actions=[TOPIC],
    )
    aws.cloudwatch.MetricAlarm(
        "latency",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=3,
        threshold=0.5,
        treat_missing_data="missing",
        metric_queries=[
            {
                "id": "p99",
                "return_data": True,
                "metric": {
                    "metric_name": "TargetResponseTime",
                    "namespace": "AWS/ApplicationELB",
                    "period": 60,
                    "stat": "p99",
                    "dimensions": {"LoadBalancer": "app/notes/0123"},
                },
            }
        ],
    )
    aws.cloudwatch.Dashboard(
        "dashboard", dashboard_name="notes-staging", dashboard_body=json.dumps(DASHBOARD_BODY)
    )
    role = aws.iam.Role("role", assume_role_policy=json.dumps(TRUST), max_session_duration=3600)
    aws.iam.RolePolicy("role-policy", role=role.name, policy=json.dumps(IDENTITY))
    aws.s3.BucketPolicy("bucket-policy", bucket="logs", policy=json.dumps(BUCKET))
    aws.lb.Listener(
        "https",
        load_balancer_arn=LOAD_BALANCER,
        port=443,
        protocol="HTTPS",
        ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        certificate_arn=CERTIFICATE,
        default_actions=[
            {"type": "fixed-response", "fixed_response": {"content_type": "text/plain", "status_code": "403"}}
        ],
    )
    aws.lb.ListenerRule(
        "origin",
        listener_arn=f"{LOAD_BALANCER}/listener",
        priority=10,
        actions=[{"type": "forward", "target_group_arn": TARGET_GROUP}],
        conditions=[
            {"http_header": {"http_header_name": "X-Origin-Verify", "values": ["a", "b"]}},
            {"path_pattern": {"values": ["/api/*"]}},
        ],
    )
    aws.cloudfront.CachePolicy(
        "cache",
        min_ttl=0,
        default_ttl=10,
        max_ttl=60,
        parameters_in_cache_key_and_forwarded_to_origin={
            "cookies_config": {"cookie_behavior": "none"},
            "headers_config": {"header_behavior": "whitelist", "headers": {"items": ["Accept"]}},
            "query_strings_config": {"query_string_behavior": "all"},
            "enable_accept_encoding_gzip": True,
            "enable_accept_encoding_brotli": True,
        },
    )
    aws.cloudfront.OriginRequestPolicy(
        "origin-request",
        cookies_config={"cookie_behavior": "none"},
        headers_config={"header_behavior": "allViewer"},
        query_strings_config={"query_string_behavior": "all"},
    )
    aws.cloudfront.ResponseHeadersPolicy(
        "headers",
        security_headers_config={
            "frame_options": {"frame_option": "DENY", "override": True},
            "strict_transport_security": {
                "access_control_max_age_sec": 63072000,
                "include_subdomains": True,
                "override": True,
            },
        },
    )


@pytest.fixture(scope="module")
def graph() -> Graph:
    return run(program)


def planted(resource: Recorded, path: str, value: Any = DROP, *, within: str | None = None) -> Recorded:
    """A copy of ``resource`` whose input at ``path`` is ``value`` (or gone). With ``within``,
    ``path`` runs inside the JSON document held by that property."""
    inputs = copy.deepcopy(resource.inputs)
    target: Any = json.loads(inputs[within]) if within else inputs
    steps = [int(i) if i else key for key, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    holder = target
    for step in steps[:-1]:
        holder = holder[step]
    if value is DROP:
        del holder[steps[-1]]
    else:
        holder[steps[-1]] = value
    if within:
        inputs[within] = json.dumps(target)
    return dataclasses.replace(resource, inputs=inputs)


def reported(*resources: Recorded) -> list[tuple[str, str]]:
    findings = check(resources)
    assert all(f.urn in {r.urn for r in resources} for f in findings), findings
    return [(f.path, f.message) for f in findings]


def snapshot(stack: str) -> list[Recorded]:
    fields = {f.name for f in dataclasses.fields(Recorded)}
    data = json.loads((SNAPSHOTS / f"{stack}.json").read_text())
    return [Recorded(**{k: v for k, v in r.items() if k in fields}) for r in data["resources"]]


# --- the whole ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_plans_have_no_findings(stack: str) -> None:
    # GIVEN the recorded plan of a stack / WHEN checked / THEN nothing is reported
    findings = check(snapshot(stack))
    assert findings == [], render(findings)


def test_one_well_formed_resource_of_each_family_has_no_findings(graph: Graph) -> None:
    # GIVEN one resource per covered family, registered under mocks / WHEN checked / THEN clean
    covered = {r.type for r in graph.resources} & apimodels.covered_types()
    assert len(covered) == 12, sorted(covered)
    findings = check(graph.resources)
    assert findings == [], render(findings)


def test_render_groups_findings_by_resource() -> None:
    # GIVEN two findings on one resource and one on another / WHEN rendered / THEN grouped, counted
    findings = [Finding("urn:a", "port", "70000 is above the maximum 65535"), Finding("urn:b", "x", "m")]
    findings.insert(1, Finding("urn:a", "protocol", "value 'HTTP_2' is not one of HTTP, HTTPS"))
    assert render(findings) == (
        "3 findings against the AWS API models:\n\n"
        "urn:a\n"
        "  port: 70000 is above the maximum 65535\n"
        "  protocol: value 'HTTP_2' is not one of HTTP, HTTPS\n\n"
        "urn:b\n  x: m\n"
    )
    assert render([]) == ""


def test_values_the_plan_cannot_know_are_not_judged(graph: Graph) -> None:
    # GIVEN a listener whose port and protocol are outputs of resources not created yet
    listener = planted(planted(graph.one(LISTENER), "port", "[unknown]"), "protocol", "[unknown]")
    # WHEN checked / THEN neither is reported
    assert reported(listener) == []


def test_only_the_models_of_the_families_present_are_loaded(graph: Graph) -> None:
    # GIVEN no model loaded yet / WHEN only a task definition is checked / THEN only ecs is loaded
    service_model.cache_clear()
    try:
        check([graph.one(TASK_DEFINITION)])
        assert service_model.cache_info().currsize == 1
    finally:
        service_model.cache_clear()


@pytest.mark.parametrize(
    ("service", "operation", "member"),
    [("s3", "PutBucketPolicy", "Policy"), ("sns", "SetTopicAttributes", "AttributeValue")],
)
def test_the_policies_checked_without_a_model_limit_have_none_in_their_model(
    service: str, operation: str, member: str
) -> None:
    # GIVEN a policy member the checker does not load the model for / WHEN its shape is read
    # THEN it is a bare string: no length, pattern or enum a plan could break
    shape = request_shape(service, operation, member)
    assert (shape.type_name, shape.enum) == ("string", [])
    assert not {"min", "max", "pattern"} & set(shape.metadata)


# --- 1. ECS task definitions --------------------------------------------------------------------


def test_ecs_invalid_enum(graph: Graph) -> None:
    # GIVEN a container port mapping with protocol 'tcpp' / WHEN checked / THEN named at its path
    task = planted(
        graph.one(TASK_DEFINITION), "[0].portMappings[0].protocol", "tcpp", within="containerDefinitions"
    )
    assert reported(task) == [
        ("containerDefinitions[0].portMappings[0].protocol", "value 'tcpp' is not one of tcp, udp")
    ]


def test_ecs_missing_required(graph: Graph) -> None:
    # GIVEN a log configuration without its driver / WHEN checked / THEN the missing member is named
    task = planted(
        graph.one(TASK_DEFINITION), "[0].logConfiguration.logDriver", within="containerDefinitions"
    )
    assert reported(task) == [
        ("containerDefinitions[0].logConfiguration.logDriver", "required member 'logDriver' is missing")
    ]


def test_ecs_out_of_range(graph: Graph) -> None:
    # GIVEN a health check every 400 s (the documented range is 5-300) / WHEN checked / THEN reported
    task = planted(graph.one(TASK_DEFINITION), "[0].healthCheck.interval", 400, within="containerDefinitions")
    assert reported(task) == [
        ("containerDefinitions[0].healthCheck.interval", "400 is above the maximum 300")
    ]


def test_ecs_misspelt_member_that_the_provider_would_drop_silently(graph: Graph) -> None:
    # GIVEN "portMapping" for "portMappings" / WHEN checked / THEN unknown, with the likely meaning
    task = planted(graph.one(TASK_DEFINITION), "[0].portMapping", [], within="containerDefinitions")
    assert reported(task) == [
        (
            "containerDefinitions[0].portMapping",
            "unknown member 'portMapping': ContainerDefinition has no such member"
            " (did you mean 'portMappings'?)",
        )
    ]


def test_fargate_cpu_and_memory_must_be_an_offered_pair(graph: Graph) -> None:
    # GIVEN 256 CPU units with 4096 MiB / WHEN checked / THEN the sizes Fargate offers are listed
    task = planted(graph.one(TASK_DEFINITION), "memory", "4096")
    offered = ", ".join(str(m) for m in FARGATE_SIZES[256])
    assert reported(task) == [
        ("memory", f"4096 MiB does not go with 256 CPU units on Fargate; it offers {offered} MiB")
    ]
    # AND a size written in vCPU and GB is read the same way
    assert reported(planted(planted(task, "cpu", "0.25 vCPU"), "memory", "1 GB")) == []


def test_fargate_needs_awsvpc_and_a_container_that_fits(graph: Graph) -> None:
    # GIVEN bridge networking and a container asking for more memory than the task has
    task = planted(graph.one(TASK_DEFINITION), "networkMode", "bridge")
    task = planted(task, "[0].memory", 1024, within="containerDefinitions")
    # WHEN checked / THEN both are reported
    assert reported(task) == [
        ("networkMode", "Fargate tasks need networkMode 'awsvpc', got 'bridge'"),
        ("containerDefinitions[0].memory", "1024 MiB is more than the task's memory 512"),
        ("containerDefinitions", "containers reserve 1024 MiB, more than the task's 512"),
    ]


# --- 2. WAFv2 web ACL rules and statements ------------------------------------------------------


def test_waf_invalid_enum(graph: Graph) -> None:
    # GIVEN a text transformation of type LOWER / WHEN checked / THEN the valid types are listed
    match = "rules[1].statement.rateBasedStatement.scopeDownStatement.byteMatchStatement"
    path = f"{match}.textTransformations[0].type"
    found = reported(planted(graph.one(WEB_ACL), path, "LOWER"))
    assert [p for p, _ in found] == [path]
    assert found[0][1].startswith("value 'LOWER' is not one of NONE, COMPRESS_WHITE_SPACE, ")


def test_waf_missing_required(graph: Graph) -> None:
    # GIVEN a rule whose visibility config has no metric name / WHEN checked / THEN it is named
    acl = planted(graph.one(WEB_ACL), "rules[0].visibilityConfig.metricName")
    assert reported(acl) == [
        ("rules[0].visibilityConfig.metricName", "required member 'metricName' is missing")
    ]


def test_waf_out_of_range(graph: Graph) -> None:
    # GIVEN a rate limit of 5 requests (WAF counts from 10) / WHEN checked / THEN below the minimum
    acl = planted(graph.one(WEB_ACL), "rules[1].statement.rateBasedStatement.limit", 5)
    assert reported(acl) == [("rules[1].statement.rateBasedStatement.limit", "5 is below the minimum 10")]


def test_waf_statement_the_sdk_accepts_without_text_transformations() -> None:
    # GIVEN a byte match registered without textTransformations (optional in pulumi_aws)
    def build() -> None:
        aws.wafv2.WebAcl(
            "acl",
            scope="REGIONAL",
            default_action={"block": {}},
            visibility_config={**VISIBILITY, "metric_name": "acl"},
            rules=[
                {
                    "name": "internal",
                    "priority": 0,
                    "action": {"block": {}},
                    "statement": {
                        "byte_match_statement": {
                            "positional_constraint": "STARTS_WITH",
                            "search_string": "/metrics",
                            "field_to_match": {"uri_path": {}},
                        }
                    },
                    "visibility_config": {**VISIBILITY, "metric_name": "internal"},
                }
            ],
        )

    acl = run(build).one(WEB_ACL)
    # WHEN checked / THEN WAF's requirement is reported before a deployment finds it
    assert reported(acl) == [
        (
            "rules[0].statement.byteMatchStatement.textTransformations",
            "required member 'textTransformations' is missing",
        )
    ]


def test_waf_one_statement_kind_and_the_right_action_for_it(graph: Graph) -> None:
    # GIVEN a managed group rule with an action and a second statement kind beside it
    acl = planted(graph.one(WEB_ACL), "rules[0].action", {"block": {}})
    acl = planted(acl, "rules[0].statement.geoMatchStatement", {"countryCodes": ["FR"]})
    # WHEN checked / THEN both mistakes are reported
    assert reported(acl) == [
        (
            "rules[0].statement",
            "only one member may be set; found geoMatchStatement, managedRuleGroupStatement",
        ),
        ("rules[0].action", "a rule that evaluates a rule group takes overrideAction, not action"),
    ]


def test_waf_rules_written_as_json_are_read_in_the_apis_own_names(graph: Graph) -> None:
    # GIVEN ruleJson whose rule has a 129-character name and no VisibilityConfig
    rule = {"Name": "n" * 129, "Priority": 5, "Action": {"Count": {}}, "Statement": {"GeoMatchStatement": {}}}
    acl = planted(graph.one(WEB_ACL), "ruleJson", json.dumps([rule]))
    # WHEN checked / THEN members are named as written
    assert reported(acl) == [
        ("ruleJson[0].Name", "length 129 is above the maximum 128"),
        ("ruleJson[0].VisibilityConfig", "required member 'VisibilityConfig' is missing"),
    ]


# --- 3. CloudWatch metric alarms ----------------------------------------------------------------


def test_alarm_invalid_enum(graph: Graph) -> None:
    # GIVEN a comparison operator AWS does not have / WHEN checked / THEN the valid ones are listed
    found = reported(planted(graph.one(METRIC_ALARM, "alb-5xx"), "comparisonOperator", "GreaterThan"))
    assert [p for p, _ in found] == ["comparisonOperator"]
    assert found[0][1].startswith("value 'GreaterThan' is not one of GreaterThanOrEqualToThreshold, ")


def test_alarm_treat_missing_data_takes_the_documented_values(graph: Graph) -> None:
    # GIVEN treatMissingData 'notbreaching' (a free string in the model) / WHEN checked / THEN reported
    alarm = planted(graph.one(METRIC_ALARM, "alb-5xx"), "treatMissingData", "notbreaching")
    assert reported(alarm) == [
        ("treatMissingData", "value 'notbreaching' is not one of breaching, notBreaching, ignore, missing")
    ]


def test_alarm_missing_required(graph: Graph) -> None:
    # GIVEN a metric query whose metric has no period / WHEN checked / THEN named at the query's metric
    alarm = planted(graph.one(METRIC_ALARM, "latency"), "metricQueries[0].metric.period")
    assert reported(alarm) == [("metricQueries[0].metric.period", "required member 'period' is missing")]


def test_alarm_out_of_range(graph: Graph) -> None:
    # GIVEN zero evaluation periods / WHEN checked / THEN below the model's minimum, and M > N
    alarm = planted(graph.one(METRIC_ALARM, "alb-5xx"), "evaluationPeriods", 0)
    assert reported(alarm) == [
        ("evaluationPeriods", "0 is below the minimum 1"),
        ("datapointsToAlarm", "3 is above evaluationPeriods 0"),
    ]


def test_alarm_statistics_periods_and_dimensions(graph: Graph) -> None:
    # GIVEN a percentile that is not one, a 90 s period and an empty dimension value
    alarm = planted(graph.one(METRIC_ALARM, "latency"), "metricQueries[0].metric.stat", "p999")
    alarm = planted(alarm, "metricQueries[0].metric.period", 90)
    alarm = planted(alarm, "metricQueries[0].metric.dimensions.LoadBalancer", "")
    # WHEN checked / THEN each is reported at the query's metric
    found = reported(alarm)
    assert [p for p, _ in found] == [
        "metricQueries[0].metric.dimensions.LoadBalancer",
        "metricQueries[0].metric.stat",
        "metricQueries[0].metric.period",
    ]
    assert found[0][1] == "length 0 is below the minimum 1"
    assert "nor an extended statistic like p99" in found[1][1]
    assert found[2][1] == "90 is not 10, 20, 30 or a multiple of 60 seconds"


# --- 4. CloudWatch dashboard body ---------------------------------------------------------------


def test_dashboard_invalid_enum(graph: Graph) -> None:
    # GIVEN a widget of type 'graph' / WHEN checked / THEN the documented widget types are listed
    dashboard = planted(graph.one(DASHBOARD), "widgets[0].type", "graph", within="dashboardBody")
    assert reported(dashboard) == [
        (
            "dashboardBody.widgets[0].type",
            "value 'graph' is not one of metric, text, log, alarm, explorer, custom",
        )
    ]


def test_dashboard_missing_required(graph: Graph) -> None:
    # GIVEN a metric widget without its region / WHEN checked / THEN the missing member is named
    dashboard = planted(graph.one(DASHBOARD), "widgets[1].properties.region", within="dashboardBody")
    assert reported(dashboard) == [
        ("dashboardBody.widgets[1].properties.region", "required member 'region' is missing")
    ]


def test_dashboard_out_of_range(graph: Graph) -> None:
    # GIVEN a widget 25 columns wide on the 24-column grid / WHEN checked / THEN above the maximum
    dashboard = planted(graph.one(DASHBOARD), "widgets[0].width", 25, within="dashboardBody")
    assert reported(dashboard) == [("dashboardBody.widgets[0].width", "25 is above the maximum 24")]


def test_dashboard_metric_arrays_and_json(graph: Graph) -> None:
    # GIVEN a metric array with a dimension name but no value, and then a body that is not JSON
    dashboard = planted(
        graph.one(DASHBOARD),
        "widgets[1].properties.metrics[0]",
        ["AWS/ApplicationELB", "RequestCount", "LoadBalancer"],
        within="dashboardBody",
    )
    assert reported(dashboard) == [
        (
            "dashboardBody.widgets[1].properties.metrics[0]",
            "expected namespace, metric name, then dimension name/value pairs; got 3 strings",
        )
    ]
    broken = planted(graph.one(DASHBOARD), "dashboardBody", '{"widgets": [}')
    assert reported(broken) == [("dashboardBody", "not valid JSON: Expecting value (line 1, column 14)")]


# --- 5. IAM policy documents --------------------------------------------------------------------


def test_policy_invalid_enum(graph: Graph) -> None:
    # GIVEN a statement whose Effect is 'Permit' / WHEN checked / THEN Allow and Deny are named
    policy = planted(graph.one(IAM_ROLE_POLICY), "Statement[0].Effect", "Permit", within="policy")
    assert reported(policy) == [("policy.Statement[0].Effect", "value 'Permit' is not one of Allow, Deny")]


def test_policy_missing_required(graph: Graph) -> None:
    # GIVEN an identity statement without Action, and one without Resource
    no_action = planted(graph.one(IAM_ROLE_POLICY), "Statement[0].Action", within="policy")
    no_resource = planted(graph.one(IAM_ROLE_POLICY), "Statement[0].Resource", within="policy")
    # WHEN checked / THEN each missing element is named
    assert reported(no_action) == [
        ("policy.Statement[0].Action", "required member 'Action' (or 'NotAction') is missing")
    ]
    assert reported(no_resource) == [
        ("policy.Statement[0].Resource", "required member 'Resource' (or 'NotResource') is missing")
    ]


def test_policy_out_of_range(graph: Graph) -> None:
    # GIVEN a role allowed 50000 s sessions, and a policy longer than IAM's model allows
    role = planted(graph.one(IAM_ROLE), "maxSessionDuration", 50000)
    assert reported(role) == [("maxSessionDuration", "50000 is above the maximum 43200")]
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "k" * 131072}
    long = planted(graph.one(IAM_ROLE_POLICY), "Statement", [statement], within="policy")
    found = reported(long)
    assert [p for p, _ in found] == ["policy"]
    assert found[0][1].endswith("is above the maximum 131072")


def test_policy_kinds_take_their_own_elements(graph: Graph) -> None:
    # GIVEN a trust policy naming a Resource, an identity policy naming a Principal, and a bucket
    # policy without one
    trust = planted(graph.one(IAM_ROLE), "Statement[0].Resource", "*", within="assumeRolePolicy")
    identity = planted(graph.one(IAM_ROLE_POLICY), "Statement[0].Principal", "*", within="policy")
    bucket = planted(graph.one(S3_BUCKET_POLICY), "Statement[0].Principal", within="policy")
    # WHEN checked / THEN each is told what its kind takes
    assert reported(trust) == [
        (
            "assumeRolePolicy.Statement[0].Resource",
            "a trust policy takes no Resource: the resource is the role itself",
        )
    ]
    assert reported(identity) == [
        (
            "policy.Statement[0].Principal",
            "an identity policy takes no Principal: it applies to whoever it is attached to",
        )
    ]
    assert reported(bucket) == [
        ("policy.Statement[0].Principal", "required member 'Principal' (or 'NotPrincipal') is missing")
    ]


def test_policy_condition_operators_and_version(graph: Graph) -> None:
    # GIVEN an operator IAM lacks, Null with IfExists, and the 2008 policy language
    role = planted(
        graph.one(IAM_ROLE), "Statement[0].Condition", {"StringEqual": {"a": "b"}}, within="assumeRolePolicy"
    )
    role = planted(role, "Statement[0].Condition.NullIfExists", {"a": "true"}, within="assumeRolePolicy")
    role = planted(role, "Version", "2008-10-17", within="assumeRolePolicy")
    # WHEN checked / THEN all three are reported
    assert reported(role) == [
        ("assumeRolePolicy.Version", "value '2008-10-17' is not 2012-10-17"),
        ("assumeRolePolicy.Statement[0].Condition.StringEqual", "unknown condition operator 'StringEqual'"),
        (
            "assumeRolePolicy.Statement[0].Condition.NullIfExists",
            "the Null operator takes no IfExists suffix",
        ),
    ]


# --- 6. Load balancer listeners and rules -------------------------------------------------------


def test_listener_invalid_enum(graph: Graph) -> None:
    # GIVEN a listener on protocol HTTP_2 / WHEN checked / THEN the protocols are listed
    found = reported(planted(graph.one(LISTENER), "protocol", "HTTP_2"))
    assert found[0] == (
        "protocol",
        "value 'HTTP_2' is not one of HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE, QUIC, TCP_QUIC",
    )


def test_listener_rule_missing_required_that_the_sdk_accepts() -> None:
    # GIVEN a fixed response registered without a status code (optional in pulumi_aws)
    def build() -> None:
        aws.lb.ListenerRule(
            "deny",
            listener_arn=f"{LOAD_BALANCER}/listener",
            actions=[{"type": "fixed-response", "fixed_response": {"content_type": "text/plain"}}],
            conditions=[{"path_pattern": {"values": ["/internal/*"]}}],
        )

    rule = run(build).one(LISTENER_RULE)
    # WHEN checked / THEN the status code is reported; the absent priority is the provider's to pick
    assert reported(rule) == [
        ("actions[0].fixedResponse.statusCode", "required member 'statusCode' is missing")
    ]


def test_listener_rule_out_of_range(graph: Graph) -> None:
    # GIVEN priority 50001 and a listener on port 70000 / WHEN checked / THEN above the maxima
    assert reported(planted(graph.one(LISTENER_RULE), "priority", 50001)) == [
        ("priority", "50001 is above the maximum 50000")
    ]
    assert reported(planted(graph.one(LISTENER), "port", 70000)) == [
        ("port", "70000 is above the maximum 65535")
    ]


def test_listener_rule_documented_limits(graph: Graph) -> None:
    # GIVEN a redirect with HTTP_303, a 418 content type, and four header values in one condition
    listener = planted(
        graph.one(LISTENER), "defaultActions[0]", {"type": "redirect", "redirect": {"statusCode": "HTTP_303"}}
    )
    rule = planted(graph.one(LISTENER_RULE), "conditions[0].httpHeader.values", ["a", "b", "c", "d"])
    # WHEN checked / THEN each is reported where it was written
    assert reported(listener) == [
        ("defaultActions[0].redirect.statusCode", "value 'HTTP_303' is not one of HTTP_301, HTTP_302")
    ]
    assert reported(rule) == [
        ("conditions[0].httpHeader", "4 comparison strings is above the maximum 3 per condition")
    ]
    # AND three more strings in a second path pattern take the rule past five
    crowded = planted(graph.one(LISTENER_RULE), "conditions[1].pathPattern.values", ["/a", "/b", "/c", "/d"])
    assert reported(crowded) == [
        ("conditions[1].pathPattern", "4 comparison strings is above the maximum 3 per condition"),
        ("conditions", "6 comparison strings is above the maximum 5 per rule"),
    ]


# --- 7. CloudFront policies ---------------------------------------------------------------------


def test_cache_policy_invalid_enum(graph: Graph) -> None:
    # GIVEN a cache policy forwarding allViewer headers (origin request policies only)
    path = "parametersInCacheKeyAndForwardedToOrigin.headersConfig.headerBehavior"
    policy = planted(graph.one(CACHE_POLICY), path, "allViewer")
    # WHEN checked / THEN the cache policy's behaviours are listed
    assert reported(policy) == [(path, "value 'allViewer' is not one of none, whitelist")]
    # AND a whitelist without names is reported where the names belong
    names = planted(graph.one(CACHE_POLICY), "parametersInCacheKeyAndForwardedToOrigin.headersConfig.headers")
    assert reported(names) == [
        (
            "parametersInCacheKeyAndForwardedToOrigin.headersConfig.headers",
            "headerBehavior 'whitelist' needs headers.items",
        )
    ]


def test_cache_policy_missing_required(graph: Graph) -> None:
    # GIVEN a cache policy without its cookies config / WHEN checked / THEN the member is named
    policy = planted(graph.one(CACHE_POLICY), "parametersInCacheKeyAndForwardedToOrigin.cookiesConfig")
    assert reported(policy) == [
        (
            "parametersInCacheKeyAndForwardedToOrigin.cookiesConfig",
            "required member 'cookiesConfig' is missing",
        )
    ]


def test_cache_policy_out_of_range(graph: Graph) -> None:
    # GIVEN a negative minimum TTL, and a default TTL above the maximum / WHEN checked / THEN both
    assert reported(planted(graph.one(CACHE_POLICY), "minTtl", -1)) == [
        ("minTtl", "-1 is below the minimum 0")
    ]
    assert reported(planted(graph.one(CACHE_POLICY), "defaultTtl", 120)) == [
        ("maxTtl", "60 is below defaultTtl 120; TTLs go min <= default <= max")
    ]


def test_origin_request_and_response_headers_policies(graph: Graph) -> None:
    # GIVEN an unknown query string behaviour, and a frame option browsers do not have
    origin = planted(graph.one(ORIGIN_REQUEST_POLICY), "queryStringsConfig.queryStringBehavior", "some")
    headers = planted(
        graph.one(RESPONSE_HEADERS_POLICY), "securityHeadersConfig.frameOptions.frameOption", "ALLOWALL"
    )
    # WHEN checked / THEN each is named with its valid values
    assert reported(origin) == [
        (
            "queryStringsConfig.queryStringBehavior",
            "value 'some' is not one of none, whitelist, all, allExcept",
        )
    ]
    assert reported(headers) == [
        ("securityHeadersConfig.frameOptions.frameOption", "value 'ALLOWALL' is not one of DENY, SAMEORIGIN")
    ]


# --- the mapping stays complete -----------------------------------------------------------------

RESOURCE_CLASSES: dict[str, type] = {
    TASK_DEFINITION: aws.ecs.TaskDefinition,
    WEB_ACL: aws.wafv2.WebAcl,
    "aws:wafv2/ruleGroup:RuleGroup": aws.wafv2.RuleGroup,
    METRIC_ALARM: aws.cloudwatch.MetricAlarm,
    DASHBOARD: aws.cloudwatch.Dashboard,
    IAM_ROLE: aws.iam.Role,
    IAM_ROLE_POLICY: aws.iam.RolePolicy,
    "aws:iam/userPolicy:UserPolicy": aws.iam.UserPolicy,
    "aws:iam/groupPolicy:GroupPolicy": aws.iam.GroupPolicy,
    "aws:iam/policy:Policy": aws.iam.Policy,
    LISTENER: aws.lb.Listener,
    LISTENER_RULE: aws.lb.ListenerRule,
    "aws:alb/listener:Listener": aws.alb.Listener,
    "aws:alb/listenerRule:ListenerRule": aws.alb.ListenerRule,
    CACHE_POLICY: aws.cloudfront.CachePolicy,
    ORIGIN_REQUEST_POLICY: aws.cloudfront.OriginRequestPolicy,
    RESPONSE_HEADERS_POLICY: aws.cloudfront.ResponseHeadersPolicy,
}


def test_every_family_that_walks_a_request_is_held_against_its_pulumi_types() -> None:
    # GIVEN the families / WHEN those that map properties onto a request are listed / THEN each
    # resource type among them has its pulumi_aws class above
    walked = {t for f in FAMILIES if f.operation is not None for t in f.types}
    assert walked == set(RESOURCE_CLASSES)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _args_dict(annotation: Any, module: Any) -> Any:
    """The TypedDict of nested args an annotation of pulumi_aws's names, or None for a scalar."""
    while True:
        if isinstance(annotation, typing.ForwardRef):
            annotation = annotation.__forward_arg__
        if isinstance(annotation, str):
            match = re.search(r"(\w+Args)(Dict)?\b", annotation)
            return getattr(module, match.group(1) + "Dict") if match else None
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin is typing.Union:
            candidates = [
                a
                for a in args
                if a is not type(None)
                and typing.get_origin(a) is not Awaitable
                and not (isinstance(a, typing.ForwardRef) and a.__forward_arg__.startswith("Output"))
            ]
            annotation = candidates[0]
        elif origin in (typing.NotRequired, Sequence):
            annotation = args[0]
        else:
            return None  # a scalar, or a Mapping of them


def _unmapped(
    properties: Iterable[tuple[str, Any]],
    module: Any,
    shape: Any,
    walker: Walker,
    path: str,
    seen: set[tuple[str, str]],
) -> list[str]:
    """What of pulumi_aws's ``properties`` (snake_case name, annotation), and of the nested args
    they take, reaches no member of ``shape`` or would be misnamed in messages."""
    problems = []
    for snake, annotation in properties:
        key = _camel(snake)
        where = f"{path}.{key}" if path else key
        rule = walker.resolve(shape, key, raw=False)
        if rule is None:
            problems.append(f"{where}: {shape.name} has no such member and no rule maps it")
            continue
        if rule.member is None or rule.convert is not None:
            continue
        called = walker.name_of(shape, rule.member, raw=False)
        if not rule.alias and called != key:
            problems.append(f"{where}: messages would call it {called}")
        nested = _args_dict(annotation, module)
        target = shape.members[rule.member]
        target = target.member if target.type_name == "list" else target
        if nested is not None and target.type_name == "structure":
            if (nested.__name__, target.name) not in seen:
                seen.add((nested.__name__, target.name))
                inner = importlib.import_module(nested.__module__)
                problems += _unmapped(nested.__annotations__.items(), inner, target, walker, where, seen)
        elif nested is not None:
            problems.append(f"{where}: an object in Pulumi, a {target.type_name} in {shape.name}")
    return problems


@pytest.mark.parametrize("type_token", sorted(RESOURCE_CLASSES))
def test_every_pulumi_property_reaches_a_request_member_or_is_listed_as_the_providers(
    type_token: str,
) -> None:
    # GIVEN pulumi_aws's own argument types for a covered resource
    cls = RESOURCE_CLASSES[type_token]
    (family,) = [f for f in FAMILIES if type_token in f.types]
    assert family.operation is not None
    shape = request_shape(family.service, family.operation, family.root)
    walker = Walker(family.translation, lambda path, message: None)
    module = importlib.import_module(cls.__module__.rsplit(".", 1)[0] + "._inputs")
    parameters = inspect.signature(cls._internal_init).parameters  # type: ignore[attr-defined]
    properties = [
        (name, parameter.annotation)
        for name, parameter in parameters.items()
        if not name.startswith("_") and name not in ("resource_name", "opts")
    ]
    # WHEN each property, and each property of its nested args, is looked up in the request
    problems = _unmapped(properties, module, shape, walker, "", set())
    # THEN every one maps, so a new provider property fails here and not in someone's plan
    assert problems == [], "\n".join(problems)


def _documentation(family: Family, shape_name: str, member: str) -> str:
    shape = service_model(family.service).shape_for(shape_name)
    return re.sub(r"<[^>]+>", "", shape.members[member].documentation)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.translation.documented or f.translation.bounds])
def test_values_and_ranges_beyond_the_model_are_quoted_from_its_documentation(family: Family) -> None:
    # GIVEN the enums and ranges a family adds to the model / WHEN compared with the member's own
    # documentation in botocore / THEN each value and bound is written there
    for (shape_name, member), values in family.translation.documented.items():
        text = _documentation(family, shape_name, member)
        assert all(value in text for value in values), (shape_name, member, values, text)
    for (shape_name, member), (low, high) in family.translation.bounds.items():
        text = _documentation(family, shape_name, member)
        assert f"between {low} and {high}" in text, (shape_name, member, text)


def _paths(value: Any, path: str = "") -> list[str]:
    """Every path inside a value, in the notation ``planted`` reads."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, f"{path}[{index}]")
    return found


JSON_PROPERTIES = ("containerDefinitions", "dashboardBody", "policy", "assumeRolePolicy")
WRONG_KINDS = (None, 7, -1.5, "x", True, [], [1, "a"], {}, {"k": []})


def test_a_value_of_the_wrong_kind_anywhere_is_reported_never_raised(graph: Graph) -> None:
    # GIVEN each good resource with each of its values, and each value inside its JSON documents,
    # replaced in turn by a value of another kind
    checked = 0
    for resource in graph.resources:
        if resource.type not in apimodels.covered_types():
            continue
        documents = {p: json.loads(resource.inputs[p]) for p in JSON_PROPERTIES if p in resource.inputs}
        places = [(p, None) for p in _paths(resource.inputs) if p not in documents]
        places += [(p, within) for within, document in documents.items() for p in _paths(document)]
        for path, within in places:
            for wrong in WRONG_KINDS:
                # WHEN checked / THEN the checker reports or accepts, and does not fail
                findings = check([planted(resource, path, wrong, within=within)])
                assert all(isinstance(f, Finding) and f.urn == resource.urn for f in findings)
                checked += 1
    assert checked > 1000
