"""Objectives whose running time depends on the configuration, for checking ``daskhpo plan``.

They live in a module so worker processes can import them. Each has a known structure that a
calibration should find: the time grows with ``layers`` and ``width`` and has a pseudo-random
factor fixed by the configuration (so the same configuration always takes as long); the loss
depends on ``x`` (and, for learning curves, how fast it is approached on ``y``).

* :func:`sleeper`: sleeps ``base * 1.4 ** (layers - 1) * (width / 16) ** 0.15 * jitter``.
* :func:`cruncher`: the same amount of pure-Python arithmetic instead of sleeping
  (compute-bound: it needs a core of its own).
* :func:`epochs`: one report per epoch, each epoch sleeping like :func:`sleeper` does in
  total, with the loss :func:`epoch_loss` (for ASHA and friends).
* :func:`rosenbrock`: the Rosenbrock function of ``x`` and ``y``, a loss with a curved valley
  that no quadratic fits.

No loss here is below :data:`LOWER_BOUND`, so no prediction of the best loss may be either.
"""

from __future__ import annotations

import math
import time
import zlib
from typing import Any

import daskhpo as dh

#: The least loss any objective here can return.
LOWER_BOUND = 0.0


def jitter(config: dict[str, Any]) -> float:
    """A factor in [0.85, 1.15) that depends only on the configuration's sampled values."""
    text = repr(sorted((k, repr(v)) for k, v in config.items() if k in ("x", "y", "layers")))
    return 0.85 + 0.3 * (zlib.crc32(text.encode()) / 2**32)


def seconds(config: dict[str, Any]) -> float:
    """How long a configuration runs (or one epoch of it, for :func:`epochs`)."""
    layers = int(config["layers"])
    width = float(config["width"])
    growth = float((width / 16) ** 0.15)  # float ** float is typed Any (a negative base)
    return float(config["base"]) * 1.4 ** (layers - 1) * growth * jitter(config)


def sleeper(config: dict[str, Any]) -> dict[str, Any]:
    """Sleep for :func:`seconds`; the loss is ``x``."""
    s = seconds(config)
    time.sleep(s)
    return {"loss": float(config["x"]), "seconds": s}


def _spin(n: int) -> float:
    total = 0.0
    for i in range(n):
        total += i * 0.5
    return total


def cruncher(config: dict[str, Any]) -> dict[str, Any]:
    """Compute for about :func:`seconds` (pure Python, holds its core); the loss is ``x``.

    The amount of work is fixed by ``config["ops_per_s"]`` (additions one second holds), so
    every run of a configuration does the same work, whatever the load on the machine.
    """
    n = int(seconds(config) * float(config["ops_per_s"]))
    _spin(n)
    return {"loss": float(config["x"]), "ops": n}


def epoch_loss(config: dict[str, Any], epoch: int) -> float:
    """``x + (0.5 + 0.5 * y) / sqrt(epoch)``: it falls towards ``x`` >= 0, from higher for big y."""
    return float(config["x"]) + (0.5 + 0.5 * float(config["y"])) / math.sqrt(epoch)


def epochs(config: dict[str, Any]) -> dict[str, Any]:
    """Train for ``max_epochs`` epochs of :func:`seconds` each, reporting the loss each epoch."""
    per_epoch = seconds(config)
    loss = math.inf
    for epoch in range(1, int(config["max_epochs"]) + 1):
        time.sleep(per_epoch)
        loss = epoch_loss(config, epoch)
        dh.report(epoch, loss=loss)
    return {"loss": loss}


def rosenbrock(config: dict[str, Any]) -> float:
    """``(1 - x)^2 + 100 (y - x^2)^2``: 0 at x = y = 1, steep walls around a curved valley."""
    x, y = float(config["x"]), float(config["y"])
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def measure_rate() -> float:
    """Additions per second of :func:`_spin` on this process's core (sizes :func:`cruncher`)."""
    _spin(20_000)
    start = time.perf_counter()
    _spin(400_000)
    return 400_000 / (time.perf_counter() - start)


def costly_reports(config: dict[str, Any]) -> dict[str, Any]:
    """Each epoch: ``step_s`` of training, then ``report_s`` saving a checkpoint, then the
    report (the cost a table of training times leaves out); the loss is ``x / epoch``."""
    loss = math.inf
    for epoch in range(1, int(config["max_epochs"]) + 1):
        time.sleep(float(config["step_s"]))
        time.sleep(float(config["report_s"]))
        loss = float(config["x"]) / epoch
        dh.report(epoch, loss=loss)
    return {"loss": loss}
