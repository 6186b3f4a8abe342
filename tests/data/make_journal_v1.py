"""Write ``tests/data/journal-v1/``: an experiment directory in the journal format of schema
version 1, as the release that introduced the schema wrote it (no header line): its
``journal.jsonl``, ``experiment.json``, ``experiment.yaml`` and the ``trials.csv`` the driver
wrote at the end (what the Tuner itself made of the search, to check readers against).

Readers of every later release must go on reading it (``tests/test_journal_v1.py``), so this
directory is committed and never regenerated. It was written by::

    python tests/data/make_journal_v1.py tests/data/journal-v1

Run again, give it another directory (it refuses one that exists): a new run's timings differ,
so its journal is not the fixture.

It runs a small seeded search from an experiment file on a LocalCluster of 2 worker processes
(a few seconds) whose journal holds every kind of fact a search records:

* intermediate reports, with ASHA (promotion variant) pausing trials at rungs 1 and 3 and
  resuming the best ones (``decided PAUSE``, ``paused``, ``resumed``);
* a ``STOP`` and ``stopped``: a "long" trial reports beyond ``max_resource`` at the top rung;
* a user failure that is retried: trial 1 raises in its first attempt (``max_retries: 1``);
* an end by the time budget, with attempts in flight (``cancelled``, ``end``).

Paths of the machine it ran on (in tracebacks and the saved experiment's header) are replaced
by ``<root>``, so the fixture names no machine.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KEPT = ("journal.jsonl", "experiment.json", "experiment.yaml", "trials.csv")

EXPERIMENT = {
    "objective": "make_journal_v1:objective",
    "space": {
        "x": {"uniform": [0.0, 1.0]},
        "long": {"choice": [False, True]},
        "epoch_time": 0.08,
    },
    "metric": "loss",
    "mode": "min",
    "num_trials": 60,
    "seed": 7,
    "max_retries": 1,
    "time_budget": 5.0,
    "scheduler": {"asha": {"max_resource": 9, "reduction_factor": 3, "variant": "promotion"}},
    "cluster": {"local": {"n_workers": 2}},
}


def objective(config: dict[str, Any]) -> dict[str, Any]:
    """Epochs from the checkpoint on; ``long`` trials (a little better, so some reach the top
    rung) report past ``max_resource``, where ASHA stops them."""
    import json

    import daskhpo as dh

    ctx = dh.current_trial()
    if ctx is not None and ctx.trial_id == 1 and ctx.attempt == 0:
        raise RuntimeError("trial 1 fails in its first attempt")
    state = dh.checkpoint_dir() / "epoch.json"
    epoch = json.loads(state.read_text())["epoch"] if state.exists() else 0
    last = 12 if config["long"] else 9
    loss = 1.0
    while epoch < last:
        epoch += 1
        time.sleep(config["epoch_time"])
        loss = config["x"] + 1.0 / epoch - (0.1 if config["long"] else 0.0)
        state.write_text(json.dumps({"epoch": epoch}))
        dh.report(epoch, loss=loss)
    return {"loss": loss}


def _scrub(text: str) -> str:
    """Replace the paths of this machine (the checkout, the interpreter's prefix, the
    temporary directory)."""
    for path in sorted({str(ROOT), sys.prefix, sys.base_prefix}, key=len, reverse=True):
        text = text.replace(path, "<root>")
    temporary = re.escape(tempfile.gettempdir().rstrip("/") + "/")
    return re.sub(temporary + r"[^\s\"']*", "<tmp>", text)


def main(target: Path) -> None:
    import yaml

    from daskhpo.experiment.run import run_experiment
    from daskhpo.experiment.spec import ExperimentSpec

    target.mkdir(parents=True)  # never over an existing directory (the fixture)
    work = target.parent / f"{target.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        path = work / "experiment-file.yaml"
        path.write_text(yaml.safe_dump(EXPERIMENT, sort_keys=False))
        spec = ExperimentSpec.from_file(path, base_dir=HERE)
        result = run_experiment(spec, experiment_dir=work / "run", progress=False)
        print(result, result.stop_reason)
        for name in KEPT:
            text = (work / "run" / name).read_text(encoding="utf-8")
            (target / name).write_text(_scrub(text), encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {sys.argv[0]} NEW_DIRECTORY")
    main(Path(sys.argv[1]).resolve())
