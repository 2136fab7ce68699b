"""The four-step rotation contract every rotation function of ours shares.

Secrets Manager rotates a secret by invoking the function four times with the same
``ClientRequestToken`` (Secrets Manager User Guide, "How rotation works" and "Lambda rotation
functions"): createSecret puts the new value under the token labelled AWSPENDING, setSecret
changes the credentials in the service, testSecret proves the AWSPENDING value works, and
finishSecret moves AWSCURRENT to the token's version (Secrets Manager labels the old one
AWSPREVIOUS). Before it calls createSecret, Secrets Manager has already created the token's
version with the AWSPENDING label and no value.

Any step may be invoked again (Secrets Manager retries a failed rotation from the start), so each
step is idempotent per token. The checks in :func:`dispatch` follow the
SecretsManagerRotationTemplate's ``lambda_function.py`` in aws-samples/
aws-secrets-manager-rotation-lambdas, in the same order: rotation turned on, the token is a
version of the secret, a version already AWSCURRENT is done (nothing to do, whatever the step),
and any other version must be AWSPENDING.

Logs carry ARNs, version ids and user names, never a secret value (the User Guide's best
practices for custom rotation functions: "Ensure logs don't contain sensitive information").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("notes_rotation")
# Lambda's Python runtime leaves the root logger at WARNING; the AWS templates raise their
# logger to INFO so that each step's outcome reaches the function's log group.
log.setLevel(logging.INFO)

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"

# Characters a generated password never contains: DocumentDB refuses '/', '"' and '@' in a
# password (DocumentDB API Reference, ModifyDBCluster MasterUserPassword; the AWS templates
# exclude the same), '/' and '@' also delimit a MongoDB URI, and "'" and '\' break shell and JSON
# quoting. A space is excluded explicitly on top of IncludeSpace=False. Whatever remains is
# percent-encoded where it goes into a URI.
EXCLUDE_CHARACTERS = "/@\"'\\ "
PASSWORD_LENGTH = 32

Step = Callable[[Any, str, str], None]
"""One rotation step: (Secrets Manager client, secret ARN, ClientRequestToken)."""


class RotationError(ValueError):
    """A rotation step that must fail (Secrets Manager records the failure and retries later).

    A ValueError, as the AWS templates raise, so that the error type in the function's logs and
    in its Errors metric reads the same as for AWS's own rotation functions."""


@dataclass(frozen=True)
class Steps:
    """The four steps of one kind of secret; ``finish`` is the same for every kind."""

    create: Step
    set: Step
    test: Step
    finish: Step


def dispatch(event: Mapping[str, Any], steps: Steps, client: Any | None = None) -> None:
    """Run the step ``event`` asks for after the template's checks of the token's stages.

    ``client`` is a Secrets Manager client (boto3's default one when not given: on Lambda the
    function's role and region; in a VPC the regional hostname, which the stack's secretsmanager
    interface endpoint answers through private DNS)."""
    try:
        arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    except KeyError as exc:
        raise RotationError(f"the rotation event has no {exc.args[0]}") from exc
    if client is None:
        # Imported here: the Lambda runtime bundles boto3, and tests pass their own client.
        import boto3  # noqa: PLC0415

        client = boto3.client("secretsmanager")

    metadata = client.describe_secret(SecretId=arn)
    # DescribeSecret leaves RotationEnabled out for a secret never configured for rotation.
    if metadata.get("RotationEnabled") is not True:
        raise RotationError(f"secret {arn} is not enabled for rotation")
    versions: Mapping[str, list[str]] = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"secret version {token} has no stage for rotation of secret {arn}")
    if CURRENT in versions[token]:
        log.info("%s: version %s of %s is already AWSCURRENT", step, token, arn)
        return
    if PENDING not in versions[token]:
        raise RotationError(f"secret version {token} is not AWSPENDING for rotation of secret {arn}")

    handlers = {
        "createSecret": steps.create,
        "setSecret": steps.set,
        "testSecret": steps.test,
        "finishSecret": steps.finish,
    }
    if step not in handlers:
        raise RotationError(f"invalid step {step!r} for secret {arn}")
    handlers[step](client, arn, token)


def secret_string(client: Any, arn: str, stage: str, token: str | None = None) -> str:
    """The value of the version labelled ``stage`` (and, given a token, with that id).

    Raises the client's ResourceNotFoundException when no such version has a value: the
    AWSPENDING version Secrets Manager creates before createSecret has none."""
    if token is None:
        response = client.get_secret_value(SecretId=arn, VersionStage=stage)
    else:
        response = client.get_secret_value(SecretId=arn, VersionId=token, VersionStage=stage)
    value = response.get("SecretString")
    if value is None:
        raise RotationError(f"secret {arn} ({stage}) has no SecretString (binary secrets are not rotated)")
    return str(value)


def create_pending(client: Any, arn: str, token: str, make: Callable[[str], str]) -> None:
    """createSecret: put ``make(current value)`` under the token as AWSPENDING, unless the token's
    version already has a value (a retry: the value made the first time is the one to keep)."""
    current = secret_string(client, arn, CURRENT)  # fails first when there is nothing to rotate
    try:
        secret_string(client, arn, PENDING, token)
    except client.exceptions.ResourceNotFoundException:
        pass
    else:
        log.info("createSecret: version %s of %s already has its value", token, arn)
        return
    client.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=make(current), VersionStages=[PENDING]
    )
    log.info("createSecret: put version %s of %s as AWSPENDING", token, arn)


def random_password(client: Any) -> str:
    """A new password from Secrets Manager's GetRandomPassword, safe in a URI and in DocumentDB."""
    response = client.get_random_password(
        PasswordLength=PASSWORD_LENGTH,
        ExcludeCharacters=EXCLUDE_CHARACTERS,
        IncludeSpace=False,
        RequireEachIncludedType=True,
    )
    return str(response["RandomPassword"])


def finish_secret(client: Any, arn: str, token: str) -> None:
    """finishSecret: move AWSCURRENT to the token's version, naming the version it leaves.

    UpdateSecretVersionStage needs RemoveFromVersionId while AWSCURRENT is attached elsewhere,
    and Secrets Manager then labels that version AWSPREVIOUS itself. AWSPENDING may stay on the
    new current version: RotateSecret accepts AWSPENDING on the AWSCURRENT version as a finished
    rotation (Secrets Manager API Reference, RotateSecret)."""
    metadata = client.describe_secret(SecretId=arn)
    current = None
    for version, stages in metadata.get("VersionIdsToStages", {}).items():
        if CURRENT in stages:
            if version == token:
                log.info("finishSecret: version %s of %s is already AWSCURRENT", token, arn)
                return
            current = version
            break
    moves = {"MoveToVersionId": token} | ({"RemoveFromVersionId": current} if current else {})
    client.update_secret_version_stage(SecretId=arn, VersionStage=CURRENT, **moves)
    log.info("finishSecret: AWSCURRENT of %s moved from version %s to %s", arn, current, token)
