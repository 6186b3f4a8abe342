"""What each report of a real search cost beyond a workload's seconds per step.

A table of learning curves (:class:`~simulate.tabulated.TabulatedWorkload`) times each step's
training alone; a real search also sends every report to the driver, saves a checkpoint and,
at a scheduler's milestone, waits for the verdict. :func:`report_overhead` measures that cost
on a real search over the table's grid: the time between two consecutive reports of an
attempt (a step and its report, on the driver's clock) minus the workload's seconds per step
for the trial's configuration, averaged over every such pair (a mean, as the simulated time
adds them up; the first step of an attempt also holds its launch, which
``ClusterSpec.overhead_s`` is for). It is what
:attr:`ClusterSpec.report_overhead_s <simulate.cluster.ClusterSpec.report_overhead_s>` is
for a simulation of that table on that machine. A calibrated workload
(:func:`~simulate.calibrate.calibrate`) needs none: its seconds per step were measured with
the reports in them.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from simulate.calibrate.observe import CalibrationError, measure
from simulate.workloads import Workload

__all__ = ["report_overhead"]


def report_overhead(
    experiment_dir: str | Path, workload: Workload, *, until: float | None = None
) -> float:
    """Seconds each report of the search in ``experiment_dir`` took beyond ``workload``'s
    seconds per step (see the module docstring), >= 0: a machine faster than the table's makes
    no report cost less than nothing. ``until`` keeps the search's first seconds only."""
    steps = int(workload.steps)
    if steps < 1:
        raise CalibrationError(
            f"{workload!r} has no steps (it only returns a final result), so it has no seconds "
            "per step to measure a report's cost against; use a workload with learning curves"
        )
    data = measure(experiment_dir, until=until)
    per_step = {t.trial_id: workload.duration(t.trial_id, t.config) / steps for t in data.trials}
    extra = [gap - per_step[tid] for tid, gap in data.report_gaps if tid in per_step]
    if not extra:
        raise CalibrationError(
            f"no attempt of {data.source or 'the search'} reported twice, so its reports have "
            "no cost to measure; calibrate from a search whose objective calls report() each "
            "step, with trials that run two steps or more"
        )
    return max(0.0, statistics.fmean(extra))
