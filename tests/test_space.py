"""Tests for daskhpo.space: domains, the YAML form, sampling and grid enumeration."""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from daskhpo.space import (
    Choice,
    Domain,
    Grid,
    LogRandInt,
    LogUniform,
    RandInt,
    SearchSpace,
    SpaceError,
    Uniform,
    as_space,
    choice,
    grid,
    lograndint,
    loguniform,
    randint,
    uniform,
)

FAST = settings(max_examples=60, deadline=None)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- domains


def test_uniform_samples_python_floats_in_half_open_range() -> None:
    d = uniform(-2, 3)
    r = rng()
    draws = [d.sample(r) for _ in range(1000)]
    assert all(type(x) is float for x in draws)
    assert all(-2.0 <= x < 3.0 for x in draws)
    assert min(draws) < -1.5
    assert max(draws) > 2.5
    assert d == Uniform(-2.0, 3.0)
    assert type(d.low) is float


def test_loguniform_samples_python_floats_in_range() -> None:
    d = loguniform(1e-3, 10)
    r = rng()
    draws = [d.sample(r) for _ in range(1000)]
    assert all(type(x) is float for x in draws)
    assert all(1e-3 <= x < 10 for x in draws)


def test_loguniform_is_uniform_in_log_space() -> None:
    d = loguniform(1e-4, 1.0)
    r = rng(1234)
    draws = np.array([d.sample(r) for _ in range(4000)])
    assert abs(np.mean(draws < 1e-2) - 0.5) < 0.05
    # a plain uniform draw would put ~1% below 1e-2
    assert abs(np.mean(draws < 1e-3) - 0.25) < 0.05


@pytest.mark.parametrize("factory", [randint, lograndint])
def test_integer_domains_include_both_bounds(factory: Any) -> None:
    d = factory(1, 3)
    r = rng()
    draws = [d.sample(r) for _ in range(2000)]
    assert all(type(x) is int for x in draws)
    assert set(draws) == {1, 2, 3}


def test_randint_single_value_and_numpy_ints() -> None:
    d = randint(np.int64(5), np.int32(5))
    assert type(d.low) is int
    assert type(d.high) is int
    assert d.sample(rng()) == 5
    assert d.to_dict() == {"randint": [5, 5]}


def test_lograndint_favours_small_values() -> None:
    d = lograndint(1, 1000)
    r = rng(7)
    draws = np.array([d.sample(r) for _ in range(4000)])
    # log-uniform over [1, 1001): P(x < 32) = log(32) / log(1001) ~ 0.50
    assert abs(np.mean(draws < 32) - math.log(32) / math.log(1001)) < 0.05
    assert draws.min() >= 1
    assert draws.max() <= 1000


