"""A staging-like EKS path shared by the component tests: the cluster, the API's pod identity
and the load balancer controller, planned once under mocks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pytest

from infra.eks.cluster import EksCluster, EksClusterArgs
from infra.eks.controller import LoadBalancerController, LoadBalancerControllerArgs
from infra.eks.pod_identity import ApiPodIdentity, ApiPodIdentityArgs, PodIdentityArgs
from notes_platform.graph.mocks import ACCOUNT_ID
from tests.infra.harness import Graph, run

REGION = "eu-west-1"
SECRETS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/secrets"
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/logs"
SUBNETS = ["subnet-private-a", "subnet-private-b"]
SECRET_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:notes-staging"
SECRET_ARNS = [
    f"{SECRET_PREFIX}/docdb-uri-AbCdEf",
    f"{SECRET_PREFIX}/redis-auth-token-GhIjKl",
    f"{SECRET_PREFIX}/jwt-signing-key-MnOpQr",
]
ADMIN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"


def cluster_args(**overrides: Any) -> EksClusterArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "region": REGION,
        "account_id": ACCOUNT_ID,
        "kubernetes_version": "1.33",
        "subnet_ids": SUBNETS,
        "vpc_id": "vpc-staging",
        "secrets_kms_key_arn": SECRETS_KEY,
        "logs_kms_key_arn": LOGS_KEY,
        "node_instance_types": ["t3.large", "t3a.large"],
        "node_min_size": 1,
        "node_desired_size": 2,
        "node_max_size": 4,
        "capacity_type": "SPOT",
        "admin_principal_arns": [ADMIN],
        "log_retention_days": 90,
    }
    return EksClusterArgs(**(values | overrides))


def pod_identity_args(
    cluster_name: pulumi.Input[str] = "notes-staging", **overrides: Any
) -> ApiPodIdentityArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "region": REGION,
        "cluster_name": cluster_name,
        "namespace": "notes",
        "service_account": "notes-api",
        "secret_arns": SECRET_ARNS,
        "secrets_kms_key_arn": SECRETS_KEY,
    }
    return ApiPodIdentityArgs(**(values | overrides))


def worker_identity_args(statements: Any, **overrides: Any) -> PodIdentityArgs:
    """The export worker's pod identity as the stack wires it: the chart's worker service account,
    the MongoDB URI's secret only, and the exports tier's statements."""
    values: dict[str, Any] = {
        "service_account": "notes-api-worker",
        "secret_arns": [SECRET_ARNS[0]],
        "statements": statements,
    }
    return pod_identity_args(**(values | overrides))


def eks_path(args: EksClusterArgs) -> Graph:
    def program() -> Any:
        cluster = EksCluster("staging-eks", args)
        ApiPodIdentity("staging-api-pods", replace(pod_identity_args(), cluster_name=cluster.cluster_name))
        LoadBalancerController(
            "staging-lbc",
            LoadBalancerControllerArgs(
                environment="staging",
                cluster_name=cluster.cluster_name,
                vpc_id="vpc-staging",
                region=REGION,
                provider=cluster.provider,
                depends_on=(cluster.pod_identity_agent,),
            ),
        )
        return cluster.node_security_group_id

    return run(program, stack="staging", region=REGION)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return eks_path(cluster_args())
