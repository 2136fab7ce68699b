"""The notes cache and rate-limit store: an ElastiCache for Redis OSS replication group with
TLS required, encryption at rest, an AUTH token from Secrets Manager and slow-log delivery."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.documentdb import check_windows
from infra.secrets import GeneratedSecret, GeneratedSecretArgs

PORT = 6379
MAX_NODES = 6  # one primary plus five replicas (cluster mode disabled)
# ElastiCache's AUTH tokens allow only !&#$^<>- as punctuation; every other mark is refused.
AUTH_REJECTS = "".join(c for c in string.punctuation if c not in "!&#$^<>-")
AUTH_TOKEN_MAX_LENGTH = 128
# How ModifyReplicationGroup changes the AUTH token (AuthTokenUpdateStrategy, botocore's
# elasticache model and https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html,
# "Modifying the AUTH token on an existing cluster"): ROTATE adds the new token while the one
# in use stays valid; SET, "allowed only after ROTATE", keeps only the given token; DELETE turns
# AUTH off (RBAC migrations only). terraform-provider-aws (internal/service/elasticache/
# replication_group.go, resourceReplicationGroupUpdate) sends AuthToken plus the strategy,
# applied immediately, whenever auth_token or auth_token_update_strategy changes; the strategy
# is not used on create. So a rotation is two deployments (README, "Rotating the Redis AUTH
# token"): a new generation with ROTATE, where tasks still holding the old token keep working
# while ECS replaces them, then SET with the same token, which retires the old one.
ROTATE = "ROTATE"
SET = "SET"


def parameter_family(engine_version: str) -> str:
    """``"7.1"`` -> ``"redis7"``. Versions before 7 are refused: ``transit_encryption_mode``
    (TLS required, no plaintext fallback) needs Redis OSS 7.0.5 or later."""
    match = re.match(r"^(\d+)\.(\d+)(\.\d+)?$", engine_version)
    if not match:
        raise ValueError(f"engine_version={engine_version!r}: expected major.minor, e.g. 7.1")
    if int(match[1]) < 7:
        raise ValueError(
            f"engine_version={engine_version!r}: use Redis OSS 7 or later; TLS-required mode "
            "does not exist before 7.0.5"
        )
    return f"redis{match[1]}"


def auth_token_update_strategy(previous_generation: int | None) -> str:
    """ROTATE while a previous generation is still accepted (step 1 of a rotation), SET
    otherwise: a pending ROTATE never retires the old token, and SET alone never keeps one."""
    return SET if previous_generation is None else ROTATE


def redis_url(host: str, port: int = PORT, db: int = 0) -> str:
    """The API's NOTES_REDIS_URL: rediss (TLS); the AUTH token travels separately."""
    return f"rediss://{host}:{port}/{db}"


