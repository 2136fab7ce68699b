"""The edge of the API: a CloudFront distribution in front of the ALB, its WAF web ACL, viewer
certificate, DNS names, access logs and alarms, and the origin secret that locks the ALB to it.

CloudFront reads its viewer certificate, its CLOUDFRONT-scope web ACL, and publishes its own and
WAF's metrics, only in us-east-1. ``Edge`` owns an explicit us-east-1 provider (with the stack's
default tags) and registers everything CloudFront needs there with it: the certificate and its
validation, the web ACL, its ``aws-waf-logs-`` log group and logging configuration, the access
log delivery and its log group, the CloudFront and WAF alarms, the KMS-encrypted topic they
notify (alarms can only notify a topic in their own region), and the two KMS keys of those. The
distribution and its policies are global and registered there too. Route 53 is global and keeps
the stack's provider. The origin secret lives in the stack's region, next to the ALB.

Construction order in a stack::

    origin = OriginSecret(f"{env}-origin-secret", OriginSecretArgs(...))
    alb = LoadBalancer(..., LoadBalancerArgs(..., origin_header_name=origin.header_name,
                                             origin_secret_values=origin.accepted_values))
    edge = Edge(f"{env}-edge", EdgeArgs(..., origin_secret=origin, origin_ready=[alb.origin_rule]))

Rotating the origin secret: two deployments, each a config change to ``OriginSecretArgs``
(``generation`` and ``previous_generation``, from the stack's config):

1. Set ``generation`` to N+1 and ``previous_generation`` to N, and deploy. A new value is
   generated and stored in Secrets Manager next to the old one. The ALB's origin rule is
   updated first to accept both values (the distribution depends on the rule), then CloudFront
   starts sending the new value; the deployment returns only once the distribution is deployed
   at every edge location. Requests carrying the old value are accepted throughout.
2. After step 1 has finished, remove ``previous_generation`` (back to null) and deploy. The ALB
   accepts only the new value; the old generation's secret is scheduled for deletion (recovery
   window).

Never bump ``generation`` without setting ``previous_generation``: the ALB would stop accepting
the old value while edge locations still send it, and viewers would get 403s until CloudFront
caught up. Generations only go up: a retired generation's secret name stays reserved for its
recovery window.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pulumi
import pulumi_aws as aws

from infra.alb import DEFAULT_ORIGIN_HEADER_NAME, dns_validation_record, origin_header_name_problem
from infra.kms import Keys, KeysArgs
from infra.log_retention import LOG_RETENTION_DAYS
from infra.observability.metrics_catalog import CLOUDFRONT, CLOUDFRONT_REGION_DIMENSION, WAF, WAF_ALL_RULES
from infra.secrets import RECOVERY_WINDOW_DAYS, GeneratedSecret, GeneratedSecretArgs

EDGE_REGION = "us-east-1"
# AWS managed CloudFront policies (ids are fixed by AWS and the same in every account).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# Alias records to any distribution point at CloudFront's own hosted zone.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE")
ORIGIN_ID = "alb"
# Longer than the API's slowest request, short enough that a stuck origin frees the viewer.
ORIGIN_READ_TIMEOUT_SECONDS = 30
# CloudFront must close idle origin connections before the ALB does (its idle timeout is 60 s
# by default), or it reuses connections the ALB has dropped and viewers see 502s.
ORIGIN_KEEPALIVE_SECONDS = 5
HSTS_MAX_AGE_SECONDS = 63_072_000  # two years, what the HSTS preload list asks for

RuleAction = Literal["block", "count"]
RULE_ACTIONS = ("block", "count")
IP_REPUTATION = "AWSManagedRulesAmazonIpReputationList"
COMMON_RULES = "AWSManagedRulesCommonRuleSet"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
BASE_MANAGED_GROUPS = (IP_REPUTATION, COMMON_RULES, KNOWN_BAD_INPUTS)
INTERNAL_PATHS_RULE = "internal-paths"
RATE_LIMIT_AUTH_RULE = "rate-limit-auth"
RATE_LIMIT_API_RULE = "rate-limit-api"
# The web ACL's own rules besides the managed groups.
CUSTOM_RULES = (INTERNAL_PATHS_RULE, RATE_LIMIT_API_RULE, RATE_LIMIT_AUTH_RULE)
# These groups need a managed_rule_group_config (inspection level, login paths ...) that this
# component does not write; WAF would reject them.
NEEDS_GROUP_CONFIG = frozenset(
    {
        "AWSManagedRulesBotControlRuleSet",
        "AWSManagedRulesATPRuleSet",
        "AWSManagedRulesACFPRuleSet",
        "AWSManagedRulesAntiDDoSRuleSet",
    }
)
# WAF's rate-based limit per evaluation window (botocore wafv2 RateLimit: 10..2e9).
RATE_LIMIT_RANGE = range(10, 2_000_000_001)
RATE_WINDOW_SECONDS = 300
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# Headers redacted from WAF logs (WAF wants them lowercase): bearer tokens and session cookies.
REDACTED_HEADERS = ("authorization", "cookie")
# CloudFront standard log fields (v2 delivery), all of them but cs(Cookie): cookies can carry
# session material, and the API never reads one.
ACCESS_LOG_FIELDS = (
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
)
_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MANAGED_GROUP = re.compile(r"AWSManagedRules[A-Za-z0-9]+")
_WAF_RULE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/*-]*$")


# --- origin secret ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OriginSecretArgs:
    environment: str
    """Environment name; part of the secrets' names. Required."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key (stack region) the secrets are encrypted with. Required."""
    generation: int = 1
    """Generation of the value CloudFront sends; bump it to rotate (see the module docstring).
    From config. Default 1."""
    previous_generation: int | None = None
    """The generation the ALB still accepts during a rotation, or None. From config. Default None."""
    header_name: str = DEFAULT_ORIGIN_HEADER_NAME
    """Header that carries the value. Default ``X-Origin-Verify``."""
    recovery_window_days: int = 30
    """Days a retired generation's secret can still be restored (7-30). Default 30."""


