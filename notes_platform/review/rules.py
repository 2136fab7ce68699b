"""The risk rules: each takes one step (and the change's context) and returns findings.

Needs explicit approval: a replace or delete of something that holds data or identity, with its
protection state and why it is replaced; protection, deletion protection, encryption or backups
switched off or reduced; and the exposure rules in ``exposure.py`` (security groups, policies,
public endpoints, the origin header, WAF). Deserves a look: container definitions as a data diff,
image digests, alarm thresholds, scaling bounds, log retention. Everything else is routine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.review import exposure, guardrails, redact
from notes_platform.review.findings import Context, Finding, Level, dig, inputs
from notes_platform.review.jsondiff import diff_json_input, parse_json_string
from notes_platform.review.preview import Step

# What each stateful or identity-bearing type holds: a replace or delete loses it (or, for a
# name, moves every client). The list: DocumentDB, ElastiCache, KMS, secrets, S3 buckets
# (the review cannot see whether a bucket is empty, so every bucket counts), log groups, ECR,
# the Route 53 records the API's name depends on, the CloudFront distribution.
STATEFUL: dict[str, str] = {
    "aws:docdb/cluster:Cluster": "the notes database (its storage and snapshots)",
    "aws:docdb/clusterInstance:ClusterInstance": "a database instance (a failover, less capacity meanwhile)",
    "aws:elasticache/replicationGroup:ReplicationGroup": "the cache, its AUTH token, sessions, rate counters",
    "aws:kms/key:Key": "a KMS key: data encrypted with it is unreadable once the key is deleted",
    "aws:secretsmanager/secret:Secret": "a secret (its name stays reserved during the recovery window)",
    "aws:s3/bucket:Bucket": "a bucket and whatever objects it holds",
    "aws:s3/bucketV2:BucketV2": "a bucket and whatever objects it holds",
    "aws:cloudwatch/logGroup:LogGroup": "a log group and its retained logs",
    "aws:ecr/repository:Repository": "the image repository and every image in it, the deployed one too",
    "aws:cloudfront/distribution:Distribution": "the distribution: its domain name and every cached object",
    "aws:route53/record:Record": "a DNS name clients resolve",
    "aws:route53/zone:Zone": "a DNS zone and its delegation",
    "random:index/randomPassword:RandomPassword": "a generated credential (a new value for every client)",
}

# Inputs that hold a resource back from deletion, per type: (input, value that protects).
DELETION_GUARDS: dict[str, tuple[tuple[str, Any], ...]] = {
    "aws:docdb/cluster:Cluster": (("deletionProtection", True), ("skipFinalSnapshot", False)),
    "aws:lb/loadBalancer:LoadBalancer": (("enableDeletionProtection", True),),
    "aws:s3/bucket:Bucket": (("forceDestroy", False),),
    "aws:ecr/repository:Repository": (("forceDelete", False),),
    "aws:ecs/taskDefinition:TaskDefinition": (("skipDestroy", True),),
}

# Boolean inputs that protect when true / when false, and numbers whose reduction weakens.
PROTECTIVE_ON = (
    "deletionProtection", "enableDeletionProtection", "storageEncrypted", "atRestEncryptionEnabled",
    "transitEncryptionEnabled", "enableKeyRotation", "encrypted", "copyTagsToSnapshot",
)  # fmt: skip
PROTECTIVE_OFF = ("skipFinalSnapshot", "forceDestroy", "forceDelete")
RETENTIONS = (
    "backupRetentionPeriod",
    "snapshotRetentionLimit",
    "recoveryWindowInDays",
    "deletionWindowInDays",
)
ENCRYPTION_KEYS = ("kmsKeyId", "kmsKeyArn", "kmsMasterKeyId", "kmsKey", "encryptionConfigurations")
# Resources whose deletion removes a protection from another (bucket encryption, versioning, ...).
PROTECTION_RESOURCES = {
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "encryption",
    "aws:s3/bucketVersioning:BucketVersioning": "bucket versioning",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "the bucket's public access block",
    "aws:s3/bucketPolicy:BucketPolicy": "the bucket policy (ours denies deletes)",
    # The day-2 guard rails (notes_platform/review/guardrails.py judges their updates).
    "aws:secretsmanager/secretRotation:SecretRotation": "the secret's rotation schedule (it stops rotating)",
    "aws:backup/plan:Plan": "the backup plan (no new recovery points)",
    "aws:backup/selection:Selection": "the backup selection (the plan stops backing those resources up)",
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": "the backup vault's lock",
    "aws:budgets/budget:Budget": "the cost budget and its alerts",
    "aws:costexplorer/anomalySubscription:AnomalySubscription": "the cost anomaly alerts",
}


def _is_api_record(step: Step) -> bool:
    """ACM validation records (names starting with an underscore) can be recreated at will."""
    state = step.old or step.new
    name = str(state.inputs.get("name", "")) if state else ""
    return not name.startswith("_")


def _guards(step: Step) -> str:
    old = step.old
    if old is None:
        return ""
    parts = [f"protect {'on' if old.protect else 'off'}"]
    if old.retain_on_delete:
        parts.append("retainOnDelete on (the cloud resource is left behind)")
    for key, protecting in DELETION_GUARDS.get(step.type, ()):
        if key in old.inputs:
            value = old.inputs[key]
            parts.append(
                f"{key}={redact.show(key, value)}{'' if value == protecting else ' (not protecting)'}"
            )
    return "; ".join(parts)


def why_replaced(step: Step) -> list[str]:
    """The inputs that force the replacement: the CLI's replaceReasons, else the force-new table."""
    old, new = inputs(step)
    if step.replace_reasons:
        keys, source = list(step.replace_reasons), step.replace_source
    else:
        entry = FORCE_NEW.get(step.type)
        changed = step.changed_keys()
        keys = [k for k in changed if entry and k in entry.force_new]
        source = f"force-new table, {entry.source}" if entry else ""
        if not keys:
            return ["why: the preview names no input and the force-new table has none changed"]
    return [f"why ({source}): " + ", ".join(keys)] + [redact.change(k, old.get(k), new.get(k)) for k in keys]


