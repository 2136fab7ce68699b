"""The notes database: an encrypted, audited Amazon DocumentDB cluster.

DocumentDB keeps the master user's password in a secret of its own (``manage_master_user_password``):
no master password is generated here or kept in Pulumi's state. The component stores the
application's secret ``notes/<env>/docdb-app``: AWS's rotation JSON for MongoDB for the
least-privilege user ``notes_app`` (created by ``python -m notes_api.dbusers``), with a
ready-to-use ``uri``. The API and the worker read only that secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.secrets import store_secret
from infra.windows import check_windows

__all__ = ["check_windows"]  # where infra/cache.py and the tests found it first

PORT = 27017
ENGINE = "docdb"
DATABASE = "notes"
MASTER_USERNAME = "notesadmin"
# The application's least-privilege user (readWrite on DATABASE only); the rotation alternates it
# with "notes_app_clone" (app/notes_rotation/docdb_app.py).
APP_USERNAME = "notes_app"
APP_SECRET_PURPOSE = "docdb-app"  # noqa: S105 (a secret's purpose, not a credential)
APP_PASSWORD_LENGTH = 64
# Where DocumentDB keeps its users, the master user included: `show users` lists them with
# "db": "admin" (https://docs.aws.amazon.com/documentdb/latest/developerguide/security.managing-users.html).
# A URI with a database in its path authenticates against that database unless authSource says
# otherwise (MongoDB connection string spec; pymongo 4.20 pymongo/auth_shared.py
# _build_credentials_tuple: ``source or database or "admin"``), so /notes alone fails to log in.
AUTH_SOURCE = "admin"
# The replica set name DocumentDB answers to, whatever the instance count: every connection
# string AWS documents carries it
# (https://docs.aws.amazon.com/documentdb/latest/developerguide/endpoints-connecting.html).
REPLICA_SET = "rs0"
# DocumentDB's own CA. The image's global bundle holds it; naming it stops AWS from picking a
# different default CA for new instances.
CA_CERT_IDENTIFIER = "rds-ca-rsa2048-g1"
LOG_EXPORTS = ("audit", "profiler")
MAX_INSTANCES = 16

# --- the connection URI ---------------------------------------------------------------------


def connection_uri(
    username: str,
    password: str,
    host: str,
    *,
    port: int = PORT,
    database: str = DATABASE,
    ca_file: str,
) -> str:
    """The URI the API connects with: the master user authenticates against ``admin`` (see
    AUTH_SOURCE) while the API works in ``database``. DocumentDB speaks TLS with its own CA, is
    always a replica set named rs0, and engines before 8.0.2 refuse retryable writes (ours is
    5.0; https://docs.aws.amazon.com/documentdb/latest/developerguide/retryable-writes.html),
    which pymongo turns on unless the URI says otherwise."""
    user = quote(username, safe="")
    secret = quote(password, safe="")
    options = (
        f"tls=true&tlsCAFile={ca_file}&replicaSet={REPLICA_SET}&authSource={AUTH_SOURCE}"
        "&readPreference=secondaryPreferred&retryWrites=false"
    )
    return f"mongodb://{user}:{secret}@{host}:{port}/{database}?{options}"


def app_secret_value(
    *,
    host: str,
    password: str,
    master_secret_arn: str,
    ca_file: str,
    port: int = PORT,
    username: str = APP_USERNAME,
    database: str = DATABASE,
) -> dict[str, object]:
    """The app's secret: AWS's rotation JSON for MongoDB (the fields of the Secrets Manager
    rotation template for Amazon DocumentDB, which app/notes_rotation/docdb_app.py keeps), plus
    ``uri``, the URI the API connects with, for ``username`` and TLS as ``connection_uri``."""
    return {
        "engine": "mongo",
        "host": host,
        "port": port,
        "username": username,
        "password": password,
        "dbname": database,
        "ssl": True,
        "masterarn": master_secret_arn,
        "uri": connection_uri(username, password, host, port=port, database=database, ca_file=ca_file),
    }


def master_secret_arn_of(secrets: Sequence[Mapping[str, object]] | Sequence[object] | None) -> str | None:
    """The ARN in the cluster's ``master_user_secrets``: a list of one
    ``ClusterMasterUserSecret`` (pulumi_aws docdb/outputs.py: kms_key_id, secret_arn,
    secret_status; terraform-provider-aws internal/service/docdb/cluster.go sets
    ``master_user_secret`` from DescribeDBClusters' MasterUserSecret), empty while the cluster
    does not manage its password."""
    if not secrets:
        return None
    first = secrets[0]
    arn = first.get("secret_arn") if isinstance(first, Mapping) else getattr(first, "secret_arn", None)
    return str(arn) if arn else None


# Option -> the one value a DocumentDB URI must carry (see connection_uri for each reason).
REQUIRED_URI_OPTIONS = {
    "authSource": AUTH_SOURCE,
    "tls": "true",
    "replicaSet": REPLICA_SET,
    "retryWrites": "false",
}


def connection_uri_problems(uri: str) -> list[str]:
    """What would stop a driver from connecting to DocumentDB with ``uri`` or writing through
    it; empty when nothing. Reads options as pymongo does: names case-insensitively."""
    parts = urlsplit(uri)
    problems = [] if parts.scheme == "mongodb" else [f"scheme {parts.scheme!r}: expected mongodb"]
    if not parts.username or parts.password is None:
        problems.append("no user and password: the master user signs in with a password")
    options = {key.lower(): values for key, values in parse_qs(parts.query).items()}
    for option, expected in REQUIRED_URI_OPTIONS.items():
        found = options.get(option.lower())
        if found != [expected]:
            problems.append(f"{option}={found[0] if found else '(absent)'}: expected {option}={expected}")
    if not options.get("tlscafile"):
        problems.append("tlsCAFile absent: DocumentDB's certificates chain to its own CA")
    return problems


def parameter_family(engine_version: str) -> str:
    """``"5.0.0"`` -> ``"docdb5.0"``."""
    match = re.match(r"^(\d+)\.(\d+)\.\d+$", engine_version)
    if not match:
        raise ValueError(f"engine_version={engine_version!r}: expected major.minor.patch, e.g. 5.0.0")
    return f"docdb{match[1]}.{match[2]}"


@dataclass(frozen=True)
class DocumentDbArgs:
    environment: str
    """Environment name; part of every AWS-side identifier (``notes-<environment>-docdb``). From
    config `environment`. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Isolated subnets (no route to the internet) for the subnet group. Set by the stack from
    Network. Required."""
    security_group_id: pulumi.Input[str]
    """The cluster's security group (27017 from the API's tasks only). Set by the stack from
    SecurityGroups (``docdb``). Required."""
    kms_key_arn: pulumi.Input[str]
    """Key for the cluster's storage, snapshots and backups. Set by the stack from Keys
    (``docdb``). Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Key for the app's secret. Set by the stack from Keys (``secrets``). Required. (The master
    user's secret, which DocumentDB creates, stays under aws/secretsmanager: see ``_cluster``.)"""
    logs_kms_key_arn: pulumi.Input[str]
    """Key for the exported audit and profiler log groups. Set by the stack from Keys
    (``logs``). Required."""
    instance_class: str
    """Instance class of every instance, e.g. ``db.t4g.medium``. From config
    `docdbInstanceClass`. Required."""
    instance_count: int
    """Instances, 1-16: one writer plus replicas (promotion in creation order). From config
    `docdbInstanceCount`. Required."""
    backup_retention_days: int = 7
    """Automated backup retention, 1-35 days. From config `docdbBackupRetentionDays`. Default 7."""
    engine_version: str = "5.0.0"
    """DocumentDB engine version; also chooses the parameter group family. From config
    `docdbEngineVersion`. Default 5.0.0."""
    backup_window: str = "02:00-03:00"
    """Daily backup window, UTC; at least 30 minutes, apart from the maintenance window. From
    config `docdbBackupWindow`. Default 02:00-03:00."""
    maintenance_window: str = "sun:04:00-sun:05:00"
    """Weekly maintenance window, UTC, for the cluster and its instances. From config
    `docdbMaintenanceWindow`. Default sun:04:00-sun:05:00."""
    deletion_protection: bool = True
    """AWS refuses to delete the cluster while on. From config `docdbDeletionProtection`.
    Default on."""
    skip_final_snapshot: bool = False
    """Delete without the final snapshot. From config `docdbSkipFinalSnapshot`. Default off: a
    snapshot is kept."""
    protect: bool = False
    """Pulumi ``protect`` on the cluster and instances: ``pulumi destroy`` refuses. From config
    `docdbProtect`. Default off."""
    recovery_window_days: int = 30
    """Days a deleted app secret can still be restored. From config
    `secretsRecoveryWindowDays`. Default 30."""
    audit_log_retention_days: int = 90
    """Retention of the exported audit and profiler logs. From config
    `docdbAuditLogRetentionDays`. Default 90."""
    app_rotation_exempt: str | None = None
    """Why the app user's secret has no rotation yet, as its ``RotationExempt`` tag: set by the
    stack while it runs no API service (nothing creates the user its rotation logs in as).
    Default none: ``stacks.rotations`` rotates it."""


class DocumentDb(pulumi.ComponentResource):
    """A DocumentDB cluster with TLS, audit logs, encryption, a master password DocumentDB
    manages, and the app user's secret."""

    # Where the API's image installs the Amazon DocumentDB CA bundle.
    CA_FILE = "/etc/ssl/docdb/global-bundle.pem"

    cluster: aws.docdb.Cluster
    instances: list[aws.docdb.ClusterInstance]
    endpoint: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    master_user_secret_arn: pulumi.Output[str]
    app_password: random.RandomPassword
    app_secret: aws.secretsmanager.Secret
    app_secret_arn: pulumi.Output[str]
    app_version: aws.secretsmanager.SecretVersion

    def __init__(self, name: str, args: DocumentDbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        family = parameter_family(args.engine_version)
        super().__init__("notes:infra:DocumentDb", name, None, opts)
        identifier = f"notes-{args.environment}-docdb"

        parameters = self._parameter_group(name, args, family)
        subnets = self._subnet_group(name, args, identifier)
        log_groups = self._log_groups(name, args, identifier)
        self._cluster(name, args, identifier, parameters, subnets, log_groups)
        self._instances(name, args, identifier)
        self.endpoint = self.cluster.endpoint
        self.cluster_identifier = self.cluster.cluster_identifier
        self.master_user_secret_arn = self.cluster.master_user_secrets.apply(_required_master_arn)
        self._app_secret(name, args)

        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "cluster_identifier": self.cluster_identifier,
                "master_user_secret_arn": self.master_user_secret_arn,
                "app_secret_arn": self.app_secret_arn,
            }
        )

    def _parameter_group(
        self, name: str, args: DocumentDbArgs, family: str
    ) -> aws.docdb.ClusterParameterGroup:
        env = args.environment
        return aws.docdb.ClusterParameterGroup(
            f"{name}-parameters",
            # The family is in the name: an engine upgrade creates the new group before the
            # old one is deleted, and two groups cannot share a name.
            name=f"notes-{env}-{family.replace('.', '-')}",
            family=family,
            # No description: it forces a replacement too (terraform-provider-aws), and an edit of
            # it would create a second group under this same name (notes_platform/checks/
            # replacement.py); the parameters below say what the group is for.
            parameters=[
                # tls is a static parameter: it takes effect at the next reboot, never silently.
                aws.docdb.ClusterParameterGroupParameterArgs(
                    name=key, value="enabled", apply_method="pending-reboot"
                )
                for key in ("tls", "audit_logs", "profiler")
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _subnet_group(self, name: str, args: DocumentDbArgs, identifier: str) -> aws.docdb.SubnetGroup:
        return aws.docdb.SubnetGroup(
            f"{name}-subnets",
            name=identifier,
            description=f"notes {args.environment}: isolated subnets of the database",
            subnet_ids=args.subnet_ids,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _log_groups(self, name: str, args: DocumentDbArgs, identifier: str) -> list[aws.cloudwatch.LogGroup]:
        # Created before the cluster so that AWS finds them: otherwise the export creates
        # its own, unencrypted and never expiring.
        return [
            aws.cloudwatch.LogGroup(
                f"{name}-{kind}-logs",
                name=f"/aws/docdb/{identifier}/{kind}",
                kms_key_id=args.logs_kms_key_arn,
                retention_in_days=args.audit_log_retention_days,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for kind in LOG_EXPORTS
        ]

    def _cluster(
        self,
        name: str,
        args: DocumentDbArgs,
        identifier: str,
        parameters: aws.docdb.ClusterParameterGroup,
        subnets: aws.docdb.SubnetGroup,
        log_groups: list[aws.cloudwatch.LogGroup],
    ) -> None:
        # The cluster inputs terraform-provider-aws marks ForceNew (internal/service/docdb/
        # cluster.go; availability_zones too, ignored below): a change to any of them is a new
        # cluster, and so is a destroyed stack created again. Each incarnation must leave its
        # final snapshot under a name of its own: DeleteDBCluster refuses a
        # FinalDBSnapshotIdentifier that an existing snapshot already has.
        # Keyed by the provider's wire names, so that a check can hold them against the
        # cluster's own inputs (tests/infra/test_documentdb.py).
        force_new: dict[str, pulumi.Input[str]] = {
            "clusterIdentifier": identifier,
            "dbSubnetGroupName": subnets.name,
            "engine": ENGINE,
            "kmsKeyId": args.kms_key_arn,
            "masterUsername": MASTER_USERNAME,
            "port": str(PORT),
            "storageEncrypted": "true",
        }
        final_snapshot = (
            None if args.skip_final_snapshot else self._final_snapshot_name(name, identifier, force_new)
        )
        self.cluster = aws.docdb.Cluster(
            f"{name}-cluster",
            cluster_identifier=force_new["clusterIdentifier"],
            engine=ENGINE,
            engine_version=args.engine_version,
            port=PORT,
            master_username=MASTER_USERNAME,
            # DocumentDB generates the master password, keeps it in a Secrets Manager secret of
            # its own (rds!cluster-...) and rotates it; nothing of it reaches Pulumi's state.
            # `manage_master_user_password` conflicts with `master_password` (pulumi_aws
            # docdb/cluster.py; ConflictsWith in terraform-provider-aws internal/service/docdb/
            # cluster.go) and is not ForceNew there: switching a cluster created with
            # master_password is an in-place ModifyDBCluster (ManageMasterUserPassword=true),
            # no new cluster. The provider's acceptance test (cluster_test.go,
            # TestAccDocDBCluster_manageMasterUserPassword) exercises managed -> password only;
            # on an existing stack watch the first `pulumi up` of this change.
            # The secret's KMS key cannot be ours: DocumentDB's API takes
            # MasterUserSecretKmsKeyId, but neither pulumi_aws 7.51's docdb.Cluster nor
            # terraform-provider-aws's aws_docdb_cluster (unlike aws_rds_cluster) has
            # master_user_secret_kms_key_id, so the secret is under aws/secretsmanager, which
            # every principal of the account may use through Secrets Manager (Secrets Manager
            # API reference, UpdateSecret KmsKeyId): readers need GetSecretValue on it only.
            manage_master_user_password=True,
            db_cluster_parameter_group_name=parameters.name,
            db_subnet_group_name=force_new["dbSubnetGroupName"],
            vpc_security_group_ids=[args.security_group_id],
            storage_encrypted=True,
            kms_key_id=force_new["kmsKeyId"],
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.backup_window,
            preferred_maintenance_window=args.maintenance_window,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=args.skip_final_snapshot,
            # The provider reads it from state when it deletes the cluster, so a replaced
            # cluster is deleted under the name it was created with and its successor gets the
            # new suffix.
            final_snapshot_identifier=final_snapshot,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            # Changes wait for the maintenance window instead of restarting the writer mid-day.
            apply_immediately=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=log_groups,
                protect=args.protect,
                # AWS spreads the cluster volume over three AZs whatever was asked and reports
                # all three back; an AZ diff forces replacement of the whole cluster.
                # pulumi/pulumi-aws#1507, hashicorp/terraform-provider-aws#19451 and #37210.
                ignore_changes=["availability_zones"],
            ),
        )

    def _final_snapshot_name(
        self, name: str, identifier: str, force_new: dict[str, pulumi.Input[str]]
    ) -> pulumi.Output[str]:
        """``<identifier>-final-<8 hex>``: the suffix is drawn once per cluster incarnation.
        No timestamp, which would change on every run; keepers draw a new one exactly when a
        ForceNew input changes (the cluster is replaced) or the stack is created again."""
        suffix = random.RandomId(
            f"{name}-final-snapshot-suffix",
            byte_length=4,
            keepers=force_new,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Letters, digits and single hyphens, starting with a letter (DeleteDBCluster's
        # FinalDBSnapshotIdentifier constraints, botocore's docdb model): hex keeps to them.
        return pulumi.Output.concat(identifier, "-final-", suffix.hex)

    def _instances(self, name: str, args: DocumentDbArgs, identifier: str) -> None:
        self.instances = [
            aws.docdb.ClusterInstance(
                f"{name}-instance-{index + 1}",
                identifier=f"{identifier}-{index + 1}",
                cluster_identifier=self.cluster.id,
                engine=ENGINE,
                instance_class=args.instance_class,
                ca_cert_identifier=CA_CERT_IDENTIFIER,
                auto_minor_version_upgrade=True,
                preferred_maintenance_window=args.maintenance_window,
                # Failover goes to the lowest tier: the order instances were declared in.
                promotion_tier=index,
                apply_immediately=False,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            for index in range(args.instance_count)
        ]

    def _app_secret(self, name: str, args: DocumentDbArgs) -> None:
        """``notes/<env>/docdb-app`` for APP_USERNAME, with a password drawn here like every
        generated secret (pulumi_random, letters and digits: the URI needs no escaping then).
        The user itself is created by ``python -m notes_api.dbusers`` (the API's init
        container), and the rotation changes user and password afterwards: a later change of
        this value (a new endpoint) puts the stack's user and password back as AWSCURRENT, which
        dbusers repairs on the next task start."""
        child = pulumi.ResourceOptions(parent=self)
        self.app_password = random.RandomPassword(
            f"{name}-app-password",
            length=APP_PASSWORD_LENGTH,
            special=False,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=child,
        )
        value = pulumi.Output.all(
            password=self.app_password.result,
            host=self.cluster.endpoint,
            master=self.master_user_secret_arn,
        ).apply(
            lambda v: json.dumps(
                app_secret_value(
                    host=v["host"],
                    password=v["password"],
                    master_secret_arn=v["master"],
                    ca_file=self.CA_FILE,
                )
            )
        )
        self.app_secret, self.app_version = store_secret(
            f"{name}-app",
            environment=args.environment,
            purpose=APP_SECRET_PURPOSE,
            description=(
                f"notes {args.environment}: DocumentDB user {APP_USERNAME} (readWrite on {DATABASE}), "
                "AWS rotation JSON with the API's TLS URI"
            ),
            kms_key_arn=args.secrets_kms_key_arn,
            recovery_window_days=args.recovery_window_days,
            value=pulumi.Output.secret(value),
            parent=self,
            # The docdb_app rotation function writes every later value (stacks/rotations.py).
            rotated=True,
            rotation_exempt=args.app_rotation_exempt,
        )
        self.app_secret_arn = self.app_secret.arn


# What a preview shows for the master secret of a cluster that is only being switched to a
# managed password: the provider plans master_user_secret from the prior state (empty) and reads
# the secret after the update, so an `up` always has the real ARN.
MASTER_SECRET_PENDING = "(the cluster's managed master secret, known once the cluster is updated)"  # noqa: S105


def _required_master_arn(secrets: Sequence[object] | None) -> str:
    arn = master_secret_arn_of(secrets)
    if arn is not None:
        return arn
    if pulumi.runtime.is_dry_run():
        return MASTER_SECRET_PENDING
    # The cluster sets manage_master_user_password, so AWS reports the secret once it exists.
    raise ValueError("the DocumentDB cluster reports no master_user_secrets: is its password managed?")


def _validate(args: DocumentDbArgs) -> None:
    if not 1 <= args.instance_count <= MAX_INSTANCES:
        raise ValueError(
            f"instance_count={args.instance_count}: a DocumentDB cluster needs 1 to {MAX_INSTANCES} "
            "instances (one writer plus replicas)"
        )
    if not 1 <= args.backup_retention_days <= 35:
        raise ValueError(
            f"backup_retention_days={args.backup_retention_days}: DocumentDB keeps backups 1 to 35 days"
        )
    check_windows(
        "backup_window", args.backup_window, "maintenance_window", args.maintenance_window, minimum_minutes=30
    )