class OriginSecret(pulumi.ComponentResource):
    """The generated value(s) of the origin header, one Secrets Manager secret per generation."""

    header_name: str
    current: GeneratedSecret
    previous: GeneratedSecret | None
    value: pulumi.Output[str]
    arn: pulumi.Output[str]
    accepted_values: list[pulumi.Output[str]]

    def __init__(self, name: str, args: OriginSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate_origin_secret(name, args)
        super().__init__("notes:infra:OriginSecret", name, None, opts)
        self.header_name = args.header_name

        def generation(number: int) -> GeneratedSecret:
            # One resource (and one Secrets Manager secret) per generation, named after it: a
            # new generation is a new value, and the previous one stays until it is let go.
            return GeneratedSecret(
                f"{name}-g{number}",
                GeneratedSecretArgs(
                    environment=args.environment,
                    purpose=f"cloudfront-origin-header-g{number}",
                    description=(
                        f"Value of the {args.header_name} header CloudFront adds to origin requests and "
                        f"the ALB requires (generation {number})"
                    ),
                    kms_key_arn=args.kms_key_arn,
                    recovery_window_days=args.recovery_window_days,
                    # Letters and digits only: the ALB reads * and ? in a header condition as
                    # wildcards.
                    length=64,
                    special=False,
                ),
                pulumi.ResourceOptions(parent=self),
            )

        self.current = generation(args.generation)
        self.previous = None if args.previous_generation is None else generation(args.previous_generation)
        self.value = self.current.value
        self.arn = self.current.arn
        self.accepted_values = [self.current.value] + ([self.previous.value] if self.previous else [])
        self.register_outputs({"arn": self.arn, "headerName": self.header_name})


def _validate_origin_secret(name: str, args: OriginSecretArgs) -> None:
    where = f"OriginSecret {name}"
    if args.generation < 1:
        raise ValueError(f"{where}: generation={args.generation}; generations start at 1")
    previous = args.previous_generation
    if previous is not None and not 1 <= previous < args.generation:
        raise ValueError(
            f"{where}: previous_generation={previous} must be below generation={args.generation} "
            "(the one CloudFront is moving away from); generations only go up"
        )
    problem = origin_header_name_problem(args.header_name)
    if problem:
        raise ValueError(f"{where}: header_name: {problem}")
    if args.recovery_window_days not in RECOVERY_WINDOW_DAYS:
        raise ValueError(
            f"{where}: recovery_window_days={args.recovery_window_days}; Secrets Manager allows 7 to 30"
        )


# --- edge ------------------------------------------------------------------------------------


def _default_count_overrides() -> dict[str, tuple[str, ...]]:
    # Notes bodies reach 100,000 characters and the API enforces its own body limit;
    # SizeRestrictions_BODY would block every body over 8 KB.
    return {COMMON_RULES: ("SizeRestrictions_BODY",)}


@dataclass(frozen=True)
class EdgeArgs:
    """CloudFront, WAF and their us-east-1 companions for one environment.

    From per-environment config: ``aliases``, ``price_class``, ``rule_actions``,
    ``extra_managed_rule_groups``, ``rate_limit_per_5_minutes``,
    ``auth_rate_limit_per_5_minutes``, ``waf_log_retention_days``,
    ``access_log_retention_days``, ``error_rate_threshold_percent``,
    ``blocked_requests_threshold``, ``alarm_emails``, ``alarm_https_endpoints`` (and, through
    ``OriginSecretArgs``, the origin secret's ``generation`` and ``previous_generation``).
    """

    environment: str
    """Environment name; part of every AWS-side name. Required."""
    account_id: pulumi.Input[str]
    """Account of the stack; its root administers the us-east-1 keys. Required."""
    default_tags: Mapping[str, str]
    """The stack provider's default tags, given to the us-east-1 provider as well. Required."""
    zone_id: pulumi.Input[str]
    """Route 53 hosted zone of the aliases and of the certificate's validation records. Required."""
    zone_name: str
    """Name of that zone; every alias must lie inside it. Required."""
    aliases: Sequence[str]
    """Names viewers use (``api.example.com``): the certificate's names, the distribution's
    aliases and A/AAAA alias records. At least one. From config. Required."""
    origin_domain_name: str
    """DNS name of the ALB (its certificate's name); CloudFront connects to it over TLS. Required."""
    origin_secret: OriginSecret
    """The origin header name and value CloudFront adds to every origin request. Required."""
    origin_ready: Sequence[pulumi.Resource] = ()
    """What must accept a new origin value before CloudFront sends it: the ALB's origin rule.
    Default none (a stack must pass the rule, or a rotation can briefly send an unknown value)."""
    price_class: str = "PriceClass_100"
    """Edge locations used (``PriceClass_100``/``_200``/``_All``). From config. Default
    ``PriceClass_100`` (North America and Europe)."""
    public_cache_paths: Sequence[str] = ("/health",)
    """Unauthenticated paths cached briefly at the edge, never under ``/api/``. Default
    ``("/health",)``."""
    public_cache_ttl_seconds: int = 10
    """How long those paths are cached (1-300 s). Default 10."""
    internal_paths: Sequence[str] = ("/metrics",)
    """Paths the WAF blocks at the edge: served to the VPC, not to the internet. Default
    ``("/metrics",)``."""
    auth_path_prefix: str = "/api/v1/auth/"
    """Prefix of the authentication endpoints, the scope of the stricter rate limit. Default
    ``/api/v1/auth/``."""
    rate_limit_per_5_minutes: int = 2000
    """Requests per client IP per 5 minutes over the whole API before the rate rule acts. From
    config. Default 2000."""
    auth_rate_limit_per_5_minutes: int = 100
    """Requests per client IP per 5 minutes to the auth endpoints; below the API-wide limit.
    From config. Default 100."""
    extra_managed_rule_groups: Sequence[str] = ()
    """AWS managed rule groups on top of the common, known-bad-inputs and IP reputation ones,
    e.g. ``AWSManagedRulesSQLiRuleSet``. From config. Default none."""
    rule_actions: Mapping[str, RuleAction] = field(default_factory=dict)
    """``"count"`` or ``"block"`` per rule name (a managed group's name, ``rate-limit-api``,
    ``rate-limit-auth``, ``internal-paths``); a new rule can run in count mode on staging first.
    From config. Default: every rule blocks."""
    managed_rule_count_overrides: Mapping[str, Sequence[str]] = field(
        default_factory=_default_count_overrides
    )
    """Rules inside a managed group that only count. Default: ``SizeRestrictions_BODY`` of the
    common rule set (notes bodies are larger than its 8 KB)."""
    waf_log_retention_days: int = 90
    """Retention of the WAF log group. From config. Default 90."""
    access_log_retention_days: int = 90
    """Retention of the CloudFront access log group. From config. Default 90."""
    error_rate_threshold_percent: float = 5.0
    """5xx share of viewer requests (1-minute average) that alarms, 3 minutes out of 5. From
    config. Default 5."""
    blocked_requests_threshold: int = 1000
    """Requests the web ACL blocks in 5 minutes before the spike alarm fires. From config.
    Default 1000."""
    alarm_emails: Sequence[str] = ()
    """Addresses subscribed to the us-east-1 alarm topic (each confirms by mail). From config.
    Default none."""
    alarm_https_endpoints: Sequence[str] = ()
    """HTTPS endpoints subscribed to that topic (they confirm the subscription). From config.
    Default none."""
    key_deletion_window_days: int = 30
    """Deletion window of the us-east-1 KMS keys (7-30). Default 30."""


class Edge(pulumi.ComponentResource):
    """CloudFront + WAF + certificate + DNS + logs + alarms, with a us-east-1 provider of its own."""

    provider: aws.Provider
    keys: Keys
    certificate: aws.acm.Certificate
    certificate_validation: aws.acm.CertificateValidation
    web_acl: aws.wafv2.WebAcl
    waf_log_group: aws.cloudwatch.LogGroup
    access_log_group: aws.cloudwatch.LogGroup
    response_headers_policy: aws.cloudfront.ResponseHeadersPolicy
    public_cache_policy: aws.cloudfront.CachePolicy
    distribution: aws.cloudfront.Distribution
    alarm_topic: aws.sns.Topic
    error_rate_alarm: aws.cloudwatch.MetricAlarm
    blocked_requests_alarm: aws.cloudwatch.MetricAlarm
    domain_name: pulumi.Output[str]
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str]
    web_acl_name: str
    origin_secret_arn: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]
    url: str

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(name, args)
        super().__init__("notes:infra:Edge", name, None, opts)
        env = args.environment
        prefix = f"notes-{env}"

        self.provider = aws.Provider(
            f"{name}-{EDGE_REGION}",
            region=EDGE_REGION,
            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.default_tags)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        east = pulumi.ResourceOptions(parent=self, provider=self.provider)
        # Route 53 is global: its records keep the stack's provider.
        child = pulumi.ResourceOptions(parent=self)

        self.keys = Keys(
            f"{name}-keys",
            KeysArgs(
                environment=env,
                region=EDGE_REGION,
                account_id=args.account_id,
                deletion_window_days=args.key_deletion_window_days,
                purposes=("logs", "sns"),
                alias_scope="edge",
            ),
            pulumi.ResourceOptions(parent=self, providers=[self.provider]),
        )

        self._certificate(name, args, east, child)
        self.web_acl_name = f"{prefix}-edge"
        self._web_acl(name, args, east)

        self.response_headers_policy = aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            name=f"{prefix}-api-security-headers",
            comment=f"notes {env}: HSTS, nosniff, frame deny, no referrer",
            security_headers_config=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs(
                strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=HSTS_MAX_AGE_SECONDS,
                    include_subdomains=True,
                    # Preloading is a promise about the whole registered domain: the zone's
                    # owner decides it, not one API.
                    preload=False,
                    override=True,
                ),
                content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                    frame_option="DENY", override=True
                ),
                referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy="no-referrer", override=True
                ),
            ),
            opts=east,
        )
        # Public paths are the same for every viewer: nothing from the request is in the key,
        # and with no origin request policy nothing else reaches the origin either (no
        # Authorization, no query string, no cookie), so a cached answer can hold nothing
        # personal.
        self.public_cache_policy = aws.cloudfront.CachePolicy(
            f"{name}-public-cache",
            name=f"{prefix}-public-short-cache",
            comment=f"notes {env}: unauthenticated paths, cached {args.public_cache_ttl_seconds} s",
            min_ttl=0,
            default_ttl=args.public_cache_ttl_seconds,
            max_ttl=args.public_cache_ttl_seconds,
            parameters_in_cache_key_and_forwarded_to_origin=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginArgs(
                headers_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginHeadersConfigArgs(
                    header_behavior="none"
                ),
                cookies_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginCookiesConfigArgs(
                    cookie_behavior="none"
                ),
                query_strings_config=aws.cloudfront.CachePolicyParametersInCacheKeyAndForwardedToOriginQueryStringsConfigArgs(
                    query_string_behavior="none"
                ),
                enable_accept_encoding_gzip=True,
                enable_accept_encoding_brotli=True,
            ),
            opts=east,
        )

        self.distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            enabled=True,
            comment=f"notes {env} API",
            aliases=list(args.aliases),
            price_class=args.price_class,
            http_version="http2and3",
            is_ipv6_enabled=True,
            web_acl_id=self.web_acl.arn,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=args.origin_domain_name,
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                        origin_read_timeout=ORIGIN_READ_TIMEOUT_SECONDS,
                        origin_keepalive_timeout=ORIGIN_KEEPALIVE_SECONDS,
                    ),
                    # CloudFront overwrites a viewer's header of the same name, so a viewer
                    # cannot supply its own guess.
                    custom_headers=[
                        aws.cloudfront.DistributionOriginCustomHeaderArgs(
                            name=args.origin_secret.header_name,
                            value=args.origin_secret.value,
                        )
                    ],
                )
            ],
            # The authenticated API. CloudFront refuses Authorization in an origin request
            # policy when the behaviour caches (it would have to be in the cache key); with the
            # managed CachingDisabled policy nothing is cached and nothing is in a cache key,
            # and the managed AllViewerExceptHostHeader policy is then allowed to forward every
            # viewer header (Authorization included), every query string and cookie. The Host
            # header stays the origin's name, which the ALB's certificate carries.
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="https-only",
                allowed_methods=list(ALL_METHODS),
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
                response_headers_policy_id=self.response_headers_policy.id,
                compress=True,
            ),
            ordered_cache_behaviors=[
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=path,
                    target_origin_id=ORIGIN_ID,
                    viewer_protocol_policy="https-only",
                    allowed_methods=["GET", "HEAD"],
                    cached_methods=["GET", "HEAD"],
                    cache_policy_id=self.public_cache_policy.id,
                    response_headers_policy_id=self.response_headers_policy.id,
                    compress=True,
                )
                for path in args.public_cache_paths
            ],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                # The validation's ARN: the distribution waits until ACM has issued it.
                acm_certificate_arn=self.certificate_validation.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
            # Rotation step 2 may only start once no edge location sends the old value: the
            # deployment returns when the distribution is Deployed everywhere, not before.
            wait_for_deployment=True,
            # The ALB must accept a new origin value before CloudFront sends it.
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.provider, depends_on=list(args.origin_ready)
            ),
        )
        self.domain_name = self.distribution.domain_name
        self.distribution_id = self.distribution.id
        self.distribution_arn = self.distribution.arn
        self.url = f"https://{args.aliases[0]}"

        for alias in args.aliases:
            for record_type in ("A", "AAAA"):
                aws.route53.Record(
                    f"{name}-alias-{alias}-{record_type.lower()}",
                    zone_id=args.zone_id,
                    name=alias,
                    type=record_type,
                    aliases=[
                        aws.route53.RecordAliasArgs(
                            name=self.distribution.domain_name,
                            zone_id=self.distribution.hosted_zone_id,
                            # Route 53 cannot evaluate a CloudFront target's health.
                            evaluate_target_health=False,
                        )
                    ],
                    opts=child,
                )

        self._access_logs(name, args, east)
        self._alarms(name, args, east)
        self.origin_secret_arn = args.origin_secret.arn

        self.register_outputs(
            {
                "distributionId": self.distribution_id,
                "domainName": self.domain_name,
                "webAclArn": self.web_acl_arn,
                "webAclName": self.web_acl_name,
                "originSecretArn": self.origin_secret_arn,
                "alarmTopicArn": self.alarm_topic_arn,
                "url": self.url,
            }
        )

    def _certificate(
        self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions, child: pulumi.ResourceOptions
    ) -> None:
        first, *others = args.aliases
        self.certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=first,
            subject_alternative_names=others or None,
            validation_method="DNS",
            opts=east,
        )
        records = [
            dns_validation_record(
                f"{name}-certificate-validation-{alias}", self.certificate, alias, args.zone_id, child
            )
            for alias in args.aliases
        ]
        self.certificate_validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            opts=east,
        )

    def _web_acl(self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions) -> None:
        rules = [rule(priority, args) for priority, (_, rule) in enumerate(_rules(args))]
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-web-acl",
            name=self.web_acl_name,
            description=f"notes {args.environment}: managed rules and rate limits in front of the API",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=rules,
            # The ACL's metric name is its name: WAF's WebACL metric dimension carries it, and
            # the alarms and the dashboard address the ACL by name.
            visibility_config=_visibility(aws.wafv2.WebAclVisibilityConfigArgs, self.web_acl_name),
            opts=east,
        )
        self.web_acl_arn = self.web_acl.arn

        self.waf_log_group = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            # WAF delivers only to log groups whose name starts with aws-waf-logs-.
            name=f"aws-waf-logs-notes-{args.environment}",
            retention_in_days=args.waf_log_retention_days,
            kms_key_id=self.keys.arn("logs"),
            opts=east,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.waf_log_group.arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name=header
                    )
                )
                for header in REDACTED_HEADERS
            ],
            opts=east,
        )

    def _access_logs(self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions) -> None:
        # Standard logging v2 (CloudWatch vended logs) into a KMS-encrypted log group with
        # retention: no ACL-enabled bucket, which the legacy S3 logging would require. The
        # source, destination and log group all live in us-east-1, where CloudFront delivers.
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            # Under /aws/vendedlogs/ the delivery's resource policy covers the prefix with one
            # statement instead of growing by one per log group (policies stop at 5,120 bytes).
            name=f"/aws/vendedlogs/cloudfront/notes-{args.environment}",
            retention_in_days=args.access_log_retention_days,
            kms_key_id=self.keys.arn("logs"),
            opts=east,
        )
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-access-log-source",
            name=f"notes-{args.environment}-cloudfront",
            log_type="ACCESS_LOGS",
            resource_arn=self.distribution.arn,
            opts=east,
        )
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-access-log-destination",
            name=f"notes-{args.environment}-cloudfront-logs",
            output_format="json",
            delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
                destination_resource_arn=self.access_log_group.arn
            ),
            opts=east,
        )
        aws.cloudwatch.LogDelivery(
            f"{name}-access-log-delivery",
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            record_fields=list(ACCESS_LOG_FIELDS),
            opts=east,
        )

    def _alarms(self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions) -> None:
        prefix = f"notes-{args.environment}"
        # CloudWatch alarms notify topics of their own region only: us-east-1, like the
        # metrics. The sns key lets cloudwatch.amazonaws.com use it.
        self.alarm_topic = aws.sns.Topic(
            f"{name}-alarms",
            name=f"{prefix}-edge-alarms",
            kms_master_key_id=self.keys.arn("sns"),
            opts=east,
        )
        self.alarm_topic_arn = self.alarm_topic.arn
        for protocol, endpoints in (("email", args.alarm_emails), ("https", args.alarm_https_endpoints)):
            for endpoint in endpoints:
                # Named by a digest of the endpoint: reordering the list replaces nothing.
                digest = hashlib.sha256(endpoint.encode()).hexdigest()[:10]
                aws.sns.TopicSubscription(
                    f"{name}-alarms-{protocol}-{digest}",
                    topic=self.alarm_topic.arn,
                    protocol=protocol,
                    endpoint=endpoint,
                    opts=east,
                )
        notify = [self.alarm_topic.arn]
        self.error_rate_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-5xx-error-rate",
            name=f"{prefix}-cloudfront-5xx-error-rate",
            alarm_description=(
                f"More than {args.error_rate_threshold_percent:g}% of viewer requests answered 5xx "
                "in 3 of the last 5 minutes (CloudFront, all edge locations)"
            ),
            namespace=CLOUDFRONT,
            metric_name="5xxErrorRate",
            dimensions={"DistributionId": self.distribution.id, "Region": CLOUDFRONT_REGION_DIMENSION},
            statistic="Average",
            period=60,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            threshold=args.error_rate_threshold_percent,
            comparison_operator="GreaterThanThreshold",
            # CloudFront publishes nothing for minutes without requests: no requests, no
            # errors. Missing data as breaching would page a quiet staging every night.
            treat_missing_data="notBreaching",
            alarm_actions=notify,
            ok_actions=notify,
            opts=east,
        )
        self.blocked_requests_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-waf-blocked-requests",
            name=f"{prefix}-waf-blocked-requests",
            alarm_description=(
                f"The edge web ACL blocked more than {args.blocked_requests_threshold} requests "
                "in 5 minutes: an attack, or a rule blocking real traffic"
            ),
            namespace=WAF,
            metric_name="BlockedRequests",
            # CLOUDFRONT-scope ACLs publish without a Region dimension; Rule=ALL is the ACL total.
            dimensions={"WebACL": self.web_acl_name, "Rule": WAF_ALL_RULES},
            statistic="Sum",
            period=RATE_WINDOW_SECONDS,
            evaluation_periods=1,
            threshold=args.blocked_requests_threshold,
            comparison_operator="GreaterThanThreshold",
            # WAF publishes BlockedRequests only when it blocked something: missing data is
            # zero blocks, the all-clear.
            treat_missing_data="notBreaching",
            alarm_actions=notify,
            ok_actions=notify,
            opts=east,
        )


