"""The committed price tables: ``prices/<region>.json`` and ``prices/global.json`` for services
priced the same everywhere (CloudFront, WAF). Read once, never fetched: an estimate must give
the same figures offline and in CI, and say where each came from and when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

PRICES_DIR = Path(__file__).parent / "prices"
GLOBAL = "global"
# How sure a figure is (each price file's "about" says the same).
CONFIRMED = ("aws", "secondary")
UNCONFIRMED = "unconfirmed"
MISSING = "missing"


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # cumulative quantity where this tier ends; None: no end
    usd: Decimal


@dataclass(frozen=True)
class Price:
    key: str
    region: str
    usd: Decimal  # the first tier's rate for a tiered price
    unit: str
    status: str
    source: str
    note: str = ""
    tiers: tuple[Tier, ...] = ()

    def cost(self, quantity: Decimal) -> Decimal:
        """What ``quantity`` units cost in a month, walking the tiers when there are any."""
        if not self.tiers:
            return quantity * self.usd
        total, floor = Decimal(0), Decimal(0)
        for tier in self.tiers:
            ceiling = quantity if tier.up_to is None else min(quantity, tier.up_to)
            if ceiling > floor:
                total += (ceiling - floor) * tier.usd
                floor = ceiling
        return total


@dataclass(frozen=True)
class PriceTable:
    region: str
    taken: str
    path: Path
    prices: dict[str, Price]


@cache
def load_table(region: str, directory: Path = PRICES_DIR) -> PriceTable | None:
    """The table of ``region``, or None when the repository has none for it."""
    path = directory / f"{region}.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(), parse_float=Decimal)
    prices = {}
    for key, entry in data["prices"].items():
        tiers = tuple(
            Tier(None if t["up_to_gb"] is None else Decimal(t["up_to_gb"]), Decimal(t["usd"]))
            for t in entry.get("tiers", ())
        )
        prices[key] = Price(
            key=key,
            region=region,
            usd=tiers[0].usd if tiers else Decimal(entry["usd"]),
            unit=entry["unit"],
            status=entry["status"],
            source=entry["source"],
            note=entry.get("note", ""),
            tiers=tiers,
        )
    return PriceTable(region=data["region"], taken=data["taken"], path=path, prices=prices)