@dataclass(frozen=True)
class RedisCacheArgs:
    environment: str
    """Environment name; part of every AWS-side identifier (``notes-<environment>-redis``).
    From config `environment`. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Isolated subnets for the cache subnet group. Set by the stack from Network. Required."""
    security_group_id: pulumi.Input[str]
    """The cache's security group (6379 from the API's tasks only). Set by the stack from
    SecurityGroups (``redis``). Required."""
    kms_key_arn: pulumi.Input[str]
    """Key for encryption at rest (data on disk, snapshots). Set by the stack from Keys
    (``cache``). Required."""
    secrets_kms_key_arn: pulumi.Input[str]
    """Key for the AUTH token secret. Set by the stack from Keys (``secrets``). Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """Key for the slow-log log group. Set by the stack from Keys (``logs``). Required."""
    node_type: str
    """Node type, e.g. ``cache.t4g.small``. From config `cacheNodeType`. Required."""
    node_count: int
    """Nodes, 1-6: a primary plus replicas. From config `cacheNodeCount`. Required."""
    multi_az: bool
    """Spread the nodes over AZs; needs ``automatic_failover``. From config `cacheMultiAz`.
    Required."""
    automatic_failover: bool
    """Promote a replica when the primary fails; needs ``node_count`` >= 2. From config
    `cacheAutomaticFailover`. Required."""
    snapshot_retention_days: int = 1
    """Daily snapshots kept, 0-35 (0: none). From config `cacheSnapshotRetentionDays`.
    Default 1."""
    engine_version: str = "7.1"
    """Redis OSS version, 7 or later. From config `cacheEngineVersion`. Default 7.1."""
    snapshot_window: str = "03:00-04:00"
    """Daily snapshot window, UTC; apart from the maintenance window. From config
    `cacheSnapshotWindow`. Default 03:00-04:00."""
    maintenance_window: str = "sun:05:00-sun:06:00"
    """Weekly maintenance window, UTC, at least 60 minutes. Default sun:05:00-sun:06:00, after
    DocumentDB's."""
    protect: bool = False
    """Pulumi ``protect`` on the replication group. From config `cacheProtect`. Default off."""
    recovery_window_days: int = 30
    """Days a deleted AUTH token secret can still be restored. From config
    `secretsRecoveryWindowDays`. Default 30."""
    log_retention_days: int = 30
    """Slow-log retention in days. From config `cacheLogRetentionDays`. Default 30."""
    auth_token_length: int = 64
    """AUTH token length, 32-128. Default 64."""
    auth_token_generation: int = 1
    """Generation of the AUTH token in use; raise it to rotate (README, "Rotating the Redis AUTH
    token"). Each generation is a secret of its own, ``notes/<environment>/redis-auth-token-g<N>``.
    From config `cacheAuthTokenGeneration`. Default 1."""
    auth_token_previous_generation: int | None = None
    """The generation ElastiCache still accepts while the tasks move to the new one (step 1
    of a rotation: ROTATE), or None (SET: only the current token is valid). From config
    `cacheAuthTokenPreviousGeneration`. Default None."""


