"""The simulated cluster's instances: requested, started, lost, replaced and scaled over time.

A :class:`WorkerPool` turns a :class:`~simulate.cluster.ClusterSpec` and a
:class:`~simulate.faults.FaultModel` into cluster events on the engine's heap (a worker joins,
fails, gets a preemption notice, is killed, reaches its walltime; the cluster scales) and keeps
the free worker slots. What happens to the attempts running on a worker is the backend's
business: the pool tells it through the callbacks it was given.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulate.cluster import ClusterSpec
from simulate.cost import Instance
from simulate.engine import Engine
from simulate.faults import FaultModel

if TYPE_CHECKING:
    from simulate.attempts import SimAttempt

__all__ = ["P_ATTEMPT", "P_CLUSTER", "SimWorker", "WorkerPool"]

# Heap priorities at equal times: trial progress first, then the cluster changing.
P_ATTEMPT = 0
P_CLUSTER = 1

# Cluster event kinds.
_JOIN, _FAIL, _NOTICE, _KILL, _WALLTIME, _SCALE = range(6)


class SimWorker:
    """One instance: its speed, its bill and the attempts on its slots."""

    __slots__ = (
        "accepting",
        "alive",
        "index",
        "instance",
        "member",
        "name",
        "running",
        "speed",
    )

    def __init__(self, index: int, speed: float, instance: Instance) -> None:
        self.index = index
        self.name = f"sim-{index}"
        self.speed = speed
        self.instance = instance
        self.alive = False  # ready and not yet lost
        self.accepting = False  # takes new attempts (not starting, not under notice)
        self.member = True  # counts towards the cluster's size
        self.running: list[SimAttempt] = []


class WorkerPool:
    """The instances of one simulated run and their free slots.

    ``on_ready(t)`` is called when a worker has joined (queued attempts can start),
    ``on_notice(worker, t)`` when a worker under preemption notice should checkpoint its
    attempts, ``on_lost(worker, t, reason)`` when a worker's attempts are lost.
    """

    def __init__(
        self,
        spec: ClusterSpec,
        faults: FaultModel,
        seed: int,
        engine: Engine,
        *,
        on_ready: Callable[[float], None],
        on_notice: Callable[[SimWorker, float], None],
        on_lost: Callable[[SimWorker, float, str], None],
    ) -> None:
        self.spec = spec
        self.faults = faults
        self.seed = seed
        self.engine = engine
        self.slots = spec.slots
        self.workers: list[SimWorker] = []
        self.free: list[int] = []  # heap of worker indices, one entry per free slot
        self.capacity = 0
        self.starting = 0
        self.scales_left = 0
        self.changed = False  # set when capacity changes; the backend clears it
        self._members = 0  # instances requested or live and not leaving
        self._target = 0
        self._spot = spec.market == "spot"
        self._on_ready = on_ready
        self._on_notice = on_notice
        self._on_lost = on_lost
        for time, count in spec.schedule:
            engine.push(time, P_CLUSTER, (_SCALE, count))
            self.scales_left += 1

    def settle(self) -> None:
        """Run cluster events at time 0 so workers without start-up time are ready at once."""
        engine = self.engine
        while engine.peek_time() <= 0.0:
            self.handle(engine.pop()[3], 0.0)
        self.changed = False

    @property
    def live(self) -> int:
        return sum(1 for w in self.workers if w.alive)

    def pending(self) -> bool:
        """Whether more capacity is on its way (workers starting, scale-ups to come)."""
        return self.starting > 0 or self.scales_left > 0

    def release_all(self, t: float) -> None:
        """End every instance still held at ``t``."""
        for w in self.workers:
            inst = w.instance
            if inst.ended_at is None:
                inst.ended_at = t
                inst.end_reason = "released"

    def ready_slot_seconds(self, end: float) -> float:
        """Slot-seconds the ready instances offered up to ``end``."""
        total = 0.0
        for w in self.workers:
            inst = w.instance
            if inst.ready_at is None or inst.ready_at >= end:
                continue
            stop = end if inst.ended_at is None else min(inst.ended_at, end)
            total += max(0.0, stop - inst.ready_at) * self.slots
        return total

    def handle(self, ev: tuple[int, Any], t: float) -> None:
        """One cluster event from the heap."""
        kind, arg = ev
        if kind == _SCALE:
            self.scales_left -= 1
            self._scale(int(arg), t)
            return
        w: SimWorker = arg
        if kind == _JOIN:
            self._join(w, t)
        elif not w.alive:
            return  # the worker is already gone
        elif kind == _FAIL:
            self._lose(w, t, "worker failed")
        elif kind == _NOTICE:
            self._notice(w, t)
        elif kind == _KILL:
            self._lose(w, t, "spot instance preempted")
        elif kind == _WALLTIME:
            self._lose(w, t, "worker reached its walltime")

    def _request(self, t: float) -> None:
        index = len(self.workers)
        inst = Instance(index, self.spec.market, t)
        w = SimWorker(index, self.spec.speed(index), inst)
        self.workers.append(w)
        self._members += 1
        self.starting += 1
        self.engine.push(t + self.spec.startup_s, P_CLUSTER, (_JOIN, w))

    def _join(self, w: SimWorker, t: float) -> None:
        self.starting -= 1
        if not w.member:  # scaled down while starting
            return
        w.alive = True
        w.accepting = True
        w.instance.ready_at = t
        self.capacity += self.slots
        self.changed = True
        for _ in range(self.slots):
            heapq.heappush(self.free, w.index)
        if self.faults.active:
            times = self.faults.draw(self.seed, w.index, spot=self._spot)
            for kind, delay in (
                (_FAIL, times.failure),
                (_NOTICE, times.preemption),
                (_WALLTIME, times.walltime),
            ):
                if math.isfinite(delay):
                    self.engine.push(t + delay, P_CLUSTER, (kind, w))
        self._on_ready(t)

    def _leave(self, w: SimWorker, t: float) -> None:
        """``w`` stops counting towards the cluster's size; replace it if the cluster should."""
        if not w.member:
            return
        w.member = False
        self._members -= 1
        if self.spec.replace_lost and self._members < self._target:
            self._request(t)

    def _stop_accepting(self, w: SimWorker) -> None:
        if w.accepting:
            w.accepting = False
            self.capacity -= self.slots
            self.changed = True

    def _notice(self, w: SimWorker, t: float) -> None:
        self._stop_accepting(w)
        if self.faults.save_on_notice:
            self._on_notice(w, t)
        self.engine.push(t + self.faults.grace_s, P_CLUSTER, (_KILL, w))
        self._leave(w, t)

    def _lose(self, w: SimWorker, t: float, reason: str) -> None:
        self._stop_accepting(w)
        w.alive = False
        w.instance.ended_at = t
        w.instance.end_reason = reason
        self._on_lost(w, t, reason)
        w.running.clear()
        self._leave(w, t)

    def _scale(self, count: int, t: float) -> None:
        self._target = count
        while self._members < count:
            self._request(t)
        if self._members <= count:
            return
        # Retire: workers still starting first, then idle ones, then busy ones (newest first).
        members = [w for w in self.workers if w.member]
        order = sorted(
            members,
            key=lambda w: (0 if not w.alive else (1 if not w.running else 2), -w.index),
        )
        for w in order[: self._members - count]:
            if not w.alive:
                w.member = False
                self._members -= 1
                w.instance.ended_at = t
                w.instance.end_reason = "scaled down"
            else:
                w.member = False  # retired: not replaced
                self._members -= 1
                self._lose(w, t, "scaled down")
