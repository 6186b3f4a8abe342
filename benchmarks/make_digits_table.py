"""Build ``simulate/data/digits_curves.csv``: real learning curves of the torch digits example.

Trains the MLP of :mod:`daskhpo.examples.torch_classifier` (scikit-learn's handwritten digits,
on CPU, one thread) for every configuration of a small grid, recording each epoch's
validation loss, accuracy and the seconds it took. The epochs are the example's own
(:class:`~daskhpo.examples.torch_classifier.Training`), seeded by ``--train-seed``: a row is
what the example reports for that configuration with that ``train_seed`` in its config.
``daskhpo simulate schedulers --table`` replays the table
(:class:`simulate.tabulated.TabulatedWorkload`). The file starts with ``#`` lines saying how
it was made: the grid, the seed (:func:`train_seed_of` reads it), the run time and the machine.

    python benchmarks/make_digits_table.py [--epochs 12] [--train-seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd
import torch

from daskhpo.examples.torch_classifier import Training

GRID: dict[str, list[float]] = {  # hidden and batch_size stay ints
    "lr": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    "momentum": [0.0, 0.5, 0.9],
    "hidden": [16, 64, 128],
    "batch_size": [32, 128],
}
OUT = Path(__file__).resolve().parent.parent / "simulate" / "data" / "digits_curves.csv"


#: The header's words for the seed; :func:`train_seed_of` reads them back.
_SEED = re.compile(r"^# .*one CPU thread, seed (\d+)\)")


def curve(config: dict[str, float], epochs: int, train_seed: int = 0) -> list[dict[str, float]]:
    """The example's first ``epochs`` epochs for ``config`` seeded by ``train_seed``; one row
    per epoch (``time_s``: the seconds of its training and evaluation)."""
    run = Training(config, train_seed)
    rows = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        val_loss, accuracy = run.epoch()
        rows.append(
            {
                **config,
                "step": epoch,
                "val_loss": round(val_loss, 6),
                "accuracy": round(accuracy, 6),
                "time_s": round(time.perf_counter() - t0, 6),
            }
        )
    return rows


def train_seed_of(path: Path) -> int:
    """The ``train_seed`` a table this script wrote was trained with, from its header."""
    with path.open() as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            found = _SEED.match(line)
            if found:
                return int(found.group(1))
    raise ValueError(f"{str(path)!r} has no '# ... one CPU thread, seed N)' header line")


def write_table(out: Path, epochs: int = 12, train_seed: int = 0) -> float:
    """Train the whole grid and write the table to ``out``; returns the seconds it took."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = []
    names = list(GRID)
    for values in itertools.product(*(GRID[n] for n in names)):
        rows.extend(curve(dict(zip(names, values, strict=True)), epochs, train_seed))
    elapsed = time.perf_counter() - start
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Learning curves of the torch digits example (daskhpo.examples.torch_classifier),",
        "# made by benchmarks/make_digits_table.py: every configuration of the grid trained",
        f"# for {epochs} epochs (SGD, one CPU thread, seed {train_seed}); val_loss and "
        "accuracy on the",
        "# 20 % validation split after each epoch, time_s the seconds the epoch took.",
        f"# grid: {GRID}",
        f"# run time: {elapsed:.1f} s on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}",
    ]
    with out.open("w") as fh:
        fh.write("\n".join(header) + "\n")
        table.to_csv(fh, index=False, lineterminator="\n")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--train-seed", type=int, default=0, help="the example's train_seed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    elapsed = write_table(args.out, args.epochs, args.train_seed)
    configs = math.prod(len(values) for values in GRID.values())
    print(f"wrote {configs * args.epochs} rows ({configs} configurations) in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
