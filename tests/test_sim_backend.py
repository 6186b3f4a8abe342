"""SimBackend: the Backend protocol on a virtual clock, driven directly and by the real Tuner."""

from __future__ import annotations

import math

import pytest

from daskhpo.backend import AttemptSpec, Finished, Lost, NoCapacityError, Reported, Started
from daskhpo.errors import SettingsError
from daskhpo.settings import TuneSettings
from daskhpo.trial import TrialStatus
from simulate.backend import SimBackend
from simulate.cluster import ClusterSpec
from simulate.curves import SYNTHETIC_SPACE, CurveWorkload
from simulate.faults import FaultModel
from simulate.runner import run_search
from simulate.workloads import DurationModel, DurationWorkload


def _drain(backend: SimBackend) -> list:
    """Every event until nothing is pending (no idle waits)."""
    events = []
    while backend.engine.peek() is not None:
        events.extend(backend.wait(None))
    return events


def _summary(events) -> list[tuple]:
    out = []
    for e in events:
        if isinstance(e, Started):
            out.append(("start", e.trial_id, e.attempt, e.time))
        elif isinstance(e, Reported):
            out.append(("report", e.trial_id, e.attempt, e.time, e.step))
        elif isinstance(e, Finished):
            out.append(("end", e.trial_id, e.attempt, e.time, e.outcome.value))
        else:
            out.append(("lost", e.trial_id, e.attempt, e.time, e.reason))
    return out


def test_budget_pauses_after_its_report_and_a_resume_continues_from_the_checkpoint():
    backend = SimBackend(CurveWorkload("power:steps=5", "constant:1"), 1)
    backend.submit(AttemptSpec(0, 0, {"x": 0.5}, budget=3))
    first = _summary(_drain(backend))
    assert first == [
        ("start", 0, 0, 0.0),
        ("report", 0, 0, 1.0, 1.0),
        ("report", 0, 0, 2.0, 2.0),
        ("report", 0, 0, 3.0, 3.0),
        ("end", 0, 0, 3.0, "paused"),
    ]
    backend.submit(AttemptSpec(0, 1, {"x": 0.5}, budget=None))
    second = _summary(_drain(backend))
    assert second == [
        ("start", 0, 1, 3.0),
        ("report", 0, 1, 4.0, 4.0),
        ("report", 0, 1, 5.0, 5.0),
        ("end", 0, 1, 5.0, "returned"),
    ]


def test_stop_takes_effect_at_the_next_report_and_cancel_drops_queued_attempts():
    backend = SimBackend(CurveWorkload("power:steps=10", "constant:2"), 1)
    backend.submit(AttemptSpec(0, 0, {"x": 0.1}))
    backend.submit(AttemptSpec(1, 0, {"x": 0.2}))  # queued behind trial 0
    backend.submit(AttemptSpec(2, 0, {"x": 0.3}))
    assert _summary(backend.wait(None)) == [("start", 0, 0, 0.0)]
    assert backend.capacity() == 1
    backend.cancel(2, 0)
    report = backend.wait(None)
    assert _summary(report) == [("report", 0, 0, 2.0, 1.0)]
    backend.stop(0, 0, pause=False)
    events = _summary(backend.wait(None))
    assert events == [
        ("report", 0, 0, 4.0, 2.0),
        ("end", 0, 0, 4.0, "stopped"),
        ("start", 1, 0, 4.0),
    ]
    rest = _summary(_drain(backend))
    assert rest[-1] == ("end", 1, 0, 24.0, "returned")
    assert all(e[1] == 1 for e in rest)  # trial 2 never ran


def test_lost_attempts_resume_from_their_last_checkpoint():
    # Workers retire every 2.5 s and are replaced at once; epochs take 1 s.
    backend = SimBackend(
        CurveWorkload("power:steps=5", "constant:1"), 1, faults=FaultModel(walltime_s=2.5)
    )
    events = []
    attempt = 0
    backend.submit(AttemptSpec(0, attempt, {"x": 0.5}))
    while True:
        batch = backend.wait(None)
        events += batch
        if any(isinstance(e, Lost) for e in batch):
            attempt += 1
            backend.submit(AttemptSpec(0, attempt, {"x": 0.5}))
        if any(isinstance(e, Finished) for e in batch):
            break
    summary = _summary(events)
    assert [e for e in summary if e[0] in ("lost", "end")] == [
        ("lost", 0, 0, 2.5, "worker reached its walltime"),
        ("lost", 0, 1, 5.0, "worker reached its walltime"),
        ("end", 0, 2, 6.0, "returned"),
    ]
    steps = [e[4] for e in summary if e[0] == "report"]
    assert steps == [1.0, 2.0, 3.0, 4.0, 5.0]  # nothing redone: every report is a checkpoint
    assert backend.lost_work == pytest.approx(1.0)  # half an epoch lost twice
    assert len(backend.instances) == 3


