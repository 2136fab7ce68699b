"""WAFv2 web ACLs and rule groups -> wafv2 CreateWebACL / CreateRuleGroup.

Pulumi's rule arguments follow the API member for member (camelCase for PascalCase), except
where the Terraform schema made a list of what the API keeps singular (``asnLists``,
``matchPatterns``, ``headerOrders``) or the other way round; those are mapped below.
``ruleJson`` / ``rulesJson`` hold the rules in the API's own form and are walked as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
    decoded,
    json_document,
    tag_list,
)
from notes_platform.checks.apimodels._shapes import (
    IGNORE,
    At,
    Family,
    Report,
    Rule,
    Translation,
    Unfit,
    child,
    describe,
    items,
    unknown,
)

WEB_ACL = "aws:wafv2/webAcl:WebAcl"
RULE_GROUP = "aws:wafv2/ruleGroup:RuleGroup"

# Statements that evaluate another rule group take an overrideAction, all others an action
# (CreateWebACL, Rule.Action: "You must specify either this Action setting or the rule
# OverrideAction setting, but not both").
RULE_GROUP_STATEMENTS = frozenset({"managedRuleGroupStatement", "ruleGroupReferenceStatement"})


def _response_bodies(value: Any, path: str) -> Any:
    """Pulumi's list of ``{key, content, contentType}`` -> the API's map of key -> body."""
    if not isinstance(value, list):
        raise Unfit(f"expected a list of response bodies, got {describe(value)}")
    bodies: dict[str, Any] = {}
    for index, body in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            raise Unfit(f"{where}: each response body needs a string 'key'")
        bodies[body["key"]] = At(where, {k: At(child(where, k), v) for k, v in body.items() if k != "key"})
    return bodies


def _identifiers(value: Any, path: str) -> Any:
    """Pulumi's ``{identifiers: [...]}`` -> the API's list of ``{Identifier}``."""
    if not isinstance(value, dict) or not isinstance(value.get("identifiers"), list):
        raise Unfit(f"expected an object with a list of identifiers, got {describe(value)}")
    where = child(path, "identifiers")
    return [
        At(f"{where}[{i}]", {"identifier": At(f"{where}[{i}]", v)})
        for i, v in enumerate(value["identifiers"])
    ]


def _request_bodies(value: Any, path: str) -> Any:
    """Pulumi's ``requestBodies: [{cloudfront: {...}, apiGateway: {...}}]`` -> the API's map of
    resource type (CLOUDFRONT, API_GATEWAY) -> settings."""
    items = value if isinstance(value, list) else [value]
    bodies: dict[str, Any] = {}
    for index, item in enumerate(items):
        where = f"{path}[{index}]" if isinstance(value, list) else path
        if not isinstance(item, dict):
            raise Unfit(f"expected an object of resource types, got {describe(item)}")
        for kind, settings in item.items():
            bodies[re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()] = At(child(where, kind), settings)
    return bodies


def _root_rules(rules_json: str) -> dict[str, Rule]:
    return {
        **PROVIDER_ONLY,
        "name": Rule("Name"),
        "namePrefix": IGNORE,
        # A second spelling of the typed rules: messages about Rules name ``rules``.
        rules_json: Rule("Rules", json_document, alias=True),
        "customResponseBodies": Rule("CustomResponseBodies", _response_bodies),
        "tags": Rule("Tags", tag_list),
    }


TRANSLATION = Translation(
    rules={
        "CreateWebACLRequest": _root_rules("ruleJson"),
        "CreateRuleGroupRequest": _root_rules("rulesJson"),
        "FieldToMatch": {"headerOrders": Rule("HeaderOrder")},
        "Cookies": {"matchPatterns": Rule("MatchPattern")},
        "AsnMatchStatement": {"asnLists": Rule("AsnList")},
        # Rule groups, and web ACLs at their deepest nesting, spell it as a one-item list.
        "NotStatement": {"statements": Rule("Statement", alias=True)},
        "ManagedRuleGroupConfig": {"awsManagedRulesAntiDdosRuleSet": Rule("AWSManagedRulesAntiDDoSRuleSet")},
        "VisibilityConfig": {"cloudwatchMetricsEnabled": Rule("CloudWatchMetricsEnabled")},
        "RequestInspectionACFP": {
            "addressFields": Rule("AddressFields", _identifiers),
            "phoneNumberFields": Rule("PhoneNumberFields", _identifiers),
        },
        "AssociationConfig": {"requestBodies": Rule("RequestBody", _request_bodies)},
    },
    provided={
        # Auto-named from the resource name.
        "CreateWebACLRequest": frozenset({"Name"}),
        "CreateRuleGroupRequest": frozenset({"Name"}),
        # Documented provider defaults: 300 seconds, and IP.
        "ImmunityTimeProperty": frozenset({"ImmunityTime"}),
        "RateBasedStatement": frozenset({"AggregateKeyType"}),
    },
    # Each of these holds a single choice: one statement kind, one request component, one action.
    one_of=frozenset({"Statement", "FieldToMatch", "DefaultAction", "RuleAction", "OverrideAction"}),
)


def _get(item: Mapping[str, Any], name: str) -> Any:
    """A member by Pulumi (camelCase) or API (PascalCase) name: ruleJson uses the latter."""
    for key, value in item.items():
        if key.lower() == name.lower():
            return value
    return None


def _rule_semantics(rules_json: str) -> Callable[[Mapping[str, Any], Report], None]:
    def check(inputs: Mapping[str, Any], report: Report) -> None:
        seen: dict[Any, str] = {}
        for where, rule in _all_rules(inputs, rules_json):
            priority = _get(rule, "priority")
            if unknown(priority) or not isinstance(priority, (int, float)):
                priority = None  # unknown yet, or the model walk has reported its type
            if priority is not None and priority in seen:
                report(
                    f"{where}.priority",
                    f"priority {priority} is also used by {seen[priority]}; each must differ",
                )
            elif priority is not None:
                seen[priority] = where
            _action_kind(rule, where, report)

    return check


def _all_rules(inputs: Mapping[str, Any], rules_json: str) -> list[tuple[str, dict[str, Any]]]:
    """The typed ``rules`` and those in the JSON property, each with its path."""
    rules: list[tuple[str, Any]] = [(f"rules[{i}]", r) for i, r in enumerate(items(inputs.get("rules")))]
    raw = inputs.get(rules_json)
    if isinstance(raw, str):
        rules += [(f"{rules_json}[{i}]", r) for i, r in enumerate(items(decoded(raw)))]
    return [(where, rule) for where, rule in rules if isinstance(rule, dict)]


def _action_kind(rule: Mapping[str, Any], where: str, report: Report) -> None:
    statement = _get(rule, "statement")
    if not isinstance(statement, dict) or not statement:
        return
    evaluates_group = bool({k[:1].lower() + k[1:] for k in statement} & RULE_GROUP_STATEMENTS)
    action, override = _get(rule, "action"), _get(rule, "overrideAction")
    if evaluates_group and action is not None:
        report(f"{where}.action", "a rule that evaluates a rule group takes overrideAction, not action")
    if evaluates_group and override is None:
        report(f"{where}.overrideAction", "a rule that evaluates a rule group needs an overrideAction")
    if not evaluates_group and override is not None:
        report(f"{where}.overrideAction", "only rules that evaluate a rule group take overrideAction")
    if not evaluates_group and action is None:
        report(f"{where}.action", "required member 'action' is missing")


def _family(title: str, type_token: str, operation: str, rules_json: str) -> Family:
    """Web ACLs and rule groups differ in their request and in the name of the property that
    holds rules in the API's own JSON."""
    return Family(
        title=title,
        types=(type_token,),
        service="wafv2",
        operation=operation,
        translation=TRANSLATION,
        semantic=_rule_semantics(rules_json),
    )


FAMILIES = (
    _family("WAFv2 web ACL", WEB_ACL, "CreateWebACL", "ruleJson"),
    _family("WAFv2 rule group", RULE_GROUP, "CreateRuleGroup", "rulesJson"),
)
