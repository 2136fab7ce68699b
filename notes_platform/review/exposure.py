"""The exposure rules: who can reach what after the change. A security group widened, an IAM or
key policy broadened, a public IP or endpoint, the ALB rule no longer requiring CloudFront's
origin header, the WAF moving a rule from block to count. All need explicit approval."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any

from notes_platform.review import redact
from notes_platform.review.findings import Context, Finding, Level, dig, inputs
from notes_platform.review.jsondiff import edits, parse_json_string
from notes_platform.review.preview import Step

ORIGIN_HEADER = "X-Origin-Verify"  # infra/edge: the header CloudFront adds and the ALB rule requires
ANYWHERE = {"0.0.0.0/0", "::/0"}
SOURCE_KEYS = ("cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId")
MAX_POLICY_LINES = 20


def _approval(rule: str, step: Step, title: str, lines: list[str]) -> list[Finding]:
    return [Finding(Level.APPROVAL, rule, step.urn, title, tuple(lines))]


def _within(new: str, old: str) -> bool:
    try:
        return ipaddress.ip_network(new, strict=False).subnet_of(ipaddress.ip_network(old, strict=False))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return new == old


def _ports(rule: Mapping[str, Any]) -> tuple[int, int]:
    if str(rule.get("ipProtocol", rule.get("protocol"))) == "-1":
        return (0, 65535)
    return (int(rule.get("fromPort") or 0), int(rule.get("toPort") or 0))


def _covers(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``old`` (an ingress rule) already admits everything ``new`` admits."""
    (old_from, old_to), (new_from, new_to) = _ports(old), _ports(new)
    if not (old_from <= new_from and new_to <= old_to):
        return False
    if str(old.get("ipProtocol", old.get("protocol"))) not in (
        "-1",
        str(new.get("ipProtocol", new.get("protocol"))),
    ):
        return False
    for key in ("cidrIpv4", "cidrIpv6"):
        if new.get(key) and not (old.get(key) and _within(new[key], old[key])):
            return False
    return all(
        not new.get(k) or new.get(k) == old.get(k) for k in ("referencedSecurityGroupId", "prefixListId")
    )


def _describe(rule: Mapping[str, Any]) -> str:
    source = next((f"{k}={rule[k]}" for k in SOURCE_KEYS if rule.get(k)), "no source")
    low, high = _ports(rule)
    ports = (
        "all ports" if (low, high) == (0, 65535) else f"port {low}" if low == high else f"ports {low}-{high}"
    )
    anywhere = " (from anywhere)" if any(rule.get(k) in ANYWHERE for k in SOURCE_KEYS) else ""
    return f"{source} {ports}{anywhere}"


def _inline_rules(rules: Any) -> list[dict[str, Any]]:
    """Inline ``ingress`` entries of aws:ec2/securityGroup, one per CIDR, in the rule resources' terms."""
    flat = []
    for rule in rules if isinstance(rules, list) else []:
        base = {
            "ipProtocol": rule.get("protocol"),
            "fromPort": rule.get("fromPort"),
            "toPort": rule.get("toPort"),
        }
        flat += [{**base, "cidrIpv4": c} for c in rule.get("cidrBlocks") or ()]
        flat += [{**base, "cidrIpv6": c} for c in rule.get("ipv6CidrBlocks") or ()]
        flat += [{**base, "prefixListId": p} for p in rule.get("prefixListIds") or ()]
        flat += [{**base, "referencedSecurityGroupId": g} for g in rule.get("securityGroups") or ()]
    return flat


def security_group_widened(step: Step, ctx: Context) -> list[Finding]:
    old, new = inputs(step)
    if step.type == "aws:ec2/securityGroup:SecurityGroup" and step.old and step.new:
        before, after = _inline_rules(old.get("ingress")), _inline_rules(new.get("ingress"))
        wider = [r for r in after if not any(_covers(o, r) for o in before)]
        lines = [f"new ingress: {_describe(r)}" for r in wider]
        return _approval("sg-widened", step, "security group admits more", lines) if lines else []
    is_rule = step.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" or (
        step.type == "aws:ec2/securityGroupRule:SecurityGroupRule" and (new or old).get("type") == "ingress"
    )
    if not is_rule or step.new is None:
        return []
    if step.old is None:
        # A rule created with its group is part of a new group, not a widening of an existing one.
        if any(d in ctx.created for d in step.new.dependencies):
            return []
        return _approval(
            "sg-widened", step, "new ingress on an existing security group", [f"new source: {_describe(new)}"]
        )
    if _covers(old, new):
        return []
    return _approval(
        "sg-widened", step, "security group rule widened", [f"{_describe(old)} -> {_describe(new)}"]
    )


