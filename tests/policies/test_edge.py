"""Edge policies: the ALB's TLS, redirect, headers and logs; CloudFront's TLS, origins, WAF and
logs; WAF metrics, logging and region."""

from __future__ import annotations

import pytest
from pulumi_policy import Policy

from policies.notes_policies import edge
from policies.notes_policies import resource_types as t
from tests.policies import fixtures as f
from tests.policies.harness import (
    ACCOUNT,
    Happy,
    Mutation,
    StackMutation,
    adding,
    applied,
    assert_passes,
    check_stack,
    happy_path_test,
    in_order,
    mutation_test,
    on,
    option,
    provider_urn,
    removing,
    resource,
    setting,
    stack_mutation_test,
    together,
    without,
)

HAPPY: Happy = [
    (edge.alb_https_modern_tls, f.https_listener),
    (edge.alb_https_modern_tls, f.http_listener),
    (edge.alb_http_redirects_to_https, f.http_listener),
    (edge.alb_http_redirects_to_https, f.https_listener),
    (edge.alb_drop_invalid_headers, f.load_balancer),
    (edge.alb_access_logs, f.load_balancer),
    (edge.cloudfront_https_only, f.distribution),
    (edge.cloudfront_modern_tls, f.distribution),
    (edge.cloudfront_origin_https, f.distribution),
    (edge.cloudfront_web_acl, f.distribution),
    (edge.waf_metrics_enabled, f.web_acl),
    (edge.waf_cloudfront_in_us_east_1, f.web_acl),
]

MODERN_TLS = "HTTPS listeners must use a modern TLS policy (TLS 1.2 or newer)."
REDIRECT = "HTTP listeners must redirect to HTTPS."
VIEWER_HTTPS = "CloudFront must serve viewers over HTTPS only."
VIEWER_TLS = "CloudFront must require TLSv1.2_2021 or newer."
ACL_REGION = "CloudFront-scope web ACLs must be created in us-east-1."

MUTATIONS = [
    Mutation(
        edge.alb_https_modern_tls,
        f.https_listener,
        setting("sslPolicy", "ELBSecurityPolicy-TLS13-1-0-2021-06"),
        MODERN_TLS,
        "a TLS 1.3 policy that still accepts TLS 1.0",
    ),
    Mutation(
        edge.alb_https_modern_tls,
        f.https_listener,
        removing("sslPolicy"),
        MODERN_TLS,
        "no policy (AWS picks ELBSecurityPolicy-2016-08)",
    ),
    Mutation(
        edge.alb_http_redirects_to_https,
        f.http_listener,
        setting("defaultActions", [{"type": "forward", "targetGroupArn": "arn:aws:lb:tg"}]),
        REDIRECT,
        "plain HTTP forwarded",
    ),
    Mutation(
        edge.alb_http_redirects_to_https,
        f.http_listener,
        setting("defaultActions.0.redirect.protocol", "HTTP"),
        REDIRECT,
        "a redirect that stays on HTTP",
    ),
    Mutation(
        edge.alb_drop_invalid_headers,
        f.load_balancer,
        setting("dropInvalidHeaderFields", False),
        "Load balancers must drop invalid header fields.",
        "invalid headers passed on",
    ),
    Mutation(
        edge.alb_drop_invalid_headers,
        f.load_balancer,
        removing("dropInvalidHeaderFields"),
        "Load balancers must drop invalid header fields.",
        "the AWS default",
    ),
    Mutation(
        edge.alb_access_logs,
        f.load_balancer,
        setting("accessLogs.enabled", False),
        "Load balancers must write access logs to S3.",
        "logs switched off",
    ),
    Mutation(
        edge.alb_access_logs,
        f.load_balancer,
        removing("accessLogs"),
        "Load balancers must write access logs to S3.",
        "no access logs",
    ),
    Mutation(
        edge.cloudfront_https_only,
        f.distribution,
        setting("defaultCacheBehavior.viewerProtocolPolicy", "allow-all"),
        VIEWER_HTTPS,
        "default behaviour",
    ),
    Mutation(
        edge.cloudfront_https_only,
        f.distribution,
        setting("orderedCacheBehaviors.0.viewerProtocolPolicy", "allow-all"),
        VIEWER_HTTPS,
        "an ordered behaviour",
    ),
    Mutation(
        edge.cloudfront_modern_tls,
        f.distribution,
        setting("viewerCertificate.minimumProtocolVersion", "TLSv1.2_2019"),
        VIEWER_TLS,
        "TLSv1.2_2019",
    ),
    Mutation(
        edge.cloudfront_modern_tls,
        f.distribution,
        setting(
            "viewerCertificate",
            {"cloudfrontDefaultCertificate": True, "minimumProtocolVersion": "TLSv1.2_2021"},
        ),
        VIEWER_TLS,
        "the *.cloudfront.net certificate",
    ),
    Mutation(
        edge.cloudfront_origin_https,
        f.distribution,
        setting("origins.0.customOriginConfig.originProtocolPolicy", "match-viewer"),
        "CloudFront origins must be reached over HTTPS only.",
        "match-viewer",
    ),
    Mutation(
        edge.cloudfront_origin_https,
        f.distribution,
        setting("origins.0.customOriginConfig.originSslProtocols", ["TLSv1.1", "TLSv1.2"]),
        "CloudFront origins must accept TLSv1.2 only.",
        "TLSv1.1 to the origin",
    ),
    Mutation(
        edge.cloudfront_web_acl,
        f.distribution,
        removing("webAclId"),
        "CloudFront distributions must have a web ACL.",
        "no web ACL",
    ),
    Mutation(
        edge.waf_metrics_enabled,
        f.web_acl,
        setting("visibilityConfig.cloudwatchMetricsEnabled", False),
        "WAF web ACLs must publish CloudWatch metrics.",
        "the web ACL's metrics",
    ),
    Mutation(
        edge.waf_metrics_enabled,
        f.web_acl,
        setting("rules.1.visibilityConfig.cloudwatchMetricsEnabled", False),
        "WAF rule 'rate-limit' must publish CloudWatch metrics.",
        "one rule's metrics",
    ),
    Mutation(
        edge.waf_metrics_enabled,
        f.web_acl,
        together(
            removing("rules"),
            setting(
                "ruleJson",
                '[{"Name": "geo", "Priority": 2, "VisibilityConfig": {"CloudWatchMetricsEnabled": false}}]',
            ),
        ),
        "WAF rule 'geo' must publish CloudWatch metrics.",
        "a rule given as JSON",
    ),
    Mutation(
        edge.waf_cloudfront_in_us_east_1,
        f.web_acl,
        option("provider", provider_urn("prod")),
        ACL_REGION,
        "the stack's eu-west-1 provider",
    ),
    Mutation(
        edge.waf_cloudfront_in_us_east_1,
        f.web_acl,
        together(option("provider", provider_urn("prod", "aws-us-east-1")), setting("region", "eu-west-1")),
        ACL_REGION,
        "a us-east-1 provider overridden by the resource's region",
    ),
]