# --- web ACL rules ---------------------------------------------------------------------------

# Builds one rule of the web ACL at the priority it is given.
RuleBuilder = Callable[[int, EdgeArgs], Any]
_T = TypeVar("_T")


def _visibility(cls: Callable[..., _T], metric_name: str) -> _T:
    # The ACL and each rule take the same settings in types of their own.
    return cls(cloudwatch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True)


def _action(rule_name: str, args: EdgeArgs) -> aws.wafv2.WebAclRuleActionArgs:
    if args.rule_actions.get(rule_name, "block") == "count":
        return aws.wafv2.WebAclRuleActionArgs(count=aws.wafv2.WebAclRuleActionCountArgs())
    return aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())


def _path_transformations(cls: Callable[..., Any]) -> list[Any]:
    # The API decodes percent-escapes and collapses the path before routing; WAF must see the
    # path the same way, or /api/v1/%61uth/login would slip past a match on /api/v1/auth/.
    return [
        cls(priority=0, type="URL_DECODE"),
        cls(priority=1, type="NORMALIZE_PATH"),
        cls(priority=2, type="LOWERCASE"),
    ]


def _internal_paths_rule(priority: int, args: EdgeArgs) -> aws.wafv2.WebAclRuleArgs:
    matches = [
        aws.wafv2.WebAclRuleStatementArgs(
            byte_match_statement=aws.wafv2.WebAclRuleStatementByteMatchStatementArgs(
                positional_constraint="STARTS_WITH",
                search_string=path.lower(),
                field_to_match=aws.wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchArgs(
                    uri_path=aws.wafv2.WebAclRuleStatementByteMatchStatementFieldToMatchUriPathArgs()
                ),
                text_transformations=_path_transformations(
                    aws.wafv2.WebAclRuleStatementByteMatchStatementTextTransformationArgs
                ),
            )
        )
        for path in args.internal_paths
    ]
    # WAF's OR needs two statements at least.
    statement = (
        matches[0]
        if len(matches) == 1
        else aws.wafv2.WebAclRuleStatementArgs(
            or_statement=aws.wafv2.WebAclRuleStatementOrStatementArgs(statements=matches)
        )
    )
    return aws.wafv2.WebAclRuleArgs(
        name=INTERNAL_PATHS_RULE,
        priority=priority,
        action=_action(INTERNAL_PATHS_RULE, args),
        statement=statement,
        visibility_config=_visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, INTERNAL_PATHS_RULE),
    )


