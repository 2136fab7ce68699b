"""``EdgeArgs``: what the edge is given, one documented field each. A module of its own so
that the edge's parts (WAF rules, logs, validation) read the args without importing the
component that uses them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi

from infra.edge.origin_secret import OriginSecret
from infra.edge.waf_rules import COMMON_RULES, RuleAction
from infra.observability.topic import AlarmSubscription


def _default_count_overrides() -> dict[str, tuple[str, ...]]:
    # Notes bodies reach 100,000 characters and the API enforces its own body limit;
    # SizeRestrictions_BODY would block every body over 8 KB.
    return {COMMON_RULES: ("SizeRestrictions_BODY",)}


@dataclass(frozen=True)
class EdgeArgs:
    """CloudFront, WAF and their us-east-1 companions for one environment.

    ``stacks/tiers.py`` fills the fields that name a config key from that key; the others keep
    their default in every stack. The origin secret's ``generation`` and
    ``previous_generation`` come through ``OriginSecretArgs``.
    """

    environment: str
    """Environment name; part of every AWS-side name. From config ``environment``. Required."""
    account_id: pulumi.Input[str]
    """Account of the stack (the caller identity's); its root administers the us-east-1 keys.
    Required."""
    default_tags: Mapping[str, str]
    """The stack provider's default tags, given to the us-east-1 provider as well (from config
    ``environment``, ``owner`` and ``costCenter``). Required."""
    zone_id: pulumi.Input[str]
    """Route 53 hosted zone of the aliases and of the certificate's validation records. From
    config ``dnsZoneId``. Required."""
    zone_name: str
    """Name of that zone; every alias must lie inside it. From config ``dnsZoneName``. Required."""
    aliases: Sequence[str]
    """Names viewers use (``api.example.com``): the certificate's names, the distribution's
    aliases and A/AAAA alias records. At least one. From config ``edgeAliases``. Required."""
    origin_domain_name: str
    """DNS name of the ALB (its certificate's name); CloudFront connects to it over TLS. From
    config ``dnsOriginName``. Required."""
    origin_secret: OriginSecret
    """The origin header name and value CloudFront adds to every origin request. Required."""
    origin_ready: Sequence[pulumi.Resource] = ()
    """What must accept a new origin value before CloudFront sends it: the ALB's origin rule.
    Default none (a stack must pass the rule, or a rotation can briefly send an unknown value)."""
    price_class: str = "PriceClass_100"
    """Edge locations used (``PriceClass_100``/``_200``/``_All``). From config
    ``edgePriceClass``. Default ``PriceClass_100`` (North America and Europe)."""
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
    config ``edgeRateLimitPer5Minutes``. Default 2000."""
    auth_rate_limit_per_5_minutes: int = 100
    """Requests per client IP per 5 minutes to the auth endpoints; below the API-wide limit.
    From config ``edgeAuthRateLimitPer5Minutes``. Default 100."""
    extra_managed_rule_groups: Sequence[str] = ()
    """AWS managed rule groups on top of the common, known-bad-inputs and IP reputation ones,
    e.g. ``AWSManagedRulesSQLiRuleSet``. From config ``edgeExtraManagedRuleGroups``. Default
    none."""
    rule_actions: Mapping[str, RuleAction] = field(default_factory=dict)
    """``"count"`` or ``"block"`` per rule name (a managed group's name, ``rate-limit-api``,
    ``rate-limit-auth``, ``internal-paths``); a new rule can run in count mode on staging first.
    From config ``edgeCountRules``: the rules it lists count. Default: every rule blocks."""
    managed_rule_count_overrides: Mapping[str, Sequence[str]] = field(
        default_factory=_default_count_overrides
    )
    """Rules inside a managed group that only count. Default: ``SizeRestrictions_BODY`` of the
    common rule set (notes bodies are larger than its 8 KB)."""
    waf_log_retention_days: int = 90
    """Retention of the WAF log group. From config ``edgeWafLogRetentionDays``. Default 90."""
    access_log_retention_days: int = 90
    """Retention of the CloudFront access log group. From config ``edgeAccessLogRetentionDays``.
    Default 90."""
    error_rate_threshold_percent: float = 5.0
    """5xx share of viewer requests (1-minute average) that alarms, 3 minutes out of 5. From
    config ``alarmsCloudfront5xxPercent``. Default 5."""
    blocked_requests_threshold: int = 1000
    """Requests the web ACL blocks in 5 minutes before the spike alarm fires. From config
    ``alarmsWafBlockedRequests``. Default 1000."""
    alarm_subscriptions: Sequence[AlarmSubscription] = ()
    """Who the us-east-1 alarm topic tells: the same recipients as the stack's own topic. From
    config ``alarmsEmails`` and ``alarmsHttpsEndpoints`` (``stacks.settings.alarm_subscriptions``).
    Default none."""
    key_deletion_window_days: int = 30
    """Deletion window of the us-east-1 KMS keys (7-30). Default 30."""
