"""Small simulated searches whose decisions are pinned: one per scheduler, digested.

``tests/test_sim_decisions.py`` runs each case and compares its digests with
``tests/data/sim_decisions.json``, recorded once from the implementation the simulator's
fast paths replaced. Each case gives two digests: the journal the search writes (every
record, re-encoded, in order) and what a search without a journal ends with (every trial's
status, attempts, configuration, steps, metrics and times, every report, the counters and the
makespan), since a search without a journal takes the simulator's fast paths. Recorded with::

    python tests/sim_decisions.py tests/data/sim_decisions.json

Floats enter the digests through ``repr`` (JSON), so the digests change if any decision,
time or metric changes by one bit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daskhpo import records as rec
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.settings import TuneSettings
from daskhpo.space import SearchSpace, uniform
from daskhpo.testing import MemoryJournal
from daskhpo.tuner import Tuner
from simulate.backend import SimBackend
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.faults import FaultModel
from simulate.workloads import DurationWorkload, Workload

CURVES = "power:steps=27,noise=0.01"
Case = dict[str, Any]

CASES: dict[str, Case] = {
    "fifo": {
        "workload": lambda: DurationWorkload("lognormal:mean=60,sigma=1", seed=1),
        "scheduler": "fifo",
        "workers": 16,
        "trials": 400,
        "space": SearchSpace({"x": uniform(0.0, 1.0)}),
    },
    "fifo-wide": {
        "workload": lambda: DurationWorkload("lognormal:mean=60,sigma=1", seed=8),
        "scheduler": "fifo",
        "workers": 300,
        "trials": 3000,
        "space": SYNTHETIC_SPACE,
    },
    "fifo-faults": {
        "workload": lambda: DurationWorkload("exponential:mean=60", seed=2),
        "scheduler": "fifo",
        "workers": 8,
        "trials": 200,
        "faults": FaultModel(failure_rate=2.0),
        "space": SYNTHETIC_SPACE,
    },
    "asha": {
        "workload": lambda: CurveWorkload(CURVES, "lognormal:mean=10,sigma=0.5", seed=3),
        "scheduler": {"asha": {"max_resource": 27}},
        "workers": 8,
        "trials": 300,
        "space": SYNTHETIC_SPACE,
    },
    "asha-promotion": {
        "workload": lambda: CurveWorkload(CURVES, "lognormal:mean=10,sigma=0.5", seed=4),
        "scheduler": {"asha": {"max_resource": 27, "variant": "promotion"}},
        "workers": 8,
        "trials": 200,
        "space": SYNTHETIC_SPACE,
    },
    "asha-budget": {
        "workload": lambda: CurveWorkload(CURVES, "lognormal:mean=10,sigma=0.5", seed=9),
        "scheduler": {"asha": {"max_resource": 27}},
        "workers": 8,
        "trials": 2000,
        "time_budget": 600.0,
        "space": SYNTHETIC_SPACE,
    },
    "median": {
        "workload": lambda: CurveWorkload(CURVES, "lognormal:mean=10,sigma=0.5", seed=5),
        "scheduler": "median",
        "workers": 8,
        "trials": 200,
        "space": SYNTHETIC_SPACE,
    },
    "async_hyperband": {
        "workload": lambda: CurveWorkload(CURVES, "lognormal:mean=10,sigma=0.5", seed=6),
        "scheduler": {"async_hyperband": {"max_resource": 27}},
        "workers": 8,
        "trials": 300,
        "space": SYNTHETIC_SPACE,
    },
    "pbt": {
        "workload": lambda: CurveWorkload("power:steps=12,noise=0.01", "constant:12", seed=7),
        "scheduler": {"pbt": {"perturbation_interval": 3}},
        "workers": 4,
        "trials": 16,
        "space": SYNTHETIC_SPACE,
    },
}


def run_case(case: Case, *, journal: MemoryJournal | None) -> tuple[Tuner, SimBackend]:
    """One case through the real Tuner on a SimBackend (as ``simulate.runner`` runs it)."""
    workload: Workload = case["workload"]()
    backend = SimBackend(workload, case["workers"], faults=case.get("faults"), seed=11)
    space = case["space"]
    tuner = Tuner(
        settings=TuneSettings(
            metric=workload.metric,
            num_trials=case["trials"],
            seed=11,
            max_worker_losses=1000,
            time_budget=case.get("time_budget"),
        ),
        backend=backend,
        space=space,
        scheduler=make_scheduler(case["scheduler"]),
        searcher=make_searcher("random", space),
        journal=journal,
    )
    tuner.run()
    backend.close()
    return tuner, backend


def _digest(items: Any) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def journal_digest(case: Case) -> str:
    journal = MemoryJournal()
    run_case(case, journal=journal)
    return hashlib.sha256(b"".join(rec.encode(r) for r in journal.records)).hexdigest()


def state_digest(case: Case) -> str:
    tuner, backend = run_case(case, journal=None)
    trials = [
        [
            t.trial_id,
            t.status.value,
            t.attempt,
            t.config,
            t.budget,
            t.last_step,
            t.last_metrics,
            t.created_at,
            t.started_at,
            t.ended_at,
            t.worker,
            t.infra_failures,
        ]
        for t in tuner.trials.values()
    ]
    reports = [dataclasses.astuple(r) for r in tuner.reports]
    stats = vars(tuner.stats)
    return _digest([trials, reports, stats, backend.end_time, tuner.best_trial_id])


DIGESTS: dict[str, Callable[[Case], str]] = {"journal": journal_digest, "state": state_digest}


def table_digests() -> dict[str, str]:
    """The CSV bytes of a small speed-up table and a small scheduler table."""
    from simulate.scheduler_table import scheduler_table
    from simulate.tables import speedup_table

    speedup = speedup_table([1, 3, 8], trials=120, duration="lognormal:mean=60,sigma=1",
                            repeats=2, seed=5)  # fmt: skip
    schedulers = scheduler_table(["fifo", "asha", "median"], workers=4, trials=60, repeats=2,
                                 seed=5)  # fmt: skip
    return {
        "speedup": hashlib.sha256(speedup.to_csv().encode()).hexdigest(),
        "schedulers": hashlib.sha256(schedulers.to_csv().encode()).hexdigest(),
    }


def all_digests() -> dict[str, dict[str, str]]:
    digests = {name: {k: f(case) for k, f in DIGESTS.items()} for name, case in CASES.items()}
    digests["tables"] = table_digests()
    return digests


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.write_text(json.dumps(all_digests(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
