"""Keys: one rotated key per purpose, aliases, and key policies that admit only what needs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.kms import PURPOSES, Keys, KeysArgs
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import KMS_ALIAS, KMS_KEY

NAME = "staging-keys"
REGION = "eu-west-1"
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"


def _args(**overrides: Any) -> KeysArgs:
    values: dict[str, Any] = {"environment": "staging", "region": REGION, "account_id": ACCOUNT_ID}
    return KeysArgs(**{**values, **overrides})


@pytest.fixture(scope="module")
def built() -> tuple[Graph, Keys]:
    holder: dict[str, Keys] = {}

    def program() -> Any:
        keys = Keys(NAME, _args())
        holder["keys"] = keys
        return {purpose: keys.arn(purpose) for purpose in PURPOSES}

    graph = run(program)
    return graph, holder["keys"]


@pytest.fixture(scope="module")
def graph(built: tuple[Graph, Keys]) -> Graph:
    return built[0]


def _keys(graph: Graph) -> dict[str, Recorded]:
    return {r.name.removeprefix(f"{NAME}-"): r for r in graph.of_type(KMS_KEY)}


def _statements(key: Recorded) -> list[dict[str, Any]]:
    policy = json.loads(key.inputs["policy"])
    assert policy["Version"] == "2012-10-17", key.urn
    statements: list[dict[str, Any]] = policy["Statement"]
    return statements


def _service_statements(key: Recorded) -> list[dict[str, Any]]:
    return [s for s in _statements(key) if "Service" in s["Principal"]]


def test_one_key_per_purpose_rotated_with_the_longest_deletion_window(graph: Graph) -> None:
    # GIVEN Keys with default args / WHEN built / THEN each purpose has one rotated key, 30-day window
    keys = _keys(graph)
    assert sorted(keys) == sorted(PURPOSES), [r.urn for r in keys.values()]
    for key in keys.values():
        assert key.inputs.get("enableKeyRotation") is True, f"{key.urn}: rotation off"
        assert key.inputs.get("deletionWindowInDays") == 30, f"{key.urn}: {key.inputs}"
        assert "staging" in key.inputs.get("description", ""), f"{key.urn}: description names no env"


def test_every_key_has_an_alias_naming_environment_and_purpose(graph: Graph) -> None:
    # GIVEN Keys / WHEN built / THEN alias/notes-<env>-<purpose> points at that purpose's key
    keys = _keys(graph)
    aliases = {r.inputs["name"]: r for r in graph.of_type(KMS_ALIAS)}
    assert sorted(aliases) == sorted(f"alias/notes-staging-{p}" for p in PURPOSES), list(aliases)
    for purpose, key in keys.items():
        alias = aliases[f"alias/notes-staging-{purpose}"]
        assert alias.property_dependencies.get("targetKeyId") == [key.urn], (
            f"{alias.urn} targets {alias.property_dependencies.get('targetKeyId')}, not {key.urn}"
        )


def test_the_account_root_administers_every_key(graph: Graph) -> None:
    # GIVEN Keys / WHEN built / THEN the first statement delegates the key to the account's IAM
    for key in _keys(graph).values():
        root = _statements(key)[0]
        assert root["Principal"] == {"AWS": ROOT}, f"{key.urn}: {root}"
        assert (root["Effect"], root["Action"], root["Resource"]) == ("Allow", "kms:*", "*"), key.urn
        assert "Condition" not in root, key.urn


def test_logs_key_admits_cloudwatch_logs_of_this_account_and_region_only(graph: Graph) -> None:
    # GIVEN Keys in eu-west-1 / WHEN built / THEN the logs key lets logs.eu-west-1 encrypt log
    # groups of this account and region, and nothing else
    key = _keys(graph)["logs"]
    (statement,) = _service_statements(key)
    assert statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}, key.urn
    assert statement["Effect"] == "Allow", key.urn
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(statement["Action"]), key.urn
    administrative = [
        a for a in statement["Action"] if a in ("*", "kms:*") or a.startswith(("kms:Create", "kms:Put"))
    ]
    assert not administrative, f"{key.urn}: CloudWatch Logs may {administrative}"
    assert statement["Condition"] == {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:*"}
    }, f"{key.urn}: {statement['Condition']}"


def test_sns_key_lets_cloudwatch_alarms_publish_to_encrypted_topics(graph: Graph) -> None:
    # GIVEN Keys / WHEN built / THEN cloudwatch.amazonaws.com may decrypt and make data keys
    key = _keys(graph)["sns"]
    (statement,) = _service_statements(key)
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, key.urn
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"], key.urn


def test_sns_key_lets_the_named_services_publish_to_encrypted_topics() -> None:
    # GIVEN the stack's publishers besides CloudWatch / WHEN built / THEN one more statement on the
    # sns key names exactly them, with the two actions their guides ask for
    publishers = ("costalerts.amazonaws.com", "budgets.amazonaws.com", "backup.amazonaws.com")
    graph = run(lambda: Keys(NAME, _args(purposes=("sns",), sns_publishers=publishers)))
    key = graph.one(KMS_KEY)
    cloudwatch, services = _service_statements(key)
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}, key.urn
    assert services["Principal"] == {"Service": sorted(publishers)}, key.urn
    assert sorted(services["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"], key.urn
    assert services["Resource"] == "*" and services["Effect"] == "Allow", key.urn


def test_the_backup_key_keeps_the_default_policy_for_aws_backups_role(graph: Graph) -> None:
    # GIVEN Keys / WHEN built / THEN the backup key has one, leaving its use to the IAM role
    # AWS Backup assumes (its managed policy grants the KMS calls)
    key = _keys(graph)["backup"]
    assert [s["Sid"] for s in _statements(key)] == ["AccountRootAdministersAndDelegatesToIam"], key.urn
    assert "AWS Backup" in key.inputs["description"], key.urn


@pytest.mark.parametrize("purpose", [p for p in PURPOSES if p not in ("logs", "sns")])
def test_other_keys_admit_no_service_principal(graph: Graph, purpose: str) -> None:
    # GIVEN Keys / WHEN built / THEN keys used through the caller's IAM rights name nobody else
    key = _keys(graph)[purpose]
    assert [s["Principal"] for s in _statements(key)] == [{"AWS": ROOT}], f"{key.urn}: {_statements(key)}"


def test_keys_are_children_of_the_component(graph: Graph) -> None:
    # GIVEN Keys / WHEN built / THEN one notes:infra:Keys parents every key and alias
    component = graph.one("notes:infra:Keys", NAME)
    children = graph.children_of(component.urn)
    assert len(children) == 2 * len(PURPOSES), [c.urn for c in children]
    assert all(c.name.startswith(f"{NAME}-") for c in children), [c.urn for c in children]
    urns = [r.urn for r in graph.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"


def test_arn_hands_out_the_key_of_the_purpose(built: tuple[Graph, Keys]) -> None:
    # GIVEN Keys / WHEN arn(purpose) resolves / THEN it is that purpose's key ARN
    graph, _ = built
    arns: dict[str, str] = graph.result
    assert sorted(arns) == sorted(PURPOSES)
    for purpose, arn in arns.items():
        assert arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{NAME}-{purpose}-"), (purpose, arn)
    assert len(set(arns.values())) == len(PURPOSES), arns


def test_arn_of_an_unknown_purpose_is_an_error_naming_the_purposes(built: tuple[Graph, Keys]) -> None:
    # GIVEN Keys / WHEN asked for a purpose it does not have / THEN ValueError lists the valid ones
    _, keys = built
    with pytest.raises(ValueError, match=r"'s3'.*logs, secrets, docdb, cache, ecr, sns, exports, backup$"):
        keys.arn("s3")


@pytest.mark.parametrize("days", [6, 31])
def test_deletion_window_outside_what_kms_accepts_is_an_error(days: int) -> None:
    # GIVEN a deletion window KMS rejects / WHEN Keys is built / THEN ValueError names the range
    with pytest.raises(ValueError, match=rf"deletion_window_days={days}; KMS accepts 7 to 30"):
        run(lambda: Keys(NAME, _args(deletion_window_days=days)))


def test_a_scoped_subset_creates_only_those_keys_with_scoped_aliases() -> None:
    # GIVEN Keys for the edge: logs and sns only, in us-east-1, aliases scoped "edge"
    graph = run(
        lambda: Keys(
            "staging-edge-keys",
            _args(region="us-east-1", purposes=("logs", "sns"), alias_scope="edge"),
        )
    )
    # WHEN built / THEN exactly those two keys exist, with aliases that cannot collide with the
    # stack's own set when the stack also lives in us-east-1
    keys = {r.name.removeprefix("staging-edge-keys-"): r for r in graph.of_type(KMS_KEY)}
    assert sorted(keys) == ["logs", "sns"], [r.urn for r in keys.values()]
    aliases = sorted(r.inputs["name"] for r in graph.of_type(KMS_ALIAS))
    assert aliases == ["alias/notes-staging-edge-logs", "alias/notes-staging-edge-sns"], aliases
    # AND the logs key admits CloudWatch Logs of the keys' own region
    (statement,) = _service_statements(keys["logs"])
    assert statement["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}, keys["logs"].urn


def test_arn_of_a_purpose_left_out_names_the_purposes_there_are() -> None:
    # GIVEN Keys with logs and sns only / WHEN asked for the secrets key / THEN the error lists those two
    holder: dict[str, Keys] = {}

    def program() -> None:
        holder["keys"] = Keys(NAME, _args(purposes=("logs", "sns")))

    run(program)
    with pytest.raises(ValueError, match=r"'secrets'; purposes are logs, sns$"):
        holder["keys"].arn("secrets")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"purposes": ()}, r"purposes=\[\]"),
        ({"purposes": ("logs", "s3")}, r"purposes=\['logs', 's3'\]"),
        ({"purposes": ("logs", "logs")}, r"give each purpose once"),
        ({"alias_scope": "Edge"}, r"alias_scope='Edge'"),
        ({"sns_publishers": ("events.amazonaws.com",)}, r"sns_publishers=\['events.amazonaws.com'\]"),
        ({"sns_publishers": ("budgets.amazonaws.com",) * 2}, r"give each once"),
    ],
)
def test_impossible_purposes_or_scope_are_errors(overrides: dict[str, Any], message: str) -> None:
    # GIVEN purposes or an alias scope KMS or the aliases cannot take / WHEN built / THEN ValueError
    with pytest.raises(ValueError, match=message):
        run(lambda: Keys(NAME, _args(**overrides)))
