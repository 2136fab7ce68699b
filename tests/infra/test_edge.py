"""Edge under mocks: CloudFront and its us-east-1 companions, the origin lock shared with the ALB,
the WAF web ACL, logs, alarms and the rotation of the origin secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pulumi
import pytest
from botocore.validate import ParamValidator

from infra.alb import LoadBalancer, LoadBalancerArgs
from infra.edge.args import EdgeArgs
from infra.edge.cloudfront import (
    ACCESS_LOG_FIELDS,
    ALL_METHODS,
    ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
    CACHING_DISABLED_POLICY_ID,
    CLOUDFRONT_HOSTED_ZONE_ID,
)
from infra.edge.component import Edge
from infra.edge.origin_secret import OriginSecret, OriginSecretArgs
from infra.edge.waf_rules import COMMON_RULES, IP_REPUTATION, KNOWN_BAD_INPUTS
from infra.observability.alarm_factory import Metric
from infra.observability.metrics_catalog import CLOUDFRONT
from infra.observability.topic import AlarmSubscription
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    ACM_CERTIFICATE,
    ACM_VALIDATION,
    CACHE_POLICY,
    DISTRIBUTION,
    KMS_KEY,
    LISTENER,
    LISTENER_RULE,
    LOG_GROUP,
    METRIC_ALARM,
    RESPONSE_HEADERS_POLICY,
    ROUTE53_RECORD,
    SECRET,
    SNS_SUBSCRIPTION,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    WEB_ACL,
    WEB_ACL_LOGGING,
)

NAME = "staging-edge"
ZONE = "Z0STAGINGEXAMPLE01"
ZONE_NAME = "staging.notes.example.com"
ALIASES = ("api.staging.notes.example.com", "staging.notes.example.com")
ORIGIN = "origin.staging.notes.example.com"
STACK_REGION = "eu-west-1"
SECRETS_KEY = f"arn:aws:kms:{STACK_REGION}:{ACCOUNT_ID}:key/secrets"
TAGS = {"Project": "notes-platform", "Environment": "staging", "ManagedBy": "pulumi"}
PROVIDER_URN_SUFFIX = f"pulumi:providers:aws::{NAME}-us-east-1"


# What CloudFront needs in us-east-1, and so what must be registered with the edge's provider.
US_EAST_1_TYPES = {
    ACM_CERTIFICATE,
    ACM_VALIDATION,
    WEB_ACL,
    WEB_ACL_LOGGING,
    LOG_GROUP,
    "aws:cloudwatch/logDeliverySource:LogDeliverySource",
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",
    "aws:cloudwatch/logDelivery:LogDelivery",
    METRIC_ALARM,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SNS_SUBSCRIPTION,
    KMS_KEY,
    "aws:kms/alias:Alias",
    DISTRIBUTION,
    CACHE_POLICY,
    RESPONSE_HEADERS_POLICY,
}


def origin_args(**overrides: Any) -> OriginSecretArgs:
    values: dict[str, Any] = {"environment": "staging", "kms_key_arn": SECRETS_KEY, **overrides}
    return OriginSecretArgs(**values)


def edge_args(origin: OriginSecret, **overrides: Any) -> EdgeArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "account_id": ACCOUNT_ID,
        "default_tags": TAGS,
        "zone_id": ZONE,
        "zone_name": ZONE_NAME,
        "aliases": ALIASES,
        "origin_domain_name": ORIGIN,
        "origin_secret": origin,
        "alarm_subscriptions": (
            AlarmSubscription("email", "ops@example.com"),
            AlarmSubscription("https", "https://hooks.example.com/alarms"),
        ),
        **overrides,
    }
    return EdgeArgs(**values)


def unsecret(values: list[pulumi.Output[str]]) -> pulumi.Output[list[str]]:
    return pulumi.Output.unsecret(pulumi.Output.all(*values))


def build_stack(secret: OriginSecretArgs | None = None, **edge_overrides: Any) -> Graph:
    """The origin secret, the ALB that checks it and the edge that sends it, as a stack wires them."""

    def program() -> pulumi.Output[Any]:
        origin = OriginSecret("staging-origin-secret", secret or origin_args())
        alb = LoadBalancer(
            "staging-alb",
            LoadBalancerArgs(
                environment="staging",
                region=STACK_REGION,
                vpc_id="vpc-0123",
                public_subnet_ids=["subnet-a", "subnet-b"],
                security_group_id="sg-alb",
                zone_id=ZONE,
                origin_name=ORIGIN,
                origin_header_name=origin.header_name,
                origin_secret_values=origin.accepted_values,
            ),
        )
        edge = Edge(NAME, edge_args(origin, origin_ready=[alb.origin_rule], **edge_overrides))
        return pulumi.Output.all(
            sent=pulumi.Output.unsecret(origin.value),
            accepted=unsecret(origin.accepted_values),
            origin_secret_arn=edge.origin_secret_arn,
            distribution_id=edge.distribution_id,
            distribution_arn=edge.distribution_arn,
            domain_name=edge.domain_name,
            web_acl_arn=edge.web_acl_arn,
            web_acl_name=edge.web_acl_name,
            topic_arn=edge.alarm_topic_arn,
            logs_key=edge.keys.arn("logs"),
            sns_key=edge.keys.arn("sns"),
            waf_log_group_arn=edge.waf_log_group.arn,
            access_log_group_arn=edge.access_log_group.arn,
            url=edge.url,
        )

    return run(program, region=STACK_REGION)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_stack()


def edge_component(graph: Graph) -> Recorded:
    return graph.one("notes:infra:Edge", NAME)


def under(graph: Graph, ancestor: Recorded) -> list[Recorded]:
    """Custom resources anywhere below ``ancestor`` (children, grandchildren ...)."""
    custom = {r.urn for r in graph.custom()}
    return [r for r in graph.below(ancestor.urn) if r.urn in custom]


def distribution(graph: Graph) -> Recorded:
    return graph.one(DISTRIBUTION)


def web_acl_rules(graph: Graph) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in graph.one(WEB_ACL).inputs["rules"]}


# --- the origin lock, end to end -------------------------------------------------------------


def test_alb_answers_403_unless_the_header_cloudfront_sends_carries_an_accepted_value(graph: Graph) -> None:
    # GIVEN the origin secret, the ALB and the edge wired as a stack wires them
    https = next(r for r in graph.of_type(LISTENER) if r.inputs["port"] == 443)
    [rule] = graph.of_type(LISTENER_RULE)
    [origin] = distribution(graph).inputs["origins"]
    # WHEN a request reaches the HTTPS listener
    # THEN without a matching rule it gets a fixed 403
    [default] = https.inputs["defaultActions"]
    assert default["type"] == "fixed-response", https.urn
    assert default["fixedResponse"]["statusCode"] == "403", https.urn
    # AND the only rule that forwards checks the very header CloudFront adds to every origin request
    assert [a["type"] for a in rule.inputs["actions"]] == ["forward"], rule.urn
    [condition] = rule.inputs["conditions"]
    [custom_header] = origin["customHeaders"]
    assert condition["httpHeader"]["httpHeaderName"] == custom_header["name"] == "X-Origin-Verify", rule.urn
    # AND CloudFront sends a value the ALB accepts
    assert graph.result["sent"] in graph.result["accepted"], graph.result
    # AND that value is 64 generated letters and digits (no * or ?, which the ALB reads as wildcards)
    password = graph.named("staging-origin-secret-g1-password")
    assert (password.inputs["length"], password.inputs["special"]) == (64, False), password.urn


def test_origin_value_never_appears_in_clear_in_any_recorded_input(graph: Graph) -> None:
    # GIVEN the wired stack / WHEN every registration's inputs are read
    value = graph.result["sent"]
    # THEN the header value is masked where CloudFront and the ALB receive it ...
    [origin] = distribution(graph).inputs["origins"]
    assert origin["customHeaders"] == [{"name": "X-Origin-Verify", "value": "[secret]"}], distribution(
        graph
    ).urn
    [rule] = graph.of_type(LISTENER_RULE)
    assert rule.inputs["conditions"][0]["httpHeader"]["values"] == ["[secret]"], rule.urn
    # ... and appears in clear nowhere else
    leaks = [r.urn for r in graph.resources if value in json.dumps(r.inputs)]
    assert not leaks, f"origin secret in clear in {leaks}"


def test_cloudfront_waits_for_the_alb_to_accept_a_new_value(graph: Graph) -> None:
    # GIVEN the wired stack / WHEN the distribution's dependencies are read
    [rule] = graph.of_type(LISTENER_RULE)
    dist = distribution(graph)
    # THEN the origin rule is among them: during a rotation the ALB accepts the new value first
    assert rule.urn in dist.dependencies, f"{dist.urn} does not wait for {rule.urn}"
    # AND the deployment waits until every edge location has the change (rotation step 2 relies on it)
    assert dist.inputs["waitForDeployment"] is True, dist.urn


# --- us-east-1 -------------------------------------------------------------------------------


def test_the_edge_owns_a_us_east_1_provider_with_the_stacks_default_tags(graph: Graph) -> None:
    # GIVEN the edge / WHEN its provider's registration is read
    [provider] = [r for r in graph.of_type("pulumi:providers:aws") if r.name == f"{NAME}-us-east-1"]
    # THEN it is a child of the component, in us-east-1, tagging like the stack's provider
    assert provider.parent == edge_component(graph).urn, provider.urn
    assert provider.inputs["region"] == "us-east-1", provider.urn
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": TAGS}, provider.urn


def test_everything_cloudfront_needs_in_us_east_1_is_registered_with_that_provider(graph: Graph) -> None:
    # GIVEN the edge / WHEN each resource below it is read with the provider it was registered with
    resources = under(graph, edge_component(graph))
    east = [r for r in resources if r.type in US_EAST_1_TYPES]
    # THEN every kind of us-east-1 resource is there ...
    assert {r.type for r in east} == US_EAST_1_TYPES, sorted(US_EAST_1_TYPES - {r.type for r in east})
    # ... each registered with the edge's us-east-1 provider
    wrong = [f"{r.urn} -> {r.provider}" for r in east if not (r.provider or "").endswith(PROVIDER_URN_SUFFIX)]
    assert not wrong, wrong
    # AND the only other resources are Route 53 records (global, on the stack's provider)
    others = {r.type for r in resources if r.type not in US_EAST_1_TYPES}
    assert others == {ROUTE53_RECORD}, others


def test_us_east_1_arns_and_the_stack_region_secret(graph: Graph) -> None:
    # GIVEN the wired stack / WHEN the ARNs resolve
    result = graph.result
    # THEN the keys, the topic and the log groups are in us-east-1 ...
    for key in (
        "logs_key",
        "sns_key",
        "topic_arn",
        "waf_log_group_arn",
        "access_log_group_arn",
        "web_acl_arn",
    ):
        assert result[key].split(":")[3] == "us-east-1", (key, result[key])
    # ... while the origin secret stays in the stack's region, next to the ALB that reads it
    assert result["origin_secret_arn"].split(":")[3] == STACK_REGION, result["origin_secret_arn"]
    secrets = graph.of_type(SECRET)
    assert all(s.provider is None for s in secrets), [s.urn for s in secrets]


def test_edge_keys_are_logs_and_sns_only_with_scoped_aliases(graph: Graph) -> None:
    # GIVEN the edge / WHEN its keys are read / THEN two keys, whose aliases cannot collide with
    # the stack's own keys even when the stack is in us-east-1
    keys = under(graph, graph.one("notes:infra:Keys", f"{NAME}-keys"))
    aliases = sorted(r.inputs["name"] for r in keys if r.type == "aws:kms/alias:Alias")
    assert aliases == ["alias/notes-staging-edge-logs", "alias/notes-staging-edge-sns"], aliases
    logs_key = next(r for r in keys if r.name == f"{NAME}-keys-logs")
    principals = [s["Principal"] for s in json.loads(logs_key.inputs["policy"])["Statement"]]
    assert {"Service": "logs.us-east-1.amazonaws.com"} in principals, logs_key.urn


# --- CloudFront ------------------------------------------------------------------------------


def test_authorization_reaches_the_origin_and_is_in_no_cache_key(graph: Graph) -> None:
    # GIVEN the distribution
    dist = distribution(graph)
    default = dist.inputs["defaultCacheBehavior"]
    # WHEN the authenticated API (the default behaviour) is read
    # THEN nothing is cached and the cache key is empty (AWS managed CachingDisabled) ...
    assert default["cachePolicyId"] == CACHING_DISABLED_POLICY_ID, dist.urn
    # ... and every viewer header but Host (Authorization included), every query string and cookie
    # go to the origin (AWS managed AllViewerExceptHostHeader; CloudFront accepts Authorization
    # in an origin request policy only when caching is disabled)
    assert default["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID, dist.urn
    assert "forwardedValues" not in default, dist.urn
    assert sorted(default["allowedMethods"]) == sorted(ALL_METHODS), dist.urn
    # AND the cache policies this stack creates put no header, cookie or query string in a key
    for policy in graph.of_type(CACHE_POLICY):
        parameters = policy.inputs["parametersInCacheKeyAndForwardedToOrigin"]
        assert parameters["headersConfig"] == {"headerBehavior": "none"}, policy.urn
        assert parameters["cookiesConfig"] == {"cookieBehavior": "none"}, policy.urn
        assert parameters["queryStringsConfig"] == {"queryStringBehavior": "none"}, policy.urn
    # AND the cached public paths forward nothing beyond that empty key: no Authorization reaches
    # a response that every viewer then shares
    for behavior in dist.inputs["orderedCacheBehaviors"]:
        assert "originRequestPolicyId" not in behavior, f"{dist.urn}: {behavior['pathPattern']}"
        assert not behavior["pathPattern"].startswith("/api"), f"{dist.urn}: {behavior['pathPattern']}"
        assert behavior["allowedMethods"] == ["GET", "HEAD"], f"{dist.urn}: {behavior['pathPattern']}"


def test_public_paths_get_a_short_cache(graph: Graph) -> None:
    # GIVEN the default public paths / WHEN the distribution is read / THEN /health is cached 10 s
    dist = distribution(graph)
    [behavior] = dist.inputs["orderedCacheBehaviors"]
    [policy] = graph.of_type(CACHE_POLICY)
    assert behavior["pathPattern"] == "/health", dist.urn
    assert policy.urn in dist.property_dependencies["orderedCacheBehaviors"], dist.urn
    assert (policy.inputs["minTtl"], policy.inputs["defaultTtl"], policy.inputs["maxTtl"]) == (0, 10, 10), (
        policy.urn
    )
    assert policy.inputs["name"] == "notes-staging-public-short-cache", policy.urn


def test_viewers_get_https_only_tls12_2021_http2_and_http3(graph: Graph) -> None:
    # GIVEN the distribution / WHEN its viewer side is read
    dist = distribution(graph)
    inputs = dist.inputs
    behaviors = [inputs["defaultCacheBehavior"], *inputs["orderedCacheBehaviors"]]
    # THEN no behaviour answers plain HTTP (not even with a redirect)
    assert {b["viewerProtocolPolicy"] for b in behaviors} == {"https-only"}, dist.urn
    # AND the viewer certificate is the validated us-east-1 one, SNI, TLS 1.2 (2021 ciphers) at least
    certificate = inputs["viewerCertificate"]
    assert certificate["minimumProtocolVersion"] == "TLSv1.2_2021", dist.urn
    assert certificate["sslSupportMethod"] == "sni-only", dist.urn
    assert "cloudfrontDefaultCertificate" not in certificate, dist.urn
    validation = graph.named(f"{NAME}-certificate-validation")
    assert validation.urn in dist.property_dependencies["viewerCertificate"], dist.urn
    assert certificate["acmCertificateArn"].split(":")[3] == "us-east-1", dist.urn
    # AND HTTP/2 and HTTP/3, IPv6, the configured price class and aliases, the web ACL attached
    assert inputs["httpVersion"] == "http2and3", dist.urn
    assert inputs["isIpv6Enabled"] is True, dist.urn
    assert inputs["priceClass"] == "PriceClass_100", dist.urn
    assert inputs["aliases"] == list(ALIASES), dist.urn
    assert inputs["webAclId"] == graph.result["web_acl_arn"], dist.urn
    assert inputs["enabled"] is True, dist.urn


def test_origin_is_the_alb_over_https_with_tls12_only(graph: Graph) -> None:
    # GIVEN the distribution / WHEN its origin is read / THEN HTTPS only, TLS 1.2 only, the ALB's name
    dist = distribution(graph)
    [origin] = dist.inputs["origins"]
    assert origin["domainName"] == ORIGIN, dist.urn
    config = origin["customOriginConfig"]
    assert config["originProtocolPolicy"] == "https-only", dist.urn
    assert config["originSslProtocols"] == ["TLSv1.2"], dist.urn
    # AND CloudFront drops idle origin connections before the ALB (idle timeout 60 s) does
    assert config["originKeepaliveTimeout"] < 60, dist.urn
    assert dist.inputs["defaultCacheBehavior"]["targetOriginId"] == origin["originId"], dist.urn


def test_every_response_carries_the_security_headers(graph: Graph) -> None:
    # GIVEN the distribution / WHEN its response headers policy is read
    dist = distribution(graph)
    policy = graph.one(RESPONSE_HEADERS_POLICY)
    headers = policy.inputs["securityHeadersConfig"]
    # THEN HSTS (two years, subdomains), nosniff, frame DENY and no referrer, overriding the origin
    hsts = headers["strictTransportSecurity"]
    assert hsts["accessControlMaxAgeSec"] >= 31_536_000, policy.urn
    assert hsts["includeSubdomains"] is True, policy.urn
    assert headers["contentTypeOptions"] == {"override": True}, policy.urn
    assert headers["frameOptions"] == {"frameOption": "DENY", "override": True}, policy.urn
    assert headers["referrerPolicy"] == {"referrerPolicy": "no-referrer", "override": True}, policy.urn
    assert all(h["override"] is True for h in headers.values()), policy.urn
    # AND every behaviour uses it
    behaviors = [dist.inputs["defaultCacheBehavior"], *dist.inputs["orderedCacheBehaviors"]]
    assert len({b["responseHeadersPolicyId"] for b in behaviors}) == 1, dist.urn
    assert policy.urn in dist.property_dependencies["defaultCacheBehavior"], dist.urn


def test_certificate_covers_every_alias_and_is_validated_by_dns(graph: Graph) -> None:
    # GIVEN two aliases / WHEN the certificate is read
    certificate = graph.named(f"{NAME}-certificate")
    validation = graph.named(f"{NAME}-certificate-validation")
    # THEN the first alias is its name, the others its alternative names, validated by DNS
    assert certificate.inputs["domainName"] == ALIASES[0], certificate.urn
    assert certificate.inputs["subjectAlternativeNames"] == list(ALIASES[1:]), certificate.urn
    assert certificate.inputs["validationMethod"] == "DNS", certificate.urn
    # AND one validation record per alias in the zone, all awaited by the validation
    records = [graph.named(f"{NAME}-certificate-validation-{alias}") for alias in ALIASES]
    for alias, record in zip(ALIASES, records, strict=True):
        assert record.inputs["zoneId"] == ZONE, record.urn
        assert record.inputs["type"] == "CNAME", record.urn
        assert record.inputs["name"].endswith(f".{alias}."), record.urn
    assert sorted(validation.inputs["validationRecordFqdns"]) == sorted(
        r.inputs["name"].rstrip(".") for r in records
    ), validation.urn


def test_each_alias_has_a_and_aaaa_alias_records_to_the_distribution(graph: Graph) -> None:
    # GIVEN two aliases / WHEN the edge's Route 53 records are read
    dist = distribution(graph)
    for alias in ALIASES:
        for record_type in ("A", "AAAA"):
            record = graph.named(f"{NAME}-alias-{alias}-{record_type.lower()}")
            # THEN each points at the distribution, in CloudFront's hosted zone
            assert (record.inputs["name"], record.inputs["type"]) == (alias, record_type), record.urn
            assert record.inputs["zoneId"] == ZONE, record.urn
            assert record.inputs["aliases"] == [
                {
                    "name": graph.result["domain_name"],
                    "zoneId": CLOUDFRONT_HOSTED_ZONE_ID,
                    "evaluateTargetHealth": False,
                }
            ], record.urn
            assert dist.urn in record.property_dependencies["aliases"], record.urn


def test_access_logs_go_to_an_encrypted_us_east_1_log_group_without_cookies(graph: Graph) -> None:
    # GIVEN the distribution / WHEN its access-log delivery is read
    group = graph.named(f"{NAME}-access-logs")
    source = graph.one("aws:cloudwatch/logDeliverySource:LogDeliverySource")
    destination = graph.one("aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
    delivery = graph.one("aws:cloudwatch/logDelivery:LogDelivery")
    # THEN the distribution's access logs are the source ...
    assert source.inputs["logType"] == "ACCESS_LOGS", source.urn
    assert source.inputs["resourceArn"] == graph.result["distribution_arn"], source.urn
    # ... the KMS-encrypted log group with retention the destination ...
    assert group.inputs["retentionInDays"] == 90, group.urn
    assert group.inputs["kmsKeyId"] == graph.result["logs_key"], group.urn
    assert destination.inputs["deliveryDestinationConfiguration"] == {
        "destinationResourceArn": graph.result["access_log_group_arn"]
    }, destination.urn
    # ... and the delivery joins the two, leaving the cookie field out
    assert delivery.inputs["deliverySourceName"] == source.inputs["name"], delivery.urn
    assert destination.urn in delivery.property_dependencies["deliveryDestinationArn"], delivery.urn
    assert delivery.inputs["recordFields"] == list(ACCESS_LOG_FIELDS), delivery.urn
    assert "cs(Cookie)" not in delivery.inputs["recordFields"], delivery.urn


# --- WAF -------------------------------------------------------------------------------------


def test_web_acl_is_cloudfront_scoped_with_its_rules_in_order(graph: Graph) -> None:
    # GIVEN the default args / WHEN the web ACL is read
    acl = graph.one(WEB_ACL)
    # THEN CLOUDFRONT scope, allow by default, rules in this order
    assert acl.inputs["scope"] == "CLOUDFRONT", acl.urn
    assert acl.inputs["defaultAction"] == {"allow": {}}, acl.urn
    rules = acl.inputs["rules"]
    assert [r["name"] for r in rules] == [
        "internal-paths",
        IP_REPUTATION,
        "rate-limit-auth",
        "rate-limit-api",
        COMMON_RULES,
        KNOWN_BAD_INPUTS,
    ], acl.urn
    assert [r["priority"] for r in rules] == list(range(len(rules))), acl.urn


def test_every_rule_and_the_acl_publish_metrics_and_samples(graph: Graph) -> None:
    # GIVEN the web ACL / WHEN visibility settings are read / THEN metrics and samples everywhere,
    # and the ACL's metric name is its name (the WebACL dimension alarms and dashboards use)
    acl = graph.one(WEB_ACL)
    assert acl.inputs["visibilityConfig"] == {
        "cloudwatchMetricsEnabled": True,
        "metricName": graph.result["web_acl_name"],
        "sampledRequestsEnabled": True,
    }, acl.urn
    assert acl.inputs["name"] == graph.result["web_acl_name"] == "notes-staging-edge", acl.urn
    for rule in acl.inputs["rules"]:
        assert rule["visibilityConfig"] == {
            "cloudwatchMetricsEnabled": True,
            "metricName": rule["name"],
            "sampledRequestsEnabled": True,
        }, f"{acl.urn}: {rule['name']}"


def test_managed_groups_block_except_the_body_size_rule(graph: Graph) -> None:
    # GIVEN the default args / WHEN the managed groups are read
    rules = web_acl_rules(graph)
    for group in (IP_REPUTATION, COMMON_RULES, KNOWN_BAD_INPUTS):
        rule = rules[group]
        # THEN each keeps its own block actions (override "none") and has no action of its own
        assert rule["overrideAction"] == {"none": {}}, group
        assert "action" not in rule, group
        statement = rule["statement"]["managedRuleGroupStatement"]
        assert (statement["vendorName"], statement["name"]) == ("AWS", group), group
    # AND the common rule set only counts bodies over 8 KB: notes are larger, the API limits bodies
    overrides = rules[COMMON_RULES]["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"]
    assert overrides == [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}], overrides


def test_rate_rules_limit_per_ip_with_a_stricter_one_on_the_auth_endpoints(graph: Graph) -> None:
    # GIVEN the default args / WHEN the rate-based rules are read
    rules = web_acl_rules(graph)
    api = rules["rate-limit-api"]["statement"]["rateBasedStatement"]
    auth = rules["rate-limit-auth"]["statement"]["rateBasedStatement"]
    # THEN both count per client IP over 5 minutes and block
    for name, statement in (("rate-limit-api", api), ("rate-limit-auth", auth)):
        assert statement["aggregateKeyType"] == "IP", name
        assert statement["evaluationWindowSec"] == 300, name
        assert rules[name]["action"] == {"block": {}}, name
    # AND the API-wide one covers everything, the auth one only /api/v1/auth/ and is stricter
    assert "scopeDownStatement" not in api, api
    assert (api["limit"], auth["limit"]) == (2000, 100), (api, auth)
    match = auth["scopeDownStatement"]["byteMatchStatement"]
    assert match["searchString"] == "/api/v1/auth/", match
    assert match["positionalConstraint"] == "STARTS_WITH", match
    assert match["fieldToMatch"] == {"uriPath": {}}, match
    # AND the path is decoded and normalised first, as the API routes it
    assert [t["type"] for t in match["textTransformations"]] == ["URL_DECODE", "NORMALIZE_PATH", "LOWERCASE"]


def test_internal_paths_are_blocked_at_the_edge(graph: Graph) -> None:
    # GIVEN the default internal paths / WHEN the rule is read / THEN /metrics never leaves the VPC
    rule = web_acl_rules(graph)["internal-paths"]
    assert rule["action"] == {"block": {}}, rule
    match = rule["statement"]["byteMatchStatement"]
    assert (match["searchString"], match["positionalConstraint"]) == ("/metrics", "STARTS_WITH"), match


def _to_api(value: Any, shape: Any, where: str) -> Any:
    """Wire (camelCase) names to the AWS API's names, guided by the botocore shape; a name the
    API does not know fails, and so does a value outside an enum."""
    if shape.type_name == "structure":
        assert isinstance(value, dict), f"{where}: expected a structure, got {value!r}"
        members = {m.lower(): m for m in shape.members}
        converted = {}
        for key, item in value.items():
            member = members.get(key.lower())
            assert member, f"{where}.{key} is not a field of {shape.name}: {sorted(shape.members)}"
            converted[member] = _to_api(item, shape.members[member], f"{where}.{member}")
        return converted
    if shape.type_name == "list":
        return [_to_api(item, shape.member, f"{where}[{i}]") for i, item in enumerate(value)]
    if getattr(shape, "enum", None):
        assert value in shape.enum, f"{where}: {value!r} is not one of {shape.enum}"
    return value


def _assert_valid_request(service: str, operation: str, params: dict[str, Any]) -> None:
    model = botocore.session.get_session().get_service_model(service).operation_model(operation)
    request = _to_api(params, model.input_shape, operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_web_acl_is_a_valid_create_web_acl_request(graph: Graph) -> None:
    # GIVEN the web ACL's inputs / WHEN read as a WAFv2 CreateWebACL request / THEN the API's own
    # model accepts every field, required member, enum value and limit
    _assert_valid_request("wafv2", "CreateWebACL", graph.one(WEB_ACL).inputs)


def test_waf_logs_are_redacted_and_kept_in_an_encrypted_aws_waf_logs_group(graph: Graph) -> None:
    # GIVEN the web ACL / WHEN its logging is read
    logging = graph.one(WEB_ACL_LOGGING)
    group = graph.named(f"{NAME}-waf-logs")
    # THEN WAF logs to the aws-waf-logs- group, KMS-encrypted with the us-east-1 key, with retention
    assert group.inputs["name"].startswith("aws-waf-logs-"), group.urn
    assert group.inputs["retentionInDays"] == 90, group.urn
    assert group.inputs["kmsKeyId"] == graph.result["logs_key"], group.urn
    assert logging.inputs["logDestinationConfigs"] == [graph.result["waf_log_group_arn"]], logging.urn
    assert logging.inputs["resourceArn"] == graph.result["web_acl_arn"], logging.urn
    # AND neither the Authorization header nor cookies reach the logs
    redacted = [f["singleHeader"]["name"] for f in logging.inputs["redactedFields"]]
    assert sorted(redacted) == ["authorization", "cookie"], logging.urn
    _assert_valid_request("wafv2", "PutLoggingConfiguration", {"loggingConfiguration": logging.inputs})


def test_rules_roll_out_in_count_mode_and_extra_groups_join_from_config() -> None:
    # GIVEN staging trying a new group and a stricter auth limit in count mode first
    def program() -> Any:
        origin = OriginSecret("count-origin-secret", origin_args())
        return Edge(
            "count-edge",
            edge_args(
                origin,
                extra_managed_rule_groups=["AWSManagedRulesSQLiRuleSet"],
                rule_actions={"AWSManagedRulesSQLiRuleSet": "count", "rate-limit-auth": "count"},
                internal_paths=(),
                rate_limit_per_5_minutes=5000,
                auth_rate_limit_per_5_minutes=50,
            ),
        ).web_acl_arn

    graph = run(program)
    # WHEN the web ACL is built
    rules = web_acl_rules(graph)
    # THEN the new group comes after the base ones and only counts; the rest still block
    assert list(rules)[-1] == "AWSManagedRulesSQLiRuleSet", list(rules)
    assert "internal-paths" not in rules, list(rules)
    assert rules["AWSManagedRulesSQLiRuleSet"]["overrideAction"] == {"count": {}}, rules
    assert rules["rate-limit-auth"]["action"] == {"count": {}}, rules
    assert rules["rate-limit-api"]["action"] == {"block": {}}, rules
    assert rules[COMMON_RULES]["overrideAction"] == {"none": {}}, rules
    assert rules["rate-limit-api"]["statement"]["rateBasedStatement"]["limit"] == 5000, rules
    assert rules["rate-limit-auth"]["statement"]["rateBasedStatement"]["limit"] == 50, rules
    _assert_valid_request("wafv2", "CreateWebACL", graph.one(WEB_ACL).inputs)


# --- alarms ----------------------------------------------------------------------------------


def _alarms(graph: Graph) -> dict[str, Recorded]:
    return {r.inputs["metricName"]: r for r in graph.of_type(METRIC_ALARM)}


def test_alarms_watch_cloudfront_5xx_and_waf_blocks_and_notify_the_us_east_1_topic(graph: Graph) -> None:
    # GIVEN the edge / WHEN its alarms are read
    alarms = _alarms(graph)
    assert sorted(alarms) == ["5xxErrorRate", "BlockedRequests"], list(alarms)
    errors, blocked = alarms["5xxErrorRate"], alarms["BlockedRequests"]
    # THEN the 5xx rate of this distribution (Region=Global, as CloudFront publishes it) ...
    assert errors.inputs["namespace"] == "AWS/CloudFront", errors.urn
    assert errors.inputs["dimensions"] == {
        "DistributionId": graph.result["distribution_id"],
        "Region": "Global",
    }, errors.urn
    assert (errors.inputs["statistic"], errors.inputs["threshold"]) == ("Average", 5), errors.urn
    # ... and the ACL's blocked total (WebACL + Rule=ALL, no Region for CLOUDFRONT scope)
    assert blocked.inputs["namespace"] == "AWS/WAFV2", blocked.urn
    assert blocked.inputs["dimensions"] == {"WebACL": graph.result["web_acl_name"], "Rule": "ALL"}, (
        blocked.urn
    )
    assert (blocked.inputs["statistic"], blocked.inputs["threshold"]) == ("Sum", 1000), blocked.urn
    # AND both tell the us-east-1 topic on ALARM and on OK; missing data means no traffic, not trouble
    topic = graph.result["topic_arn"]
    assert topic.split(":")[3] == "us-east-1", topic
    for alarm in (errors, blocked):
        assert alarm.inputs["alarmActions"] == [topic], alarm.urn
        assert alarm.inputs["okActions"] == [topic], alarm.urn
        assert alarm.inputs["treatMissingData"] == "notBreaching", alarm.urn
        assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold", alarm.urn


def test_alarm_topic_is_encrypted_with_the_us_east_1_sns_key_and_has_the_subscriptions(graph: Graph) -> None:
    # GIVEN an email and an HTTPS endpoint / WHEN the topic and its subscriptions are read
    topic = graph.one(SNS_TOPIC)
    # THEN the topic uses the edge's sns key (its policy admits cloudwatch.amazonaws.com)
    assert topic.inputs["kmsMasterKeyId"] == graph.result["sns_key"], topic.urn
    sns_key = graph.named(f"{NAME}-keys-sns")
    principals = [s["Principal"] for s in json.loads(sns_key.inputs["policy"])["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals, sns_key.urn
    # AND one subscription per endpoint, on that topic
    subscriptions = {(s.inputs["protocol"], s.inputs["endpoint"]) for s in graph.of_type(SNS_SUBSCRIPTION)}
    assert subscriptions == {("email", "ops@example.com"), ("https", "https://hooks.example.com/alarms")}
    for subscription in graph.of_type(SNS_SUBSCRIPTION):
        assert subscription.inputs["topic"] == graph.result["topic_arn"], subscription.urn


def test_the_edge_topic_is_an_alarm_topic_with_its_policy_like_the_stacks_own(graph: Graph) -> None:
    # GIVEN the edge / WHEN its topic is read
    [component] = [r for r in graph.resources if r.type == "notes:infra:AlarmTopic"]
    topic = graph.one(SNS_TOPIC)
    policy = graph.one(SNS_TOPIC_POLICY)
    # THEN it is the stack's AlarmTopic component, named apart from the stack's own topic
    assert topic.parent == component.urn and component.parent == edge_component(graph).urn
    assert topic.inputs["name"] == "notes-staging-edge-alarms", topic.urn
    # AND only this account's us-east-1 alarms of this environment may publish to it
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, policy.urn
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:notes-staging-*"
    ), policy.urn
    # AND the alarms it hears of are named inside that pattern
    assert {a.inputs["name"] for a in graph.of_type(METRIC_ALARM)} == {
        "notes-staging-cloudfront-5xx-error-rate",
        "notes-staging-waf-blocked-requests",
    }


def test_an_edge_alarm_on_a_metric_aws_does_not_publish_fails_before_registering() -> None:
    # GIVEN a metric CloudFront does not publish with these dimensions (no Region)
    # WHEN it is described as the edge describes its alarms
    # THEN the metrics catalog refuses it, as it does every other alarm's
    with pytest.raises(ValueError, match="5xxErrorRate is not published with dimensions"):
        Metric(CLOUDFRONT, "5xxErrorRate", {"DistributionId": "E123"}, "Average")


# --- origin secret rotation ------------------------------------------------------------------


def test_one_generation_one_secret_in_the_stack_region() -> None:
    # GIVEN generation 1 / WHEN the stack is built
    graph = build_stack(origin_args(generation=1))
    # THEN one KMS-encrypted secret holds the value, and the ALB accepts exactly that value
    [secret] = graph.of_type(SECRET)
    assert secret.inputs["name"] == "notes/staging/cloudfront-origin-header-g1", secret.urn
    assert secret.inputs["kmsKeyId"] == SECRETS_KEY, secret.urn
    assert graph.result["accepted"] == [graph.result["sent"]], graph.result


def test_rotation_step_1_accepts_both_values_while_cloudfront_moves_to_the_new_one() -> None:
    # GIVEN generation 2 with generation 1 still accepted / WHEN the stack is built
    graph = build_stack(origin_args(generation=2, previous_generation=1))
    # THEN both generations' secrets exist, the ALB accepts both (new first), CloudFront sends the new
    names = sorted(s.inputs["name"] for s in graph.of_type(SECRET))
    assert names == [
        "notes/staging/cloudfront-origin-header-g1",
        "notes/staging/cloudfront-origin-header-g2",
    ], names
    sent, accepted = graph.result["sent"], graph.result["accepted"]
    assert len(accepted) == 2, accepted
    assert len(set(accepted)) == 2, "the two generations must differ"
    assert accepted[0] == sent, (sent, accepted)
    [rule] = graph.of_type(LISTENER_RULE)
    assert rule.inputs["conditions"][0]["httpHeader"]["values"] == ["[secret]", "[secret]"], rule.urn
    # AND the distribution's header comes from the new generation's value
    dist = graph.one(DISTRIBUTION)
    new_password = graph.named("staging-origin-secret-g2-password")
    old_password = graph.named("staging-origin-secret-g1-password")
    assert new_password.urn in dist.property_dependencies["origins"], dist.urn
    assert old_password.urn not in dist.property_dependencies["origins"], dist.urn
    # AND the edge reports the new generation's secret
    assert ":secret:notes/staging/cloudfront-origin-header-g2-" in graph.result["origin_secret_arn"], (
        graph.result
    )


def test_rotation_step_2_drops_the_previous_value() -> None:
    # GIVEN generation 2 and no previous generation / WHEN the stack is built
    graph = build_stack(origin_args(generation=2))
    # THEN only generation 2 exists and the ALB accepts only its value, the one CloudFront sends
    names = [s.inputs["name"] for s in graph.of_type(SECRET)]
    assert names == ["notes/staging/cloudfront-origin-header-g2"], names
    assert graph.result["accepted"] == [graph.result["sent"]], graph.result


# --- shape and validation --------------------------------------------------------------------


@pytest.mark.parametrize("module", ["infra.edge.waf_rules", "infra.edge.cloudfront"])
def test_the_rule_names_and_cloudfront_values_load_without_pulumi(module: str) -> None:
    # GIVEN a fresh interpreter (this one has loaded pulumi already) at the repository's root
    root = Path(__file__).resolve().parents[2]
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws')))"
    )
    # WHEN it imports the module the config schema reads the rule names from
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    # THEN neither pulumi nor pulumi_aws is in sys.modules
    assert result.stdout.strip() == "[]", f"importing {module} loaded {result.stdout.strip()}"


def test_children_are_named_after_the_component_and_urns_are_unique(graph: Graph) -> None:
    # GIVEN the wired stack / WHEN the edge's resources are read / THEN all carry its name
    edge = edge_component(graph)
    for resource in under(graph, edge):
        assert resource.name.startswith(f"{NAME}-"), resource.urn
    urns = [r.urn for r in graph.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"
    assert graph.result["url"] == f"https://{ALIASES[0]}", graph.result


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"aliases": ()}, r"aliases must list at least one name"),
        ({"aliases": "api.staging.notes.example.com"}, r"aliases must list at least one name"),
        (
            {"aliases": ("api.other.example.com",)},
            r"aliases: 'api.other.example.com' is not inside zone_name",
        ),
        ({"aliases": ("*.staging.notes.example.com",)}, r"not a lowercase DNS name \(no wildcards\)"),
        ({"aliases": (ORIGIN,)}, r"is the origin_domain_name"),
        ({"aliases": (ALIASES[0], ALIASES[0])}, r"names one name twice"),
        ({"price_class": "PriceClass_Cheap"}, r"price_class='PriceClass_Cheap'"),
        ({"public_cache_paths": ("/api/v1/notes",)}, r"public_cache_paths: '/api/v1/notes' is under /api/"),
        ({"public_cache_paths": ("health",)}, r"public_cache_paths: 'health'"),
        ({"public_cache_ttl_seconds": 3600}, r"public_cache_ttl_seconds=3600"),
        ({"internal_paths": ("/metrics*",)}, r"internal_paths: '/metrics\*'"),
        ({"auth_path_prefix": "/api/v1/auth"}, r"auth_path_prefix='/api/v1/auth'"),
        ({"rate_limit_per_5_minutes": 5}, r"rate_limit_per_5_minutes=5; WAF accepts 10"),
        ({"auth_rate_limit_per_5_minutes": 2000}, r"auth_rate_limit_per_5_minutes=2000 must be below"),
        ({"rule_actions": {"no-such-rule": "count"}}, r"rule_actions: no rule named 'no-such-rule'"),
        ({"rule_actions": {"rate-limit-api": "allow"}}, r"rule_actions\['rate-limit-api'\]='allow'"),
        (
            {"extra_managed_rule_groups": ("SQLi",)},
            r"extra_managed_rule_groups: 'SQLi' is not an AWS managed",
        ),
        ({"extra_managed_rule_groups": (COMMON_RULES,)}, r"is always in the web ACL already"),
        ({"extra_managed_rule_groups": ("AWSManagedRulesBotControlRuleSet",)}, r"needs a managed rule group"),
        ({"managed_rule_count_overrides": {"AWSManagedRulesSQLiRuleSet": ("x",)}}, r"not a managed group"),
        ({"waf_log_retention_days": 10}, r"waf_log_retention_days=10; CloudWatch Logs accepts"),
        ({"access_log_retention_days": 0}, r"access_log_retention_days=0"),
        ({"error_rate_threshold_percent": 0}, r"error_rate_threshold_percent=0 is not a percentage"),
        ({"blocked_requests_threshold": 0}, r"blocked_requests_threshold=0"),
        (
            {"alarm_subscriptions": (AlarmSubscription("email", "ops"),)},
            r"alarm_subscriptions\[0\]\.endpoint='ops' is not an e-mail address",
        ),
        (
            {"alarm_subscriptions": (AlarmSubscription("https", "http://hooks.example.com"),)},
            r"alarm_subscriptions\[0\]\.endpoint='http://hooks.example.com': an https subscription needs",
        ),
        ({"key_deletion_window_days": 3}, r"key_deletion_window_days=3"),
        ({"default_tags": {}}, r"default_tags is empty"),
    ],
)
def test_impossible_edge_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args AWS or the design cannot take / WHEN the edge is built / THEN ValueError names the field
    def program() -> None:
        origin = OriginSecret("bad-origin-secret", origin_args())
        Edge("bad-edge", edge_args(origin, **overrides))

    with pytest.raises(ValueError, match=message):
        run(program)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"generation": 0}, r"generation=0; generations start at 1"),
        ({"generation": 2, "previous_generation": 2}, r"previous_generation=2 must be below generation=2"),
        ({"generation": 2, "previous_generation": 3}, r"previous_generation=3 must be below"),
        ({"header_name": "Authorization"}, r"header_name: 'Authorization' is a header CloudFront reserves"),
        ({"recovery_window_days": 3}, r"recovery_window_days=3; Secrets Manager allows 7 to 30 days"),
    ],
)
def test_impossible_origin_secret_args_fail_in_the_constructor(
    overrides: dict[str, Any], message: str
) -> None:
    # GIVEN a rotation that cannot work / WHEN the secret is built / THEN ValueError names the field
    with pytest.raises(ValueError, match=message):
        run(lambda: OriginSecret("bad-origin-secret", origin_args(**overrides)))
