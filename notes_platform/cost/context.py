"""What pricing a resource works with: the month, a charge (``Line``) and the lookups a pricer
may make (``Context``: the graph, the usage, the region of a resource and the price tables)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from notes_platform.cost.prices import GLOBAL, MISSING, Price, PriceTable, load_table
from notes_platform.cost.usage import Usage

if TYPE_CHECKING:
    from notes_platform.graph.mocks import Recorded

# The month the AWS Pricing Calculator bills hourly resources for (24 x 365 / 12).
HOURS_PER_MONTH = Decimal(730)
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# The stacks' region when a resource names no provider (the engine's default provider reads
# aws:region from the stack file, and both stack files say eu-west-1).
DEFAULT_REGION = "eu-west-1"


@dataclass(frozen=True)
class Line:
    """One charge of one resource for a month."""

    urn: str
    name: str
    type: str
    region: str
    what: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    monthly: Decimal
    status: str  # aws | secondary | unconfirmed | missing (no price in the table: monthly is 0)
    source: str


def round_usd(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@dataclass
class Context:
    """What pricing one resource may look up: the whole graph, the usage, the tables."""

    resources: Sequence[Recorded]
    usage: Usage
    by_urn: dict[str, Recorded]
    tables: dict[str, PriceTable] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def region_of(self, resource: Recorded) -> str:
        provider = self.by_urn.get(resource.provider or "")
        region = provider.inputs.get("region") if provider is not None else None
        return region if isinstance(region, str) else DEFAULT_REGION

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def price(self, region: str, key: str) -> Price | None:
        if region not in self.tables:
            table = load_table(region)
            if table is None:
                return None
            self.tables[region] = table
        return self.tables[region].prices.get(key)

    def line(
        self,
        resource: Recorded,
        key: str,
        what: str,
        quantity: Decimal,
        *,
        region: str | None = None,
        unit: str | None = None,
    ) -> Line:
        """The line for ``quantity`` of price ``key`` in the resource's region (or ``region``)."""
        where = region or self.region_of(resource)
        price = self.price(where, key)
        if price is None:
            self.missing.append(f"{key} ({where}) for {resource.urn}")
            return Line(
                resource.urn, resource.name, resource.type, where, what, quantity,
                unit or "?", Decimal(0), Decimal(0), MISSING, f"no price {key} in prices/{where}.json",
            )  # fmt: skip
        return Line(
            urn=resource.urn,
            name=resource.name,
            type=resource.type,
            region=where,
            what=what,
            quantity=quantity,
            unit=unit or price.unit,
            unit_price=price.usd,
            monthly=price.cost(quantity),
            status=price.status,
            source=price.source,
        )

    def global_line(self, resource: Recorded, key: str, what: str, quantity: Decimal) -> Line:
        return self.line(resource, key, what, quantity, region=GLOBAL)


Pricer = Callable[[Context, "Recorded"], list[Line]]
