"""Learning curves for multi-fidelity searches: a parametric curve per configuration and a
workload that reports it once per step (epoch), with a synthetic space to compare schedulers on."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from daskhpo.space import SearchSpace, lograndint, loguniform, uniform
from simulate.draws import STREAM_CURVE, KeyedDraws
from simulate.specs import parse_spec, positive, take_args, unknown_name
from simulate.workloads import DurationModel, config_score

__all__ = ["SYNTHETIC_SPACE", "Curve", "CurveModel", "CurveWorkload", "synthetic_floor"]

#: A small space for scheduler comparisons; :func:`synthetic_floor` gives its final losses.
SYNTHETIC_SPACE = SearchSpace(
    {
        "lr": loguniform(1e-4, 1.0),
        "width": lograndint(16, 1024),
        "dropout": uniform(0.0, 0.5),
    }
)


def synthetic_floor(config: Mapping[str, Any]) -> float:
    """The loss a configuration of :data:`SYNTHETIC_SPACE` converges to (best near lr=0.01,
    width=256, dropout=0.2); other spaces fall back to :func:`config_score`."""
    if not {"lr", "width", "dropout"} <= set(config):
        return 0.1 + 0.8 * config_score(config)
    lr = (math.log10(float(config["lr"])) + 2.0) / 2.0
    width = (math.log2(float(config["width"])) - 8.0) / 2.0
    dropout = (float(config["dropout"]) - 0.2) / 0.3
    return 0.05 + 0.3 * lr * lr + 0.08 * width * width + 0.05 * dropout * dropout


def _synthetic_rate(config: Mapping[str, Any]) -> float:
    """Larger learning rates learn faster early (so early leaders are not always the best)."""
    if "lr" not in config:
        return 1.0
    lr = (math.log10(float(config["lr"])) + 4.0) / 4.0  # 0 .. 1 over the domain
    return 0.4 + 1.2 * min(max(lr, 0.0), 1.0)


@dataclass(frozen=True)
class CurveModel:
    """A parametric learning curve: from ``start`` towards a config-dependent floor.

    ``kind="power"``: ``floor + (start - floor) * step ** (-rate)``;
    ``kind="exp"``: ``floor + (start - floor) * exp(-rate * step / scale)``. ``rate`` is the
    curve's base rate times a config-dependent factor; ``noise`` is the standard deviation of
    Gaussian noise added to each report.
    """

    steps: int = 27
    kind: str = "power"
    start: float = 1.0
    rate: float = 1.0
    scale: float = 5.0
    noise: float = 0.0
    floor: Callable[[Mapping[str, Any]], float] = synthetic_floor
    rate_factor: Callable[[Mapping[str, Any]], float] = _synthetic_rate

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"curve steps must be an integer >= 1, got {self.steps!r}")
        if self.kind not in ("power", "exp"):
            raise ValueError(f"curve kind must be 'power' or 'exp', got {self.kind!r}")
        for name in ("rate", "scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"curve {name} must be > 0, got {value!r}")
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"curve noise must be >= 0, got {self.noise!r}")

    @classmethod
    def from_spec(cls, spec: str) -> CurveModel:
        """``power:steps=27,rate=1,noise=0.01`` or ``exp:steps=20,rate=1,scale=5``."""
        name, args = parse_spec(spec, "curve")
        if name not in ("power", "exp"):
            raise unknown_name(name, spec, ("power", "exp"), "curve kind")
        a = take_args(
            spec,
            name,
            args,
            (),
            {"steps": 27.0, "start": 1.0, "rate": 1.0, "scale": 5.0, "noise": 0.0},
        )
        steps = a["steps"]
        if not (math.isfinite(steps) and steps >= 1 and steps == int(steps)):
            raise ValueError(f"steps must be a whole number >= 1, got {steps!r} in {spec!r}")
        return cls(
            steps=int(steps),
            kind=name,
            start=a["start"],
            rate=positive(spec, "rate", a["rate"]),
            scale=positive(spec, "scale", a["scale"]),
            noise=positive(spec, "noise", a["noise"], allow_zero=True),
        )

    def mean_curve(self, config: Mapping[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The noise-free metric after steps 1..steps."""
        return np.array(self.mean_values(config), dtype=np.float64)

    def mean_values(self, config: Mapping[str, Any]) -> list[float]:
        """:meth:`mean_curve` as Python floats (what a simulated trial reports)."""
        return list(self.curve(config))

    def curve(self, config: Mapping[str, Any], noise: Sequence[float] = ()) -> Curve:
        """The metric after steps 1..steps, plus ``noise`` (one value per step, or none)."""
        floor = float(self.floor(config))
        rate = self.rate * float(self.rate_factor(config))
        return Curve(self.kind, self.steps, floor, self.start - floor, rate, self.scale, noise)


