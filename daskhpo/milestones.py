"""The steps at which a scheduler decides about a trial, and the rule that finds them.

A STOP or PAUSE decided at a report reaches the worker after the report was sent; without
more, the trial computes one more step before it notices. At a *milestone* (a rung of
ASHA, a perturbation step of PBT, a report past median stopping's grace period) the worker
instead waits, bounded, for the driver's verdict on that step. The scheduler says where its
milestones are (``Scheduler.milestones``), the attempt carries them (``AttemptSpec``), and
the worker and the driver each run one :class:`MilestoneTracker` over the same reports, so
they agree on which reports wait without telling each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_INF = math.inf


@dataclass(frozen=True, slots=True)
class Milestones:
    """Where a scheduler decides, in report steps.

    ``levels``: ascending steps (a report at or past one that has not been passed is a
    milestone). ``every``: after the levels, one more milestone ``every`` beyond the step of
    the last milestone report (0: every report from then on); None: no more.
    """

    levels: tuple[float, ...] = ()
    every: float | None = None

    def __post_init__(self) -> None:
        levels = tuple(float(x) for x in self.levels)
        if any(not math.isfinite(x) for x in levels) or list(levels) != sorted(levels):
            raise ValueError(f"milestone levels must be finite and ascending, got {self.levels}")
        if self.every is not None and not (math.isfinite(self.every) and self.every >= 0):
            raise ValueError(f"milestone interval must be a number >= 0, got {self.every!r}")
        object.__setattr__(self, "levels", levels)

    def __bool__(self) -> bool:
        return bool(self.levels) or self.every is not None

    def tracker(self) -> MilestoneTracker:
        """A fresh tracker for one attempt."""
        return MilestoneTracker(self.levels, self.every)


NO_MILESTONES = Milestones()


class MilestoneTracker:
    """Which reports of one attempt are milestone reports (see :class:`Milestones`).

    Fed every report step in order; :meth:`crossed` is cheap between milestones (one
    comparison), since it runs for every report on the worker and in the driver.
    """

    __slots__ = ("_every", "_index", "_levels", "next")

    def __init__(self, levels: tuple[float, ...], every: float | None) -> None:
        self._levels = levels
        self._every = every
        self._index = 0
        if levels:
            self.next = levels[0]
        else:  # periodic from the first report on, or never
            self.next = -_INF if every is not None else _INF

    def crossed(self, step: float) -> bool:
        """Whether the report at ``step`` is a milestone report; advances past it."""
        if step < self.next:
            return False
        levels = self._levels
        index = self._index
        while index < len(levels) and levels[index] <= step:
            index += 1
        self._index = index
        if index < len(levels):
            self.next = levels[index]
        elif self._every is not None:
            self.next = step + self._every
        else:
            self.next = _INF
        return True
