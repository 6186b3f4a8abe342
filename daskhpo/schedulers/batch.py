"""Synchronous batches: start K trials, wait for all K, start the next K.

This is how many hand-written sweeps and ``client.map``-per-generation loops behave. It exists
so that users and the simulator can measure what synchronisation costs against the
asynchronous FIFO default on the same durations.
"""

from __future__ import annotations

from daskhpo.schedulers.base import Scheduler
from daskhpo.trial import Suggestion, Trial


class BatchScheduler(Scheduler):
    """Runs trials in synchronous batches of ``batch_size`` (default: the cluster's capacity)."""

    def __init__(self, batch_size: int | None = None) -> None:
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.batch_size = batch_size
        self._left_in_batch = 0
        self._outstanding: set[int] = set()

    def suggest(self, trial_id: int, now: float, *, allow_new: bool) -> Suggestion | None:
        if not allow_new:
            return None
        if not self._outstanding and self._left_in_batch == 0:
            self._left_in_batch = self.batch_size or max(1, self.capacity)
        if self._left_in_batch == 0:
            return None
        config = self.searcher.suggest(trial_id)
        if config is None:
            return None
        self._left_in_batch -= 1
        self._outstanding.add(trial_id)
        return Suggestion(config)

    def _done(self, trial: Trial) -> None:
        self._outstanding.discard(trial.trial_id)
        if not self._outstanding:
            self._left_in_batch = 0  # a batch cut short (budget, errors) ends here

    def on_trial_complete(self, trial: Trial, metrics: dict[str, object], now: float) -> None:
        super().on_trial_complete(trial, dict(metrics), now)
        self._done(trial)

    def on_trial_stopped(self, trial: Trial, now: float) -> None:
        super().on_trial_stopped(trial, now)
        self._done(trial)

    def on_trial_error(self, trial: Trial, now: float) -> None:
        super().on_trial_error(trial, now)
        self._done(trial)
