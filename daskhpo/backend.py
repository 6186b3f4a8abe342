"""The protocol between the Tuner and whatever runs trials, and the events it speaks in.

Two implementations exist: ``daskhpo.dask.backend.DaskBackend`` (real workers, wall clock) and
``simulate.backend.SimBackend`` (virtual workers, virtual clock). This module imports neither
``distributed`` nor the wall clock, so the simulator can use it freely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from daskhpo.errors import NoCapacityError as NoCapacityError  # re-exported
from daskhpo.milestones import NO_MILESTONES, Milestones


class Outcome(str, enum.Enum):
    """How an attempt ended on its worker."""

    RETURNED = "returned"  # the objective returned a usable result
    STOPPED = "stopped"  # it raised TrialStopped after a STOP decision
    PAUSED = "paused"  # it raised TrialStopped after a PAUSE decision
    ERROR = "error"  # the objective raised or returned something unusable (user failure)


# The classes below are frozen dataclasses with a hand-written ``__init__`` that fills the
# instance's ``__dict__`` directly: one is built for every attempt and event, and the generated
# frozen ``__init__`` (one ``object.__setattr__`` call per field) cost a simulated search
# several microseconds per trial. Equality, hashing, ``repr`` and immutability are unchanged.


@dataclass(frozen=True, init=False)
class AttemptSpec:
    """Everything a backend needs to run one attempt of a trial."""

    trial_id: int
    attempt: int
    config: dict[str, Any]
    resources: dict[str, float] = field(default_factory=dict)
    budget: float | None = None  # resource level to reach before pausing (promotion schedulers)
    checkpoint_trial_id: int | None = None  # seed the trial's checkpoint dir from this trial (PBT)
    milestones: Milestones = NO_MILESTONES  # steps whose report waits for the driver's verdict

    def __init__(
        self,
        trial_id: int,
        attempt: int,
        config: dict[str, Any],
        resources: dict[str, float] | None = None,
        budget: float | None = None,
        checkpoint_trial_id: int | None = None,
        milestones: Milestones = NO_MILESTONES,
    ) -> None:
        d = self.__dict__
        d["trial_id"] = trial_id
        d["attempt"] = attempt
        d["config"] = config
        d["resources"] = {} if resources is None else resources
        d["budget"] = budget
        d["checkpoint_trial_id"] = checkpoint_trial_id
        d["milestones"] = milestones


@dataclass(frozen=True, init=False)
class Started:
    """An attempt began running on ``worker``."""

    trial_id: int
    attempt: int
    time: float
    worker: str

    def __init__(self, trial_id: int, attempt: int, time: float, worker: str) -> None:
        d = self.__dict__
        d["trial_id"] = trial_id
        d["attempt"] = attempt
        d["time"] = time
        d["worker"] = worker


@dataclass(frozen=True, init=False)
class Reported:
    """An attempt reported intermediate metrics at ``step``."""

    trial_id: int
    attempt: int
    time: float
    step: float
    metrics: dict[str, Any]

    def __init__(
        self, trial_id: int, attempt: int, time: float, step: float, metrics: dict[str, Any]
    ) -> None:
        d = self.__dict__
        d["trial_id"] = trial_id
        d["attempt"] = attempt
        d["time"] = time
        d["step"] = step
        d["metrics"] = metrics


@dataclass(frozen=True, init=False)
class Finished:
    """An attempt ended on its worker; ``metrics`` is the final result when it returned."""

    trial_id: int
    attempt: int
    time: float
    outcome: Outcome
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # traceback or explanation for Outcome.ERROR
    worker: str | None = None
    reports: tuple[tuple[float, float, dict[str, Any]], ...] = ()  # (time, step, metrics) sent
    verdict_waits: int = 0  # milestone reports that waited for the driver's verdict
    verdict_timeouts: int = 0  # of those, the waits that ended without a verdict

    def __init__(
        self,
        trial_id: int,
        attempt: int,
        time: float,
        outcome: Outcome,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        worker: str | None = None,
        reports: tuple[tuple[float, float, dict[str, Any]], ...] = (),
        verdict_waits: int = 0,
        verdict_timeouts: int = 0,
    ) -> None:
        d = self.__dict__
        d["trial_id"] = trial_id
        d["attempt"] = attempt
        d["time"] = time
        d["outcome"] = outcome
        d["metrics"] = {} if metrics is None else metrics
        d["error"] = error
        d["worker"] = worker
        d["reports"] = reports
        d["verdict_waits"] = verdict_waits
        d["verdict_timeouts"] = verdict_timeouts


@dataclass(frozen=True)
class Lost:
    """An attempt was lost with its worker (killed, preempted, retired): not the trial's fault."""

    trial_id: int
    attempt: int
    time: float
    reason: str
    started: bool = True  # False if it was still queued: such a loss never counts against caps


