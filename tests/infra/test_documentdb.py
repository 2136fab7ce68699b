"""DocumentDb under mocks: encryption, TLS, audit logs, protection, instances, the managed master
secret and the app user's secret."""

from __future__ import annotations

import dataclasses
import json
import string
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pulumi
import pytest

from infra.documentdb import (
    APP_USERNAME,
    MASTER_SECRET_PENDING,
    MASTER_USERNAME,
    DocumentDb,
    DocumentDbArgs,
    check_windows,
    connection_uri,
    connection_uri_problems,
    master_secret_arn_of,
    parameter_family,
)
from notes_platform.graph.mocks import Recorded, RecordedGraph
from notes_platform.graph.plan import Plan
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    DOCDB_CLUSTER,
    DOCDB_INSTANCE,
    DOCDB_PARAMETER_GROUP,
    DOCDB_SUBNET_GROUP,
    LOG_GROUP,
    RANDOM_ID,
    RANDOM_PASSWORD,
    SECRET,
    SECRET_VERSION,
)

DOCDB_KEY = "arn:aws:kms:eu-west-1:123456789012:key/docdb"
SECRETS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/secrets"
LOGS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/logs"
ISOLATED = ["subnet-iso-a", "subnet-iso-b", "subnet-iso-c"]


def args(environment: str = "staging", **overrides: Any) -> DocumentDbArgs:
    values: dict[str, Any] = {
        "environment": environment,
        "subnet_ids": ISOLATED,
        "security_group_id": "sg-docdb",
        "kms_key_arn": DOCDB_KEY,
        "secrets_kms_key_arn": SECRETS_KEY,
        "logs_kms_key_arn": LOGS_KEY,
        "instance_class": "db.t4g.medium",
        "instance_count": 1,
        "backup_retention_days": 7,
        "deletion_protection": False,
        "protect": False,
        "recovery_window_days": 7,
        "audit_log_retention_days": 30,
    }
    values.update(overrides)
    return DocumentDbArgs(**values)


def build(name: str, component_args: DocumentDbArgs) -> Graph:
    def program() -> Any:
        db = DocumentDb(name, component_args)
        return {
            "endpoint": db.endpoint,
            "cluster_identifier": db.cluster_identifier,
            "app_secret_arn": db.app_secret_arn,
            "master_user_secret_arn": db.master_user_secret_arn,
            "app_secret": pulumi.Output.unsecret(db.app_version.secret_string),
        }

    return run(program)


@pytest.fixture(scope="module")
def staging() -> Graph:
    """Staging-like: one instance, no deletion protection, not protected, snapshot kept."""
    return build("staging-docdb", args())


@pytest.fixture(scope="module")
def prod() -> Graph:
    """Prod-like: three instances, deletion protection on, pulumi protect on."""
    return build(
        "prod-docdb",
        args(
            "prod",
            instance_class="db.r6g.large",
            instance_count=3,
            backup_retention_days=35,
            deletion_protection=True,
            protect=True,
            recovery_window_days=30,
            audit_log_retention_days=365,
        ),
    )


@pytest.fixture(scope="module")
def disposable() -> Graph:
    """A stack that opts out of the final snapshot explicitly."""
    return build("dev-docdb", args("dev", skip_final_snapshot=True))


# --- storage, TLS, logs ---------------------------------------------------------------------


def test_storage_is_encrypted_with_the_docdb_key(staging: Graph) -> None:
    # GIVEN the docdb key  WHEN the cluster is registered
    cluster = staging.one(DOCDB_CLUSTER)
    # THEN its storage is encrypted with that key
    assert cluster.inputs["storageEncrypted"] is True, f"{cluster.urn}: storage not encrypted"
    assert cluster.inputs["kmsKeyId"] == DOCDB_KEY, (
        f"{cluster.urn}: kmsKeyId {cluster.inputs.get('kmsKeyId')}"
    )


