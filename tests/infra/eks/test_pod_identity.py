"""ApiPodIdentity and WorkerPodIdentity under mocks: each a role only its own service account on
this cluster can assume, reading exactly its secrets and decrypting only through Secrets Manager;
the worker's also carrying exactly the exports tier's worker statements, the API's the sender's."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.eks.pod_identity import ApiPodIdentity, WorkerPodIdentity
from infra.exports.permissions import sender_statements, worker_statements
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.eks.conftest import REGION, SECRET_ARNS, SECRETS_KEY, pod_identity_args, worker_identity_args
from tests.infra.harness import Graph, run

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:notes-staging-exports"
BUCKET_ARN = "arn:aws:s3:::notes-staging-exports"
EXPORTS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/exports"


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


def test_without_statements_the_api_role_has_no_second_policy(graph: Graph) -> None:
    # GIVEN the API's pod identity without statements (as the stack builds it before exports)
    # WHEN planned THEN only the secrets policy: the plan is what it was before the worker
    names = [r.name for r in graph.resources if r.name.startswith("staging-api-pods-")]
    assert sorted(names) == [
        "staging-api-pods-association",
        "staging-api-pods-role",
        "staging-api-pods-secrets",
    ]


def _statements_of(arns: tuple[str, str, str], build: Any) -> pulumi.Output[Any]:
    # As the stack wires them: the exports tier's function inside an apply over the three ARNs.
    return pulumi.Output.all(*arns).apply(lambda a: build(a[0], a[1], a[2]))


@pytest.fixture(scope="module")
def pods() -> Graph:
    def program() -> None:
        arns = (QUEUE_ARN, BUCKET_ARN, EXPORTS_KEY)
        ApiPodIdentity(
            "staging-api-pods", pod_identity_args(statements=_statements_of(arns, sender_statements))
        )
        WorkerPodIdentity(
            "staging-worker-pods", worker_identity_args(_statements_of(arns, worker_statements))
        )

    return run(program, stack="staging", region=REGION)


def test_only_the_worker_service_account_assumes_the_worker_role(pods: Graph) -> None:
    # GIVEN both pod identities WHEN planned THEN the worker's role trusts the worker's service
    # account of this cluster only, and its association binds that account to it
    role = pods.named("staging-worker-pods-role")
    assert role.type == "aws:iam/role:Role" and role.inputs["name"] == "notes-staging-worker-pod"
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "notes-staging",
        "aws:RequestTag/kubernetes-namespace": "notes",
        "aws:RequestTag/kubernetes-service-account": "notes-api-worker",
    }
    association = pods.named("staging-worker-pods-association").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("notes", "notes-api-worker")
    assert association["roleArn"].endswith(":role/notes-staging-worker-pod")
    component = pods.named("staging-worker-pods")
    assert component.type == "notes:infra:WorkerPodIdentity"


def test_the_worker_role_reads_the_mongodb_uri_and_nothing_of_the_apis(pods: Graph) -> None:
    # GIVEN the MongoDB URI's ARN only WHEN planned THEN GetSecretValue on it alone: no Redis
    # token, no JWT key
    policy = json.loads(pods.named("staging-worker-pods-secrets").inputs["policy"])
    read, decrypt = policy["Statement"]
    assert read["Resource"] == [SECRET_ARNS[0]]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_the_worker_role_carries_exactly_the_worker_statements(pods: Graph) -> None:
    # GIVEN worker_statements over the queue, bucket and key Outputs WHEN planned THEN the role's
    # second policy is exactly that list, resolved: consume the queue, write under the prefix
    policy = json.loads(pods.named("staging-worker-pods-access").inputs["policy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": worker_statements(QUEUE_ARN, BUCKET_ARN, EXPORTS_KEY),
    }
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "s3:PutObject",
    } <= actions
    assert not {"sqs:SendMessage", "s3:GetObject"} & actions, "the worker holds the API's permissions"


def test_the_api_role_gets_the_sender_statements_and_the_roles_stay_apart(pods: Graph) -> None:
    # GIVEN the API's pod identity with sender_statements WHEN planned THEN its second policy is
    # those, and the two roles, policies and service accounts are distinct
    policy = json.loads(pods.named("staging-api-pods-access").inputs["policy"])
    assert policy["Statement"] == sender_statements(QUEUE_ARN, BUCKET_ARN, EXPORTS_KEY)
    roles = {r.inputs["name"] for r in pods.of_type("aws:iam/role:Role")}
    assert roles == {"notes-staging-api-pod", "notes-staging-worker-pod"}
    accounts = {
        r.inputs["serviceAccount"]
        for r in pods.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    }
    assert accounts == {"notes-api", "notes-api-worker"}


GOOD = {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": QUEUE_ARN}
IMPOSSIBLE_WORKER: list[tuple[Any, dict[str, Any], str]] = [
    ([], {}, "statements is empty; the worker must receive from its queue"),
    ([{**GOOD, "Action": ["sqs:*"]}], {}, "statements[0] Action 'sqs:*': name each action"),
    ([{**GOOD, "Action": "*"}], {}, "statements[0] Action '*': name each action"),
    ([{**GOOD, "Resource": "*"}], {}, "statements[0] Resource '*': give the resource's ARN"),
    (
        [{"Effect": "Allow", "NotAction": ["iam:*"], "Resource": QUEUE_ARN}],
        {},
        "statements[0] has ['NotAction']",
    ),
    ([{**GOOD, "Principal": "*"}], {}, "statements[0] has ['Principal']"),
    ([{"Effect": "Allow", "Action": ["sqs:ReceiveMessage"]}], {}, "statements[0] has no ['Resource']"),
    ([{**GOOD, "Effect": "allow"}], {}, "statements[0] Effect 'allow' must be Allow or Deny"),
    (["sqs:ReceiveMessage"], {}, "statements[0] is not a statement"),
    ([GOOD], {"secret_arns": []}, "secret_arns is empty; the worker needs its secrets' ARNs"),
    ([GOOD], {"service_account": "Worker"}, "service_account 'Worker' is not a Kubernetes name"),
]


@pytest.mark.parametrize(
    ("statements", "override", "message"), IMPOSSIBLE_WORKER, ids=[m for _, _, m in IMPOSSIBLE_WORKER]
)
def test_impossible_worker_args_fail_in_the_constructor(
    statements: Any, override: dict[str, Any], message: str
) -> None:
    # GIVEN one planted mistake WHEN the worker's pod identity is built THEN it refuses, naming it
    with pytest.raises(ValueError, match="WorkerPodIdentity: ") as raised:
        run(lambda: WorkerPodIdentity("staging-worker-pods", worker_identity_args(statements, **override)))
    assert message in str(raised.value)


def test_a_wildcard_inside_an_output_is_refused_when_it_resolves() -> None:
    # GIVEN statements that are an Output (as the stack passes them) holding a wildcard action
    def program() -> None:
        planted = pulumi.Output.from_input(QUEUE_ARN).apply(
            lambda arn: [{"Effect": "Allow", "Action": ["sqs:*"], "Resource": arn}]
        )
        WorkerPodIdentity("staging-worker-pods", worker_identity_args(planted))

    # WHEN planned THEN the policy is refused once the list is known
    with pytest.raises(ValueError, match=r"WorkerPodIdentity: statements\[0\] Action 'sqs:\*'"):
        run(program)
