"""Synthetic workloads: how long trials take and what they report.

Durations come from SPEC strings such as ``constant:60``, ``exponential:mean=60``,
``lognormal:mean=60,sigma=1``, ``uniform:low=30,high=90``, ``gamma:mean=60,cv=0.5``, or depend
on the configuration: ``proportional:param=layers,scale=60,noise=0.1`` (scale × value) and
``inverse:param=batch_size,scale=6400,noise=0.1`` (scale / value), both times lognormal noise
with mean 1.

Common random numbers: the draw for trial ``i`` depends only on (seed, stream, i), never on the
order trials are asked for, so synchronous and asynchronous runs with one seed see the same
durations. Draws are made in blocks by a numpy Generator keyed by (seed, stream, block).
"""

from __future__ import annotations

import abc
import difflib
import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from daskhpo.space import SearchSpace, lograndint, loguniform, uniform

__all__ = [
    "SYNTHETIC_SPACE",
    "CurveModel",
    "CurveWorkload",
    "Distribution",
    "DurationModel",
    "DurationWorkload",
    "Workload",
    "config_score",
    "parse_distribution",
    "parse_spec",
    "synthetic_floor",
]

BLOCK = 1024  # draws per generator block
_CACHE_BLOCKS = 256

# Streams: independent sequences under one seed.
STREAM_DURATION = 0
STREAM_METRIC = 1
STREAM_CURVE = 2
STREAM_STRAGGLER = 3


# --------------------------------------------------------------------------- SPEC parsing


