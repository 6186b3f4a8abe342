"""A real model: a small torch MLP classifying scikit-learn's handwritten digits.

Each trial trains on CPU (or on the GPU its worker pinned for it) for ``max_epochs`` epochs,
reports ``val_loss`` and ``accuracy`` after every epoch with :func:`daskhpo.report`, and keeps
a checkpoint (model, optimizer, epoch, torch and numpy random state) in
:func:`daskhpo.checkpoint_dir`. A resubmitted attempt (its worker died, or a paused trial was
promoted or exploited by PBT) continues from that checkpoint instead of starting over.

Training is seeded per trial (the search's ``seed`` config key and the trial's id), so two
trials of one configuration train differently. A ``train_seed`` config key, when present,
seeds the training instead (weight initialisation and batch order): every trial of a
configuration then trains the same curve, the one ``benchmarks/make_digits_table.py``
tabulates for that configuration and seed (``simulate/data/digits_curves.csv``, seed 0), so
a real search can replay the table's curves. :class:`Training` is that shared training.

The digits dataset ships inside scikit-learn, so nothing is downloaded. Run it with::

    python -m daskhpo.examples.torch_classifier --scheduler asha --trials 18 --plot report.png

Needs ``pip install 'daskhpo[torch]'`` (torch and scikit-learn; ``--plot`` also matplotlib).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import daskhpo as dh

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the torch example needs torch and scikit-learn: pip install 'daskhpo[torch]'"
    ) from exc

#: The file a trial keeps its state in, inside its checkpoint directory.
CHECKPOINT_NAME = "checkpoint.pt"

#: What ``main()`` searches; ``hidden`` shapes the model, so PBT mutates only the others.
SPACE: dict[str, Any] = {
    "lr": dh.loguniform(1e-3, 0.5),
    "momentum": dh.uniform(0.0, 0.95),
    "hidden": dh.choice([16, 32, 64, 128]),
    "batch_size": dh.choice([16, 32, 64]),
    "max_epochs": 9,
}

#: Schedulers ``main()`` knows how to configure, by command-line name.
SCHEDULER_CHOICES = ("asha", "asha-promotion", "pbt", "fifo")


# --------------------------------------------------------------------------- data and model


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: 1797 images of 8x8 pixels (values 0-16) and their labels.

    Read straight from the data file scikit-learn ships when it is where scikit-learn keeps
    it, because importing scikit-learn costs every worker process about a second; otherwise
    through ``sklearn.datasets.load_digits``.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError(
            "the torch example reads scikit-learn's digits: pip install 'daskhpo[torch]'"
        )
    for root in spec.submodule_search_locations or []:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    digits = load_digits()
    return np.asarray(digits.data), np.asarray(digits.target)


@functools.lru_cache(maxsize=1)
def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits split 80/20 into train and validation, the same split in every process;
    pixels scaled to [0, 1]."""
    pixels, labels = _digits()
    x = (pixels / 16.0).astype(np.float32)
    y = labels.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    train, val = order[:cut], order[cut:]
    return x[train], y[train], x[val], y[val]


