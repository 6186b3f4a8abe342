"""Plan before you pay: predict time and cost of a search from one that ran for real.

:func:`plan` calibrates the simulator from an experiment directory (see
:mod:`simulate.calibrate`), then runs the requested searches — worker counts, schedulers,
on-demand or spot — through the real Tuner and schedulers on the virtual clock, and returns a
table with predicted makespan, instance-hours, cost, utilization and the best metric, each
with a 90 % band. The band combines two sources: repeated simulation (different draws of
configurations and noise) and the fit itself (each repeat is also run on a calibration
refitted to resampled trials). The best metric never leaves the values the experiment
measured; ``best_value_beyond_data`` is the share of runs whose best would need more than they
show (see :mod:`simulate.plan.outcome`). :func:`recommend` turns the table into one sentence.

Inside one repeat every row sees the same draws (common random numbers), so differences
between rows are the setting's, not luck's.
"""

from simulate.plan.outcome import PLAN_COLUMNS
from simulate.plan.sweep import PlanResult, plan, simulate_plan
from simulate.plan.verdict import describe, human_time, recommend
from simulate.plots import plan_figure

__all__ = [
    "PLAN_COLUMNS",
    "PlanResult",
    "describe",
    "human_time",
    "plan",
    "plan_figure",
    "recommend",
    "simulate_plan",
]
