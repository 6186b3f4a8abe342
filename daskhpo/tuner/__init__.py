"""The search's core: a sans-IO state machine and the loop that executes its commands.

* :mod:`~daskhpo.tuner.state`: :class:`TunerState`, events in, commands out.
* :mod:`~daskhpo.tuner.commands`: ``Record``, ``Submit``, ``Stop``, ``Continue``, ``Cancel``,
  ``Kill``.
* :mod:`~daskhpo.tuner.replay`: resume, the journal's records fed back through the state.
* :mod:`~daskhpo.tuner.loop`: :class:`Tuner`, which owns backend, journal and callbacks.
"""

from daskhpo.tuner.commands import Cancel, Command, Continue, Kill, Record, Stop, Submit
from daskhpo.tuner.loop import RecordCallback, Tuner, TunerCallback
from daskhpo.tuner.state import TunerState
from daskhpo.tuner.stats import ReportRecord, TunerStats, seeded_generators

__all__ = [
    "Cancel",
    "Command",
    "Continue",
    "Kill",
    "Record",
    "RecordCallback",
    "ReportRecord",
    "Stop",
    "Submit",
    "Tuner",
    "TunerCallback",
    "TunerState",
    "TunerStats",
    "seeded_generators",
]
