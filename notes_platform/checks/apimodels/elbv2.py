"""Load balancer listeners and listener rules -> elbv2 CreateListener / CreateRule.

Pulumi names each action's settings block after the action (``redirect``, ``fixedResponse``)
where the API appends ``Config``, and each rule condition after its field (``pathPattern``)
where the API appends ``Config`` too; ``queryStrings`` is the list the API wraps in
``QueryStringConfig.Values``. The documented rules beyond the model come from "Listener rules
for your Application Load Balancer"
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html):
exactly one of forward, redirect or fixed-response per rule; at most one host-header,
http-request-method, path-pattern and source-ip condition; up to three comparison strings per
condition and five per rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
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
    unknown,
)

LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
RULE_TYPES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")

TERMINAL_ACTIONS = ("forward", "redirect", "fixed-response")
# The settings block each action type reads.
ACTION_SETTINGS = {
    "redirect": "redirect",
    "fixed-response": "fixedResponse",
    "authenticate-oidc": "authenticateOidc",
    "authenticate-cognito": "authenticateCognito",
    "jwt-validation": "jwtValidation",
    "forward": "forward",
}
SINGLE_CONDITIONS = ("hostHeader", "httpRequestMethod", "pathPattern", "sourceIp")
MAX_VALUES_PER_CONDITION = 3
MAX_VALUES_PER_RULE = 5
TLS_PROTOCOLS = ("HTTPS", "TLS")


# Listener attributes, which the provider sets with ModifyListenerAttributes once the listener
# exists: not part of CreateListener.
LISTENER_ATTRIBUTES = (
    "tcpIdleTimeoutSeconds",
    *(
        f"routingHttpRequestXAmzn{name}"
        for name in (
            "MtlsClientcertHeaderName",
            "MtlsClientcertIssuerHeaderName",
            "MtlsClientcertLeafHeaderName",
            "MtlsClientcertSerialNumberHeaderName",
            "MtlsClientcertSubjectHeaderName",
            "MtlsClientcertValidityHeaderName",
            "TlsCipherSuiteHeaderName",
            "TlsVersionHeaderName",
        )
    ),
    *(
        f"routingHttpResponse{name}"
        for name in (
            "AccessControlAllowCredentialsHeaderValue",
            "AccessControlAllowHeadersHeaderValue",
            "AccessControlAllowMethodsHeaderValue",
            "AccessControlAllowOriginHeaderValue",
            "AccessControlExposeHeadersHeaderValue",
            "AccessControlMaxAgeHeaderValue",
            "ContentSecurityPolicyHeaderValue",
            "ServerEnabled",
            "StrictTransportSecurityHeaderValue",
            "XContentTypeOptionsHeaderValue",
            "XFrameOptionsHeaderValue",
        )
    ),
)


def _query_strings(value: Any, path: str) -> Any:
    if not isinstance(value, list):
        raise Unfit(f"expected a list of key/value pairs, got {describe(value)}")
    return {"Values": At(path, value)}


def _one_item_list(value: Any, path: str) -> Any:
    return [At(path, value)]


TRANSLATION = Translation(
    rules={
        "CreateListenerInput": {
            **PROVIDER_ONLY,
            "certificateArn": Rule("Certificates", lambda value, path: [{"CertificateArn": At(path, value)}]),
            "alpnPolicy": Rule("AlpnPolicy", _one_item_list),
            "tags": Rule("Tags", tag_list),
            **dict.fromkeys(LISTENER_ATTRIBUTES, IGNORE),
        },
        "CreateRuleInput": {**PROVIDER_ONLY, "tags": Rule("Tags", tag_list)},
        "Action": {
            "redirect": Rule("RedirectConfig"),
            "fixedResponse": Rule("FixedResponseConfig"),
            "forward": Rule("ForwardConfig"),
            "authenticateOidc": Rule("AuthenticateOidcConfig"),
            "authenticateCognito": Rule("AuthenticateCognitoConfig"),
            "jwtValidation": Rule("JwtValidationConfig"),
        },
        "ForwardActionConfig": {"stickiness": Rule("TargetGroupStickinessConfig")},
        "TargetGroupStickinessConfig": {"duration": Rule("DurationSeconds")},
        "TargetGroupTuple": {"arn": Rule("TargetGroupArn")},
        "RuleCondition": {
            "hostHeader": Rule("HostHeaderConfig"),
            "httpHeader": Rule("HttpHeaderConfig"),
            "httpRequestMethod": Rule("HttpRequestMethodConfig"),
            "pathPattern": Rule("PathPatternConfig"),
            "sourceIp": Rule("SourceIpConfig"),
            "queryStrings": Rule("QueryStringConfig", _query_strings),
        },
        "HostHeaderRewriteConfig": {"rewrite": Rule("Rewrites", _one_item_list)},
        "UrlRewriteConfig": {"rewrite": Rule("Rewrites", _one_item_list)},
    },
    # Without a priority the provider takes the one after the listener's highest.
    provided={"CreateRuleInput": frozenset({"Priority"})},
    documented={
        ("FixedResponseActionConfig", "ContentType"): (
            "text/plain",
            "text/css",
            "text/html",
            "application/javascript",
            "application/json",
        ),
        ("CreateListenerInput", "AlpnPolicy"): (
            "HTTP1Only",
            "HTTP2Only",
            "HTTP2Optional",
            "HTTP2Preferred",
            "None",
        ),
    },
)


def _actions(actions: Any, path: str, report: Report, *, rule: bool) -> None:
    if not isinstance(actions, list):
        return
    terminal = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            continue
        where = f"{path}[{index}]"
        kind = action.get("type")
        if unknown(kind):
            return  # which action is terminal cannot be told yet
        if kind in TERMINAL_ACTIONS:
            terminal.append(where)
        wanted = ACTION_SETTINGS.get(kind) if isinstance(kind, str) else None
        for setting in ACTION_SETTINGS.values():
            if action.get(setting) is not None and setting != wanted:
                report(child(where, setting), f"settings for another action type than {kind!r}")
        if kind == "forward" and action.get("targetGroupArn") is None and action.get("forward") is None:
            report(where, "a forward action needs targetGroupArn or forward")
        elif wanted not in (None, "forward") and action.get(wanted) is None:
            report(child(where, wanted), f"required member {wanted!r} is missing for a {kind} action")
    if len(terminal) != 1:
        found = ", ".join(terminal) or "none"
        what = "rule" if rule else "listener's default actions"
        report(path, f"a {what} needs exactly one forward, redirect or fixed-response action; found {found}")


def _listener(inputs: Mapping[str, Any], report: Report) -> None:
    protocol = inputs.get("protocol")
    if protocol in TLS_PROTOCOLS and inputs.get("certificateArn") is None:
        report("certificateArn", f"an {protocol} listener needs a default certificate")
    tls_or_unknown = protocol is None or protocol in TLS_PROTOCOLS or unknown(protocol)
    if inputs.get("sslPolicy") is not None and not tls_or_unknown:
        report("sslPolicy", f"only HTTPS and TLS listeners take an sslPolicy, not {protocol}")
    _actions(inputs.get("defaultActions"), "defaultActions", report, rule=False)


def _rule(inputs: Mapping[str, Any], report: Report) -> None:
    _actions(inputs.get("actions"), "actions", report, rule=True)
    conditions = inputs.get("conditions")
    if not isinstance(conditions, list):
        return
    seen: dict[str, str] = {}
    total = 0
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            continue
        where = f"conditions[{index}]"
        if len(condition) != 1:
            fields = ", ".join(sorted(condition)) or "none"
            report(where, f"a condition block sets exactly one condition; found {fields}")
        for field, settings in condition.items():
            if field in SINGLE_CONDITIONS:
                if field in seen:
                    report(
                        child(where, field),
                        f"a rule takes one {field} condition; another is at {seen[field]}",
                    )
                seen.setdefault(field, where)
            values = (
                settings
                if field == "queryStrings"
                else settings.get("values")
                if isinstance(settings, dict)
                else None
            )
            count = len(values) if isinstance(values, list) else 0
            total += count
            if count > MAX_VALUES_PER_CONDITION:
                limit = MAX_VALUES_PER_CONDITION
                report(
                    child(where, field),
                    f"{count} comparison strings is above the maximum {limit} per condition",
                )
    if total > MAX_VALUES_PER_RULE:
        report(
            "conditions", f"{total} comparison strings is above the maximum {MAX_VALUES_PER_RULE} per rule"
        )


FAMILIES = (
    Family(
        title="load balancer listener",
        types=LISTENER_TYPES,
        service="elbv2",
        operation="CreateListener",
        translation=TRANSLATION,
        semantic=_listener,
    ),
    Family(
        title="load balancer listener rule",
        types=RULE_TYPES,
        service="elbv2",
        operation="CreateRule",
        translation=TRANSLATION,
        semantic=_rule,
    ),
)
