"""Prod's first deploy: its repository exists before any task asks it for an image.

Prod never builds (``imageBuild: false``); it deploys a digest promoted into its own repository.
On the first deploy nothing has been promoted yet, so the stack creates everything but the
service, and the service comes with the next deploy, once ``imageDigest`` names an image the
repository holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from notes_platform.checks.policy_pack import PackConfig, evaluate
from notes_platform.graph.plan import Plan, run_plan
from stacks import outputs as out
from stacks.config import ROOT, StackConfigError
from stacks.tiers import NO_USERS_YET
from tests.type_tokens import (
    DASHBOARD,
    ECR_REPOSITORY,
    ECS_SERVICE,
    IMAGE_BUILD,
    METRIC_ALARM,
    S3_BUCKET,
    SECRET,
    SQS_QUEUE,
    TASK_DEFINITION,
)


def _prod_without(tmp_path: Path, *keys: str, **values: object) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    for key in keys:
        document["config"].pop(f"notes-platform:{key}")
    document["config"].update({f"notes-platform:{k}": v for k, v in values.items()})
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump(document))
    return tmp_path


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return run_plan("prod", _prod_without(tmp_path_factory.mktemp("first"), "imageDigest"))


def test_the_first_deploy_creates_the_repository_and_no_service(first: Plan, plans: dict[str, Plan]) -> None:
    # GIVEN prod with nothing promoted yet / WHEN it is planned
    # THEN the repository is there, and no build, task definition or service
    assert len(first.of_type(ECR_REPOSITORY)) == 1
    for absent in (IMAGE_BUILD, TASK_DEFINITION, ECS_SERVICE, DASHBOARD):
        assert first.of_type(absent) == [], absent
    # AND everything else of the promoted stack is, so the second deploy only adds the service
    full = plans["prod"]
    # (and the app user's rotation: nothing creates that user before the service runs)
    # (the load balancer's and the queues' alarms are there already; the worker's tasks are not)
    parts = (
        "ApiService",
        "Dashboard",
        "ServiceAlarms",
        "WorkerService",
        "worker-alarms-worker-",
        "rotation-docdb-app",
    )
    service_parts = {r.urn for r in full.resources if any(part in r.urn for part in parts)}
    assert {r.urn for r in first.resources} == {r.urn for r in full.resources} - service_parts
    # AND the data tier's alarms still watch the database and the cache from day one
    assert {a.name for a in first.of_type(METRIC_ALARM) if "docdb" in a.name or "redis" in a.name}
    # AND the export queues and bucket are there, with no worker (it runs the API's image)
    assert len(first.of_type(SQS_QUEUE)) == 2 and [b for b in first.of_type(S3_BUCKET) if "exports" in b.name]


def test_the_first_deploy_passes_the_policy_pack(first: Plan) -> None:
    # GIVEN prod with nothing promoted yet / WHEN the pack runs over its plan with prod's settings
    # THEN nothing blocks it: the load balancer and the queues are alarmed before the service runs
    assert evaluate(first.resources, stack="prod", config=PackConfig.for_stack("prod")) == []


def test_the_first_deploy_says_why_the_app_user_does_not_rotate_yet(
    first: Plan, plans: dict[str, Plan]
) -> None:
    # GIVEN prod with nothing promoted yet / WHEN it is planned
    [secret] = [s for s in first.of_type(SECRET) if s.name == "prod-docdb-app-secret"]
    # THEN its app user's secret carries the reason it has no rotation yet (the pack accepts it)
    assert secret.inputs["tags"] == {"RotationExempt": NO_USERS_YET}
    # AND the stack that runs the service rotates it and carries no such tag
    [rotated] = [s for s in plans["prod"].of_type(SECRET) if s.name == "prod-docdb-app-secret"]
    assert "tags" not in rotated.inputs or not rotated.inputs["tags"]


def test_the_first_deploy_outputs_the_repository_and_no_image(first: Plan) -> None:
    assert out.ECR_REPOSITORY_URL in first.outputs
    assert {out.EXPORT_QUEUE_URL, out.EXPORT_BUCKET} <= set(first.outputs)
    for absent in (
        out.IMAGE_DIGEST,
        out.IMAGE_REF,
        out.CLUSTER_NAME,
        out.SERVICE_NAME,
        out.WORKER_SERVICE_NAME,
        out.DASHBOARD_URL,
    ):
        assert absent not in first.outputs, absent


def test_a_digest_in_a_stack_that_builds_is_refused(tmp_path: Path) -> None:
    # GIVEN a stack file that both builds and names a promoted digest
    project = _prod_without(tmp_path, imageBuild=True)
    # WHEN it is planned / THEN the schema says which key to change
    with pytest.raises(StackConfigError, match=r"notes-platform:imageDigest: a stack that builds deploys"):
        run_plan("prod", project)
