"""RedisCache under mocks: encryption in transit and at rest, AUTH, failover, slow logs."""

from __future__ import annotations

import string
from typing import Any

import pytest

from infra.cache import AUTH_REJECTS, RedisCache, RedisCacheArgs, parameter_family, redis_url
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    CACHE_PARAMETER_GROUP,
    CACHE_REPLICATION_GROUP,
    CACHE_SUBNET_GROUP,
    LOG_GROUP,
    RANDOM_PASSWORD,
    SECRET,
)

CACHE_KEY = "arn:aws:kms:eu-west-1:123456789012:key/cache"
SECRETS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/secrets"
LOGS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/logs"
ISOLATED = ["subnet-iso-a", "subnet-iso-b"]
# What ElastiCache allows in an AUTH token.
AUTH_ALPHABET = set(string.ascii_letters + string.digits + "!&#$^<>-")


def args(environment: str = "staging", **overrides: Any) -> RedisCacheArgs:
    values: dict[str, Any] = {
        "environment": environment,
        "subnet_ids": ISOLATED,
        "security_group_id": "sg-redis",
        "kms_key_arn": CACHE_KEY,
        "secrets_kms_key_arn": SECRETS_KEY,
        "logs_kms_key_arn": LOGS_KEY,
        "node_type": "cache.t4g.small",
        "node_count": 1,
        "multi_az": False,
        "automatic_failover": False,
        "snapshot_retention_days": 1,
        "protect": False,
        "recovery_window_days": 7,
        "log_retention_days": 14,
    }
    values.update(overrides)
    return RedisCacheArgs(**values)


def build(name: str, component_args: RedisCacheArgs) -> Graph:
    def program() -> Any:
        cache = RedisCache(name, component_args)
        return {"url": cache.url, "auth_secret_arn": cache.auth_secret_arn}

    return run(program)


@pytest.fixture(scope="module")
def staging() -> Graph:
    """Staging-like: one node, no failover, not protected."""
    return build("staging-redis", args())


@pytest.fixture(scope="module")
def prod() -> Graph:
    """Prod-like: three nodes over AZs with automatic failover, protected."""
    return build(
        "prod-redis",
        args(
            "prod",
            node_type="cache.r7g.large",
            node_count=3,
            multi_az=True,
            automatic_failover=True,
            snapshot_retention_days=7,
            protect=True,
            recovery_window_days=30,
            log_retention_days=90,
        ),
    )


def test_encrypted_in_transit_and_at_rest(staging: Graph) -> None:
    # GIVEN the cache key  WHEN the replication group is registered
    group = staging.one(CACHE_REPLICATION_GROUP)
    inputs = group.inputs
    # THEN TLS is on and required, and data at rest is encrypted with that key
    assert inputs["transitEncryptionEnabled"] is True, f"{group.urn}: transit encryption off"
    assert inputs["transitEncryptionMode"] == "required", (
        f"{group.urn}: {inputs.get('transitEncryptionMode')}"
    )
    assert inputs["atRestEncryptionEnabled"] is True, f"{group.urn}: encryption at rest off"
    assert inputs["kmsKeyId"] == CACHE_KEY, f"{group.urn}: kmsKeyId {inputs.get('kmsKeyId')}"


def test_auth_token_comes_from_the_generated_secret(staging: Graph) -> None:
    # GIVEN the auth GeneratedSecret  WHEN the replication group is registered
    group = staging.one(CACHE_REPLICATION_GROUP)
    password = staging.one(RANDOM_PASSWORD)
    secret = staging.one(SECRET)
    # THEN its token is that (masked) value, rotated without a window without AUTH, and the
    # secret is encrypted with the secrets key
    assert group.inputs["authToken"] == "[secret]", f"{group.urn}: authToken not secret"
    assert password.urn in group.property_dependencies["authToken"], f"{group.urn}: token not generated"
    assert group.inputs["authTokenUpdateStrategy"] == "ROTATE", f"{group.urn}: {group.inputs}"
    assert secret.inputs["name"] == "notes/staging/redis-auth-token", secret.urn
    assert secret.inputs["kmsKeyId"] == SECRETS_KEY, f"{secret.urn}: not encrypted with the secrets key"
    assert secret.inputs["recoveryWindowInDays"] == 7, secret.urn


def test_auth_token_alphabet_is_one_elasticache_accepts(staging: Graph) -> None:
    # GIVEN ElastiCache allows only !&#$^<>- as punctuation, 16-128 characters
    assert not AUTH_ALPHABET & set(AUTH_REJECTS), AUTH_REJECTS
    password = staging.one(RANDOM_PASSWORD)
    # WHEN the token is generated
    alphabet = set(string.ascii_letters + string.digits)
    if password.inputs["special"]:
        alphabet |= set(password.inputs.get("overrideSpecial") or string.punctuation)
    # THEN it can only produce accepted characters, at an accepted length
    assert password.inputs["special"] is False, f"{password.urn}: special characters enabled"
    assert alphabet <= AUTH_ALPHABET, f"{password.urn}: can produce {sorted(alphabet - AUTH_ALPHABET)}"
    assert 16 <= password.inputs["length"] <= 128, f"{password.urn}: length {password.inputs['length']}"


