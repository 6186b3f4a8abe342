"""Objectives used by the tests. They live in a module so worker processes can import them."""

from __future__ import annotations

import math
import time
from typing import Any

import daskhpo as dh


def quadratic(config: dict[str, Any]) -> float:
    return (config["lr"] - 0.01) ** 2 + config["layers"] * 1e-3


def sleepy(config: dict[str, Any]) -> dict[str, Any]:
    time.sleep(config.get("sleep", 0.01))
    return {"loss": config["x"] ** 2, "slept": config.get("sleep", 0.01)}


def raises_if_negative(config: dict[str, Any]) -> float:
    if config["x"] < 0:
        raise RuntimeError(f"negative x: {config['x']}")
    return float(config["x"])


def returns_nan(config: dict[str, Any]) -> float:
    return math.nan


def returns_string(config: dict[str, Any]) -> str:
    return "oops"


def curve(config: dict[str, Any]) -> dict[str, Any]:
    """A learning curve: loss decays towards config['floor'] over epochs; reports each epoch."""
    loss = 1.0
    for epoch in range(1, int(config.get("epochs", 10)) + 1):
        loss = config["floor"] + (1.0 - config["floor"]) * math.exp(-epoch / 3)
        time.sleep(config.get("epoch_time", 0.0))
        dh.report(epoch, loss=loss)
    return {"loss": loss}


def returns_none(config: dict[str, Any]) -> None:
    return None


def returns_dict_without_metric(config: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": 0.5}


def imports_a_missing_module(config: dict[str, Any]) -> float:
    """An objective whose body needs a package the workers do not have."""
    import daskhpo_test_no_such_package  # noqa: F401

    return float(config["x"])