def make_model(hidden: int) -> nn.Module:
    """A two-layer perceptron: 64 pixels -> ``hidden`` -> 10 classes."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def pick_device() -> torch.device:
    """The GPU the worker pinned for this trial if there is one, else the CPU.

    A GPU trial runs with ``CUDA_VISIBLE_DEVICES`` naming its own devices; an emulated GPU (a
    CPU machine) sets it too, but CUDA is not available there, so the trial trains on CPU.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def trial_seed(config: dict[str, Any]) -> int:
    """The seed of a trial's training: ``config["train_seed"]`` when given (the same curve for
    every trial of a configuration), else one per trial from ``config["seed"]`` and its id."""
    if "train_seed" in config:
        value = config["train_seed"]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"train_seed must be an integer >= 0, got {value!r}")
        return int(value)
    trial = dh.current_trial()
    return int(config.get("seed", 0)) * 100_003 + (trial.trial_id if trial else 0)


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: a killed worker leaves the old checkpoint or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The saved state, or None when the trial has none yet."""
    if not path.exists():
        return None
    state: dict[str, Any] = torch.load(path, map_location=device, weights_only=False)
    return state


# --------------------------------------------------------------------------- the objective


class Training:
    """One configuration's model, optimizer and batch order, seeded by ``seed``: the epochs
    :func:`train` runs, and the ones ``benchmarks/make_digits_table.py`` tabulates."""

    def __init__(
        self, config: dict[str, Any], seed: int, device: torch.device | None = None
    ) -> None:
        self.device = device if device is not None else torch.device("cpu")
        x_train, y_train, x_val, y_val = load_data()
        self.xt = torch.from_numpy(x_train).to(self.device)
        self.yt = torch.from_numpy(y_train).to(self.device)
        self.xv = torch.from_numpy(x_val).to(self.device)
        self.yv = torch.from_numpy(y_val).to(self.device)
        torch.manual_seed(seed)  # the weights' initialisation
        self.rng = np.random.default_rng(seed)  # the batch order
        self.model = make_model(int(config["hidden"])).to(self.device)
        self.optimizer = torch.optim.SGD(
            self.model.parameters(), lr=float(config["lr"]), momentum=float(config["momentum"])
        )
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch = int(config["batch_size"])

    def set_hyperparameters(self, config: dict[str, Any]) -> None:
        """Take ``lr`` and ``momentum`` from ``config`` (PBT may resume with new values)."""
        for group in self.optimizer.param_groups:
            group["lr"], group["momentum"] = float(config["lr"]), float(config["momentum"])

    def evaluate(self) -> tuple[float, float]:
        """Validation loss and accuracy of the model as it is."""
        self.model.eval()
        with torch.no_grad():
            logits = self.model(self.xv)
            loss = float(self.loss_fn(logits, self.yv))
            accuracy = float((logits.argmax(dim=1) == self.yv).float().mean())
        self.model.train()
        return loss, accuracy

    def epoch(self) -> tuple[float, float]:
        """Train one pass over the training split in a new random order; then evaluate."""
        order = torch.from_numpy(self.rng.permutation(len(self.yt))).to(self.device)
        for first in range(0, len(order), self.batch):
            idx = order[first : first + self.batch]
            self.optimizer.zero_grad()
            self.loss_fn(self.model(self.xt[idx]), self.yt[idx]).backward()
            self.optimizer.step()
        return self.evaluate()

    def state(self, epoch: int) -> dict[str, Any]:
        """What a checkpoint keeps after ``epoch`` epochs."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": epoch,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> int:
        """Continue from a checkpoint's ``state``; the epochs it had done."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        return int(state["epoch"])


def train(config: dict[str, Any]) -> dict[str, Any]:
    """The objective: train for ``max_epochs`` epochs, from the last checkpoint if there is one.

    Reports ``val_loss`` and ``accuracy`` at steps 1, 2, ... (epochs done). Returns the last
    validation metrics, the epochs trained and the epoch this attempt started from.
    """
    torch.set_num_threads(1)  # one worker thread per trial; torch would use every core
    run = Training(config, trial_seed(config), pick_device())
    path = dh.checkpoint_dir() / CHECKPOINT_NAME
    state = load_checkpoint(path, run.device)
    start = run.restore(state) if state is not None else 0
    run.set_hyperparameters(config)
    epochs = int(config["max_epochs"])
    val_loss, accuracy = run.evaluate()
    for epoch in range(start, epochs):
        val_loss, accuracy = run.epoch()
        save_checkpoint(path, run.state(epoch + 1))
        dh.report(epoch + 1, val_loss=val_loss, accuracy=accuracy)
    return {"val_loss": val_loss, "accuracy": accuracy, "epochs": epochs, "resumed_from": start}


# --------------------------------------------------------------------------- the search


def make_scheduler(name: str, max_epochs: int, population: int) -> Any:
    """The scheduler called ``name``, configured for ``max_epochs``; FIFO if not available."""
    from daskhpo.registry import SCHEDULERS

    if name not in SCHEDULER_CHOICES:
        raise ValueError(f"unknown scheduler {name!r}; choose one of {list(SCHEDULER_CHOICES)}")
    base = "asha" if name.startswith("asha") else name
    if base not in SCHEDULERS:
        print(
            f"scheduler {base!r} is not available in this version of daskhpo; using 'fifo'",
            file=sys.stderr,
        )
        return "fifo"
    if base == "asha":
        variant = "promotion" if name == "asha-promotion" else "stopping"
        return {
            "asha": {
                "max_resource": max_epochs,
                "min_resource": 1,
                "reduction_factor": 3,
                "variant": variant,
            }
        }
    if base == "pbt":
        return {
            "pbt": {
                "perturbation_interval": max(1, max_epochs // 4),
                "population_size": population,
                "hyperparam_mutations": ["lr", "momentum"],
            }
        }
    return "fifo"


def search_space(max_epochs: int) -> dict[str, Any]:
    """:data:`SPACE` with ``max_epochs`` epochs per trial."""
    return {**SPACE, "max_epochs": max_epochs}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m daskhpo.examples.torch_classifier",
        description="Tune a small torch MLP on scikit-learn's digits with daskhpo.",
    )
    parser.add_argument("--scheduler", choices=SCHEDULER_CHOICES, default="asha")
    parser.add_argument("--trials", type=int, default=18, help="configurations to try")
    parser.add_argument(
        "--epochs",
        type=int,
        default=9,
        help="epochs per trial at most (ASHA's rungs: 1, 3, 9, ... below it)",
    )
    parser.add_argument(
        "--cluster",
        default="local",
        help="'local' (default), 'cuda' (one worker per GPU, needs dask-cuda), 'slurm', or "
        "the address of a running scheduler such as tcp://host:8786",
    )
    parser.add_argument("--workers", type=int, default=None, help="local worker processes")
    parser.add_argument(
        "--gpus", type=int, default=None, help="local: emulate this many GPUs (one per trial)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=None, help="experiment directory (default: temporary)")
    parser.add_argument("--quiet", action="store_true", help="no live progress line")
    parser.add_argument(
        "--plot", default=None, help="write the report figure to this PNG (needs matplotlib)"
    )
    args = parser.parse_args(argv)
    for name in ("trials", "epochs", "workers", "gpus"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}")
    if args.cluster != "local" and (args.workers is not None or args.gpus is not None):
        parser.error(f"--workers and --gpus describe a local cluster, not {args.cluster!r}")
    return args


def _cluster(args: argparse.Namespace) -> tuple[Any, float | None]:
    """The cluster description and the GPUs each trial asks for."""
    if args.cluster == "cuda":
        return "cuda", 1.0
    if args.cluster != "local":
        return args.cluster, None
    local: dict[str, Any] = {}
    if args.workers is not None:
        local["n_workers"] = args.workers
    if args.gpus is not None:
        local["gpus"] = args.gpus
    return {"local": local}, (1.0 if args.gpus else None)


def main(argv: Sequence[str] | None = None) -> dh.Result:
    """Run a search from the command line and print the best trials."""
    args = _parse(argv)
    cluster, gpus_per_trial = _cluster(args)
    result = dh.tune(
        train,
        search_space(args.epochs),
        metric="val_loss",
        mode="min",
        num_trials=args.trials,
        scheduler=make_scheduler(args.scheduler, args.epochs, population=max(2, args.trials)),
        cluster=cluster,
        gpus_per_trial=gpus_per_trial,
        experiment_dir=args.dir,
        seed=args.seed,
        progress=False if args.quiet else None,
    )
    df = result.trials
    columns = ["trial_id", "status", "last_step", "val_loss", "accuracy"]
    columns += [c for c in df.columns if c.startswith("config/") and c != "config/max_epochs"]
    best = df.sort_values("val_loss").head(5)[columns]
    print(f"{result!r}\nexperiment directory: {result.experiment_dir}")
    print(best.to_string(index=False))
    if args.plot is not None:
        from daskhpo.display.plots import plot_report

        plot_report(result, path=args.plot)
        print(f"report figure: {args.plot}")
    return result


if __name__ == "__main__":
    main()
