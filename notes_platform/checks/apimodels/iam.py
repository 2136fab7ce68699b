"""IAM policy documents, wherever a resource carries one.

The IAM, KMS, ECR and Secrets Manager models give a policy's length and character set; the
grammar inside the JSON is not in any model. It follows the IAM JSON policy reference
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html and its
Condition operators page): Version, Statement, Effect Allow|Deny, Action or NotAction, and

- identity policies (attached to a role, user or group) name Resource or NotResource and no
  Principal: the principal is whoever the policy is attached to;
- trust policies (a role's assumeRolePolicy) name a Principal and no Resource: the resource is
  the role itself, and IAM rejects the document otherwise ("Has prohibited field Resource");
- resource policies (keys, buckets, topics, repositories, secrets) name a Principal.

Roles, role policies and managed policies are also walked against their IAM request (names,
descriptions, maxSessionDuration, path); the other resources only for their policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
    choice,
    json_object,
    tag_list,
    unexpected_members,
)
from notes_platform.checks.apimodels._shapes import (
    IGNORE,
    Family,
    Report,
    Rule,
    Translation,
    Walker,
    child,
    describe,
    items,
    request_shape,
)

Kind = Literal["identity", "trust", "resource"]

# The only version under which policy variables such as ${aws:username} are substituted; a
# policy without one is read as 2008-10-17 and its variables as literal text.
VERSION = "2012-10-17"
TOP_LEVEL = ("Version", "Id", "Statement")
STATEMENT = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
EFFECTS = ("Allow", "Deny")
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
CONDITION_OPERATORS = frozenset(
    {
        *(
            f"String{s}"
            for s in ("Equals", "NotEquals", "EqualsIgnoreCase", "NotEqualsIgnoreCase", "Like", "NotLike")
        ),
        *(
            f"{t}{s}"
            for t in ("Numeric", "Date")
            for s in (
                "Equals",
                "NotEquals",
                "LessThan",
                "LessThanEquals",
                "GreaterThan",
                "GreaterThanEquals",
            )
        ),
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
    }
)
SET_PREFIXES = ("ForAllValues:", "ForAnyValue:")
ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+")
# arn:partition:service:region:account:resource; region and account may be empty (S3, IAM).
ARN = re.compile(r"\*|arn:[^:]+:[^:]+:[^:]*:[^:]*:.+", re.DOTALL)
IAM_SID = re.compile(r"[A-Za-z0-9]*")


def _operator_problem(operator: str) -> str | None:
    base = operator
    for prefix in SET_PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    if base.endswith("IfExists") and base != "IfExists":
        base = base[: -len("IfExists")]
        if base == "Null":
            return "the Null operator takes no IfExists suffix"
    if base not in CONDITION_OPERATORS:
        return f"unknown condition operator {operator!r}"
    return None


def _strings(value: Any, path: str, what: str, report: Report) -> None:
    """A policy element holds one string or a non-empty list of them."""
    if isinstance(value, list):
        if not value:
            report(path, f"{what} is an empty list")
        for index, item in enumerate(value):
            if not isinstance(item, str):
                report(f"{path}[{index}]", f"expected a string, got {describe(item)}")
    elif not isinstance(value, str):
        report(path, f"expected a string or a list of them, got {describe(value)}")


def check_policy(text: Any, path: str, kind: Kind, report: Report) -> None:
    """Report what IAM would reject in a policy document (a JSON string, or its parsed form)."""
    document = json_object(text, path, report, "a policy is a JSON object")
    if document is None:
        return
    unexpected_members(document, TOP_LEVEL, path, report, noun="policy element", owner="a policy")
    version = document.get("Version")
    if version is None:
        report(child(path, "Version"), f"required member 'Version' is missing; use {VERSION!r}")
    elif version != VERSION:
        report(child(path, "Version"), f"value {describe(version)} is not {VERSION}")
    _statements(document.get("Statement"), child(path, "Statement"), kind, report)


def _statements(statements: Any, path: str, kind: Kind, report: Report) -> None:
    if statements is None:
        report(path, "required member 'Statement' is missing")
    elif isinstance(statements, dict):
        _statement(statements, path, kind, report)
    elif not isinstance(statements, list):
        report(path, f"expected a statement or a list of them, got {describe(statements)}")
    elif not statements:
        report(path, "a policy needs at least one statement")
    else:
        for index, statement in enumerate(statements):
            _statement(statement, f"{path}[{index}]", kind, report)
        if kind != "resource":
            sids = [str(s["Sid"]) for s in statements if isinstance(s, dict) and s.get("Sid")]
            for sid in sorted({s for s in sids if sids.count(s) > 1}):
                report(path, f"Sid {sid!r} appears more than once; IAM needs each Sid to be unique")


def _statement(statement: Any, path: str, kind: Kind, report: Report) -> None:
    if not isinstance(statement, dict):
        report(path, f"expected a statement object, got {describe(statement)}")
        return
    unexpected_members(statement, STATEMENT, path, report, noun="statement element")
    choice(statement, "Effect", EFFECTS, path, report, required=True)
    sid = statement.get("Sid")
    if sid is not None and kind != "resource" and not (isinstance(sid, str) and IAM_SID.fullmatch(sid)):
        report(child(path, "Sid"), f"value {describe(sid)} may hold only letters and digits in IAM")
    _one(statement, path, ("Action", "NotAction"), report, required=True)
    _elements(statement, path, ("Action", "NotAction"), ACTION, "'*' or 'service:Action'", report)
    _one(statement, path, ("Resource", "NotResource"), report, required=kind == "identity")
    if kind == "trust":
        for key in ("Resource", "NotResource"):
            if key in statement:
                report(child(path, key), f"a trust policy takes no {key}: the resource is the role itself")
    else:
        _elements(statement, path, ("Resource", "NotResource"), ARN, "'*' or an ARN", report)
    _principals(statement, path, kind, report)
    if "Condition" in statement:
        _condition(statement["Condition"], child(path, "Condition"), report)


def _principals(statement: Mapping[str, Any], path: str, kind: Kind, report: Report) -> None:
    if kind == "identity":
        for key in ("Principal", "NotPrincipal"):
            if key in statement:
                report(
                    child(path, key),
                    f"an identity policy takes no {key}: it applies to whoever it is attached to",
                )
        return
    _one(statement, path, ("Principal", "NotPrincipal"), report, required=True)
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            _principal(statement[key], child(path, key), report)


def _elements(
    statement: Mapping[str, Any],
    path: str,
    keys: tuple[str, ...],
    form: re.Pattern[str],
    noun: str,
    report: Report,
) -> None:
    """Each string of Action/NotAction (or Resource/NotResource) has the documented form."""
    for key in keys:
        if key not in statement:
            continue
        value, where = statement[key], child(path, key)
        _strings(value, where, key, report)
        for index, item in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(item, str) and not form.fullmatch(item):
                report(
                    f"{where}[{index}]" if isinstance(value, list) else where,
                    f"value {describe(item)} is not {noun}",
                )


def _one(
    statement: Mapping[str, Any], path: str, keys: tuple[str, str], report: Report, *, required: bool
) -> None:
    present = [k for k in keys if k in statement]
    if len(present) > 1:
        report(path, f"only one of {keys[0]}, {keys[1]} may be set")
    elif required and not present:
        report(child(path, keys[0]), f"required member {keys[0]!r} (or {keys[1]!r}) is missing")


def _principal(value: Any, path: str, report: Report) -> None:
    if value == "*":
        return
    if not isinstance(value, dict):
        report(path, f"expected '*' or an object of {', '.join(PRINCIPAL_TYPES)}, got {describe(value)}")
        return
    for key, names in value.items():
        if key not in PRINCIPAL_TYPES:
            report(child(path, key), f"value {key!r} is not one of {', '.join(PRINCIPAL_TYPES)}")
        else:
            _strings(names, child(path, key), key, report)


def _condition(value: Any, path: str, report: Report) -> None:
    if not isinstance(value, dict):
        report(path, f"expected an object of condition operators, got {describe(value)}")
        return
    for operator, tests in value.items():
        where = child(path, operator)
        problem = _operator_problem(operator)
        if problem:
            report(where, problem)
        if not isinstance(tests, dict) or not tests:
            report(where, f"expected an object of condition keys to values, got {describe(tests)}")
            continue
        for key, expected in tests.items():
            items = expected if isinstance(expected, list) else [expected]
            if any(isinstance(i, (dict, list)) or i is None for i in items):
                report(
                    child(where, key),
                    f"condition values are strings, numbers or booleans, got {describe(expected)}",
                )


# --- resources --------------------------------------------------------------------------------


def policy_text(value: Any, path: str) -> Any:
    """Several resources take a policy as an object (pulumi_aws's PolicyDocument) as well as a
    JSON string; the provider sends the string, and its length is what the model limits."""
    return value if isinstance(value, str) else json.dumps(value)


Limit = tuple[str, str, str]  # (service, operation, member) whose model limits a policy's text


def _policy(value: Any, path: str, kind: Kind, limit: Limit | None, report: Report) -> None:
    """Check a policy held outside any walked request: its text against ``limit``'s model
    (length and characters), then its grammar."""
    if limit is not None:
        Walker(Translation(), report).walk(request_shape(*limit), policy_text(value, path), path)
    check_policy(value, path, kind, report)


def _policy_check(
    prop: str, kind: Kind, limit: Limit | None = None
) -> Callable[[Mapping[str, Any], Report], None]:
    """Check ``inputs[prop]`` as a policy; ``limit`` for resources not otherwise walked."""

    def extra(inputs: Mapping[str, Any], report: Report) -> None:
        value = inputs.get(prop)
        if value is not None:
            _policy(value, prop, kind, limit, report)

    return extra


# A role's inline policies are put one by one with PutRolePolicy once the role exists.
INLINE_POLICY_LIMIT: Limit = ("iam", "PutRolePolicy", "PolicyDocument")


def _role_policies(inputs: Mapping[str, Any], report: Report) -> None:
    check_policy(inputs.get("assumeRolePolicy"), "assumeRolePolicy", "trust", report)
    for index, inline in enumerate(items(inputs.get("inlinePolicies"))):
        if isinstance(inline, dict) and inline.get("policy"):
            where = f"inlinePolicies[{index}].policy"
            _policy(inline["policy"], where, "identity", INLINE_POLICY_LIMIT, report)


NAMED = {"namePrefix": IGNORE}

ROLE = Family(
    title="IAM role",
    types=("aws:iam/role:Role",),
    service="iam",
    operation="CreateRole",
    translation=Translation(
        rules={
            "CreateRoleRequest": {
                **PROVIDER_ONLY,
                **NAMED,
                "name": Rule("RoleName"),
                "assumeRolePolicy": Rule("AssumeRolePolicyDocument", policy_text),
                "tags": Rule("Tags", tag_list),
                # Attachments the provider makes with separate calls; inline policies are
                # checked as documents by _role_policies.
                "inlinePolicies": IGNORE,
                "managedPolicyArns": IGNORE,
                "forceDetachPolicies": IGNORE,
            }
        },
        provided={"CreateRoleRequest": frozenset({"RoleName"})},
    ),
    semantic=_role_policies,
)


def _attached(title: str, type_token: str, operation: str, owner: str, owner_member: str) -> Family:
    """An inline policy of a role, user or group, or a managed policy (``owner`` empty)."""
    shape = f"{operation}Request"
    rules: dict[str, Rule] = {
        **PROVIDER_ONLY,
        **NAMED,
        "name": Rule("PolicyName"),
        "policy": Rule("PolicyDocument", policy_text),
    }
    if owner:
        rules[owner] = Rule(owner_member)
    else:
        rules["tags"] = Rule("Tags", tag_list)
        rules["delayAfterPolicyCreationInMs"] = IGNORE  # the provider's own wait
    return Family(
        title=title,
        types=(type_token,),
        service="iam",
        operation=operation,
        translation=Translation(rules={shape: rules}, provided={shape: frozenset({"PolicyName"})}),
        semantic=_policy_check("policy", "identity"),
    )


RESOURCE_POLICIES: tuple[tuple[str, str, Limit | None], ...] = (
    ("aws:kms/key:Key", "policy", ("kms", "CreateKey", "Policy")),
    ("aws:kms/keyPolicy:KeyPolicy", "policy", ("kms", "PutKeyPolicy", "Policy")),
    # s3's PutBucketPolicy Policy and sns's SetTopicAttributes AttributeValue are bare strings:
    # their models (s3's the largest of all) would be loaded to check nothing.
    ("aws:s3/bucketPolicy:BucketPolicy", "policy", None),
    ("aws:sns/topicPolicy:TopicPolicy", "policy", None),
    ("aws:sns/topic:Topic", "policy", None),
    ("aws:sqs/queuePolicy:QueuePolicy", "policy", None),
    ("aws:ecr/repositoryPolicy:RepositoryPolicy", "policy", ("ecr", "SetRepositoryPolicy", "policyText")),
    (
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "policy",
        ("secretsmanager", "PutResourcePolicy", "ResourcePolicy"),
    ),
    ("aws:secretsmanager/secret:Secret", "policy", ("secretsmanager", "PutResourcePolicy", "ResourcePolicy")),
)

FAMILIES: tuple[Family, ...] = (
    ROLE,
    _attached("IAM role policy", "aws:iam/rolePolicy:RolePolicy", "PutRolePolicy", "role", "RoleName"),
    _attached("IAM user policy", "aws:iam/userPolicy:UserPolicy", "PutUserPolicy", "user", "UserName"),
    _attached("IAM group policy", "aws:iam/groupPolicy:GroupPolicy", "PutGroupPolicy", "group", "GroupName"),
    _attached("IAM managed policy", "aws:iam/policy:Policy", "CreatePolicy", "", ""),
    *(
        Family(
            title=f"resource policy of {type_token}",
            types=(type_token,),
            service=limit[0] if limit else "iam",
            operation=None,
            semantic=_policy_check(prop, "resource", limit),
        )
        for type_token, prop, limit in RESOURCE_POLICIES
    ),
)