Event = Started | Reported | Finished | Lost


@runtime_checkable
class Backend(Protocol):
    """Runs attempts and reports what happens to them. All times are seconds from its start."""

    def now(self) -> float:
        """The backend's clock: wall seconds for real workers, virtual seconds in simulation."""
        ...

    def capacity(self) -> int:
        """How many attempts with the tuner's resources can run at once right now."""
        ...

    def pending_capacity(self) -> bool:
        """Whether more capacity may still arrive (a cluster that is scaling up)."""
        ...

    def describe_capacity(self) -> str:
        """A sentence saying what workers there are and what they offer, for error messages."""
        ...

    def submit(self, spec: AttemptSpec) -> None:
        """Start (or queue) one attempt."""
        ...

    def stop(self, trial_id: int, attempt: int, *, pause: bool) -> None:
        """Ask a running attempt to end at its next report (cooperatively)."""
        ...

    def cancel(self, trial_id: int, attempt: int) -> None:
        """Drop a queued or running attempt without waiting; no further event is expected."""
        ...

    def wait(self, timeout: float | None) -> list[Event]:
        """Block until at least one event happened or ``timeout`` seconds passed."""
        ...

    def close(self) -> None:
        """Release whatever the backend holds."""
        ...


@runtime_checkable
class QueueingBackend(Protocol):
    """Optional capability: a backend whose runtime wants attempts queued beyond its slots.

    For schedulers whose suggestions do not depend on results (``prefers_queue``) the Tuner
    keeps a queue deep enough to hide its own round trip; a backend that also needs a minimum
    queue for its runtime's own reasons (Dask queues a task group on its scheduler only when it
    is larger than twice the cluster's threads) says how deep here.
    """

    def min_queue_depth(self, capacity: int) -> int:
        """Attempts to keep queued beyond ``capacity`` for a queue-preferring scheduler.

        A function of ``capacity`` alone: the Tuner skips a fill while the capacity is
        unchanged and every slot is taken (``TunerState.slots_taken``).
        """
        ...


@runtime_checkable
class VerdictBackend(Protocol):
    """Optional capability: a backend whose attempts wait for a verdict at milestones.

    At a report on one of its :class:`~daskhpo.milestones.Milestones` an attempt waits
    (bounded) until it is told to stop or pause (:meth:`Backend.stop`) or to go on
    (:meth:`release`), so a decision at a rung takes effect at the rung.
    """

    def release(self, trial_id: int, attempt: int, step: float) -> None:
        """Let an attempt waiting at its milestone report ``step`` go on."""
        ...


@runtime_checkable
class LifetimeAwareBackend(Protocol):
    """Optional capability: a backend whose workers retire at known times.

    Such a backend (SLURM walltimes, Dask's ``--lifetime``) starts no attempt on a worker that
    retires before the attempt is expected to end. While some worker has a deadline, the
    Tuner sets :attr:`expected_duration` (``trial_walltime``, else the 90th percentile of the
    attempts that ran to their end; None while unknown).
    """

    expected_duration: float | None

    def worker_deadlines(self) -> dict[str, float]:
        """When each worker that has a limit retires, on the backend's clock."""
        ...


@runtime_checkable
class KillingBackend(Protocol):
    """Optional capability: a backend that can end an attempt which does not stop when told.

    The Tuner asks for it when an attempt runs past ``trial_timeout`` and its grace period
    (``daskhpo.tuner.timeouts``). Dask restarts the attempt's worker in its nanny; other
    attempts on that worker come back as :class:`Lost`. A backend without it is sent
    ``cancel`` instead.
    """

    def kill(self, trial_id: int, attempt: int) -> None:
        """End the attempt now, whatever it is doing; no further event of it is expected."""
        ...