# The inputs of each type that hold an IAM-style policy document (JSON in a string).
POLICY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:kms/key:Key": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
}


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}:{p}" for k, v in sorted(value.items()) for p in _listed(v)]
    return [str(value)]


def _grants(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    statements = [statements] if isinstance(statements, dict) else statements
    return [
        {
            "sid": s.get("Sid"),
            "effect": s.get("Effect"),
            "actions": _listed(s.get("Action")) or ["(NotAction)"],
            "resources": _listed(s.get("Resource")),
            "principals": _listed(s.get("Principal")),
            "condition": s.get("Condition"),
        }
        for s in statements
        if isinstance(s, dict)
    ]


def broadening(old_doc: Any, new_doc: Any) -> list[str]:
    """How ``new_doc`` grants more than ``old_doc``: new actions, wildcard resources or principals,
    conditions dropped, denies removed."""
    before, after = _grants(old_doc), _grants(new_doc)
    allowed = [g for g in before if g["effect"] == "Allow"]
    old_actions = {a for g in allowed for a in g["actions"]}
    lines = []
    for grant in (g for g in after if g["effect"] == "Allow"):
        label = f"statement {grant['sid'] or '(no Sid)'}"
        new_actions = [
            a
            for a in grant["actions"]
            if not any(fnmatch.fnmatchcase(a.lower(), o.lower()) for o in old_actions)
        ]
        if new_actions:
            lines.append(f"{label}: new actions {', '.join(sorted(new_actions))}")
        for field, wild in (("resources", "*"), ("principals", "AWS:*")):
            had = any(wild in g[field] or "*" in g[field] for g in allowed)
            if (wild in grant[field] or "*" in grant[field]) and not had:
                lines.append(f"{label}: {field} now '*'")
        same = next((g for g in allowed if grant["sid"] and g["sid"] == grant["sid"]), None)
        if same and same["condition"] and not grant["condition"]:
            lines.append(f"{label}: its Condition is removed")
    removed = [g for g in before if g["effect"] == "Deny" and g not in after]
    lines += [f"Deny statement {g['sid'] or '(no Sid)'} removed" for g in removed]
    return lines


def _policy_pairs(step: Step) -> list[tuple[str, Any, Any]]:
    old, new = inputs(step)
    pairs = [(k, old.get(k), new.get(k)) for k in POLICY_INPUTS.get(step.type, ())]
    if step.type == "aws:iam/role:Role":
        named_old = {
            p.get("name"): p.get("policy") for p in old.get("inlinePolicies") or () if isinstance(p, dict)
        }
        named_new = {
            p.get("name"): p.get("policy") for p in new.get("inlinePolicies") or () if isinstance(p, dict)
        }
        pairs += [(f"inlinePolicies[{n}].policy", named_old.get(n), named_new[n]) for n in named_new]
    return pairs


def policy_broadened(step: Step, ctx: Context) -> list[Finding]:
    if step.new is None:
        return []
    found: list[Finding] = []
    for key, old_text, new_text in _policy_pairs(step):
        new_doc = parse_json_string(new_text)
        if new_doc is None or old_text == new_text:
            continue
        old_doc = parse_json_string(old_text) if step.old else None
        if old_doc is None:
            # A new policy on a new resource broadens nothing; the policy pack judges its wildcards.
            continue
        lines = broadening(old_doc, new_doc)
        if lines:
            diff = [e.line() for e in edits(old_doc, new_doc)][:MAX_POLICY_LINES]
            found += _approval("policy-broadened", step, f"{key} grants more", [*lines, *diff])
    return found


def _header_required(rule_inputs: Mapping[str, Any]) -> bool:
    conditions = rule_inputs.get("conditions") or ()
    return any(
        str(dig(c, "httpHeader.httpHeaderName")).lower() == ORIGIN_HEADER.lower()
        for c in conditions
        if isinstance(c, Mapping)
    )


def _forwards(actions: Any) -> bool:
    return any(isinstance(a, Mapping) and a.get("type") == "forward" for a in actions or ())


def public_exposure(step: Step, ctx: Context) -> list[Finding]:
    old, new = inputs(step)
    if step.new is None:
        return []
    lines = []
    if (
        step.type == "aws:lb/listenerRule:ListenerRule"
        and _forwards(new.get("actions"))
        and not _header_required(new)
        and (step.old is None or _header_required(old))
    ):
        lines.append(f"forwards without requiring {ORIGIN_HEADER}: callers can bypass CloudFront and the WAF")
    if (
        step.type == "aws:lb/listener:Listener"
        and step.old
        and _forwards(new.get("defaultActions"))
        and not _forwards(old.get("defaultActions"))
    ):
        lines.append(
            f"default action now forwards: every request reaches the service, {ORIGIN_HEADER} or not"
        )
    checks = (
        ("mapPublicIpOnLaunch", True),
        ("networkConfiguration.assignPublicIp", True),
        ("publiclyAccessible", True),
        ("associatePublicIpAddress", True),
        ("internal", False),
    )
    for path, exposed in checks:
        if step.old and dig(new, path) == exposed and dig(old, path) != exposed:
            lines.append(redact.change(path, dig(old, path), dig(new, path)))
    if step.type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" and step.old:
        lines += [
            redact.change(k, True, new.get(k))
            for k in sorted(old)
            if old[k] is True and new.get(k) is not True
        ]
    if (
        step.type == "aws:cloudfront/distribution:Distribution"
        and old.get("webAclId")
        and not new.get("webAclId")
    ):
        lines.append("webAclId removed: the WAF no longer filters the API")
    return _approval("public-exposure", step, "public exposure", lines) if lines else []


def _action(rule: Mapping[str, Any]) -> str:
    for key in ("action", "overrideAction"):
        value = rule.get(key)
        if isinstance(value, Mapping) and value:
            return str(next(iter(value)))
    return "?"


def _overrides(rule: Mapping[str, Any]) -> dict[str, str]:
    listed = dig(rule, "statement.managedRuleGroupStatement.ruleActionOverrides") or ()
    return {
        str(o.get("name")): next(iter(o.get("actionToUse") or {"?": 0}))
        for o in listed
        if isinstance(o, Mapping)
    }


def waf_weakened(step: Step, ctx: Context) -> list[Finding]:
    if step.type != "aws:wafv2/webAcl:WebAcl" or step.old is None or step.new is None:
        return []
    old, new = inputs(step)
    before = {r.get("name"): r for r in old.get("rules") or () if isinstance(r, Mapping)}
    after = {r.get("name"): r for r in new.get("rules") or () if isinstance(r, Mapping)}
    lines = [f"rule {n}: removed" for n in sorted(set(before) - set(after), key=str)]
    for name in sorted(set(before) & set(after), key=str):
        was, now = _action(before[name]), _action(after[name])
        if was in ("block", "none") and now == "count":
            lines.append(f"rule {name}: {was} -> count (matches are only counted)")
        old_over, new_over = _overrides(before[name]), _overrides(after[name])
        lines += [
            f"rule {name}/{sub}: -> count"
            for sub, act in new_over.items()
            if act == "count" and old_over.get(sub) != "count"
        ]
    if (
        _action({"action": old.get("defaultAction")}) == "block"
        and _action({"action": new.get("defaultAction")}) == "allow"
    ):
        lines.append("default action: block -> allow")
    return _approval("waf-weakened", step, "WAF lets more through", lines) if lines else []


RULES: tuple[Callable[[Step, Context], list[Finding]], ...] = (
    security_group_widened,
    policy_broadened,
    public_exposure,
    waf_weakened,
)