def _managed_group_rule(group: str) -> RuleBuilder:
    def rule(priority: int, args: EdgeArgs) -> aws.wafv2.WebAclRuleArgs:
        overrides = [
            aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                name=rule_name,
                action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                    count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                ),
            )
            for rule_name in args.managed_rule_count_overrides.get(group, ())
        ]
        # "none" keeps the group's own block actions; "count" turns the whole group into a
        # dry run whose matches show up in the metrics and logs only.
        override = (
            aws.wafv2.WebAclRuleOverrideActionArgs(count=aws.wafv2.WebAclRuleOverrideActionCountArgs())
            if args.rule_actions.get(group, "block") == "count"
            else aws.wafv2.WebAclRuleOverrideActionArgs(none=aws.wafv2.WebAclRuleOverrideActionNoneArgs())
        )
        return aws.wafv2.WebAclRuleArgs(
            name=group,
            priority=priority,
            override_action=override,
            statement=aws.wafv2.WebAclRuleStatementArgs(
                managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                    vendor_name="AWS", name=group, rule_action_overrides=overrides or None
                )
            ),
            visibility_config=_visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, group),
        )

    return rule


def _rate_rule(
    rule_name: str,
    priority: int,
    args: EdgeArgs,
    limit: int,
    scope_down: aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs | None = None,
) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=rule_name,
        priority=priority,
        action=_action(rule_name, args),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                # The web ACL sits on CloudFront, which sees the viewer's own address: IP, not
                # a forwarded header a client could set.
                aggregate_key_type="IP",
                limit=limit,
                evaluation_window_sec=RATE_WINDOW_SECONDS,
                scope_down_statement=scope_down,
            )
        ),
        visibility_config=_visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, rule_name),
    )


