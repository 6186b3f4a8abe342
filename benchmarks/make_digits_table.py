"""Build ``simulate/data/digits_curves.csv``: real learning curves of the torch digits example.

Trains the MLP of :mod:`daskhpo.examples.torch_classifier` (scikit-learn's handwritten digits,
on CPU, one thread) for every configuration of a small grid, recording each epoch's
validation loss, accuracy and the seconds it took. ``daskhpo simulate schedulers --table``
replays the table (:class:`simulate.tabulated.TabulatedWorkload`). The file starts with ``#``
lines saying how it was made: the grid, the total run time and the machine.

    python benchmarks/make_digits_table.py [--epochs 12] [--out simulate/data/digits_curves.csv]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from daskhpo.examples.torch_classifier import load_data, make_model

GRID: dict[str, list[float]] = {  # hidden and batch_size stay ints
    "lr": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
    "momentum": [0.0, 0.5, 0.9],
    "hidden": [16, 64, 128],
    "batch_size": [32, 128],
}
OUT = Path(__file__).resolve().parent.parent / "simulate" / "data" / "digits_curves.csv"


def curve(config: dict[str, float], epochs: int, seed: int = 0) -> list[dict[str, float]]:
    """Train one configuration as the example's objective does; one row per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_val, y_val = load_data()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val)
    model = make_model(int(config["hidden"]))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=float(config["lr"]), momentum=float(config["momentum"])
    )
    loss_fn = nn.CrossEntropyLoss()
    batch = int(config["batch_size"])
    rows = []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(yt)))
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            optimizer.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
        with torch.no_grad():
            logits = model(xv)
            val_loss = float(loss_fn(logits, yv))
            accuracy = float((logits.argmax(dim=1) == yv).float().mean())
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = []
    names = list(GRID)
    for values in itertools.product(*(GRID[n] for n in names)):
        rows.extend(curve(dict(zip(names, values, strict=True)), args.epochs))
    elapsed = time.perf_counter() - start
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = [
        "# Learning curves of the torch digits example (daskhpo.examples.torch_classifier),",
        "# made by benchmarks/make_digits_table.py: every configuration of the grid trained",
        f"# for {args.epochs} epochs (SGD, one CPU thread, seed 0); val_loss and accuracy on the",
        "# 20 % validation split after each epoch, time_s the seconds the epoch took.",
        f"# grid: {GRID}",
        f"# run time: {elapsed:.1f} s on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, Python {platform.python_version()}",
    ]
    with args.out.open("w") as fh:
        fh.write("\n".join(header) + "\n")
        table.to_csv(fh, index=False, lineterminator="\n")
    configs = len(table) // args.epochs
    print(f"wrote {len(table)} rows ({configs} configurations) in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