class Curve(Sequence[float]):
    """One trial's learning curve, each step's value computed when it is read.

    Most simulated trials are stopped after a step or two, so computing all of a curve up
    front costs more than the rest of the trial. A value is the same float whenever it is
    computed: ``floor + span * t ** -rate`` (or ``* exp(-rate * t / scale)``) plus the step's
    noise, with the C library's pow and exp, one step at a time (numpy's vectorized ones round
    differently on CPUs with AVX-512, and a simulated search must be the same everywhere).
    """

    __slots__ = ("_noise", "_rate", "_scale", "_span", "floor", "kind", "steps")

    def __init__(
        self,
        kind: str,
        steps: int,
        floor: float,
        span: float,
        rate: float,
        scale: float,
        noise: Sequence[float] = (),
    ) -> None:
        if noise and len(noise) != steps:
            raise ValueError(f"{steps} steps take {steps} noise values, not {len(noise)}")
        self.kind, self.steps, self.floor = kind, steps, floor
        self._span, self._rate, self._scale, self._noise = span, rate, scale, noise

    def __len__(self) -> int:
        return self.steps

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> list[float]: ...

    def __getitem__(self, index: int | slice) -> float | list[float]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.steps))]
        if index < 0:
            index += self.steps
        if not 0 <= index < self.steps:
            raise IndexError(f"step index {index} is outside a curve of {self.steps} steps")
        t = float(index + 1)
        if self.kind == "power":
            value: float = self.floor + self._span * t**-self._rate
        else:
            value = self.floor + self._span * math.exp(-self._rate * t / self._scale)
        return value + self._noise[index] if self._noise else value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(other) == self.steps and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Curve({list(self)!r})"


class CurveWorkload:
    """Multi-fidelity trials: one report per step (epoch) along a :class:`CurveModel`.

    Each step takes ``epoch`` seconds of work, drawn once per trial (so a trial's epochs are
    equally long); the final result is the last step's value.
    """

    def __init__(
        self,
        curve: CurveModel | str = "power:steps=27",
        epoch: DurationModel | str = "constant:1",
        *,
        metric: str = "loss",
        seed: int = 0,
    ) -> None:
        self.model = curve if isinstance(curve, CurveModel) else CurveModel.from_spec(curve)
        self.epoch = epoch if isinstance(epoch, DurationModel) else DurationModel(epoch, seed=seed)
        self.metric = metric
        self.steps = self.model.steps
        self.seed = seed
        steps, noise = self.steps, self.model.noise
        self._noise = KeyedDraws(
            seed, STREAM_CURVE, lambda rng, n: rng.normal(0.0, noise, (n, steps))
        )

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        return self.epoch(trial_id, config) * self.steps

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> Curve:
        """The trial's curve, its values computed as they are read (:class:`Curve`)."""
        return self.model.curve(config, self._noise[trial_id] if self.model.noise > 0 else ())

    def final_values(
        self, space: SearchSpace, n: int, rng: np.random.Generator
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Noise-free final values of ``n`` configurations sampled from ``space``."""
        return np.array([self.model.mean_curve(space.sample(rng))[-1] for _ in range(n)])
