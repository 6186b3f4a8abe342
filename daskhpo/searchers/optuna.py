"""A bridge to Optuna's samplers (TPE, CMA-ES, GP, random) through ask and tell.

Optuna is an optional extra (``pip install 'daskhpo[optuna]'``). The searcher keeps an
in-memory Optuna study: ``suggest`` asks it for a trial over the search space's
distributions, intermediate values are reported to it, and a trial's end is told to it
(COMPLETE, PRUNED for a trial the scheduler stopped, FAIL). The sampler's seed is drawn
from the searcher's generator, so a seeded search asks for the same configurations.

Space mapping: ``uniform``/``loguniform`` become float distributions (log for the latter),
``randint``/``lograndint`` int distributions with both bounds inclusive, ``choice`` and
``grid`` categorical ones. Constants are copied into every configuration.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from daskhpo.searchers.base import Searcher
from daskhpo.space import (
    Choice,
    Domain,
    Grid,
    LogRandInt,
    LogUniform,
    RandInt,
    SearchSpace,
    Uniform,
)
from daskhpo.trial import TrialStatus

#: Sampler names, the Optuna class behind each, and extra modules it needs.
SAMPLERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tpe": ("TPESampler", ()),
    "cmaes": ("CmaEsSampler", ("cmaes",)),
    "gp": ("GPSampler", ("torch", "scipy")),
    "random": ("RandomSampler", ()),
    "qmc": ("QMCSampler", ("scipy",)),
}

_PLAIN = (str, int, float, bool, type(None))


def _require(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"{why} needs the package {module!r}, which is not installed; "
            f"install it with: pip install {module}"
        )


def _decoder(
    name: str, domain: Domain
) -> tuple[Any, Callable[[Any], Any]]:  # (optuna distribution, decode)
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(domain, LogUniform):
        high = math.nextafter(domain.high, -math.inf)
        return FloatDistribution(domain.low, domain.high, log=True), lambda v: min(float(v), high)
    if isinstance(domain, (RandInt, LogRandInt)):
        return IntDistribution(domain.low, domain.high, log=isinstance(domain, LogRandInt)), int
    if isinstance(domain, (Choice, Grid)):
        values = domain.categories if isinstance(domain, Choice) else domain.values
        plain = all(isinstance(v, _PLAIN) for v in values) and len(
            {(type(v), v) for v in values}
        ) == len(values)
        if plain:
            return CategoricalDistribution(values), lambda v: v
        return CategoricalDistribution(list(range(len(values)))), lambda i: values[int(i)]
    if isinstance(domain, Uniform):  # [low, high): Optuna's bound is inclusive
        top = math.nextafter(domain.high, -math.inf)
        return FloatDistribution(domain.low, domain.high), lambda v: min(float(v), top)
    raise ValueError(
        f"the optuna searcher cannot map parameter {name!r} ({type(domain).__name__}) to an "
        "Optuna distribution; use uniform, loguniform, randint, lograndint or choice"
    )


class OptunaSearcher(Searcher):
    """Any Optuna sampler as a searcher.

    ``sampler`` is a name (``"tpe"``, ``"cmaes"``, ``"gp"``, ``"random"``, ``"qmc"``) or an
    Optuna sampler instance (which you seed yourself); ``sampler_options`` are keyword
    arguments of the sampler class (``seed`` is set from the searcher's generator).
    ``quiet`` lowers Optuna's logging to warnings, so trial-by-trial lines do not interleave
    with the progress display (it is Optuna's global setting).
    """

    def __init__(
        self,
        sampler: Any = "tpe",
        sampler_options: Mapping[str, Any] | None = None,
        quiet: bool = True,
    ) -> None:
        _require("optuna", "the optuna searcher")
        if isinstance(sampler, str):
            name = sampler.lower()
            if name not in SAMPLERS:
                raise ValueError(f"unknown Optuna sampler {sampler!r}; known: {sorted(SAMPLERS)}")
            for module in SAMPLERS[name][1]:
                _require(module, f"Optuna's {name!r} sampler")
            optuna = importlib.import_module("optuna")
            if not hasattr(optuna.samplers, SAMPLERS[name][0]):
                raise ImportError(
                    f"Optuna {optuna.__version__} has no {SAMPLERS[name][0]}; upgrade it: "
                    "pip install -U 'optuna>=3.6'"
                )
        elif not hasattr(sampler, "sample_relative"):
            raise ValueError(
                f"sampler must be a name ({sorted(SAMPLERS)}) or an Optuna sampler instance, "
                f"got {sampler!r}"
            )
        elif sampler_options:
            raise ValueError("sampler_options apply to a sampler given by name, not an instance")
        if sampler_options is not None and not isinstance(sampler_options, Mapping):
            raise ValueError(f"sampler_options must be a mapping, got {sampler_options!r}")
        if sampler_options and "seed" in sampler_options:
            raise ValueError("sampler_options must not set 'seed': it comes from the search's seed")
        self.sampler = sampler
        self.sampler_options = dict(sampler_options or {})
        self.quiet = quiet
        self.study: Any = None
        self._trials: dict[int, Any] = {}
        self._steps: dict[int, set[int]] = {}
        self._distributions: dict[str, Any] = {}
        self._decoders: dict[str, Callable[[Any], Any]] = {}

    def setup(
        self, space: SearchSpace, *, metric: str, mode: str, rng: np.random.Generator
    ) -> None:
        super().setup(space, metric=metric, mode=mode, rng=rng)
        optuna = importlib.import_module("optuna")
        if self.quiet:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        for name, domain in space.domains.items():
            self._distributions[name], self._decoders[name] = _decoder(name, domain)
        sampler = self.sampler
        if isinstance(sampler, str):
            cls = getattr(optuna.samplers, SAMPLERS[sampler.lower()][0])
            seed = int(rng.integers(2**31 - 1))
            sampler = cls(seed=seed, **self.sampler_options)
        self.study = optuna.create_study(
            sampler=sampler, direction="minimize" if mode == "min" else "maximize"
        )

    def suggest(self, trial_id: int) -> dict[str, Any] | None:
        trial = self.study.ask(self._distributions)
        self._trials[trial_id] = trial
        constants = self.space.constants
        config: dict[str, Any] = {}
        for name in self.space.names:
            if name in self._decoders:
                config[name] = self._decoders[name](trial.params[name])
            else:
                config[name] = constants[name]
        return config

    def on_trial_report(self, trial_id: int, step: float, value: float) -> None:
        """Pass intermediate values on (Optuna wants whole, non-negative steps, each once)."""
        trial = self._trials.get(trial_id)
        if trial is None or step < 0 or step != int(step) or not math.isfinite(value):
            return
        seen = self._steps.setdefault(trial_id, set())
        if int(step) in seen:
            return
        seen.add(int(step))
        trial.report(value, int(step))

    def on_trial_end(self, trial_id: int, status: TrialStatus, value: float | None) -> None:
        from optuna.trial import TrialState

        trial = self._trials.pop(trial_id, None)
        self._steps.pop(trial_id, None)
        if trial is None:
            return
        if status is TrialStatus.COMPLETED and value is not None and math.isfinite(value):
            self.study.tell(trial, value)
        elif status is TrialStatus.STOPPED:
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            self.study.tell(trial, state=TrialState.FAIL)
