"""Invariants of any simulated search, for many clusters, workloads and seeds (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, event, given, settings
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


faulty_searches = st.fixed_dictionaries(
    {
        "workers": st.integers(1, 4),
        "trials": st.integers(5, 30),
        "spec": st.sampled_from(SPECS),
        "seed": st.integers(0, 2**32),
        "scheduler": st.sampled_from(["fifo", "batch"]),
        "speeds": st.sampled_from([(1.0,), (1.0, 0.5), (2.0, 1.0, 0.25)]),
        "overhead": st.just(0.0),  # every second of an attempt is work: losses can be counted
    }
)
#: Worker failures per worker-hour: a failure every 36 s of a worker's life on average, so
#: that trials of about 10 s are lost often, and still finish.
FAILURE_RATE = 100.0


def _work(run: SimRun, speeds: tuple[float, ...]) -> dict[int, list[tuple[str, float]]]:
    """Each trial's attempts as (outcome, seconds of work at speed 1), in order."""
    out: dict[int, list[tuple[str, float]]] = {}
    for worker, trial_id, _, start, end, outcome in sorted(
        run.backend.segments, key=lambda s: (s[1], s[2])
    ):
        out.setdefault(trial_id, []).append((outcome, (end - start) * speeds[worker % len(speeds)]))
    return out


@settings(max_examples=150, deadline=None)
@given(faulty_searches, st.sampled_from([None, 2.0, 5.0]))
def test_invariants_with_failures(p, checkpoint):
    faults = FaultModel(failure_rate=FAILURE_RATE, checkpoint_interval_s=checkpoint)
    run = _run(p, faults)
    lost = [s for s in run.backend.segments if s[5] == "lost"]
    assume(lost)  # a search without a loss says nothing about losses
    event(f"checkpoint every {checkpoint} s")
    _no_overlap(run)
    durations = DurationModel(p["spec"], seed=p["seed"] % 2**31)
    total = sum(durations(i, {}) for i in range(p["trials"]))
    assert run.makespan >= total / max(p["speeds"]) / p["workers"] * (1 - 1e-12)
    assert run.completed == p["trials"]  # losses are resubmitted until done
    returned = sorted(s[1] for s in run.backend.segments if s[5] == "returned")
    assert returned == list(range(p["trials"]))
    assert len(lost) == sum(t.infra_failures for t in run.tuner.trials.values())
    # What a loss costs: everything without checkpoints, less than one interval with them.
    for trial_id, attempts in _work(run, p["speeds"]).items():
        duration = durations(trial_id, {})
        *losses, (outcome, last) = attempts
        assert outcome == "returned"
        assert all(o == "lost" for o, _ in losses)
        kept = duration - last  # the work the returned attempt did not have to do
        lost_work = sum(w for _, w in losses)
        if checkpoint is None:
            assert last == pytest.approx(duration, rel=1e-9, abs=1e-9)
        else:
            assert -1e-6 <= kept <= lost_work + 1e-6
            assert abs(kept / checkpoint - round(kept / checkpoint)) < 1e-6  # at checkpoints
            assert lost_work - kept <= len(losses) * checkpoint + 1e-6
    assert _fingerprint(_run(p, faults)) == _fingerprint(run)
