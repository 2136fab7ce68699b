"""A monthly estimate of a stack from its recorded resources: one line per billable charge of
each resource, priced from the committed tables of the region the resource is registered in
(its provider's ``region``), with the usage a plan cannot know taken from ``usage/<stack>.yaml``.

``estimate(resources, stack, usage)`` works on any recorded graph (``notes-platform plan`` or a
plan JSON read back with ``Recorded.from_json``), so ``review`` and ``diff`` can price both sides
of a change and show the monthly delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from notes_platform.cost.context import HOURS_PER_MONTH, Context, Line, round_usd
from notes_platform.cost.pricers import PRICERS
from notes_platform.cost.prices import MISSING, UNCONFIRMED
from notes_platform.cost.usage import Usage

__all__ = ["Estimate", "Line", "estimate", "round_usd"]

if TYPE_CHECKING:
    from notes_platform.graph.mocks import Recorded

# Billed, but not in the estimate: small at this scale, or not known from a plan.
NOT_PRICED = (
    "not priced: the ALB log bucket (S3), the exports dead-letter queue (a request per failed job), SNS, "
    "Route 53 queries (aliases to CloudFront are free), ACM "
    "(public certificates are free), Container Insights metrics, traffic between AZs, KMS and Secrets "
    "Manager API requests, backups within the free allowance (DocumentDB: up to the cluster's size)"
)
KMS_ROTATION = (
    "KMS keys rotate yearly: each of a key's first two rotations adds $1/month (https://aws.amazon.com/"
    "kms/pricing/; capped at two since May 2024, https://cloudburn.io/blog/aws-kms-pricing); this is a "
    "key's first year"
)


@dataclass(frozen=True)
class Estimate:
    stack: str
    lines: tuple[Line, ...]
    assumptions: tuple[str, ...]
    prices_source: str
    prices_date: str
    unpriced: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Decimal:
        return sum((line.monthly for line in self.lines), Decimal(0))

    @property
    def unconfirmed(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.status in (UNCONFIRMED, MISSING))

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "total_usd": str(round_usd(self.total)),
            "lines": [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(line).items()}
                for line in self.lines
            ],
            "assumptions": list(self.assumptions),
            "prices_source": self.prices_source,
            "prices_date": self.prices_date,
            "unpriced": list(self.unpriced),
        }


def estimate(resources: Sequence[Recorded], stack: str, usage: Usage | None = None) -> Estimate:
    """The monthly estimate of ``resources`` (one stack's recorded graph) under ``usage`` (the
    model's defaults when None; commands pass ``load_usage(stack)``)."""
    chosen = usage or Usage()
    context = Context(resources=resources, usage=chosen, by_urn={r.urn: r for r in resources})
    lines: list[Line] = []
    for resource in resources:
        pricer = PRICERS.get(resource.type)
        if pricer is not None and resource.custom:
            lines.extend(pricer(context, resource))
    tables = sorted(context.tables.values(), key=lambda t: t.region)
    source = ", ".join(f"notes_platform/cost/prices/{t.path.name}" for t in tables)
    assumptions = [
        f"a month is {HOURS_PER_MONTH} hours (the AWS Pricing Calculator's month); on-demand list prices, "
        "no Savings Plans or reserved capacity",
        *chosen.assumptions(),
        "CloudFront viewers in North America and Europe (their rates; other price-class regions cost more)",
        "log storage at steady state: a month's ingestion kept for the group's retention, uncompressed "
        "(AWS bills stored logs compressed, so this is an upper bound)",
        KMS_ROTATION,
        NOT_PRICED,
    ]
    return Estimate(
        stack=stack,
        lines=tuple(lines),
        assumptions=tuple(assumptions),
        prices_source=(
            f"AWS public pricing pages, URL per price in {source}" if source else "no price table was needed"
        ),
        # The oldest table's date: the estimate is no fresher than its stalest price.
        prices_date=min((t.taken for t in tables), default=""),
        unpriced=tuple(context.missing),
    )
