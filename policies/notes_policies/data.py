"""Data: DocumentDB, ElastiCache and S3 encrypted at rest and in transit, backed up, and hard to delete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from . import resource_types as t
from .common import (
    Settings,
    as_list,
    current_stack,
    customer_key,
    document,
    is_false,
    is_true,
    mapping,
    minimum_days,
    named_values,
    of_type,
    references,
    resource_rule,
    sequence,
    stack_rule,
    stacks_setting,
    strings_setting,
    text,
    unmet_minimum_days,
)

CUSTOMER_KEY = {
    "requireCustomerKey": {
        "type": "boolean",
        "default": True,
        "description": "require a customer-managed KMS key (kmsKeyId), not the AWS-owned one",
    }
}


# DocumentDB


@resource_rule(
    "docdb-storage-encrypted",
    "DocumentDB encrypts its storage, snapshots and backups with a customer-managed KMS key.",
    types={t.DOCDB_CLUSTER},
    config=CUSTOMER_KEY,
)
def docdb_storage_encrypted(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    if not is_true(args.props.get("storageEncrypted")):
        report("DocumentDB clusters must encrypt storage at rest.", None)
    elif settings.flag("requireCustomerKey") and not text(args.props.get("kmsKeyId")):
        report("DocumentDB clusters must encrypt storage with a customer-managed KMS key.", None)


@resource_rule(
    "docdb-backup-retention",
    "DocumentDB keeps automated backups long enough to restore from a mistake found late.",
    types={t.DOCDB_CLUSTER},
    config=minimum_days(7, "fewest days of automated backups"),
)
def docdb_backup_retention(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    # AWS keeps one day when the program says nothing.
    if minimum := unmet_minimum_days(args.props.get("backupRetentionPeriod"), 1, settings):
        report(f"DocumentDB clusters must keep backups for at least {minimum}.", None)


@resource_rule(
    "docdb-final-snapshot",
    "Deleting a DocumentDB cluster leaves a named final snapshot.",
    types={t.DOCDB_CLUSTER},
)
def docdb_final_snapshot(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not is_false(args.props.get("skipFinalSnapshot")):
        report("DocumentDB clusters must take a final snapshot on deletion.", None)
    elif not text(args.props.get("finalSnapshotIdentifier")):
        # Without a name the provider cannot take it, and the delete fails half-way.
        report("DocumentDB clusters must name their final snapshot.", None)


def _named(resource: PolicyResource) -> Callable[[Any], bool]:
    name = text(resource.props.get("name"))
    return lambda value: bool(name) and value == name


def _parameter_group(cluster: PolicyResource, groups: list[PolicyResource]) -> PolicyResource | None:
    found = [g for g in groups if references(cluster, "dbClusterParameterGroupName", g, _named(g))]
    return found[0] if found else None


def _parameter(group: PolicyResource, key: str) -> str:
    return text(named_values(group.props.get("parameters")).get(key))


@stack_rule(
    "docdb-tls-required",
    "DocumentDB refuses unencrypted connections: the cluster's parameter group (in this stack) sets tls.",
)
def docdb_tls_required(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    groups = of_type(args, t.DOCDB_PARAMETER_GROUP)
    for cluster in of_type(args, t.DOCDB_CLUSTER):
        group = _parameter_group(cluster, groups)
        # "enabled", "tls1.2+", "tls1.3+" and "fips-140-3" all refuse plaintext.
        if group is None or _parameter(group, "tls") in ("", "disabled"):
            report("DocumentDB clusters must require TLS in their parameter group.", cluster.urn)


@stack_rule(
    "docdb-audit-logs",
    "DocumentDB records authentication and DDL events (audit_logs on) and exports them to CloudWatch.",
)
def docdb_audit_logs(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    groups = of_type(args, t.DOCDB_PARAMETER_GROUP)
    for cluster in of_type(args, t.DOCDB_CLUSTER):
        group = _parameter_group(cluster, groups)
        exported = "audit" in sequence(cluster.props.get("enabledCloudwatchLogsExports"))
        recorded = group is not None and _parameter(group, "audit_logs") not in ("", "disabled", "none")
        if not (exported and recorded):
            report("DocumentDB clusters must record and export audit logs.", cluster.urn)


# ElastiCache


@resource_rule(
    "elasticache-encrypted-at-rest",
    "ElastiCache encrypts its data and snapshots at rest with a customer-managed KMS key.",
    types={t.REPLICATION_GROUP},
    config=CUSTOMER_KEY,
)
def elasticache_encrypted_at_rest(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    if not is_true(args.props.get("atRestEncryptionEnabled")):
        report("ElastiCache replication groups must encrypt data at rest.", None)
    elif settings.flag("requireCustomerKey") and not text(args.props.get("kmsKeyId")):
        report("ElastiCache replication groups must encrypt data with a customer-managed KMS key.", None)


@resource_rule(
    "elasticache-encrypted-in-transit",
    "ElastiCache accepts TLS connections only.",
    types={t.REPLICATION_GROUP},
)
def elasticache_encrypted_in_transit(
    args: ResourceValidationArgs, report: ReportViolation, _: Settings
) -> None:
    if not is_true(args.props.get("transitEncryptionEnabled")):
        report("ElastiCache replication groups must encrypt traffic in transit.", None)
    elif args.props.get("transitEncryptionMode") == "preferred":
        # "preferred" is the migration mode: it still accepts plaintext clients.
        report("ElastiCache replication groups must require TLS (transitEncryptionMode required).", None)


@resource_rule(
    "elasticache-auth-required",
    "Clients authenticate to Redis: an AUTH token or RBAC user groups.",
    types={t.REPLICATION_GROUP},
)
def elasticache_auth_required(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not (args.props.get("authToken") or sequence(args.props.get("userGroupIds"))):
        report("ElastiCache replication groups must require authentication.", None)


@resource_rule(
    "elasticache-snapshot-retention",
    "ElastiCache keeps daily snapshots.",
    types={t.REPLICATION_GROUP},
    config=minimum_days(1, "fewest days of daily snapshots"),
)
def elasticache_snapshot_retention(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    if minimum := unmet_minimum_days(args.props.get("snapshotRetentionLimit"), 0, settings):
        report(f"ElastiCache replication groups must keep snapshots for at least {minimum}.", None)


# S3


def bucket_matcher(bucket: PolicyResource) -> Callable[[Any], bool]:
    """Whether a value names ``bucket``: its name, ARN or S3 domain, or (before the provider
    picked the name) anything under its prefix."""
    name, prefix = text(bucket.props.get("bucket")), text(bucket.props.get("bucketPrefix"))

    def matches(value: Any) -> bool:
        named = text(value).removeprefix("arn:aws:s3:::").split("/", 1)[0].split(".s3.", 1)[0]
        return bool(named) and (named == name or (bool(prefix) and named.startswith(prefix)))

    return matches


def _configured(bucket: PolicyResource, configurations: list[PolicyResource]) -> list[PolicyResource]:
    matches = bucket_matcher(bucket)
    return [c for c in configurations if references(c, "bucket", bucket, matches)]


@stack_rule(
    "s3-bucket-encrypted",
    "Every bucket has an explicit default encryption configuration.",
    config={
        "allowedAlgorithms": strings_setting(
            # ALB access logs can only be written to SSE-S3 (AES256) buckets.
            ["AES256", "aws:kms", "aws:kms:dsse"],
            "server-side encryption algorithms accepted",
        )
    },
)
def s3_bucket_encrypted(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    allowed = settings.strings("allowedAlgorithms")
    configurations = of_type(args, t.BUCKET_ENCRYPTION)
    for bucket in of_type(args, t.BUCKETS):
        algorithms = {d.get("sseAlgorithm") for d in _default_encryption(bucket, configurations)}
        if not algorithms & set(allowed):
            report("S3 buckets must have a default encryption configuration.", bucket.urn)


def _default_encryption(
    bucket: PolicyResource, configurations: list[PolicyResource]
) -> list[Mapping[str, Any]]:
    """The bucket's default encryption settings (``applyServerSideEncryptionByDefault``): inline
    on the bucket, or in encryption configurations of this stack."""
    inline = [mapping(mapping(bucket.props.get("serverSideEncryptionConfiguration")).get("rule"))]
    rules = inline + [
        mapping(r) for c in _configured(bucket, configurations) for r in sequence(c.props.get("rules"))
    ]
    return [mapping(r.get("applyServerSideEncryptionByDefault")) for r in rules]


@stack_rule(
    "s3-bucket-customer-key",
    "Buckets holding data default to SSE-KMS with a customer-managed key, so its key policy decides "
    "who reads them; a bucket that receives access logs may keep SSE-S3, the only default encryption "
    "ELB and S3 log delivery write to.",
)
def s3_bucket_customer_key(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    # A log bucket is known by what writes to it, not by a tag or a name anyone could give any
    # bucket: a load balancer's or distribution's access logs, or S3 server access logging,
    # naming it (_log_buckets). ALB access logs are written to SSE-S3 buckets only (ELB User
    # Guide, enable-access-logging.html); S3 server access logging does not support a target
    # bucket whose default encryption is SSE-KMS (S3 User Guide, enable-server-access-logging.html).
    configurations = of_type(args, t.BUCKET_ENCRYPTION)
    log_buckets = _log_buckets(args)
    for bucket in of_type(args, t.BUCKETS):
        if bucket.urn in log_buckets:
            continue
        if not any(
            text(d.get("sseAlgorithm")) in ("aws:kms", "aws:kms:dsse")
            and customer_key(d.get("kmsMasterKeyId"), "alias/aws/s3")
            for d in _default_encryption(bucket, configurations)
        ):
            report("S3 buckets holding data must default to SSE-KMS with a customer-managed key.", bucket.urn)


@stack_rule(
    "s3-bucket-public-access-blocked", "Every bucket blocks public ACLs and public policies, all four ways."
)
def s3_bucket_public_access_blocked(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    blocks = of_type(args, t.BUCKET_PUBLIC_ACCESS_BLOCK)
    switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in of_type(args, t.BUCKETS):
        if not any(all(is_true(b.props.get(s)) for s in switches) for b in _configured(bucket, blocks)):
            report("S3 buckets must block all public access.", bucket.urn)


def _denies_plaintext(statement: Mapping[str, Any]) -> bool:
    condition = mapping(mapping(statement.get("Condition")).get("Bool"))
    insecure = condition.get("aws:SecureTransport")
    # A deny for one principal or one action leaves the bucket readable without TLS by others.
    principal = statement.get("Principal")
    everyone = principal == "*" or "*" in as_list(mapping(principal).get("AWS"))
    every_action = bool({"s3:*", "*"} & set(as_list(statement.get("Action"))))
    return (
        statement.get("Effect") == "Deny"
        and any(is_false(v) for v in as_list(insecure))
        and everyone
        and every_action
    )


@stack_rule("s3-bucket-tls-only", "Every bucket's policy denies requests that do not use TLS.")
def s3_bucket_tls_only(args: StackValidationArgs, report: ReportViolation, _: Settings) -> None:
    policies = of_type(args, t.BUCKET_POLICY)
    for bucket in of_type(args, t.BUCKETS):
        statements = [
            mapping(s)
            for p in _configured(bucket, policies)
            for s in as_list(mapping(document(p.props.get("policy"))).get("Statement"))
        ]
        if not any(_denies_plaintext(s) for s in statements):
            report("S3 buckets must deny requests without TLS.", bucket.urn)


def _log_buckets(args: StackValidationArgs) -> set[str]:
    """Buckets that only receive logs: access logs are kept by lifecycle, not by protection."""
    # Load balancers and distributions name the bucket inside an object; bucket logging directly.
    nested = [
        *((lb, "accessLogs") for lb in of_type(args, t.LOAD_BALANCERS)),
        *((d, "loggingConfig") for d in of_type(args, t.DISTRIBUTION)),
    ]
    direct = of_type(args, t.BUCKET_LOGGING)

    def receives_logs(bucket: PolicyResource) -> bool:
        matches = bucket_matcher(bucket)
        return any(
            references(writer, prop, bucket, lambda value: matches(mapping(value).get("bucket")))
            for writer, prop in nested
        ) or any(_logs_into(g, bucket, matches) for g in direct)

    return {bucket.urn for bucket in of_type(args, t.BUCKETS) if receives_logs(bucket)}


def _logs_into(logging: PolicyResource, bucket: PolicyResource, matches: Callable[[Any], bool]) -> bool:
    """Whether server access logging ``logging`` delivers into ``bucket``. It depends on its
    source bucket as much as on its target, so a bare dependency cannot tell them apart (and the
    bucket whose logs are kept would pass for a log bucket): the engine's per-property record
    decides, else the target's name."""
    fed_by = logging.property_dependencies.get("targetBucket")
    if fed_by:
        return any(d.urn == bucket.urn for d in fed_by)
    return matches(logging.props.get("targetBucket"))


