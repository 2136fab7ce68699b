"""The stack's rotations under mocks with the committed prod config: the JWT key set and the app's
DocumentDB user rotated by our functions every secretsRotationDays, the master secret by
DocumentDB's managed rotation on the same schedule, all in order and within the policy pack's
rules. ``stack_rotations`` runs here after the foundation and the data tier; stacks/app.py runs it
after the compute tier too, which tests/stacks/test_stacks.py checks on the whole stacks."""

from __future__ import annotations

from typing import Any

import pytest

from notes_platform.checks import ordering
from notes_platform.checks.policy_pack import evaluate
from notes_platform.graph.plan import engine_config
from stacks.config import PROJECT, load, read_stack_file
from stacks.rotations import ANYWHERE, https_egress_cidr, stack_rotations
from stacks.tiers import data_tier, foundation
from tests.infra.harness import Graph, run
from tests.type_tokens import INGRESS_RULE, LAMBDA_FUNCTION, LAMBDA_PERMISSION, SECRET, SECRET_ROTATION


def _plan(stack: str) -> tuple[Graph, Any]:
    values = read_stack_file(stack)
    config = load(values, stack)

    def program() -> Any:
        base = foundation(config)
        # Without the compute tier: nothing stands for the users here (stacks/app.py passes the
        # API service or the release), so the app user's rotation waits for nothing more.
        return stack_rotations(base, data_tier(base), users_ready=[]).alarm_arns

    graph = run(program, stack=stack, region=config.region, config=engine_config(values), project=PROJECT)
    return graph, config


@pytest.fixture(scope="module")
def prod() -> tuple[Graph, Any]:
    return _plan("prod")


def _rotation_of(graph: Graph, secret_urn: str) -> Any:
    found = [
        r for r in graph.of_type(SECRET_ROTATION) if secret_urn in r.property_dependencies.get("secretId", [])
    ]
    assert len(found) == 1, f"one rotation of {secret_urn}: {[r.urn for r in found]}"
    return found[0]


def test_the_jwt_and_app_secrets_rotate_with_our_functions_every_configured_days(
    prod: tuple[Graph, Any],
) -> None:
    # GIVEN prod planned with its rotations
    graph, config = prod
    secrets = {r.inputs["name"]: r for r in graph.of_type(SECRET)}
    functions = {r.inputs["name"]: r for r in graph.of_type(LAMBDA_FUNCTION)}
    # THEN the JWT key set and the app's DocumentDB secret each rotate with their function
    for purpose, name in (("jwt-signing-key", "jwt"), ("docdb-app", "docdb-app")):
        rotation = _rotation_of(graph, secrets[f"notes/prod/{purpose}"].urn)
        function = functions[f"notes-prod-rotate-{name}"]
        assert rotation.property_dependencies["rotationLambdaArn"] == [function.urn]
        assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": config.secrets.rotation_days}


def test_the_master_secret_rotates_by_documentdb_on_the_same_schedule(prod: tuple[Graph, Any]) -> None:
    graph, config = prod
    managed = [r for r in graph.of_type(SECRET_ROTATION) if "rotationLambdaArn" not in r.inputs]
    assert len(managed) == 1
    assert managed[0].inputs["rotationRules"] == {"automaticallyAfterDays": config.secrets.rotation_days}
    assert any("aws:docdb/cluster:Cluster" in urn for urn in managed[0].property_dependencies["secretId"])


def test_the_functions_reach_secrets_manager_inside_the_vpc_and_documentdb_admits_one(
    prod: tuple[Graph, Any],
) -> None:
    graph, config = prod
    assert "secretsmanager" in config.network.interface_endpoints
    https = [r for r in graph.resources if r.name.endswith("-out-https") and "rotation" in r.name]
    assert {r.inputs["cidrIpv4"] for r in https} == {config.network.cidr}
    admitted = [r for r in graph.of_type(INGRESS_RULE) if "rotation" in r.name]
    assert [r.name for r in admitted] == ["prod-rotation-docdb-app-docdb-in-rotation"]


def test_every_rotation_waits_for_its_permission_and_the_pack_finds_nothing_to_say(
    prod: tuple[Graph, Any],
) -> None:
    graph, _ = prod
    assert len(graph.of_type(LAMBDA_PERMISSION)) == 2
    assert [f for f in ordering.check(graph.resources) if "secretRotation" in f.urn] == []
    rules = {"lambda-logs-encrypted", "lambda-role-scoped-resources", "log-group-kms-encrypted"}
    assert [v for v in evaluate(graph.resources, "prod") if v.policy in rules] == []
    rotated = {v.urn for v in evaluate(graph.resources, "prod") if v.policy == "secret-rotated"}
    assert not [urn for urn in rotated if "jwt-signing-key" in urn or "docdb-app" in urn], rotated


def test_without_a_secrets_manager_endpoint_the_functions_go_out_through_nat() -> None:
    assert https_egress_cidr("10.0.0.0/16", ["ecr.api", "logs"]) == ANYWHERE
    assert https_egress_cidr("10.0.0.0/16", ["secretsmanager"]) == "10.0.0.0/16"