DISTRIBUTION = f.DISTRIBUTION_URN
STACK_MUTATIONS = [
    StackMutation(
        edge.cloudfront_access_logs,
        on("prod-edge-cdn", removing("loggingConfig")),
        [("CloudFront distributions must log requests.", DISTRIBUTION)],
        "no standard logs",
    ),
    StackMutation(
        edge.cloudfront_certificate_us_east_1,
        on("prod-edge-certificate", option("provider", provider_urn("prod"))),
        [("CloudFront certificates must be issued in us-east-1.", DISTRIBUTION)],
        "the certificate made by the eu-west-1 provider",
    ),
    StackMutation(
        edge.cloudfront_certificate_us_east_1,
        in_order(
            without("prod-edge-certificate"),
            on(
                "prod-edge-cdn",
                setting(
                    "viewerCertificate.acmCertificateArn",
                    f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/imported",
                ),
                option("dependencies", [f.WEB_ACL_URN]),
            ),
        ),
        [("CloudFront certificates must be issued in us-east-1.", DISTRIBUTION)],
        "a certificate from another stack, in eu-west-1",
    ),
    StackMutation(
        edge.waf_logging_enabled,
        without("prod-edge-waf-logging"),
        [("WAF web ACLs must have logging enabled.", f.WEB_ACL_URN)],
        "no logging configuration",
    ),
    StackMutation(
        edge.waf_logging_enabled,
        on("prod-edge-waf-logging", setting("logDestinationConfigs", [])),
        [("WAF web ACLs must have logging enabled.", f.WEB_ACL_URN)],
        "logging to nowhere",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph)


@pytest.mark.parametrize(
    "policy", [edge.cloudfront_access_logs, edge.cloudfront_certificate_us_east_1, edge.waf_logging_enabled]
)
def test_the_prod_graph_with_its_edge_passes(policy: Policy) -> None:
    assert check_stack(policy, f.prod_graph()) == []


def test_cloudwatch_log_delivery_counts_as_cloudfront_logging() -> None:
    # GIVEN a distribution without standard logs but with a CloudWatch log delivery source on it
    graph = f.prod_graph()
    on("prod-edge-cdn", removing("loggingConfig"))(graph)
    source = resource(
        t.LOG_DELIVERY_SOURCE,
        "prod-edge-cdn-log-source",
        {
            "name": "notes-prod-cdn",
            "logType": "ACCESS_LOGS",
            "resourceArn": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E2EXAMPLE00000",
        },
        provider="aws-us-east-1",
        dependencies=[DISTRIBUTION],
    )
    adding(source)(graph)
    # WHEN the stack is validated THEN the distribution logs
    assert check_stack(edge.cloudfront_access_logs, graph) == []


def test_a_web_acl_placed_in_us_east_1_by_its_own_region_passes() -> None:
    # GIVEN the web ACL on the stack's eu-west-1 provider but with region us-east-1 (AWS provider 7)
    placed = applied(f.web_acl(), option("provider", provider_urn("prod")), setting("region", "us-east-1"))
    assert_passes(edge.waf_cloudfront_in_us_east_1, placed)


def test_a_regional_web_acl_may_live_anywhere() -> None:
    regional = applied(f.web_acl(), option("provider", provider_urn("prod")), setting("scope", "REGIONAL"))
    assert_passes(edge.waf_cloudfront_in_us_east_1, regional)