def stateful_replaced_or_deleted(step: Step, ctx: Context) -> list[Finding]:
    if step.op not in ("replace", "delete"):
        return []
    holds = STATEFUL.get(step.type)
    protected = bool(step.old and step.old.protect)
    if step.type == "aws:route53/record:Record" and not _is_api_record(step):
        holds = None
    if holds is None and not protected:
        return []
    details = [f"holds: {holds}" if holds else "protected by the program", f"state: {_guards(step)}"]
    if step.op == "replace":
        details += why_replaced(step)
    if protected:
        details.append(
            "the engine refuses to delete a protected resource: this step fails until protect is removed"
        )
    return [
        Finding(Level.APPROVAL, f"{step.op}-stateful", step.urn, f"{step.op} {step.type}", tuple(details))
    ]


def _reduced(key: str, old: Any, new: Any) -> bool:
    return isinstance(old, (int, float)) and (new is None or (isinstance(new, (int, float)) and new < old))


def protections_reduced(step: Step, ctx: Context) -> list[Finding]:
    if step.op == "delete" and step.type in PROTECTION_RESOURCES:
        what = PROTECTION_RESOURCES[step.type]
        return [Finding(Level.APPROVAL, "protection-off", step.urn, f"{what} is deleted")]
    if step.old is None or step.new is None:
        return []
    old, new = inputs(step)
    lines = []
    if step.old.protect and not step.new.protect:
        lines.append("protect: on -> off")
    if step.old.retain_on_delete and not step.new.retain_on_delete:
        lines.append("retainOnDelete: on -> off")
    lines += [
        redact.change(k, old.get(k), new.get(k))
        for k in PROTECTIVE_ON
        if old.get(k) is True and new.get(k) is not True
    ]
    lines += [
        redact.change(k, old.get(k), new.get(k))
        for k in PROTECTIVE_OFF
        if old.get(k) is False and new.get(k) is True
    ]
    lines += [
        redact.change(k, old.get(k), new.get(k)) for k in RETENTIONS if _reduced(k, old.get(k), new.get(k))
    ]
    lines += [f"{k}: encryption key removed" for k in ENCRYPTION_KEYS if old.get(k) and not new.get(k)]
    if (
        dig(old, "versioningConfiguration.status") == "Enabled"
        and dig(new, "versioningConfiguration.status") != "Enabled"
    ):
        lines.append(
            redact.change(
                "versioningConfiguration.status", "Enabled", dig(new, "versioningConfiguration.status")
            )
        )
    if not lines:
        return []
    return [
        Finding(
            Level.APPROVAL, "protection-reduced", step.urn, f"protection reduced on {step.type}", tuple(lines)
        )
    ]


def _images(definitions: Any) -> dict[str, str]:
    data = parse_json_string(definitions)
    if not isinstance(data, list):
        return {}
    return {str(c.get("name")): str(c.get("image")) for c in data if isinstance(c, dict)}


def _digest(image: str) -> str:
    # The short form docker prints (12 hex) and the tail, so two digests that share a prefix differ.
    if "@sha256:" in image:
        digest = image.rsplit("@sha256:", 1)[1]
        return f"sha256:{digest[:12]}…{digest[-6:]}"
    return image.rsplit("/", 1)[-1]


