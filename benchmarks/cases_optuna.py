"""Optuna on the same trials: a JournalStorage file shared by 2 processes, and 2 threads.

The processes start, import Optuna and load the study before the clock starts (as clusters
do for the other systems); the clock runs from "go" until both have stopped.
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workloads as w


def _objective(workload: str, n: int) -> Callable[[Any], float]:
    """The workload's trial as an Optuna objective; trial numbers past ``n`` end at once."""
    import optuna

    durations = w.w2_durations()

    def objective(trial: Any) -> float:
        if trial.number >= n:  # a process started one more than needed: drop it
            raise optuna.TrialPruned()
        if workload == "w2":
            return w.sleeper({"duration": durations[trial.number]})
        config = {
            "lr": trial.suggest_float("lr", 1e-4, 1.0, log=True),
            "layers": trial.suggest_int("layers", 1, 8),
            "opt": trial.suggest_categorical("opt", list(w.OPTIMIZERS)),
        }
        loss = w.loss_of(config)
        if workload == "w3":
            for step in range(1, w.W3_REPORTS + 1):
                trial.report(loss * (1 + 1 / step), step)
        return loss

    return objective


def _trials(workload: str) -> int:
    return {"w1": w.W1_TRIALS, "w2": w.W2_TRIALS, "w3": w.W3_TRIALS}[workload]


def _storage(path: str) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def _process(path: str, workload: str, seed: int, ready: Any, go: Any) -> None:
    import optuna
    from optuna.study import MaxTrialsCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = _trials(workload)
    study = optuna.load_study(
        study_name="bench", storage=_storage(path), sampler=optuna.samplers.RandomSampler(seed)
    )
    ready.wait()
    go.wait()
    study.optimize(_objective(workload, n), callbacks=[MaxTrialsCallback(n, states=None)])


def _journal(workload: str) -> dict[str, Any]:
    import optuna

    n = _trials(workload)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "journal.log")
        optuna.create_study(study_name="bench", storage=_storage(path), direction="minimize")
        ctx = mp.get_context("spawn")
        ready = ctx.Barrier(w.SLOTS + 1)
        go = ctx.Event()
        procs = [
            ctx.Process(target=_process, args=(path, workload, w.SEED + i, ready, go))
            for i in range(w.SLOTS)
        ]
        for p in procs:
            p.start()
        ready.wait(timeout=60)
        t0 = time.perf_counter()
        go.set()
        for p in procs:
            p.join(timeout=600)
        wall = time.perf_counter() - t0
        study = optuna.load_study(study_name="bench", storage=_storage(path))
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done != n:
        raise RuntimeError(f"optuna completed {done} of {n} trials")
    return {"wall": wall}


def _threads(workload: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = _trials(workload)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(w.SEED))
    t0 = time.perf_counter()
    study.optimize(_objective(workload, n), n_trials=n, n_jobs=w.SLOTS)
    wall = time.perf_counter() - t0
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if done != n:
        raise RuntimeError(f"optuna completed {done} of {n} trials")
    return {"wall": wall}


def w1_optuna_journal() -> dict[str, Any]:
    return _journal("w1")


def w2_optuna_journal() -> dict[str, Any]:
    return _journal("w2")


def w3_optuna_journal() -> dict[str, Any]:
    return _journal("w3")


def w1_optuna_threads() -> dict[str, Any]:
    return _threads("w1")


def w2_optuna_threads() -> dict[str, Any]:
    return _threads("w2")


def w3_optuna_threads() -> dict[str, Any]:
    return _threads("w3")


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        w1_optuna_journal,
        w2_optuna_journal,
        w3_optuna_journal,
        w1_optuna_threads,
        w2_optuna_threads,
        w3_optuna_threads,
    )
}