def test_parameter_group_requires_tls_and_turns_audit_logs_on(staging: Graph) -> None:
    # GIVEN engine 5.0.0  WHEN the parameter group is registered
    group = staging.one(DOCDB_PARAMETER_GROUP)
    cluster = staging.one(DOCDB_CLUSTER)
    parameters = {p["name"]: p["value"] for p in group.inputs["parameters"]}
    # THEN it is family docdb5.0 with tls, audit_logs and profiler enabled, and the cluster uses it
    assert group.inputs["family"] == "docdb5.0", f"{group.urn}: family {group.inputs['family']}"
    for key in ("tls", "audit_logs", "profiler"):
        assert parameters.get(key) == "enabled", f"{group.urn}: {key}={parameters.get(key)}"
    assert cluster.inputs["dbClusterParameterGroupName"] == group.inputs["name"], cluster.urn
    assert group.urn in cluster.property_dependencies["dbClusterParameterGroupName"], cluster.urn


def test_audit_and_profiler_logs_are_exported(staging: Graph) -> None:
    # GIVEN the cluster  WHEN it is registered
    cluster = staging.one(DOCDB_CLUSTER)
    # THEN both logs go to CloudWatch
    exports = cluster.inputs["enabledCloudwatchLogsExports"]
    assert sorted(exports) == ["audit", "profiler"], f"{cluster.urn}: exports {exports}"


def test_exported_log_groups_exist_first_encrypted_with_retention(staging: Graph) -> None:
    # GIVEN the cluster notes-staging-docdb  WHEN its log groups are registered
    cluster = staging.one(DOCDB_CLUSTER)
    identifier = cluster.inputs["clusterIdentifier"]
    groups = {r.inputs["name"]: r for r in staging.of_type(LOG_GROUP)}
    # THEN they carry the names DocumentDB writes to, the logs key and the retention, and the
    # cluster waits for them
    assert set(groups) == {f"/aws/docdb/{identifier}/audit", f"/aws/docdb/{identifier}/profiler"}, groups
    for group in groups.values():
        assert group.inputs["kmsKeyId"] == LOGS_KEY, f"{group.urn}: not encrypted with the logs key"
        assert group.inputs["retentionInDays"] == 30, f"{group.urn}: retention {group.inputs}"
        assert group.urn in cluster.dependencies, f"{cluster.urn}: does not wait for {group.urn}"


def test_availability_zones_are_ignored(staging: Graph) -> None:
    # GIVEN AWS reports three AZs whatever was set  WHEN the cluster is registered
    cluster = staging.one(DOCDB_CLUSTER)
    # THEN an AZ diff cannot force its replacement
    assert "availabilityZones" in cluster.ignore_changes, (
        f"{cluster.urn}: ignoreChanges {cluster.ignore_changes}"
    )


def test_cluster_settings_follow_args(prod: Graph) -> None:
    # GIVEN prod-like args  WHEN the cluster is registered
    cluster = prod.one(DOCDB_CLUSTER)
    inputs = cluster.inputs
    # THEN engine, backups, windows and network follow them and nothing applies mid-day
    expected = {
        "engine": "docdb",
        "engineVersion": "5.0.0",
        "clusterIdentifier": "notes-prod-docdb",
        "backupRetentionPeriod": 35,
        "preferredBackupWindow": "02:00-03:00",
        "preferredMaintenanceWindow": "sun:04:00-sun:05:00",
        "applyImmediately": False,
        "port": 27017,
        "vpcSecurityGroupIds": ["sg-docdb"],
    }
    for key, value in expected.items():
        assert inputs.get(key) == value, f"{cluster.urn}: {key}={inputs.get(key)!r}, expected {value!r}"


