"""The bootstrap program planned offline: its snapshot, its policy pack, and the trust it grants."""

from __future__ import annotations

import copy
import difflib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.bootstrap.github_oidc import AUD_KEY, SUB_KEY
from notes_platform.checks.policy_pack import blocking, evaluate
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import ProjectPlan
from policies.notes_policies.identity import trust_problems
from stacks.bootstrap import outputs as out
from stacks.bootstrap.config import DIRECTORY, load, read_stack_file
from stacks.config import ROOT

SNAPSHOT = ROOT / "tests" / "snapshots" / "bootstrap.json"
ROLE = "aws:iam/role:Role"


def test_plan_matches_the_committed_snapshot(bootstrap_plan: ProjectPlan) -> None:
    # GIVEN the committed graph WHEN the program is planned again THEN nothing drifted
    expected, actual = SNAPSHOT.read_text(), bootstrap_plan.to_json()
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), "committed", "planned", lineterm=""
        )
        pytest.fail(
            "bootstrap plan drifted; if intended, run `make snapshots`\n" + "\n".join(list(diff)[:80])
        )


def test_the_policy_pack_passes_with_every_rule_mandatory(bootstrap_plan: ProjectPlan) -> None:
    # GIVEN policies/config/bootstrap.json (every rule mandatory) WHEN the pack runs over the plan
    violations = evaluate(bootstrap_plan.resources, "bootstrap")
    # THEN nothing is reported
    assert violations == [], violations


def _roles(plan: ProjectPlan) -> dict[str, dict[str, object]]:
    return {r.inputs["name"]: json.loads(r.inputs["assumeRolePolicy"]) for r in plan.of_type(ROLE)}


def test_each_role_trusts_exactly_its_repository_and_environment(bootstrap_plan: ProjectPlan) -> None:
    # GIVEN the repository named in the bootstrap stack file
    repository = load(read_stack_file("bootstrap"), "bootstrap").github_repository
    # WHEN the recorded trust policies are read
    conditions = {
        name: policy["Statement"][0]["Condition"]["StringEquals"]  # type: ignore[index]
        for name, policy in _roles(bootstrap_plan).items()
    }
    # THEN each deploy role trusts only its environment's jobs, the preview role pull requests
    # (and main's drift preview), every one with the sts.amazonaws.com audience
    assert conditions == {
        "github-notes-deploy-staging": {
            AUD_KEY: "sts.amazonaws.com",
            SUB_KEY: f"repo:{repository}:environment:staging",
        },
        "github-notes-deploy-prod": {
            AUD_KEY: "sts.amazonaws.com",
            SUB_KEY: f"repo:{repository}:environment:prod",
        },
        "github-notes-preview": {
            AUD_KEY: "sts.amazonaws.com",
            SUB_KEY: [f"repo:{repository}:pull_request", f"repo:{repository}:ref:refs/heads/main"],
        },
    }
    assert all(trust_problems(policy) == [] for policy in _roles(bootstrap_plan).values())


def _with_trust(plan: ProjectPlan, name: str, edit: object) -> list[Recorded]:
    resources = copy.deepcopy(plan.resources)
    for resource in resources:
        if resource.type == ROLE and resource.inputs["name"] == name:
            policy = json.loads(resource.inputs["assumeRolePolicy"])
            edit(policy["Statement"][0]["Condition"])  # type: ignore[operator]
            resource.inputs["assumeRolePolicy"] = json.dumps(policy)
    return resources


def _wildcard_sub(condition: dict[str, dict[str, object]]) -> None:
    del condition["StringEquals"][SUB_KEY]
    condition["StringLike"] = {SUB_KEY: "repo:example-org/notes-platform:*"}


def _no_aud(condition: dict[str, dict[str, object]]) -> None:
    del condition["StringEquals"][AUD_KEY]


def _no_sub(condition: dict[str, dict[str, object]]) -> None:
    del condition["StringEquals"][SUB_KEY]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_wildcard_sub, "GitHub OIDC trust policies must name each sub claim exactly, without wildcards."),
        (_no_aud, "GitHub OIDC trust policies must require aud sts.amazonaws.com with StringEquals."),
        (_no_sub, "GitHub OIDC trust policies must require the sub claim with StringEquals."),
    ],
)
def test_a_widened_trust_policy_fails_the_plan(
    bootstrap_plan: ProjectPlan, edit: object, expected: str
) -> None:
    # GIVEN the recorded graph with prod's deploy role trust planted wider
    resources = _with_trust(bootstrap_plan, "github-notes-deploy-prod", edit)
    # WHEN the pack runs with the bootstrap settings
    found = blocking(evaluate(resources, "bootstrap"))
    # THEN the trust rule blames that role, mandatory
    assert [(v.policy, v.message) for v in found] == [("github-oidc-trust-scoped", expected)]
    assert found[0].urn.endswith("::deploy-prod-role")


def test_state_is_protected_and_ecr_stays_in_the_environment_stacks(bootstrap_plan: ProjectPlan) -> None:
    protected = {r.type for r in bootstrap_plan.resources if r.protect}
    assert protected == {"aws:s3/bucket:Bucket", "aws:kms/key:Key"}
    # Issue 11's design: each environment stack owns its repository.
    assert not [r for r in bootstrap_plan.resources if r.type.startswith("aws:ecr/")]


def test_outputs_give_what_the_workflows_and_pulumi_login_need(bootstrap_plan: ProjectPlan) -> None:
    outputs = bootstrap_plan.outputs
    assert set(outputs[out.DEPLOY_ROLE_ARNS]) == {"staging", "prod"}
    # The role's path is part of its ARN: what `vars.AWS_DEPLOY_ROLE_ARN` must hold.
    assert (
        outputs[out.DEPLOY_ROLE_ARNS]["prod"] == "arn:aws:iam::123456789012:role/ci/github-notes-deploy-prod"
    )
    assert outputs[out.STATE_BACKEND_URL] == "s3://notes-platform-state-123456789012"
    assert outputs[out.SECRETS_PROVIDER] == "awskms://alias/notes-platform-state?region=eu-west-1"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notes_platform.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plan_command_plans_the_bootstrap_project() -> None:
    # WHEN `notes-platform plan bootstrap --project-dir bootstrap` runs
    result = _cli("plan", "bootstrap", "--project-dir", "bootstrap", "--quiet")
    # THEN it plans the bootstrap project cleanly (exit 0)
    assert result.returncode == 0, result.stderr
    assert "planned bootstrap: 17 resources" in result.stdout


def test_plan_command_refuses_a_bad_bootstrap_stack_file(tmp_path: Path) -> None:
    # GIVEN a copy of the bootstrap project whose stack file trusts a wildcard repository
    shutil.copy(DIRECTORY / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (DIRECTORY / "Pulumi.bootstrap.yaml").read_text()
    (tmp_path / "Pulumi.bootstrap.yaml").write_text(
        text.replace("example-org/notes-platform", "example-org/*")
    )
    # WHEN it is planned THEN exit 2, naming the file and the key, before anything is registered
    result = _cli("plan", "bootstrap", "--project-dir", str(tmp_path))
    assert result.returncode == 2
    assert (
        "bootstrap/Pulumi.bootstrap.yaml: notes-platform-bootstrap:githubRepository: expected OWNER/REPO"
        in result.stderr
    )