def parse_spec(spec: str, what: str = "duration") -> tuple[str, dict[str, float]]:
    """Split ``name:k=v,k=v`` (or ``name:v``) into a name and numeric arguments.

    A bare number after the colon is returned under the key ``""``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} SPEC must be a string like 'exponential:mean=60', got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip().lower()
    args: dict[str, float] = {}
    if not rest.strip():
        return name, args
    for part in rest.split(","):
        key, eq, raw = part.partition("=")
        if not eq:
            key, raw = "", key
        key = key.strip().lower()
        if key in args:
            raise ValueError(f"{what} SPEC {spec!r} gives {key or 'the value'!r} twice")
        raw = raw.strip()
        if key == "param":
            args[key] = raw  # type: ignore[assignment]  # a parameter name, kept as text
            continue
        try:
            args[key] = float(raw)
        except ValueError:
            raise ValueError(
                f"{what} SPEC {spec!r}: {key or 'value'}={raw!r} is not a number; "
                "write e.g. 'lognormal:mean=60,sigma=1'"
            ) from None
    return name, args


def _take(
    spec: str,
    name: str,
    args: dict[str, Any],
    required: tuple[str, ...],
    optional: Mapping[str, Any],
) -> dict[str, Any]:
    """Check that ``args`` has exactly the allowed keys; fill in optional defaults."""
    allowed = (*required, *optional)
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name} takes {', '.join(f'{k}=...' for k in allowed)}; got {unknown} in {spec!r}"
        )
    missing = [k for k in required if k not in args]
    if missing:
        example = ",".join(f"{k}=..." for k in required)
        raise ValueError(f"{name} needs {missing} in {spec!r}; write '{name}:{example}'")
    return {**optional, **args}


def _positive(spec: str, key: str, value: float, *, allow_zero: bool = False) -> float:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{key} must be a finite number {bound}, got {value!r} in {spec!r}")
    return value


# --------------------------------------------------------------------------- distributions


class Distribution(abc.ABC):
    """Positive random durations (seconds)."""

    spec: str

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        """``n`` draws using only ``rng``."""

    @property
    @abc.abstractmethod
    def mean(self) -> float:
        """The expected value."""


@dataclass(frozen=True)
class Constant(Distribution):
    value: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.full(n, self.value)

    @property
    def mean(self) -> float:
        return self.value


@dataclass(frozen=True)
class Exponential(Distribution):
    mean_: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return rng.exponential(self.mean_, n)

    @property
    def mean(self) -> float:
        return self.mean_


@dataclass(frozen=True)
class LogNormal(Distribution):
    mean_: float
    sigma: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        mu = math.log(self.mean_) - self.sigma**2 / 2
        return rng.lognormal(mu, self.sigma, n)

    @property
    def mean(self) -> float:
        return self.mean_


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        return rng.uniform(self.low, self.high, n)

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class Gamma(Distribution):
    mean_: float
    cv: float  # coefficient of variation: sd / mean
    spec: str = ""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_ / shape, n)

    @property
    def mean(self) -> float:
        return self.mean_


def _constant(spec: str, args: dict[str, Any]) -> Distribution:
    a = _take(
        spec, "constant", {("value" if k == "" else k): v for k, v in args.items()}, ("value",), {}
    )
    return Constant(_positive(spec, "value", a["value"], allow_zero=True), spec)


def _exponential(spec: str, args: dict[str, Any]) -> Distribution:
    a = _take(
        spec,
        "exponential",
        {("mean" if k == "" else k): v for k, v in args.items()},
        (),
        {"mean": None, "rate": None},
    )
    if (a["mean"] is None) == (a["rate"] is None):
        raise ValueError(f"exponential needs mean=... or rate=... (one of them) in {spec!r}")
    mean = a["mean"] if a["mean"] is not None else 1.0 / _positive(spec, "rate", a["rate"])
    return Exponential(_positive(spec, "mean", mean), spec)


def _lognormal(spec: str, args: dict[str, Any]) -> Distribution:
    a = _take(spec, "lognormal", args, ("mean",), {"sigma": 1.0})
    return LogNormal(
        _positive(spec, "mean", a["mean"]),
        _positive(spec, "sigma", a["sigma"], allow_zero=True),
        spec,
    )


def _uniform(spec: str, args: dict[str, Any]) -> Distribution:
    a = _take(spec, "uniform", args, ("low", "high"), {})
    low = _positive(spec, "low", a["low"], allow_zero=True)
    high = _positive(spec, "high", a["high"])
    if not low < high:
        raise ValueError(f"uniform needs low < high, got low={low!r}, high={high!r} in {spec!r}")
    return Uniform(low, high, spec)


def _gamma(spec: str, args: dict[str, Any]) -> Distribution:
    a = _take(spec, "gamma", args, ("mean",), {"cv": 1.0})
    return Gamma(_positive(spec, "mean", a["mean"]), _positive(spec, "cv", a["cv"]), spec)


_DISTRIBUTIONS: dict[str, Callable[[str, dict[str, Any]], Distribution]] = {
    "constant": _constant,
    "exponential": _exponential,
    "lognormal": _lognormal,
    "uniform": _uniform,
    "gamma": _gamma,
}
_CONFIG_DEPENDENT = ("proportional", "inverse")
KNOWN_DURATIONS = (*_DISTRIBUTIONS, *_CONFIG_DEPENDENT)


def _unknown(name: str, spec: str, known: tuple[str, ...], what: str) -> ValueError:
    close = [k for k in known if name and k.startswith(name)] or difflib.get_close_matches(
        name, known, n=1
    )
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {name!r} in {spec!r}; known: {', '.join(known)}{hint}")


def parse_distribution(spec: str) -> Distribution:
    """A duration distribution from a SPEC string such as ``lognormal:mean=60,sigma=1``."""
    name, args = parse_spec(spec)
    if name not in _DISTRIBUTIONS:
        raise _unknown(name, spec, tuple(_DISTRIBUTIONS), "duration distribution")
    return _DISTRIBUTIONS[name](spec, args)


# --------------------------------------------------------------------------- keyed draws


class KeyedDraws:
    """Per-trial values that depend only on (seed, stream, trial id): common random numbers.

    ``fill(rng, n)`` returns ``n`` draws (an array of n values, or of n rows).
    """

    __slots__ = ("_blocks", "_fill", "_last", "_last_index", "seed", "stream")

    def __init__(
        self,
        seed: int,
        stream: int,
        fill: Callable[[np.random.Generator, int], np.ndarray[Any, np.dtype[np.float64]]],
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        self.stream = stream
        self._fill = fill
        self._blocks: dict[int, list[Any]] = {}
        self._last_index = -1
        self._last: list[Any] = []

    def block(self, index: int) -> list[Any]:
        """Draws for trial ids ``index * BLOCK`` to ``(index + 1) * BLOCK - 1``."""
        values = self._blocks.get(index)
        if values is None:
            rng = np.random.default_rng([self.seed, self.stream, index])
            values = self._fill(rng, BLOCK).tolist()
            if len(self._blocks) >= _CACHE_BLOCKS:
                del self._blocks[next(iter(self._blocks))]
            self._blocks[index] = values
        return values

    def __getitem__(self, trial_id: int) -> Any:
        index, offset = divmod(trial_id, BLOCK)
        if index != self._last_index:
            if trial_id < 0:
                raise IndexError(f"trial ids are >= 0, got {trial_id!r}")
            self._last = self.block(index)
            self._last_index = index
        return self._last[offset]


# --------------------------------------------------------------------------- durations


class DurationModel:
    """Seconds of work (at speed 1) for each trial, from a SPEC string.

    ``straggler_prob`` makes that fraction of trials (chosen per trial id, independently of
    the duration draw) take ``straggler_factor`` times longer.
    """

    def __init__(
        self,
        spec: str | Distribution,
        *,
        seed: int = 0,
        straggler_prob: float = 0.0,
        straggler_factor: float = 1.0,
        stream: int = STREAM_DURATION,
    ) -> None:
        if not (math.isfinite(straggler_prob) and 0.0 <= straggler_prob <= 1.0):
            raise ValueError(f"straggler_prob must be in [0, 1], got {straggler_prob!r}")
        if not (math.isfinite(straggler_factor) and straggler_factor > 0):
            raise ValueError(f"straggler_factor must be > 0, got {straggler_factor!r}")
        self.straggler_prob = straggler_prob
        self.straggler_factor = straggler_factor
        self._param: str | None = None
        self._inverse = False
        self._scale = 1.0
        if isinstance(spec, Distribution):
            self.spec = spec.spec or repr(spec)
            dist = spec
        else:
            self.spec = spec
            name, args = parse_spec(spec)
            if name in _CONFIG_DEPENDENT:
                a = _take(spec, name, args, ("param", "scale"), {"noise": 0.0})
                self._param = str(a["param"])
                self._inverse = name == "inverse"
                self._scale = _positive(spec, "scale", a["scale"])
                sigma = _positive(spec, "noise", a["noise"], allow_zero=True)
                dist = LogNormal(1.0, sigma, spec) if sigma > 0 else Constant(1.0, spec)
            elif name in _DISTRIBUTIONS:
                dist = _DISTRIBUTIONS[name](spec, args)
            else:
                raise _unknown(name, spec, KNOWN_DURATIONS, "duration distribution")
        self.distribution = dist
        self._draws = KeyedDraws(seed, stream, dist.sample)
        self._stragglers = (
            KeyedDraws(seed, STREAM_STRAGGLER, lambda rng, n: rng.random(n))
            if straggler_prob > 0 and straggler_factor != 1.0
            else None
        )

    @property
    def config_dependent(self) -> bool:
        return self._param is not None

    def plain_draws(self) -> KeyedDraws | None:
        """The raw per-trial draws when nothing modifies them (a fast path), else None."""
        return self._draws if self._param is None and self._stragglers is None else None

    def __call__(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """The duration of trial ``trial_id`` with ``config``."""
        value: float = self._draws[trial_id]
        if self._param is not None:
            value *= self._config_factor(config)
        if self._stragglers is not None and self._stragglers[trial_id] < self.straggler_prob:
            value *= self.straggler_factor
        return value

    def _config_factor(self, config: Mapping[str, Any]) -> float:
        assert self._param is not None
        if self._param not in config:
            raise ValueError(
                f"duration {self.spec!r} depends on parameter {self._param!r}, which the "
                f"configuration does not have (it has {sorted(config)}); add it to the space"
            )
        x = float(config[self._param])
        if self._inverse:
            if x <= 0:
                raise ValueError(
                    f"duration {self.spec!r} divides by {self._param}={x!r}; it must be > 0"
                )
            return self._scale / x
        return self._scale * x

    def __repr__(self) -> str:
        return f"DurationModel({self.spec!r})"


# --------------------------------------------------------------------------- workloads


class Workload(Protocol):
    """What a trial does in simulation: total work, reports and metric values."""

    metric: str
    steps: int  # intermediate reports in a full run; 0 means only a final result

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        """Seconds of work at speed 1 for the full run."""
        ...

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        """The metric after each step (``max(steps, 1)`` values; the last is the final one)."""
        ...


def config_score(config: Mapping[str, Any]) -> float:
    """A stable pseudo-random number in [0, 1) that depends only on the configuration."""
    text = repr(sorted((str(k), repr(v)) for k, v in config.items()))
    return zlib.crc32(text.encode()) / 2**32


class DurationWorkload:
    """Trials that run for a drawn duration and return one metric value, without reports.

    The metric is ``value(config)`` when given, else a uniform draw per trial id.
    """

    steps = 0

    def __init__(
        self,
        durations: DurationModel | str,
        *,
        metric: str = "loss",
        seed: int = 0,
        value: Callable[[Mapping[str, Any]], float] | None = None,
    ) -> None:
        self.durations = (
            durations
            if isinstance(durations, DurationModel)
            else DurationModel(durations, seed=seed)
        )
        self.metric = metric
        self._value = value
        self._metric_draws = KeyedDraws(seed, STREAM_METRIC, lambda rng, n: rng.random(n))
        self._plain = self.durations.plain_draws()

    def duration(self, trial_id: int, config: Mapping[str, Any]) -> float:
        if self._plain is not None:
            value: float = self._plain[trial_id]
            return value
        return self.durations(trial_id, config)

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        if self._value is not None:
            return [float(self._value(config))]
        return [self._metric_draws[trial_id]]


# --------------------------------------------------------------------------- learning curves

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
            raise _unknown(name, spec, ("power", "exp"), "curve kind")
        a = _take(
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
            rate=_positive(spec, "rate", a["rate"]),
            scale=_positive(spec, "scale", a["scale"]),
            noise=_positive(spec, "noise", a["noise"], allow_zero=True),
        )

    def mean_curve(self, config: Mapping[str, Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The noise-free metric after steps 1..steps."""
        floor = float(self.floor(config))
        rate = self.rate * float(self.rate_factor(config))
        t = np.arange(1, self.steps + 1, dtype=np.float64)
        decay = t ** (-rate) if self.kind == "power" else np.exp(-rate * t / self.scale)
        return floor + (self.start - floor) * decay


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

    def curve(self, trial_id: int, config: Mapping[str, Any]) -> list[float]:
        values = self.model.mean_curve(config)
        if self.model.noise > 0:
            values = values + np.asarray(self._noise[trial_id])
        result: list[float] = values.tolist()
        return result

    def final_values(
        self, space: SearchSpace, n: int, rng: np.random.Generator
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Noise-free final values of ``n`` configurations sampled from ``space``."""
        return np.array([self.model.mean_curve(space.sample(rng))[-1] for _ in range(n)])
