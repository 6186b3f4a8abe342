"""What a plan is asked for, checked: counts, rates, markets and the schedulers to simulate.

Every check fails with the bad value and what would be accepted, before anything is simulated.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from daskhpo.registry import SCHEDULERS, make_scheduler
from simulate.calibrate import Calibration
from simulate.cluster import MARKETS

__all__ = [
    "NO_REPORTS",
    "check_count",
    "check_markets",
    "check_rate",
    "check_seed",
    "scheduler_specs",
]

#: Schedulers that never look at intermediate reports.
NO_REPORTS = ("fifo", "batch")


def check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def check_seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def check_markets(markets: Sequence[str]) -> list[str]:
    the_markets = list(markets)
    if not the_markets:
        raise ValueError(f"markets must name at least one of {MARKETS}")
    for market in the_markets:
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
    return the_markets


def _name_of(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(next(iter(spec), "?")).lower()
    return str(spec).strip().lower()


def scheduler_specs(
    schedulers: Sequence[Any] | None, cal: Calibration, steps: int
) -> list[tuple[str, Any]]:
    """A label and a make_scheduler argument per requested scheduler.

    A name that is the experiment's own scheduler takes its options; other multi-fidelity
    names get ``max_resource`` = the steps of a full run.
    """
    own = cal.scheduler
    wanted = list(schedulers) if schedulers else [own if own is not None else "fifo"]
    specs: list[tuple[str, Any]] = []
    for value in wanted:
        if not isinstance(value, (str, Mapping)):
            raise ValueError(
                f"schedulers are names or one-key mappings like {{'asha': {{...}}}}, got "
                f"{value!r}: every simulated run builds a fresh scheduler from them"
            )
        name = _name_of(value)
        if isinstance(value, str) and name not in SCHEDULERS:
            make_scheduler(name)  # the registry's error, with a suggestion
        if name not in NO_REPORTS and not steps:
            raise ValueError(
                f"scheduler {name!r} decides on intermediate reports, but no trial of the "
                "calibration run reported more than once; plan with fifo, or calibrate from a "
                "run whose objective calls daskhpo.report() each step"
            )
        spec: Any = value
        if isinstance(value, str):
            if own is not None and _name_of(own) == name:
                spec = own
            elif name not in NO_REPORTS:
                factory = SCHEDULERS[name]
                params = inspect.signature(factory).parameters
                spec = {name: {"max_resource": steps}} if "max_resource" in params else name
            else:
                spec = name
        make_scheduler(spec)  # fail fast on bad options
        specs.append((name, spec))
    labels = [label for label, _ in specs]
    return [
        (label if labels.count(label) == 1 else _spec_label(spec), spec) for label, spec in specs
    ]


def _spec_label(spec: Any) -> str:
    if isinstance(spec, Mapping):
        name = next(iter(spec))
        options = spec[name] or {}
        inner = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
        return f"{name}({inner})"
    return str(spec)
