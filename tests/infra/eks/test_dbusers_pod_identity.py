"""DbUsersPodIdentity under mocks: the dbusers hook Job's role, assumable by its service account of
this cluster only, reading exactly the app's DocumentDB secret and the master user's, decrypting
only through Secrets Manager, and calling nothing else."""

from __future__ import annotations

import json

import pytest

from infra.eks.pod_identity import DbUsersPodIdentity
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.eks.conftest import REGION, SECRET_ARNS, SECRETS_KEY, pod_identity_args
from tests.infra.harness import Graph, run

APP_SECRET = SECRET_ARNS[0]
# DocumentDB's managed master secret (rds!cluster-<id>), under aws/secretsmanager.
MASTER_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:rds!cluster-0a1b2c3d-GhIjKl"


@pytest.fixture(scope="module")
def job() -> Graph:
    def program() -> None:
        DbUsersPodIdentity(
            "staging-dbusers-pods",
            pod_identity_args(service_account="notes-api-dbusers", secret_arns=[APP_SECRET, MASTER_SECRET]),
        )

    return run(program, stack="staging", region=REGION)


def test_only_the_dbusers_service_account_assumes_the_role(job: Graph) -> None:
    # GIVEN the Job's pod identity WHEN planned THEN its role trusts the chart's dbusers service
    # account of this cluster and namespace only, and the association binds that account to it
    role = job.named("staging-dbusers-pods-role")
    assert role.inputs["name"] == "notes-staging-dbusers-pod"
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "notes-staging",
        "aws:RequestTag/kubernetes-namespace": "notes",
        "aws:RequestTag/kubernetes-service-account": "notes-api-dbusers",
    }
    association = job.named("staging-dbusers-pods-association").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("notes", "notes-api-dbusers")
    assert association["roleArn"].endswith(":role/notes-staging-dbusers-pod")
    assert job.named("staging-dbusers-pods").type == "notes:infra:DbUsersPodIdentity"


def test_the_role_reads_the_app_and_master_secrets_and_nothing_else(job: Graph) -> None:
    # GIVEN the two secrets WHEN planned THEN GetSecretValue on exactly those, kms:Decrypt on our
    # secrets key (the app secret's) through Secrets Manager only, and no second policy: the Job
    # calls nothing but Secrets Manager
    policy = json.loads(job.named("staging-dbusers-pods-secrets").inputs["policy"])
    read, decrypt = policy["Statement"]
    assert read == {
        "Sid": "ReadOwnSecrets",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": sorted([APP_SECRET, MASTER_SECRET]),
    }
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == SECRETS_KEY
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    }
    names = sorted(r.name for r in job.resources if r.name.startswith("staging-dbusers-pods-"))
    assert names == [
        "staging-dbusers-pods-association",
        "staging-dbusers-pods-role",
        "staging-dbusers-pods-secrets",
    ]


def test_impossible_dbusers_args_fail_in_the_constructor() -> None:
    # GIVEN no secrets WHEN the Job's pod identity is built THEN it refuses, naming the component
    with pytest.raises(ValueError, match="DbUsersPodIdentity: secret_arns is empty; the dbusers Job needs"):
        run(lambda: DbUsersPodIdentity("staging-dbusers-pods", pod_identity_args(secret_arns=[])))
