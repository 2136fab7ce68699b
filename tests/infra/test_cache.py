"""RedisCache under mocks: encryption in transit and at rest, AUTH, failover, slow logs."""

from __future__ import annotations

import dataclasses
import json
import re
import string
from typing import Any

import pulumi_aws as aws
import pytest

from infra.cache import AUTH_REJECTS, RedisCache, RedisCacheArgs, parameter_family, redis_url
from notes_platform.graph.mocks import Recorded, RecordedGraph
from notes_platform.graph.plan import Plan
from stacks.config import StackConfigError, load, read_stack_file
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    CACHE_PARAMETER_GROUP,
    CACHE_REPLICATION_GROUP,
    CACHE_SUBNET_GROUP,
    LOG_GROUP,
    RANDOM_PASSWORD,
    SECRET,
    SECRET_VERSION,
    TASK_DEFINITION,
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
        # Stands in for the task definition: whatever reads the ARN.
        aws.ssm.Parameter(f"{name}-consumer", type="String", value=cache.auth_secret_arn)
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
    # GIVEN the auth GeneratedSecret of generation 1  WHEN the replication group is registered
    group = staging.one(CACHE_REPLICATION_GROUP)
    password = staging.one(RANDOM_PASSWORD)
    secret = staging.one(SECRET)
    # THEN its token is that (masked) value, SET (no rotation pending), and the secret is
    # named after its generation and encrypted with the secrets key
    assert group.inputs["authToken"] == "[secret]", f"{group.urn}: authToken not secret"
    assert password.urn in group.property_dependencies["authToken"], f"{group.urn}: token not generated"
    assert group.inputs["authTokenUpdateStrategy"] == "SET", f"{group.urn}: {group.inputs}"
    assert secret.inputs["name"] == "notes/staging/redis-auth-token-g1", secret.urn
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
        ({"auth_token_generation": 0}, "auth_token_generation=0: generations start at 1"),
        (
            {"auth_token_generation": 2, "auth_token_previous_generation": 2},
            "auth_token_previous_generation=2 must be below auth_token_generation=2",
        ),
        (
            {"auth_token_generation": 2, "auth_token_previous_generation": 3},
            "auth_token_previous_generation=3 must be below",
        ),
        ({"auth_token_generation": 2, "auth_token_previous_generation": 0}, "previous_generation=0 must be"),
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


# --- rotating the AUTH token ----------------------------------------------------------------

AUTH_TOKEN_ENV = "NOTES_REDIS_AUTH_TOKEN"
_GENERATION = re.compile(r"^(?P<family>.+-g)(?P<number>\d+)$")


def _container_secrets(task_definition: Recorded) -> dict[str, str]:
    containers = task_definition.inputs.get("containerDefinitions") or "[]"
    if isinstance(containers, str):
        containers = json.loads(containers)
    return {s["name"]: s["valueFrom"] for c in containers for s in c.get("secrets", [])}


def _secret_arn_names(arn: str, secret: Recorded) -> bool:
    # Secrets Manager's ARNs end in the secret's name, a hyphen and six random characters.
    return re.search(f":secret:{re.escape(secret.inputs['name'])}-[A-Za-z0-9]{{6}}$", arn) is not None


def auth_rotation_problems(graph: RecordedGraph) -> list[str]:
    """What would keep an ElastiCache AUTH token rotation from starting, finishing or reaching
    the tasks: the token must come from a secret named after its generation (raising the
    generation is what starts a rotation), the strategy must be ROTATE exactly while a previous
    generation's secret still exists (SET then would cut off tasks holding the old token; ROTATE
    left in place keeps a retired token valid), and every task definition that reads the token
    must name the current generation and wait for the replication group (no task starts with a
    token ElastiCache does not accept yet)."""
    by_urn = {r.urn: r for r in graph.resources}
    secrets = graph.of_type(SECRET)
    versions = graph.of_type(SECRET_VERSION)
    problems = []
    for group in graph.of_type(CACHE_REPLICATION_GROUP):
        if "authToken" not in group.inputs:
            continue
        passwords = [
            u for u in group.property_dependencies.get("authToken", []) if by_urn[u].type == RANDOM_PASSWORD
        ]
        stored = [
            by_urn[u]
            for v in versions
            if set(passwords) & set(v.property_dependencies.get("secretString", []))
            for u in v.property_dependencies.get("secretId", [])
        ]
        if len(stored) != 1:
            problems.append(f"{group.urn}: authToken is not the value of exactly one secret ({len(stored)})")
            continue
        current = stored[0]
        named = _GENERATION.match(current.inputs["name"])
        if named is None:
            problems.append(f"{group.urn}: token secret {current.inputs['name']} has no generation to raise")
            continue
        previous = [s for s in secrets if s is not current and s.inputs["name"].startswith(named["family"])]
        strategy = group.inputs.get("authTokenUpdateStrategy")
        if previous and strategy != "ROTATE":
            problems.append(
                f"{group.urn}: authTokenUpdateStrategy={strategy} while {previous[0].inputs['name']} is "
                "still accepted: tasks holding it fail AUTH; ROTATE first"
            )
        if not previous and strategy != "SET":
            problems.append(
                f"{group.urn}: authTokenUpdateStrategy={strategy} with no rotation pending: the retired "
                "token stays valid until a SET"
            )
        for task in graph.of_type(TASK_DEFINITION):
            arn = _container_secrets(task).get(AUTH_TOKEN_ENV)
            if arn is None:
                continue
            if not _secret_arn_names(arn, current):
                problems.append(f"{task.urn}: {AUTH_TOKEN_ENV} is {arn}, not {current.inputs['name']}")
            if group.urn not in task.dependencies:
                problems.append(f"{task.urn}: may start before {group.urn} accepts the token")
    return problems


