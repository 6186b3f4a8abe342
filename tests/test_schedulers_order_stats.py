"""The sorted order statistics of ASHA's rungs and of median stopping decide exactly as a
brute-force ranking does (a pass over every recorded trial per decision, as before they
were kept sorted), on random report sequences: same seed, same decisions."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daskhpo as dh
from daskhpo.schedulers._rungs import Rung
from daskhpo.schedulers._running_median import RunningMedian
from daskhpo.schedulers.median import _History
from daskhpo.searchers import RandomSearcher
from daskhpo.trial import Decision, Trial
from tests.sched_objectives import crossing_curve, run_virtual

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPACE = {"a": dh.uniform(0.0, 1.0), "b": dh.uniform(0.0, 2.0), "speed": dh.uniform(0.2, 2.0)}
#: Few distinct values, so ties are common; infinities are legal keys.
KEYS = [-math.inf, -0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 3.0, math.inf]


@dataclass
class BruteRung:
    """The linear reference: a dict of values, sorted or counted afresh at each call."""

    level: float
    values: dict[int, float] = field(default_factory=dict)
    promoted: set[int] = field(default_factory=set)

    def record(self, trial_id: int, key: float) -> None:
        self.values[trial_id] = key

    def continues(self, trial_id: int, eta: float) -> bool:
        better = sum(1 for v in self.values.values() if v < self.values[trial_id])
        return better * eta < len(self.values)

    def ranked(self) -> list[int]:
        return sorted(self.values, key=lambda t: (self.values[t], t))

    def promotable(self, eta: float) -> list[int]:
        k = math.floor(len(self.values) / eta + 1e-9)
        return [t for t in self.ranked()[:k] if t not in self.promoted]

    def iter_promotable(self, eta: float) -> Any:
        return iter(self.promotable(eta))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), eta=st.sampled_from([2, 3, 4, 2.5]))
def test_rung_decides_as_a_brute_force_ranking(seed, eta):
    rng = np.random.default_rng(seed)
    fast, brute = Rung(1.0), BruteRung(1.0)
    for _ in range(200):
        tid = int(rng.integers(40))
        key = KEYS[int(rng.integers(len(KEYS)))] if rng.random() < 0.5 else float(rng.random())
        fast.record(tid, key)
        brute.record(tid, key)  # a trial recorded again replaces its value
        assert fast.continues(tid, eta) == brute.continues(tid, eta)
        assert fast.promotable(eta) == brute.promotable(eta)
        if rng.random() < 0.2 and brute.promotable(eta):
            first = brute.promotable(eta)[0]
            fast.promoted.add(first)
            brute.promoted.add(first)
    assert fast.ranked() == brute.ranked()


class BruteMedian(dh.MedianStoppingScheduler):
    """Median stopping as a pass over every peer's history and ``numpy.median``."""

    def decide(
        self, trial: Trial, resource: float, metrics: dict[str, Any], now: float
    ) -> Decision:
        if self.max_resource is not None and resource > self.max_resource:
            return Decision.STOP
        key = self.key_of(metrics)
        if key is None:
            return Decision.CONTINUE
        history = self._history.setdefault(trial.trial_id, _History())
        history.add(resource, key)
        if resource < self.grace_period:
            return Decision.CONTINUE
        means = (h.running_mean(resource) for t, h in self._history.items() if t != trial.trial_id)
        peers = [m for m in means if m is not None]
        if len(peers) < self.min_samples:
            return Decision.CONTINUE
        with np.errstate(invalid="ignore"):  # inf and -inf in the middle: a NaN median
            median = float(np.median(peers))
        return Decision.STOP if history.best > median else Decision.CONTINUE


def _numpy_median_without(values: list[float], own: float | None) -> float:
    rest = list(values)
    if own is not None:
        rest.remove(own)
    if not rest:
        return math.nan
    with np.errstate(invalid="ignore"):  # inf and -inf in the middle: a NaN median
        return float(np.median(rest))