@stack_rule(
    "stateful-resources-protected",
    "In prod, what holds data survives a mistaken destroy: pulumi protect, plus the service's own "
    "deletion protection where it has one (ElastiCache has none).",
    config={"stacks": stacks_setting("stacks whose stateful resources must be protected")},
)
def stateful_resources_protected(
    args: StackValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    stack = current_stack(args)
    if stack not in settings.strings("stacks"):
        return
    for cluster in of_type(args, t.DOCDB_CLUSTER):
        if not cluster.opts.protect:
            report(f"DocumentDB clusters must be protected in {stack}.", cluster.urn)
        if not is_true(cluster.props.get("deletionProtection")):
            report(f"DocumentDB clusters must have deletion protection in {stack}.", cluster.urn)
    for group in of_type(args, t.REPLICATION_GROUP):
        if not group.opts.protect:
            report(f"ElastiCache replication groups must be protected in {stack}.", group.urn)
    log_buckets = _log_buckets(args)
    for bucket in of_type(args, t.BUCKETS):
        if is_true(bucket.props.get("forceDestroy")):
            report(f"S3 buckets must not be force-destroyable in {stack}.", bucket.urn)
        if bucket.urn not in log_buckets and not bucket.opts.protect:
            report(f"S3 buckets holding data must be protected in {stack}.", bucket.urn)


POLICIES: list[Policy] = [
    docdb_storage_encrypted,
    docdb_backup_retention,
    docdb_final_snapshot,
    docdb_tls_required,
    docdb_audit_logs,
    elasticache_encrypted_at_rest,
    elasticache_encrypted_in_transit,
    elasticache_auth_required,
    elasticache_snapshot_retention,
    s3_bucket_encrypted,
    s3_bucket_customer_key,
    s3_bucket_public_access_blocked,
    s3_bucket_tls_only,
    stateful_resources_protected,
]
