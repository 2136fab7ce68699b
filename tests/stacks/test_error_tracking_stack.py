"""Optional error tracking (Sentry) in the planned stacks: ``serviceSentryDsnSecretArn`` unset
changes nothing; set, the API's and the worker's containers (ECS tasks, or the chart's
Deployments on EKS) name the operator's secret and the deployed image as the release, their
roles read exactly that secret, and every offline check of ``notes-platform plan`` stays clean.
A secret ARN of the wrong shape or region stops the program, naming the key."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from notes_platform.checks import ordering, provider_rules, replacement, rotated_versions, secret_access
from notes_platform.checks.apimodels import check as api_model_check
from notes_platform.checks.policy_pack import evaluate
from notes_platform.graph.mocks import ACCOUNT_ID, RecordedGraph
from notes_platform.graph.plan import Plan, run_plan
from stacks import outputs as out
from stacks.compute import API_RELEASE
from stacks.config import PROJECT, ROOT, StackConfigError, load, read_stack_file
from stacks.error_tracking import KEY, STATEMENT_SID
from tests.charts.chart import WORKER, manifests, one
from tests.charts.chart import values as chart_values
from tests.conftest import pinned_image_tag
from tests.type_tokens import IAM_ROLE_POLICY, TASK_DEFINITION

ECS_STACKS = ("staging", "prod")
EKS_STACK = "staging-eks"
RELEASE = "kubernetes:helm.sh/v3:Release"
SENTRY = re.compile(r"NOTES_SENTRY_")
GET_SECRET = "secretsmanager:GetSecretValue"


def _dsn_secret_arn(region: str, env: str) -> str:
    """A complete secret ARN in the stack's region and (the mocks') account."""
    return f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:notes/{env}/sentry-dsn-AbC123"


def _stack_with_key(root: Path, stack: str) -> str:
    """Copy ``stack``'s committed file into ``root`` with the key set; the ARN it names."""
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    config = document["config"]
    arn = _dsn_secret_arn(config["aws:region"], config[f"{PROJECT}:environment"])
    config[f"{PROJECT}:{KEY}"] = arn
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return arn


@pytest.fixture(scope="module")
def with_sentry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Plan, str]]]:
    """Each stack planned with the key set: stack -> (plan, the ARN it names)."""
    with pinned_image_tag():
        planned = {}
        for stack in (*ECS_STACKS, EKS_STACK):
            root = tmp_path_factory.mktemp(stack)
            arn = _stack_with_key(root, stack)
            planned[stack] = (run_plan(stack, root), arn)
        yield planned