def test_periodic_checkpoints_bound_the_work_lost_to_failures():
    faults = FaultModel(failure_rate=10.0, checkpoint_interval_s=10.0)
    run = run_search(
        DurationWorkload("constant:60", seed=1), cluster=4, num_trials=40, seed=1, faults=faults
    )
    trials = run.tuner.trials.values()
    losses = sum(t.infra_failures for t in trials)
    assert losses > 0
    assert run.completed == 40
    assert all(t.status is TrialStatus.COMPLETED for t in trials)
    assert 0 < run.backend.lost_work <= losses * 10.0
    assert run.makespan >= 40 * 60 / 4


def test_preemption_with_notice_saves_progress_and_only_hits_spot():
    faults = FaultModel(preemption_rate=3.0, grace_s=30.0)
    spot = run_search(
        DurationWorkload("constant:600", seed=2),
        cluster=ClusterSpec(workers=3, market="spot", startup_s=60.0),
        num_trials=12,
        seed=2,
        faults=faults,
    )
    on_demand = run_search(
        DurationWorkload("constant:600", seed=2),
        cluster=ClusterSpec(workers=3, startup_s=60.0),
        num_trials=12,
        seed=2,
        faults=faults,
    )
    spot_losses = sum(t.infra_failures for t in spot.tuner.trials.values())
    assert spot_losses > 0
    assert spot.completed == 12
    assert spot.backend.lost_work <= spot_losses * 30.0 + 1e-6
    assert sum(t.infra_failures for t in on_demand.tuner.trials.values()) == 0
    reasons = {i.end_reason for i in spot.backend.instances}
    assert "spot instance preempted" in reasons
    assert spot.makespan > on_demand.makespan == 60.0 + 4 * 600.0


def test_worker_schedule_adds_workers_after_their_start_up_time():
    cluster = ClusterSpec(workers=[(0, 1), (100, 3)], startup_s=30.0)
    run = run_search(
        DurationWorkload("constant:50", seed=0), cluster=cluster, num_trials=12, seed=0, record=True
    )
    starts = sorted((start, worker) for worker, _, _, start, _, _ in run.backend.segments)
    assert starts[0] == (30.0, 0)
    assert {w for t, w in starts if t < 130.0} == {0}
    assert {w for t, w in starts if t >= 130.0} == {0, 1, 2}
    assert run.completed == 12


def test_scaling_to_zero_fails_clearly_instead_of_hanging():
    cluster = ClusterSpec(workers=[(0, 2), (50, 0)], replace_lost=False)
    with pytest.raises(NoCapacityError, match="no worker can run"):
        run_search(DurationWorkload("constant:60"), cluster=cluster, num_trials=10, seed=0)


