"""``SimBackend``: the Backend protocol on a virtual clock, so the real Tuner runs unchanged.

Attempts submitted by the Tuner wait in a FIFO inside the backend and start on the lowest free
worker slot. Their work (seconds at speed 1, from the workload) runs at the worker's speed after
a per-attempt overhead; multi-fidelity workloads report once per step, like ``report()`` does
on a real worker, each report taking ``ClusterSpec.report_overhead_s`` after its step's work:
a STOP/PAUSE decision takes effect at the attempt's next report, and an
attempt whose ``budget`` is reached pauses right after reporting it. At a report on one of
its milestones (``AttemptSpec.milestones``) the attempt waits for the driver's verdict, as
``report()`` does; the driver answers at the same virtual instant, so a STOP or PAUSE given
there ends the attempt at that report and a CONTINUE costs no time. Lost workers (failure,
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
from daskhpo.milestones import NO_MILESTONES
from simulate.attempts import Saved, Segment, SimAttempt
from simulate.cluster import ClusterSpec
from simulate.cost import Bill, Instance, Pricing, bill
from simulate.engine import Engine
from simulate.faults import FaultModel
from simulate.workers import P_ATTEMPT, SimWorker, WorkerPool
from simulate.workloads import Workload

__all__ = ["Segment", "SimBackend"]

_RETURNED, _STOPPED, _PAUSED = Outcome.RETURNED, Outcome.STOPPED, Outcome.PAUSED


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
        self._push = self.engine.push
        self._metric = workload.metric
        self._duration = workload.duration
        self._curve = workload.curve
        self._steps = int(workload.steps)
        self._overhead = self.cluster.overhead_s
        self._report_cost = self.cluster.report_overhead_s
        self._queue: deque[SimAttempt] = deque()
        self._attempts: dict[int, SimAttempt] = {}  # by trial id: one attempt each at a time
        self._saved: dict[int, Saved] = {}  # trials between attempts (lost, paused)
        self._out: list[Event] = []
        self._pool = WorkerPool(
            self.cluster,
            self.faults,
            seed,
            self.engine,
            on_ready=self._dispatch,
            on_notice=self._checkpoint_running,
            on_lost=self._lose_running,
        )
        self._workers = self._pool.workers  # the hot paths read these lists directly
        self._free = self._pool.free
        self._pool.settle()

    # ------------------------------------------------------------------ Backend protocol

    def now(self) -> float:
        return self.engine.now

    def capacity(self) -> int:
        return self._pool.capacity

    def pending_capacity(self) -> bool:
        return self._pool.pending()

    def min_queue_depth(self, capacity: int) -> int:
        """The queue a real Dask cluster is kept (more in flight than twice its threads), so
        a simulated search is paced as a real one."""
        return capacity + 16

    def describe_capacity(self) -> str:
        pool = self._pool
        return (
            f"The simulated cluster has {pool.live} live worker(s) with {pool.slots} slot(s) "
            f"each ({pool.capacity} free or busy slots) and {pool.starting} starting."
        )

    def submit(self, spec: AttemptSpec) -> None:
        tid = spec.trial_id
        if tid in self._attempts:
            raise ValueError(
                f"trial {tid} already has attempt {self._attempts[tid].attempt} in flight; "
                f"cancel it before submitting attempt {spec.attempt}"
            )
        rec = SimAttempt(tid, spec.attempt, spec.budget)
        if spec.milestones is not NO_MILESTONES and spec.milestones:
            rec.milestones = spec.milestones.tracker()
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
        if rec is None or rec.attempt != attempt or rec.stop is not None:
            return
        now = self.engine.now
        if rec.held_at == now and rec.worker is not None:  # the verdict on its milestone
            self._end(rec, now, _PAUSED if pause else _STOPPED, {})
            return
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
        rec.save(rec.progress(now), self._steps)
        self._keep(rec)
        self._account(rec, w, now, "cancelled")
        self._release(w, now)

    def wait(self, timeout: float | None) -> list[Event]:
        out = self._out
        if out:
            self._out = []
            return out
        engine = self.engine
        heap, pop = engine.heap, heapq.heappop
        pool = self._pool
        deadline = math.inf if timeout is None else engine.now + max(timeout, 0.0)
        attempt_type = SimAttempt
        steps = self._steps
        metric = self._metric
        while True:
            if not heap:
                return self._idle(deadline)
            t = heap[0][0]
            if t > deadline:
                engine.advance(deadline)
                return []
            engine.now = t
            while heap and heap[0][0] == t:  # Engine.pop_at, inlined: what is due at t
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
                    pool.handle(ev, t)
            out = self._out
            if out:
                self._out = []
                return out
            if pool.changed:
                pool.changed = False
                return []

    def close(self) -> None:
        """End the run: every instance still held is released now."""
        if self.end_time is not None:
            return
        self.end_time = self.engine.now
        self._pool.release_all(self.end_time)

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
        total = self._pool.ready_slot_seconds(end)
        return self.busy_time / total if total > 0 else 0.0

    # ------------------------------------------------------------------ attempts

    def _seed_checkpoint(self, rec: SimAttempt, source_id: int) -> None:
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

    def _keep(self, rec: SimAttempt) -> None:
        """Remember the trial's checkpoint for its next attempt."""
        self._saved[rec.trial_id] = (rec.config, rec.work, rec.curve, rec.done, rec.step)

    def _start(self, rec: SimAttempt, w: SimWorker, now: float) -> None:
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
            target = min(step + 1, steps) * rec.work / steps  # a last-step checkpoint: return
            when = work_start + max(target - done0, 0.0) / speed + self._report_cost
        else:
            when = work_start + (rec.work - done0) / speed
        rec.seq = self._push(when, P_ATTEMPT, rec)
        self._out.append(Started(rec.trial_id, rec.attempt, now, w.name))

    def _advance(self, rec: SimAttempt, t: float) -> None:
        """The attempt's next report: send it, then end or schedule the one after."""
        steps = self._steps
        k = rec.emitted + 1
        if k > steps:  # started from a checkpoint of the last step: nothing is left to report
            self._end(rec, t, _RETURNED, {self._metric: rec.curve[-1]})
            return
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
            tracker = rec.milestones
            if tracker is not None and tracker.crossed(k):
                rec.held_at = t
            report = self._report_cost
            if report:  # the report just made took its time: the next step starts later
                rec.work_start += report
            when = rec.work_start + (rec.done + rec.work / steps - rec.done0) / rec.speed + report
            rec.seq = self._push(max(when, t), P_ATTEMPT, rec)

    def _end(self, rec: SimAttempt, t: float, outcome: Outcome, metrics: dict[str, Any]) -> None:
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

    def _account(self, rec: SimAttempt, w: SimWorker, t: float, outcome: str) -> None:
        self.busy_time += t - rec.start
        if self.record:
            self.segments.append((w.index, rec.trial_id, rec.attempt, rec.start, t, outcome))

    def _release(self, w: SimWorker, t: float) -> None:
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

    # ------------------------------------------------------------------ workers leaving

    def _checkpoint_running(self, w: SimWorker, t: float) -> None:
        """A preemption notice: the attempts on ``w`` save their progress now."""
        for rec in w.running:
            rec.save(rec.progress(t), self._steps)

    def _lose_running(self, w: SimWorker, t: float, reason: str) -> None:
        """``w`` is gone: its attempts keep their last checkpoint and are reported lost."""
        for rec in w.running:
            done = rec.progress(t)
            rec.save(self.faults.checkpoint(done, rec.done), self._steps)
            self.lost_work += max(0.0, done - rec.done)
            rec.seq = -1
            del self._attempts[rec.trial_id]
            self._keep(rec)
            self._account(rec, w, t, "lost")
            self._out.append(Lost(rec.trial_id, rec.attempt, t, reason, started=True))

    def _idle(self, deadline: float) -> list[Event]:
        """Nothing is pending: let time pass (the Tuner's waits must end), or give up queued
        attempts that no worker will ever run."""
        engine = self.engine
        if math.isfinite(deadline):
            engine.advance(max(engine.now, deadline))
        else:
            engine.advance(engine.now + self.idle_step)
        if self._queue and self._pool.capacity == 0 and not self._pool.pending():
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
