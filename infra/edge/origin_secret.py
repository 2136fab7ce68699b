"""The origin secret: the generated value CloudFront adds to every origin request in a header
(``X-Origin-Verify``) and the ALB requires, so that only the distribution reaches the ALB. It
lives in the stack's region, next to the ALB; one Secrets Manager secret per generation.

Rotating the origin secret: two deployments, each a config change to ``OriginSecretArgs``
(``generation`` and ``previous_generation``, from the stack's config):

1. Set ``generation`` to N+1 and ``previous_generation`` to N, and deploy. A new value is
   generated and stored in Secrets Manager next to the old one. The ALB's origin rule is
   updated first to accept both values (the distribution depends on the rule), then CloudFront
   starts sending the new value; the deployment returns only once the distribution is deployed
   at every edge location. Requests carrying the old value are accepted throughout.
2. After step 1 has finished, remove ``previous_generation`` (back to null) and deploy. The ALB
   accepts only the new value; the old generation's secret is scheduled for deletion (recovery
   window).

Never bump ``generation`` without setting ``previous_generation``: the ALB would stop accepting
the old value while edge locations still send it, and viewers would get 403s until CloudFront
caught up. Generations only go up: a retired generation's secret name stays reserved for its
recovery window.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.alb import DEFAULT_ORIGIN_HEADER_NAME, origin_header_name_problem
from infra.recovery_window import recovery_window_problem
from infra.secrets import GeneratedSecret, GeneratedSecretArgs


@dataclass(frozen=True)
class OriginSecretArgs:
    """The origin header's name and the generations of its value for one environment.

    From per-environment config: ``generation`` (``edgeOriginSecretGeneration``),
    ``previous_generation`` (``edgeOriginSecretPreviousGeneration``) and
    ``recovery_window_days`` (``secretsRecoveryWindowDays``).
    """

    environment: str
    """Environment name; part of the secrets' names. From config ``environment``. Required."""
    kms_key_arn: pulumi.Input[str]
    """Customer-managed key (stack region) the secrets are encrypted with: the stack's ``secrets``
    key. Required."""
    generation: int = 1
    """Generation of the value CloudFront sends; bump it to rotate (see this module's docstring).
    From config ``edgeOriginSecretGeneration``. Default 1."""
    previous_generation: int | None = None
    """The generation the ALB still accepts during a rotation, or None. From config
    ``edgeOriginSecretPreviousGeneration``. Default None."""
    header_name: str = DEFAULT_ORIGIN_HEADER_NAME
    """Header that carries the value. Default ``X-Origin-Verify``."""
    recovery_window_days: int = 30
    """Days a retired generation's secret can still be restored (7-30, or 0: at once). From config
    ``secretsRecoveryWindowDays``. Default 30."""


class OriginSecret(pulumi.ComponentResource):
    """The generated value(s) of the origin header, one Secrets Manager secret per generation."""

    header_name: str
    current: GeneratedSecret
    previous: GeneratedSecret | None
    value: pulumi.Output[str]
    arn: pulumi.Output[str]
    accepted_values: list[pulumi.Output[str]]

    def __init__(self, name: str, args: OriginSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate_origin_secret(name, args)
        super().__init__("notes:infra:OriginSecret", name, None, opts)
        self.header_name = args.header_name

        def generation(number: int) -> GeneratedSecret:
            # One resource (and one Secrets Manager secret) per generation, named after it: a
            # new generation is a new value, and the previous one stays until it is let go.
            return GeneratedSecret(
                f"{name}-g{number}",
                GeneratedSecretArgs(
                    environment=args.environment,
                    purpose=f"cloudfront-origin-header-g{number}",
                    description=(
                        f"Value of the {args.header_name} header CloudFront adds to origin requests and "
                        f"the ALB requires (generation {number})"
                    ),
                    kms_key_arn=args.kms_key_arn,
                    recovery_window_days=args.recovery_window_days,
                    # Letters and digits only: the ALB reads * and ? in a header condition as
                    # wildcards.
                    length=64,
                    special=False,
                    rotation_exempt=(
                        "a new generation per rotation: two config changes "
                        "(edgeOriginSecretGeneration), README 'Rotating the origin secret'"
                    ),
                ),
                pulumi.ResourceOptions(parent=self),
            )

        self.current = generation(args.generation)
        self.previous = None if args.previous_generation is None else generation(args.previous_generation)
        self.value = self.current.value
        self.arn = self.current.arn
        self.accepted_values = [self.current.value] + ([self.previous.value] if self.previous else [])
        self.register_outputs({"arn": self.arn, "headerName": self.header_name})


def _validate_origin_secret(name: str, args: OriginSecretArgs) -> None:
    where = f"OriginSecret {name}"
    if args.generation < 1:
        raise ValueError(f"{where}: generation={args.generation}; generations start at 1")
    previous = args.previous_generation
    if previous is not None and not 1 <= previous < args.generation:
        raise ValueError(
            f"{where}: previous_generation={previous} must be below generation={args.generation} "
            "(the one CloudFront is moving away from); generations only go up"
        )
    problem = origin_header_name_problem(args.header_name)
    if problem:
        raise ValueError(f"{where}: header_name: {problem}")
    if window_problem := recovery_window_problem(args.recovery_window_days):
        raise ValueError(f"{where}: recovery_window_days={args.recovery_window_days}; {window_problem}")
