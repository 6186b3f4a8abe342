"""Every error daskhpo raises for its users, in one tree.

::

    DaskhpoError                      anything daskhpo says went wrong (the CLI prints it, exit 2)
    ├── ConfigError (ValueError)      bad input, found before a cluster starts
    │   ├── SpaceError                a malformed search space
    │   ├── SettingsError             a bad search setting (num_trials, mode, resources, ...)
    │   ├── ExperimentError           a malformed experiment file or experiment directory
    │   │   ├── NotResumableError     a directory that cannot be continued as asked
    │   │   └── ExperimentLockedError another driver is running this experiment
    │   ├── ClusterError              a cluster description that cannot work
    │   └── CalibrationError          a journal too thin to calibrate the simulator from
    ├── ObjectiveError                the objective cannot reach or run on the workers
    │   ├── ObjectiveNotPicklable (TypeError)
    │   └── ObjectiveNotLoadable (RuntimeError)
    ├── NoCapacityError (RuntimeError)  no worker can run a trial, and none is on its way
    └── JournalError (OSError)        the experiment's journal cannot be written or read

The built-in base beside each class keeps ``except ValueError`` (and the like) working for code
written before the tree. Messages name the bad value and say how to fix it.
"""

from __future__ import annotations


class DaskhpoError(Exception):
    """Base of every error daskhpo raises on purpose; its message is meant for a person."""


class ConfigError(DaskhpoError, ValueError):
    """Input that cannot work, caught before anything starts."""


class SpaceError(ConfigError):
    """A search space that cannot be sampled as written."""


class SettingsError(ConfigError):
    """A search setting (``num_trials``, ``mode``, ``resources``, ...) with a bad value."""


class ExperimentError(ConfigError):
    """An experiment that cannot run as written; the message names the value and the fix."""


class NotResumableError(ExperimentError):
    """An experiment directory that cannot be continued: not one, damaged, or other rules."""


class ExperimentLockedError(ExperimentError):
    """Another driver holds the experiment directory's lock (two drivers, one journal)."""


class ClusterError(ConfigError):
    """A cluster description that cannot be started or reached."""


class CalibrationError(ConfigError):
    """A journal that does not hold enough to calibrate the simulator."""


class ObjectiveError(DaskhpoError):
    """The objective cannot be shipped to, or loaded on, the workers."""


class ObjectiveNotPicklable(ObjectiveError, TypeError):
    """The objective (or something it refers to) cannot be pickled for the workers."""


class ObjectiveNotLoadable(ObjectiveError, RuntimeError):
    """The workers cannot load the objective (a module they lack, a broken import)."""


class NoCapacityError(DaskhpoError, RuntimeError):
    """No worker can run a trial with the requested resources, and none is expected."""


class JournalError(DaskhpoError, OSError):
    """The journal cannot be written (disk full, read-only) or is not a journal."""
