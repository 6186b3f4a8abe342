"""Run one simulated search: the real Tuner, a scheduler and a searcher on a SimBackend."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from daskhpo.errors import SettingsError
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace, as_space, uniform
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.cluster import ClusterSpec
from simulate.cost import Bill, Pricing
from simulate.faults import FaultModel
from simulate.workloads import Workload

__all__ = ["SIM_MAX_WORKER_LOSSES", "SimRun", "fast_gc", "run_search"]


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


#: Worker losses a simulated trial survives unless the settings say otherwise.
SIM_MAX_WORKER_LOSSES = 1_000_000


def run_search(
    workload: Workload,
    settings: TuneSettings | None = None,
    *,
    cluster: ClusterSpec | int = 1,
    space: SearchSpace | Mapping[str, Any] | None = None,
    search_seed: int | None = None,
    faults: FaultModel | None = None,
    record: bool = False,
    scheduler: Any = None,
    searcher: Any = None,
    num_trials: int | None = None,
    seed: int | None = None,
    time_budget: float | None = None,
    target: float | None = None,
    mode: str | None = None,
    max_worker_losses: int | None = None,
) -> SimRun:
    """Run the real Tuner with a scheduler and a searcher on a simulated cluster.

    The search is described by ``settings`` (the :class:`~daskhpo.settings.TuneSettings` a real
    search takes; its metric is the workload's) or by the keywords ``scheduler`` (default
    FIFO), ``searcher``, ``num_trials``, ``seed`` (default 0), ``time_budget``, ``target``,
    ``mode`` (default ``"min"``) and ``max_worker_losses``, not both. By keyword, lost workers
    never make a trial fail (``max_worker_losses`` is large) unless asked, so a simulation
    with faults still completes every trial.

    ``workload`` is ready to run (it carries its own seed); the seed draws the cluster's faults
    and the searcher's and scheduler's choices, unless ``search_seed`` fixes those (to try the
    configurations of a given search on another cluster). ``space`` defaults to one uniform
    parameter ``x`` (enough for workloads that ignore the configuration).
    """
    keywords = {
        "scheduler": scheduler,
        "searcher": searcher,
        "num_trials": num_trials,
        "seed": seed,
        "time_budget": time_budget,
        "target": target,
        "mode": mode,
        "max_worker_losses": max_worker_losses,
    }
    the = _settings(workload, settings, keywords)
    the_seed = 0 if the.seed is None else the.seed
    the_space = SearchSpace({"x": uniform(0.0, 1.0)}) if space is None else as_space(space)
    backend = SimBackend(workload, cluster, faults=faults, seed=the_seed, record=record)
    search_settings = the.replace(seed=the_seed if search_seed is None else search_seed)
    tuner = Tuner(
        settings=search_settings,
        backend=backend,
        space=the_space,
        scheduler=make_scheduler(the.scheduler),
        searcher=make_searcher(the.searcher, the_space),
    )
    with fast_gc():
        tuner.run()
    backend.close()
    return SimRun(tuner, backend)


def _settings(
    workload: Workload, settings: TuneSettings | None, keywords: Mapping[str, Any]
) -> TuneSettings:
    """The search's settings: ``settings`` as given, or built (and so checked) from keywords."""
    given = sorted(name for name, value in keywords.items() if value is not None)
    if settings is None:
        return TuneSettings(
            metric=workload.metric,
            mode=keywords["mode"] or "min",
            num_trials=keywords["num_trials"],
            scheduler=keywords["scheduler"],
            searcher=keywords["searcher"],
            seed=0 if keywords["seed"] is None else keywords["seed"],
            time_budget=keywords["time_budget"],
            target=keywords["target"],
            max_worker_losses=(
                SIM_MAX_WORKER_LOSSES
                if keywords["max_worker_losses"] is None
                else keywords["max_worker_losses"]
            ),
        )
    if not isinstance(settings, TuneSettings):
        raise SettingsError(
            f"settings must be a daskhpo.settings.TuneSettings, got {type(settings).__name__}; "
            "or leave it out and give the settings as keywords"
        )
    if given:
        raise SettingsError(
            f"run_search got settings and also {', '.join(given)} as keywords; put them in "
            f"the settings instead: settings.replace({given[0]}=...)"
        )
    if settings.metric != workload.metric:
        raise SettingsError(
            f"the settings' metric {settings.metric!r} is not the one the workload reports "
            f"({workload.metric!r}); use TuneSettings(metric={workload.metric!r}, ...)"
        )
    return settings