def task_definition(step: Step, ctx: Context) -> list[Finding]:
    if step.type != "aws:ecs/taskDefinition:TaskDefinition" or step.old is None or step.new is None:
        return []
    old, new = inputs(step)
    found = []
    before, after = _images(old.get("containerDefinitions")), _images(new.get("containerDefinitions"))
    for name in sorted(set(before) & set(after)):
        if before[name] != after[name]:
            title = f"image of container {name}: {_digest(before[name])} -> {_digest(after[name])}"
            found.append(
                Finding(
                    Level.LOOK,
                    "image-digest",
                    step.urn,
                    title,
                    (redact.change("image", before[name], after[name]),),
                )
            )
    awsvpc = new.get("networkMode", "awsvpc") == "awsvpc"
    change = diff_json_input(
        "containerDefinitions",
        old.get("containerDefinitions"),
        new.get("containerDefinitions"),
        container_definitions=awsvpc,
    )
    others = [
        redact.change(k, old.get(k), new.get(k)) for k in step.changed_keys() if k != "containerDefinitions"
    ]
    if change is not None and change.raw_differs and not change.edits and not others:
        note = (
            "containerDefinitions differ only by values AWS fills in: no real change (pulumi/pulumi-aws#4576)"
        )
        return [*found, Finding(Level.ROUTINE, "perma-diff", step.urn, note)]
    lines = [*others, *(change.lines() if change else [])]
    if lines:
        found.append(
            Finding(
                Level.LOOK,
                "task-definition",
                step.urn,
                f"task definition {step.op}: {len(lines)} edit(s)",
                tuple(lines),
            )
        )
    return found


ALARM_KEYS = (
    "threshold",
    "comparisonOperator",
    "evaluationPeriods",
    "datapointsToAlarm",
    "period",
    "treatMissingData",
    "actionsEnabled",
    "metricName",
    "statistic",
)
SCALING_KEYS: dict[str, tuple[str, ...]] = {
    "aws:appautoscaling/target:Target": ("minCapacity", "maxCapacity"),
    "aws:appautoscaling/policy:Policy": ("targetTrackingScalingPolicyConfiguration",),
    "aws:ecs/service:Service": ("desiredCount",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("numCacheClusters", "nodeType"),
    "aws:docdb/clusterInstance:ClusterInstance": ("instanceClass",),
}


def _changed_among(step: Step, keys: Iterable[str]) -> list[str]:
    old, new = inputs(step)
    return [redact.change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def alarms_and_scaling(step: Step, ctx: Context) -> list[Finding]:
    if step.type == "aws:cloudwatch/metricAlarm:MetricAlarm":
        if step.op == "delete":
            return [
                Finding(Level.LOOK, "alarm-removed", step.urn, "alarm deleted: nothing watches this any more")
            ]
        lines = _changed_among(step, ALARM_KEYS) if step.old and step.new else []
        return (
            [Finding(Level.LOOK, "alarm-threshold", step.urn, "alarm condition changes", tuple(lines))]
            if lines
            else []
        )
    keys = SCALING_KEYS.get(step.type)
    if keys and step.old and step.new:
        lines = _changed_among(step, keys)
        return (
            [Finding(Level.LOOK, "scaling", step.urn, f"scaling or size of {step.type}", tuple(lines))]
            if lines
            else []
        )
    if step.type == "aws:cloudwatch/logGroup:LogGroup" and step.old and step.new:
        lines = _changed_among(step, ("retentionInDays",))
        old, new = inputs(step)
        if lines and _reduced("retentionInDays", old.get("retentionInDays"), new.get("retentionInDays")):
            return [Finding(Level.LOOK, "retention-reduced", step.urn, "log retention reduced", tuple(lines))]
    return []


def unjudged(step: Step, ctx: Context) -> list[Finding]:
    if not step.replacement_unjudged or step.type not in STATEFUL:
        return []
    note = f"{step.type} is not in the force-new table: this update may be a replacement"
    return [Finding(Level.LOOK, "replacement-unjudged", step.urn, note, tuple(step.changed_keys()))]


Rule = Callable[[Step, Context], list[Finding]]
RULES: tuple[Rule, ...] = (
    stateful_replaced_or_deleted,
    protections_reduced,
    *exposure.RULES,
    *guardrails.RULES,
    task_definition,
    alarms_and_scaling,
    unjudged,
)


def review(steps: list[Step], rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding of every rule over ``steps``, approval first, then by URN."""
    ctx = Context(steps)
    rules = tuple(rules)
    found = [f for step in steps for rule in rules for f in rule(step, ctx)]
    return sorted(found, key=lambda f: (f.level, f.urn, f.rule))


def counts(steps: Iterable[Step]) -> Mapping[tuple[str, str], int]:
    """(op, type) -> how many, for the routine section."""
    tally: dict[tuple[str, str], int] = {}
    for step in steps:
        tally[(step.op, step.type)] = tally.get((step.op, step.type), 0) + 1
    return tally
