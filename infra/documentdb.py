"""The notes database: an encrypted, audited Amazon DocumentDB cluster.

Besides the cluster and its instances, the component stores two secrets: the master password
(generated) and the application's ready-to-use connection URI (derived), both KMS-encrypted
in Secrets Manager. The API reads only the URI secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.secrets import GeneratedSecret, GeneratedSecretArgs, store_secret

PORT = 27017
ENGINE = "docdb"
DATABASE = "notes"
MASTER_USERNAME = "notesadmin"
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
# DocumentDB refuses these in a master password.
MASTER_REJECTS = '/"@'
# DocumentDB's own CA. The image's global bundle holds it; naming it stops AWS from picking a
# different default CA for new instances.
CA_CERT_IDENTIFIER = "rds-ca-rsa2048-g1"
LOG_EXPORTS = ("audit", "profiler")
MAX_INSTANCES = 16

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 24 * 60
_WEEK = 7 * _DAY
_DAILY = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_WEEKLY = re.compile(r"^([a-z]{3}):(\d\d):(\d\d)-([a-z]{3}):(\d\d):(\d\d)$")


# --- maintenance and backup windows ---------------------------------------------------------


def _minute(hours: str, minutes: str, key: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"{key}={text!r}: {hours}:{minutes} is not a time of day (UTC hh:mm)")
    return h * 60 + m


def daily_window(text: str, key: str) -> tuple[int, int]:
    """``"02:00-03:00"`` -> (start minute of the day, duration in minutes); may cross midnight."""
    match = _DAILY.match(text)
    if not match:
        raise ValueError(f"{key}={text!r}: expected a daily UTC window like 02:00-03:00")
    start = _minute(match[1], match[2], key, text)
    end = _minute(match[3], match[4], key, text)
    return start, (end - start) % _DAY


def weekly_window(text: str, key: str) -> tuple[int, int]:
    """``"sun:04:00-sun:05:00"`` -> (start minute of the week, duration); may cross Sunday night."""
    match = _WEEKLY.match(text)
    if not match or match[1] not in DAYS or match[4] not in DAYS:
        raise ValueError(f"{key}={text!r}: expected a weekly UTC window like sun:04:00-sun:05:00")
    start = DAYS.index(match[1]) * _DAY + _minute(match[2], match[3], key, text)
    end = DAYS.index(match[4]) * _DAY + _minute(match[5], match[6], key, text)
    return start, (end - start) % _WEEK


def _circular_overlap(a: tuple[int, int], b: tuple[int, int], period: int) -> bool:
    return (a[0] - b[0]) % period < b[1] or (b[0] - a[0]) % period < a[1]


def check_windows(daily_key: str, daily: str, weekly_key: str, weekly: str, *, minimum_minutes: int) -> None:
    """AWS rejects a daily backup/snapshot window that overlaps the weekly maintenance window,
    and windows shorter than the service's minimum; fail before any resource exists."""
    day = daily_window(daily, daily_key)
    week = weekly_window(weekly, weekly_key)
    for key, text, (_, length) in ((daily_key, daily, day), (weekly_key, weekly, week)):
        if length < minimum_minutes:
            raise ValueError(f"{key}={text!r}: the window must last at least {minimum_minutes} minutes")
    if any(_circular_overlap((d * _DAY + day[0], day[1]), week, _WEEK) for d in range(7)):
        raise ValueError(
            f"{daily_key}={daily!r} overlaps {weekly_key}={weekly!r}: AWS needs them apart; "
            f"move one of the two"
        )


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
    """Key for the master password and connection URI secrets. Set by the stack from Keys
    (``secrets``). Required."""
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
    """Days a deleted secret (master password, URI) can still be restored. From config
    `secretsRecoveryWindowDays`. Default 30."""
    audit_log_retention_days: int = 90
    """Retention of the exported audit and profiler logs. From config
    `docdbAuditLogRetentionDays`. Default 90."""


class DocumentDb(pulumi.ComponentResource):
    """A DocumentDB cluster with TLS, audit logs, encryption and a connection URI secret."""

    # Where the API's image installs the Amazon DocumentDB CA bundle.
    CA_FILE = "/etc/ssl/docdb/global-bundle.pem"

    cluster: aws.docdb.Cluster
    instances: list[aws.docdb.ClusterInstance]
    endpoint: pulumi.Output[str]
    cluster_identifier: pulumi.Output[str]
    master_secret_arn: pulumi.Output[str]
    uri_secret_arn: pulumi.Output[str]
    uri_version: aws.secretsmanager.SecretVersion

    def __init__(self, name: str, args: DocumentDbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        family = parameter_family(args.engine_version)
        super().__init__("notes:infra:DocumentDb", name, None, opts)
        identifier = f"notes-{args.environment}-docdb"

        parameters = self._parameter_group(name, args, family)
        subnets = self._subnet_group(name, args, identifier)
        log_groups = self._log_groups(name, args, identifier)
        master = self._master_secret(name, args)
        self._cluster(name, args, identifier, parameters, subnets, log_groups, master)
        self._instances(name, args, identifier)
        uri_secret = self._uri_secret(name, args, master)

        self.endpoint = self.cluster.endpoint
        self.cluster_identifier = self.cluster.cluster_identifier
        self.master_secret_arn = master.arn
        self.uri_secret_arn = uri_secret.arn
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "cluster_identifier": self.cluster_identifier,
                "master_secret_arn": self.master_secret_arn,
                "uri_secret_arn": self.uri_secret_arn,
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

    def _master_secret(self, name: str, args: DocumentDbArgs) -> GeneratedSecret:
        return GeneratedSecret(
            f"{name}-master",
            GeneratedSecretArgs(
                environment=args.environment,
                purpose="docdb-master",
                description=f"notes {args.environment}: DocumentDB master password (user {MASTER_USERNAME})",
                kms_key_arn=args.secrets_kms_key_arn,
                recovery_window_days=args.recovery_window_days,
                # Letters and digits only; the forbidden list stays as a guard should anyone
                # turn punctuation on.
                special=False,
                forbidden_characters=MASTER_REJECTS,
            ),
            pulumi.ResourceOptions(parent=self),
        )

    def _cluster(
        self,
        name: str,
        args: DocumentDbArgs,
        identifier: str,
        parameters: aws.docdb.ClusterParameterGroup,
        subnets: aws.docdb.SubnetGroup,
        log_groups: list[aws.cloudwatch.LogGroup],
        master: GeneratedSecret,
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
            master_password=master.value,
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

    def _uri_secret(
        self, name: str, args: DocumentDbArgs, master: GeneratedSecret
    ) -> aws.secretsmanager.Secret:
        """The API's connection URI, stored as a secret of its own; sets ``uri_version``."""
        uri = pulumi.Output.all(master.value, self.cluster.endpoint).apply(
            lambda values: connection_uri(MASTER_USERNAME, values[0], values[1], ca_file=self.CA_FILE)
        )
        uri_secret, self.uri_version = store_secret(
            f"{name}-uri",
            environment=args.environment,
            purpose="docdb-uri",
            description=(
                f"notes {args.environment}: the API's DocumentDB connection URI (TLS, CA file in the image)"
            ),
            kms_key_arn=args.secrets_kms_key_arn,
            recovery_window_days=args.recovery_window_days,
            value=pulumi.Output.secret(uri),
            parent=self,
        )
        return uri_secret


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
