"""Speed-up table rows computed in closed form instead of simulated, where that is exact.

When trials report nothing, their durations do not depend on their configurations, nothing
fails and every worker is alike and ready at once, the Tuner has no decision that changes
when anything happens: FIFO hands trial after trial, in id order, to whichever slot frees
first (list scheduling), and batch mode starts the next ``workers x slots`` trials when the
last of a batch ends. :func:`closed_form_run` replays exactly that with the float operations
:class:`~simulate.backend.SimBackend` performs, in its order (ties between attempts ending at
the same instant go to the one started first, as the event heap's sequence numbers do), so
makespan and utilization are the simulated ones to the last bit; ``tests/test_sim_closed_form.py``
checks them against the Tuner-driven simulation. It costs a heap operation per trial instead
of a pass through the Tuner. Anything outside :func:`closed_form_applies` is simulated.
"""

from __future__ import annotations

import heapq

from simulate.cluster import ClusterSpec
from simulate.faults import FaultModel
from simulate.workloads import DurationWorkload, Workload

__all__ = ["closed_form_applies", "closed_form_run"]

_NO_CONFIG: dict[str, object] = {}


def closed_form_applies(
    workload: Workload, cluster: ClusterSpec, faults: FaultModel | None
) -> bool:
    """Whether :func:`closed_form_run` gives exactly what the simulated search would."""
    workers = cluster.workers
    if isinstance(workers, bool) or not isinstance(workers, int):
        return False  # a schedule of workers joining and leaving
    return (
        isinstance(workload, DurationWorkload)
        and not workload.durations.config_dependent
        and (faults is None or not faults.active)
        and len({cluster.speed(i) for i in range(min(workers, len(cluster.speeds)))}) == 1
    )


def closed_form_run(
    workload: DurationWorkload, cluster: ClusterSpec, trials: int, mode: str
) -> tuple[float, float]:
    """(makespan, utilization) of ``trials`` trials in ``mode`` (``async``: FIFO, ``sync``:
    batches of the cluster's slots), as the simulator computes them."""
    assert isinstance(cluster.workers, int)
    lanes = cluster.workers * cluster.slots
    ready = cluster.startup_s
    if mode == "async":
        end, busy = _fifo(workload, cluster, trials, lanes)
    elif mode == "sync":
        end, busy = _batches(workload, cluster, trials, lanes)
    else:
        raise ValueError(f"mode must be 'sync' or 'async', got {mode!r}")
    offered = 0.0  # WorkerPool.ready_slot_seconds: one term per worker, in worker order
    if ready < end:
        per_worker = max(0.0, end - ready) * cluster.slots
        for _ in range(cluster.workers):
            offered += per_worker
    return end, (busy / offered if offered > 0 else 0.0)


def _fifo(
    workload: DurationWorkload, cluster: ClusterSpec, trials: int, lanes: int
) -> tuple[float, float]:
    """Each slot takes the next trial the instant it frees: (last end, busy slot-seconds)."""
    overhead, speed, duration = cluster.overhead_s, cluster.speed(0), workload.duration
    ready = now = cluster.startup_s
    first = min(lanes, trials)
    # (end, trial id, start): trial ids order ties as the event heap's sequence numbers do.
    running = [
        ((ready + overhead) + duration(k, _NO_CONFIG) / speed, k, ready) for k in range(first)
    ]
    heapq.heapify(running)
    busy = 0.0
    for k in range(first, trials):
        end, _, start = running[0]
        busy += end - start
        now = end
        heapq.heapreplace(running, ((end + overhead) + duration(k, _NO_CONFIG) / speed, k, end))
    while running:
        end, _, start = heapq.heappop(running)
        busy += end - start
        now = end
    return now, busy


def _batches(
    workload: DurationWorkload, cluster: ClusterSpec, trials: int, lanes: int
) -> tuple[float, float]:
    """Batches of ``lanes`` trials, each started when the last ended: (last end, busy)."""
    overhead, speed, duration = cluster.overhead_s, cluster.speed(0), workload.duration
    now = cluster.startup_s
    busy = 0.0
    for first in range(0, trials, lanes):
        start = now
        ends = sorted(
            ((start + overhead) + duration(k, _NO_CONFIG) / speed, k)
            for k in range(first, min(first + lanes, trials))
        )
        for end, _ in ends:
            busy += end - start
        now = ends[-1][0]
    return now, busy
