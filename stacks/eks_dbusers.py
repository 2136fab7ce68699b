"""The least-privilege DocumentDB users on the EKS path: the dbusers hook Job's Pod Identity role and
the chart's ``dbusers`` values, the counterpart of the API task's init container on ECS
(``stacks.compute.dbusers_container``).

The chart runs ``python -m notes_api.dbusers`` as a Helm hook Job (charts/notes-api,
``dbusers.enabled``; pre-install and pre-upgrade) under its own ServiceAccount, before the API's
pods are created or rolled. The role made here is associated with exactly that account and is the
only pod role that reads the cluster's master user secret: the API's and the worker's roles read
the app's secret only. ``eks_compute`` calls these; ``dbusers_chart_values`` is pure.

The hook runs because the stack's ``kubernetes.helm.v3.Release`` is Helm itself: the provider
embeds the Helm SDK (Pulumi registry, kubernetes.helm.sh/v3.Release: "embeds Helm as a library
... the full spectrum of Helm features are supported natively") and installs with
``action.NewInstall`` with ``DisableHooks = disableWebhooks`` and upgrades with
``action.NewUpgrade`` with ``DisableHooks = disableCRDHooks`` (pulumi-kubernetes
provider/pkg/provider/helm_release.go, helmCreate and helmUpdate). The release sets neither, so
pre-install and pre-upgrade hooks run and are waited on within the release's timeout (300 s by
default, setDefaults there); a failed Job fails the release, which ``atomic`` rolls back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from infra.eks.pod_identity import DbUsersPodIdentity, PodIdentityArgs
from stacks.tiers import DataTier, Foundation

# The chart's dbusers.serviceAccount.name (charts/notes-api/values.yaml's default, set here
# explicitly): the Pod Identity association below names the same account.
DBUSERS_SERVICE_ACCOUNT = "notes-api-dbusers"


def dbusers_pod_identity(
    base: Foundation, data: DataTier, cluster_name: pulumi.Input[str]
) -> DbUsersPodIdentity:
    """The Job's role (notes-<env>-dbusers-pod): the app's DocumentDB secret, whose user it
    creates, and the cluster's master user secret, with which it logs in; for the chart's dbusers
    service account in the API's namespace."""
    return DbUsersPodIdentity(
        f"{base.env}-dbusers-pod-identity",
        pod_identity_args(
            base,
            cluster_name,
            DBUSERS_SERVICE_ACCOUNT,
            [data.database.app_secret_arn, data.database.master_user_secret_arn],
            # Our secrets key serves the app secret; the master secret is under
            # aws/secretsmanager (infra/documentdb.py), which needs no grant of ours.
        ),
        base.opts,
    )


def pod_identity_args(
    base: Foundation,
    cluster_name: pulumi.Input[str],
    service_account: str,
    secret_arns: Sequence[pulumi.Input[str]],
    statements: pulumi.Input[Sequence[pulumi.Input[Mapping[str, Any]]]] = (),
) -> PodIdentityArgs:
    """A role for one of the chart's service accounts in the API's namespace: these secrets (and
    our secrets key through Secrets Manager) and these statements (none: no second policy)."""
    return PodIdentityArgs(
        environment=base.env,
        region=base.config.region,
        cluster_name=cluster_name,
        namespace=base.config.eks.namespace,
        service_account=service_account,
        secret_arns=list(secret_arns),
        secrets_kms_key_arn=base.keys.arn("secrets"),
        statements=statements,
    )


def dbusers_values(data: DataTier) -> pulumi.Output[dict[str, Any]]:
    """``dbusers_chart_values`` once both secrets' ARNs are known."""
    return pulumi.Output.all(data.database.app_secret_arn, data.database.master_user_secret_arn).apply(
        lambda arns: dbusers_chart_values(app_secret_arn=arns[0], master_secret_arn=arns[1])
    )


def dbusers_chart_values(*, app_secret_arn: str, master_secret_arn: str) -> dict[str, Any]:
    """The chart's ``dbusers`` values (charts/notes-api/values.yaml documents each): the Job on,
    reading the app's secret (the one the API's pods read too) and the master user's."""
    return {
        "dbusers": {
            "enabled": True,
            "appSecretArn": app_secret_arn,
            "masterSecretArn": master_secret_arn,
            "serviceAccount": {"name": DBUSERS_SERVICE_ACCOUNT},
        }
    }
