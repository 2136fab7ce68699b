"""Whole-stack properties of the edge (CloudFront + WAF, locked origin) and of the alarms,
on both planned stacks: the API is reachable only through CloudFront, and every alarm has
somewhere to go, a threshold from the stack file and a metric AWS publishes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.edge.cloudfront import ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID, CACHING_DISABLED_POLICY_ID
from infra.observability.metrics_catalog import published
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan, render_tree
from stacks import outputs as out
from stacks.config import load_stack
from stacks.settings import alarm_thresholds
from stacks.tiers import CLOUDFRONT_ORIGIN_PREFIX_LIST
from tests.type_tokens import DISTRIBUTION, METRIC_ALARM, SNS_SUBSCRIPTION, SNS_TOPIC, SNS_TOPIC_POLICY

STACKS = ["staging", "prod"]
# The prefix list id the mocks answer for CLOUDFRONT_ORIGIN_PREFIX_LIST (notes_platform/graph/mocks.py).
CLOUDFRONT_PREFIX_LIST_ID = "pl-4fa04526"


def _one(plan: Plan, type_token: str, name_suffix: str = "") -> Recorded:
    found = [r for r in plan.of_type(type_token) if r.name.endswith(name_suffix)]
    assert len(found) == 1, f"expected one {type_token} *{name_suffix}, found {[r.urn for r in found]}"
    return found[0]


def _region_of(plan: Plan, resource: Recorded) -> str:
    provider = plan.provider_of(resource)
    assert provider is not None, f"{resource.urn}: no recorded aws provider"
    return str(provider.inputs["region"])


# --- edge ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_alb_admits_only_cloudfront(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    alb_group_ids = {r.inputs["securityGroups"][0] for r in plan.of_type("aws:lb/loadBalancer:LoadBalancer")}
    ingress = [
        r
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs.get("securityGroupId") in alb_group_ids
    ]
    # THEN its only ingress is HTTPS from CloudFront's origin-facing prefix list
    assert len(alb_group_ids) == 1 and ingress, alb_group_ids
    for rule in ingress:
        assert rule.inputs.get("prefixListId") == CLOUDFRONT_PREFIX_LIST_ID, rule.urn
        assert not {"cidrIpv4", "cidrIpv6", "referencedSecurityGroupId"} & set(rule.inputs), rule.urn
        assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (443, 443), rule.urn
    assert CLOUDFRONT_ORIGIN_PREFIX_LIST == "com.amazonaws.global.cloudfront.origin-facing"


@pytest.mark.parametrize("stack", STACKS)
def test_only_requests_with_the_origin_header_reach_the_api(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    https = _one(plan, "aws:lb/listener:Listener", "-alb-https")
    # THEN the HTTPS listener answers everything with a fixed 403 by default
    (default,) = https.inputs["defaultActions"]
    assert default["type"] == "fixed-response", https.urn
    assert default["fixedResponse"]["statusCode"] == "403", https.urn
    # AND exactly one rule forwards, and only on the origin header
    rules = plan.of_type("aws:lb/listenerRule:ListenerRule")
    forwarding = [r for r in rules if any(a["type"] == "forward" for a in r.inputs["actions"])]
    assert len(forwarding) == 1, [r.urn for r in rules]
    (rule,) = forwarding
    (condition,) = rule.inputs["conditions"]
    header = condition["httpHeader"]
    assert header["values"] and all(value == "[secret]" for value in header["values"]), rule.urn
    # AND CloudFront's origin sends that header, with a value from the same generated secret
    distribution = _one(plan, DISTRIBUTION)
    (origin,) = distribution.inputs["origins"]
    sent = {h["name"]: h["value"] for h in origin.get("customHeaders", [])}
    assert sent == {header["httpHeaderName"]: "[secret]"}, distribution.urn
    passwords = {
        r.urn for r in plan.of_type("random:index/randomPassword:RandomPassword") if "origin-secret" in r.name
    }
    assert passwords & set(rule.dependencies) and passwords & set(distribution.dependencies), passwords
    # AND the origin is the ALB's name over HTTPS only, TLS 1.2 at least
    config = origin["customOriginConfig"]
    assert config["originProtocolPolicy"] == "https-only" and config["originSslProtocols"] == ["TLSv1.2"]


@pytest.mark.parametrize("stack", STACKS)
def test_everything_cloudfront_needs_in_us_east_1_is_registered_there(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    distribution = _one(plan, DISTRIBUTION)
    # Everything below the edge component, at any depth (its alarm topic is a component of its own).
    assert distribution.parent is not None
    below_edge = {r.urn for r in plan.below(distribution.parent)}
    needed = [
        *plan.of_type("aws:wafv2/webAcl:WebAcl"),
        *plan.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"),
        *[
            r
            for kind in (
                "aws:acm/certificate:Certificate",
                "aws:acm/certificateValidation:CertificateValidation",
                "aws:cloudwatch/logGroup:LogGroup",
                METRIC_ALARM,
                SNS_TOPIC,
                SNS_TOPIC_POLICY,
                SNS_SUBSCRIPTION,
            )
            for r in plan.of_type(kind)
            if r.urn in below_edge
        ],
    ]
    kinds = {r.type for r in needed}
    assert {
        "aws:wafv2/webAcl:WebAcl",
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:cloudwatch/logGroup:LogGroup",
        METRIC_ALARM,
        SNS_TOPIC,
        SNS_TOPIC_POLICY,
        SNS_SUBSCRIPTION,
    } <= kinds, kinds
    wrong = [f"{r.urn}: {_region_of(plan, r)}" for r in needed if _region_of(plan, r) != "us-east-1"]
    assert not wrong, "\n".join(wrong)
    (acl,) = plan.of_type("aws:wafv2/webAcl:WebAcl")
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert distribution.inputs["webAclId"].startswith("arn:aws:wafv2:us-east-1:"), distribution.urn
    assert distribution.inputs["viewerCertificate"]["acmCertificateArn"].startswith("arn:aws:acm:us-east-1:")
    # AND the rest of the stack stays in its own region
    config = load_stack(stack)
    tasks = plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert len(tasks) == 2, [t.urn for t in tasks]  # the API's and the export worker's
    assert {_region_of(plan, task) for task in tasks} == {config.region}


@pytest.mark.parametrize("stack", STACKS)
def test_authorization_reaches_the_origin_and_is_never_a_cache_key(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    distribution = _one(plan, DISTRIBUTION)
    default = distribution.inputs["defaultCacheBehavior"]
    # THEN authenticated API paths are not cached, and every viewer header but Host (so
    # Authorization) and every query string goes to the origin
    assert default["cachePolicyId"] == CACHING_DISABLED_POLICY_ID, distribution.urn
    assert default["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID, distribution.urn
    assert default["viewerProtocolPolicy"] == "https-only"
    assert set(default["allowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"}
    # AND no cache policy of the stack puts Authorization (or any header) in a cache key
    for policy in plan.of_type("aws:cloudfront/cachePolicy:CachePolicy"):
        key = policy.inputs["parametersInCacheKeyAndForwardedToOrigin"]
        headers = key["headersConfig"]
        assert headers["headerBehavior"] == "none", policy.urn
        assert "authorization" not in json.dumps(headers).lower(), policy.urn
    # AND cached paths are public ones, never under /api/
    for behavior in distribution.inputs.get("orderedCacheBehaviors", []):
        if behavior["cachePolicyId"] != CACHING_DISABLED_POLICY_ID:
            assert not behavior["pathPattern"].startswith("/api/"), behavior


@pytest.mark.parametrize("stack", STACKS)
def test_viewers_get_modern_tls_and_security_headers(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    distribution = _one(plan, DISTRIBUTION)
    assert distribution.inputs["viewerCertificate"]["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert distribution.inputs["httpVersion"] == "http2and3"
    config = load_stack(stack)
    assert distribution.inputs["aliases"] == config.edge.aliases
    assert distribution.inputs["priceClass"] == config.edge.price_class
    (headers,) = plan.of_type("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    security = headers.inputs["securityHeadersConfig"]
    assert security["strictTransportSecurity"]["override"] is True
    assert security["contentTypeOptions"]["override"] is True
    assert security["frameOptions"]["frameOption"] == "DENY"
    assert "referrerPolicy" in security


@pytest.mark.parametrize("stack", STACKS)
def test_waf_rule_actions_and_rate_limits_come_from_the_stack_file(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    config = load_stack(stack).edge
    (acl,) = plan.of_type("aws:wafv2/webAcl:WebAcl")
    rules = {rule["name"]: rule for rule in acl.inputs["rules"]}
    for name, rule in rules.items():
        # THEN every rule publishes metrics and samples
        assert rule["visibilityConfig"]["cloudwatchMetricsEnabled"] is True, name
        assert rule["visibilityConfig"]["sampledRequestsEnabled"] is True, name
        counting = "count" in rule.get("action", {}) or "count" in rule.get("overrideAction", {})
        assert counting == (name in config.count_rules), (
            f"{name}: count mode should be {name in config.count_rules}"
        )
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    assert "AWSManagedRulesAmazonIpReputationList" in rules
    assert set(config.extra_managed_rule_groups) <= set(rules)
    limits = {
        name: rule["statement"]["rateBasedStatement"]
        for name, rule in rules.items()
        if "rateBasedStatement" in rule["statement"]
    }
    assert sorted(limit["limit"] for limit in limits.values()) == sorted(
        [config.auth_rate_limit_per_5_minutes, config.rate_limit_per_5_minutes]
    ), limits
    scoped = [limit for limit in limits.values() if "scopeDownStatement" in limit]
    assert len(scoped) == 1 and scoped[0]["limit"] == config.auth_rate_limit_per_5_minutes
    assert "/api/v1/auth/" in json.dumps(scoped[0]["scopeDownStatement"])
    # AND the ACL logs to an aws-waf-logs- group, with credentials redacted
    (logging,) = plan.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    redacted = {field["singleHeader"]["name"] for field in logging.inputs["redactedFields"]}
    assert redacted == {"authorization", "cookie"}
    groups = {r.inputs["name"]: r for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup")}
    waf_groups = [g for name, g in groups.items() if name.startswith("aws-waf-logs-")]
    assert len(waf_groups) == 1 and waf_groups[0].inputs["retentionInDays"] == config.waf_log_retention_days


def test_a_rule_rolls_out_in_count_mode_on_staging_first(plans: dict[str, Plan]) -> None:
    def action(stack: str, name: str) -> str:
        (acl,) = plans[stack].of_type("aws:wafv2/webAcl:WebAcl")
        (rule,) = [r for r in acl.inputs["rules"] if r["name"] == name]
        return "count" if "count" in rule.get("overrideAction", rule.get("action", {})) else "block"

    assert action("staging", "AWSManagedRulesSQLiRuleSet") == "count"
    assert action("prod", "AWSManagedRulesSQLiRuleSet") == "block"


# --- alarms ----------------------------------------------------------------------------------


def _metrics(alarm: Recorded) -> list[tuple[str, str, dict[str, Any]]]:
    if alarm.inputs.get("metricName"):
        return [(alarm.inputs["namespace"], alarm.inputs["metricName"], alarm.inputs.get("dimensions", {}))]
    return [
        (q["metric"]["namespace"], q["metric"]["metricName"], q["metric"].get("dimensions", {}))
        for q in alarm.inputs.get("metricQueries", [])
        if "metric" in q
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_notifies_a_topic_in_its_region_on_alarm_and_ok(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    topics = {t.inputs.get("name", t.name): t for t in plan.of_type(SNS_TOPIC)}
    alarms = plan.of_type(METRIC_ALARM)
    assert len(alarms) >= 15, len(alarms)
    for alarm in alarms:
        region = _region_of(plan, alarm)
        actions, ok = alarm.inputs.get("alarmActions", []), alarm.inputs.get("okActions", [])
        # THEN ALARM and OK both go to exactly one SNS topic, in the alarm's own region
        assert actions and actions == ok, alarm.urn
        (topic_arn,) = actions
        assert topic_arn.startswith(f"arn:aws:sns:{region}:"), f"{alarm.urn}: {topic_arn}"
        assert alarm.inputs.get("treatMissingData") in {"breaching", "notBreaching", "ignore", "missing"}, (
            alarm.urn
        )
        # AND every metric it reads is one AWS publishes with those dimensions
        for namespace, name, dimensions in _metrics(alarm):
            assert published(namespace, name, tuple(sorted(dimensions))), (
                f"{alarm.urn}: {namespace} {name} {dimensions}"
            )
    # AND every topic is KMS-encrypted
    for topic in topics.values():
        assert topic.inputs.get("kmsMasterKeyId"), topic.urn


def _threshold(plan: Plan, name_suffix: str) -> float:
    return float(_one(plan, METRIC_ALARM, name_suffix).inputs["threshold"])


# Alarm (by name suffix) -> how its threshold follows from the stack file.
FROM_CONFIG = {
    "-api-5xx-rate": lambda c: c.alarms.alb_5xx_percent,
    "-api-p99-latency": lambda c: c.alarms.target_p99_ms / 1000,
    "-docdb-1-cpu": lambda c: c.alarms.docdb_cpu_percent,
    "-docdb-1-freeable-memory": lambda c: c.alarms.docdb_freeable_memory_mib * 1024 * 1024,
    "-docdb-1-connections": lambda c: c.alarms.docdb_connections,
    "-redis-001-evictions": lambda c: c.alarms.redis_evictions,
    "-redis-001-memory": lambda c: c.alarms.redis_memory_percent,
    "-edge-cloudfront-5xx-error-rate": lambda c: c.alarms.cloudfront_5xx_percent,
    "-edge-waf-blocked-requests": lambda c: c.alarms.waf_blocked_requests,
}


@pytest.mark.parametrize("stack", STACKS)
def test_alarm_thresholds_come_from_the_stack_file(plans: dict[str, Plan], stack: str) -> None:
    config = load_stack(stack)
    for suffix, expected in FROM_CONFIG.items():
        assert _threshold(plans[stack], suffix) == pytest.approx(expected(config)), suffix
    assert alarm_thresholds(config).alb_5xx_min_requests == config.alarms.alb_5xx_min_requests
    five_xx = _one(plans[stack], METRIC_ALARM, "-api-5xx-rate")
    expression = next(q["expression"] for q in five_xx.inputs["metricQueries"] if q.get("returnData"))
    assert f">= {config.alarms.alb_5xx_min_requests}," in expression, expression


def test_staging_and_prod_thresholds_differ_where_the_stack_files_say_so(plans: dict[str, Plan]) -> None:
    staging, prod = load_stack("staging"), load_stack("prod")
    differing = [s for s, f in FROM_CONFIG.items() if f(staging) != f(prod)]
    # GIVEN stack files that set some thresholds apart
    assert {"-api-5xx-rate", "-api-p99-latency", "-docdb-1-connections", "-redis-001-evictions"} <= set(
        differing
    )
    for suffix, expected in FROM_CONFIG.items():
        same_in_files = expected(staging) == expected(prod)
        same_in_plans = _threshold(plans["staging"], suffix) == _threshold(plans["prod"], suffix)
        assert same_in_files == same_in_plans, suffix
    # AND replica lag is watched only where there are replicas
    assert not [a for a in plans["staging"].of_type(METRIC_ALARM) if "lag" in a.name]
    assert {a.name.rsplit("-", 2)[0] for a in plans["prod"].of_type(METRIC_ALARM) if "lag" in a.name}


@pytest.mark.parametrize("stack", STACKS)
def test_a_bad_deployment_rolls_back_on_the_5xx_and_latency_alarms(
    plans: dict[str, Plan], stack: str
) -> None:
    plan = plans[stack]
    (service,) = [s for s in plan.of_type("aws:ecs/service:Service") if s.inputs["name"].endswith("-api")]
    alarms = service.inputs["alarms"]
    assert alarms["enable"] is True and alarms["rollback"] is True, service.urn
    names = {
        _one(plan, METRIC_ALARM, suffix).inputs["name"] for suffix in ("-api-5xx-rate", "-api-p99-latency")
    }
    assert set(alarms["alarmNames"]) == names


@pytest.mark.parametrize("stack", STACKS)
def test_the_dashboard_reads_only_metrics_aws_publishes(plans: dict[str, Plan], stack: str) -> None:
    (dashboard,) = plans[stack].of_type("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard.inputs["dashboardBody"])
    seen = 0
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            fields = [f for f in row if not isinstance(f, dict)]
            if fields and fields[0] != "...":
                namespace, name, *pairs = fields
                if namespace == ".":
                    continue
                dimensions = tuple(sorted(pairs[0::2]))
                assert published(namespace, name, dimensions), f"{namespace} {name} {dimensions}"
                seen += 1
    assert seen >= 10, seen
    assert "AWS/WAFV2" in dashboard.inputs["dashboardBody"]


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_name_the_edge_and_the_alarm_destinations(plans: dict[str, Plan], stack: str) -> None:
    outputs = plans[stack].outputs
    config = load_stack(stack)
    assert outputs[out.API_URL] == f"https://{config.edge.aliases[0]}"
    assert outputs[out.CLOUDFRONT_DOMAIN].endswith(".cloudfront.net")
    assert outputs[out.WEB_ACL_ARN].startswith("arn:aws:wafv2:us-east-1:")
    assert outputs[out.ALARM_TOPIC_ARN].startswith(f"arn:aws:sns:{config.region}:")
    assert outputs[out.EDGE_ALARM_TOPIC_ARN].startswith("arn:aws:sns:us-east-1:")
    assert outputs[out.DASHBOARD_URL].startswith(
        f"https://{config.region}.console.aws.amazon.com/cloudwatch/"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_tree_shows_the_edge_and_the_alarms(plans: dict[str, Plan], stack: str) -> None:
    tree = render_tree(plans[stack])
    for component in (
        "notes:infra:Edge",
        "notes:infra:AlarmTopic",
        "notes:infra:DeploymentAlarms",
        "notes:infra:ServiceAlarms",
        "notes:infra:DataAlarms",
        "notes:infra:Dashboard",
    ):
        assert component in tree, component
    assert "(aws:cloudfront/distribution:Distribution)" in tree
    assert tree.count("(aws:cloudwatch/metricAlarm:MetricAlarm)") == len(plans[stack].of_type(METRIC_ALARM))


@pytest.mark.parametrize("stack", STACKS)
def test_per_ip_limits_count_the_viewer_not_a_forgeable_header(plans: dict[str, Plan], stack: str) -> None:
    (task,) = [
        t
        for t in plans[stack].of_type("aws:ecs/taskDefinition:TaskDefinition")
        if t.inputs["family"].endswith("-api")
    ]
    (container,) = [c for c in json.loads(task.inputs["containerDefinitions"]) if c["name"] == "api"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    # THEN the API trusts X-Forwarded-For only from inside the VPC (the ALB), and takes the
    # client address from the header CloudFront sets (forwarded by the origin request policy)
    assert environment["NOTES_FORWARDED_ALLOW_IPS"] == load_stack(stack).network.cidr
    assert environment["NOTES_CLIENT_IP_HEADER"] == "CloudFront-Viewer-Address"
