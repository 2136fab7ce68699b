"""EksCluster under mocks: a private, encrypted, fully logged control plane with access entries,
pinned add-ons, hardened nodes, and a Kubernetes provider that stays the same across runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.eks.cluster import DEFAULT_ADDON_VERSIONS, LOG_TYPES, EksCluster
from infra.eks.insights import ADDON_NAME as INSIGHTS
from infra.eks.insights import INSIGHTS_ADDON_VERSION
from infra.eks.nodes import volume_key_policy
from infra.eks.provider import kubeconfig
from tests.infra.eks.conftest import ADMIN, LOGS_KEY, SECRETS_KEY, SUBNETS, cluster_args, eks_path
from tests.infra.harness import Graph, run
from tests.type_tokens import KMS_KEY

CLUSTER = "aws:eks/cluster:Cluster"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ADDON = "aws:eks/addon:Addon"
K8S_PROVIDER = "pulumi:providers:kubernetes"


def test_the_endpoint_is_private_unless_an_allow_list_is_given(graph: Graph) -> None:
    # GIVEN the default args (no public CIDRs) WHEN planned THEN only the private endpoint is on
    vpc = graph.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False, vpc
    assert "publicAccessCidrs" not in vpc and vpc["subnetIds"] == SUBNETS, vpc
    # GIVEN an allow-list WHEN planned THEN the public endpoint is on for exactly those CIDRs
    opened = eks_path(cluster_args(public_access_cidrs=["203.0.113.0/24"])).one(CLUSTER).inputs["vpcConfig"]
    assert opened["endpointPublicAccess"] is True and opened["publicAccessCidrs"] == ["203.0.113.0/24"], (
        opened
    )


def test_secrets_are_envelope_encrypted_with_our_key_and_access_is_by_access_entries(graph: Graph) -> None:
    # GIVEN the cluster WHEN planned THEN Secrets use our key, API mode, no hidden creator admin
    inputs = graph.one(CLUSTER).inputs
    assert inputs["encryptionConfig"] == {"provider": {"keyArn": SECRETS_KEY}, "resources": ["secrets"]}
    assert inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert inputs["version"] == "1.33" and inputs["bootstrapSelfManagedAddons"] is False
    entry = graph.one("aws:eks/accessEntry:AccessEntry")
    association = graph.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert entry.inputs["principalArn"] == ADMIN and entry.inputs["type"] == "STANDARD"
    assert association.inputs["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "cluster"} and entry.urn in association.dependencies
    assert graph.of_type("kubernetes:core/v1:ConfigMap") == []  # no aws-auth


def test_every_log_type_goes_to_our_encrypted_group_made_before_the_cluster(graph: Graph) -> None:
    # GIVEN the cluster WHEN planned THEN all five types are on, and the group EKS would
    # otherwise create itself exists first with our key and retention
    cluster, group = graph.one(CLUSTER), graph.one(LOG_GROUP)
    assert cluster.inputs["enabledClusterLogTypes"] == list(LOG_TYPES)
    assert (
        group.inputs["name"]
        == "/aws/eks/notes-staging/cluster"
        == f"/aws/eks/{cluster.inputs['name']}/cluster"
    )
    assert group.inputs["kmsKeyId"] == LOGS_KEY and group.inputs["retentionInDays"] == 90, group.inputs
    assert group.urn in cluster.dependencies, cluster.dependencies


def test_nodes_are_private_imdsv2_only_with_one_hop_and_encrypted_gp3(graph: Graph) -> None:
    # GIVEN the node args WHEN planned THEN the group uses our launch template in the private subnets
    group, template = graph.one(NODE_GROUP), graph.one(LAUNCH_TEMPLATE)
    inputs = group.inputs
    assert inputs["subnetIds"] == SUBNETS and inputs["capacityType"] == "SPOT", inputs
    assert inputs["instanceTypes"] == ["t3.large", "t3a.large"]
    assert inputs["scalingConfig"] == {"desiredSize": 2, "maxSize": 4, "minSize": 1}
    assert inputs["launchTemplate"]["id"].startswith("lt-") and inputs["launchTemplate"]["version"] == "1"
    assert template.urn in group.property_dependencies.get("launchTemplate", [])
    assert "scalingConfig.desiredSize" in group.ignore_changes
    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpPutResponseHopLimit": 1,
        "httpTokens": "required",
    }
    [device] = template.inputs["blockDeviceMappings"]
    [volume_key] = [k for k in graph.of_type(KMS_KEY) if k.name.endswith("-node-volumes")]
    assert volume_key.urn in template.property_dependencies.get("blockDeviceMappings", []), template.urn
    assert device["ebs"] | {"volumeSize": 0, "kmsKeyId": "key"} == {
        "deleteOnTermination": "true",
        "encrypted": "true",
        "kmsKeyId": "key",
        "volumeSize": 0,
        "volumeType": "gp3",
    }, device
    assert device["ebs"]["kmsKeyId"] != SECRETS_KEY, "node volumes have a key of their own"
    assert "imageId" not in template.inputs and "vpcSecurityGroupIds" not in template.inputs


def test_ec2_auto_scaling_may_use_the_node_volume_key_and_nothing_more() -> None:
    # GIVEN the node-volume key's policy for an account
    policy = volume_key_policy("123456789012")
    statements = {s["Sid"]: s for s in policy["Statement"]}
    role = (
        "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    # THEN Auto Scaling's service-linked role (which launches managed nodes) may use it and create
    # grants only for AWS resources (the volumes it attaches); without these nodes never launch
    use = statements["AutoScalingServiceLinkedRoleUsesTheKey"]
    assert use["Principal"] == {"AWS": role}
    assert set(use["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
    }
    grant = statements["AutoScalingServiceLinkedRoleAttachesVolumes"]
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    # AND no other principal gets anything beyond the account's own administration
    assert {json.dumps(s["Principal"]) for s in policy["Statement"]} == {
        json.dumps({"AWS": "arn:aws:iam::123456789012:root"}),
        json.dumps({"AWS": role}),
    }


def test_core_addons_are_pinned_and_ordered_around_the_nodes(graph: Graph) -> None:
    # GIVEN the default versions WHEN planned THEN each core add-on is at its pin; the CNI goes in
    # before the nodes, CoreDNS and the Pod Identity agent after them
    addons = {r.inputs["addonName"]: r for r in graph.of_type(ADDON)}
    core = {name: r.inputs["addonVersion"] for name, r in addons.items() if name != INSIGHTS}
    assert core == dict(DEFAULT_ADDON_VERSIONS)
    group = graph.one(NODE_GROUP)
    assert addons["vpc-cni"].urn in group.dependencies and addons["kube-proxy"].urn in group.dependencies
    assert group.urn in addons["coredns"].dependencies
    assert group.urn in addons["eks-pod-identity-agent"].dependencies


def test_container_insights_publishes_with_its_own_pod_identity_role(graph: Graph) -> None:
    # GIVEN the cluster WHEN planned THEN the CloudWatch Observability add-on (the metrics the EKS
    # alarms read) is pinned and installed once the Pod Identity agent runs
    [insights] = [r for r in graph.of_type(ADDON) if r.inputs["addonName"] == INSIGHTS]
    assert insights.inputs["addonVersion"] == INSIGHTS_ADDON_VERSION, insights.urn
    agent = next(r for r in graph.of_type(ADDON) if r.inputs["addonName"] == "eks-pod-identity-agent")
    assert agent.urn in insights.dependencies, insights.urn
    # AND its agent's credentials come through Pod Identity, for its own service account only,
    # from a role that holds the agent's documented policy and nothing else
    [association] = insights.inputs["podIdentityAssociations"]
    assert association["serviceAccount"] == "cloudwatch-agent", association
    [role] = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith("-insights-agent")]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert (
        trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "cloudwatch-agent"
    )
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == "amazon-cloudwatch"
    attachments = [
        r for r in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "insights" in r.name
    ]
    assert [a.inputs["policyArn"] for a in attachments] == [
        "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"
    ]


def test_every_child_is_a_plain_aws_resource_under_the_component(graph: Graph) -> None:
    # GIVEN the cluster WHEN planned THEN nothing is opaque: each child is visible and parented
    component = graph.one("notes:infra:EksCluster")
    below = graph.below(component.urn)
    kinds = {r.type for r in below}
    assert {CLUSTER, NODE_GROUP, LAUNCH_TEMPLATE, ADDON, LOG_GROUP, K8S_PROVIDER} <= kinds, kinds
    assert not [r.type for r in below if r.type.startswith("eks:")]  # no pulumi_eks component


def test_the_kubernetes_provider_is_built_from_stable_outputs_with_an_exec_token(graph: Graph) -> None:
    # GIVEN the cluster WHEN planned twice THEN the provider's kubeconfig is identical, carries
    # no token, and gets one from `aws eks get-token` when it connects
    first = graph.one(K8S_PROVIDER).inputs["kubeconfig"]
    again = eks_path(cluster_args()).one(K8S_PROVIDER).inputs["kubeconfig"]
    assert first == again
    config = json.loads(first)
    [user] = config["users"]
    assert "token" not in json.dumps(user["user"]).replace("get-token", "")
    assert user["user"]["exec"]["command"] == "aws"
    assert user["user"]["exec"]["args"] == [
        "eks",
        "get-token",
        "--cluster-name",
        "notes-staging",
        "--region",
        "eu-west-1",
    ]
    [cluster] = config["clusters"]
    assert (
        cluster["cluster"]["server"].startswith("https://")
        and cluster["cluster"]["certificate-authority-data"]
    )
    # AND the document depends on nothing but its four inputs
    assert kubeconfig("c", "https://e", "Q0E=", "r") == kubeconfig("c", "https://e", "Q0E=", "r")


IMPOSSIBLE: list[tuple[dict[str, Any], str]] = [
    ({"insights_addon_version": "latest"}, "insights_addon_version 'latest' must be an exact version"),
    ({"public_access_cidrs": ["0.0.0.0/0"]}, "opens the API to the internet"),
    ({"public_access_cidrs": ["not-a-cidr"]}, "public_access_cidrs entry 'not-a-cidr' is not a CIDR"),
    ({"kubernetes_version": "latest"}, "kubernetes_version 'latest' must look like '1.33'"),
    ({"account_id": "12345"}, "account_id '12345' must be 12 digits"),
    ({"log_retention_days": 10}, "log_retention_days 10 is not a CloudWatch retention"),
    ({"capacity_type": "RESERVED"}, "capacity_type 'RESERVED' must be one of"),
    ({"node_instance_types": []}, "node_instance_types needs at least one"),
    ({"node_min_size": 3, "node_desired_size": 2}, "node sizes must satisfy"),
    ({"node_max_size": 0, "node_desired_size": 0, "node_min_size": 0}, "node sizes must satisfy"),
    (
        {"admin_principal_arns": ["admin"]},
        "admin_principal_arns entry 'admin' is not an IAM role or user ARN",
    ),
    ({"addon_versions": {"vpc-cni": "v1.20.1-eksbuild.3"}}, "addon_versions lacks ['coredns'"),
    (
        {"addon_versions": dict(DEFAULT_ADDON_VERSIONS) | {"coredns": "latest"}},
        "addon_versions['coredns'] 'latest' must be an exact version",
    ),
    ({"node_volume_size_gib": 8}, "node_volume_size_gib must be at least 20"),
]


@pytest.mark.parametrize(("override", "message"), IMPOSSIBLE, ids=[m for _, m in IMPOSSIBLE])
def test_impossible_cluster_args_fail_in_the_constructor(override: dict[str, Any], message: str) -> None:
    # GIVEN one planted mistake WHEN the component is built THEN it refuses, naming the key
    with pytest.raises(ValueError, match="EksCluster: ") as raised:
        run(lambda: EksCluster("staging-eks", cluster_args(**override)))
    assert message in str(raised.value)