def _api_rate_rule(priority: int, args: EdgeArgs) -> aws.wafv2.WebAclRuleArgs:
    return _rate_rule(RATE_LIMIT_API_RULE, priority, args, args.rate_limit_per_5_minutes)


def _auth_rate_rule(priority: int, args: EdgeArgs) -> aws.wafv2.WebAclRuleArgs:
    return _rate_rule(
        RATE_LIMIT_AUTH_RULE,
        priority,
        args,
        args.auth_rate_limit_per_5_minutes,
        scope_down=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs(
            byte_match_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementArgs(
                positional_constraint="STARTS_WITH",
                search_string=args.auth_path_prefix,
                field_to_match=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchArgs(
                    uri_path=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchUriPathArgs()
                ),
                text_transformations=_path_transformations(
                    aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementTextTransformationArgs
                ),
            )
        ),
    )


def _rules(args: EdgeArgs) -> list[tuple[str, RuleBuilder]]:
    """The web ACL's rules by name, in priority order (the first is evaluated first)."""
    return [
        *([(INTERNAL_PATHS_RULE, _internal_paths_rule)] if args.internal_paths else []),
        (IP_REPUTATION, _managed_group_rule(IP_REPUTATION)),
        (RATE_LIMIT_AUTH_RULE, _auth_rate_rule),
        (RATE_LIMIT_API_RULE, _api_rate_rule),
        (COMMON_RULES, _managed_group_rule(COMMON_RULES)),
        (KNOWN_BAD_INPUTS, _managed_group_rule(KNOWN_BAD_INPUTS)),
        *((group, _managed_group_rule(group)) for group in args.extra_managed_rule_groups),
    ]


