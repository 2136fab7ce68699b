"""The names of the edge web ACL's rules and the limits WAF puts on them: plain Python, so the
stack's config schema can check ``edgeExtraManagedRuleGroups`` and ``edgeCountRules`` without
loading pulumi or pulumi_aws. ``infra.edge.waf`` builds the rules these names stand for."""

from __future__ import annotations

import re
from typing import Literal

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
MANAGED_GROUP = re.compile(r"AWSManagedRules[A-Za-z0-9]+")
# WAF's rate-based limit per evaluation window (botocore wafv2 RateLimit: 10..2e9).
RATE_LIMIT_RANGE = range(10, 2_000_000_001)
RATE_WINDOW_SECONDS = 300
