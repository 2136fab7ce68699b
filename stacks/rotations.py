"""The stack's secret rotation (issue 17, decision 4), built from ``secretsRotationDays``: a rotation
function of ours for the JWT key set and for the app's DocumentDB user (alternating users), and
DocumentDB's own managed rotation of the master user's secret with its schedule set here rather
than left at DocumentDB's seven days.

The other generated secrets do not rotate here: the Redis AUTH token generations rotate by the
rotate-cache-token workflow (a new generation secret each time) and the CloudFront origin header
by a documented config change; both carry the ``RotationExempt`` tag that says so, which the
policy pack's ``secret-rotated`` rule accepts in prod.

``stacks.tiers`` calls ``stack_rotations`` once the data tier exists.
"""

from __future__ import annotations

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
    docdb_app: SecretRotationFunction
    docdb_master: ManagedSecretRotation

    @property
    def alarm_arns(self) -> list[pulumi.Output[str]]:
        """The rotation functions' Errors alarms, for the dashboard's alarm status."""
        return [*self.jwt.alarm_arns, *self.docdb_app.alarm_arns]


def https_egress_cidr(cidr: str, interface_endpoints: list[str]) -> str:
    """Where a rotation function's HTTPS goes: inside the VPC when the stack has the Secrets
    Manager interface endpoint (private DNS answers the regional hostname there), else out
    through NAT to the public endpoint."""
    return cidr if "secretsmanager" in interface_endpoints else ANYWHERE


def stack_rotations(base: Foundation, data: DataTier) -> Rotations:
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
    docdb_app = SecretRotationFunction(
        f"{env}-rotation-docdb-app",
        replace(
            jwt_args,
            name="docdb-app",
            secret_arn=database.app_secret_arn,
            secret_ready=[database.app_version],
            docdb_security_group_id=base.groups.docdb_id,
            master_secret_arn=database.master_user_secret_arn,
        ),
        base.opts,
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
