"""The edge web ACL's rules as WAF inputs, in priority order: the managed groups, the per-IP rate
limits and the block on internal paths, each in block or count mode as ``EdgeArgs.rule_actions``
says. ``Edge`` registers the web ACL with them; its validation reads ``rule_names``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi_aws as aws

from infra.edge.args import EdgeArgs
from infra.edge.waf_rules import (
    COMMON_RULES,
    INTERNAL_PATHS_RULE,
    IP_REPUTATION,
    KNOWN_BAD_INPUTS,
    RATE_LIMIT_API_RULE,
    RATE_LIMIT_AUTH_RULE,
    RATE_WINDOW_SECONDS,
)

# Builds one rule of the web ACL at the priority it is given.
RuleBuilder = Callable[[int, "EdgeArgs"], Any]
_T = TypeVar("_T")


def visibility(cls: Callable[..., _T], metric_name: str) -> _T:
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
        visibility_config=visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, INTERNAL_PATHS_RULE),
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
            visibility_config=visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, group),
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
        visibility_config=visibility(aws.wafv2.WebAclRuleVisibilityConfigArgs, rule_name),
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


def rules(args: EdgeArgs) -> list[tuple[str, RuleBuilder]]:
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
    return [rule_name for rule_name, _ in rules(args)]
