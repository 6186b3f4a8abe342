"""Rung arithmetic, parameter validation and the registry names of the multi-fidelity
schedulers, and the worker-side checkpoint copy of a PBT exploit (no cluster, no Tuner)."""

from __future__ import annotations

import numpy as np
import pytest

import daskhpo as dh
from daskhpo.registry import make_scheduler, make_searcher
from daskhpo.schedulers._rungs import Rung, rung_levels
from daskhpo.schedulers.sha import halving_plan
from daskhpo.searchers.random import RandomSearcher
from daskhpo.space import as_space
from daskhpo.trial import Decision, Trial, TrialStatus

# Table 1 of Li et al., "Hyperband" (JMLR 2018): R = 81, eta = 3; (n_i, r_i) per bracket s.
PAPER_TABLE = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_hyperband_brackets_equal_the_papers_table():
    brackets = dh.hyperband_brackets(81, 3)
    assert [b.s for b in brackets] == [4, 3, 2, 1, 0]
    assert {b.s: list(b.rungs) for b in brackets} == PAPER_TABLE


def test_hyperband_brackets_in_units_of_min_resource():
    # Resource 10..810 is the same table scaled by 10.
    brackets = dh.hyperband_brackets(810, 3, min_resource=10)
    assert {b.s: [(n, r / 10) for n, r in b.rungs] for b in brackets} == PAPER_TABLE


def test_rung_levels_stop_below_max_resource():
    assert rung_levels(1, 81, 3) == [1, 3, 9, 27]
    assert rung_levels(1, 100, 3) == [1, 3, 9, 27, 81]
    assert rung_levels(2, 16, 2) == [2, 4, 8]
    assert rung_levels(5, 5, 3) == []


def test_successive_halving_plan_matches_the_formulas():
    # n_k = floor(n / eta**k) at r_k = r_min * eta**k; the last rung at max_resource.
    assert halving_plan(81, 1, 81, 3) == ((81, 1), (27, 3), (9, 9), (3, 27), (1, 81))
    assert halving_plan(20, 1, 10, 3) == ((20, 1), (6, 3), (2, 9), (1, 10))
    assert dh.SuccessiveHalvingScheduler(max_resource=27).num_configs == 27
    assert dh.SuccessiveHalvingScheduler(max_resource=16, reduction_factor=2).num_configs == 16


def test_rung_stopping_rule_keeps_the_top_fraction_rounded_up():
    rung = Rung(level=1)
    decisions = []
    for trial_id, key in enumerate([5.0, 4.0, 6.0, 1.0, 7.0, 2.0]):
        rung.record(trial_id, key)
        decisions.append(rung.continues(trial_id, 3))
    # n=1 first goes on; n=2 better; n=3 worst; n=4 best; n=5 worst; n=6: 1 better, 6/3=2
    assert decisions == [True, True, False, True, False, True]


