"""Invariants of any simulated search, for many clusters, workloads and seeds (hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from daskhpo.trial import TrialStatus
from simulate.cluster import ClusterSpec
from simulate.faults import FaultModel
from simulate.runner import SimRun, run_search
from simulate.workloads import DurationModel, DurationWorkload

SPECS = [
    "constant:7",
    "exponential:mean=10",
    "lognormal:mean=10,sigma=1",
    "uniform:low=1,high=20",
    "gamma:mean=10,cv=2",
]

searches = st.fixed_dictionaries(
    {
        "workers": st.integers(1, 6),
        "trials": st.integers(1, 40),
        "spec": st.sampled_from(SPECS),
        "seed": st.integers(0, 2**32),
        "scheduler": st.sampled_from(["fifo", "batch"]),
        "speeds": st.sampled_from([(1.0,), (1.0, 0.5), (2.0, 1.0, 0.25)]),
        "overhead": st.sampled_from([0.0, 1.5]),
    }
)


def _run(p: dict, faults: FaultModel | None = None) -> SimRun:
    cluster = ClusterSpec(workers=p["workers"], speeds=p["speeds"], overhead_s=p["overhead"])
    return run_search(
        DurationWorkload(p["spec"], seed=p["seed"] % 2**31),
        cluster=cluster,
        scheduler=p["scheduler"],
        num_trials=p["trials"],
        seed=p["seed"] % 2**31,
        faults=faults,
        record=True,
    )


def _no_overlap(run: SimRun) -> None:
    by_worker: dict[int, list[tuple[float, float]]] = {}
    for worker, _, _, start, end, _ in run.backend.segments:
        assert end >= start
        by_worker.setdefault(worker, []).append((start, end))
    for spans in by_worker.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, "a worker ran two attempts at once"


def _fingerprint(run: SimRun) -> str:
    trials = [
        (t.trial_id, t.status.value, t.attempt, t.started_at, t.ended_at, t.worker, t.config)
        for t in run.tuner.trials.values()
    ]
    return repr((trials, run.backend.segments, run.makespan))


@settings(max_examples=40, deadline=None)
@given(searches)
def test_invariants_without_faults(p):
    run = _run(p)
    _no_overlap(run)
    durations = DurationModel(p["spec"], seed=p["seed"] % 2**31)
    work = [durations(i, {}) for i in range(p["trials"])]
    fastest = max(p["speeds"])
    lower = sum(work) / fastest / p["workers"]
    assert run.makespan >= lower * (1 - 1e-12)
    assert run.makespan >= max(work) / fastest
    # Every trial completes exactly once, and there is nothing else.
    assert run.completed == p["trials"]
    assert all(t.status is TrialStatus.COMPLETED for t in run.tuner.trials.values())
    returned = sorted(s[1] for s in run.backend.segments if s[5] == "returned")
    assert returned == list(range(p["trials"]))
    assert 0.0 < run.utilization <= 1.0 + 1e-12
    # Same seed, same everything.
    assert _fingerprint(_run(p)) == _fingerprint(run)


@settings(max_examples=25, deadline=None)
@given(searches, st.sampled_from([None, 5.0]))
def test_invariants_with_failures(p, checkpoint):
    faults = FaultModel(failure_rate=20.0, checkpoint_interval_s=checkpoint)
    run = _run(p, faults)
    _no_overlap(run)
    durations = DurationModel(p["spec"], seed=p["seed"] % 2**31)
    total = sum(durations(i, {}) for i in range(p["trials"]))
    assert run.makespan >= total / max(p["speeds"]) / p["workers"] * (1 - 1e-12)
    assert run.completed == p["trials"]  # losses are resubmitted until done
    returned = sorted(s[1] for s in run.backend.segments if s[5] == "returned")
    assert returned == list(range(p["trials"]))
    lost = [s for s in run.backend.segments if s[5] == "lost"]
    assert len(lost) == sum(t.infra_failures for t in run.tuner.trials.values())
    assert _fingerprint(_run(p, faults)) == _fingerprint(run)
