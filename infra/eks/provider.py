"""The Kubernetes provider for the cluster, built so that it does not replace itself on every
``up``.

The trap (pulumi/pulumi-eks#207 "Provider is always marked to be replaced", #764 "Replaces
resources on every up command"): a first-class ``kubernetes`` provider whose ``kubeconfig`` input
changes is replaced, and with it every Kubernetes resource it manages. A kubeconfig holding a
token (which expires and is fetched anew) or any field computed per run changes each time. Here
the kubeconfig is made only of outputs that are fixed for the cluster's life (endpoint, CA data,
name) and the region, and the credential is an exec plugin: ``aws eks get-token`` runs when the
provider connects and its token never enters the provider's inputs (pulumi/pulumi-eks#362
replaced aws-iam-authenticator with the same command).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# The exec credential API the AWS CLI's get-token answers with.
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


def kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig with no secret and nothing that changes between runs."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": EXEC_API_VERSION,
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }
    return json.dumps(document, sort_keys=True)


def kubernetes_provider(
    name: str,
    *,
    cluster_name: pulumi.Input[str],
    endpoint: pulumi.Input[str],
    certificate_authority: pulumi.Input[str],
    region: str,
    opts: pulumi.ResourceOptions | None = None,
) -> k8s.Provider:
    config = pulumi.Output.all(cluster_name, endpoint, certificate_authority).apply(
        lambda values: kubeconfig(values[0], values[1], values[2], region)
    )
    return k8s.Provider(
        name,
        kubeconfig=config,
        # Server-side apply is the provider's default since 4.0; said here so a change shows.
        enable_server_side_apply=True,
        opts=opts,
    )