def _containers(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every container of every task definition, by ``<task definition>/<container>``."""
    found = {}
    for task in plan.of_type(TASK_DEFINITION):
        for container in json.loads(task.inputs["containerDefinitions"]):
            found[f"{task.name}/{container['name']}"] = container
    return found


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("environment") or []}


def _policies(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Every inline role policy's statements, by resource name."""
    return {p.name: json.loads(p.inputs["policy"])["Statement"] for p in plan.of_type(IAM_ROLE_POLICY)}


def _naming(statements: list[dict[str, Any]], arn: str) -> list[dict[str, Any]]:
    return [s for s in statements if arn in json.dumps(s["Resource"])]


def _release_values(plan: Plan) -> dict[str, Any]:
    [release] = [r for r in plan.of_type(RELEASE) if r.inputs.get("name") == API_RELEASE]
    values: dict[str, Any] = release.inputs["values"]
    return values


def _plan_findings(plan: Plan) -> list[Any]:
    """What `notes-platform plan` reports besides the tree: the policy pack, the AWS API model
    check, ordering, provider and replacement rules, secret access and rotated versions."""
    resources = plan.resources
    return [
        *evaluate(resources, plan.stack),
        *api_model_check(resources),
        *ordering.check(resources),
        *provider_rules.check(resources),
        *replacement.check(resources),
        *secret_access.check(resources),
        *rotated_versions.check(resources),
    ]


# --- unset: error tracking off ---------------------------------------------------------------


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_unset_no_container_gets_a_sentry_variable_and_no_role_reads_one(
    plans: dict[str, Plan], stack: str
) -> None:
    # GIVEN a committed stack file, which does not set the key
    plan = plans[stack]
    assert plan.config.service.sentry_dsn_secret_arn is None
    # THEN no container of any task has a NOTES_SENTRY_* variable
    for name, container in _containers(plan).items():
        assert not [v for v in _env(container) if SENTRY.match(v)], name
    # AND no role policy has the Sentry statement
    for name, statements in _policies(plan).items():
        assert STATEMENT_SID not in [s.get("Sid") for s in statements], name


def test_unset_on_eks_the_chart_gets_no_sentry_variable_and_no_pod_role_reads_one(eks_plan: Plan) -> None:
    # GIVEN staging-eks's committed file WHEN planned
    values = _release_values(eks_plan)
    # THEN neither the API's nor the worker's extra variables name Sentry
    assert not [v for v in values["config"]["extraEnv"] if SENTRY.match(v)]
    assert "extraEnv" not in values["worker"]
    # AND no pod role has the Sentry statement
    for name, statements in _policies(eks_plan).items():
        assert STATEMENT_SID not in [s.get("Sid") for s in statements], name


# --- set: the API and the worker read the operator's secret -----------------------------------


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_set_the_api_and_the_worker_name_the_secret_and_the_release(
    with_sentry: dict[str, tuple[Plan, str]], stack: str
) -> None:
    # GIVEN the stack file with serviceSentryDsnSecretArn set WHEN planned
    plan, arn = with_sentry[stack]
    env = plan.config.general.environment
    containers = _containers(plan)
    # THEN the API's and the worker's containers read that secret, report the image the stack
    # deploys as the release, and the stack's environment (both run with NOTES_ENV=production)
    expected = {
        "NOTES_SENTRY_DSN_SECRET_ARN": arn,
        "NOTES_SENTRY_RELEASE": f"notes-api@{plan.outputs[out.IMAGE_DIGEST]}",
        "NOTES_SENTRY_ENVIRONMENT": env,
    }
    assert plan.outputs[out.IMAGE_DIGEST].startswith("sha256:")
    for name in (f"{env}-api-task/api", f"{env}-worker-task/worker"):
        sentry = {k: v for k, v in _env(containers[name]).items() if SENTRY.match(k)}
        assert sentry == expected, name
    # AND no other container (the dbusers init container) gets them
    others = [n for n, c in containers.items() if SENTRY.search(json.dumps(c))]
    assert sorted(others) == [f"{env}-api-task/api", f"{env}-worker-task/worker"]


@pytest.mark.parametrize("stack", ECS_STACKS)
def test_set_both_task_roles_read_exactly_that_secret(
    plans: dict[str, Plan], with_sentry: dict[str, tuple[Plan, str]], stack: str
) -> None:
    # GIVEN the plans with and without the key
    plan, arn = with_sentry[stack]
    env = plan.config.general.environment
    policies, before = _policies(plan), _policies(plans[stack])
    statement = {"Sid": STATEMENT_SID, "Effect": "Allow", "Action": GET_SECRET, "Resource": arn}
    # THEN exactly the API's and the worker's task roles name the secret, in one statement each:
    # GetSecretValue on that ARN alone (no execution role, no KMS statement: the key is the operator's)
    readers = {name: _naming(statements, arn) for name, statements in policies.items()}
    assert {name: found for name, found in readers.items() if found} == {
        f"{env}-api-task-policy": [statement],
        f"{env}-worker-task-policy": [statement],
    }
    # AND it is the only change to any role policy of the stack
    assert {name: [s for s in found if s != statement] for name, found in policies.items()} == before


@pytest.mark.parametrize("stack", [*ECS_STACKS, EKS_STACK])
def test_set_the_plan_checks_stay_clean(with_sentry: dict[str, tuple[Plan, str]], stack: str) -> None:
    # GIVEN a stack planned with the key set WHEN checked as `notes-platform plan` checks it
    plan, _ = with_sentry[stack]
    # THEN nothing is reported: every *_SECRET_ARN variable is readable by its task role
    assert _plan_findings(plan) == []


def test_the_secret_access_check_sees_the_sentry_variable(with_sentry: dict[str, tuple[Plan, str]]) -> None:
    # GIVEN staging with the key set, and the API task role's Sentry statement taken away
    plan, arn = with_sentry["staging"]
    graph = RecordedGraph(copy.deepcopy(plan.resources))
    [policy] = [p for p in graph.of_type(IAM_ROLE_POLICY) if p.name == "staging-api-task-policy"]
    document = json.loads(policy.inputs["policy"])
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != STATEMENT_SID]
    policy.inputs["policy"] = json.dumps(document)
    # WHEN the secret-access check runs THEN it names the variable the API could not read
    findings = [f.message for f in secret_access.check(graph.resources)]
    assert len(findings) == 1, findings
    assert "'api' environment NOTES_SENTRY_DSN_SECRET_ARN" in findings[0]
    assert arn in findings[0]