@pytest.mark.parametrize(
    ("stack", "nodes", "failover"),
    [("staging", 1, False), ("prod", 3, True)],
)
def test_nodes_failover_and_multi_az_follow_args(
    stack: str, nodes: int, failover: bool, request: pytest.FixtureRequest
) -> None:
    # GIVEN a staging-like or prod-like args set  WHEN the replication group is registered
    graph: Graph = request.getfixturevalue(stack)
    group = graph.one(CACHE_REPLICATION_GROUP)
    # THEN node count, automatic failover, Multi-AZ and protect follow them
    assert group.inputs["numCacheClusters"] == nodes, f"{group.urn}: {group.inputs['numCacheClusters']}"
    assert group.inputs["automaticFailoverEnabled"] is failover, group.urn
    assert group.inputs["multiAzEnabled"] is failover, group.urn
    assert group.protect is failover, f"{group.urn}: protect={group.protect}"


def test_slow_log_goes_to_an_encrypted_log_group_as_json(prod: Graph) -> None:
    # GIVEN the component  WHEN the replication group and its log group are registered
    group = prod.one(CACHE_REPLICATION_GROUP)
    log_group = prod.one(LOG_GROUP)
    deliveries = group.inputs["logDeliveryConfigurations"]
    # THEN the slow log is delivered, as JSON, to the log group, which is KMS-encrypted with retention
    assert deliveries == [
        {
            "destination": log_group.inputs["name"],
            "destinationType": "cloudwatch-logs",
            "logFormat": "json",
            "logType": "slow-log",
        }
    ], f"{group.urn}: {deliveries}"
    assert log_group.urn in group.property_dependencies["logDeliveryConfigurations"], group.urn
    assert log_group.inputs["name"] == "/aws/elasticache/notes-prod-redis/slow-log", log_group.urn
    assert log_group.inputs["kmsKeyId"] == LOGS_KEY, f"{log_group.urn}: not encrypted with the logs key"
    assert log_group.inputs["retentionInDays"] == 90, f"{log_group.urn}: {log_group.inputs}"


def test_group_settings_follow_args(prod: Graph) -> None:
    # GIVEN prod-like args  WHEN the replication group is registered
    group = prod.one(CACHE_REPLICATION_GROUP)
    parameters = prod.one(CACHE_PARAMETER_GROUP)
    subnets = prod.one(CACHE_SUBNET_GROUP)
    # THEN engine, snapshots, windows and network follow them, and nothing applies mid-day
    expected = {
        "replicationGroupId": "notes-prod-redis",
        "engine": "redis",
        "engineVersion": "7.1",
        "nodeType": "cache.r7g.large",
        "port": 6379,
        "snapshotRetentionLimit": 7,
        "snapshotWindow": "03:00-04:00",
        "maintenanceWindow": "sun:05:00-sun:06:00",
        "applyImmediately": False,
        "autoMinorVersionUpgrade": True,
        "securityGroupIds": ["sg-redis"],
        "parameterGroupName": parameters.inputs["name"],
        "subnetGroupName": subnets.inputs["name"],
    }
    for key, value in expected.items():
        assert group.inputs.get(key) == value, (
            f"{group.urn}: {key}={group.inputs.get(key)!r}, expected {value!r}"
        )
    assert parameters.inputs["family"] == "redis7", f"{parameters.urn}: {parameters.inputs['family']}"
    assert subnets.inputs["subnetIds"] == ISOLATED, f"{subnets.urn}: {subnets.inputs['subnetIds']}"


def test_url_is_tls_to_the_primary_endpoint(staging: Graph) -> None:
    # GIVEN the mocked primary endpoint  WHEN the url resolves
    url = staging.result["url"]
    # THEN it is rediss:// to the primary on 6379, database 0
    assert url.startswith("rediss://master.staging-redis-group."), url
    assert url.endswith(":6379/0"), url
    assert redis_url("h.example") == "rediss://h.example:6379/0"


def test_every_child_is_parented_and_named_after_the_component(prod: Graph) -> None:
    # GIVEN the component  WHEN everything is registered
    component = prod.one("notes:infra:RedisCache")
    urns = [r.urn for r in prod.resources]
    # THEN URNs are unique, and the direct children carry the component's name
    assert len(urns) == len(set(urns)), "duplicate URNs"
    for child in prod.children_of(component.urn):
        assert child.name.startswith("prod-redis-"), f"{child.urn}: not named after the component"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"automatic_failover": True, "node_count": 1}, "automatic_failover=True needs node_count >= 2"),
        ({"multi_az": True, "node_count": 2}, "multi_az=True needs automatic_failover=True"),
        ({"node_count": 0}, "node_count=0"),
        ({"node_count": 7}, "node_count=7"),
        ({"engine_version": "6.2"}, "Redis OSS 7 or later"),
        ({"engine_version": "latest"}, "expected major.minor"),
        ({"snapshot_retention_days": 36}, "snapshot_retention_days=36"),
        ({"auth_token_length": 200}, "at most 128"),
        (
            {"snapshot_window": "05:30-06:30"},
            "snapshot_window='05:30-06:30' overlaps maintenance_window='sun:05:00-sun:06:00'",
        ),
        ({"maintenance_window": "sun:05:00-sun:05:30"}, "at least 60 minutes"),
    ],
)
def test_impossible_arguments_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args AWS would reject  WHEN the component is built  THEN it says what to change
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run(lambda: RedisCache("bad-redis", args(**overrides)))


def test_parameter_family() -> None:
    # GIVEN engine versions  WHEN the family is derived  THEN it is redis<major>
    assert parameter_family("7.1") == "redis7"
    assert parameter_family("7.0.7") == "redis7"