class RedisCache(pulumi.ComponentResource):
    """A Redis OSS replication group reachable over TLS with an AUTH token."""

    replication_group: aws.elasticache.ReplicationGroup
    url: pulumi.Output[str]
    auth: GeneratedSecret
    previous_auth: GeneratedSecret | None
    auth_secret_arn: pulumi.Output[str]
    auth_version: aws.secretsmanager.SecretVersion
    """Holds the AUTH token's value: whatever reads the secret at start waits for it."""

    def __init__(self, name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        family = parameter_family(args.engine_version)
        super().__init__("notes:infra:RedisCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment
        identifier = f"notes-{env}-redis"

        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            name=identifier,
            description=f"notes {env}: isolated subnets of the cache",
            subnet_ids=args.subnet_ids,
            opts=child,
        )
        # Our own group, since default groups cannot be edited; the family is in the name so
        # that a major upgrade creates the new group before deleting the old one.
        parameters = aws.elasticache.ParameterGroup(
            f"{name}-parameters",
            name=f"{identifier}-{family}",
            family=family,
            # No description: it forces a replacement too (terraform-provider-aws), and an edit of
            # it would create a second group under this same name (notes_platform/checks/
            # replacement.py); the parameters below say what the group is for.
            parameters=[
                # Every key the API writes has a TTL: under memory pressure evict those instead
                # of failing writes, and never touch a key without one.
                aws.elasticache.ParameterGroupParameterArgs(name="maxmemory-policy", value="volatile-lru"),
            ],
            opts=child,
        )
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-slow-log",
            name=f"/aws/elasticache/{identifier}/slow-log",
            kms_key_id=args.logs_kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=child,
        )

        def generation(number: int) -> GeneratedSecret:
            # One secret per generation, named after it: a new generation is a new value and a
            # new secret ARN in the task definition, so ECS starts a deployment whose tasks read
            # the new token; the previous one stays until step 2 lets it go.
            return GeneratedSecret(
                f"{name}-auth-g{number}",
                GeneratedSecretArgs(
                    environment=env,
                    purpose=f"redis-auth-token-g{number}",
                    description=f"notes {env}: Redis AUTH token (generation {number})",
                    kms_key_arn=args.secrets_kms_key_arn,
                    recovery_window_days=args.recovery_window_days,
                    length=args.auth_token_length,
                    special=False,
                    forbidden_characters=AUTH_REJECTS,
                    rotation_exempt=(
                        "a new generation per rotation: notes-platform rotate-cache-token and "
                        "the rotate-cache-token workflow (ElastiCache ROTATE, then SET)"
                    ),
                ),
                child,
            )

        auth = generation(args.auth_token_generation)
        previous = args.auth_token_previous_generation
        self.auth = auth
        self.previous_auth = None if previous is None else generation(previous)

        self.replication_group = aws.elasticache.ReplicationGroup(
            f"{name}-group",
            replication_group_id=identifier,
            description=f"notes {env}: response cache and rate limits",
            engine="redis",
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=args.node_count,
            port=PORT,
            parameter_group_name=parameters.name,
            subnet_group_name=subnets.name,
            security_group_ids=[args.security_group_id],
            multi_az_enabled=args.multi_az,
            automatic_failover_enabled=args.automatic_failover,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=args.kms_key_arn,
            auth_token=auth.value,
            auth_token_update_strategy=auth_token_update_strategy(previous),
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window=args.snapshot_window,
            maintenance_window=args.maintenance_window,
            # No final snapshot: everything in the cache is derived or expires within minutes.
            auto_minor_version_upgrade=True,
            # Changes wait for the maintenance window instead of restarting nodes mid-day.
            apply_immediately=False,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

        self.url = self.replication_group.primary_endpoint_address.apply(redis_url)
        # The ARN carries a dependency on the replication group: a task definition that names
        # it is registered only after ElastiCache has applied the ROTATE (the provider waits for
        # the group to be available again), so no task starts with a token AWS still refuses.
        self.auth_secret_arn = pulumi.Output.all(auth.arn, self.replication_group.arn).apply(
            lambda v: str(v[0])
        )
        self.auth_version = auth.version
        self.register_outputs({"url": self.url, "auth_secret_arn": self.auth_secret_arn})


def _validate(args: RedisCacheArgs) -> None:
    if not 1 <= args.node_count <= MAX_NODES:
        raise ValueError(f"node_count={args.node_count}: a replication group has 1 to {MAX_NODES} nodes")
    if args.automatic_failover and args.node_count < 2:
        raise ValueError(
            f"automatic_failover=True needs node_count >= 2 (got {args.node_count}): "
            "add a replica or turn automatic failover off"
        )
    if args.multi_az and not args.automatic_failover:
        raise ValueError(
            "multi_az=True needs automatic_failover=True: ElastiCache refuses Multi-AZ without it"
        )
    if not 0 <= args.snapshot_retention_days <= 35:
        raise ValueError(
            f"snapshot_retention_days={args.snapshot_retention_days}: ElastiCache keeps 0 to 35 days"
        )
    if args.auth_token_generation < 1:
        raise ValueError(f"auth_token_generation={args.auth_token_generation}: generations start at 1")
    previous = args.auth_token_previous_generation
    if previous is not None and not 1 <= previous < args.auth_token_generation:
        raise ValueError(
            f"auth_token_previous_generation={previous} must be below auth_token_generation="
            f"{args.auth_token_generation} (the token the tasks are moving away from); generations only go up"
        )
    if args.auth_token_length > AUTH_TOKEN_MAX_LENGTH:
        raise ValueError(
            f"auth_token_length={args.auth_token_length}: ElastiCache AUTH tokens are at most "
            f"{AUTH_TOKEN_MAX_LENGTH} characters"
        )
    check_windows(
        "snapshot_window",
        args.snapshot_window,
        "maintenance_window",
        args.maintenance_window,
        minimum_minutes=60,
    )