def step(generation: int, previous: int | None = None) -> Graph:
    return build(
        "staging-redis",
        args(auth_token_generation=generation, auth_token_previous_generation=previous),
    )


@pytest.fixture(scope="module")
def rotating() -> Graph:
    """Step 1 of a rotation: generation 2 in use, generation 1 still accepted."""
    return step(2, previous=1)


@pytest.fixture(scope="module")
def rotated() -> Graph:
    """Step 2: generation 1 let go."""
    return step(2)


def _secret(graph: Graph, generation: int) -> Recorded:
    return graph.one(SECRET, f"staging-redis-auth-g{generation}-secret")


def test_step_1_rotates_to_a_new_token_while_the_old_one_stays_valid(rotating: Graph) -> None:
    # GIVEN generation 2 with generation 1 as the previous one  WHEN the cache is registered
    group = rotating.one(CACHE_REPLICATION_GROUP)
    new_password = rotating.one(RANDOM_PASSWORD, "staging-redis-auth-g2-password")
    # THEN both generations' secrets exist, the token is generation 2's, sent with ROTATE, and the
    # ARN the tasks read is generation 2's
    assert _secret(rotating, 1).inputs["name"] == "notes/staging/redis-auth-token-g1"
    assert _secret(rotating, 2).inputs["name"] == "notes/staging/redis-auth-token-g2"
    assert group.property_dependencies["authToken"] == [new_password.urn], f"{group.urn}: token source"
    assert group.inputs["authTokenUpdateStrategy"] == "ROTATE", f"{group.urn}: {group.inputs}"
    assert "redis-auth-token-g2-" in rotating.result["auth_secret_arn"], rotating.result
    assert auth_rotation_problems(rotating) == []


def test_step_2_sets_the_same_token_and_lets_the_old_generation_go(rotating: Graph, rotated: Graph) -> None:
    # GIVEN step 1 deployed  WHEN the previous generation is removed
    group = rotated.one(CACHE_REPLICATION_GROUP)
    # THEN the token is still generation 2's (same resource: no new value), now with SET, which
    # makes ElastiCache drop generation 1; generation 1's secret is deleted
    assert [r.name for r in rotated.of_type(SECRET)] == ["staging-redis-auth-g2-secret"]
    assert (
        group.property_dependencies["authToken"]
        == rotating.one(CACHE_REPLICATION_GROUP).property_dependencies["authToken"]
    ), group.urn
    assert group.inputs["authTokenUpdateStrategy"] == "SET", f"{group.urn}: {group.inputs}"
    assert rotated.result["auth_secret_arn"] == rotating.result["auth_secret_arn"], rotated.result
    assert auth_rotation_problems(rotated) == []


@pytest.mark.parametrize("graph_name", ["staging", "rotating", "rotated"])
def test_whatever_reads_the_token_arn_waits_for_the_replication_group(
    graph_name: str, request: pytest.FixtureRequest
) -> None:
    # GIVEN any step  WHEN something reads auth_secret_arn (the task definition does)
    graph: Graph = request.getfixturevalue(graph_name)
    consumer = graph.named("staging-redis-consumer")
    group = graph.one(CACHE_REPLICATION_GROUP)
    # THEN it is registered after the replication group, which has applied the token by then
    assert group.urn in consumer.dependencies, f"{consumer.urn}: does not wait for {group.urn}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_both_stacks_can_rotate_the_token_and_roll_their_tasks(stack: str, plans: dict[str, Plan]) -> None:
    # GIVEN the recorded plan of a committed stack  WHEN the AUTH rotation check runs
    # THEN nothing stops a rotation, and the service reads the current generation after the group
    assert plans[stack].of_type(TASK_DEFINITION), f"{stack}: no task definition to check"
    assert auth_rotation_problems(plans[stack]) == []