def rule_names(args: EdgeArgs) -> list[str]:
    """The web ACL's rule names, in priority order: the keys ``rule_actions`` accepts."""
    return [rule_name for rule_name, _ in _rules(args)]


# --- validation ------------------------------------------------------------------------------


def _validate(name: str, args: EdgeArgs) -> None:  # noqa: PLR0912 (one check per field)
    where = f"Edge {name}"
    zone = args.zone_name.rstrip(".").lower()
    if not args.aliases or isinstance(args.aliases, str):
        raise ValueError(
            f"{where}: aliases must list at least one name: without one CloudFront serves only its "
            "default certificate, which cannot enforce TLSv1.2_2021"
        )
    for alias in args.aliases:
        if not _DNS_NAME.match(alias):
            raise ValueError(f"{where}: aliases: {alias!r} is not a lowercase DNS name (no wildcards)")
        if alias != zone and not alias.endswith("." + zone):
            raise ValueError(f"{where}: aliases: {alias!r} is not inside zone_name {zone!r}")
        if alias == args.origin_domain_name:
            raise ValueError(
                f"{where}: aliases: {alias!r} is the origin_domain_name; CloudFront would send "
                "requests back to itself: give the ALB a name of its own"
            )
    if len(set(args.aliases)) != len(args.aliases):
        raise ValueError(f"{where}: aliases: {list(args.aliases)} names one name twice")
    if not _DNS_NAME.match(args.origin_domain_name):
        raise ValueError(f"{where}: origin_domain_name {args.origin_domain_name!r} is not a DNS name")
    if args.price_class not in PRICE_CLASSES:
        raise ValueError(f"{where}: price_class={args.price_class!r}; use one of {', '.join(PRICE_CLASSES)}")
    _validate_paths(where, args)
    for field_name, limit in (
        ("rate_limit_per_5_minutes", args.rate_limit_per_5_minutes),
        ("auth_rate_limit_per_5_minutes", args.auth_rate_limit_per_5_minutes),
    ):
        if limit not in RATE_LIMIT_RANGE:
            raise ValueError(f"{where}: {field_name}={limit}; WAF accepts 10 to 2,000,000,000")
    if args.auth_rate_limit_per_5_minutes >= args.rate_limit_per_5_minutes:
        raise ValueError(
            f"{where}: auth_rate_limit_per_5_minutes={args.auth_rate_limit_per_5_minutes} must be below "
            f"rate_limit_per_5_minutes={args.rate_limit_per_5_minutes}: the auth endpoints get the "
            "stricter limit"
        )
    _validate_rules(where, args)
    for field_name, days in (
        ("waf_log_retention_days", args.waf_log_retention_days),
        ("access_log_retention_days", args.access_log_retention_days),
    ):
        if days not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{where}: {field_name}={days}; CloudWatch Logs accepts "
                f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
    if not 0 < args.error_rate_threshold_percent <= 100:
        raise ValueError(
            f"{where}: error_rate_threshold_percent={args.error_rate_threshold_percent} is not a "
            "percentage in (0, 100]"
        )
    if args.blocked_requests_threshold < 1:
        raise ValueError(
            f"{where}: blocked_requests_threshold={args.blocked_requests_threshold} must be 1 or more"
        )
    for email in args.alarm_emails:
        if not _EMAIL.match(email):
            raise ValueError(f"{where}: alarm_emails: {email!r} is not an email address")
    for endpoint in args.alarm_https_endpoints:
        if not endpoint.startswith("https://"):
            raise ValueError(f"{where}: alarm_https_endpoints: {endpoint!r} must start with https://")
    if not 7 <= args.key_deletion_window_days <= 30:
        raise ValueError(
            f"{where}: key_deletion_window_days={args.key_deletion_window_days}; KMS accepts 7 to 30"
        )
    if not args.default_tags:
        raise ValueError(
            f"{where}: default_tags is empty; pass the stack provider's tags so that us-east-1 "
            "resources carry them too"
        )