def test_subnet_group_uses_the_isolated_subnets(staging: Graph) -> None:
    # GIVEN the isolated subnets  WHEN the subnet group is registered
    subnets = staging.one(DOCDB_SUBNET_GROUP)
    cluster = staging.one(DOCDB_CLUSTER)
    # THEN it holds exactly those and the cluster uses it
    assert subnets.inputs["subnetIds"] == ISOLATED, f"{subnets.urn}: {subnets.inputs['subnetIds']}"
    assert cluster.inputs["dbSubnetGroupName"] == subnets.inputs["name"], cluster.urn


# --- protection -----------------------------------------------------------------------------


# The inputs terraform-provider-aws marks ForceNew on each type that takes a final snapshot
# (internal/service/docdb/cluster.go), by wire name; availabilityZones is ignored by the program.
FINAL_SNAPSHOT_FORCE_NEW = {
    DOCDB_CLUSTER: (
        "clusterIdentifier",
        "dbSubnetGroupName",
        "engine",
        "kmsKeyId",
        "masterUsername",
        "port",
        "storageEncrypted",
    ),
}


def _wire_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def final_snapshot_problems(graph: RecordedGraph) -> list[str]:
    """Every resource that keeps a final snapshot names it per incarnation: the name comes from
    a RandomId whose keepers hold the resource's ForceNew inputs, so a replaced or re-created
    resource never asks AWS for a snapshot name an earlier incarnation already took."""
    by_urn = {r.urn: r for r in graph.resources}
    problems = []
    for resource in graph.resources:
        force_new = FINAL_SNAPSHOT_FORCE_NEW.get(resource.type)
        if force_new is None or resource.inputs.get("skipFinalSnapshot") is True:
            continue
        if not resource.inputs.get("finalSnapshotIdentifier"):
            problems.append(f"{resource.urn}: keeps a final snapshot but names none")
            continue
        sources = [by_urn[u] for u in resource.property_dependencies.get("finalSnapshotIdentifier", [])]
        suffixes = [r for r in sources if r.type == RANDOM_ID]
        if not suffixes:
            problems.append(f"{resource.urn}: finalSnapshotIdentifier is the same for every incarnation")
            continue
        keepers = suffixes[0].inputs.get("keepers") or {}
        for key in force_new:
            if key not in keepers or _wire_text(keepers[key]) != _wire_text(resource.inputs.get(key)):
                problems.append(
                    f"{resource.urn}: {suffixes[0].urn} does not keep {key} "
                    f"({keepers.get(key)!r} vs {resource.inputs.get(key)!r}): a replacement reuses the name"
                )
    return problems


def test_final_snapshot_is_kept_by_default_under_a_name_per_incarnation(staging: Graph) -> None:
    # GIVEN default skip_final_snapshot  WHEN the cluster is registered
    cluster = staging.one(DOCDB_CLUSTER)
    suffix = staging.one(RANDOM_ID)
    # THEN a final snapshot is taken on deletion, named after the environment plus a suffix
    # drawn again whenever a ForceNew input changes
    assert cluster.inputs["skipFinalSnapshot"] is False, f"{cluster.urn}: final snapshot skipped"
    prefix, _, drawn = cluster.inputs["finalSnapshotIdentifier"].rpartition("-")
    assert prefix == "notes-staging-docdb-final", (
        f"{cluster.urn}: {cluster.inputs['finalSnapshotIdentifier']}"
    )
    assert len(drawn) == 8 and set(drawn) <= set(string.hexdigits.lower()), f"{cluster.urn}: suffix {drawn}"
    assert suffix.urn in cluster.property_dependencies["finalSnapshotIdentifier"], cluster.urn
    assert suffix.inputs["byteLength"] == 4, f"{suffix.urn}: {suffix.inputs}"
    assert final_snapshot_problems(staging) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_final_snapshot_in_both_stacks_is_named_per_incarnation(
    stack: str, plans: dict[str, Plan]
) -> None:
    # GIVEN the recorded plan of a committed stack  WHEN its final snapshots are checked
    # THEN each carries a suffix kept by its resource's ForceNew inputs
    assert final_snapshot_problems(plans[stack]) == []


