"""A discrete-event simulator for daskhpo searches: the real Tuner, schedulers and searchers on a
virtual clock, with synthetic workloads, faults and prices. Never imports ``distributed``.

Start with :func:`simulate.tables.speedup_table`, :func:`simulate.tables.cost_table` and
:func:`simulate.tables.scheduler_table`, or :func:`run_search` for one search. :func:`simulate_plan`
predicts a search from one that ran for real (:mod:`simulate.plan`, :mod:`simulate.calibrate`).
"""

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
    "cost_table",
    "recommend",
    "run_search",
    "scheduler_table",
    "simulate_plan",
    "speedup_table",
]
