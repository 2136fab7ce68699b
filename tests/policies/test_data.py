"""Data policies: DocumentDB and ElastiCache encrypted, backed up and TLS-only; buckets encrypted,
private and TLS-only; stateful resources protected in prod."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pulumi_policy import Policy, StackValidationPolicy

from policies.notes_policies import data
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    Resource,
    StackMutation,
    adding,
    applied,
    check,
    check_stack,
    happy_path_test,
    in_order,
    mutation_test,
    named,
    on,
    option,
    removing,
    resource,
    setting,
    snapshot,
    stack_mutation_test,
    undepending,
    without,
)

HAPPY: Happy = [
    (data.docdb_storage_encrypted, f.docdb_cluster),
    (data.docdb_backup_retention, f.docdb_cluster),
    (data.docdb_final_snapshot, f.docdb_cluster),
    (data.elasticache_encrypted_at_rest, f.replication_group),
    (data.elasticache_encrypted_in_transit, f.replication_group),
    (data.elasticache_auth_required, f.replication_group),
    (data.elasticache_snapshot_retention, f.replication_group),
]

MUTATIONS = [
    Mutation(
        data.docdb_storage_encrypted,
        f.docdb_cluster,
        setting("storageEncrypted", False),
        "DocumentDB clusters must encrypt storage at rest.",
        "unencrypted",
    ),
    Mutation(
        data.docdb_storage_encrypted,
        f.docdb_cluster,
        removing("kmsKeyId"),
        "DocumentDB clusters must encrypt storage with a customer-managed KMS key.",
        "the AWS-owned key",
    ),
    Mutation(
        data.docdb_backup_retention,
        f.docdb_cluster,
        setting("backupRetentionPeriod", 3),
        "DocumentDB clusters must keep backups for at least 7 days.",
        "three days",
    ),
    Mutation(
        data.docdb_backup_retention,
        f.docdb_cluster,
        removing("backupRetentionPeriod"),
        "DocumentDB clusters must keep backups for at least 7 days.",
        "the one-day default",
    ),
    Mutation(
        data.docdb_final_snapshot,
        f.docdb_cluster,
        setting("skipFinalSnapshot", True),
        "DocumentDB clusters must take a final snapshot on deletion.",
        "snapshot skipped",
    ),
    Mutation(
        data.docdb_final_snapshot,
        f.docdb_cluster,
        removing("finalSnapshotIdentifier"),
        "DocumentDB clusters must name their final snapshot.",
        "no snapshot name",
    ),
    Mutation(
        data.elasticache_encrypted_at_rest,
        f.replication_group,
        setting("atRestEncryptionEnabled", False),
        "ElastiCache replication groups must encrypt data at rest.",
        "unencrypted",
    ),
    Mutation(
        data.elasticache_encrypted_at_rest,
        f.replication_group,
        removing("kmsKeyId"),
        "ElastiCache replication groups must encrypt data with a customer-managed KMS key.",
        "AWS-owned key",
    ),
    Mutation(
        data.elasticache_encrypted_in_transit,
        f.replication_group,
        setting("transitEncryptionEnabled", False),
        "ElastiCache replication groups must encrypt traffic in transit.",
        "plaintext",
    ),
    Mutation(
        data.elasticache_encrypted_in_transit,
        f.replication_group,
        setting("transitEncryptionMode", "preferred"),
        "ElastiCache replication groups must require TLS (transitEncryptionMode required).",
        "the migration mode",
    ),
    Mutation(
        data.elasticache_auth_required,
        f.replication_group,
        removing("authToken"),
        "ElastiCache replication groups must require authentication.",
        "no AUTH",
    ),
    Mutation(
        data.elasticache_snapshot_retention,
        f.replication_group,
        setting("snapshotRetentionLimit", 0),
        "ElastiCache replication groups must keep snapshots for at least 1 day.",
        "no snapshots",
    ),
]

CLUSTER = f.docdb_cluster()["urn"]
REDIS = f.replication_group()["urn"]
LOGS_BUCKET = "urn:pulumi:prod::notes-platform::notes:infra:LoadBalancer$aws:s3/bucket:Bucket::prod-alb-logs"
PARAMETERS = (
    "urn:pulumi:prod::notes-platform::notes:infra:DocumentDb"
    "$aws:docdb/clusterParameterGroup:ClusterParameterGroup::prod-docdb-parameters"
)
ONLY_ALLOW = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": "*",
            }
        ],
    }
)
DATA_BUCKET = resource(
    "aws:s3/bucket:Bucket", "prod-exports", {"bucketPrefix": "notes-prod-exports-"}, component="Exports"
)
CUSTOMER_KEY = "S3 buckets holding data must default to SSE-KMS with a customer-managed key."
EXPORTS_BUCKET = f.EXPORTS_BUCKET_URN
EXPORTS_ENCRYPTION = "rules.0.applyServerSideEncryptionByDefault"


def _tls_deny(**statement: object) -> str:
    """The log bucket's policy with its TLS deny narrowed to ``statement``'s principal or action."""
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [deny | statement]})


TLS = "DocumentDB clusters must require TLS in their parameter group."
AUDIT = "DocumentDB clusters must record and export audit logs."


def _parameter(name: str, value: str) -> Callable[[Resource], None]:
    def change(group: Resource) -> None:
        for parameter in group["inputs"]["parameters"]:
            if parameter["name"] == name:
                parameter["value"] = value

    return change


STACK_MUTATIONS = [
    StackMutation(
        data.docdb_tls_required,
        on("prod-docdb-parameters", _parameter("tls", "disabled")),
        [(TLS, CLUSTER)],
        "tls disabled",
    ),
    StackMutation(
        data.docdb_tls_required,
        on(
            "prod-docdb-cluster",
            setting("dbClusterParameterGroupName", "default.docdb5.0"),
            undepending(PARAMETERS),
        ),
        [(TLS, CLUSTER)],
        "a parameter group from outside the stack",
    ),
    StackMutation(
        data.docdb_audit_logs,
        on("prod-docdb-parameters", _parameter("audit_logs", "disabled")),
        [(AUDIT, CLUSTER)],
        "audit logs not recorded",
    ),
    StackMutation(
        data.docdb_audit_logs,
        on("prod-docdb-cluster", setting("enabledCloudwatchLogsExports", ["profiler"])),
        [(AUDIT, CLUSTER)],
        "audit logs not exported",
    ),
    StackMutation(
        data.s3_bucket_encrypted,
        without("prod-alb-logs-encryption"),
        [("S3 buckets must have a default encryption configuration.", LOGS_BUCKET)],
        "no configuration",
    ),
    StackMutation(
        data.s3_bucket_encrypted,
        on(
            "prod-alb-logs-encryption",
            setting("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "none"),
        ),
        [("S3 buckets must have a default encryption configuration.", LOGS_BUCKET)],
        "an unknown algorithm",
    ),
    StackMutation(
        data.s3_bucket_public_access_blocked,
        on("prod-alb-logs-public-access", setting("restrictPublicBuckets", False)),
        [("S3 buckets must block all public access.", LOGS_BUCKET)],
        "one switch off",
    ),
    StackMutation(
        data.s3_bucket_public_access_blocked,
        without("prod-alb-logs-public-access"),
        [("S3 buckets must block all public access.", LOGS_BUCKET)],
        "no block",
    ),
    StackMutation(
        data.s3_bucket_tls_only,
        on("prod-alb-logs-policy", setting("policy", ONLY_ALLOW)),
        [("S3 buckets must deny requests without TLS.", LOGS_BUCKET)],
        "no deny statement",
    ),
    StackMutation(
        data.s3_bucket_tls_only,
        on(
            "prod-alb-logs-policy",
            setting("policy", _tls_deny(Principal={"AWS": f"arn:aws:iam::{f.ACCOUNT}:root"})),
        ),
        [("S3 buckets must deny requests without TLS.", LOGS_BUCKET)],
        "the deny binds one principal",
    ),
    StackMutation(
        data.s3_bucket_tls_only,
        on("prod-alb-logs-policy", setting("policy", _tls_deny(Action=["s3:GetObject"]))),
        [("S3 buckets must deny requests without TLS.", LOGS_BUCKET)],
        "the deny covers reads only",
    ),
    StackMutation(
        data.s3_bucket_customer_key,
        adding(DATA_BUCKET),
        [(CUSTOMER_KEY, DATA_BUCKET["urn"])],
        "a new data bucket without default encryption",
    ),
    StackMutation(
        data.s3_bucket_customer_key,
        in_order(
            adding(*f.exports()),
            on("prod-exports-encryption", setting(EXPORTS_ENCRYPTION, {"sseAlgorithm": "AES256"})),
        ),
        [(CUSTOMER_KEY, EXPORTS_BUCKET)],
        "the exports bucket on SSE-S3",
    ),
    StackMutation(
        data.s3_bucket_customer_key,
        in_order(
            adding(*f.exports()),
            on("prod-exports-encryption", setting(f"{EXPORTS_ENCRYPTION}.kmsMasterKeyId", "alias/aws/s3")),
        ),
        [(CUSTOMER_KEY, EXPORTS_BUCKET)],
        "the exports bucket under the AWS managed key",
    ),
    StackMutation(
        data.s3_bucket_customer_key,
        # Once the load balancer no longer writes to it, the log bucket holds data like any other.
        on("prod-alb-lb", removing("accessLogs"), undepending(LOGS_BUCKET)),
        [(CUSTOMER_KEY, LOGS_BUCKET)],
        "the ALB's SSE-S3 bucket no longer receives its logs",
    ),
    StackMutation(
        data.stateful_resources_protected,
        # The access logging depends on the bucket it logs: that bucket does not become a log
        # bucket by it, and still has to be protected.
        in_order(adding(*f.exports()), on("prod-exports-bucket", option("protect", False))),
        [("S3 buckets holding data must be protected in prod.", EXPORTS_BUCKET)],
        "the exports bucket, which logs into the ALB's bucket, unprotected",
    ),
    StackMutation(
        data.stateful_resources_protected,
        on("prod-docdb-cluster", option("protect", False)),
        [("DocumentDB clusters must be protected in prod.", CLUSTER)],
        "cluster unprotected",
    ),
    StackMutation(
        data.stateful_resources_protected,
        on("prod-docdb-cluster", setting("deletionProtection", False)),
        [("DocumentDB clusters must have deletion protection in prod.", CLUSTER)],
        "no deletion protection",
    ),
    StackMutation(
        data.stateful_resources_protected,
        on("prod-redis-group", option("protect", False)),
        [("ElastiCache replication groups must be protected in prod.", REDIS)],
        "cache unprotected",
    ),
    StackMutation(
        data.stateful_resources_protected,
        on("prod-alb-logs", setting("forceDestroy", True)),
        [("S3 buckets must not be force-destroyable in prod.", LOGS_BUCKET)],
        "force destroy",
    ),
    StackMutation(
        data.stateful_resources_protected,
        # Prod protects its log bucket too now; unprotected, it counts as a log bucket only while
        # the load balancer writes to it.
        in_order(
            on("prod-alb-lb", removing("accessLogs"), undepending(LOGS_BUCKET)),
            on("prod-alb-logs", option("protect", False)),
        ),
        [("S3 buckets holding data must be protected in prod.", LOGS_BUCKET)],
        "the bucket no longer only receives logs",
    ),
    StackMutation(
        data.stateful_resources_protected,
        adding(DATA_BUCKET),
        [("S3 buckets holding data must be protected in prod.", DATA_BUCKET["urn"])],
        "a new data bucket, unprotected",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph)


@pytest.mark.parametrize("policy", [p for p in data.POLICIES if isinstance(p, StackValidationPolicy)])
def test_the_prod_graph_passes(policy: Policy) -> None:
    assert check_stack(policy, f.prod_graph()) == []


def test_staging_need_not_protect_its_data() -> None:
    # GIVEN staging: nothing protected, no deletion protection, WHEN validated, THEN it passes
    assert check_stack(data.stateful_resources_protected, snapshot("staging")) == []


def test_the_minimum_backup_days_are_configurable() -> None:
    # GIVEN two weeks of backups, WHEN prod asks for thirty days, THEN the message names thirty
    cluster = applied(f.docdb_cluster(), setting("backupRetentionPeriod", 14))
    assert check(data.docdb_backup_retention, cluster, settings={"minimumDays": 30}) == [
        "DocumentDB clusters must keep backups for at least 30 days."
    ]


def test_the_aws_owned_key_may_be_allowed() -> None:
    cluster = applied(f.docdb_cluster(), removing("kmsKeyId"))
    assert check(data.docdb_storage_encrypted, cluster, settings={"requireCustomerKey": False}) == []


def test_a_bucket_receiving_s3_access_logs_may_keep_sse_s3() -> None:
    # GIVEN the exports bucket logging into the ALB's SSE-S3 bucket, and that bucket no longer
    # written by the load balancer: S3 server access logging alone makes it a log bucket
    graph = f.prod_graph_with_exports()
    lb = named(graph, "prod-alb-lb")
    del lb["inputs"]["accessLogs"]
    lb["dependencies"] = [d for d in lb["dependencies"] if d != LOGS_BUCKET]
    assert check_stack(data.s3_bucket_customer_key, graph) == []
    # AND the engine's per-property record names the target exactly, whatever the name says
    logging = named(graph, "prod-exports-access-logs")
    logging["inputs"]["targetBucket"] = "renamed-by-the-provider"
    logging["propertyDependencies"] = {"bucket": [EXPORTS_BUCKET], "targetBucket": [LOGS_BUCKET]}
    assert check_stack(data.s3_bucket_customer_key, graph) == []
    logging["propertyDependencies"] = {"bucket": [EXPORTS_BUCKET], "targetBucket": []}
    assert check_stack(data.s3_bucket_customer_key, graph) == [(CUSTOMER_KEY, LOGS_BUCKET)]


def test_a_parameter_group_is_found_through_the_engines_property_dependencies() -> None:
    # GIVEN the engine's per-property record, which is exact even when the names differ
    graph = f.prod_graph()
    cluster, group = named(graph, "prod-docdb-cluster"), named(graph, "prod-docdb-parameters")
    cluster["inputs"]["dbClusterParameterGroupName"] = "renamed-by-the-provider"
    cluster["propertyDependencies"] = {"dbClusterParameterGroupName": [group["urn"]]}
    assert check_stack(data.docdb_tls_required, graph) == []
