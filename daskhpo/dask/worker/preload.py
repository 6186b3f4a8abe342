"""Imported by the workers of clusters daskhpo starts, as they start: the modules a trial
task runs are loaded before the first trial, not during it."""

import daskhpo.dask.worker.plugin
import daskhpo.dask.worker.reporting  # noqa: F401
