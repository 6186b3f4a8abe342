"""Imported by the workers of clusters daskhpo starts, as they start: the modules a trial
task runs are loaded before the first trial, not during it."""
