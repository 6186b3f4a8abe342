"""First in, first out: start a new trial whenever a slot is free and let it run to the end."""

from __future__ import annotations

from daskhpo.schedulers.base import Scheduler
from daskhpo.trial import Suggestion


class FIFOScheduler(Scheduler):
    """The asynchronous default: no early stopping, every worker busy."""

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        if not allow_new:
            return None
        config = self.searcher.suggest(trial_id)
        return None if config is None else Suggestion(config)

    @property
    def prefers_queue(self) -> bool:
        return True