def _planted(graph: Graph, cluster: Recorded, **changes: Any) -> RecordedGraph:
    return RecordedGraph(
        [dataclasses.replace(cluster, **changes) if r is cluster else r for r in graph.resources]
    )


def test_the_final_snapshot_check_fails_on_a_fixed_name_or_a_partial_keeper(staging: Graph) -> None:
    # GIVEN the staging cluster, planted once with the environment-only name this program used to
    # have, and once with a suffix that forgets the KMS key
    cluster = staging.one(DOCDB_CLUSTER)
    suffix = staging.one(RANDOM_ID)
    fixed = _planted(
        staging,
        cluster,
        inputs={**cluster.inputs, "finalSnapshotIdentifier": "notes-staging-docdb-final"},
        property_dependencies={**cluster.property_dependencies, "finalSnapshotIdentifier": []},
    )
    keepers = {k: v for k, v in suffix.inputs["keepers"].items() if k != "kmsKeyId"}
    partial = _planted(staging, suffix, inputs={**suffix.inputs, "keepers": keepers})
    unnamed = _planted(
        staging, cluster, inputs={k: v for k, v in cluster.inputs.items() if k != "finalSnapshotIdentifier"}
    )
    # WHEN the check runs  THEN it names the cluster and what is wrong
    assert final_snapshot_problems(fixed) == [
        f"{cluster.urn}: finalSnapshotIdentifier is the same for every incarnation"
    ]
    assert [p.split(" (")[0] for p in final_snapshot_problems(partial)] == [
        f"{cluster.urn}: {suffix.urn} does not keep kmsKeyId"
    ]
    assert final_snapshot_problems(unnamed) == [f"{cluster.urn}: keeps a final snapshot but names none"]


def test_skipping_the_final_snapshot_is_explicit(disposable: Graph) -> None:
    # GIVEN skip_final_snapshot=True  WHEN the cluster is registered
    cluster = disposable.one(DOCDB_CLUSTER)
    # THEN no snapshot identifier is set
    assert cluster.inputs["skipFinalSnapshot"] is True, cluster.urn
    assert "finalSnapshotIdentifier" not in cluster.inputs, f"{cluster.urn}: {cluster.inputs}"


@pytest.mark.parametrize(("stack", "expected"), [("staging", False), ("prod", True)])
def test_deletion_protection_and_protect_follow_args(
    stack: str, expected: bool, request: pytest.FixtureRequest
) -> None:
    # GIVEN a staging-like (both off) or prod-like (both on) args set
    graph: Graph = request.getfixturevalue(stack)
    cluster = graph.one(DOCDB_CLUSTER)
    # WHEN the cluster and instances are registered  THEN AWS and Pulumi protection follow them
    assert cluster.inputs["deletionProtection"] is expected, f"{cluster.urn}: deletionProtection"
    for resource in [cluster, *graph.of_type(DOCDB_INSTANCE)]:
        assert resource.protect is expected, f"{resource.urn}: protect={resource.protect}"
        assert resource.retain_on_delete is False, f"{resource.urn}: retainOnDelete set"


# --- instances ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stack", "count"), [("staging", 1), ("prod", 3)])
def test_instances_follow_instance_count(stack: str, count: int, request: pytest.FixtureRequest) -> None:
    # GIVEN instance_count  WHEN the instances are registered
    graph: Graph = request.getfixturevalue(stack)
    cluster = graph.one(DOCDB_CLUSTER)
    instances = graph.of_type(DOCDB_INSTANCE)
    # THEN there are that many, in promotion order, all joined to the cluster
    assert len(instances) == count, f"{[r.urn for r in instances]}"
    tiers = sorted(r.inputs["promotionTier"] for r in instances)
    assert tiers == list(range(count)), f"promotion tiers {tiers}"
    for instance in instances:
        assert cluster.urn in instance.property_dependencies["clusterIdentifier"], instance.urn
        assert instance.inputs["identifier"].startswith(f"notes-{stack}-docdb-"), instance.urn
        assert instance.inputs["autoMinorVersionUpgrade"] is True, instance.urn
        assert instance.inputs["applyImmediately"] is False, instance.urn
        assert instance.inputs["caCertIdentifier"] == "rds-ca-rsa2048-g1", instance.urn


