"""Optional error tracking (Sentry) for the API and the export worker, from the stack key
``serviceSentryDsnSecretArn``.

The operator creates the secret holding the DSN (a plain-string SecretString), outside the
stack, in the stack's account and region, and names it here: the DSN never passes through
stack config or the plan. Unset, the stack sets no ``NOTES_SENTRY_*`` variable and grants
nothing, and error tracking stays off (app/notes_api/core/errortracking.py). Set, the API's and
the worker's containers (ECS tasks, or the chart's Deployments on EKS) get

- ``NOTES_SENTRY_DSN_SECRET_ARN``, read by the code at start with its own role
  (app/notes_api/core/config.py ``resolve_secret_arns``), and their task (or pod) roles get
  secretsmanager:GetSecretValue on exactly that ARN (``sentry_statements``);
- ``NOTES_SENTRY_RELEASE``, ``notes-api@<image digest>``: the bytes that run, the same in every
  stack an image is promoted through;
- ``NOTES_SENTRY_ENVIRONMENT``, the stack's ``environment``: both stacks run with
  ``NOTES_ENV=production``, the app's default Sentry environment, so without it staging's events
  would read as production's.

The secret's KMS key is the operator's and unknown here, so no kms:Decrypt statement is added.
Under the account's ``aws/secretsmanager`` key, GetSecretValue alone suffices; under a
customer-managed key, that key's policy must itself allow kms:Decrypt to the roles (ECS:
``notes-<env>-api-task`` and ``notes-<env>-worker-task``; EKS: ``notes-<env>-api-pod`` and
``notes-<env>-worker-pod``), since Secrets Manager decrypts as the caller (AWS Secrets Manager
User Guide, "Secret encryption and decryption", "Permissions for the KMS key"). Events leave
over HTTPS through the NAT gateways (the tasks' security groups and the pods' NetworkPolicies
allow 443 out); a stack with ``networkNatGateways: none`` reaches only a Sentry inside the VPC.

Pure: the schema (``sections.Service``) and the stack's wiring (stacks/compute.py,
stacks/exports.py, stacks/eks_exports.py) import it without pulumi.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

KEY = "serviceSentryDsnSecretArn"
DSN_SECRET_ARN_VARIABLE = "NOTES_SENTRY_DSN_SECRET_ARN"  # noqa: S105 (a variable's name)
RELEASE_VARIABLE = "NOTES_SENTRY_RELEASE"
ENVIRONMENT_VARIABLE = "NOTES_SENTRY_ENVIRONMENT"
# app/notes_api/core/config.py's service_name: the app's own default release is notes-api@<version>.
RELEASE_PREFIX = "notes-api@"
STATEMENT_SID = "ReadSentryDsn"

# A complete secret ARN: the name (letters, digits and /_+=.@-, botocore's secretsmanager model,
# CreateSecret Name) and the hyphen and six random characters Secrets Manager appends (CreateSecret
# response ARN). IAM compares a policy's Resource with the complete ARN, so a partial one (no
# suffix) would grant nothing and the tasks would fail at start with AccessDenied.
SECRET_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:secretsmanager:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):\d{12}"
    r":secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)


def _secret_arn_shape(value: str | None) -> str | None:
    if value is not None and not SECRET_ARN.match(value):
        raise ValueError(
            f"{value!r} is not a complete Secrets Manager secret ARN "
            "(arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>-<6 characters>, "
            "as `aws secretsmanager describe-secret` prints it)"
        )
    return value


SentryDsnSecretArn = Annotated[
    str | None,
    AfterValidator(_secret_arn_shape),
    Field(
        description="ARN of a Secrets Manager secret holding the Sentry DSN, created by the operator "
        "outside the stack in its account and region (the DSN never passes through stack config); "
        "the API and the worker read it with their roles; unset: no error tracking"
    ),
]


def sentry_problems(region: str, arn: str | None) -> list[tuple[str, str]]:
    """(key, problem) when the secret is not in the stack's region: the code reads it through
    the region's Secrets Manager endpoint (NOTES_AWS_REGION, and the VPC endpoint when there is
    one). Its account cannot be known offline."""
    match = SECRET_ARN.match(arn) if arn else None
    if match is None or match["region"] == region:
        return []
    return [
        (
            KEY,
            f"the secret is in {match['region']}, not in the stack's region {region}: "
            "create it in the stack's region",
        )
    ]


def sentry_release(digest: str) -> str:
    """The Sentry release of the image ``digest`` (sha256:...)."""
    return f"{RELEASE_PREFIX}{digest}"


def sentry_environment(arn: str | None, environment: str, digest: Any) -> dict[str, Any]:
    """The NOTES_SENTRY_* variables of the API and the worker; none when ``arn`` is unset.
    ``digest`` is the deployed image's (a string, or an Output of one); None leaves the
    release to the app's default."""
    if arn is None:
        return {}
    variables = {DSN_SECRET_ARN_VARIABLE: arn, ENVIRONMENT_VARIABLE: environment}
    if isinstance(digest, str):
        variables[RELEASE_VARIABLE] = sentry_release(digest)
    elif digest is not None:
        variables[RELEASE_VARIABLE] = digest.apply(sentry_release)  # an Output: pure here
    return variables


def sentry_statements(arn: str | None) -> list[dict[str, Any]]:
    """The task (or pod) role's statement to read the DSN's secret; none when ``arn`` is unset.
    No kms:Decrypt: the secret's key is the operator's (module docstring)."""
    if arn is None:
        return []
    return [
        {"Sid": STATEMENT_SID, "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}
    ]
