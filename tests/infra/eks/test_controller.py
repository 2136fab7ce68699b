"""LoadBalancerController under mocks: the controller's upstream IAM policy on a Pod Identity
role, and a Helm release at the pinned chart version on the cluster's own provider."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra.eks.controller import (
    CHART_REPOSITORY,
    CHART_VERSION,
    IAM_POLICY_FILE,
    SERVICE_ACCOUNT,
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from tests.infra.harness import Graph, run

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_the_role_carries_the_upstream_policy_and_only_the_controller_assumes_it(graph: Graph) -> None:
    # GIVEN the committed upstream policy WHEN planned THEN the managed policy is that document,
    # attached to a role trusted by EKS Pod Identity for the controller's service account
    upstream = json.loads(IAM_POLICY_FILE.read_text())
    assert json.loads(graph.named("staging-lbc-policy").inputs["policy"]) == upstream
    actions = {
        a
        for s in upstream["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    # The v3.5.0 document: load balancer creation is tag-conditioned, and the v2.7+ additions are there.
    assert {"elasticloadbalancing:CreateLoadBalancer", "ec2:GetSecurityGroupsForVpc"} <= actions
    [trust] = json.loads(graph.named("staging-lbc-role").inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == SERVICE_ACCOUNT
    association = graph.named("staging-lbc-association").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("kube-system", SERVICE_ACCOUNT)


def test_the_release_is_pinned_runs_on_the_cluster_provider_and_waits_for_credentials(graph: Graph) -> None:
    # GIVEN the controller WHEN planned THEN the chart is pinned, told the VPC and region (no IMDS
    # for pods), and installed only after its association and the Pod Identity agent
    release = graph.one(RELEASE)
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"]) == ("aws-load-balancer-controller", CHART_VERSION)
    assert inputs["repositoryOpts"] == {"repo": CHART_REPOSITORY}
    assert inputs["values"] == {
        "clusterName": "notes-staging",
        "region": "eu-west-1",
        "vpcId": "vpc-staging",
        "replicaCount": 2,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
    }
    assert graph.provider_of(release) == graph.one("pulumi:providers:kubernetes")
    assert graph.named("staging-lbc-association").urn in release.dependencies
    assert graph.named("staging-eks-eks-pod-identity-agent").urn in release.dependencies


IMPOSSIBLE: list[tuple[dict[str, Any], str]] = [
    ({"chart_version": "1.13.0"}, "chart_version '1.13.0' differs from '3.5.0'"),
    ({"namespace": "Kube_System"}, "namespace 'Kube_System' is not a Kubernetes name"),
    ({"replicas": 0}, "replicas must be at least 1"),
]


@pytest.mark.parametrize(("override", "message"), IMPOSSIBLE, ids=[m for _, m in IMPOSSIBLE])
def test_impossible_controller_args_fail_in_the_constructor(override: dict[str, Any], message: str) -> None:
    # GIVEN one planted mistake WHEN the component is built THEN it refuses, naming the key
    def program() -> None:
        provider = pulumi.ProviderResource("kubernetes", "k8s")
        args: dict[str, Any] = {
            "environment": "staging",
            "cluster_name": "notes-staging",
            "vpc_id": "vpc-staging",
            "region": "eu-west-1",
            "provider": provider,
        }
        LoadBalancerController("staging-lbc", LoadBalancerControllerArgs(**(args | override)))

    with pytest.raises(ValueError, match="LoadBalancerController: ") as raised:
        run(program)
    assert message in str(raised.value)
