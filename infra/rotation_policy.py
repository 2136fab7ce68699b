"""What a rotation function may do, as pure functions over the ARNs (the shape of infra/ecs.py's
``execution_policy``): testable without mocks, and read by the policy pack's tests."""

from __future__ import annotations

from typing import Any

import pulumi

# Actions that have no resource-level permissions and so are granted on "*": GetRandomPassword
# (Secrets Manager User Guide, "Lambda rotation function execution role permissions", whose
# example grants it on "*"), and the network interface calls a function in a VPC needs (the
# same page's example; Lambda Developer Guide, "Giving Lambda functions access to resources in
# an Amazon VPC", execution role permissions). policies/notes_policies/rotation.py allows "*"
# for these only.
ENI_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
)
RANDOM_PASSWORD_ACTION = "secretsmanager:GetRandomPassword"  # noqa: S105 (an IAM action)
ROTATION_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)


def lambda_trust_policy(account_id: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def rotation_policy(
    *,
    region: str,
    secret_arn: pulumi.Input[str],
    secrets_kms_key_arn: pulumi.Input[str],
    log_group_arn: pulumi.Input[str],
    master_secret_arn: pulumi.Input[str] | None = None,
    random_password: bool = False,
) -> dict[str, Any]:
    """The function's permissions, after the Secrets Manager User Guide's "Lambda rotation function
    execution role permissions": the four rotation calls on the one secret; for the alternating
    users strategy GetSecretValue on the master secret; GetRandomPassword when the function makes
    passwords; the secrets key through Secrets Manager only, for these secrets only (the guide's
    kms:EncryptionContext:SecretARN condition); the VPC network interfaces; its own log group."""
    secrets = [secret_arn] if master_secret_arn is None else [secret_arn, master_secret_arn]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "RotateTheSecret",
            "Effect": "Allow",
            "Action": list(ROTATION_ACTIONS),
            "Resource": secret_arn,
        },
    ]
    if master_secret_arn is not None:
        statements.append(
            {
                "Sid": "ReadTheMasterSecret",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": master_secret_arn,
            }
        )
    if random_password:
        statements.append(
            {
                "Sid": "GeneratePasswords",
                "Effect": "Allow",
                "Action": [RANDOM_PASSWORD_ACTION],
                "Resource": "*",
            }
        )
    statements += [
        {
            "Sid": "SecretsKeyThroughSecretsManager",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": secrets_kms_key_arn,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": secrets,
                }
            },
        },
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": list(ENI_ACTIONS), "Resource": "*"},
        {
            "Sid": "OwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, _streams(log_group_arn)],
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def _streams(log_group_arn: pulumi.Input[str]) -> pulumi.Input[str]:
    """The group's log streams (``<group ARN>:log-stream:*``); a plain ARN stays a plain string,
    so the document can be built and read without an engine."""
    if isinstance(log_group_arn, str):
        return f"{log_group_arn}:log-stream:*"
    return pulumi.Output.concat(log_group_arn, ":log-stream:*")