def _validate_paths(where: str, args: EdgeArgs) -> None:
    for path in args.public_cache_paths:
        if not _PATH.match(path):
            raise ValueError(f"{where}: public_cache_paths: {path!r} is not a path pattern starting with '/'")
        if path == "/api" or path.startswith(("/api/", "/api*")):
            raise ValueError(
                f"{where}: public_cache_paths: {path!r} is under /api/, the authenticated API; a cached "
                "answer there would be served to every viewer"
            )
    if len(set(args.public_cache_paths)) != len(args.public_cache_paths):
        raise ValueError(f"{where}: public_cache_paths: {list(args.public_cache_paths)} names one path twice")
    if not 1 <= args.public_cache_ttl_seconds <= 300:
        raise ValueError(
            f"{where}: public_cache_ttl_seconds={args.public_cache_ttl_seconds}; keep it 1-300 s, "
            "a short cache"
        )
    for path in args.internal_paths:
        if not _PATH.match(path) or "*" in path:
            raise ValueError(f"{where}: internal_paths: {path!r} is not a path starting with '/'")
    prefix = args.auth_path_prefix
    if not (_PATH.match(prefix) and prefix.endswith("/") and prefix == prefix.lower() and "*" not in prefix):
        raise ValueError(
            f"{where}: auth_path_prefix={prefix!r} must be a lowercase path prefix starting and "
            "ending with '/'"
        )