def test_set_on_eks_the_chart_and_the_pod_roles_carry_it(with_sentry: dict[str, tuple[Plan, str]]) -> None:
    # GIVEN staging-eks with the key set WHEN planned
    plan, arn = with_sentry[EKS_STACK]
    values = _release_values(plan)
    expected = {
        "NOTES_SENTRY_DSN_SECRET_ARN": arn,
        "NOTES_SENTRY_RELEASE": f"notes-api@{values['image']['digest']}",
        "NOTES_SENTRY_ENVIRONMENT": "staging-eks",
    }
    # THEN the chart's API and worker get the variables through their extraEnv
    assert values["config"]["extraEnv"] == expected
    assert values["worker"]["extraEnv"] == expected
    # AND exactly the API's and the worker's pod roles read the secret, in their access policies
    statement = {"Sid": STATEMENT_SID, "Effect": "Allow", "Action": GET_SECRET, "Resource": arn}
    readers = {name: _naming(s, arn) for name, s in _policies(plan).items()}
    assert {name: found for name, found in readers.items() if found} == {
        "staging-eks-api-pod-identity-access": [statement],
        "staging-eks-worker-pod-identity-access": [statement],
    }
    # AND the chart renders them into both Deployments (its schema admits the names), not the Job
    rendered = copy.deepcopy(values)
    rendered["targetGroupBinding"]["targetGroupArn"] = chart_values("values-staging.yaml")[
        "targetGroupBinding"
    ]["targetGroupArn"]
    objects = manifests(rendered)
    for name in (API_RELEASE, WORKER):
        [container] = one(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert {k: v for k, v in env.items() if SENTRY.match(k)} == expected, name
    jobs = [o for o in objects if o["kind"] == "Job"]
    assert jobs and not [j for j in jobs if SENTRY.search(json.dumps(j))]


# --- the key's shape and region ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://abc@o1.ingest.sentry.io/1", "is not a complete Secrets Manager secret ARN"),
        # Partial: no hyphen and six characters, so an IAM Resource naming it would grant nothing.
        (f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT_ID}:secret:notes/prod/sentry", "not a complete"),
        (f"arn:aws:ssm:eu-west-1:{ACCOUNT_ID}:parameter/sentry-dsn-AbC123", "not a complete"),
        ("arn:aws:secretsmanager:eu-west-1:1234:secret:sentry-dsn-AbC123", "not a complete"),
        (
            f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:sentry-dsn-AbC123",
            "the secret is in us-east-1, not in the stack's region eu-west-1",
        ),
    ],
)
def test_a_bad_secret_arn_stops_the_program_naming_the_key(value: str, message: str) -> None:
    # GIVEN prod's stack file with a bad serviceSentryDsnSecretArn
    values = {**read_stack_file("prod"), f"{PROJECT}:{KEY}": value}
    # WHEN it is loaded THEN the error names the file and the key, and what is wrong
    with pytest.raises(StackConfigError) as caught:
        load(values, "prod")
    assert f"Pulumi.prod.yaml: {PROJECT}:{KEY}: " in str(caught.value)
    assert message in str(caught.value)


def test_the_committed_stack_files_leave_error_tracking_off() -> None:
    # GIVEN the committed stack files THEN none sets the key (prod shows it commented out)
    for stack in (*ECS_STACKS, EKS_STACK):
        assert f"{PROJECT}:{KEY}" not in read_stack_file(stack), stack
    assert f"# {PROJECT}:{KEY}: arn:aws:secretsmanager:" in (ROOT / "Pulumi.prod.yaml").read_text()