@PROPERTY
@given(
    reports=st.lists(
        st.tuples(
            st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]),
            st.one_of(st.sampled_from(KEYS[1:-1]), st.floats(-3, 3, allow_nan=False)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_history_keeps_the_reports_a_restart_left_and_says_which_means_changed(reports):
    """``_History.add`` as a list filter: a report drops the trial's reports at or past its
    resource (a restart without a checkpoint) and every running mean that changed lies in
    the span it returns."""
    history, kept, best = _History(), [], math.inf
    levels = sorted({r for r, _ in reports})
    for resource, key in reports:
        before = [history.running_mean(level) for level in levels]
        low, high = history.add(resource, key)
        kept = [(r, k) for r, k in kept if r < resource] + [(resource, key)]
        best = min(best, key)
        sums, total = [], 0.0
        for _, k in kept:
            total += k
            sums.append(total)
        assert history.resources == [r for r, _ in kept]
        assert [math.copysign(1, x) for x in history.sums] == [math.copysign(1, x) for x in sums]
        assert history.sums == sums
        assert history.best == best
        after = [history.running_mean(level) for level in levels]
        for level, old, new in zip(levels, before, after, strict=True):
            if old != new:
                assert low <= level <= high, (level, old, new, low, high)


@PROPERTY
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "add", "add", "remove"]),
            st.one_of(st.sampled_from(KEYS), st.floats(-3, 3, allow_nan=False)),
            st.integers(0, 99),
        ),
        max_size=60,
    )
)
def test_a_running_median_without_any_value_is_numpys(ops):
    """Before and after its first removal (heaps, then a sorted list), each answer is the
    one ``numpy.median`` gives for the values without one copy of the trial's own."""
    means, values = RunningMedian(), []
    for op, value, index in ops:
        if op == "remove" and values:
            value = values[index % len(values)]
            means.remove(value)
            values.remove(value)
        elif op == "add":
            means.add(value)
            values.append(value)
        assert len(means) == len(values)
        for own in [None, *sorted(set(values))]:
            expected = _numpy_median_without(values, own)
            got = means.median_without(own)
            assert got == expected or (math.isnan(got) and math.isnan(expected)), (own, values)


def _setup(scheduler: dh.Scheduler, mode: str) -> dh.Scheduler:
    scheduler.setup(
        searcher=RandomSearcher(), metric="loss", mode=mode, rng=np.random.default_rng(0)
    )
    return scheduler


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    min_samples=st.integers(1, 4),
    grace=st.sampled_from([1.0, 2.0]),
    mode=st.sampled_from(["min", "max"]),
    grid=st.booleans(),
)
def test_median_stopping_decides_as_numpy_median_over_every_peer(
    seed, min_samples, grace, mode, grid
):
    rng = np.random.default_rng(seed)
    kwargs = {"grace_period": grace, "min_samples": min_samples}
    fast = _setup(dh.MedianStoppingScheduler(**kwargs), mode)
    brute = _setup(BruteMedian(**kwargs), mode)
    last: dict[int, float] = {}
    for _ in range(300):
        tid = int(rng.integers(25))
        roll = rng.random()
        if roll < 0.08:  # restarted without a checkpoint: back to an earlier resource
            resource = float(rng.integers(1, 4))
        elif roll < 0.15:  # jumped several levels in one report
            resource = last.get(tid, 0.0) + float(rng.integers(2, 5))
        else:
            resource = last.get(tid, 0.0) + (1.0 if grid else float(rng.choice([0.5, 1.0])))
        last[tid] = resource
        value = KEYS[int(rng.integers(len(KEYS)))] if rng.random() < 0.3 else float(rng.random())
        metrics = {"loss": value}
        trial = Trial(tid, {})
        assert fast.decide(trial, resource, metrics, 0.0) == brute.decide(
            trial, resource, metrics, 0.0
        ), (tid, resource, value)


def _decisions(scheduler: dh.Scheduler, seed: int, workers: int, trials: int) -> list[Any]:
    tuner, _, _ = run_virtual(
        scheduler,
        SPACE,
        crossing_curve,
        num_trials=trials,
        workers=workers,
        max_epochs=9,
        epoch_time=lambda config, epoch: float(config["speed"]),
        seed=seed,
    )
    statuses = [(t.trial_id, t.status, t.last_step) for t in tuner.trials.values()]
    return [*statuses, *((r.trial_id, r.step) for r in tuner.reports)]


def _with_brute_rungs(scheduler: dh.ASHAScheduler) -> dh.ASHAScheduler:
    scheduler.brackets = [[BruteRung(r.level) for r in b] for b in scheduler.brackets]  # type: ignore[misc]
    return scheduler


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    workers=st.integers(1, 4),
    variant=st.sampled_from(["stopping", "promotion"]),
    hyperband=st.booleans(),
)
def test_whole_searches_match_the_brute_force_rungs(seed, workers, variant, hyperband):
    def make() -> dh.ASHAScheduler:
        if hyperband:
            return dh.AsyncHyperbandScheduler(max_resource=9, reduction_factor=2)
        return dh.ASHAScheduler(max_resource=9, reduction_factor=2, variant=variant)

    fast = _decisions(make(), seed, workers, 30)
    brute = _decisions(_with_brute_rungs(make()), seed, workers, 30)
    assert fast == brute
