"""The Optuna sampler bridge, driven by the real Tuner on the virtual-clock backend."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

import daskhpo as dh
from daskhpo.registry import make_searcher
from daskhpo.space import as_space
from tests.sched_objectives import run_virtual

optuna = pytest.importorskip(
    "optuna", reason="the optuna extra is not installed (pip install 'daskhpo[optuna]')"
)

SPACE = {
    "x": dh.uniform(-2.0, 2.0),
    "lr": dh.loguniform(1e-4, 1.0),
    "layers": dh.randint(1, 4),
    "width": dh.lograndint(8, 256),
    "opt": dh.choice(["sgd", "adam"]),
    "shape": dh.choice([(1, 2), (3, 4)]),  # not an Optuna-native category: mapped by index
    "epochs": 3,
}


def bowl(config: dict[str, Any], state: Any, epoch: int) -> tuple[Any, dict[str, Any]]:
    """A smooth objective whose optimum is x = 0.5, lr = 0.01; improves with epochs."""
    loss = (config["x"] - 0.5) ** 2 + 0.1 * (np.log10(config["lr"]) + 2.0) ** 2 + 1.0 / epoch
    return None, {"loss": float(loss)}


def _needs(*modules: str) -> list[pytest.MarkDecorator]:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return [pytest.mark.skip(reason=f"needs {', '.join(missing)} (not installed)")] * bool(missing)


SAMPLERS = [  # (name, trials, options): past the startup trials each model gets fitted
    pytest.param("tpe", 14, {"n_startup_trials": 5}, id="tpe"),
    pytest.param("random", 14, {}, id="random"),
    pytest.param("cmaes", 14, {"n_startup_trials": 5}, id="cmaes", marks=_needs("cmaes")),
    pytest.param(
        "gp",
        5,
        {"n_startup_trials": 3},
        id="gp",
        marks=[pytest.mark.slow, *_needs("torch", "scipy")],
    ),
]


def _search(sampler: str, seed: int, num_trials: int = 14, **options: Any):
    searcher = make_searcher({"optuna": {"sampler": sampler, **options}}, as_space(SPACE))
    return run_virtual(
        dh.FIFOScheduler(),
        SPACE,
        bowl,
        searcher=searcher,
        num_trials=num_trials,
        seed=seed,
        workers=1,
        max_epochs=1,
        tuner_options={"queue_depth": 0},  # ask after each tell, so models get fitted
    )


@pytest.mark.parametrize(("sampler", "trials", "options"), SAMPLERS)
def test_each_sampler_runs_seeded_and_stays_in_the_space(sampler, trials, options):
    def configs(seed: int) -> tuple[Any, list[dict[str, Any]]]:
        tuner, _, _ = _search(sampler, seed, trials, sampler_options=options)
        return tuner, [t.config for t in tuner.trials.values()]

    tuner, first = configs(4)
    assert len(first) == trials
    space = as_space(SPACE)
    assert all(space.contains(c) for c in first), first
    assert configs(4)[1] == first
    assert configs(5)[1] != first
    told = [t.value for t in tuner.searcher.study.trials]
    assert told == [tuner.trials[i].metric_value("loss") for i in range(trials)]


def test_tpe_learns_from_what_it_is_told():
    def late_losses(sampler: str, **options: Any) -> float:
        tuner, _, _ = _search(sampler, seed=0, num_trials=40, **options)
        return float(np.mean([tuner.trials[i].metric_value("loss") for i in range(20, 40)]))

    tpe = late_losses("tpe", sampler_options={"n_startup_trials": 10})
    assert tpe < 0.8 * late_losses("random")


def test_stopped_trials_are_pruned_with_their_intermediate_values():
    searcher = make_searcher({"optuna": {"sampler": "tpe"}}, as_space(SPACE))
    tuner, _, _ = run_virtual(
        dh.ASHAScheduler(max_resource=9),
        SPACE,
        bowl,
        searcher=searcher,
        num_trials=12,
        workers=2,
        max_epochs=9,
    )
    states = {t.number: t.state for t in searcher.study.trials}
    for trial_id, trial in tuner.trials.items():
        expected = {"STOPPED": "PRUNED", "COMPLETED": "COMPLETE"}[trial.status.value]
        assert states[trial_id].name == expected
    pruned = [t for t in searcher.study.trials if t.state.name == "PRUNED"]
    assert pruned
    assert all(t.intermediate_values for t in pruned)


def test_sampler_instances_and_bad_options_are_handled():
    sampler = optuna.samplers.RandomSampler(seed=1)
    searcher = dh.OptunaSearcher(sampler=sampler)
    tuner, _, _ = run_virtual(
        dh.FIFOScheduler(), SPACE, bowl, searcher=searcher, num_trials=3, max_epochs=1
    )
    assert len(tuner.trials) == 3
    with pytest.raises(ValueError, match="must not set 'seed'"):
        dh.OptunaSearcher(sampler="tpe", sampler_options={"seed": 3})
    with pytest.raises(ValueError, match=r"name .* or an Optuna sampler instance"):
        dh.OptunaSearcher(sampler=42)
