"""The least-privilege database user in the planned stacks: the API's tasks create it before they
serve, with the master secret only ECS (the execution role) reads, and the worker starts after."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from stacks import outputs as out

STACKS = ("staging", "prod")


def _one(plan: Plan, type_token: str, name: str) -> Recorded:
    (found,) = [r for r in plan.of_type(type_token) if r.name == name]
    return found


def _containers(plan: Plan) -> dict[str, dict[str, Any]]:
    env = plan.config.general.environment
    task = _one(plan, "aws:ecs/taskDefinition:TaskDefinition", f"{env}-api-task")
    return {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}


@pytest.mark.parametrize("stack", STACKS)
def test_each_api_task_creates_the_app_user_before_the_api_starts(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the API's task definition
    plan = plans[stack]
    api, dbusers = _containers(plan)["api"], _containers(plan)["dbusers"]
    # THEN the API starts once dbusers exited 0, and dbusers is the same image's one-shot command
    assert api["dependsOn"] == [{"containerName": "dbusers", "condition": "SUCCESS"}]
    assert (dbusers["essential"], dbusers["command"]) == (False, ["python", "-m", "notes_api.dbusers"])
    assert dbusers["image"] == api["image"]
    # AND it reads the app secret by ARN and gets the master secret's value from ECS
    env = {e["name"]: e["value"] for e in dbusers["environment"]}
    assert env["NOTES_DOCDB_APP_SECRET_ARN"] == plan.outputs[out.DOCDB_APP_SECRET_ARN]
    assert env["NOTES_MONGODB_TLS_CA_FILE"] == "/etc/ssl/docdb/global-bundle.pem"
    master = plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    assert dbusers["secrets"] == [{"name": "NOTES_DOCDB_MASTER_SECRET", "valueFrom": master}]
    assert ":secret:rds!cluster-" in master


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_execution_role_reads_the_master_secret(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN a stack's plan  WHEN the roles' policies naming the master secret are listed
    # THEN they are the API task's execution role (the dbusers container) and the app user's
    # rotation function, which changes passwords as the master user; no task role, no container
    plan = plans[stack]
    env = plan.config.general.environment
    master = plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    policies = {p.name: p.inputs["policy"] for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")}
    readers = sorted(name for name, document in policies.items() if master in document)
    assert readers == [f"{env}-api-execution-policy", f"{env}-rotation-docdb-app-policy"], readers
    assert master not in json.dumps(_containers(plan)["api"])


@pytest.mark.parametrize("stack", STACKS)
def test_the_worker_starts_after_the_api_service(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the worker logs in as the user the API's init container creates
    plan = plans[stack]
    env = plan.config.general.environment
    api = _one(plan, "aws:ecs/service:Service", f"{env}-api-service")
    worker = _one(plan, "aws:ecs/service:Service", f"{env}-worker-service")
    # THEN its service waits for the API's (which is steady only once a task got past dbusers)
    assert api.urn in worker.dependencies, worker.dependencies
    assert api.inputs["waitForSteadyState"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_the_cluster_manages_its_master_password(plans: dict[str, Plan], stack: str) -> None:
    (cluster,) = plans[stack].of_type("aws:docdb/cluster:Cluster")
    assert cluster.inputs["manageMasterUserPassword"] is True, cluster.urn
    assert "masterPassword" not in cluster.inputs, cluster.urn
    names = {s.inputs["name"] for s in plans[stack].of_type("aws:secretsmanager/secret:Secret")}
    env = plans[stack].config.general.environment
    assert f"notes/{env}/docdb-app" in names
    assert not {f"notes/{env}/docdb-uri", f"notes/{env}/docdb-master"} & names, names