def _with(graph: RecordedGraph, old: Recorded, **changes: Any) -> RecordedGraph:
    return RecordedGraph([dataclasses.replace(r, **changes) if r is old else r for r in graph.resources])


def test_the_rotation_check_fails_on_each_planted_mistake(plans: dict[str, Plan], rotating: Graph) -> None:
    # GIVEN staging's plan and a rotation in progress, each planted with one mistake
    plan = plans["staging"]
    (group,) = plan.of_type(CACHE_REPLICATION_GROUP)
    # The API's task: it reads the AUTH token (the export worker's does not).
    (task,) = [t for t in plan.of_type(TASK_DEFINITION) if t.inputs["family"].endswith("-api")]
    secret = next(s for s in plan.of_type(SECRET) if "redis-auth-token" in s.inputs["name"])
    rotating_group = rotating.one(CACHE_REPLICATION_GROUP)
    planted = {
        # What this program did before: ROTATE for good, so a rotation never finished.
        "rotate left in place": _with(
            plan, group, inputs={**group.inputs, "authTokenUpdateStrategy": "ROTATE"}
        ),
        # ... and one token under a name with no generation, so nothing could start a rotation.
        "no generation": _with(
            plan, secret, inputs={**secret.inputs, "name": "notes/staging/redis-auth-token"}
        ),
        "set during step 1": _with(
            rotating, rotating_group, inputs={**rotating_group.inputs, "authTokenUpdateStrategy": "SET"}
        ),
        "task before the group": _with(
            plan, task, dependencies=[u for u in task.dependencies if u != group.urn]
        ),
    }
    expected = {
        "rotate left in place": f"{group.urn}: authTokenUpdateStrategy=ROTATE with no rotation pending",
        "no generation": f"{group.urn}: token secret notes/staging/redis-auth-token has no generation",
        "set during step 1": f"{rotating_group.urn}: authTokenUpdateStrategy=SET while",
        "task before the group": f"{task.urn}: may start before {group.urn}",
    }
    # WHEN the check runs on each  THEN it reports that mistake, naming the resource
    for what, graph in planted.items():
        found = auth_rotation_problems(graph)
        assert len(found) == 1 and found[0].startswith(expected[what]), f"{what}: {found}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"cacheAuthTokenGeneration": 2, "cacheAuthTokenPreviousGeneration": 2},
            "Pulumi.staging.yaml: notes-platform:cacheAuthTokenPreviousGeneration: 2 must be below "
            "cacheAuthTokenGeneration (2)",
        ),
        (
            # Going back to an older token while the newer one is still accepted.
            {"cacheAuthTokenGeneration": 1, "cacheAuthTokenPreviousGeneration": 2},
            "notes-platform:cacheAuthTokenPreviousGeneration: 2 must be below cacheAuthTokenGeneration (1)",
        ),
        ({"cacheAuthTokenGeneration": 0}, "notes-platform:cacheAuthTokenGeneration:"),
        ({"cacheAuthTokenPreviousGeneration": 0}, "notes-platform:cacheAuthTokenPreviousGeneration:"),
    ],
)
def test_the_schema_refuses_an_impossible_rotation_step(changes: dict[str, Any], message: str) -> None:
    # GIVEN staging's stack file with a planted rotation step
    values = read_stack_file("staging")
    values.update({f"notes-platform:{key}": value for key, value in changes.items()})
    # WHEN it is loaded  THEN the error names the file and the key
    with pytest.raises(StackConfigError) as caught:
        load(values, "staging")
    assert message in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("generation", "previous"), [(2, 1), (2, None), (5, 3)])
def test_the_schema_accepts_each_step_of_a_rotation(generation: int, previous: int | None) -> None:
    # GIVEN staging's stack file at a step of a rotation  WHEN it is loaded
    values = read_stack_file("staging")
    values["notes-platform:cacheAuthTokenGeneration"] = generation
    if previous is not None:
        values["notes-platform:cacheAuthTokenPreviousGeneration"] = previous
    cache = load(values, "staging").cache
    # THEN the cache section carries it to RedisCache
    assert (cache.auth_token_generation, cache.auth_token_previous_generation) == (generation, previous)
