"""Objectives for the multi-fidelity scheduler tests.

* Learning curves for :class:`daskhpo.testing.SteppedBackend` and :func:`run_virtual`, which
  runs the real Tuner on it (a second backend, not a stand-in for Dask).
* ``trainer`` is a real objective for LocalCluster tests: it sleeps per epoch, keeps its
  progress in ``checkpoint.json`` in ``daskhpo.checkpoint_dir()`` and records every epoch
  it actually ran, so tests can tell a resumed attempt from one that started over.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import daskhpo as dh
from daskhpo.searchers.random import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.space import as_space
from daskhpo.testing import MemoryJournal, StepFn, SteppedBackend
from daskhpo.tuner import Tuner

# --------------------------------------------------------------------------- learning curves


def ranked_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """``loss = a + 1 / epoch``: every epoch ranks the configurations by ``a``."""
    return None, {"loss": config["a"] + 1.0 / epoch, "epoch": epoch}


def crossing_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """``loss = a + b / epoch``: curves cross, so early ranks can mislead."""
    loss = config["a"] + config["b"] / epoch
    return None, {"loss": loss, "epoch": epoch}


def gain(lr: float) -> float:
    """Progress per epoch: best at lr = 0.01, falling off by decades."""
    return math.exp(-((math.log10(lr) + 2.0) ** 2))


def lr_curve(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """A trainable state ``w`` grows by ``gain(lr)`` per epoch; ``loss = exp(-w)``."""
    w = (state or 0.0) + gain(config["lr"])
    return w, {"loss": math.exp(-w), "epoch": epoch}


def run_virtual(
    scheduler: dh.Scheduler,
    space: dict[str, Any],
    step: StepFn,
    *,
    num_trials: int | None = 20,
    seed: int = 0,
    searcher: dh.Searcher | None = None,
    tuner_options: dict[str, Any] | None = None,
    on_tuner: Callable[[Tuner], None] | None = None,
    **backend_options: Any,
) -> tuple[Tuner, SteppedBackend, MemoryJournal]:
    """Run a whole search on a :class:`SteppedBackend`; returns the tuner, backend, journal.

    ``on_tuner`` sees the Tuner before it runs (a probe that needs the reports, say).
    """
    backend = SteppedBackend(step, **backend_options)
    journal = MemoryJournal()
    options = dict(tuner_options or {})
    callbacks = options.pop("callbacks", ())
    settings = TuneSettings(metric="loss", num_trials=num_trials, seed=seed, **options)
    tuner = Tuner(
        settings=settings,
        backend=backend,
        space=as_space(space),
        scheduler=scheduler,
        searcher=searcher or RandomSearcher(),
        journal=journal,
        callbacks=callbacks,
    )
    if on_tuner is not None:
        on_tuner(tuner)
    tuner.run()
    return tuner, backend, journal


# --------------------------------------------------------------------------- real objectives

CHECKPOINT = "checkpoint.json"


def _save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: a PBT donor's directory may be copied while it trains."""
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def load_checkpoint(directory: Path) -> dict[str, Any]:
    """A trial's checkpoint as ``trainer`` wrote it (empty progress if there is none)."""
    path = directory / CHECKPOINT
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {"epoch": 0, "w": 0.0, "executed": [], "lineage": []}


def trainer(config: dict[str, Any]) -> dict[str, Any]:
    """Train ``epochs`` epochs of ``epoch_time`` seconds, resuming from the checkpoint.

    ``w`` grows by ``gain(lr)`` per epoch and ``loss = floor + exp(-w)``. The checkpoint
    records each epoch run as ``[trial_id, attempt, epoch]`` and the trials whose progress
    it carries (``lineage``: a PBT exploit copies the donor's).
    """
    ctx = dh.current_trial()
    me, attempt = (ctx.trial_id, ctx.attempt) if ctx is not None else (-1, 0)
    directory = dh.checkpoint_dir()
    ck = load_checkpoint(directory)
    if not ck["lineage"] or ck["lineage"][-1] != me:
        ck["lineage"].append(me)
    floor = float(config.get("floor", 0.0))
    loss = floor + math.exp(-ck["w"])
    for epoch in range(ck["epoch"] + 1, int(config["epochs"]) + 1):
        time.sleep(float(config["epoch_time"]))
        ck["w"] += gain(float(config["lr"]))
        ck["epoch"] = epoch
        ck["executed"].append([me, attempt, epoch])
        loss = floor + math.exp(-ck["w"])
        _save(directory / CHECKPOINT, ck)
        dh.report(epoch, loss=loss, epoch=epoch)
    return {"loss": loss, "epochs": ck["epoch"]}