def test_time_budget_stops_on_the_virtual_clock():
    run = run_search(
        DurationWorkload("constant:60"), cluster=2, num_trials=100, seed=0, time_budget=1000.0
    )
    assert run.makespan == 1000.0
    assert "time budget" in (run.tuner.stop_reason or "")
    assert run.completed == 2 * (1000 // 60)
    assert run.tuner.count(TrialStatus.CANCELLED) > 0


def test_heterogeneous_speeds_and_overheads():
    cluster = ClusterSpec(workers=2, speeds=(1.0, 0.5), overhead_s=5.0)
    run = run_search(
        DurationWorkload("constant:10"), cluster=cluster, num_trials=6, seed=0, record=True
    )
    lengths = {(w, round(end - start, 9)) for w, _, _, start, end, _ in run.backend.segments}
    assert lengths <= {(0, 15.0), (1, 25.0)}
    assert {w for w, _ in lengths} == {0, 1}


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
def test_constant_durations_give_exactly_k_fold_speedup(workers):
    trials = 24
    one = run_search(DurationWorkload("constant:60"), cluster=1, num_trials=trials, seed=0)
    many = run_search(DurationWorkload("constant:60"), cluster=workers, num_trials=trials, seed=0)
    assert one.makespan == trials * 60.0
    assert one.makespan / many.makespan == workers
    assert many.utilization == 1.0


def test_asha_on_curves_stops_losers_and_reports_are_checkpoints():
    epoch = 3.0
    run = run_search(
        CurveWorkload("power:steps=27,noise=0.01", f"constant:{epoch}", seed=0),
        cluster=4,
        scheduler={"asha": {"max_resource": 27}},
        space={"lr": 0.01, "width": 256, "dropout": 0.2, "x": __import__("daskhpo").uniform(0, 1)},
        num_trials=60,
        seed=0,
    )
    statuses = [t.status for t in run.tuner.trials.values()]
    assert TrialStatus.STOPPED in statuses
    assert TrialStatus.COMPLETED in statuses
    for t in run.tuner.trials.values():
        if t.status is TrialStatus.COMPLETED:
            assert t.last_step == 27
    # Each report is one epoch on a slot: busy time is exactly the epochs trained.
    assert run.backend.busy_time == pytest.approx(run.tuner.stats.reports * epoch)


def test_promotion_resumes_paused_trials_without_redoing_epochs():
    run = run_search(
        CurveWorkload("power:steps=9", "constant:1", seed=0),
        cluster=3,
        scheduler={"asha": {"max_resource": 9, "variant": "promotion"}},
        space={"lr": __import__("daskhpo").loguniform(1e-4, 1.0), "width": 64, "dropout": 0.1},
        num_trials=30,
        seed=0,
    )
    by_trial: dict[int, list[float]] = {}
    for report in run.tuner.reports:
        by_trial.setdefault(report.trial_id, []).append(report.step)
    resumed = [t for t in run.tuner.trials.values() if t.attempt > 0]
    assert resumed
    for steps in by_trial.values():
        assert steps == [float(s) for s in range(1, len(steps) + 1)]


def test_bad_cluster_and_fault_values_name_the_value():
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        ClusterSpec(workers=0)
    with pytest.raises(ValueError, match="speeds must be numbers > 0, got -1"):
        ClusterSpec(workers=2, speeds=(1.0, -1))
    with pytest.raises(ValueError, match=r"failure_rate must be >= 0 per hour, got -0\.5"):
        FaultModel(failure_rate=-0.5)
    with pytest.raises(ValueError, match="market must be one of"):
        ClusterSpec(market="reserved")
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        SimBackend(DurationWorkload("constant:1"), 1, seed=-1)


def test_idle_wait_lets_time_pass():
    backend = SimBackend(DurationWorkload("constant:1"), 1)
    assert backend.wait(5.0) == []
    assert backend.now() == 5.0
    assert backend.wait(None) == []
    assert math.isclose(backend.now(), 5.5)
    assert DurationModel("constant:1")(0, {}) == 1.0


def test_run_search_takes_the_settings_a_real_search_takes():
    settings = TuneSettings(metric="loss", num_trials=40, scheduler="fifo", seed=3,
                            max_worker_losses=1_000_000)  # fmt: skip
    cluster = ClusterSpec(workers=3, speeds=(1.0, 0.5))
    faults = FaultModel(failure_rate=1.0)
    by_settings = run_search(DurationWorkload("exponential:mean=60", seed=3), settings,
                             cluster=cluster, faults=faults, record=True)  # fmt: skip
    by_keywords = run_search(DurationWorkload("exponential:mean=60", seed=3), cluster=cluster,
                             faults=faults, record=True, num_trials=40, seed=3)  # fmt: skip
    assert by_settings.backend.segments == by_keywords.backend.segments
    assert by_settings.makespan == by_keywords.makespan
    assert by_settings.completed == 40


def test_run_search_takes_the_settings_once():
    workload = DurationWorkload("constant:1")
    with pytest.raises(SettingsError, match=r"also num_trials, seed as keywords"):
        run_search(workload, TuneSettings(metric="loss", num_trials=4), num_trials=8, seed=1)
    with pytest.raises(SettingsError, match="metric 'accuracy' is not the one the workload"):
        run_search(workload, TuneSettings(metric="accuracy", num_trials=4))
    with pytest.raises(SettingsError, match="num_trials must be a positive integer, got 0"):
        run_search(workload, num_trials=0)


def test_a_trial_resumed_from_a_last_step_checkpoint_returns_at_once():
    """PBT hands trials the checkpoints of donors that already reported their last step."""
    run = run_search(
        CurveWorkload("power:steps=9", "constant:1", seed=3),
        cluster=2,
        scheduler={"pbt": {"perturbation_interval": 3}},
        space=SYNTHETIC_SPACE,
        num_trials=8,
        seed=3,
    )
    assert run.completed == 8
    for trial in run.tuner.trials.values():
        assert trial.status is TrialStatus.COMPLETED
    assert all(r.step <= 9 for r in run.tuner.reports)
