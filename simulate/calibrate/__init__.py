"""Calibrate the simulator from a real experiment: a workload model fitted to its journal.

What the driver measured (``journal.jsonl``, on its own clock) becomes a
:class:`CalibratedWorkload` that :func:`simulate.runner.run_search` runs:

* **Time per trial** (or per step, for runs with intermediate reports: an attempt's span from
  its start to its last report, less the setup before its first step, over its reports): a
  least-squares regression of the log time on the configuration (numeric parameters scaled
  to [0, 1], on a log scale for log domains; one column per extra category of a choice; the
  squares of the numeric ones when they help), with the measured residuals as the noise.
  When no regression beats the empirical distribution in cross-validation (or there are too
  few trials for one), measured times are resampled instead; the calibration says which it
  chose and why.
* **Learning curves**: ``floor(config) + gain(config) * shape(step)`` with a power-law or
  exponential shape; from one curve for all, through a floor that depends on the
  configuration, to floor and gain that do (squares included), whichever cross-validation
  supports; plus a per-trial offset and per-report noise estimated from the residuals.
  Partial curves (trials stopped early) count too.
* **Final metric** of runs without reports: the same kind of regression (or resampling).
* **Report cost against a table** (:func:`report_overhead`): what each report of a real
  search took beyond a table's seconds per step, for ``ClusterSpec.report_overhead_s``.
* **Overheads** (means: a makespan adds them up): the gap between an attempt's end and the
  next start on the same worker slot (separately for attempts that were already queued and
  for ones the driver submitted only after the slot freed, which pay its round trip), the
  time an attempt holds its slot beyond its steps, and each worker's first start on the
  driver's clock (start-up).

Too few finished trials is an error that says how many there are and how many it needs; the
fit never extrapolates from nothing. Everything is plain data: :meth:`Calibration.to_dict`
round-trips through JSON, and :meth:`Calibration.bootstrap` refits on resampled trials for the
fit's share of the uncertainty.
"""

from simulate.calibrate.calibration import Calibration
from simulate.calibrate.curves import CurveFit
from simulate.calibrate.features import Column
from simulate.calibrate.fitting import MIN_TRIALS, calibrate, fit
from simulate.calibrate.observe import CalibrationError, Measurements, TrialData, measure
from simulate.calibrate.regression import LinearFit
from simulate.calibrate.report_cost import report_overhead
from simulate.calibrate.workload import CalibratedWorkload

__all__ = [
    "MIN_TRIALS",
    "CalibratedWorkload",
    "Calibration",
    "CalibrationError",
    "Column",
    "CurveFit",
    "LinearFit",
    "Measurements",
    "TrialData",
    "calibrate",
    "fit",
    "measure",
    "report_overhead",
]
