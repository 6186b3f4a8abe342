"""A discrete-event simulator for daskhpo searches: the real Tuner, schedulers and searchers on a
virtual clock, with synthetic workloads, faults and prices. Never imports ``distributed``.

Start with :func:`simulate.tables.speedup_table`, :func:`simulate.tables.cost_table` and
:func:`simulate.tables.scheduler_table`, or :func:`run_search` for one search. :func:`simulate_plan`
predicts a search from one that ran for real (:mod:`simulate.plan`, :mod:`simulate.calibrate`).

Names load on first use (PEP 562): ``import simulate`` loads neither pandas nor yaml, so a worker
that imports one of its modules pays for that module alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulate.backend import SimBackend
    from simulate.calibrate import CalibratedWorkload, Calibration, CalibrationError
    from simulate.cluster import ClusterSpec
    from simulate.cost import Billing, Pricing
    from simulate.curves import CurveModel, CurveWorkload
    from simulate.engine import Engine
    from simulate.faults import FaultModel
    from simulate.plan import PlanResult, recommend, simulate_plan
    from simulate.runner import SimRun, run_search
    from simulate.tables import cost_table, scheduler_table, speedup_table
    from simulate.tabulated import TabulatedWorkload
    from simulate.workloads import DurationModel, DurationWorkload

__all__ = [
    "Billing",
    "CalibratedWorkload",
    "Calibration",
    "CalibrationError",
    "ClusterSpec",
    "CurveModel",
    "CurveWorkload",
    "DurationModel",
    "DurationWorkload",
    "Engine",
    "FaultModel",
    "PlanResult",
    "Pricing",
    "SimBackend",
    "SimRun",
    "TabulatedWorkload",
    "cost_table",
    "recommend",
    "run_search",
    "scheduler_table",
    "simulate_plan",
    "speedup_table",
]

#: Where each public name lives.
_EXPORTS = {
    "SimBackend": "simulate.backend",
    "CalibratedWorkload": "simulate.calibrate",
    "Calibration": "simulate.calibrate",
    "CalibrationError": "simulate.calibrate",
    "ClusterSpec": "simulate.cluster",
    "Billing": "simulate.cost",
    "Pricing": "simulate.cost",
    "CurveModel": "simulate.curves",
    "CurveWorkload": "simulate.curves",
    "Engine": "simulate.engine",
    "FaultModel": "simulate.faults",
    "PlanResult": "simulate.plan",
    "recommend": "simulate.plan",
    "simulate_plan": "simulate.plan",
    "SimRun": "simulate.runner",
    "run_search": "simulate.runner",
    "cost_table": "simulate.tables",
    "scheduler_table": "simulate.tables",
    "speedup_table": "simulate.tables",
    "TabulatedWorkload": "simulate.tabulated",
    "DurationModel": "simulate.workloads",
    "DurationWorkload": "simulate.workloads",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'simulate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