def test_instance_class_follows_args(prod: Graph) -> None:
    # GIVEN db.r6g.large  WHEN the instances are registered  THEN each is that class
    for instance in prod.of_type(DOCDB_INSTANCE):
        assert instance.inputs["instanceClass"] == "db.r6g.large", f"{instance.urn}: {instance.inputs}"


# --- master password and the app's secret ----------------------------------------------


def test_the_master_password_is_managed_by_documentdb(staging: Graph) -> None:
    # GIVEN the component  WHEN the cluster is registered
    cluster = staging.one(DOCDB_CLUSTER)
    # THEN DocumentDB manages the password: none is generated, sent or kept in state
    assert cluster.inputs["manageMasterUserPassword"] is True, cluster.urn
    assert "masterPassword" not in cluster.inputs, f"{cluster.urn}: {cluster.inputs}"
    assert cluster.inputs["masterUsername"] == MASTER_USERNAME, cluster.urn
    names = [s.inputs["name"] for s in staging.of_type(SECRET)]
    assert names == ["notes/staging/docdb-app"], names
    # AND its secret is the one the cluster reports (the mocks answer as DescribeDBClusters)
    assert staging.result["master_user_secret_arn"].startswith(
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-"
    ), staging.result


def test_the_master_secret_arn_is_read_from_the_clusters_list() -> None:
    # GIVEN master_user_secrets as the provider returns it (a list of one), as a dict or object
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-1-AbCdEf"
    assert master_secret_arn_of([{"secret_arn": arn, "secret_status": "active"}]) == arn
    assert master_secret_arn_of([dataclasses.make_dataclass("S", ["secret_arn"])(arn)]) == arn
    # AND none while the password is not managed
    assert master_secret_arn_of([]) is None
    assert master_secret_arn_of(None) is None
    assert MASTER_SECRET_PENDING.startswith("(")


def test_the_app_password_has_only_characters_documentdb_and_uris_take(staging: Graph) -> None:
    # GIVEN DocumentDB refuses / " @ in passwords and the URI carries the password
    password = staging.one(RANDOM_PASSWORD)
    # THEN the generator draws letters and digits only, 8-100 characters (DocumentDB's limits)
    assert password.inputs["special"] is False, f"{password.urn}: special characters enabled"
    assert set(string.ascii_letters + string.digits).isdisjoint('/"@')
    assert 32 <= password.inputs["length"] <= 100, f"{password.urn}: length {password.inputs['length']}"


def test_the_app_secret_is_encrypted_and_its_value_secret(staging: Graph) -> None:
    # GIVEN the component  WHEN the app secret is registered
    secret = staging.one(SECRET, "staging-docdb-app-secret")
    version = staging.one(SECRET_VERSION, "staging-docdb-app-version")
    cluster, password = staging.one(DOCDB_CLUSTER), staging.one(RANDOM_PASSWORD)
    # THEN it is encrypted with the secrets key, has the recovery window, and its value is
    # secret and built from the cluster (endpoint, master secret) and the generated password
    assert secret.inputs["name"] == "notes/staging/docdb-app", secret.urn
    assert secret.inputs["kmsKeyId"] == SECRETS_KEY, f"{secret.urn}: kmsKeyId {secret.inputs}"
    assert secret.inputs["recoveryWindowInDays"] == 7, secret.urn
    assert version.inputs["secretString"] == "[secret]", f"{version.urn}: secretString not secret"
    for source in (cluster, password):
        assert source.urn in version.property_dependencies["secretString"], f"{version.urn}: {source.urn}"


