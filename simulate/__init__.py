"""A discrete-event simulator for daskhpo searches: the real Tuner, schedulers and searchers on a
virtual clock, with synthetic workloads, faults and prices. Never imports ``distributed``.

Start with :func:`simulate.tables.speedup_table`, :func:`simulate.tables.cost_table` and
:func:`simulate.tables.scheduler_table`, or :func:`run_search` for one search.
"""

from simulate.backend import SimBackend
from simulate.cluster import ClusterSpec
from simulate.cost import Billing, Pricing
from simulate.engine import Engine
from simulate.faults import FaultModel
from simulate.runner import SimRun, run_search
from simulate.tables import cost_table, scheduler_table, speedup_table
from simulate.workloads import CurveModel, CurveWorkload, DurationModel, DurationWorkload

__all__ = [
    "Billing",
    "ClusterSpec",
    "CurveModel",
    "CurveWorkload",
    "DurationModel",
    "DurationWorkload",
    "Engine",
    "FaultModel",
    "Pricing",
    "SimBackend",
    "SimRun",
    "cost_table",
    "run_search",
    "scheduler_table",
    "speedup_table",
]
