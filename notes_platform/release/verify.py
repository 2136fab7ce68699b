"""`notes-platform verify STACK`: did the deploy really roll out, and does the stack answer?

``pulumi up`` returns once ECS reports a steady state, and a service the deployment circuit
breaker rolled back is steady too: it runs the last deployment that completed, not the one
just deployed (ECS API reference, DeploymentCircuitBreaker: "the service is rolled back to the
last deployment that completed successfully"; the known trap of the standard deploy action,
aws-actions/amazon-ecs-deploy-task-definition#191 and its fix #860). So the first check compares
what the primary deployment runs with the image the stack was meant to run, by digest.

What is expected comes from the stack's outputs (names in ``stacks/outputs.py``): read through
the Automation API when a Pulumi CLI is on PATH, or from a file ``pulumi stack output --json``
wrote. The rest follows the program's naming (each place named below), so a stack needs no
extra outputs to be verified.

Each check is a :class:`~notes_platform.release.records.VerifyCheck`: a stable name, pass or
fail, and what it saw. Exit codes (README, "Verifying a deploy"): the most severe failure wins.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from notes_platform.release.records import DIGEST, VerifyCheck, VerifyRecord, write_verify_record
from notes_platform.release.smoke import Api, round_trip
from stacks import outputs as out

PASSED = 0
BAD_INPUT = 1
ROLLOUT_FAILED = 3
STACK_UNHEALTHY = 4
SMOKE_FAILED = 5
AWS_UNREACHABLE = 6
NO_OUTPUTS = 7

# CloudFront's alarms, WAF's and the edge's alarm topic live in us-east-1 whatever the stack's
# region (infra/edge/: an alarm can only notify a topic in its own region).
EDGE_REGION = "us-east-1"

# The checks whose failure means "this deploy did not happen": exit 3, the rollback runbook.
ROLLOUT_CHECKS = ("ecs-image", "ecs-rollout")

ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a boto3 client. Tests pass one that hands out stubbed clients."""


class VerifyInputError(Exception):
    """The stack's outputs could not be read or lack a key; the message names the source and key."""


class PulumiUnavailable(Exception):
    """No Pulumi CLI to read outputs with, and no outputs file given."""


@dataclass(frozen=True)
class Expected:
    """What the stack should be running, from its outputs."""

    stack: str
    environment: str
    region: str
    cluster: str
    service: str
    digest: str
    api_url: str
    cloudfront_domain: str
    web_acl_arn: str

    @property
    def docdb_cluster(self) -> str:
        return f"notes-{self.environment}-docdb"  # infra/documentdb.py DocumentDb: the identifier

    @property
    def cache_group(self) -> str:
        return f"notes-{self.environment}-redis"  # infra/cache.py RedisCache: replication_group_id

    @property
    def alarm_prefix(self) -> str:
        return f"notes-{self.environment}-"  # infra/observability/alarm_factory.py: every alarm's name

    @property
    def alarm_regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.region, EDGE_REGION)))


# --- what is expected ------------------------------------------------------------------------


