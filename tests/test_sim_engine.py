"""The discrete-event engine: order by (time, priority, seq), a clock that never goes back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulate.engine import Engine


def test_events_run_in_time_then_priority_then_schedule_order():
    seen: list[str] = []
    engine = Engine(handler=lambda t, ev: seen.append(f"{t:g}:{ev}"))
    engine.schedule("late", at=5.0)
    engine.schedule("b", at=1.0, priority=1)
    engine.schedule("a", at=1.0, priority=0)
    engine.schedule("c", at=1.0, priority=1)
    engine.schedule("first", delay=0.5)
    assert engine.peek() == (0.5, 0, "first")
    assert engine.run() == 5
    assert seen == ["0.5:first", "1:a", "1:b", "1:c", "5:late"]
    assert engine.now == 5.0
    assert engine.peek() is None
    assert engine.peek_time() == math.inf


def test_callables_run_and_can_schedule_more():
    engine = Engine()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(engine.now)
        if len(ticks) < 3:
            engine.schedule(tick, delay=2.0)

    engine.schedule(tick, at=1.0)
    engine.run()
    assert ticks == [1.0, 3.0, 5.0]


def test_run_until_stops_before_later_events_and_sets_the_clock():
    engine = Engine(handler=lambda t, ev: None)
    for t in (1.0, 2.0, 3.0):
        engine.schedule(t, at=t)
    assert engine.run(until=2.5) == 2
    assert engine.now == 2.5
    assert len(engine) == 1
    assert engine.step()
    assert not engine.step()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"delay": 1.0, "at": 2.0}, "exactly one"),
        ({"delay": -1.0}, "before the clock"),
        ({"at": float("nan")}, "before the clock"),
    ],
)
def test_bad_schedules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Engine().schedule("x", **kwargs)


def test_non_callable_event_without_handler_is_an_error():
    engine = Engine()
    engine.schedule("not callable", at=0.0)
    with pytest.raises(TypeError, match="not callable"):
        engine.step()


def test_advance_never_skips_a_pending_event():
    engine = Engine(handler=lambda t, ev: None)
    engine.schedule("x", at=3.0)
    engine.advance(2.0)
    assert engine.now == 2.0
    with pytest.raises(ValueError, match="pending"):
        engine.advance(4.0)
    with pytest.raises(ValueError, match="cannot go back"):
        engine.advance(1.0)


@given(st.lists(st.tuples(st.floats(0, 100), st.integers(0, 3)), max_size=60))
def test_order_is_sorted_and_stable(items):
    seen: list[tuple[float, int, int]] = []
    engine = Engine(handler=lambda t, ev: seen.append(ev))
    for i, (t, p) in enumerate(items):
        engine.schedule((t, p, i), at=t, priority=p)
    engine.run()
    assert seen == sorted(seen)
    assert len(seen) == len(items)
