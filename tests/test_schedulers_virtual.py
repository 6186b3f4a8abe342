"""The multi-fidelity schedulers driven by the real Tuner on the virtual-clock backend.

Each test runs a whole search deterministically in a few milliseconds and checks what the
scheduler made the trials do: where they stopped or paused, which were promoted, which
budgets and checkpoints their attempts got.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import pytest

import daskhpo as dh
from daskhpo.searchers.random import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.space import as_space
from daskhpo.testing import SteppedBackend
from daskhpo.trial import TrialStatus
from daskhpo.tuner import Tuner
from tests.sched_objectives import lr_curve, ranked_curve, run_virtual

SPACE = {"a": dh.uniform(0.0, 1.0)}


def epochs_run(backend) -> dict[int, list[int]]:
    """Trial -> the epochs it actually ran, in order, over all its attempts."""
    runs: dict[int, list[int]] = collections.defaultdict(list)
    for trial_id, _, epoch in backend.executed:
        runs[trial_id].append(epoch)
    return dict(runs)


def reached_counts(backend) -> dict[int, int]:
    """Highest epoch -> how many trials got exactly that far."""
    return dict(collections.Counter(max(e) for e in epochs_run(backend).values()))


def by_a(tuner) -> list[int]:
    return sorted(tuner.trials, key=lambda t: tuner.trials[t].config["a"])


# --------------------------------------------------------------------------- ASHA


def test_asha_stopping_stops_losers_at_rungs_and_runs_the_best_to_the_end():
    tuner, backend, _ = run_virtual(
        dh.ASHAScheduler(max_resource=9), SPACE, ranked_curve, num_trials=27, workers=1
    )
    runs = epochs_run(backend)
    best = tuner.trials[by_a(tuner)[0]]
    assert best.status is TrialStatus.COMPLETED
    assert runs[best.trial_id] == list(range(1, 10))
    stopped = [t for t in tuner.trials.values() if t.status is TrialStatus.STOPPED]
    assert len(stopped) > 10
    assert {max(runs[t.trial_id]) for t in stopped} <= {1, 3}  # stopped only at a rung
    assert sum(len(r) for r in runs.values()) < 27 * 9 / 2
    assert all(s.budget is None for s in backend.submitted)  # the stopping variant never pauses


def test_asha_promotion_pauses_at_rungs_and_resumes_from_the_checkpoint():
    tuner, backend, _ = run_virtual(
        dh.ASHAScheduler(max_resource=9, variant="promotion"),
        SPACE,
        ranked_curve,
        num_trials=27,
        workers=3,
        epoch_time=lambda config, epoch: 0.5 + config["a"],
    )
    budgets: dict[int, list[float | None]] = collections.defaultdict(list)
    for spec in backend.submitted:
        budgets[spec.trial_id].append(spec.budget)
    assert {b[0] for b in budgets.values()} == {1}  # new trials stop at the first rung
    assert all(b == [1, 3, None][: len(b)] for b in budgets.values())
    for (trial_id, attempt), start in backend.started_from.items():
        assert start == (0 if attempt == 0 else budgets[trial_id][attempt - 1])
    for trial_id, run in epochs_run(backend).items():
        assert run == list(range(1, len(run) + 1)), f"trial {trial_id} redid epochs: {run}"
    assert tuner.trials[by_a(tuner)[0]].status is TrialStatus.COMPLETED
    statuses = collections.Counter(t.status for t in tuner.trials.values())
    assert statuses[TrialStatus.COMPLETED] >= 1
    assert statuses[TrialStatus.PAUSED] == 27 - statuses[TrialStatus.COMPLETED]
    assert len(tuner.trials) == 27


def test_asha_reads_a_metric_resource_and_pauses_by_decision():
    scheduler = dh.registry.make_scheduler(
        {"asha": {"resource": "epoch", "max_resource": 9, "variant": "promotion"}}
    )
    _, backend, _ = run_virtual(
        scheduler, SPACE, ranked_curve, num_trials=12, workers=2, steps_per_epoch=100
    )
    assert all(s.budget is None for s in backend.submitted)  # steps are not epochs
    paused_at = {max(r) for t, r in epochs_run(backend).items()}
    assert paused_at <= {1, 3, 9}
    assert 9 in paused_at
    assert 1 in paused_at
    for run in epochs_run(backend).values():
        assert run == list(range(1, len(run) + 1))


# --------------------------------------------------------------------------- synchronous


def test_successive_halving_waits_for_each_rung_and_keeps_the_top_third():
    tuner, backend, journal = run_virtual(
        dh.SuccessiveHalvingScheduler(max_resource=9),
        SPACE,
        ranked_curve,
        num_trials=9,
        workers=2,
        epoch_time=lambda config, epoch: 0.5 + config["a"],
    )
    assert reached_counts(backend) == {1: 6, 3: 2, 9: 1}
    runs = epochs_run(backend)
    ranked = by_a(tuner)
    assert {t for t, r in runs.items() if max(r) >= 3} == set(ranked[:3])
    assert {t for t, r in runs.items() if max(r) == 9} == {ranked[0]}
    assert tuner.trials[ranked[0]].status is TrialStatus.COMPLETED
    # synchronous: no trial of rung k+1 resumes before every trial of rung k paused
    for attempt in (1, 2):
        paused = [r.time for r in journal.records if r.event == "paused"]
        paused_before = [
            r.time for r in journal.records if r.event == "paused" and r.attempt == attempt - 1
        ]
        resumed = [r.time for r in journal.records if r.event == "resumed" and r.attempt == attempt]
        assert paused
        assert resumed
        assert min(resumed) >= max(paused_before)


def test_hyperband_runs_the_papers_brackets_in_turn():
    table = dh.hyperband_brackets(9, 3)  # (9,1),(3,3),(1,9) | (5,3),(1,9) | (3,9)
    total = sum(b.rungs[0][0] for b in table)
    tuner, backend, _ = run_virtual(
        dh.HyperbandScheduler(max_resource=9), SPACE, ranked_curve, num_trials=total, workers=2
    )
    expected: collections.Counter[int] = collections.Counter()
    first_budgets: list[float | None] = []
    for bracket in table:
        rungs = list(bracket.rungs)
        for i, (n, r) in enumerate(rungs):
            kept = rungs[i + 1][0] if i + 1 < len(rungs) else 0
            expected[int(r)] += n - kept
        first = rungs[0][1] if len(rungs) > 1 else None
        first_budgets += [first] * rungs[0][0]
    assert reached_counts(backend) == dict(expected)
    assert [s.budget for s in backend.submitted if s.attempt == 0] == first_budgets
    assert len(tuner.trials) == total


# --------------------------------------------------------------------------- async Hyperband


def _bound_ahb(seed: int) -> dh.AsyncHyperbandScheduler:
    searcher = RandomSearcher()
    rng_search, rng_sched = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    searcher.setup(dh.SearchSpace(SPACE), metric="loss", mode="min", rng=rng_search)
    ahb = dh.AsyncHyperbandScheduler(max_resource=81)
    ahb.setup(searcher=searcher, metric="loss", mode="min", rng=rng_sched)
    return ahb


def test_async_hyperband_assigns_brackets_like_the_paper_with_its_own_generator():
    np.random.seed(12345)
    before = np.random.get_state()[1].copy()
    ahb = _bound_ahb(0)
    for trial_id in range(3000):
        ahb.suggest(trial_id, 0.0, allow_new=True)
    assert np.array_equal(np.random.get_state()[1], before)  # global state untouched
    counts = collections.Counter(ahb.bracket_of(t) for t in range(3000))
    sizes = [b.rungs[0][0] for b in dh.hyperband_brackets(81, 3)]  # 81, 34, 15, 8, 5
    expected = [3000 * n / sum(sizes) for n in sizes]
    assert [counts[e] for e in range(5)] == pytest.approx(expected, rel=0.15)
    assert [[r.level for r in rungs] for rungs in ahb.brackets] == [
        [1, 3, 9, 27],
        [3, 9, 27],
        [9, 27],
        [27],
        [],
    ]
    again = _bound_ahb(0)
    for trial_id in range(3000):
        again.suggest(trial_id, 0.0, allow_new=True)
    assert [again.bracket_of(t) for t in range(3000)] == [ahb.bracket_of(t) for t in range(3000)]


def test_async_hyperband_stops_within_each_bracket():
    tuner, backend, _ = run_virtual(
        dh.AsyncHyperbandScheduler(max_resource=9), SPACE, ranked_curve, num_trials=30, workers=2
    )
    scheduler = tuner.scheduler
    assert isinstance(scheduler, dh.AsyncHyperbandScheduler)
    runs = epochs_run(backend)
    for trial_id, trial in tuner.trials.items():
        levels = [r.level for r in scheduler.brackets[scheduler.bracket_of(trial_id)]]
        if trial.status is TrialStatus.STOPPED:
            assert max(runs[trial_id]) in levels
    assert {scheduler.bracket_of(t) for t in tuner.trials} == {0, 1, 2}


# --------------------------------------------------------------------------- median rule


def test_median_rule_stops_a_trial_below_the_median_of_its_peers():
    points = [{"a": 0.5}, {"a": 0.4}, {"a": 0.6}, {"a": 0.9}, {"a": 0.1}]
    tuner, backend, _ = run_virtual(
        dh.MedianStoppingScheduler(grace_period=2, min_samples=3),
        SPACE,
        ranked_curve,
        num_trials=5,
        workers=1,
        searcher=RandomSearcher(points_to_evaluate=points),
    )
    statuses = [tuner.trials[t].status.value for t in range(5)]
    # trials 0-2 have too few peers; trial 3's best (0.9 + 1/2) is worse than the median
    # running mean at epoch 2 (1.25); trial 4 is better
    assert statuses == ["COMPLETED", "COMPLETED", "COMPLETED", "STOPPED", "COMPLETED"]
    assert epochs_run(backend)[3] == [1, 2]


def test_median_rule_respects_the_grace_period():
    points = [{"a": 0.1}, {"a": 0.1}, {"a": 0.1}, {"a": 0.9}]
    tuner, backend, _ = run_virtual(
        dh.MedianStoppingScheduler(grace_period=4, min_samples=3),
        SPACE,
        ranked_curve,
        num_trials=4,
        workers=1,
        searcher=RandomSearcher(points_to_evaluate=points),
    )
    assert tuner.trials[3].status is TrialStatus.STOPPED
    assert epochs_run(backend)[3] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- PBT

PBT_SPACE = {"lr": dh.loguniform(1e-4, 1.0)}


def test_pbt_exploits_a_donors_checkpoint_and_explores_its_config():
    pbt = dh.PBTScheduler(perturbation_interval=3, population_size=4, resample_probability=0.0)
    tuner, backend, _ = run_virtual(
        pbt, PBT_SPACE, lr_curve, num_trials=4, workers=4, max_epochs=12, seed=3
    )
    assert len(tuner.trials) == 4
    assert all(t.status is TrialStatus.COMPLETED for t in tuner.trials.values())
    config_of: dict[int, dict] = {}
    exploits = 0
    for spec in backend.submitted:
        donor = spec.checkpoint_trial_id
        if donor is not None:
            exploits += 1
            ratio = spec.config["lr"] / config_of[donor]["lr"]
            assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2)
            start = backend.started_from[(spec.trial_id, spec.attempt)]
            assert start >= 3  # the donor's progress, not the trial's own
            own = [e for t, a, e in backend.executed if (t, a) == (spec.trial_id, spec.attempt)]
            assert own[0] == start + 1
        config_of[spec.trial_id] = spec.config
    assert 0 < exploits <= len(pbt.exploits)  # a decision at a trial's last epoch is moot


def test_pbt_keeps_a_population_larger_than_the_cluster_level():
    pbt = dh.PBTScheduler(perturbation_interval=2, population_size=6)
    tuner, _, journal = run_virtual(
        pbt, PBT_SPACE, lr_curve, num_trials=6, workers=2, max_epochs=10, seed=1
    )
    assert len(tuner.trials) == 6
    assert all(t.status is TrialStatus.COMPLETED for t in tuner.trials.values())
    time_shared = [
        r for r in journal.records if r.event == "resumed" and r.checkpoint_trial_id is None
    ]
    assert time_shared  # members paused to let those behind them catch up
    # every member got its first interval before any member went past two intervals
    first_report = {}
    for r in journal.records:
        if r.event == "reported":
            first_report.setdefault(r.trial_id, r.time)
    beyond = [r.time for r in journal.records if r.event == "reported" and r.step > 4]
    assert max(first_report.values()) < min(beyond)


def test_pbt_improves_on_the_same_population_without_exploitation():
    def best(scheduler):
        tuner, _, _ = run_virtual(
            scheduler, PBT_SPACE, lr_curve, num_trials=8, workers=4, max_epochs=20, seed=5
        )
        return tuner.best_value

    plain = best(dh.FIFOScheduler())
    pbt = best(dh.PBTScheduler(perturbation_interval=4, population_size=8))
    assert pbt < plain


# --------------------------------------------------------------------------- journal replay


def _state(scheduler) -> Any:
    """What a scheduler knows, in comparable form."""
    state: dict[str, Any] = {
        "paused": sorted(scheduler._paused),
        "verdicts": sorted((t, d.value) for t, d in scheduler._verdicts.items()),
        "done": sorted(scheduler._done),
    }
    if isinstance(scheduler, dh.ASHAScheduler):
        state["rungs"] = [
            [(r.level, r.values, sorted(r.promoted)) for r in rungs] for rungs in scheduler.brackets
        ]
    if isinstance(scheduler, dh.SuccessiveHalvingScheduler):
        state["bracket"] = scheduler.current, scheduler.brackets_started
    if isinstance(scheduler, dh.PBTScheduler):
        state["members"] = scheduler.members, scheduler._pending, scheduler.exploits
    return state


@pytest.mark.parametrize(
    "make",
    [
        lambda: dh.ASHAScheduler(max_resource=9, variant="promotion"),
        lambda: dh.AsyncHyperbandScheduler(max_resource=9),
        lambda: dh.HyperbandScheduler(max_resource=9),
        lambda: dh.PBTScheduler(perturbation_interval=2, population_size=5),
    ],
    ids=["asha-promotion", "async-hyperband", "hyperband", "pbt"],
)
def test_replaying_the_journal_rebuilds_the_scheduler(make):
    space = {**SPACE, "lr": dh.loguniform(1e-3, 1e-1)}
    tuner, _, journal = run_virtual(
        make(),
        space,
        lr_curve,
        num_trials=14,
        workers=3,
        max_epochs=9,
        epoch_time=lambda config, epoch: 0.5 + config["a"],
        tuner_options={"time_budget": 12.0},  # ends mid-search, with attempts in flight
    )
    fresh = make()
    replayed = Tuner(
        settings=TuneSettings(metric="loss", num_trials=14, seed=0),
        backend=SteppedBackend(lr_curve),
        space=dh.SearchSpace(space),
        scheduler=fresh,
        searcher=RandomSearcher(),
    )
    replayed.replay(journal.records)
    assert _state(fresh) == _state(tuner.scheduler)


def test_pbt_exploits_nothing_at_a_trials_last_step():
    # At max_resource the trial completes: pausing it there to copy a donor would replace its
    # finished training by the donor's (and the decision waits at the milestone for that).
    pbt = dh.PBTScheduler(
        perturbation_interval=3, population_size=4, resample_probability=0.0, max_resource=12
    )
    searcher = RandomSearcher()
    space = as_space(PBT_SPACE)
    searcher.setup(space, metric="loss", mode="min", rng=np.random.default_rng(0))
    pbt.setup(searcher=searcher, metric="loss", mode="min", rng=np.random.default_rng(1))
    trials = {}
    for tid in range(4):
        suggestion = pbt.suggest(tid, 0.0, allow_new=True)
        assert suggestion is not None
        trials[tid] = dh.Trial(trial_id=tid, config=dict(suggestion.config))
    for tid, loss in enumerate([0.1, 0.2, 0.3, 0.9]):  # trial 3 is the worst
        assert pbt.decide(trials[tid], 9.0, {"loss": loss}, 1.0) in (
            dh.Decision.CONTINUE,
            dh.Decision.PAUSE,
        )
    worst = trials[3]
    assert pbt.decide(worst, 12.0, {"loss": 0.95}, 2.0) is dh.Decision.CONTINUE
    assert pbt.decide(worst, 13.0, {"loss": 0.95}, 2.0) is dh.Decision.STOP
