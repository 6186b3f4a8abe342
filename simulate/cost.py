"""What instances cost: on-demand and spot prices, billing granularity, held time.

An instance is billed from the moment it is requested (start-up time is billed) until it is
released: when the search ends, or earlier when it failed, was preempted or retired. Idle time
is billed like busy time. A bill rounds each instance's held time up to the billing
granularity, with a minimum: per second with a 60 s minimum is ``Billing(1, 60)``; per started
hour is ``Billing(3600, 3600)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from simulate.cluster import MARKETS

__all__ = ["Bill", "Billing", "Instance", "Pricing", "bill"]


@dataclass(frozen=True)
class Billing:
    """Round held time up to ``granularity_s``; charge at least ``minimum_s`` per instance."""

    granularity_s: float = 1.0
    minimum_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("granularity_s", "minimum_s"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and value >= 0)
            ):
                raise ValueError(f"billing {name} must be a number of seconds >= 0, got {value!r}")
        if self.granularity_s == 0:
            raise ValueError("billing granularity_s must be > 0 (1 for per-second billing)")

    @classmethod
    def parse(cls, text: str) -> Billing:
        """``second``, ``second:60`` (per second, 60 s minimum), ``minute``, ``hour``."""
        name, _, minimum = text.strip().lower().partition(":")
        units = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
        if name not in units:
            raise ValueError(
                f"unknown billing {text!r}; use second, second:MIN_SECONDS (e.g. second:60), "
                "minute or hour"
            )
        try:
            minimum_s = float(minimum) if minimum else (units[name] if name == "hour" else 0.0)
        except ValueError:
            raise ValueError(
                f"billing minimum in {text!r} must be a number of seconds, e.g. second:60"
            ) from None
        if not (math.isfinite(minimum_s) and minimum_s >= 0):
            raise ValueError(f"billing minimum must be >= 0 seconds, got {minimum!r} in {text!r}")
        return cls(units[name], minimum_s)

    def billed_seconds(self, held: float) -> float:
        """What one instance held for ``held`` seconds is charged for."""
        rounded = math.ceil(held / self.granularity_s - 1e-9) * self.granularity_s
        return max(rounded, self.minimum_s)


def _price(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Pricing:
    """Price per instance-hour on demand; spot is ``spot_discount`` cheaper (0.8 = 80 % off)."""

    on_demand: float = 0.09
    spot_discount: float = 0.8
    billing: Billing = Billing()

    def __post_init__(self) -> None:
        _price("price (USD per instance-hour)", self.on_demand)
        discount = _price("spot_discount", self.spot_discount)
        if discount >= 1:
            raise ValueError(
                f"spot_discount is the fraction saved and must be in [0, 1), got {discount!r}; "
                "0.8 means spot costs 20 % of on-demand"
            )

    def hourly(self, market: str) -> float:
        if market == "on-demand":
            return self.on_demand
        if market == "spot":
            return self.on_demand * (1.0 - self.spot_discount)
        raise ValueError(f"market must be one of {MARKETS}, got {market!r}")


@dataclass
class Instance:
    """One machine the simulated cluster held."""

    index: int
    market: str
    requested_at: float
    ready_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None

    def held(self, end: float) -> float:
        """Seconds held up to ``end`` (or to its own end, if earlier)."""
        stop = end if self.ended_at is None else min(self.ended_at, end)
        return max(0.0, stop - self.requested_at)


@dataclass(frozen=True)
class Bill:
    instances: int
    instance_hours: float  # time actually held
    billed_hours: float  # after rounding and minimums
    cost_usd: float


def bill(instances: Iterable[Instance], pricing: Pricing, end: float) -> Bill:
    """The bill for ``instances`` if the search ended (and released them) at ``end``."""
    count = 0
    held_total = 0.0
    billed_total = 0.0
    cost = 0.0
    for inst in instances:
        if inst.requested_at > end:
            continue
        count += 1
        held = inst.held(end)
        billed = pricing.billing.billed_seconds(held)
        held_total += held
        billed_total += billed
        cost += billed / 3600.0 * pricing.hourly(inst.market)
    return Bill(count, held_total / 3600.0, billed_total / 3600.0, cost)
