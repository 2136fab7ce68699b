"""The stack's secret rotation (issue 17, decision 4), built from ``secretsRotationDays``: a rotation
function of ours for the JWT key set and for the app's DocumentDB user (alternating users), and
DocumentDB's own managed rotation of the master user's secret with its schedule set here rather
than left at DocumentDB's seven days.

The other generated secrets do not rotate here: the Redis AUTH token generations rotate by the
rotate-cache-token workflow (a new generation secret each time) and the CloudFront origin header
by a documented config change; both carry the ``RotationExempt`` tag that says so, which the
policy pack's ``secret-rotated`` rule accepts in prod.

``stacks.app`` calls ``stack_rotations`` once the compute tier exists: the app user's rotation
runs its four steps as soon as it is scheduled (``rotate_immediately``), and its setSecret logs in
as the current user, which only the API's ``dbusers`` step creates (the ECS init container, the
chart's hook Job). So that rotation waits for the API service or the Helm release
(``users_ready``); a stack with no service yet has none, and its app secret carries a
``RotationExempt`` tag saying so (``stacks.tiers.data_tier``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pulumi

from infra.rotation import (
    ManagedSecretRotation,
    ManagedSecretRotationArgs,
    SecretRotationFunction,
    SecretRotationFunctionArgs,
)

if TYPE_CHECKING:  # stacks.tiers imports this module to call it
    from stacks.tiers import DataTier, Foundation

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class Rotations:
    jwt: SecretRotationFunction
    docdb_app: SecretRotationFunction | None
    docdb_master: ManagedSecretRotation

    @property
    def alarm_arns(self) -> list[pulumi.Output[str]]:
        """The rotation functions' Errors alarms, for the dashboard's alarm status."""
        return [*self.jwt.alarm_arns, *(self.docdb_app.alarm_arns if self.docdb_app else [])]


def https_egress_cidr(cidr: str, interface_endpoints: list[str]) -> str:
    """Where a rotation function's HTTPS goes: inside the VPC when the stack has the Secrets
    Manager interface endpoint (private DNS answers the regional hostname there), else out
    through NAT to the public endpoint."""
    return cidr if "secretsmanager" in interface_endpoints else ANYWHERE


def stack_rotations(
    base: Foundation, data: DataTier, users_ready: Sequence[pulumi.Resource] | None
) -> Rotations:
    """The rotations; ``users_ready``: what creates the app's DocumentDB users (the API service on
    ECS, the chart's release on EKS), None when the stack runs no service yet."""
    config, env, keys = base.config, base.env, base.keys
    jwt_args = SecretRotationFunctionArgs(
        environment=env,
        name="jwt",
        region=config.region,
        account_id=base.account_id,
        secret_arn=data.jwt_key.arn,
        secret_ready=[data.jwt_key.version],
        secrets_kms_key_arn=keys.arn("secrets"),
        logs_kms_key_arn=keys.arn("logs"),
        topic_arn=base.topic.arn,
        vpc_id=base.network.vpc_id,
        subnet_ids=base.network.private_subnet_ids,
        https_egress_cidr=https_egress_cidr(config.network.cidr, list(config.network.interface_endpoints)),
        rotation_days=config.secrets.rotation_days,
        log_retention_days=config.service.log_retention_days,
    )
    jwt = SecretRotationFunction(f"{env}-rotation-jwt", jwt_args, base.opts)
    database = data.database
    docdb_app = (
        SecretRotationFunction(
            f"{env}-rotation-docdb-app",
            replace(
                jwt_args,
                name="docdb-app",
                secret_arn=database.app_secret_arn,
                secret_ready=[database.app_version, *users_ready],
                docdb_security_group_id=base.groups.docdb_id,
                master_secret_arn=database.master_user_secret_arn,
            ),
            base.opts,
        )
        if users_ready is not None
        else None
    )
    docdb_master = ManagedSecretRotation(
        f"{env}-rotation-docdb-master",
        ManagedSecretRotationArgs(
            environment=env,
            secret_arn=database.master_user_secret_arn,
            rotation_days=config.secrets.rotation_days,
        ),
        base.opts,
    )
    return Rotations(jwt=jwt, docdb_app=docdb_app, docdb_master=docdb_master)
