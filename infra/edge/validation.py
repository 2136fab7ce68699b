"""The checks ``Edge`` runs on its args before it registers anything: each impossible combination
fails with a message that names the field and what to change."""

from __future__ import annotations

import re

from infra.edge.args import EdgeArgs
from infra.edge.cloudfront import PRICE_CLASSES
from infra.edge.waf import rule_names
from infra.edge.waf_rules import (
    BASE_MANAGED_GROUPS,
    MANAGED_GROUP,
    NEEDS_GROUP_CONFIG,
    RATE_LIMIT_RANGE,
    RULE_ACTIONS,
)
from infra.log_retention import LOG_RETENTION_DAYS
from infra.observability.topic import validate_subscriptions

_DNS_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_WAF_RULE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_PATH = re.compile(r"^/[A-Za-z0-9._~/*-]*$")


def validate_edge(name: str, args: EdgeArgs) -> None:  # noqa: PLR0912 (one check per field)
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
    try:
        validate_subscriptions(args.alarm_subscriptions, field="alarm_subscriptions")
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
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
