"""``TunerState.slots_taken``: the loop skips a fill only when that fill would submit nothing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import daskhpo as dh
from daskhpo.backend import Finished, Lost, Outcome, Reported, Started
from daskhpo.searchers.random import RandomSearcher
from daskhpo.settings import TuneSettings
from daskhpo.tuner import Submit, TunerState

SPACE = dh.SearchSpace({"a": dh.uniform(0.0, 1.0)})

SCHEDULERS: dict[str, Any] = {
    "fifo": dh.FIFOScheduler,  # prefers a queue: topped up in batches
    "asha": lambda: dh.ASHAScheduler(max_resource=9),  # wants every result: no queue
}


def make_state(scheduler: str, **settings: Any) -> TunerState:
    return TunerState(
        settings=TuneSettings(metric="loss", seed=0, **settings),
        space=SPACE,
        scheduler=SCHEDULERS[scheduler](),
        searcher=RandomSearcher(),
        journaling=False,
    )


def submitted(commands: list[Any]) -> list[tuple[int, int]]:
    return [(c.spec.trial_id, c.spec.attempt) for c in commands if isinstance(c, Submit)]


def test_a_full_state_stays_full_until_an_attempt_ends_or_the_capacity_changes():
    state = make_state("asha", num_trials=10)
    assert len(submitted(state.fill(0.0, 2))) == 2
    assert state.slots_taken(2)
    assert not state.slots_taken(3)  # another slot: the fill has work to do
    state.handle(Started(0, 0, 1.0, "w0"), 1.0)
    state.handle(Reported(0, 0, 2.0, 1.0, {"loss": 0.5}), 2.0)
    assert state.slots_taken(2)  # a start and a report leave every slot taken
    assert state.fill(2.0, 2) == []
    state.handle(Finished(0, 0, 3.0, Outcome.RETURNED, {"loss": 0.5}), 3.0)
    assert not state.slots_taken(2)
    assert submitted(state.fill(3.0, 2)) == [(2, 0)]


def test_a_lost_attempt_waiting_for_resubmission_is_work_for_the_fill():
    state = make_state("asha", num_trials=10)
    state.fill(0.0, 2)
    state.handle(Lost(1, 0, 1.0, "worker died"), 1.0)
    assert not state.slots_taken(2)
    assert submitted(state.fill(1.0, 2)) == [(1, 1)]


def test_a_lost_attempt_in_a_deep_queue_is_resubmitted_at_once():
    state = make_state("fifo", num_trials=100, queue_depth=8)
    state.fill(0.0, 2)  # 10 in flight; topped up again only below 7
    state.handle(Lost(0, 0, 1.0, "worker died"), 1.0)
    assert not state.slots_taken(2)  # 9 in flight, but lost work does not wait for a batch
    assert submitted(state.fill(1.0, 2)) == [(0, 1)]


def test_a_scheduler_with_nothing_to_suggest_is_asked_again_at_every_fill():
    state = make_state("asha", num_trials=1)
    state.fill(0.0, 2)  # one trial, one slot left that only the scheduler could fill
    assert not state.slots_taken(2)


def test_an_end_in_a_queue_makes_the_fill_decide_anew_and_it_still_tops_up_in_batches():
    state = make_state("fifo", num_trials=100, queue_depth=8)
    assert len(submitted(state.fill(0.0, 2))) == 10
    ended = 0
    while state.slots_taken(2):
        state.handle(Finished(ended, 0, 1.0 + ended, Outcome.RETURNED, {"loss": 1.0}), 1.0)
        ended += 1
    assert ended == 1  # an end also changes the completion rate: the fill decides anew
    assert state.fill(2.0, 2) == []  # ... and it keeps topping up in batches
    assert state.slots_taken(2)


def make_event(kind: str, trial_id: int, attempt: int, now: float, step: float, loss: float):
    if kind == "start":
        return Started(trial_id, attempt, now, "w")
    if kind == "report":
        return Reported(trial_id, attempt, now, step, {"loss": loss})
    if kind == "lost":
        return Lost(trial_id, attempt, now, "worker died")
    outcome = {"return": Outcome.RETURNED, "stop": Outcome.STOPPED, "error": Outcome.ERROR}[kind]
    return Finished(trial_id, attempt, now, outcome, error="boom" if kind == "error" else None)


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["start", "report", "return", "stop", "error", "lost", "capacity"]),
        st.integers(0, 50),
        st.integers(1, 6),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    scheduler=st.sampled_from(sorted(SCHEDULERS)),
    events=EVENTS,
    queue_depth=st.sampled_from([None, 0, 3]),
    max_concurrent=st.sampled_from([None, 2, 5]),
)
def test_whenever_every_slot_is_taken_a_fill_would_submit_nothing(
    scheduler: str, events: list[tuple[str, int, int]], queue_depth: Any, max_concurrent: Any
):
    state = make_state(
        scheduler,
        num_trials=40,
        queue_depth=queue_depth,
        max_concurrent=max_concurrent,
        max_retries=1,
    )
    capacity, now = 3, 0.0
    for kind, pick, new_capacity in events:
        now += 0.7
        if kind == "capacity":
            capacity = new_capacity
        elif state._in_flight:
            trial_id, attempt = sorted(state._in_flight.items())[pick % len(state._in_flight)]
            step = float(state.trials[trial_id].last_step or 0) + 1
            state.handle(make_event(kind, trial_id, attempt, now, step, pick / 50), now)
        if state.slots_taken(capacity):
            assert copy.deepcopy(state).fill(now, capacity) == []
        state.fill(now, capacity)
    if events:
        assert state.slots_taken(capacity) or state._retry or len(state.trials) == 40