class _FixedDraw:
    """Stands in for a Generator whose ``random()`` always returns ``u``."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


@pytest.mark.parametrize("low", [5, 7, 8, 14])  # math.exp(math.log(low)) < low for these
def test_lograndint_extreme_draws_stay_in_bounds(low: int) -> None:
    d = lograndint(low, 40)
    assert d.sample(_FixedDraw(0.0)) == low  # type: ignore[arg-type]
    assert d.sample(_FixedDraw(1.0 - 2**-53)) == 40  # type: ignore[arg-type]


def test_uniform_extreme_draws_stay_half_open() -> None:
    d = uniform(0.1, 0.3)
    assert d.sample(_FixedDraw(0.0)) == 0.1  # type: ignore[arg-type]
    assert d.sample(_FixedDraw(1.0 - 2**-53)) < 0.3  # type: ignore[arg-type]


def test_choice_returns_the_category_objects() -> None:
    marker = object()
    cats = [marker, "adam", 3]
    d = choice(cats)
    assert d.categories == (marker, "adam", 3)
    r = rng()
    draws = [d.sample(r) for _ in range(300)]
    assert any(x is marker for x in draws)
    assert {type(x) for x in draws} == {object, str, int}


def test_choice_from_numpy_array_yields_python_scalars() -> None:
    d = choice(np.array([1, 2, 3]))
    assert all(type(d.sample(rng(s))) is int for s in range(10))


def test_grid_sample_and_contains() -> None:
    g = grid(["a", "b"])
    assert g.values == ("a", "b")
    assert g.sample(rng()) in ("a", "b")
    assert g.contains("a")
    assert not g.contains("c")


@pytest.mark.parametrize(
    ("make", "bad"),
    [
        (lambda: uniform(2.0, 1.0), "2.0"),
        (lambda: uniform(1.0, 1.0), "1.0"),
        (lambda: uniform(0.0, math.inf), "inf"),
        (lambda: uniform(math.nan, 1.0), "nan"),
        (lambda: uniform("a", 1.0), "'a'"),  # type: ignore[arg-type]
        (lambda: uniform(True, 2.0), "True"),
        (lambda: loguniform(-1.0, 1.0), "-1.0"),
        (lambda: loguniform(2.0, 1.0), "2.0"),
        (lambda: randint(1.5, 3), "1.5"),  # type: ignore[arg-type]
        (lambda: randint(True, 3), "True"),
        (lambda: randint(5, 4), "5"),
        (lambda: randint(0, 2**64), str(2**64)),
        (lambda: lograndint(0, 4), "low=0"),
        (lambda: lograndint(3, 2), "high=2"),
        (lambda: lograndint(1, 2.0), "2.0"),  # type: ignore[arg-type]
        (lambda: choice([]), "[]"),
        (lambda: choice("abc"), "'abc'"),
        (lambda: choice({"a", "b"}), "set"),  # type: ignore[arg-type]
        (lambda: grid([]), "[]"),
        (lambda: grid([1, 2, 1]), "[1, 2, 1]"),
    ],
)
def test_bad_domain_arguments_name_the_value(make: Any, bad: str) -> None:
    with pytest.raises(SpaceError) as info:
        make()
    assert bad in str(info.value)


def test_loguniform_zero_suggests_uniform() -> None:
    with pytest.raises(SpaceError, match=r"positive lower bound.*uniform\(\.\.\.\)"):
        loguniform(0.0, 1.0)


def test_space_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="low < high"):
        uniform(1, 0)


@pytest.mark.parametrize(
    ("domain", "inside", "outside"),
    [
        (uniform(0, 1), [0.0, 0.5, 0], [1.0, -0.1, True, "0.5", math.nan]),
        (loguniform(1e-3, 1), [1e-3, 0.5], [1.0, 0.0, None]),
        (randint(1, 3), [1, 3, np.int64(2)], [0, 4, 2.0, True]),
        (lograndint(2, 9), [2, 9], [1, 10, 3.5]),
        (choice(["a", 1]), ["a", 1], ["b", 2]),
    ],
)
def test_domain_contains(domain: Domain, inside: list[Any], outside: list[Any]) -> None:
    assert all(domain.contains(v) for v in inside)
    assert not any(domain.contains(v) for v in outside)


# --------------------------------------------------------------------------- YAML form

EXAMPLE_YAML = """
lr: {loguniform: [1.0e-4, 1.0]}
layers: {randint: [1, 8]}
width: {lograndint: {low: 16, high: 512}}
opt: {choice: [sgd, adam, rmsprop]}
seed_like: {grid: [1, 2, 3]}
dropout: {uniform: [0.0, 0.5]}
max_epochs: 10
tags: [a, b]
extra: {constant: {a: 1}}
"""


def test_from_dict_example() -> None:
    space = SearchSpace.from_dict(yaml.safe_load(EXAMPLE_YAML))
    assert space.names == [
        "lr",
        "layers",
        "width",
        "opt",
        "seed_like",
        "dropout",
        "max_epochs",
        "tags",
        "extra",
    ]
    assert space["lr"] == LogUniform(1e-4, 1.0)
    assert space["layers"] == RandInt(1, 8)
    assert space["width"] == LogRandInt(16, 512)
    assert space["opt"] == Choice(("sgd", "adam", "rmsprop"))
    assert space["seed_like"] == Grid((1, 2, 3))
    assert space["dropout"] == Uniform(0.0, 0.5)
    assert space.constants == {"max_epochs": 10, "tags": ["a", "b"], "extra": {"a": 1}}
    assert list(space.domains) == ["lr", "layers", "width", "opt", "seed_like", "dropout"]
    assert space.to_dict()["extra"] == {"constant": {"a": 1}}
    assert space.to_dict()["width"] == {"lograndint": [16, 512]}
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_yaml_numeric_strings_are_accepted_for_float_bounds() -> None:
    data = yaml.safe_load("lr: {loguniform: [1e-4, 1e0]}")
    assert data["lr"]["loguniform"] == ["1e-4", "1e0"]  # YAML 1.1 reads these as strings
    space = SearchSpace.from_dict(data)
    assert space["lr"] == LogUniform(1e-4, 1.0)


def test_unknown_domain_suggests_a_close_match() -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"lr": {"logunifrom": [1e-4, 1.0]}})
    msg = str(info.value)
    assert "'lr'" in msg
    assert "'logunifrom'" in msg
    assert "did you mean 'loguniform'?" in msg
    for known in ("uniform", "randint", "lograndint", "choice", "grid", "constant"):
        assert known in msg


def test_unknown_domain_without_close_match_suggests_constant() -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"extra": {"zzzz": 1}})
    assert "did you mean" not in str(info.value)
    assert "{constant: ...}" in str(info.value)


@pytest.mark.parametrize("value", [{"a": 1, "b": 2}, {}])
def test_mapping_without_exactly_one_key_says_to_wrap_constants(value: dict[str, Any]) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"extra": value})
    assert "'extra'" in str(info.value)
    assert "{constant: ...}" in str(info.value)


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ({"uniform": [1]}, "[1]"),
        ({"uniform": [1, 2, 3]}, "[1, 2, 3]"),
        ({"uniform": 5}, "5"),
        ({"uniform": ["a", 1]}, "'a'"),
        ({"uniform": {"low": 1}}, "'low'"),
        ({"loguniform": [0.0, 1.0]}, "low=0.0, high=1.0"),
        ({"randint": ["1", 3]}, "'1'"),
        ({"randint": [1.5, 3]}, "1.5"),
        ({"lograndint": {"low": 0, "high": 4}}, "low=0"),
        ({"choice": []}, "[]"),
        ({"choice": "abc"}, "'abc'"),
        ({"grid": [1, 1]}, "[1, 1]"),
    ],
)
def test_bad_yaml_domain_names_the_parameter_and_value(value: Any, bad: str) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"p": value})
    msg = str(info.value)
    assert msg.startswith("parameter 'p': ")
    assert msg.count("parameter 'p'") == 1
    assert bad in msg


def test_loguniform_error_from_yaml_matches_documented_message() -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace.from_dict({"lr": {"loguniform": [0.0, 1.0]}})
    msg = str(info.value)
    assert msg.startswith("parameter 'lr': loguniform needs 0 < low < high, got low=0.0, high=1.0")
    assert "use uniform(...) for a range that includes 0" in msg


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(SpaceError, match="list"):
        SearchSpace.from_dict([1, 2])  # type: ignore[arg-type]


def test_python_api_dict_value_is_a_constant() -> None:
    space = SearchSpace({"opt": {"uniform": [0, 1]}})
    assert space.domains == {}
    assert space.sample(rng()) == {"opt": {"uniform": [0, 1]}}
    assert space.to_dict() == {"opt": {"constant": {"uniform": [0, 1]}}}
    assert SearchSpace.from_dict(space.to_dict()) == space


# --------------------------------------------------------------------------- space


@pytest.mark.parametrize("key", ["", 3, None])
def test_bad_parameter_names(key: Any) -> None:
    with pytest.raises(SpaceError) as info:
        SearchSpace({key: 1})
    assert repr(key) in str(info.value)
    with pytest.raises(SpaceError):
        SearchSpace.from_dict({key: 1})


def test_empty_space_is_an_error() -> None:
    with pytest.raises(SpaceError, match="at least one parameter"):
        SearchSpace({})


def test_as_space() -> None:
    space = SearchSpace({"a": 1})
    assert as_space(space) is space
    assert as_space({"a": 1}) == space
    with pytest.raises(TypeError, match="list"):
        as_space([("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="as_space"):
        SearchSpace(space)  # type: ignore[arg-type]


def test_constants_are_copied() -> None:
    layers = [64, 32]
    space = SearchSpace({"layers": layers, "lr": uniform(0, 1)})
    layers.append(16)  # mutating the caller's list after construction
    config = space.sample(rng())
    assert config["layers"] == [64, 32]
    config["layers"].append(8)  # mutating a sampled constant
    assert space.sample(rng())["layers"] == [64, 32]
    space.constants["layers"].append(4)
    space.to_dict()["layers"].append(4)
    assert space.constants == {"layers": [64, 32]}


def test_sample_keys_in_insertion_order_and_fixed_override() -> None:
    space = SearchSpace({"b": uniform(0, 1), "a": 7, "c": grid([1, 2]), "d": randint(0, 9)})
    config = space.sample(rng(), fixed={"c": 2, "b": 0.25})
    assert list(config) == ["b", "a", "c", "d"]
    assert config["b"] == 0.25
    assert config["c"] == 2
    assert config["a"] == 7
    assert 0 <= config["d"] <= 9
    # a fixed key consumes no randomness: the same rng state gives the same remaining draws
    only_d = SearchSpace({"d": randint(0, 9)}).sample(rng())
    assert config["d"] == only_d["d"]


def test_sample_rejects_unknown_fixed_key_and_bad_rng() -> None:
    space = SearchSpace({"a": uniform(0, 1)})
    with pytest.raises(SpaceError, match="'zz'"):
        space.sample(rng(), fixed={"zz": 1})
    with pytest.raises(TypeError, match="default_rng"):
        space.sample(0)  # type: ignore[arg-type]


def test_sampling_is_deterministic_per_seed() -> None:
    space = SearchSpace.from_dict(yaml.safe_load(EXAMPLE_YAML))

    def draws(seed: int) -> list[dict[str, Any]]:
        r = rng(seed)
        return [space.sample(r) for _ in range(50)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert len({repr(c) for c in draws(3)}) > 40


def test_grid_order_and_size() -> None:
    space = SearchSpace({"x": grid([1, 2, 3]), "lr": uniform(0, 1), "y": grid(["a", "b"]), "c": 0})
    assert space.grid_names == ["x", "y"]
    assert space.grid_size == 6
    assert list(space.grid_points()) == [
        {"x": 1, "y": "a"},
        {"x": 1, "y": "b"},
        {"x": 2, "y": "a"},
        {"x": 2, "y": "b"},
        {"x": 3, "y": "a"},
        {"x": 3, "y": "b"},
    ]


def test_no_grid_gives_one_empty_point() -> None:
    space = SearchSpace({"lr": uniform(0, 1)})
    assert space.grid_names == []
    assert space.grid_size == 1
    assert list(space.grid_points()) == [{}]


def test_contains() -> None:
    space = SearchSpace({"lr": loguniform(1e-3, 1), "opt": choice(["sgd", "adam"]), "n": 5})
    good = {"lr": 0.01, "opt": "adam", "n": 5}
    assert space.contains(good)
    assert not space.contains({**good, "lr": 2.0})
    assert not space.contains({**good, "opt": "rmsprop"})
    assert not space.contains({**good, "n": 6})
    assert not space.contains({"lr": 0.01, "opt": "adam"})  # missing key
    assert not space.contains({**good, "extra": 1})  # key the space does not have


def test_dunder_methods() -> None:
    space = SearchSpace({"a": uniform(0, 1), "b": 2})
    assert len(space) == 2
    assert list(space) == ["a", "b"]
    assert "a" in space
    assert "zz" not in space
    assert space == SearchSpace({"a": Uniform(0.0, 1.0), "b": 2})
    assert space != SearchSpace({"a": uniform(0, 1), "b": 3})
    assert space != SearchSpace({"b": 2, "a": uniform(0, 1)})  # order drives sampling
    assert space != {"a": uniform(0, 1), "b": 2}
    assert repr(space) == "SearchSpace({'a': Uniform(low=0.0, high=1.0), 'b': 2})"


# --------------------------------------------------------------------------- properties


def finite_floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def float_bounds(draw: st.DrawFn, low: float, high: float) -> tuple[float, float]:
    a = draw(finite_floats(low, high))
    b = draw(finite_floats(low, high).filter(lambda x: x != a))
    return (min(a, b), max(a, b))


@st.composite
def int_bounds(draw: st.DrawFn, low: int, high: int) -> tuple[int, int]:
    a = draw(st.integers(low, high))
    b = draw(st.integers(low, high))
    return (min(a, b), max(a, b))


scalars = (
    st.integers(-(10**9), 10**9)
    | finite_floats(-1e9, 1e9)
    | st.text(string.ascii_letters + string.digits + " _-.", max_size=8)
    | st.booleans()
    | st.none()
)
constants = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
domains: st.SearchStrategy[Domain] = st.one_of(
    float_bounds(-1e6, 1e6).map(lambda b: Uniform(*b)),
    float_bounds(1e-12, 1e6).map(lambda b: LogUniform(*b)),
    int_bounds(-1000, 1000).map(lambda b: RandInt(*b)),
    int_bounds(1, 10**6).map(lambda b: LogRandInt(*b)),
    st.lists(constants, min_size=1, max_size=4).map(choice),
    st.lists(scalars, min_size=1, max_size=4, unique=True).map(grid),
)
spaces = st.dictionaries(
    st.text(string.ascii_letters + "_", min_size=1, max_size=8),
    domains | constants,
    min_size=1,
    max_size=6,
).map(SearchSpace)


@FAST
@given(domain=domains, seed=st.integers(0, 2**32 - 1))
def test_samples_are_inside_their_domain(domain: Domain, seed: int) -> None:
    r = rng(seed)
    for _ in range(20):
        value = domain.sample(r)
        assert domain.contains(value), (domain, value)
        if isinstance(domain, (Uniform, LogUniform)):
            assert type(value) is float
            assert domain.low <= value < domain.high
        if isinstance(domain, (RandInt, LogRandInt)):
            assert type(value) is int
            assert domain.low <= value <= domain.high


@FAST
@given(low=finite_floats(-1e6, 1e6), seed=st.integers(0, 2**32 - 1))
def test_uniform_with_adjacent_bounds_stays_half_open(low: float, seed: int) -> None:
    high = math.nextafter(low, math.inf)
    d = Uniform(low, high)
    assert all(d.sample(rng(seed)) == low for _ in range(5))


@FAST
@given(space=spaces)
def test_dict_round_trip(space: SearchSpace) -> None:
    assert SearchSpace.from_dict(space.to_dict()) == space


@FAST
@given(space=spaces)
def test_yaml_round_trip(space: SearchSpace) -> None:
    text = yaml.safe_dump(space.to_dict(), sort_keys=False)
    assert SearchSpace.from_dict(yaml.safe_load(text)) == space


@FAST
@given(space=spaces, seed=st.integers(0, 2**32 - 1))
def test_samples_are_contained_in_the_space(space: SearchSpace, seed: int) -> None:
    config = space.sample(rng(seed))
    assert list(config) == space.names
    assert space.contains(config)


@FAST
@given(space=spaces, seed=st.integers(0, 2**32 - 1))
def test_grid_points_are_distinct_and_contained(space: SearchSpace, seed: int) -> None:
    points = list(space.grid_points())
    assert len(points) == space.grid_size
    assert len({repr(sorted(p.items())) for p in points}) == space.grid_size
    r = rng(seed)
    for point in points:
        assert list(point) == space.grid_names
        assert all(space[k].contains(v) for k, v in point.items())
        config = space.sample(r, fixed=point)
        assert space.contains(config)
        assert all(config[k] == v for k, v in point.items())


@FAST
@given(space=spaces, seed=st.integers(0, 2**32 - 1), n=st.sampled_from([1, 255, 257, 600]))
def test_random_search_draws_what_sampling_one_at_a_time_draws(
    space: SearchSpace, seed: int, n: int
) -> None:
    """Random search draws many configurations' uniforms at once where every domain maps one
    uniform draw: the configurations must be those of drawing each alone, in order."""
    from daskhpo.searchers import RandomSearcher

    first = space.sample(rng(seed + 1))  # a point to evaluate first, then sampling
    searcher = RandomSearcher(points_to_evaluate=[first])
    searcher.setup(space, metric="loss", mode="min", rng=rng(seed))
    alone = rng(seed)
    expected = [space.sample(alone, fixed=first)] + [space.sample(alone) for _ in range(n)]
    got = [searcher.suggest(i) for i in range(n + 1)]
    assert repr(got) == repr(expected)
