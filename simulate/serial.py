"""The one-worker baseline of the speed-up table, computed instead of simulated where exact.

On one always-ready worker with one slot, no faults and no reports, a search of trials whose
durations do not depend on their configurations runs them one after another in trial-id order,
each starting the instant the one before ended (FIFO and batches of one alike): the Tuner's
decisions cannot change when anything happens. :func:`serial_run` then adds the durations up
with the very float operations :class:`~simulate.backend.SimBackend` performs, so its makespan
and utilization are the simulated ones to the last bit (``tests/test_sim_serial.py`` checks it
against the simulated search), at a fraction of the cost; the table's other rows still run the
real Tuner. Anything outside those conditions (:func:`serial_applies`) is simulated as before.
"""

from __future__ import annotations

from simulate.cluster import ClusterSpec
from simulate.faults import FaultModel
from simulate.workloads import DurationWorkload, Workload

__all__ = ["serial_applies", "serial_run"]


def serial_applies(workload: Workload, cluster: ClusterSpec, faults: FaultModel | None) -> bool:
    """Whether :func:`serial_run` gives exactly what the simulated search would."""
    return (
        isinstance(workload, DurationWorkload)
        and workload.steps == 0
        and not workload.durations.config_dependent
        and cluster.workers == 1
        and not isinstance(cluster.workers, bool)
        and cluster.slots == 1
        and (faults is None or not faults.active)
    )


def serial_run(
    workload: DurationWorkload, cluster: ClusterSpec, trials: int
) -> tuple[float, float]:
    """(makespan, utilization) of ``trials`` trials run one after another on one worker.

    The worker is ready after its start-up time; each attempt starts where the last ended,
    works from ``start + overhead`` for ``work / speed`` seconds (``SimBackend._start``), and
    adds ``end - start`` to the busy time (``SimBackend._end``).
    """
    overhead = cluster.overhead_s
    speed = cluster.speed(0)
    duration = workload.duration
    ready = now = cluster.startup_s
    busy = 0.0
    no_config: dict[str, object] = {}
    for trial_id in range(trials):
        end = (now + overhead) + duration(trial_id, no_config) / speed
        busy += end - now
        now = end
    span = max(0.0, now - ready)
    return now, (busy / span if span > 0 else 0.0)
