"""A quadratic objective: instant to evaluate, with a known best (lr = 0.01, layers = 1).

``quadratic.yaml`` beside this file refers to it as ``quadratic:objective``, the way an
experiment file refers to a module of your own placed next to it.
"""

from __future__ import annotations

from typing import Any


def objective(config: dict[str, Any]) -> float:
    """Loss grows with the distance of ``lr`` from 0.01 and with the number of layers.

    A returned float is the metric (``loss`` in the experiment file); return a dict to
    report several values.
    """
    return float((config["lr"] - 0.01) ** 2 + config["layers"] * 1e-3)
