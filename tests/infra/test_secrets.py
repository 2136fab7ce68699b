"""GeneratedSecret under mocks: what is generated, where it is stored, how it is encrypted."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import pulumi
import pytest

from infra.secrets import INITIAL_STAGE, URI_SAFE_SPECIAL, GeneratedSecret, GeneratedSecretArgs
from notes_platform.graph.mocks import RecordedGraph
from notes_platform.graph.plan import Plan
from stacks.config import StackConfig, StackConfigError, load, read_stack_file
from tests.infra.harness import Graph, run
from tests.type_tokens import RANDOM_PASSWORD, SECRET, SECRET_VERSION

KEY = "arn:aws:kms:eu-west-1:123456789012:key/secrets"


def args(**overrides: Any) -> GeneratedSecretArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "purpose": "jwt-signing-key",
        "description": "signing key",
        "kms_key_arn": KEY,
        "recovery_window_days": 7,
    }
    values.update(overrides)
    return GeneratedSecretArgs(**values)


def alphabet(inputs: dict[str, Any]) -> set[str]:
    """Every character a RandomPassword with these recorded inputs can produce."""
    chars = set(string.ascii_letters + string.digits)
    if inputs.get("special"):
        chars |= set(inputs.get("overrideSpecial") or string.punctuation)
    return chars


@pytest.fixture(scope="module")
def graph() -> Graph:
    def program() -> Any:
        secret = GeneratedSecret("staging-jwt", args())
        return {"arn": secret.arn, "value": pulumi.Output.unsecret(secret.value)}

    return run(program)


@pytest.fixture(scope="module")
def special_graph() -> Graph:
    return run(lambda: GeneratedSecret("staging-token", args(purpose="token", special=True)).arn)


def test_component_owns_the_trio(graph: Graph) -> None:
    # GIVEN a GeneratedSecret  WHEN it is registered
    component = graph.one("notes:infra:GeneratedSecret")
    # THEN the password, the secret and its version are its children, named after it
    children = {r.type: r for r in graph.children_of(component.urn)}
    assert set(children) == {RANDOM_PASSWORD, SECRET, SECRET_VERSION}, (
        f"{component.urn}: children {list(children)}"
    )
    for child in children.values():
        assert child.name.startswith("staging-jwt-"), f"{child.urn}: not named after the component"


def test_password_has_no_special_characters_by_default(graph: Graph) -> None:
    # GIVEN default args  WHEN the password is generated
    password = graph.one(RANDOM_PASSWORD)
    # THEN it is 64 letters and digits, with all three classes present
    assert password.inputs["length"] == 64, f"{password.urn}: length {password.inputs['length']}"
    assert password.inputs["special"] is False, f"{password.urn}: special characters enabled"
    assert alphabet(password.inputs) == set(string.ascii_letters + string.digits), password.urn
    for key in ("minLower", "minUpper", "minNumeric"):
        assert password.inputs[key] == 1, f"{password.urn}: {key}={password.inputs.get(key)}"


def test_secret_is_named_per_environment_and_encrypted(graph: Graph) -> None:
    # GIVEN environment staging and purpose jwt-signing-key  WHEN the secret is registered
    secret = graph.one(SECRET)
    # THEN it is notes/staging/jwt-signing-key, under the customer key, with the recovery window
    assert secret.inputs["name"] == "notes/staging/jwt-signing-key", f"{secret.urn}: {secret.inputs['name']}"
    assert secret.inputs["kmsKeyId"] == KEY, f"{secret.urn}: kmsKeyId {secret.inputs.get('kmsKeyId')}"
    assert secret.inputs["recoveryWindowInDays"] == 7, f"{secret.urn}: {secret.inputs}"


def test_version_holds_the_generated_value_as_a_secret(graph: Graph) -> None:
    # GIVEN the trio  WHEN the version is registered
    version = graph.one(SECRET_VERSION)
    password, secret = graph.one(RANDOM_PASSWORD), graph.one(SECRET)
    # THEN its string is marked secret, comes from the password and goes into the secret
    assert version.inputs["secretString"] == "[secret]", f"{version.urn}: secretString not secret"
    assert password.urn in version.property_dependencies["secretString"], f"{version.urn}: not the password"
    assert secret.urn in version.property_dependencies["secretId"], f"{version.urn}: not in {secret.urn}"


def test_attributes_resolve(graph: Graph) -> None:
    # GIVEN the component  WHEN its outputs resolve
    # THEN arn is the secret's ARN and value the generated password
    assert ":secretsmanager:" in graph.result["arn"], graph.result
    assert graph.result["value"], "value resolved empty"


def test_opting_into_special_characters_uses_uri_safe_ones(special_graph: Graph) -> None:
    # GIVEN special=True and no override  WHEN the password is generated
    password = special_graph.one(RANDOM_PASSWORD)
    # THEN only the URI-unreserved punctuation can appear
    assert password.inputs["special"] is True, password.urn
    assert password.inputs["overrideSpecial"] == URI_SAFE_SPECIAL, f"{password.urn}: {password.inputs}"
    assert not alphabet(password.inputs) - set(string.ascii_letters + string.digits + "-_.~"), password.urn


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"length": 31}, "at least 32"),
        ({"special": True, "override_special": "!@#", "forbidden_characters": '/"@'}, "'@'"),
        ({"special": True, "override_special": ""}, "non-empty override_special"),
        ({"purpose": "Jwt Key"}, "kebab-case"),
        ({"recovery_window_days": 6}, "7 to 30 days, or 0 to delete at once"),
        ({"recovery_window_days": 31}, "7 to 30 days, or 0 to delete at once"),
    ],
)
def test_impossible_arguments_fail_before_registration(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args AWS or the consumer would reject  WHEN the component is built
    registered: list[str] = []

    def program() -> None:
        GeneratedSecret("bad", args(**overrides))
        registered.append("constructed")

    # THEN it raises naming what to change, and nothing is registered
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run(program)
    assert not registered, f"constructed with {overrides}"


def test_a_secret_may_be_deleted_at_once() -> None:
    # GIVEN recovery_window_days=0 (a disposable stack)  WHEN the secret is registered
    forced = run(lambda: GeneratedSecret("staging-forced", args(recovery_window_days=0)).arn)
    secret = forced.one(SECRET)
    # THEN the provider gets 0, which it sends as ForceDeleteWithoutRecovery on delete
    assert secret.inputs["recoveryWindowInDays"] == 0, f"{secret.urn}: {secret.inputs}"


def test_a_rotated_secret_keeps_its_first_version_out_of_the_rotations_way() -> None:
    # GIVEN a secret a rotation function owns after its first value  WHEN it is registered
    rotated = run(lambda: GeneratedSecret("staging-rotated", args(rotated=True)).arn)
    version = rotated.one(SECRET_VERSION)
    # THEN its version keeps a label of its own and follows neither the value nor the labels
    assert version.inputs["versionStages"] == ["AWSCURRENT", INITIAL_STAGE], version.inputs
    assert sorted(version.ignore_changes) == ["secretString", "versionStages"]
    # AND a plain secret's version is the provider's default (AWSCURRENT moves to it)
    plain = run(lambda: GeneratedSecret("staging-plain", args()).arn).one(SECRET_VERSION)
    assert "versionStages" not in plain.inputs or plain.inputs["versionStages"] is None
    assert plain.ignore_changes == []


def test_an_exempt_secret_says_why_in_its_tag() -> None:
    # GIVEN a secret rotated by new generations  WHEN it is registered
    exempt = run(lambda: GeneratedSecret("staging-gen", args(rotation_exempt="new generation")).arn)
    # THEN its RotationExempt tag carries the reason (the pack's secret-rotated rule reads it)
    assert exempt.one(SECRET).inputs["tags"] == {"RotationExempt": "new generation"}


def test_a_secret_rotated_later_says_why_not_yet() -> None:
    # GIVEN a secret whose rotation starts once its users exist  WHEN it is registered
    graph = run(lambda: GeneratedSecret("staging-later", args(rotated=True, rotation_exempt="not yet")).arn)
    # THEN it carries the reason and its version is already kept out of the rotation's way
    assert graph.one(SECRET).inputs["tags"] == {"RotationExempt": "not yet"}
    assert sorted(graph.one(SECRET_VERSION).ignore_changes) == ["secretString", "versionStages"]


# --- destroying and creating a stack again ------------------------------------------------


def protects_data(config: StackConfig) -> bool:
    """The stack schema's judgement (stacks/config.py): a stack whose database or cache is
    protected is kept, not destroyed and created again."""
    return config.docdb.deletion_protection or config.docdb.protect or config.cache.protect


def secret_name_reuse_problems(graph: RecordedGraph, config: StackConfig) -> list[str]:
    """A stack that is destroyed and created again asks for its secrets' fixed names again: each
    must free its name when it is deleted (recoveryWindowInDays 0), or the new stack fails with
    "already scheduled for deletion" for up to 30 days. A stack that protects its data keeps
    every secret recoverable for 7 to 30 days instead."""
    disposable = not protects_data(config)
    problems = []
    for secret in graph.of_type(SECRET):
        window = secret.inputs.get("recoveryWindowInDays", 30)  # AWS's default when unset
        fixed = "name" in secret.inputs  # namePrefix would get a new name each time
        if disposable and fixed and window != 0:
            problems.append(
                f"{secret.urn}: {secret.inputs['name']} stays reserved {window} days after a destroy; "
                "this stack is created again"
            )
        if not disposable and window == 0:
            problems.append(f"{secret.urn}: deleted at once although the stack protects its data")
    return problems


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_both_stacks_can_be_destroyed_and_created_again(stack: str, plans: dict[str, Plan]) -> None:
    # GIVEN the recorded plan of a committed stack  WHEN its secrets are checked
    plan = plans[stack]
    # THEN staging's free their names at once and prod's stay recoverable
    assert plan.of_type(SECRET), f"{stack}: no secrets planned"
    assert secret_name_reuse_problems(plan, plan.config) == []


def test_the_name_reuse_check_fails_on_a_planted_window(plans: dict[str, Plan]) -> None:
    # GIVEN staging with one secret planted back to the 7 days it had, and prod with one at 0
    staging, prod = plans["staging"], plans["prod"]
    kept, forced = staging.of_type(SECRET)[0], prod.of_type(SECRET)[0]

    def planted(plan: Plan, secret: Any, days: int) -> RecordedGraph:
        changed = dataclasses.replace(secret, inputs={**secret.inputs, "recoveryWindowInDays": days})
        return RecordedGraph([changed if r is secret else r for r in plan.resources])

    # WHEN the check runs  THEN each names the secret
    assert secret_name_reuse_problems(planted(staging, kept, 7), staging.config) == [
        f"{kept.urn}: {kept.inputs['name']} stays reserved 7 days after a destroy; "
        "this stack is created again"
    ]
    assert secret_name_reuse_problems(planted(prod, forced, 0), prod.config) == [
        f"{forced.urn}: deleted at once although the stack protects its data"
    ]


def _stack(stack: str, **changes: Any) -> dict[str, Any]:
    values = read_stack_file(stack)
    values.update({f"notes-platform:{key}": value for key, value in changes.items()})
    return values


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        (
            "prod",
            {"secretsRecoveryWindowDays": 0},
            "Pulumi.prod.yaml: notes-platform:secretsRecoveryWindowDays: 0 deletes secrets at once, for "
            "stacks that protect no data (docdbDeletionProtection, docdbProtect, cacheProtect on here): "
            "keep 7 to 30 days",
        ),
        (
            "staging",
            {"secretsRecoveryWindowDays": 0, "docdbDeletionProtection": True},
            "(docdbDeletionProtection on here): keep 7 to 30 days",
        ),
        (
            "staging",
            {"secretsRecoveryWindowDays": 3},
            "Pulumi.staging.yaml: notes-platform:secretsRecoveryWindowDays: Secrets Manager allows 7 to 30 "
            "days, or 0 to delete at once",
        ),
        ("staging", {"secretsRecoveryWindowDays": 31}, "notes-platform:secretsRecoveryWindowDays:"),
    ],
)
def test_the_schema_refuses_a_recovery_window_the_stack_cannot_have(
    stack: str, changes: dict[str, Any], message: str
) -> None:
    # GIVEN a committed stack file with a planted recovery window  WHEN it is loaded
    with pytest.raises(StackConfigError) as caught:
        load(_stack(stack, **changes), stack)
    # THEN the error names the file and the key
    assert message in str(caught.value), str(caught.value)


def test_staging_deletes_its_secrets_at_once_and_prod_keeps_them() -> None:
    # GIVEN the committed stack files  WHEN they are loaded
    staging = load(read_stack_file("staging"), "staging")
    prod = load(read_stack_file("prod"), "prod")
    # THEN staging (nothing protected) frees its secrets' names at once; prod keeps 30 days
    assert (staging.secrets.recovery_window_days, protects_data(staging)) == (0, False)
    assert (prod.secrets.recovery_window_days, protects_data(prod)) == (30, True)
