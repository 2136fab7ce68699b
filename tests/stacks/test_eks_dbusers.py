"""The least-privilege database users on the EKS stack (Pulumi.staging-eks.yaml) planned whole: the
chart's dbusers hook Job is on with this stack's app and master secrets, its Pod Identity role is
bound to the Job's service account and reads exactly those two secrets, no other pod role reads the
master secret, and the release waits for the association."""

from __future__ import annotations

import copy
import json
from typing import Any

from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from stacks import outputs as out
from stacks.compute import API_RELEASE
from stacks.eks_dbusers import DBUSERS_SERVICE_ACCOUNT, dbusers_chart_values
from tests.charts.chart import manifests, one
from tests.charts.chart import values as chart_values
from tests.type_tokens import IAM_ROLE_POLICY

STACK = "staging-eks"
ENV = "staging-eks"
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def _release(plan: Plan) -> Recorded:
    [release] = [r for r in plan.of_type(RELEASE) if r.inputs.get("name") == API_RELEASE]
    return release


def _association(plan: Plan, component: str) -> Recorded:
    [association] = [a for a in plan.of_type(ASSOCIATION) if f"notes:infra:{component}$" in a.urn]
    return association


def _reads(plan: Plan, policy_name: str) -> list[str]:
    """The secrets a role policy allows GetSecretValue on."""
    [policy] = [p for p in plan.of_type(IAM_ROLE_POLICY) if p.name == policy_name]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    [read] = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    resources: list[str] = read["Resource"]
    return resources


def test_the_dbusers_association_binds_the_jobs_service_account(eks_plan: Plan) -> None:
    # GIVEN the planned associations and the release's values
    association = _association(eks_plan, "DbUsersPodIdentity")
    values = _release(eks_plan).inputs["values"]
    # THEN the Job's association names the account the chart's Job runs as, in the release's
    # namespace of this stack's cluster, with a role of its own
    assert (
        association.inputs["serviceAccount"]
        == values["dbusers"]["serviceAccount"]["name"]
        == DBUSERS_SERVICE_ACCOUNT
        == "notes-api-dbusers"
    )
    assert association.inputs["namespace"] == _release(eks_plan).inputs["namespace"], association.urn
    assert association.inputs["clusterName"] == eks_plan.outputs[out.CLUSTER_NAME], association.urn
    assert association.inputs["roleArn"].endswith(f":role/notes-{ENV}-dbusers-pod"), association.urn
    others = {a.inputs["serviceAccount"] for a in eks_plan.of_type(ASSOCIATION)} - {DBUSERS_SERVICE_ACCOUNT}
    # AND it is the only association of that account: the API's and the worker's keep their own
    assert DBUSERS_SERVICE_ACCOUNT not in [
        a.inputs["serviceAccount"] for a in eks_plan.of_type(ASSOCIATION) if a.urn != association.urn
    ]
    assert {"notes-api", "notes-api-worker"} <= others, others


def test_the_dbusers_role_reads_exactly_the_app_and_master_secrets(eks_plan: Plan) -> None:
    # GIVEN the Job role's policies WHEN read THEN GetSecretValue on this stack's app secret and
    # DocumentDB's managed master secret, nothing else, and no second policy
    app, master = eks_plan.outputs[out.DOCDB_APP_SECRET_ARN], eks_plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    assert ":secret:rds!cluster-" in master
    assert _reads(eks_plan, f"{ENV}-dbusers-pod-identity-secrets") == sorted([app, master])
    assert not [
        p for p in eks_plan.of_type(IAM_ROLE_POLICY) if p.name == f"{ENV}-dbusers-pod-identity-access"
    ]


def test_no_other_pod_role_reads_the_master_secret(eks_plan: Plan) -> None:
    # GIVEN every role policy of the plan
    master = eks_plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    readers = sorted(p.name for p in eks_plan.of_type(IAM_ROLE_POLICY) if master in p.inputs["policy"])
    # THEN the Job's role and the app user's rotation function (which logs in as the master user to
    # change the alternate user's password) are the only ones; the API's and the worker's pod roles
    # read the app secret, never the master's
    assert readers == [f"{ENV}-dbusers-pod-identity-secrets", f"{ENV}-rotation-docdb-app-policy"], readers
    app = eks_plan.outputs[out.DOCDB_APP_SECRET_ARN]
    for workload in ("api", "worker"):
        reads = _reads(eks_plan, f"{ENV}-{workload}-pod-identity-secrets")
        assert app in reads and master not in reads, (workload, reads)


def test_the_chart_values_turn_the_job_on_with_this_stacks_secrets(eks_plan: Plan) -> None:
    values = _release(eks_plan).inputs["values"]
    app, master = eks_plan.outputs[out.DOCDB_APP_SECRET_ARN], eks_plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    assert values["dbusers"] == dbusers_chart_values(app_secret_arn=app, master_secret_arn=master)["dbusers"]
    assert values["dbusers"]["enabled"] is True
    # The Job creates the user named in the very secret the API's pods log in with.
    assert values["dbusers"]["appSecretArn"] == values["config"]["mongodbUriSecretArn"] == app


def test_the_release_waits_for_the_dbusers_association(eks_plan: Plan) -> None:
    # GIVEN the release WHEN its dependencies are read THEN the Job's association comes first: the
    # pre-install hook's pod, created before the association, would get no credentials
    release = _release(eks_plan)
    assert _association(eks_plan, "DbUsersPodIdentity").urn in release.dependencies, release.urn
    # AND nothing turns Helm's hooks off (the provider's install and upgrade pass these as DisableHooks)
    assert not release.inputs.get("disableWebhooks") and not release.inputs.get("disableCRDHooks")
    assert release.inputs["atomic"] is True, release.urn


def test_the_chart_renders_the_job_from_the_stacks_values(eks_plan: Plan) -> None:
    # GIVEN the release's values, with a target group ARN of AWS's shape in place of the mocks'
    values: dict[str, Any] = copy.deepcopy(_release(eks_plan).inputs["values"])
    values["targetGroupBinding"]["targetGroupArn"] = chart_values("values-staging.yaml")[
        "targetGroupBinding"
    ]["targetGroupArn"]
    # WHEN the chart renders them (its schema and render checks included)
    objects = manifests(values)
    # THEN the Job is a pre-install and pre-upgrade hook, running as the account the association binds,
    # reading this stack's two secrets by ARN in the stack's region
    job = one(objects, "Job", f"{API_RELEASE}-dbusers")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == _association(eks_plan, "DbUsersPodIdentity").inputs["serviceAccount"]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["NOTES_DOCDB_APP_SECRET_ARN"] == eks_plan.outputs[out.DOCDB_APP_SECRET_ARN]
    assert env["NOTES_DOCDB_MASTER_SECRET_ARN"] == eks_plan.outputs[out.DOCDB_MASTER_SECRET_ARN]
    assert env["NOTES_AWS_REGION"] == eks_plan.config.region