def _validate_rules(where: str, args: EdgeArgs) -> None:
    for group in args.extra_managed_rule_groups:
        if not MANAGED_GROUP.fullmatch(group):
            raise ValueError(
                f"{where}: extra_managed_rule_groups: {group!r} is not an AWS managed rule group name "
                "(AWSManagedRules...)"
            )
        if group in BASE_MANAGED_GROUPS:
            raise ValueError(
                f"{where}: extra_managed_rule_groups: {group!r} is always in the web ACL already"
            )
        if group in NEEDS_GROUP_CONFIG:
            raise ValueError(
                f"{where}: extra_managed_rule_groups: {group!r} needs a managed rule group configuration "
                "this component does not write"
            )
    if len(set(args.extra_managed_rule_groups)) != len(args.extra_managed_rule_groups):
        raise ValueError(
            f"{where}: extra_managed_rule_groups: {list(args.extra_managed_rule_groups)} names one "
            "group twice"
        )
    names = rule_names(args)
    for rule_name, action in args.rule_actions.items():
        if rule_name not in names:
            raise ValueError(
                f"{where}: rule_actions: no rule named {rule_name!r}; the rules are {', '.join(names)}"
            )
        if action not in RULE_ACTIONS:
            raise ValueError(f"{where}: rule_actions[{rule_name!r}]={action!r}; use 'block' or 'count'")
    managed = [n for n in names if MANAGED_GROUP.fullmatch(n)]
    for group, rules in args.managed_rule_count_overrides.items():
        if group not in managed:
            raise ValueError(
                f"{where}: managed_rule_count_overrides: {group!r} is not a managed group of this web ACL "
                f"({', '.join(managed)})"
            )
        for rule_name in rules:
            if not _WAF_RULE_NAME.match(rule_name):
                raise ValueError(
                    f"{where}: managed_rule_count_overrides[{group!r}]: {rule_name!r} is not a rule name"
                )