def test_the_app_secret_is_awss_rotation_json_for_the_app_user(staging: Graph) -> None:
    # GIVEN the value the component stores
    value = json.loads(staging.result["app_secret"])
    # THEN it has exactly the fields of AWS's MongoDB rotation JSON plus the URI
    assert set(value) == {
        "engine",
        "host",
        "port",
        "username",
        "password",
        "dbname",
        "ssl",
        "masterarn",
        "uri",
    }
    assert (value["engine"], value["username"], value["dbname"]) == ("mongo", APP_USERNAME, "notes"), value
    assert (value["port"], value["ssl"]) == (27017, True), value
    assert value["host"] == staging.result["endpoint"], value
    assert value["masterarn"] == staging.result["master_user_secret_arn"], value
    # AND its URI is the app user's, over TLS, signing in where DocumentDB keeps users
    uri = urlsplit(value["uri"])
    assert (uri.hostname, uri.username, unquote(uri.password or "")) == (
        value["host"],
        APP_USERNAME,
        value["password"],
    ), uri
    assert parse_qs(uri.query)["authSource"] == ["admin"], uri
    assert connection_uri_problems(value["uri"]) == [], connection_uri_problems(value["uri"])
    assert uri.path == "/notes", uri


def test_connection_uri_shape() -> None:
    # GIVEN a password with characters that mean something in a URI
    password = "p@ss/w:rd%?#"
    # WHEN the URI is built
    uri = connection_uri(
        "admin", password, "db.cluster-x.eu-west-1.docdb.amazonaws.com", ca_file=DocumentDb.CA_FILE
    )
    # THEN it is exactly the documented shape and the password round-trips
    assert uri == (
        "mongodb://admin:p%40ss%2Fw%3Ard%25%3F%23@db.cluster-x.eu-west-1.docdb.amazonaws.com:27017/notes"
        "?tls=true&tlsCAFile=/etc/ssl/docdb/global-bundle.pem&replicaSet=rs0&authSource=admin"
        "&readPreference=secondaryPreferred&retryWrites=false"
    ), uri
    parts = urlsplit(uri)
    assert unquote(parts.password or "") == password, parts
    assert parts.port == 27017, parts
    assert parse_qs(parts.query) == {
        "tls": ["true"],
        "tlsCAFile": [DocumentDb.CA_FILE],
        "replicaSet": ["rs0"],
        "authSource": ["admin"],
        "readPreference": ["secondaryPreferred"],
        "retryWrites": ["false"],
    }, parts.query


OPTIONS = "tls=true&tlsCAFile=/ca.pem&replicaSet=rs0&authSource=admin&retryWrites=false"


def _without(option: str) -> str:
    return "&".join(part for part in OPTIONS.split("&") if not part.startswith(option + "="))


@pytest.mark.parametrize(
    ("planted", "problem"),
    [
        # What this component stored before authSource was added.
        (
            f"mongodb://u:p@h:27017/notes?{_without('authSource')}",
            "authSource=(absent): expected authSource=admin",
        ),
        (
            f"mongodb://u:p@h:27017/notes?{OPTIONS.replace('authSource=admin', 'authSource=notes')}",
            "authSource=notes: expected authSource=admin",
        ),
        (
            f"mongodb://u:p@h:27017/notes?{_without('retryWrites')}",
            "retryWrites=(absent): expected retryWrites=false",
        ),
        (
            f"mongodb://u:p@h:27017/notes?{OPTIONS.replace('tls=true', 'tls=false')}",
            "tls=false: expected tls=true",
        ),
        (
            f"mongodb://u:p@h:27017/notes?{_without('replicaSet')}",
            "replicaSet=(absent): expected replicaSet=rs0",
        ),
        (
            f"mongodb://u:p@h:27017/notes?{_without('tlsCAFile')}",
            "tlsCAFile absent: DocumentDB's certificates chain to its own CA",
        ),
        (
            f"mongodb://h:27017/notes?{OPTIONS}",
            "no user and password: the master user signs in with a password",
        ),
    ],
)
def test_the_uri_check_fails_on_a_planted_mistake(planted: str, problem: str) -> None:
    # GIVEN a URI with one mistake planted  WHEN it is checked  THEN exactly that one is named
    assert connection_uri_problems(planted) == [problem], planted


