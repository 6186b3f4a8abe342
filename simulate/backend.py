"""``SimBackend``: the Backend protocol on a virtual clock, so the real Tuner runs unchanged.

Attempts submitted by the Tuner wait in a FIFO inside the backend and start on the lowest free
worker slot. Their work (seconds at speed 1, from the workload) runs at the worker's speed after
a per-attempt overhead; multi-fidelity workloads report once per step, like ``report()`` does
on a real worker: a STOP/PAUSE decision takes effect at the attempt's next report, and an
attempt whose ``budget`` is reached pauses right after reporting it. Lost workers (failure,
preemption, walltime, scale-down) return their attempts as ``Lost(started=True)``; the Tuner
resubmits them and the new attempt resumes from the trial's last checkpoint.

:meth:`wait` runs the heap up to the next time something happens and returns the events of
that instant only, so the Tuner sees the same sequence of decisions it would see live.
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections import deque
from typing import Any

from daskhpo.backend import AttemptSpec, Event, Finished, Lost, Outcome, Reported, Started
from simulate.cluster import ClusterSpec
from simulate.cost import Bill, Instance, Pricing, bill
from simulate.engine import Engine
from simulate.faults import FaultModel
from simulate.workloads import Workload

__all__ = ["Segment", "SimBackend"]

# Heap priorities at equal times: trial progress first, then the cluster changing.
_P_ATTEMPT = 0
_P_CLUSTER = 1

# Cluster event kinds.
_JOIN, _FAIL, _NOTICE, _KILL, _WALLTIME, _SCALE = range(6)

_RETURNED = Outcome.RETURNED
_STOPPED = Outcome.STOPPED
_PAUSED = Outcome.PAUSED

#: One stretch of an attempt on a worker slot: (worker, trial_id, attempt, start, end, outcome).
Segment = tuple[int, int, int, float, float, str]


class _Worker:
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
        self.running: list[_Attempt] = []


class _Attempt:
    """One attempt of a trial: its plan, its checkpointed progress and where it runs."""

    __slots__ = (
        "attempt",
        "budget",
        "config",
        "curve",
        "done",
        "done0",
        "emitted",
        "seq",
        "speed",
        "start",
        "step",
        "stop",
        "trial_id",
        "work",
        "work_start",
        "worker",
    )

    def __init__(self, trial_id: int, attempt: int, budget: float | None) -> None:
        self.trial_id = trial_id
        self.attempt = attempt
        self.budget = budget
        self.config: dict[str, Any] = {}
        self.work = 0.0  # seconds of work at speed 1 for the full run
        self.curve: list[float] = []  # metric after each step; the last is the final result
        self.done = 0.0  # work saved in the trial's checkpoint
        self.step = 0  # reports made up to the checkpoint
        self.stop: bool | None = None  # None: run on; True: pause; False: stop
        self.seq = -1  # seq of its pending heap event; -1 when none is valid
        self.worker: _Worker | None = None
        self.start = 0.0
        self.work_start = 0.0
        self.done0 = 0.0
        self.speed = 1.0
        self.emitted = 0


#: What a trial keeps between attempts: (config, work, curve, checkpointed work, step).
_Saved = tuple[dict[str, Any], float, list[float], float, int]


class SimBackend:
    """Runs attempts of a :class:`~simulate.workloads.Workload` on a simulated cluster."""

    def __init__(
        self,
        workload: Workload,
        cluster: ClusterSpec | int = 1,
        *,
        faults: FaultModel | None = None,
        seed: int = 0,
        record: bool = False,
        idle_step: float = 0.5,
    ) -> None:
        self.workload = workload
        self.cluster = cluster if isinstance(cluster, ClusterSpec) else ClusterSpec(workers=cluster)
        self.faults = faults or FaultModel()
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = seed
        self.record = record
        self.idle_step = idle_step
        self.segments: list[Segment] = []  # filled when ``record`` is set
        self.busy_time = 0.0  # slot-seconds spent running attempts (overheads included)
        self.lost_work = 0.0  # work seconds redone because of losses
        self.end_time: float | None = None
        self.engine = Engine()
        self._heap = self.engine._heap  # the hot paths push attempts directly
        self._next_seq = self.engine._seq.__next__
        self._metric = workload.metric
        self._duration = workload.duration
        self._curve = workload.curve
        self._steps = int(workload.steps)
        self._slots = self.cluster.slots
        self._overhead = self.cluster.overhead_s
        self._spot = self.cluster.market == "spot"
        self._workers: list[_Worker] = []
        self._free: list[int] = []  # heap of worker indices, one entry per free slot
        self._queue: deque[_Attempt] = deque()
        self._attempts: dict[int, _Attempt] = {}  # by trial id: one attempt each at a time
        self._saved: dict[int, _Saved] = {}  # trials between attempts (lost, paused)
        self._out: list[Event] = []
        self._capacity = 0
        self._members = 0  # instances requested or live and not leaving
        self._starting = 0
        self._target = 0
        self._changed = False
        self._scales_left = 0
        for time, count in self.cluster.schedule:
            self.engine.push(time, _P_CLUSTER, (_SCALE, count))
            self._scales_left += 1
        self._settle()

    # ------------------------------------------------------------------ Backend protocol

    def now(self) -> float:
        return self.engine.now

    def capacity(self) -> int:
        return self._capacity

    def pending_capacity(self) -> bool:
        return self._starting > 0 or self._scales_left > 0

    def describe_capacity(self) -> str:
        live = sum(1 for w in self._workers if w.alive)
        return (
            f"The simulated cluster has {live} live worker(s) with {self._slots} slot(s) each "
            f"({self._capacity} free or busy slots) and {self._starting} starting."
        )

    def submit(self, spec: AttemptSpec) -> None:
        tid = spec.trial_id
        if tid in self._attempts:
            raise ValueError(
                f"trial {tid} already has attempt {self._attempts[tid].attempt} in flight; "
                f"cancel it before submitting attempt {spec.attempt}"
            )
        rec = _Attempt(tid, spec.attempt, spec.budget)
        config = spec.config
        saved = self._saved.pop(tid, None) if self._saved else None
        if saved is None:
            rec.config = config
            rec.work = self._duration(tid, config)
            rec.curve = self._curve(tid, config)
        else:
            old_config, rec.work, rec.curve, rec.done, rec.step = saved
            rec.config = old_config
            if config is not old_config and config != old_config:
                # A new configuration for a trial under way (PBT): its curve changes from here.
                rec.config = config
                rec.curve = self.workload.curve(tid, config)
        if spec.checkpoint_trial_id is not None:
            self._seed_checkpoint(rec, spec.checkpoint_trial_id)
        self._attempts[tid] = rec
        if not self._queue:
            free = self._free
            workers = self._workers
            while free:
                w = workers[heapq.heappop(free)]
                if w.accepting:
                    self._start(rec, w, self.engine.now)
                    return
        self._queue.append(rec)

    def stop(self, trial_id: int, attempt: int, *, pause: bool) -> None:
        rec = self._attempts.get(trial_id)
        if rec is not None and rec.attempt == attempt and rec.stop is None:
            rec.stop = pause

    def cancel(self, trial_id: int, attempt: int) -> None:
        rec = self._attempts.get(trial_id)
        if rec is None or rec.attempt != attempt:
            return
        del self._attempts[trial_id]
        now = self.engine.now
        rec.seq = -1
        w = rec.worker
        if w is None:
            with contextlib.suppress(ValueError):
                self._queue.remove(rec)
            self._keep(rec)
            return
        w.running.remove(rec)
        self._save(rec, self._progress_now(rec, now))
        self._keep(rec)
        self._account(rec, w, now, "cancelled")
        self._release(w, now)

    def wait(self, timeout: float | None) -> list[Event]:
        out = self._out
        if out:
            self._out = []
            return out
        engine = self.engine
        heap = engine._heap
        deadline = math.inf if timeout is None else engine.now + max(timeout, 0.0)
        pop = heapq.heappop
        attempt_type = _Attempt
        steps = self._steps
        metric = self._metric
        while True:
            if not heap:
                return self._idle(deadline)
            t = heap[0][0]
            if t > deadline:
                engine.now = deadline
                return []
            engine.now = t
            while heap and heap[0][0] == t:
                _, _, seq, ev = pop(heap)
                if type(ev) is attempt_type:
                    if ev.seq != seq:
                        continue  # the attempt was lost or cancelled since
                    if steps:
                        self._advance(ev, t)
                    else:
                        ev.done = ev.work
                        self._end(ev, t, _RETURNED, {metric: ev.curve[0]})
                else:
                    self._cluster_event(ev, t)
            out = self._out
            if out:
                self._out = []
                return out
            if self._changed:
                self._changed = False
                return []

    def close(self) -> None:
        """End the run: every instance still held is released now."""
        if self.end_time is not None:
            return
        now = self.engine.now
        self.end_time = now
        for w in self._workers:
            inst = w.instance
            if inst.ended_at is None:
                inst.ended_at = now
                inst.end_reason = "released"

    # ------------------------------------------------------------------ results

    @property
    def instances(self) -> list[Instance]:
        """Every instance the cluster requested, in order."""
        return [w.instance for w in self._workers]

    def bill(self, pricing: Pricing, end: float | None = None) -> Bill:
        """What the instances cost if released at ``end`` (default: now, or the close time)."""
        if end is None:
            end = self.end_time if self.end_time is not None else self.engine.now
        return bill(self.instances, pricing, end)

    def utilization(self, end: float | None = None) -> float:
        """Busy slot-seconds over available slot-seconds of ready instances, up to ``end``."""
        end = self.engine.now if end is None else end
        total = 0.0
        for w in self._workers:
            inst = w.instance
            if inst.ready_at is None or inst.ready_at >= end:
                continue
            stop = end if inst.ended_at is None else min(inst.ended_at, end)
            total += max(0.0, stop - inst.ready_at) * self._slots
        return self.busy_time / total if total > 0 else 0.0

    # ------------------------------------------------------------------ attempts

    def _seed_checkpoint(self, rec: _Attempt, source_id: int) -> None:
        """Start from another trial's checkpoint (PBT exploit)."""
        source = self._attempts.get(source_id)
        if source is not None:
            done, step = source.done, source.step
        elif source_id in self._saved:
            done, step = self._saved[source_id][3:]
        else:
            done, step = 0.0, 0
        rec.done = min(done, rec.work)
        rec.step = step

    def _keep(self, rec: _Attempt) -> None:
        """Remember the trial's checkpoint for its next attempt."""
        self._saved[rec.trial_id] = (rec.config, rec.work, rec.curve, rec.done, rec.step)

    def _start(self, rec: _Attempt, w: _Worker, now: float) -> None:
        rec.worker = w
        w.running.append(rec)
        speed = w.speed
        rec.start = now
        rec.speed = speed
        rec.work_start = work_start = now + self._overhead
        rec.done0 = done0 = rec.done
        steps = self._steps
        if steps:
            rec.emitted = step = rec.step
            target = (step + 1) * rec.work / steps
            when = work_start + max(target - done0, 0.0) / speed
        else:
            when = work_start + (rec.work - done0) / speed
        rec.seq = seq = self._next_seq()
        heapq.heappush(self._heap, (when, _P_ATTEMPT, seq, rec))
        self._out.append(Started(rec.trial_id, rec.attempt, now, w.name))

    def _advance(self, rec: _Attempt, t: float) -> None:
        """The attempt's next report: send it, then end or schedule the one after."""
        steps = self._steps
        k = rec.emitted + 1
        rec.emitted = k
        curve = rec.curve
        self._out.append(
            Reported(rec.trial_id, rec.attempt, t, float(k), {self._metric: curve[k - 1]})
        )
        rec.step = k  # every report is a checkpoint
        rec.done = k * rec.work / steps
        if rec.stop is not None:
            self._end(rec, t, _PAUSED if rec.stop else _STOPPED, {})
        elif rec.budget is not None and k >= rec.budget:
            self._end(rec, t, _PAUSED, {})
        elif k >= steps:
            self._end(rec, t, _RETURNED, {self._metric: curve[-1]})
        else:
            when = rec.work_start + (rec.done + rec.work / steps - rec.done0) / rec.speed
            rec.seq = self.engine.push(max(when, t), _P_ATTEMPT, rec)

    def _end(self, rec: _Attempt, t: float, outcome: Outcome, metrics: dict[str, Any]) -> None:
        w = rec.worker
        assert w is not None
        del self._attempts[rec.trial_id]
        rec.seq = -1
        w.running.remove(rec)
        if outcome is _PAUSED:
            self._keep(rec)
        self.busy_time += t - rec.start
        if self.record:
            self.segments.append((w.index, rec.trial_id, rec.attempt, rec.start, t, outcome.value))
        self._out.append(Finished(rec.trial_id, rec.attempt, t, outcome, metrics, None, w.name))
        if w.accepting:
            if self._queue:
                self._start(self._queue.popleft(), w, t)
            else:
                heapq.heappush(self._free, w.index)

    def _account(self, rec: _Attempt, w: _Worker, t: float, outcome: str) -> None:
        self.busy_time += t - rec.start
        if self.record:
            self.segments.append((w.index, rec.trial_id, rec.attempt, rec.start, t, outcome))

    def _release(self, w: _Worker, t: float) -> None:
        if w.alive and w.accepting:
            heapq.heappush(self._free, w.index)
            self._dispatch(t)

    def _dispatch(self, t: float) -> None:
        """Start queued attempts on free slots."""
        free = self._free
        queue = self._queue
        workers = self._workers
        while free and queue:
            w = workers[free[0]]
            heapq.heappop(free)
            if not w.accepting:
                continue
            self._start(queue.popleft(), w, t)

    def _progress_now(self, rec: _Attempt, t: float) -> float:
        """Work done on the trial (all attempts) by ``rec`` at time ``t``."""
        ran = max(0.0, t - rec.work_start) * rec.speed
        return min(rec.done0 + ran, rec.work)

    def _save(self, rec: _Attempt, done: float) -> None:
        """Checkpoint ``done`` seconds of work (never going back)."""
        if done <= rec.done:
            return
        rec.done = done
        if self._steps:
            per_step = rec.work / self._steps
            step = math.floor(done / per_step + 1e-9) if per_step > 0 else self._steps
            rec.step = max(rec.step, min(rec.emitted, step))

    # ------------------------------------------------------------------ the cluster

    def _settle(self) -> None:
        """Run cluster events at time 0 so workers without start-up time are ready at once."""
        heap = self.engine._heap
        while heap and heap[0][0] <= 0.0:
            _, _, _, ev = self.engine.pop()
            self._cluster_event(ev, 0.0)
        self._changed = False

    def _cluster_event(self, ev: tuple[int, Any], t: float) -> None:
        kind, arg = ev
        if kind == _SCALE:
            self._scales_left -= 1
            self._scale(int(arg), t)
            return
        w: _Worker = arg
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
        index = len(self._workers)
        inst = Instance(index, self.cluster.market, t)
        w = _Worker(index, self.cluster.speed(index), inst)
        self._workers.append(w)
        self._members += 1
        self._starting += 1
        self.engine.push(t + self.cluster.startup_s, _P_CLUSTER, (_JOIN, w))

    def _join(self, w: _Worker, t: float) -> None:
        self._starting -= 1
        if not w.member:  # scaled down while starting
            return
        w.alive = True
        w.accepting = True
        w.instance.ready_at = t
        self._capacity += self._slots
        self._changed = True
        for _ in range(self._slots):
            heapq.heappush(self._free, w.index)
        if self.faults.active:
            times = self.faults.draw(self.seed, w.index, spot=self._spot)
            for kind, delay in (
                (_FAIL, times.failure),
                (_NOTICE, times.preemption),
                (_WALLTIME, times.walltime),
            ):
                if math.isfinite(delay):
                    self.engine.push(t + delay, _P_CLUSTER, (kind, w))
        self._dispatch(t)

    def _leave(self, w: _Worker, t: float) -> None:
        """``w`` stops counting towards the cluster's size; replace it if the cluster should."""
        if not w.member:
            return
        w.member = False
        self._members -= 1
        if self.cluster.replace_lost and self._members < self._target:
            self._request(t)

    def _stop_accepting(self, w: _Worker) -> None:
        if w.accepting:
            w.accepting = False
            self._capacity -= self._slots
            self._changed = True

    def _notice(self, w: _Worker, t: float) -> None:
        self._stop_accepting(w)
        if self.faults.save_on_notice:
            for rec in w.running:
                self._save(rec, self._progress_now(rec, t))
        self.engine.push(t + self.faults.grace_s, _P_CLUSTER, (_KILL, w))
        self._leave(w, t)

    def _lose(self, w: _Worker, t: float, reason: str) -> None:
        self._stop_accepting(w)
        w.alive = False
        w.instance.ended_at = t
        w.instance.end_reason = reason
        for rec in w.running:
            done = self._progress_now(rec, t)
            self._save(rec, self.faults.checkpoint(done, rec.done))
            self.lost_work += max(0.0, done - rec.done)
            rec.seq = -1
            del self._attempts[rec.trial_id]
            self._keep(rec)
            self._account(rec, w, t, "lost")
            self._out.append(Lost(rec.trial_id, rec.attempt, t, reason, started=True))
        w.running.clear()
        self._leave(w, t)

    def _scale(self, count: int, t: float) -> None:
        self._target = count
        while self._members < count:
            self._request(t)
        if self._members <= count:
            return
        # Retire: workers still starting first, then idle ones, then busy ones (newest first).
        members = [w for w in self._workers if w.member]
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
                self._lose_without_replacement(w, t)

    def _lose_without_replacement(self, w: _Worker, t: float) -> None:
        w.member = False
        self._members -= 1
        self._lose(w, t, "scaled down")

    def _idle(self, deadline: float) -> list[Event]:
        """Nothing is pending: let time pass (the Tuner's waits must end), or give up queued
        attempts that no worker will ever run."""
        engine = self.engine
        if math.isfinite(deadline):
            engine.now = max(engine.now, deadline)
        else:
            engine.now += self.idle_step
        if self._queue and self._capacity == 0 and not self.pending_capacity():
            lost: list[Event] = []
            while self._queue:
                rec = self._queue.popleft()
                del self._attempts[rec.trial_id]
                self._keep(rec)
                lost.append(
                    Lost(rec.trial_id, rec.attempt, engine.now, "no workers left", started=False)
                )
            return lost
        return []
