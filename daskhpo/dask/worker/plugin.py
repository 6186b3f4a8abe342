"""The worker plugin that sends a trial's "start" and "end" events (see ``events``)."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from daskhpo.dask.worker import events


class TrialEventsPlugin(WorkerPlugin):
    """Logs ``["start", key, worker]`` when a trial task starts executing and
    ``["end", key, outcome]`` when its result is in memory, on the worker's event loop."""

    idempotent = True  # registered again by a later search: the running one stays

    def __init__(self) -> None:
        self.worker: Any = None

    def setup(self, worker: Any) -> None:
        self.worker = worker

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if not isinstance(key, str) or not key.startswith(events.KEY_PREFIX):
            return
        if finish == "executing":
            events.PLUGIN_KEYS.add(key)
            self.worker.log_event(events.topic_of(key), ["start", key, self.worker.address])
        elif start == "executing" and key in events.PLUGIN_KEYS:
            events.PLUGIN_KEYS.discard(key)
            outcome = self.worker.data.get(key) if finish == "memory" else None
            if isinstance(outcome, dict):
                self.worker.log_event(events.topic_of(key), ["end", key, outcome])