def test_the_uri_check_reads_option_names_as_pymongo_does() -> None:
    # GIVEN pymongo reads URI option names case-insensitively
    uri = "mongodb://u:p@h:27017/notes?TLS=true&tlscafile=/ca.pem&replicaset=rs0&AUTHSOURCE=admin&retrywrites=false"
    # WHEN the check reads them  THEN the spelling does not matter
    assert connection_uri_problems(uri) == [], uri


def test_outputs(staging: Graph) -> None:
    # GIVEN the component  WHEN its outputs resolve  THEN they are the cluster's and the secrets'
    assert staging.result["cluster_identifier"] == "notes-staging-docdb", staging.result
    assert ".docdb.amazonaws.com" in staging.result["endpoint"], staging.result
    assert staging.result["app_secret_arn"] != staging.result["master_user_secret_arn"], staging.result


def test_every_child_is_parented_and_named_after_the_component(prod: Graph) -> None:
    # GIVEN the component  WHEN everything is registered
    component = prod.one("notes:infra:DocumentDb")
    urns = [r.urn for r in prod.resources]
    # THEN URNs are unique, and the direct children carry the component's name and parent
    assert len(urns) == len(set(urns)), "duplicate URNs"
    for child in prod.children_of(component.urn):
        assert child.name.startswith("prod-docdb-"), f"{child.urn}: not named after the component"
    assert all(r.parent for r in prod.custom()), "a resource has no parent"


# --- impossible arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instance_count": 0}, "instance_count=0"),
        ({"instance_count": 17}, "instance_count=17"),
        ({"backup_retention_days": 0}, "backup_retention_days=0"),
        (
            {"backup_window": "04:30-05:30", "maintenance_window": "sun:04:00-sun:05:00"},
            "backup_window='04:30-05:30' overlaps maintenance_window='sun:04:00-sun:05:00'",
        ),
        (
            {"backup_window": "23:45-00:30", "maintenance_window": "mon:00:00-mon:01:00"},
            "overlaps maintenance_window",
        ),
        ({"backup_window": "02:00-02:15"}, "at least 30 minutes"),
        ({"maintenance_window": "sun:04:00-sun:04:10"}, "at least 30 minutes"),
        ({"maintenance_window": "sunday 4am"}, "weekly UTC window"),
        ({"backup_window": "25:00-26:00"}, "not a time of day"),
        ({"engine_version": "5.0"}, "major.minor.patch"),
    ],
)
def test_impossible_arguments_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args AWS would reject  WHEN the component is built  THEN it says what to change
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run(lambda: DocumentDb("bad-docdb", args(**overrides)))


def test_windows_that_touch_but_do_not_overlap_are_accepted() -> None:
    # GIVEN a backup window ending when maintenance starts, and one crossing Sunday night
    # WHEN they are checked  THEN neither raises
    check_windows("b", "03:00-04:00", "m", "sun:04:00-sun:05:00", minimum_minutes=30)
    check_windows("b", "02:00-03:00", "m", "sun:23:30-mon:00:30", minimum_minutes=30)


def test_parameter_family() -> None:
    # GIVEN engine versions  WHEN the family is derived  THEN it is docdb<major>.<minor>
    assert parameter_family("5.0.0") == "docdb5.0"
    assert parameter_family("4.0.0") == "docdb4.0"
