"""Edge: CloudFront in front, WAF on it, the ALB behind it; TLS 1.2+ on every hop, every request logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from . import resource_types as t
from .common import (
    Settings,
    document,
    is_true,
    mapping,
    of_type,
    references,
    region_of,
    resource_rule,
    sequence,
    stack_rule,
    strings_setting,
    text,
)

# CloudFront and its certificates, and the web ACLs attached to it, live in us-east-1 only.
CLOUDFRONT_REGION = "us-east-1"


def _application(props: Mapping[str, Any]) -> bool:
    return text(props.get("loadBalancerType")) in ("", "application")


@resource_rule(
    "alb-https-modern-tls",
    "HTTPS listeners negotiate TLS 1.2 or newer only.",
    types=t.LISTENERS,
    config={
        "allowedPolicyPrefixes": strings_setting(
            # TLS13-1-0 and TLS13-1-1 policies still accept TLS 1.0 and 1.1: the minimum is in the name.
            ["ELBSecurityPolicy-TLS13-1-2-", "ELBSecurityPolicy-TLS13-1-3-"],
            "security policy name prefixes that set TLS 1.2 or newer as the minimum",
        )
    },
)
def alb_https_modern_tls(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    if args.props.get("protocol") not in ("HTTPS", "TLS"):
        return
    # With no policy named, AWS applies ELBSecurityPolicy-2016-08, which accepts TLS 1.0.
    policy = text(args.props.get("sslPolicy"))
    if not any(policy.startswith(prefix) for prefix in settings.strings("allowedPolicyPrefixes")):
        report("HTTPS listeners must use a modern TLS policy (TLS 1.2 or newer).", None)


@resource_rule(
    "alb-http-redirects-to-https",
    "Plain HTTP listeners only redirect to HTTPS.",
    types=t.LISTENERS,
)
def alb_http_redirects_to_https(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if args.props.get("protocol") != "HTTP":
        return
    actions = [mapping(a) for a in sequence(args.props.get("defaultActions"))]
    redirects = [
        a
        for a in actions
        if a.get("type") == "redirect" and mapping(a.get("redirect")).get("protocol") == "HTTPS"
    ]
    if not actions or len(redirects) != len(actions):
        report("HTTP listeners must redirect to HTTPS.", None)


@resource_rule(
    "alb-drop-invalid-headers",
    "Application load balancers drop header fields that are not valid HTTP (request smuggling).",
    types=t.LOAD_BALANCERS,
)
def alb_drop_invalid_headers(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if _application(args.props) and not is_true(args.props.get("dropInvalidHeaderFields")):
        report("Load balancers must drop invalid header fields.", None)


@resource_rule(
    "alb-access-logs",
    "Application load balancers write access logs to S3.",
    types=t.LOAD_BALANCERS,
)
def alb_access_logs(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    logs = mapping(args.props.get("accessLogs"))
    if _application(args.props) and not (is_true(logs.get("enabled")) and text(logs.get("bucket"))):
        report("Load balancers must write access logs to S3.", None)


@resource_rule(
    "cloudfront-https-only",
    "CloudFront serves viewers over HTTPS only (https-only or redirect-to-https).",
    types={t.DISTRIBUTION},
)
def cloudfront_https_only(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    behaviors = [args.props.get("defaultCacheBehavior"), *sequence(args.props.get("orderedCacheBehaviors"))]
    policies = {mapping(b).get("viewerProtocolPolicy") for b in behaviors}
    if not policies <= {"https-only", "redirect-to-https"}:
        report("CloudFront must serve viewers over HTTPS only.", None)


@resource_rule(
    "cloudfront-modern-tls",
    "CloudFront uses its own certificate and a TLSv1.2_2021 or newer security policy.",
    types={t.DISTRIBUTION},
    config={
        "allowedProtocolVersions": strings_setting(
            ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"],
            "viewer certificate minimum protocol versions accepted",
        )
    },
)
def cloudfront_modern_tls(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    certificate = mapping(args.props.get("viewerCertificate"))
    # The *.cloudfront.net certificate always accepts TLSv1, whatever the minimum says.
    default_certificate = is_true(certificate.get("cloudfrontDefaultCertificate"))
    version = certificate.get("minimumProtocolVersion")
    if default_certificate or version not in settings.strings("allowedProtocolVersions"):
        report("CloudFront must require TLSv1.2_2021 or newer.", None)


@resource_rule(
    "cloudfront-origin-https",
    "CloudFront reaches custom origins over HTTPS with TLSv1.2 only.",
    types={t.DISTRIBUTION},
)
def cloudfront_origin_https(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    for origin in sequence(args.props.get("origins")):
        custom = mapping(mapping(origin).get("customOriginConfig"))
        if not custom:
            continue
        if custom.get("originProtocolPolicy") != "https-only":
            report("CloudFront origins must be reached over HTTPS only.", None)
        protocols = set(sequence(custom.get("originSslProtocols")))
        if not protocols or protocols - {"TLSv1.2"}:
            report("CloudFront origins must accept TLSv1.2 only.", None)


@resource_rule(
    "cloudfront-web-acl",
    "Every CloudFront distribution is behind a WAF web ACL.",
    types={t.DISTRIBUTION},
)
def cloudfront_web_acl(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not text(args.props.get("webAclId")):
        report("CloudFront distributions must have a web ACL.", None)


@stack_rule(
    "cloudfront-access-logs",
    "CloudFront distributions log requests: standard logs to S3 or a CloudWatch log delivery source.",
)
def cloudfront_access_logs(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    sources = of_type(args, t.LOG_DELIVERY_SOURCE)
    for distribution in of_type(args, t.DISTRIBUTION):
        legacy = text(mapping(distribution.props.get("loggingConfig")).get("bucket"))
        delivered = any(
            text(s.props.get("logType")) == "ACCESS_LOGS" and references(s, "resourceArn", distribution)
            for s in sources
        )
        if not (legacy or delivered):
            report("CloudFront distributions must log requests.", distribution.urn)


@stack_rule(
    "cloudfront-certificate-us-east-1",
    "CloudFront's ACM certificate is issued in us-east-1, the only region CloudFront reads.",
)
def cloudfront_certificate_us_east_1(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    certificates = of_type(args, t.ACM_CERTIFICATE)
    validations = of_type(args, t.ACM_CERTIFICATE_VALIDATION)
    for distribution in of_type(args, t.DISTRIBUTION):
        arn = text(mapping(distribution.props.get("viewerCertificate")).get("acmCertificateArn"))
        if not arn:
            continue
        source = _certificate_behind(distribution, certificates, validations)
        # A certificate made in this stack is where its provider (or its own region) puts it,
        # whatever a plan's stand-in ARN says; one made elsewhere can only be read from its ARN.
        region = region_of(source) if source else (arn.split(":")[3] if arn.count(":") >= 5 else "")
        if region != CLOUDFRONT_REGION:
            report("CloudFront certificates must be issued in us-east-1.", distribution.urn)


def _certificate_behind(
    distribution: PolicyResource, certificates: list[PolicyResource], validations: list[PolicyResource]
) -> PolicyResource | None:
    """The certificate the distribution serves: named directly, or through the validation it
    waits for (whose certificate ARN is the certificate's)."""
    waited = [v for v in validations if references(distribution, "viewerCertificate", v)]
    found = [
        c
        for c in certificates
        if references(distribution, "viewerCertificate", c)
        or any(references(v, "certificateArn", c) for v in waited)
    ]
    return found[0] if len(found) == 1 else None


def _metrics_on(visibility: Any) -> bool:
    config = mapping(visibility)
    # Web ACL rules given as JSON use the WAFv2 API's names.
    return is_true(config.get("cloudwatchMetricsEnabled", config.get("CloudWatchMetricsEnabled")))


@resource_rule(
    "waf-metrics-enabled",
    "A web ACL and each of its rules publish CloudWatch metrics, so blocks can be seen and alarmed on.",
    types={t.WEB_ACL},
)
def waf_metrics_enabled(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not _metrics_on(args.props.get("visibilityConfig")):
        report("WAF web ACLs must publish CloudWatch metrics.", None)
    rules = [*sequence(args.props.get("rules")), *sequence(document(args.props.get("ruleJson")))]
    for rule in map(mapping, rules):
        if not _metrics_on(rule.get("visibilityConfig", rule.get("VisibilityConfig"))):
            name = text(rule.get("name", rule.get("Name")))
            report(f"WAF rule {name!r} must publish CloudWatch metrics.", None)


@stack_rule("waf-logging-enabled", "Every web ACL has a logging configuration with a destination.")
def waf_logging_enabled(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    configurations = of_type(args, t.WEB_ACL_LOGGING)
    for acl in of_type(args, t.WEB_ACL):
        name = text(acl.props.get("name"))

        def is_this_acl(value: Any, name: str = name) -> bool:
            # arn:aws:wafv2:<region>:<account>:<global|regional>/webacl/<name>/<id>
            return bool(name) and f"/webacl/{name}/" in text(value)

        logged = any(
            references(c, "resourceArn", acl, is_this_acl) and sequence(c.props.get("logDestinationConfigs"))
            for c in configurations
        )
        if not logged:
            report("WAF web ACLs must have logging enabled.", acl.urn)


@resource_rule(
    "waf-cloudfront-in-us-east-1",
    "A CLOUDFRONT-scope web ACL is created in us-east-1: through a us-east-1 provider or its own region.",
    types={t.WEB_ACL},
)
def waf_cloudfront_in_us_east_1(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if args.props.get("scope") != "CLOUDFRONT":
        return
    if region_of(args) != CLOUDFRONT_REGION:
        report("CloudFront-scope web ACLs must be created in us-east-1.", None)


POLICIES: list[Policy] = [
    alb_https_modern_tls,
    alb_http_redirects_to_https,
    alb_drop_invalid_headers,
    alb_access_logs,
    cloudfront_https_only,
    cloudfront_modern_tls,
    cloudfront_origin_https,
    cloudfront_web_acl,
    cloudfront_access_logs,
    cloudfront_certificate_us_east_1,
    waf_metrics_enabled,
    waf_logging_enabled,
    waf_cloudfront_in_us_east_1,
]
