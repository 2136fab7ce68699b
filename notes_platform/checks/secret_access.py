"""Containers that read what their roles cannot, and container dependencies ECS refuses, checked
over the recorded graph.

- Every ``secrets[].valueFrom`` of an ECS task definition is a secret ECS reads with the task
  definition's execution role when it starts the task: the role's inline policies must allow
  secretsmanager:GetSecretValue on it (else ``ResourceInitializationError``).
- Every plain ``*_SECRET_ARN`` variable names a secret the container's code reads with the task
  role: the task role's inline policies must allow GetSecretValue on it (else AccessDenied at
  start, or at the first refresh after a rotation).
- For a secret created in this plan under a KMS key of this plan, the same role may also
  kms:Decrypt with that key (Secrets Manager decrypts as the caller).
- A ``dependsOn`` with condition COMPLETE or SUCCESS names a container of the same task that is
  not essential (Amazon ECS API Reference, ContainerDependency: "This condition can't be set on
  an essential container"); RegisterTaskDefinition refuses it otherwise.

Only Allow statements of the roles' inline policies (``aws:iam/rolePolicy:RolePolicy``) are read;
managed policy attachments are not, so a role that relies on one would be reported.

    findings = check(plan.resources)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from notes_platform.checks.ordering import IAM_ROLE, SECRET, TASK_DEFINITION, Finding, Graph
from notes_platform.graph.mocks import RECORDED_UNKNOWN, Recorded

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRET_ARN_SUFFIX = "_SECRET_ARN"  # noqa: S105 (a name suffix)
FINISHING_CONDITIONS = ("COMPLETE", "SUCCESS")
GET_SECRET = "secretsmanager:GetSecretValue"  # noqa: S105 (an IAM action)
DECRYPT = "kms:Decrypt"


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
    graph = Graph(resources)
    findings: list[Finding] = []
    for task in graph.of_type(TASK_DEFINITION):
        definitions = containers(task)
        if definitions is None:
            continue  # the ordering check reports definitions it cannot read
        findings += _read_findings(graph, task, definitions)
        findings += dependency_findings(task.urn, definitions)
    return findings


def secret_arn(value: str) -> str | None:
    """The secret's ARN in a ``valueFrom`` or a variable (a JSON key, stage or version after it
    dropped); None when the value is not a Secrets Manager ARN."""
    parts = value.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[5] == "secret":
        return ":".join(parts[:7])
    return None


def allows(statements: Sequence[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Whether an Allow statement grants ``action`` on ``resource`` (IAM's wildcards ``*`` and
    ``?`` in actions, case-insensitive, and resources). Conditions are taken as met."""
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if any(fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def dependency_findings(task_urn: str, containers: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """COMPLETE and SUCCESS dependencies name a non-essential container of the same task."""
    by_name = {str(c.get("name")): c for c in containers}
    findings = []
    for container in containers:
        for dependency in container.get("dependsOn") or []:
            name, condition = str(dependency.get("containerName")), dependency.get("condition")
            if condition not in FINISHING_CONDITIONS:
                continue
            target = by_name.get(name)
            if target is None:
                problem = "which is not a container of this task"
            elif target.get("essential", True) is not False:
                problem = "which is essential: ECS accepts COMPLETE and SUCCESS only on a non-essential one"
            else:
                continue
            findings.append(
                Finding(
                    task_urn,
                    f"container {container.get('name')!r} waits for {name!r} to {condition}, {problem} "
                    "(RegisterTaskDefinition refuses it)",
                )
            )
    return findings


def _read_findings(graph: Graph, task: Recorded, containers: Sequence[Mapping[str, Any]]) -> list[Finding]:
    findings = []
    roles = {
        "execution role": _role(graph, task, "executionRoleArn"),
        "task role": _role(graph, task, "taskRoleArn"),
    }
    for container in containers:
        reads = [
            ("execution role", f"secrets {s.get('name')}", str(s.get("valueFrom", "")))
            for s in container.get("secrets") or []
        ] + [
            ("task role", f"environment {e.get('name')}", str(e.get("value", "")))
            for e in container.get("environment") or []
            if str(e.get("name", "")).endswith(SECRET_ARN_SUFFIX)
        ]
        for which, variable, value in reads:
            arn = secret_arn(value)
            if arn is None:
                findings.append(
                    Finding(
                        task.urn,
                        f"container {container.get('name')!r} {variable}: {value!r} is not a secret ARN",
                    )
                )
                continue
            problem = _unreadable(graph, roles[which], which, arn)
            if problem:
                findings.append(
                    Finding(task.urn, f"container {container.get('name')!r} {variable}: {problem}")
                )
    return findings


def _unreadable(graph: Graph, role: Recorded | None, which: str, arn: str) -> str | None:
    if role is None:
        return f"reads {arn} with the {which}, which is not a role of this plan"
    statements = _statements(graph, role)
    if not allows(statements, GET_SECRET, arn):
        return f"the {which} {role.urn} may not {GET_SECRET} on {arn}: grant it in the role's policy"
    key = _secret_key(graph, arn)
    if key is not None and not allows(statements, DECRYPT, key):
        return f"the {which} {role.urn} reads {arn} but may not {DECRYPT} with its key {key}"
    return None


def _role(graph: Graph, task: Recorded, prop: str) -> Recorded | None:
    if task.property_dependencies:
        found = graph.refs(task, prop, IAM_ROLE)
        return found[0] if found else None
    arn = str(task.inputs.get(prop, ""))
    name = arn.rsplit("/", 1)[-1]
    return next((r for r in graph.of_type(IAM_ROLE) if name and r.inputs.get("name") == name), None)


def _statements(graph: Graph, role: Recorded) -> list[Mapping[str, Any]]:
    statements: list[Mapping[str, Any]] = []
    for policy in graph.of_type(ROLE_POLICY):
        if role not in graph.refs(policy, "role", IAM_ROLE):
            continue
        document = policy.inputs.get("policy")
        try:
            parsed = json.loads(document) if isinstance(document, str) else None
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            statements += [s for s in _as_list(parsed.get("Statement")) if isinstance(s, Mapping)]
    return statements


def _secret_key(graph: Graph, arn: str) -> str | None:
    """The KMS key ARN of the plan's secret that ``arn`` points at (Secrets Manager appends a
    hyphen and six characters to the name); None for a secret not made here (DocumentDB's
    master secret) or one under the account's aws/secretsmanager key."""
    name = arn.split(":")[6]
    for secret in graph.of_type(SECRET):
        secret_name = secret.inputs.get("name")
        if (
            isinstance(secret_name, str)
            and secret_name not in ("", RECORDED_UNKNOWN)
            and name[:-7] == secret_name
        ):
            key = secret.inputs.get("kmsKeyId")
            return key if isinstance(key, str) and key.startswith("arn:aws:kms:") else None
    return None


def containers(task: Recorded) -> list[Mapping[str, Any]] | None:
    """A task definition's containers, None when its definitions cannot be read offline."""
    definitions = task.inputs.get("containerDefinitions")
    try:
        containers = json.loads(definitions) if isinstance(definitions, str) else None
    except json.JSONDecodeError:
        return None
    return [c for c in containers if isinstance(c, Mapping)] if isinstance(containers, list) else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
