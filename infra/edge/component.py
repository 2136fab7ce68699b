"""``Edge``: the CloudFront distribution in front of the ALB, its WAF web ACL, viewer
certificate, DNS names, access logs and alarms.

CloudFront reads its viewer certificate, its CLOUDFRONT-scope web ACL, and publishes its own and
WAF's metrics, only in us-east-1. ``Edge`` owns an explicit us-east-1 provider (with the stack's
default tags) and registers everything CloudFront needs there with it: the certificate and its
validation, the web ACL, its ``aws-waf-logs-`` log group and logging configuration, the access
log delivery and its log group, the CloudFront and WAF alarms, the KMS-encrypted topic they
notify (alarms can only notify a topic in their own region), and the two KMS keys of those. The
distribution and its policies are global and registered there too. Route 53 is global and keeps
the stack's provider. The origin secret (``infra.edge.origin_secret``) lives in the stack's
region, next to the ALB.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.alb import dns_validation_record
from infra.edge import waf
from infra.edge.args import EdgeArgs
from infra.edge.cloudfront import (
    ALL_METHODS,
    ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
    CACHING_DISABLED_POLICY_ID,
    EDGE_REGION,
    HSTS_MAX_AGE_SECONDS,
    ORIGIN_ID,
    ORIGIN_KEEPALIVE_SECONDS,
    ORIGIN_READ_TIMEOUT_SECONDS,
)
from infra.edge.logs import access_logs, waf_logs
from infra.edge.validation import validate_edge
from infra.edge.waf_rules import RATE_WINDOW_SECONDS
from infra.kms import Keys, KeysArgs
from infra.observability.alarm_factory import Alarm, AlarmFactory, Evaluation, Metric
from infra.observability.metrics_catalog import CLOUDFRONT, CLOUDFRONT_REGION_DIMENSION, WAF, WAF_ALL_RULES
from infra.observability.topic import AlarmTopic, AlarmTopicArgs


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
    alarm_topic: AlarmTopic
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
        validate_edge(name, args)
        super().__init__("notes:infra:Edge", name, None, opts)
        self._provider_and_keys(name, args)
        east = pulumi.ResourceOptions(parent=self, provider=self.provider)
        # Route 53 is global: its records keep the stack's provider.
        child = pulumi.ResourceOptions(parent=self)

        self._certificate(name, args, east, child)
        self.web_acl_name = f"notes-{args.environment}-edge"
        self._web_acl(name, args, east)
        self._policies(name, args, east)
        self._distribution(name, args)
        self._alias_records(name, args, child)
        self.access_log_group = access_logs(name, args, self.distribution, self.keys.arn("logs"), east)
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

    def _provider_and_keys(self, name: str, args: EdgeArgs) -> None:
        self.provider = aws.Provider(
            f"{name}-{EDGE_REGION}",
            region=EDGE_REGION,
            default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.default_tags)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.keys = Keys(
            f"{name}-keys",
            KeysArgs(
                environment=args.environment,
                region=EDGE_REGION,
                account_id=args.account_id,
                deletion_window_days=args.key_deletion_window_days,
                purposes=("logs", "sns"),
                alias_scope="edge",
            ),
            pulumi.ResourceOptions(parent=self, providers=[self.provider]),
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
        rules = [rule(priority, args) for priority, (_, rule) in enumerate(waf.rules(args))]
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-web-acl",
            name=self.web_acl_name,
            description=f"notes {args.environment}: managed rules and rate limits in front of the API",
            scope="CLOUDFRONT",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=rules,
            # The ACL's metric name is its name: WAF's WebACL metric dimension carries it, and
            # the alarms and the dashboard address the ACL by name.
            visibility_config=waf.visibility(aws.wafv2.WebAclVisibilityConfigArgs, self.web_acl_name),
            opts=east,
        )
        self.web_acl_arn = self.web_acl.arn

        self.waf_log_group = waf_logs(name, args, self.web_acl, self.keys.arn("logs"), east)

    def _policies(self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions) -> None:
        env = args.environment
        prefix = f"notes-{env}"
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

    def _distribution(self, name: str, args: EdgeArgs) -> None:
        env = args.environment
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

    def _alias_records(self, name: str, args: EdgeArgs, child: pulumi.ResourceOptions) -> None:
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

    def _alarms(self, name: str, args: EdgeArgs, east: pulumi.ResourceOptions) -> None:
        # CloudWatch alarms notify topics of their own region only: the topic lives in
        # us-east-1 with the metrics, encrypted with the edge's sns key (its policy lets
        # cloudwatch.amazonaws.com use it). The same component as the stack's own topic: the
        # same topic policy and the same judgement of the same subscribers.
        self.alarm_topic = AlarmTopic(
            f"{name}-alarm-topic",
            AlarmTopicArgs(
                environment=args.environment,
                region=EDGE_REGION,
                account_id=args.account_id,
                kms_key_arn=self.keys.arn("sns"),
                subscriptions=args.alarm_subscriptions,
                purpose="edge-alarms",
            ),
            pulumi.ResourceOptions(parent=self, providers={"aws": self.provider}),
        )
        self.alarm_topic_arn = self.alarm_topic.arn
        factory = AlarmFactory(self, name, args.environment, self.alarm_topic.arn, provider=self.provider)
        self.error_rate_alarm = factory.create(
            Alarm(
                role="cloudfront-5xx-error-rate",
                what="CloudFront 5xx error rate",
                description=(
                    f"More than {args.error_rate_threshold_percent:g}% of viewer requests answered 5xx "
                    "in 3 of the last 5 minutes (CloudFront, all edge locations)"
                ),
                comparison="GreaterThanThreshold",
                threshold=args.error_rate_threshold_percent,
                # CloudFront publishes nothing for minutes without requests: no requests, no
                # errors. Missing data as breaching would page a quiet staging every night.
                treat_missing_data="notBreaching",
                evaluation=Evaluation(periods=5, datapoints=3, period_seconds=60),
                metric=Metric(
                    CLOUDFRONT,
                    "5xxErrorRate",
                    {"DistributionId": self.distribution.id, "Region": CLOUDFRONT_REGION_DIMENSION},
                    "Average",
                ),
            )
        )
        self.blocked_requests_alarm = factory.create(
            Alarm(
                role="waf-blocked-requests",
                what="WAF blocked requests",
                description=(
                    f"The edge web ACL blocked more than {args.blocked_requests_threshold} requests "
                    "in 5 minutes: an attack, or a rule blocking real traffic"
                ),
                comparison="GreaterThanThreshold",
                threshold=args.blocked_requests_threshold,
                # WAF publishes BlockedRequests only when it blocked something: missing data is
                # zero blocks, the all-clear.
                treat_missing_data="notBreaching",
                evaluation=Evaluation(periods=1, datapoints=1, period_seconds=RATE_WINDOW_SECONDS),
                # CLOUDFRONT-scope ACLs publish without a Region dimension; Rule=ALL is the ACL total.
                metric=Metric(
                    WAF, "BlockedRequests", {"WebACL": self.web_acl_name, "Rule": WAF_ALL_RULES}, "Sum"
                ),
            )
        )
