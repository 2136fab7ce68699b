"""Secrets the program generates and keeps in Secrets Manager, never in stack files.

``GeneratedSecret`` is the trio every generated credential needs: a random value, a
KMS-encrypted Secrets Manager secret named ``notes/<environment>/<purpose>`` and the version
holding the value. ``store_secret`` is the secret + version pair on its own, for values that
are derived rather than generated (DocumentDB's connection URI).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.recovery_window import recovery_window_problem

MIN_LENGTH = 32
# RFC 3986 "unreserved" punctuation: needs no escaping in a URI, a header or a shell, so a
# consumer that opts into special characters cannot break the places the value is pasted.
URI_SAFE_SPECIAL = "-_.~"
_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")

# The staging label the program's own version of a rotated secret keeps for good. A rotation
# moves AWSCURRENT to a new version; after two more, the first version has no AWS label left and
# Secrets Manager deletes it, and a refresh would then make the program put its first value back
# as AWSCURRENT (terraform-provider-aws issue 25168; terraform-aws-modules/
# terraform-aws-secrets-manager PR 26 adds a persistent custom label for that reason). A custom
# label keeps the version (Secrets Manager User Guide, "Secrets Manager concepts": a version
# with no staging label is deprecated and may be deleted).
INITIAL_STAGE = "NOTES_INITIAL"
# AWS's own labels, which a rotation moves.
AWS_STAGES = ("AWSCURRENT", "AWSPREVIOUS", "AWSPENDING")
# What a rotated secret's version must not follow once a rotation function owns the value: the
# value it was created with and the labels the rotation moves (the provider's own note on
# version_stages: a label moved elsewhere shows as a perpetual difference).
ROTATED_IGNORE = ["secretString", "versionStages"]


def secret_name(environment: str, purpose: str) -> str:
    """The Secrets Manager name: environments share an account without sharing secrets."""
    return f"notes/{environment}/{purpose}"


@dataclass(frozen=True)
class GeneratedSecretArgs:
    """One generated value. The stack creates the JWT signing key; DocumentDb, RedisCache and
    OriginSecret create their own secrets and pass their own settings."""

    environment: str
    """Environment name; part of the secret's name ``notes/<environment>/<purpose>``. From
    config `environment`. Required."""
    purpose: str
    """What the value is for, kebab-case (``jwt-signing-key``); the last part of the name. Set
    by the stack or the component that owns the secret. Required."""
    description: str
    """Shown in the Secrets Manager console next to the name. Set by the stack or the component
    that owns the secret. Required."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key the secret is encrypted with: Keys' ``secrets`` key, passed by
    the stack or through the component that owns the secret. Required."""
    recovery_window_days: int = 30
    """Days a deleted secret can still be restored, 7-30, or 0 to delete it at once (a
    disposable stack that is destroyed and created again). From config
    `secretsRecoveryWindowDays`. Default 30."""
    length: int = 64
    """Characters in the generated value; at least 32. Default 64. Set by its owner: 64 for the
    JWT signing key and the origin header, RedisCache's ``auth_token_length`` for the AUTH
    token."""
    special: bool = False
    """Include punctuation. Default off: the values end up in URIs and headers, and letters
    plus digits at 64 characters already carry over 380 bits."""
    override_special: str = URI_SAFE_SPECIAL
    """The punctuation used when ``special`` is on. Default ``-_.~`` (URI-unreserved)."""
    forbidden_characters: str = ""
    """Characters the consumer rejects (DocumentDB: ``/"@``); the constructor refuses an
    alphabet that could produce one. Default none; set by DocumentDb and RedisCache."""
    stored_as: Callable[[str], str] | None = None
    """What is stored, made from the generated value (the JWT key set's JSON,
    ``infra.jwt_key.initial_key_set``). Default none: the value itself."""
    rotated: bool = False
    """A rotation function owns the value after its first version (``store_secret``). Default
    off; on for the secrets ``stacks.rotations`` rotates."""
    rotation_exempt: str | None = None
    """Why this secret has no rotation schedule, as its ``RotationExempt`` tag (the policy
    pack's secret-rotated rule reads it). Default none."""


class GeneratedSecret(pulumi.ComponentResource):
    """A random value stored, KMS-encrypted, in Secrets Manager."""

    arn: pulumi.Output[str]
    secret: aws.secretsmanager.Secret
    version: aws.secretsmanager.SecretVersion
    password: random.RandomPassword
    value: pulumi.Output[str]

    def __init__(
        self, name: str, args: GeneratedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("notes:infra:GeneratedSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.password = random.RandomPassword(
            f"{name}-password",
            length=args.length,
            special=args.special,
            override_special=args.override_special,
            # Three character classes whatever the draw: ElastiCache's AUTH guidance asks for it.
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=child,
        )
        self.value = pulumi.Output.secret(self.password.result)
        stored = self.value if args.stored_as is None else self.value.apply(args.stored_as)
        self.secret, self.version = store_secret(
            name,
            environment=args.environment,
            purpose=args.purpose,
            description=args.description,
            kms_key_arn=args.kms_key_arn,
            recovery_window_days=args.recovery_window_days,
            value=stored,
            parent=self,
            rotated=args.rotated,
            rotation_exempt=args.rotation_exempt,
        )
        self.arn = self.secret.arn
        self.register_outputs({"arn": self.arn})


def store_secret(
    name: str,
    *,
    environment: str,
    purpose: str,
    description: str,
    kms_key_arn: pulumi.Input[str],
    recovery_window_days: int,
    value: pulumi.Input[str],
    parent: pulumi.Resource,
    rotated: bool = False,
    rotation_exempt: str | None = None,
) -> tuple[aws.secretsmanager.Secret, aws.secretsmanager.SecretVersion]:
    """A KMS-encrypted secret ``notes/<environment>/<purpose>`` and the version holding
    ``value``, registered as ``f"{name}-secret"`` and ``f"{name}-version"`` under ``parent``.

    ``rotated``: a rotation function writes every later value, so the program's version is its
    first value only: it keeps INITIAL_STAGE for good and ignores ROTATED_IGNORE, and a later
    ``pulumi up`` (with or without refresh) never puts the first value back. ``rotation_exempt``:
    the reason the secret has no schedule, as its RotationExempt tag (with ``rotated``: not yet)."""
    _validate_name(environment, purpose, recovery_window_days)
    child = pulumi.ResourceOptions(parent=parent)
    secret = aws.secretsmanager.Secret(
        f"{name}-secret",
        name=secret_name(environment, purpose),
        description=description,
        kms_key_id=kms_key_arn,
        recovery_window_in_days=recovery_window_days,
        tags={"RotationExempt": rotation_exempt} if rotation_exempt else None,
        opts=child,
    )
    version = aws.secretsmanager.SecretVersion(
        f"{name}-version",
        secret_id=secret.id,
        # Marked secret here as well, so a plain Output passed in never reaches state in clear.
        secret_string=pulumi.Output.secret(value),
        # The provider's note on version_stages: AWSCURRENT must be listed for the only version.
        version_stages=["AWSCURRENT", INITIAL_STAGE] if rotated else None,
        opts=pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(ignore_changes=ROTATED_IGNORE if rotated else None)
        ),
    )
    return secret, version


def _validate_name(environment: str, purpose: str, recovery_window_days: int) -> None:
    if not _PURPOSE.match(purpose):
        raise ValueError(f"secret purpose {purpose!r} must be kebab-case: lowercase letters, digits, '-'")
    if not environment:
        raise ValueError("secret environment must not be empty: it keeps environments' secrets apart")
    if problem := recovery_window_problem(recovery_window_days):
        raise ValueError(f"recovery_window_days={recovery_window_days}: {problem}")


def _validate(args: GeneratedSecretArgs) -> None:
    _validate_name(args.environment, args.purpose, args.recovery_window_days)
    if args.length < MIN_LENGTH:
        raise ValueError(
            f"{args.purpose}: length={args.length} is too short; generated secrets need at least "
            f"{MIN_LENGTH} characters"
        )
    if args.special:
        if not args.override_special:
            raise ValueError(f"{args.purpose}: special=True needs a non-empty override_special")
        clash = sorted(set(args.override_special) & set(args.forbidden_characters))
        if clash:
            raise ValueError(
                f"{args.purpose}: override_special contains {''.join(clash)!r}, which the consumer "
                f"forbids; drop them from override_special or set special=False"
            )
