"""The :class:`Calibration`: a workload model fitted to one experiment, as plain data."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daskhpo.space import SearchSpace
from simulate.calibrate.curves import CurveFit
from simulate.calibrate.features import Column
from simulate.calibrate.observe import Measurements, TrialData
from simulate.calibrate.regression import LinearFit
from simulate.calibrate.workload import CalibratedWorkload

__all__ = ["Calibration"]


@dataclass(frozen=True)
class Calibration:
    """A workload model fitted to one experiment (see :mod:`simulate.calibrate`)."""

    metric: str
    mode: str
    space: dict[str, Any]
    columns: tuple[Column, ...]
    steps: int  # reports in a full run; 0: trials only return a result
    durations: LinearFit  # log seconds per trial, or per step when steps > 0
    curve: CurveFit | None
    final: LinearFit | None  # the returned metric (steps == 0)
    overhead_queued_s: float
    overhead_waiting_s: float
    startup_s: float
    scheduler: Any
    searcher: Any
    measured: dict[str, Any]
    notes: tuple[str, ...]
    data: Measurements

    def workload(self, seed: int = 0, *, steps: int | None = None) -> CalibratedWorkload:
        """A workload for :func:`simulate.runner.run_search` drawing with ``seed``."""
        return CalibratedWorkload(self, seed=seed, steps=steps)

    def overhead_s(self, *, queued: bool) -> float:
        """Seconds an attempt holds its slot beyond its work: queued attempts start at once,
        others wait for the driver's round trip (schedulers that decide on results)."""
        return self.overhead_queued_s if queued else self.overhead_waiting_s

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def bootstrap(self, n: int, seed: int = 0) -> list[Calibration]:
        """``n`` refits on trials (and slot gaps) resampled with replacement (the fit's share
        of a plan's uncertainty)."""
        from simulate.calibrate.fitting import fit  # fitting builds Calibrations: import late

        rng = np.random.default_rng([seed, 0xB007])
        out: list[Calibration] = []
        data = self.data
        strata: dict[tuple[bool, bool], list[TrialData]] = {}
        for t in data.trials:  # resampled within kinds, so every refit has as many timings
            strata.setdefault((t.duration is not None, t.step_time is not None), []).append(t)
        for _ in range(n):
            trials = [
                group[i]
                for _, group in sorted(strata.items())
                for i in rng.integers(0, len(group), len(group))
            ]
            trials.sort(key=lambda t: t.trial_id)
            resampled = dataclasses.replace(
                data,
                trials=trials,
                gaps_queued=_resample(data.gaps_queued, rng),
                gaps_waiting=_resample(data.gaps_waiting, rng),
                fixed=_resample(data.fixed, rng),
            )
            out.append(fit(resampled, steps=self.steps if self.steps else None))
        return out

    def summary(self) -> list[str]:
        """What was fitted and why, one line per part."""
        m = self.measured
        makespan = m.get("makespan_s")
        lines = [
            f"calibrated from {m['trials']} trials ({m['completed']} completed, "
            f"{m['attempts']} attempts) on {m['workers']} worker(s)"
            + (f", measured makespan {makespan:.4g} s" if makespan is not None else "")
        ]
        unit = "time per step" if self.steps else "time per trial"
        lines.append(f"{unit}: {self.durations.reason}")
        if self.curve is not None:
            lines.append(
                f"learning curves ({self.steps} steps): {self.curve.description}; "
                f"{self.curve.reason}; report noise {self.curve.noise:.3g}"
            )
        elif self.final is not None:
            lines.append(
                f"final {self.metric}: {self.final.reason}; simulated trials get measured "
                "results, in the order this ranks their configurations"
            )
        lines.append(
            f"per-trial overhead {self.overhead_queued_s * 1000:.3g} ms when queued, "
            f"{self.overhead_waiting_s * 1000:.3g} ms when the driver decides on results; "
            f"worker start-up {self.startup_s:.3g} s"
        )
        lines.extend(self.notes)
        return lines

    # ------------------------------------------------------------------ plain data

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; :meth:`from_dict` rebuilds the same calibration."""
        out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self), default=str))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        d = dict(data)
        d["columns"] = tuple(Column(**c) for c in d["columns"])
        d["durations"] = _linear_from(d["durations"])
        d["final"] = None if d.get("final") is None else _linear_from(d["final"])
        if d.get("curve") is not None:
            c = dict(d["curve"])
            for key in ("floor", "gain", "offsets", "squares"):
                c[key] = tuple(c.get(key, ()))
            d["curve"] = CurveFit(**c)
        d["notes"] = tuple(d.get("notes", ()))
        m = dict(d["data"])
        m["trials"] = [TrialData(**t) for t in m["trials"]]
        m["report_gaps"] = [(int(t), float(g)) for t, g in m.get("report_gaps", ())]
        d["data"] = Measurements(**m)
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _linear_from(data: Mapping[str, Any]) -> LinearFit:
    d = dict(data)
    d["coef"] = tuple(d["coef"])
    d["residuals"] = tuple(d["residuals"])
    d["squares"] = tuple(d.get("squares", ()))
    return LinearFit(**d)


def _resample(values: Sequence[float], rng: np.random.Generator) -> list[float]:
    if not values:
        return []
    return [values[i] for i in rng.integers(0, len(values), len(values))]
