"""ApiPodIdentity under mocks: a role only the API's service account on this cluster can assume,
reading exactly its three secrets and decrypting only through Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.eks.pod_identity import ApiPodIdentity
from tests.infra.eks.conftest import SECRET_ARNS, SECRETS_KEY, pod_identity_args
from tests.infra.harness import Graph, run


def test_only_the_api_service_account_of_this_cluster_assumes_the_role(graph: Graph) -> None:
    # GIVEN the API's pod identity WHEN planned THEN the trust is EKS Pod Identity's, narrowed by
    # the session tags to one cluster, namespace and service account
    role = graph.named("staging-api-pods-role")
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "notes-staging",
        "aws:RequestTag/kubernetes-namespace": "notes",
        "aws:RequestTag/kubernetes-service-account": "notes-api",
    }
    association = graph.named("staging-api-pods-association").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("notes", "notes-api")
    assert association["roleArn"].endswith(":role/notes-staging-api-pod")


def test_the_role_reads_exactly_its_secrets_and_decrypts_via_secrets_manager(graph: Graph) -> None:
    # GIVEN three secret ARNs WHEN planned THEN GetSecretValue on those three only, and
    # kms:Decrypt on their key only through Secrets Manager in the stack's region
    policy = json.loads(graph.named("staging-api-pods-secrets").inputs["policy"])
    read, decrypt = policy["Statement"]
    assert read["Action"] == "secretsmanager:GetSecretValue" and read["Resource"] == sorted(SECRET_ARNS)
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == SECRETS_KEY
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }
    assert "*" not in json.dumps(policy)


IMPOSSIBLE: list[tuple[dict[str, Any], str]] = [
    ({"secret_arns": []}, "secret_arns is empty"),
    (
        {"secret_arns": ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes-staging/*"]},
        "must be one secret's exact ARN, no wildcard",
    ),
    ({"secret_arns": [SECRET_ARNS[0], SECRET_ARNS[0]]}, "secret_arns lists a secret twice"),
    ({"namespace": "Notes_API"}, "namespace 'Notes_API' is not a Kubernetes name"),
    ({"service_account": ""}, "service_account '' is not a Kubernetes name"),
]


@pytest.mark.parametrize(("override", "message"), IMPOSSIBLE, ids=[m for _, m in IMPOSSIBLE])
def test_impossible_pod_identity_args_fail_in_the_constructor(override: dict[str, Any], message: str) -> None:
    # GIVEN one planted mistake WHEN the component is built THEN it refuses, naming the key
    with pytest.raises(ValueError, match="ApiPodIdentity: ") as raised:
        run(lambda: ApiPodIdentity("staging-api-pods", pod_identity_args(**override)))
    assert message in str(raised.value)
