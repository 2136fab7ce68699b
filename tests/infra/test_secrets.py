"""GeneratedSecret under mocks: what is generated, where it is stored, how it is encrypted."""

from __future__ import annotations

import string
from typing import Any

import pulumi
import pytest

from infra.secrets import URI_SAFE_SPECIAL, GeneratedSecret, GeneratedSecretArgs
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
        ({"recovery_window_days": 0}, "7 to 30"),
        ({"recovery_window_days": 31}, "7 to 30"),
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
