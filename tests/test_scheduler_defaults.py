"""A rung scheduler named on its own (``scheduler="asha"``) takes its budget from the space, or
says in one line how to give it; nothing starts before that."""

from __future__ import annotations

import pytest

import daskhpo as dh
from daskhpo.errors import ConfigError
from daskhpo.registry import NEEDS_MAX_RESOURCE, make_scheduler
from daskhpo.space import SearchSpace


@pytest.mark.parametrize("name", sorted(NEEDS_MAX_RESOURCE))
def test_a_rung_scheduler_takes_its_budget_from_the_spaces_max_epochs(name):
    space = SearchSpace({"lr": dh.loguniform(1e-3, 1.0), "max_epochs": 27})
    scheduler = make_scheduler(name, space)
    assert scheduler.max_resource == 27


def test_an_explicit_max_resource_wins_over_the_space():
    space = SearchSpace({"lr": dh.uniform(0, 1), "max_epochs": 27})
    assert make_scheduler({"asha": {"max_resource": 9}}, space).max_resource == 9
    assert make_scheduler({"asha": {"grace_period": 3}}, space).max_resource == 27


def test_without_a_budget_the_error_shows_both_ways_to_give_one():
    space = SearchSpace({"lr": dh.uniform(0, 1)})
    with pytest.raises(ConfigError) as info:
        make_scheduler("asha", space)
    message = str(info.value)
    assert "{'asha': {'max_resource': 81}}" in message
    assert "'max_epochs'" in message
    assert "\n" not in message


def test_tune_with_asha_by_name_fails_before_any_cluster_without_a_budget(tmp_path):
    # No client and no cluster: the error must come before one would be started.
    with pytest.raises(ConfigError, match="needs max_resource"):
        dh.tune(
            lambda config: 0.0,
            {"x": dh.uniform(0, 1)},
            metric="loss",
            scheduler="asha",
            num_trials=2,
            experiment_dir=tmp_path / "exp",
        )
    assert not (tmp_path / "exp").exists()
