"""EKS policies: a private endpoint (or an allow-list without 0.0.0.0/0), envelope-encrypted
secrets, every control-plane log type, IMDSv2 in launch templates and encrypted node volumes.

The happy-path resources are what infra/eks records under mocks (tests/infra/eks), in the
plan's wire shape."""

from __future__ import annotations

from policies.notes_policies import eks
from policies.notes_policies import resource_types as t
from tests.policies.harness import (
    Happy,
    Mutation,
    Resource,
    happy_path_test,
    mutation_test,
    removing,
    resource,
    setting,
)

KEY = "arn:aws:kms:eu-west-1:123456789012:key/secrets"


def cluster() -> Resource:
    return resource(
        t.EKS_CLUSTER,
        "prod-eks-cluster",
        {
            "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
            "bootstrapSelfManagedAddons": False,
            "enabledClusterLogTypes": list(eks.LOG_TYPES),
            "encryptionConfig": {"provider": {"keyArn": KEY}, "resources": ["secrets"]},
            "name": "notes-prod",
            "roleArn": "arn:aws:iam::123456789012:role/notes-prod-eks-cluster",
            "version": "1.33",
            "vpcConfig": {
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
                "subnetIds": ["subnet-a", "subnet-b"],
            },
        },
        component="EksCluster",
    )


def launch_template() -> Resource:
    return resource(
        t.LAUNCH_TEMPLATE,
        "prod-eks-nodes",
        {
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "deleteOnTermination": "true",
                        "encrypted": "true",
                        "kmsKeyId": KEY,
                        "volumeSize": 20,
                        "volumeType": "gp3",
                    },
                }
            ],
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpPutResponseHopLimit": 1,
                "httpTokens": "required",
            },
            "namePrefix": "notes-prod-eks-node-",
            "updateDefaultVersion": True,
        },
        component="EksCluster",
    )


def node_group() -> Resource:
    return resource(
        t.EKS_NODE_GROUP,
        "prod-eks-nodes",
        {
            "amiType": "AL2023_x86_64_STANDARD",
            "capacityType": "ON_DEMAND",
            "clusterName": "notes-prod",
            "instanceTypes": ["m7i.large"],
            "launchTemplate": {"id": "lt-0229bf096037e3872", "version": "1"},
            "nodeRoleArn": "arn:aws:iam::123456789012:role/notes-prod-eks-node",
            "scalingConfig": {"desiredSize": 2, "maxSize": 3, "minSize": 1},
            "subnetIds": ["subnet-a", "subnet-b"],
        },
        component="EksCluster",
    )


def _public_with_allow_list() -> Resource:
    base = cluster()
    base["inputs"]["vpcConfig"] |= {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
    return base


HAPPY: Happy = [
    (eks.eks_endpoint_not_public, cluster),
    (eks.eks_endpoint_not_public, _public_with_allow_list),
    (eks.eks_secrets_encrypted, cluster),
    (eks.eks_control_plane_logs, cluster),
    (eks.launch_template_imdsv2, launch_template),
    (eks.eks_node_volumes_encrypted, launch_template),
    (eks.eks_node_volumes_encrypted, node_group),
]

PUBLIC = "EKS clusters must not expose a public API endpoint to 0.0.0.0/0."
SECRETS = "EKS clusters must envelope-encrypt secrets with a KMS key."

MUTATIONS = [
    Mutation(
        eks.eks_endpoint_not_public,
        cluster,
        setting("vpcConfig.endpointPublicAccess", True),
        PUBLIC,
        "public, no allow-list",
    ),
    Mutation(
        eks.eks_endpoint_not_public,
        cluster,
        removing("vpcConfig.endpointPublicAccess"),
        PUBLIC,
        "public access unset (AWS turns it on)",
    ),
    Mutation(
        eks.eks_endpoint_not_public,
        _public_with_allow_list,
        setting("vpcConfig.publicAccessCidrs", ["203.0.113.0/24", "0.0.0.0/0"]),
        PUBLIC,
        "allow-list with 0.0.0.0/0",
    ),
    Mutation(
        eks.eks_secrets_encrypted, cluster, removing("encryptionConfig"), SECRETS, "no encryption config"
    ),
    Mutation(eks.eks_secrets_encrypted, cluster, removing("encryptionConfig.provider"), SECRETS, "no key"),
    Mutation(
        eks.eks_control_plane_logs,
        cluster,
        setting("enabledClusterLogTypes", ["api", "authenticator"]),
        "EKS clusters must enable every control-plane log type; missing audit, controllerManager, scheduler.",
        "audit, controllerManager and scheduler off",
    ),
    Mutation(
        eks.eks_control_plane_logs,
        cluster,
        removing("enabledClusterLogTypes"),
        "EKS clusters must enable every control-plane log type; missing "
        "api, audit, authenticator, controllerManager, scheduler.",
        "logging off",
    ),
    Mutation(
        eks.launch_template_imdsv2,
        launch_template,
        setting("metadataOptions.httpTokens", "optional"),
        "Launch templates must require IMDSv2 (metadataOptions.httpTokens 'required').",
        "IMDSv1 allowed",
    ),
    Mutation(
        eks.launch_template_imdsv2,
        launch_template,
        removing("metadataOptions"),
        "Launch templates must require IMDSv2 (metadataOptions.httpTokens 'required').",
        "no metadata options (the account default)",
    ),
    Mutation(
        eks.eks_node_volumes_encrypted,
        launch_template,
        setting("blockDeviceMappings.0.ebs.encrypted", "false"),
        "Launch template volume '/dev/xvda' must be encrypted.",
        "unencrypted root volume",
    ),
    Mutation(
        eks.eks_node_volumes_encrypted,
        node_group,
        removing("launchTemplate"),
        "EKS node groups must use a launch template with encrypted volumes.",
        "node group without a launch template",
    ),
]

test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
