"""Run one simulated search: the real Tuner, a scheduler and a searcher on a SimBackend."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.space import SearchSpace, as_space, uniform
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.cluster import ClusterSpec
from simulate.cost import Bill, Pricing
from simulate.faults import FaultModel
from simulate.workloads import Workload

__all__ = ["SimRun", "fast_gc", "run_search"]


@contextlib.contextmanager
def fast_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a simulation runs.

    A simulated search allocates millions of small objects that are all acyclic (events,
    specs, trials, dicts); reference counting frees them. The cyclic collector would only
    re-scan the growing trial table again and again (about 7 % of the run time at 10^5
    trials). It is re-enabled afterwards, if it was enabled before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class SimRun:
    """One finished simulated search."""

    tuner: Tuner
    backend: SimBackend

    @property
    def makespan(self) -> float:
        """Virtual seconds from the start to the end of the search."""
        end = self.backend.end_time
        return self.backend.now() if end is None else end

    @property
    def utilization(self) -> float:
        return self.backend.utilization(self.makespan)

    def bill(self, pricing: Pricing) -> Bill:
        return self.backend.bill(pricing, self.makespan)

    @property
    def completed(self) -> int:
        return self.tuner.stats.completed


def run_search(
    workload: Workload,
    *,
    cluster: ClusterSpec | int = 1,
    scheduler: Any = "fifo",
    searcher: Any = None,
    space: SearchSpace | Mapping[str, Any] | None = None,
    num_trials: int | None = None,
    seed: int = 0,
    search_seed: int | None = None,
    faults: FaultModel | None = None,
    time_budget: float | None = None,
    target: float | None = None,
    mode: str = "min",
    max_worker_losses: int = 1_000_000,
    record: bool = False,
) -> SimRun:
    """Run the real Tuner with ``scheduler`` and ``searcher`` on a simulated cluster.

    ``workload`` is ready to run (it carries its own seed); ``seed`` draws the cluster's faults
    and the searcher's and scheduler's choices, unless ``search_seed`` fixes those (to try the
    configurations of a given search on another cluster). ``space`` defaults to one uniform
    parameter ``x`` (enough for workloads that ignore the configuration). Lost workers never
    make a trial fail here (``max_worker_losses`` is large) unless asked, so a simulation with
    faults still completes every trial.
    """
    the_space = SearchSpace({"x": uniform(0.0, 1.0)}) if space is None else as_space(space)
    backend = SimBackend(workload, cluster, faults=faults, seed=seed, record=record)
    tuner = Tuner(
        backend=backend,
        space=the_space,
        scheduler=make_scheduler(scheduler),
        searcher=make_searcher(searcher, the_space),
        metric=workload.metric,
        mode=mode,
        num_trials=num_trials,
        time_budget=time_budget,
        target=target,
        max_worker_losses=max_worker_losses,
        seed=seed if search_seed is None else search_seed,
    )
    with fast_gc():
        tuner.run()
    backend.close()
    return SimRun(tuner, backend)
