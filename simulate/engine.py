"""A deterministic discrete-event engine: a heap of events keyed by (time, priority, seq).

Events at the same time run in priority order (lower first), then in the order they were
scheduled, so a simulation with the same inputs always takes the same path. The clock only
moves when an event is taken off the heap; nothing here reads the wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Engine"]


class Engine:
    """A virtual clock and a priority queue of pending events.

    An event is any object. :meth:`step` hands it to ``handler(time, event)`` when a handler is
    set, or calls it with no argument when it is callable. Code that drives the loop itself
    (the simulator backend) uses :meth:`peek_time` and :meth:`pop_at` instead.
    """

    __slots__ = ("_heap", "_seq", "handler", "heap", "now")

    def __init__(self, handler: Callable[[float, Any], None] | None = None) -> None:
        self.now = 0.0
        self.handler = handler
        self._heap: list[tuple[float, int, int, Any]] = []
        #: The heap itself, for a hot loop that pops due entries in place (as :meth:`pop_at`
        #: does) and sets :attr:`now`; entries are (time, priority, seq, event).
        self.heap = self._heap
        self._seq = itertools.count()

    def schedule(
        self,
        event: Any,
        *,
        delay: float | None = None,
        at: float | None = None,
        priority: int = 0,
    ) -> int:
        """Queue ``event`` after ``delay`` seconds or at absolute time ``at``; returns its seq.

        Exactly one of ``delay`` and ``at`` must be given; events cannot be scheduled in the
        past.
        """
        if (delay is None) == (at is None):
            raise ValueError("schedule needs exactly one of delay=... or at=...")
        time = self.now + delay if delay is not None else at
        assert time is not None
        if not time >= self.now or math.isnan(time):
            raise ValueError(
                f"cannot schedule an event at t={time!r}, before the clock (t={self.now!r}); "
                "use a delay >= 0"
            )
        seq = next(self._seq)
        heapq.heappush(self._heap, (time, priority, seq, event))
        return seq

    def push(self, time: float, priority: int, event: Any) -> int:
        """:meth:`schedule` without the checks, for hot loops that know ``time >= now``."""
        seq = next(self._seq)
        heapq.heappush(self._heap, (time, priority, seq, event))
        return seq

    def peek(self) -> tuple[float, int, Any] | None:
        """The next event as (time, priority, event) without taking it, or None if empty."""
        if not self._heap:
            return None
        time, priority, _, event = self._heap[0]
        return time, priority, event

    def peek_time(self) -> float:
        """The time of the next event, or infinity when nothing is pending."""
        return self._heap[0][0] if self._heap else math.inf

    def pop(self) -> tuple[float, int, int, Any]:
        """Take the next event, advance the clock to its time, and return the heap entry."""
        entry = heapq.heappop(self._heap)
        self.now = entry[0]
        return entry

    def pop_at(self, time: float) -> Iterator[tuple[int, Any]]:
        """Take the events due at exactly ``time`` one by one, as ``(seq, event)``, with the
        clock at ``time``.

        Events scheduled at ``time`` while the iteration runs come out too, in their place, so
        each event is seen in (priority, seq) order after everything it caused at that instant.
        """
        heap = self._heap
        pop = heapq.heappop
        self.now = time
        while heap and heap[0][0] == time:
            _, _, seq, event = pop(heap)
            yield seq, event

    def step(self) -> bool:
        """Run the next event; False when there was none."""
        if not self._heap:
            return False
        time, _, _, event = self.pop()
        if self.handler is not None:
            self.handler(time, event)
        elif callable(event):
            event()
        else:
            raise TypeError(
                f"event {event!r} is not callable and the engine has no handler; "
                "pass Engine(handler=...) or schedule callables"
            )
        return True

    def run(self, until: float | None = None) -> int:
        """Run events until the heap is empty or the next one is after ``until``.

        With ``until`` the clock ends at ``until`` (if it was not already later). Returns
        the number of events run.
        """
        count = 0
        limit = math.inf if until is None else until
        while self._heap and self._heap[0][0] <= limit:
            self.step()
            count += 1
        if until is not None and until > self.now:
            self.now = until
        return count

    def advance(self, time: float) -> None:
        """Move the clock forward to ``time`` (an idle wait); never past a pending event."""
        if time < self.now:
            raise ValueError(f"the clock cannot go back from t={self.now!r} to t={time!r}")
        if self._heap and self._heap[0][0] < time:
            raise ValueError(
                f"cannot advance to t={time!r}: an event is pending at t={self._heap[0][0]!r}"
            )
        self.now = time

    def __len__(self) -> int:
        return len(self._heap)
