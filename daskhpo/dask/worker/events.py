"""Worker side: a trial's "start" and "end" events, sent by a worker plugin.

The plugin sees each trial task change state on the worker's event loop and logs the event
there, in the same tick as Dask's own message about the task. The "end" event then travels in
the same batch as Dask's "task finished", instead of in a batch of its own that holds the
next message back for the worker's batching interval (2 ms): on a cluster that keeps queued
trials on the scheduler, that interval was a third of the gap between two trials on a worker.
It also spares the worker two hops from the task's thread to its event loop per trial.

The plugin itself is ``daskhpo.dask.worker.plugin.TrialEventsPlugin``; this module holds what
the task and the driver share with it, without importing ``distributed``. A worker without
the plugin falls back to logging both events from the task itself (``reporting``).
"""

from __future__ import annotations

#: Trial task keys start with this; the rest is ``<trial>-<attempt>-<token>``.
KEY_PREFIX = "daskhpo-trial-"
#: The name the plugin is registered under (one per cluster, shared by every search).
PLUGIN_NAME = "daskhpo-trial-events"

#: Trials whose start the plugin announced on this worker: it announces their end too. A
#: trial that is not in it (the plugin was not there yet when it started) announces both.
PLUGIN_KEYS: set[str] = set()


def trial_key(trial_id: int, attempt: int, token: str) -> str:
    """The task key of an attempt; ``token`` names the search (and its event topic)."""
    return f"{KEY_PREFIX}{trial_id}-{attempt}-{token}"


def topic_of(key: str) -> str:
    """The event topic of the search that ``key`` belongs to."""
    return f"daskhpo-{key.rsplit('-', 1)[1]}"
