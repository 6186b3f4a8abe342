"""Which worker may take an attempt: slots for its resources (GPUs), lifetimes, free-slot hints.

:class:`WorkerView` is the driver's picture of the cluster's workers (refreshed at most every
``refresh_interval`` seconds): how many trials with the search's resources each can run, when
each retires, and which have a free slot now. :func:`assign` turns the attempts waiting to be
sent into groups, one per (resources, worker hint), each sent as one graph.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from daskhpo.backend import AttemptSpec
from daskhpo.dask.worker.lifetime import remaining_lifetime

logger = logging.getLogger(__name__)

#: A group of attempts sent together: their resources (sorted items) and the worker hinted.
GroupKey = tuple[tuple[tuple[str, float], ...], str | None]

ADVICE = (
    "Start workers that offer these resources (for example `dask worker ... --resources GPU=1`), "
    "or lower `resources`."
)


def slots(worker: Mapping[str, Any], resources: Mapping[str, float]) -> int:
    """How many trials needing ``resources`` fit at once on a worker (scheduler info)."""
    count = int(worker.get("nthreads", 1))
    offered = worker.get("resources", {}) or {}
    for name, amount in resources.items():
        if amount <= 0:
            continue
        have = float(offered.get(name, 0.0))
        count = min(count, math.floor(have / amount + 1e-9))
    return max(count, 0)


class WorkerView:
    """The cluster's workers as the driver last saw them, and what they can take."""

    def __init__(
        self,
        client: Any,
        resources: Mapping[str, float],
        now: Callable[[], float],
        refresh_interval: float = 0.5,
    ) -> None:
        self.client = client
        self.resources = dict(resources)
        self._now = now
        self._refresh_interval = refresh_interval
        self.workers: dict[str, dict[str, Any]] = {}
        self.capacity = 0  # slots for our trials over every worker
        self.known: set[str] = set()  # every worker address seen so far
        self.deadlines: dict[str, float] = {}  # worker -> when it retires (inf: never)
        self._refreshed_at = -math.inf

    def refresh(self, *, force: bool = False) -> None:
        """Ask the scheduler for its workers, unless that was done a moment ago."""
        now = self._now()
        if not force and now - self._refreshed_at < self._refresh_interval:
            return
        self._refreshed_at = now
        info = self.client.scheduler_info(n_workers=-1)
        self.workers = dict(info.get("workers", {}))
        self.known.update(self.workers)
        self.capacity = sum(slots(w, self.resources) for w in self.workers.values())

    def memory_limit(self, address: str) -> float | None:
        """The memory limit of worker ``address`` in bytes, as last seen (None: no limit)."""
        return self.workers.get(address, {}).get("memory_limit") or None

    def threads(self) -> int:
        """The cluster's threads, all workers together."""
        return sum(int(w.get("nthreads", 1)) for w in self.workers.values())

    def describe(self) -> str:
        """What workers there are and what they offer, then what to do about it."""
        self.refresh(force=True)
        if not self.workers:
            return f"The cluster has no workers. {ADVICE}"
        offers = sorted(
            {
                f"{w.get('nthreads', 1)} threads, resources {w.get('resources') or {}}"
                for w in self.workers.values()
            }
        )
        return (
            f"The cluster has {len(self.workers)} worker(s) offering: {'; '.join(offers)}. {ADVICE}"
        )

    # ------------------------------------------------------------------ lifetimes

    def set_lifetime(self, address: str, seconds: float | None) -> None:
        """A worker said how long it has left (None: no limit)."""
        self.deadlines[address] = math.inf if seconds is None else self._now() + seconds

    def worker_deadlines(self, skip: Iterable[str] = ()) -> dict[str, float]:
        """When each worker that has a limit retires, on the driver's clock.

        The limit is the earlier of Dask's ``--lifetime`` and the SLURM job's walltime, asked
        of each new worker once (``client.run``), except those in ``skip`` (an objective check
        on them will tell); workers without a limit are left out.
        """
        self.refresh()
        skipped = set(skip)
        new = [a for a in self.workers if a not in self.deadlines and a not in skipped]
        if new:
            try:
                left = self.client.run(remaining_lifetime, workers=new)
            except Exception as exc:  # a worker that just left; ask again next time
                logger.debug("could not ask workers for their lifetime: %s", exc)
                left = {}
            for address in new:
                if address in left:
                    self.set_lifetime(address, left[address])
        return {a: d for a, d in self.deadlines.items() if a in self.workers and math.isfinite(d)}

    def long_lived(self, duration: float, skip: Iterable[str] = ()) -> list[str] | None:
        """Workers that live ``duration`` seconds more; None when every worker does."""
        deadlines = self.worker_deadlines(skip)
        limit = self._now() + duration
        if all(d >= limit for d in deadlines.values()):
            return None
        return [a for a in self.workers if deadlines.get(a, math.inf) >= limit]

    def capacity_for(self, duration: float, skip: Iterable[str] = ()) -> int:
        """Slots for our trials on workers that live at least ``duration`` seconds more."""
        workers = self.long_lived(duration, skip)
        if workers is None:
            return self.capacity
        return sum(slots(self.workers[a], self.resources) for a in workers)

    # ------------------------------------------------------------------ free slots

    def free_slots(
        self, placed: Iterable[str | None], eligible: Sequence[str] | None
    ) -> dict[str, int]:
        """Free trial slots per worker, given where each attempt in flight runs or was sent
        (``None``: sent without a worker and not started; such attempts take the next free
        slots, first in, first out, so only what they leave is offered)."""
        self.refresh()
        busy: dict[str, int] = {}
        queued = 0
        for where in placed:
            if where is None:
                queued += 1
            else:
                busy[where] = busy.get(where, 0) + 1
        free: dict[str, int] = {}
        for address, info in self.workers.items():
            if eligible is not None and address not in eligible:
                continue
            count = slots(info, self.resources) - busy.get(address, 0)
            if count > 0:
                free[address] = count
        while queued > 0 and free:
            _take(free)
            queued -= 1
        return free


def _take(free: dict[str, int]) -> str:
    """The worker with the most free slots, one slot fewer."""
    address = max(free, key=free.__getitem__)
    free[address] -= 1
    if not free[address]:
        del free[address]
    return address


def assign(
    specs: Sequence[AttemptSpec], free: dict[str, int], *, dask_queues: bool
) -> tuple[dict[GroupKey, list[AttemptSpec]], list[AttemptSpec]]:
    """Group attempts by (resources, worker hint); return the groups and the attempts held.

    An attempt goes to a worker with a free slot (a loose hint) while there is one, unless
    Dask queues root-ish tasks itself (``dask_queues``) and the attempt needs no resources: a
    hinted trial would skip that queue and may wait behind a busy worker's running trials.
    Beyond the free slots, attempts go unrestricted (Dask queues them on its scheduler), except
    those that need resources (GPUs): Dask never queues those, it assigns them to some worker
    at once, so they are held until a slot frees. ``free`` is used up as slots are given.
    """
    groups: dict[GroupKey, list[AttemptSpec]] = {}
    held: list[AttemptSpec] = []
    for spec in specs:
        hint = free and not (dask_queues and not spec.resources)
        worker = _take(free) if hint else None
        if worker is None and spec.resources:
            held.append(spec)
            continue
        groups.setdefault((tuple(sorted(spec.resources.items())), worker), []).append(spec)
    return groups, held
