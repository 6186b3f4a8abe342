"""Duration SPECs, common random numbers and learning curves."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from simulate.curves import SYNTHETIC_SPACE, CurveModel, CurveWorkload
from simulate.distributions import parse_distribution
from simulate.workloads import DurationModel, DurationWorkload


@pytest.mark.parametrize(
    ("spec", "mean"),
    [
        ("constant:60", 60.0),
        ("exponential:mean=60", 60.0),
        ("exponential:rate=0.5", 2.0),
        ("lognormal:mean=60,sigma=1", 60.0),
        ("uniform:low=30,high=90", 60.0),
        ("gamma:mean=60,cv=0.5", 60.0),
    ],
)
def test_distributions_have_the_mean_they_say(spec, mean):
    dist = parse_distribution(spec)
    assert dist.mean == pytest.approx(mean)
    draws = dist.sample(np.random.default_rng(0), 200_000)
    assert (draws >= 0).all()
    assert draws.mean() == pytest.approx(mean, rel=0.02)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("expo:mean=60", "unknown duration distribution 'expo'.*did you mean 'exponential'"),
        ("exponential:mean=-5", "mean must be a finite number > 0, got -5"),
        (
            "lognormal:mean=60,sigmaa=1",
            r"lognormal takes mean=\.\.\., sigma=\.\.\.; got \['sigmaa'\]",
        ),
        ("uniform:low=90,high=30", "low < high"),
        ("uniform:low=30", r"needs \['high'\]"),
        ("constant:abc", "'abc' is not a number"),
        ("", "SPEC must be a string"),
        ("proportional:param=layers", r"needs \['scale'\]"),
    ],
)
def test_bad_specs_name_the_value(spec, message):
    with pytest.raises(ValueError, match=message):
        DurationModel(spec)


def test_draws_depend_on_trial_id_not_on_order():
    a = DurationModel("lognormal:mean=60,sigma=1", seed=4)
    b = DurationModel("lognormal:mean=60,sigma=1", seed=4)
    ids = [5000, 3, 1024, 1023, 0, 77]
    forward = [a(i, {}) for i in ids]
    backward = [b(i, {}) for i in reversed(ids)][::-1]
    assert forward == backward
    other = DurationModel("lognormal:mean=60,sigma=1", seed=5)
    assert [other(i, {}) for i in ids] != forward


def test_config_dependent_durations():
    proportional = DurationModel("proportional:param=layers,scale=10")
    assert proportional(0, {"layers": 4}) == pytest.approx(40.0)
    inverse = DurationModel("inverse:param=batch,scale=6400,noise=0.1", seed=1)
    noisy = [inverse(i, {"batch": 64}) / 100.0 for i in range(2000)]
    assert np.mean(noisy) == pytest.approx(1.0, rel=0.02)
    assert np.std(noisy) > 0.05
    with pytest.raises(ValueError, match="parameter 'layers'"):
        proportional(0, {"width": 3})


def test_stragglers_are_a_fraction_of_trials():
    model = DurationModel("constant:10", seed=2, straggler_prob=0.1, straggler_factor=5)
    values = [model(i, {}) for i in range(5000)]
    slow = sum(v == 50.0 for v in values) / len(values)
    assert set(values) == {10.0, 50.0}
    assert slow == pytest.approx(0.1, abs=0.02)


def test_duration_workload_metric_is_per_trial_or_from_the_config():
    drawn = DurationWorkload("constant:1", seed=3)
    assert drawn.curve(7, {}) == DurationWorkload("constant:1", seed=3).curve(7, {})
    assert 0 <= drawn.curve(7, {})[0] < 1
    valued = DurationWorkload("constant:1", value=lambda c: c["x"] * 2)
    assert valued.curve(0, {"x": 0.25}) == [0.5]


def test_learning_curves_decrease_towards_a_config_dependent_floor():
    workload = CurveWorkload("power:steps=27", "constant:2")
    rng = np.random.default_rng(0)
    configs = [SYNTHETIC_SPACE.sample(rng) for _ in range(20)]
    finals = set()
    for i, config in enumerate(configs):
        curve = workload.curve(i, config)
        assert len(curve) == 27
        assert all(a >= b for a, b in itertools.pairwise(curve))
        finals.add(round(curve[-1], 9))
        assert workload.duration(i, config) == 54.0
    assert len(finals) == 20
    noisy = CurveWorkload("exp:steps=10,noise=0.05", seed=1)
    assert noisy.curve(3, configs[0]) == CurveWorkload("exp:steps=10,noise=0.05", seed=1).curve(
        3, configs[0]
    )


@pytest.mark.parametrize("spec", ["power:steps=9,rate=0.7,noise=0.02", "exp:steps=6,scale=3"])
def test_a_curve_read_in_any_order_gives_each_step_its_formula_value(spec):
    """A curve computes a step when it is read: the values are the model's formula plus the
    trial's noise, bit for bit, whatever order or form (index, negative index, slice) reads them."""
    workload = CurveWorkload(spec, seed=4)
    model, config = workload.model, {"lr": 0.03, "width": 100, "dropout": 0.1}
    floor = model.floor(config)
    rate = model.rate * model.rate_factor(config)
    noise = list(workload._noise[5]) if model.noise else [0.0] * model.steps
    expected = []
    for t in range(1, model.steps + 1):
        if model.kind == "power":
            value = floor + (model.start - floor) * float(t) ** -rate
        else:
            value = floor + (model.start - floor) * math.exp(-rate * float(t) / model.scale)
        expected.append(value + noise[t - 1] if model.noise else value)
    curve = workload.curve(5, config)
    assert [curve[k] for k in reversed(range(model.steps))] == expected[::-1]
    assert curve[-1] == expected[-1]
    assert curve[1:3] == expected[1:3]
    assert curve == expected
    assert list(curve) == expected
    assert curve != expected[:-1]
    assert curve != "not a curve"
    with pytest.raises(IndexError, match=f"outside a curve of {model.steps} steps"):
        curve[model.steps]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("linear:steps=3", "unknown curve kind 'linear'"), ("power:steps=2.5", "whole number")],
)
def test_bad_curve_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        CurveModel.from_spec(spec)


def test_synthetic_optimum_is_where_it_says():
    best = CurveModel().mean_curve({"lr": 0.01, "width": 256, "dropout": 0.2})[-1]
    worse = CurveModel().mean_curve({"lr": 0.5, "width": 16, "dropout": 0.0})[-1]
    assert best < worse
    assert math.isfinite(best)