def test_rung_promotes_only_the_top_floor_fraction_once():
    rung = Rung(level=1)
    for trial_id, key in enumerate([3.0, 1.0]):
        rung.record(trial_id, key)
    assert rung.promotable(3) == []  # floor(2 / 3) = 0
    rung.record(2, 2.0)
    assert rung.promotable(3) == [1]
    rung.promoted.add(1)
    assert rung.promotable(3) == []
    for trial_id in range(3, 6):
        rung.record(trial_id, 10.0 + trial_id)
    assert rung.promotable(3) == [2]  # top 2 of 6 are 1 and 2


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (dh.ASHAScheduler, {"max_resource": 9, "reduction_factor": 1}, "greater than 1"),
        (dh.ASHAScheduler, {"max_resource": 9, "reduction_factor": 0.5}, "greater than 1"),
        (dh.ASHAScheduler, {"max_resource": 9, "min_resource": 10}, "larger than max_resource"),
        (dh.ASHAScheduler, {"max_resource": 9, "grace_period": 10}, "larger than max_resource"),
        (dh.ASHAScheduler, {"max_resource": 0}, "max_resource must be a positive"),
        (dh.ASHAScheduler, {"max_resource": 9, "min_resource": -1}, "min_resource must be a"),
        (dh.ASHAScheduler, {"max_resource": None}, "max_resource is required"),
        (dh.ASHAScheduler, {"max_resource": 9, "variant": "eager"}, "variant must be one of"),
        (
            dh.ASHAScheduler,
            {"max_resource": 9, "min_resource": 1, "grace_period": 1},
            "not both",
        ),
        (dh.ASHAScheduler, {"max_resource": True}, "must be a number"),
        (dh.ASHAScheduler, {"max_resource": 9, "resource": ""}, "resource must be"),
        (dh.SuccessiveHalvingScheduler, {"max_resource": 9, "num_configs": 0}, "num_configs"),
        (dh.HyperbandScheduler, {"max_resource": 9, "reduction_factor": 1}, "greater than 1"),
        (dh.AsyncHyperbandScheduler, {"max_resource": 9, "brackets": 5}, "at most 3"),
        (dh.MedianStoppingScheduler, {"min_samples": 0}, "min_samples"),
        (dh.MedianStoppingScheduler, {"grace_period": 5, "max_resource": 2}, "grace_period"),
        (dh.PBTScheduler, {"perturbation_interval": 0}, "perturbation_interval"),
        (dh.PBTScheduler, {"perturbation_interval": 2, "quantile_fraction": 0.7}, "(0, 0.5]"),
        (dh.PBTScheduler, {"perturbation_interval": 2, "resample_probability": 2}, "[0, 1]"),
        (dh.PBTScheduler, {"perturbation_interval": 2, "population_size": 0}, "population"),
    ],
)
def test_bad_parameters_fail_with_the_value_and_the_fix(factory, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        factory(**kwargs)


def test_yaml_style_mappings_build_every_scheduler():
    asha = make_scheduler(
        {"asha": {"resource": "epoch", "max_resource": 81, "reduction_factor": 3}}
    )
    assert isinstance(asha, dh.ASHAScheduler)
    assert (asha.resource, asha.max_resource, asha.reduction_factor) == ("epoch", 81, 3)
    assert [r.level for r in asha.brackets[0]] == [1, 3, 9, 27]
    built = {
        "sha": {"max_resource": 27},
        "hyperband": {"max_resource": 27},
        "async_hyperband": {"max_resource": 27, "brackets": 2},
        "ahb": {"max_resource": 27},
        "median": {"grace_period": 2},
        "pbt": {"perturbation_interval": 4, "population_size": 8},
    }
    kinds = {name: type(make_scheduler({name: opts})) for name, opts in built.items()}
    assert kinds == {
        "sha": dh.SuccessiveHalvingScheduler,
        "hyperband": dh.HyperbandScheduler,
        "async_hyperband": dh.AsyncHyperbandScheduler,
        "ahb": dh.AsyncHyperbandScheduler,
        "median": dh.MedianStoppingScheduler,
        "pbt": dh.PBTScheduler,
    }
    assert all(not make_scheduler({n: o}).prefers_queue for n, o in built.items())


def test_registry_reports_bad_scheduler_options_clearly():
    with pytest.raises(ValueError, match="reduction_factor must be greater than 1"):
        make_scheduler({"asha": {"max_resource": 9, "reduction_factor": 1}})
    with pytest.raises(ValueError, match="bad options for scheduler 'asha'"):
        make_scheduler({"asha": {"max_resource": 9, "eta": 3}})


def _bound(scheduler: dh.Scheduler, space: dict) -> dh.Scheduler:
    searcher = RandomSearcher()
    searcher.setup(as_space(space), metric="loss", mode="min", rng=np.random.default_rng(0))
    scheduler.setup(searcher=searcher, metric="loss", mode="min", rng=np.random.default_rng(1))
    return scheduler


def test_metric_resource_must_be_reported():
    asha = _bound(dh.ASHAScheduler(max_resource=9, resource="epoch"), {"x": dh.uniform(0, 1)})
    trial = Trial(0, {"x": 0.5}, status=TrialStatus.RUNNING)
    assert asha.on_trial_report(trial, 10, {"loss": 1.0, "epoch": 1}, 0.0) is Decision.CONTINUE
    with pytest.raises(ValueError, match=r"report\(step, epoch=\.\.\."):
        asha.on_trial_report(trial, 11, {"loss": 1.0}, 0.0)


def test_a_verdict_is_repeated_to_a_resubmitted_attempt():
    """A trial whose worker died before it saw STOP must not run on when resubmitted."""
    asha = _bound(dh.ASHAScheduler(max_resource=9), {"x": dh.uniform(0, 1)})
    for trial_id, loss in enumerate([1.0, 2.0, 3.0]):
        asha.suggest(trial_id, 0.0, allow_new=True)
        trial = Trial(trial_id, {}, status=TrialStatus.RUNNING)
        decision = asha.on_trial_report(trial, 1, {"loss": loss}, 0.0)
    assert decision is Decision.STOP
    trial.attempt += 1  # the resubmitted attempt reports again, below the rung
    assert asha.on_trial_report(trial, 1, {"loss": 0.0}, 1.0) is Decision.STOP


def test_pbt_checks_mutation_names_against_the_space():
    with pytest.raises(ValueError, match=r"\['momentum'\] which are not sampled"):
        _bound(
            dh.PBTScheduler(perturbation_interval=2, hyperparam_mutations=["momentum"]),
            {"lr": dh.loguniform(1e-4, 1.0), "momentum": 0.9},
        )
    pbt = _bound(
        dh.PBTScheduler(
            perturbation_interval=2,
            hyperparam_mutations={"lr": {"loguniform": [1e-3, 1e-1]}, "opt": ["sgd", "adam"]},
        ),
        {"lr": dh.loguniform(1e-4, 1.0)},
    )
    assert set(pbt.mutations) == {"lr", "opt"}


def test_pbt_explore_perturbs_within_the_domains():
    space = {
        "lr": dh.loguniform(1e-4, 1.0),
        "units": dh.randint(1, 10),
        "opt": dh.choice(["sgd", "adam", "rmsprop"]),
        "drop": dh.uniform(0.0, 0.5),
    }
    pbt = _bound(dh.PBTScheduler(perturbation_interval=2, resample_probability=0.0), space)
    config = {"lr": 0.9, "units": 10, "opt": "adam", "drop": 0.45}
    for _ in range(50):
        new = pbt.explore(config)
        assert new["lr"] == pytest.approx(0.72) or new["lr"] == pytest.approx(1.0)
        assert new["lr"] < 1.0
        assert new["units"] in (8, 10)
        assert new["opt"] in ("sgd", "rmsprop")
        assert new["drop"] == pytest.approx(0.36) or new["drop"] < 0.5
    assert as_space(space).contains(pbt.explore(config))


def test_optuna_searcher_is_registered():
    pytest.importorskip("optuna", reason="the optuna extra is not installed")
    searcher = make_searcher({"optuna": {"sampler": "tpe"}}, as_space({"x": dh.uniform(0, 1)}))
    assert isinstance(searcher, dh.OptunaSearcher)
    with pytest.raises(ValueError, match="unknown Optuna sampler 'tpee'"):
        make_searcher({"optuna": {"sampler": "tpee"}}, as_space({"x": dh.uniform(0, 1)}))


def test_pbt_copies_a_donor_directory_while_the_donor_writes(tmp_path):
    """The exploit copy runs while the donor may be renaming a fresh checkpoint into place."""
    import os
    import threading

    from daskhpo.dask.worker.reporting import _seed_checkpoint

    donor = tmp_path / "donor"
    donor.mkdir()
    (donor / "ck.bin").write_bytes(b"0" * 100_000)
    done = threading.Event()

    def write_checkpoints() -> None:
        i = 0
        while not done.is_set():
            tmp = donor / f"ck.tmp-{i}"
            tmp.write_bytes(b"x" * 100_000)
            os.replace(tmp, donor / "ck.bin")
            i += 1

    writer = threading.Thread(target=write_checkpoints)
    writer.start()
    try:
        for k in range(150):
            target = tmp_path / f"trial_{k}"
            _seed_checkpoint(donor, target)
            assert (target / "ck.bin").stat().st_size == 100_000
    finally:
        done.set()
        writer.join()