def read_outputs_file(path: Path) -> dict[str, Any]:
    """A ``pulumi stack output --json`` document: one JSON object, output name -> value."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise VerifyInputError(f"{path}: no such file") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise VerifyInputError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise VerifyInputError(
            f"{path}: expected a JSON object of stack outputs, found {type(document).__name__}"
        )
    return document


def outputs_from_pulumi(stack: str, work_dir: Path) -> dict[str, Any]:
    """The stack's outputs through the Automation API, which drives the Pulumi CLI
    (pulumi.automation.select_stack(stack_name, work_dir=...) then Stack.outputs(): a map of
    OutputValue(value, secret)); it cannot work without one, so say so instead of trying."""
    if shutil.which("pulumi") is None:
        raise PulumiUnavailable(
            "no `pulumi` CLI on PATH to read the stack's outputs: pass --outputs FILE "
            f"(written by `pulumi stack output --stack {stack} --json`)"
        )
    from pulumi import automation  # noqa: PLC0415 (heavy, and only with a CLI present)

    try:
        selected = automation.select_stack(stack_name=stack, work_dir=str(work_dir))
        return {name: output.value for name, output in selected.outputs().items()}
    except automation.errors.CommandError as exc:
        raise VerifyInputError(f"pulumi stack {stack}: {str(exc).strip()[-500:]}") from exc


def _text(outputs: Mapping[str, Any], source: str, key: str) -> str:
    value = outputs.get(key)
    if value is None:
        raise VerifyInputError(f"{source}: {key}: missing from the stack's outputs")
    if not isinstance(value, str) or not value:
        raise VerifyInputError(f"{source}: {key}: expected a non-empty string, found {value!r}")
    if value == "[secret]":
        raise VerifyInputError(f"{source}: {key}: masked as [secret]; write the file with --show-secrets")
    return value


def expected_from_outputs(
    stack: str,
    outputs: Mapping[str, Any],
    source: str,
    *,
    environment: str | None = None,
    region: str | None = None,
) -> Expected:
    """Validate the outputs verify needs; :class:`VerifyInputError` names ``source`` and the key."""
    digest = _text(outputs, source, out.IMAGE_DIGEST)
    if not DIGEST.match(digest):
        raise VerifyInputError(f"{source}: {out.IMAGE_DIGEST}: {digest!r} is not sha256:<64 lowercase hex>")
    api_url = _text(outputs, source, out.API_URL)
    # Only http(s): the smoke opens this URL, and urllib would also open file: or ftp: ones.
    if urlsplit(api_url).scheme not in ("https", "http") or not urlsplit(api_url).hostname:
        raise VerifyInputError(f"{source}: {out.API_URL}: {api_url!r} is not an http(s) URL")
    if region is None:
        # arn:aws:sns:<region>:<account>:<name>: the stack's own region, where its topic lives.
        parts = _text(outputs, source, out.ALARM_TOPIC_ARN).split(":")
        if len(parts) < 6 or not parts[3]:
            raise VerifyInputError(
                f"{source}: {out.ALARM_TOPIC_ARN}: not an ARN with a region; pass --region"
            )
        region = parts[3]
    return Expected(
        stack=stack,
        environment=environment or stack,
        region=region,
        cluster=_text(outputs, source, out.CLUSTER_NAME),
        service=_text(outputs, source, out.SERVICE_NAME),
        digest=digest,
        api_url=api_url,
        cloudfront_domain=_text(outputs, source, out.CLOUDFRONT_DOMAIN),
        web_acl_arn=_text(outputs, source, out.WEB_ACL_ARN),
    )


# --- the ECS service ---------------------------------------------------------------------------


def _fail(name: str, saw: str) -> VerifyCheck:
    return VerifyCheck(name, False, saw)


def _ok(name: str, saw: str) -> VerifyCheck:
    return VerifyCheck(name, True, saw)


def ecs_checks(ecs: Any, expected: Expected) -> tuple[list[VerifyCheck], dict[str, Any] | None]:
    """ecs-image, ecs-rollout and ecs-capacity, and the service (for its target groups)."""
    answer = ecs.describe_services(cluster=expected.cluster, services=[expected.service])
    if not answer.get("services"):
        reasons = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in answer.get("failures", []))
        saw = f"no service {expected.service} in cluster {expected.cluster} ({reasons or 'not found'})"
        return [_fail(name, saw) for name in (*ROLLOUT_CHECKS, "ecs-capacity")], None
    service: dict[str, Any] = answer["services"][0]
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        saw = f"service {expected.service} has no PRIMARY deployment ({len(deployments)} deployments)"
        return [_fail("ecs-image", saw), _fail("ecs-rollout", saw), capacity_check(service)], service
    checks = [image_check(ecs, service, primary, expected), rollout_check(primary, deployments)]
    return [*checks, capacity_check(service)], service


def image_check(
    ecs: Any, service: dict[str, Any], primary: dict[str, Any], expected: Expected
) -> VerifyCheck:
    """The primary deployment's task definition runs the stack's image digest. After a
    circuit-breaker rollback the primary deployment is the rollback, running the previous task
    definition (and image), and the failed deployment may already be gone from the list."""
    definition = ecs.describe_task_definition(taskDefinition=primary["taskDefinition"])["taskDefinition"]
    revision = f"{definition.get('family')}:{definition.get('revision')}"
    images = [container.get("image", "") for container in definition.get("containerDefinitions", [])]
    where = f"primary deployment {primary.get('id')} runs {revision}"
    if any(image.endswith(f"@{expected.digest}") for image in images):
        return _ok("ecs-image", f"{where} with {expected.digest}")
    failed = [d for d in service.get("deployments", []) if d.get("rolloutState") == "FAILED"]
    why = (
        f"deployment {failed[0].get('id')} FAILED ({failed[0].get('rolloutStateReason', 'no reason given')}) "
        "and the circuit breaker rolled the service back"
        if failed
        else "rolled back by the circuit breaker to the last completed deployment, or the deploy never "
        "reached ECS"
    )
    latest = service.get("events", [{}])[0].get("message") if service.get("events") else None
    return _fail(
        "ecs-image",
        f"{where} with {', '.join(images) or 'no container'}, not {expected.digest}: {why}"
        + (f"; latest event: {latest}" if latest else ""),
    )


def rollout_check(primary: dict[str, Any], deployments: list[dict[str, Any]]) -> VerifyCheck:
    """rolloutState COMPLETED on the primary deployment, and no other deployment left
    (DeploymentRolloutState: COMPLETED | FAILED | IN_PROGRESS, botocore's ecs model)."""
    state = primary.get("rolloutState")
    reason = primary.get("rolloutStateReason", "")
    others = [d for d in deployments if d is not primary]
    if state != "COMPLETED":
        said = f"rolloutState {state}" if state else "no rolloutState (not a rolling-update service?)"
        return _fail(
            "ecs-rollout", f"primary deployment {primary.get('id')}: {said}{f' ({reason})' if reason else ''}"
        )
    if others:
        listed = ", ".join(
            f"{d.get('id')} {d.get('status')} {d.get('rolloutState', '')}".strip() for d in others
        )
        return _fail("ecs-rollout", f"rolloutState COMPLETED, but other deployments remain: {listed}")
    return _ok(
        "ecs-rollout", f"primary deployment {primary.get('id')} rolloutState COMPLETED, the only deployment"
    )


def capacity_check(service: dict[str, Any]) -> VerifyCheck:
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    saw = f"running {running}, desired {desired}, pending {service.get('pendingCount', 0)}"
    if desired < 1:
        return _fail("ecs-capacity", f"{saw}: a service scaled to zero serves nothing")
    return _ok("ecs-capacity", saw) if running == desired else _fail("ecs-capacity", saw)


def target_checks(elbv2: Any, service: dict[str, Any] | None) -> list[VerifyCheck]:
    """Every target group of the service: each target healthy (or draining: an old task leaving)
    and at least desiredCount healthy (TargetHealthStateEnum, botocore's elbv2 model)."""
    if service is None:
        return [_fail("targets-healthy", "no service, so no target group to look at")]
    groups = [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    if not groups:
        return [_fail("targets-healthy", f"service {service.get('serviceName')} has no target group")]
    desired = max(1, service.get("desiredCount", 1))
    checks = []
    for arn in groups:
        descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        states = [(d["Target"], d.get("TargetHealth", {})) for d in descriptions]
        healthy = sum(1 for _, health in states if health.get("State") == "healthy")
        bad = [
            f"{target['Id']}:{target.get('Port', '')} {health.get('State')} ({health.get('Reason', '')})"
            for target, health in states
            if health.get("State") not in ("healthy", "draining")
        ]
        name = arn.rsplit(":", 1)[-1]
        saw = f"{name}: {healthy} of {len(states)} healthy (want {desired})" + (
            f"; {'; '.join(bad)}" if bad else ""
        )
        checks.append(
            _ok("targets-healthy", saw) if not bad and healthy >= desired else _fail("targets-healthy", saw)
        )
    return checks


# --- alarms, data stores, edge ---------------------------------------------------------------


def alarm_check(cloudwatch: Any, expected: Expected, region: str) -> VerifyCheck:
    """No metric or composite alarm of the stack in ALARM. No alarm at all is a failure too:
    every stack has alarms in both regions, so none found means a wrong region or environment."""
    states: dict[str, list[str]] = {}
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=expected.alarm_prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    for page in pages:
        for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
            states.setdefault(alarm["StateValue"], []).append(alarm["AlarmName"])
    name = f"alarms-{region}"
    total = sum(len(names) for names in states.values())
    if total == 0:
        return _fail(
            name, f"no alarm named {expected.alarm_prefix}* in {region}: wrong region or environment?"
        )
    counts = ", ".join(f"{len(states[state])} {state}" for state in sorted(states))
    if states.get("ALARM"):
        return _fail(name, f"{counts}; in ALARM: {', '.join(sorted(states['ALARM']))}")
    return _ok(name, f"{total} alarms: {counts}")


def docdb_checks(docdb: Any, expected: Expected) -> list[VerifyCheck]:
    """The cluster and each of its instances ``available`` (DocumentDB developer guide,
    "Monitoring a cluster's status" / "an instance's status")."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    identifier = expected.docdb_cluster
    try:
        cluster = docdb.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    except ClientError as exc:
        saw = f"{identifier}: {exc.response.get('Error', {}).get('Code')}"
        return [_fail("docdb-cluster", saw), _fail("docdb-instances", saw)]
    status = cluster.get("Status")
    cluster_check = (_ok if status == "available" else _fail)("docdb-cluster", f"{identifier} {status}")
    members = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])}
    instances = docdb.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [identifier]}])[
        "DBInstances"
    ]
    seen = {i["DBInstanceIdentifier"]: i.get("DBInstanceStatus") for i in instances}
    listed = ", ".join(f"{name} {state}" for name, state in sorted(seen.items()))
    missing = sorted(members - set(seen))
    if not seen or missing or any(state != "available" for state in seen.values()):
        gone = f"; members not described: {', '.join(missing)}" if missing else ""
        return [cluster_check, _fail("docdb-instances", f"{listed or 'no instance'}{gone}")]
    return [cluster_check, _ok("docdb-instances", listed)]


def cache_check(elasticache: Any, expected: Expected) -> VerifyCheck:
    """The replication group and each node group ``available`` (ReplicationGroup.Status: creating,
    available, modifying, deleting, create-failed, snapshotting; ElastiCache API reference)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    identifier = expected.cache_group
    try:
        group = elasticache.describe_replication_groups(ReplicationGroupId=identifier)["ReplicationGroups"][0]
    except ClientError as exc:
        return _fail("cache", f"{identifier}: {exc.response.get('Error', {}).get('Code')}")
    nodes = [f"{n.get('NodeGroupId')} {n.get('Status')}" for n in group.get("NodeGroups", [])]
    saw = f"{identifier} {group.get('Status')}" + (f"; node groups {', '.join(nodes)}" if nodes else "")
    fine = group.get("Status") == "available" and all(
        n.get("Status") == "available" for n in group.get("NodeGroups", [])
    )
    return _ok("cache", saw) if fine else _fail("cache", saw)


def edge_checks(cloudfront: Any, expected: Expected) -> list[VerifyCheck]:
    """The distribution whose domain is the stack's: ``Deployed`` ("the distribution's
    information is fully propagated to all CloudFront edge locations") and WebACLId the stack's
    web ACL (for WAFv2 the ACL's ARN; CloudFront API reference, DistributionConfig.WebACLId)."""
    found = None
    for page in cloudfront.get_paginator("list_distributions").paginate():
        for summary in page.get("DistributionList", {}).get("Items", []):
            if summary.get("DomainName") == expected.cloudfront_domain:
                found = summary
    if found is None:
        saw = f"no distribution with domain {expected.cloudfront_domain}"
        return [_fail("cloudfront-deployed", saw), _fail("cloudfront-web-acl", saw)]
    where = f"{found['Id']} ({expected.cloudfront_domain})"
    status = found.get("Status")
    deployed = (_ok if status == "Deployed" else _fail)("cloudfront-deployed", f"{where} {status}")
    acl = found.get("WebACLId") or ""
    saw = f"{where} web ACL {acl or 'none'}" + (
        "" if acl == expected.web_acl_arn else f", expected {expected.web_acl_arn}"
    )
    return [deployed, (_ok if acl == expected.web_acl_arn else _fail)("cloudfront-web-acl", saw)]


def smoke_checks(api_url: str) -> list[VerifyCheck]:
    return [
        VerifyCheck(f"smoke-{step.name}", step.passed, step.saw)
        for step in round_trip(Api(api_url), label="verify")
    ]


# --- all of it ------------------------------------------------------------------------------


def default_clients(service: str, region: str) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.client(service, region_name=region)


def run_checks(
    expected: Expected, clients: ClientFactory | None = None, *, smoke: bool = True
) -> list[VerifyCheck]:
    """Every check, in the order the README lists them. A check's own AWS error (a resource not
    found, access denied) is its failure; errors below the API (no credentials, no endpoint)
    propagate, since then nothing can be checked (exit 6)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    clients = clients or default_clients

    checks: list[VerifyCheck] = []

    def attempt(name: str, action: Callable[[], list[VerifyCheck]]) -> None:
        try:
            checks.extend(action())
        except ClientError as exc:
            error = exc.response.get("Error", {})
            checks.append(_fail(name, f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}"))

    service: dict[str, Any] | None = None

    def ecs_part() -> list[VerifyCheck]:
        nonlocal service
        found, service = ecs_checks(clients("ecs", expected.region), expected)
        return found

    attempt("ecs-image", ecs_part)
    attempt("targets-healthy", lambda: target_checks(clients("elbv2", expected.region), service))
    for region in expected.alarm_regions:
        attempt(f"alarms-{region}", lambda r=region: [alarm_check(clients("cloudwatch", r), expected, r)])  # type: ignore[misc]
    attempt("docdb-cluster", lambda: docdb_checks(clients("docdb", expected.region), expected))
    attempt("cache", lambda: [cache_check(clients("elasticache", expected.region), expected)])
    # CloudFront is global; its API is signed for us-east-1.
    attempt("cloudfront-deployed", lambda: edge_checks(clients("cloudfront", EDGE_REGION), expected))
    if smoke:
        checks.extend(smoke_checks(expected.api_url))
    return checks


def exit_code(checks: list[VerifyCheck]) -> int:
    """The most severe failure: the deploy did not roll out (3), the stack is unwell (4), the
    smoke failed (5); 0 when everything passed."""
    failed = {check.name for check in checks if not check.passed}
    if failed & set(ROLLOUT_CHECKS):
        return ROLLOUT_FAILED
    if any(not name.startswith("smoke-") for name in failed):
        return STACK_UNHEALTHY
    return SMOKE_FAILED if failed else PASSED


# --- reporting ---------------------------------------------------------------------------------


def aws_unreachable_errors() -> tuple[type[Exception], ...]:
    """botocore's errors below the API: no credentials, no region, no endpoint. ClientError is
    an answer from AWS and stays a check's own failure."""
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    return (BotoCoreError,)


def write_record(path: Path, expected: Expected, checks: list[VerifyCheck]) -> VerifyRecord:
    """The record promote reads. Its digest is the one the stack was meant to run: a failed
    verify records that this digest failed, whatever the service fell back to."""
    record = VerifyRecord(
        stack=expected.stack,
        digest=expected.digest,
        passed=all(check.passed for check in checks),
        checked_at=datetime.now(UTC),
        checks=tuple(checks),
    )
    write_verify_record(path, record)
    return record


def render(expected: Expected, checks: list[VerifyCheck], code: int, record: Path, *, as_json: bool) -> str:
    if as_json:
        document = {
            "stack": expected.stack,
            "digest": expected.digest,
            "passed": code == PASSED,
            "exitCode": code,
            "record": str(record),
            "checks": [{"name": c.name, "passed": c.passed, "saw": c.saw} for c in checks],
        }
        return json.dumps(document, indent=2)
    lines = [f"verify {expected.stack}: {expected.digest} in {expected.region}"]
    lines += [f"  [{'pass' if c.passed else 'FAIL'}] {c.name}: {c.saw}" for c in checks]
    failed = [c.name for c in checks if not c.passed]
    verdict = "every check passed" if not failed else f"{len(failed)} failed ({', '.join(failed)})"
    lines.append(f"verify {expected.stack}: {verdict}; exit {code}; record {record}")
    return "\n".join(lines)
