"""The design's dependency rule: decisions never import the cluster runtime."""

from __future__ import annotations

import subprocess
import sys


def test_importing_daskhpo_and_its_pure_core_does_not_load_distributed():
    code = (
        "import sys, daskhpo, daskhpo.tuner, daskhpo.schedulers, daskhpo.searchers, "
        "daskhpo.space, daskhpo.experiment.journal, daskhpo.results; "
        "print('distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


#: Run first in a subprocess: ``distributed`` and ``dask_jobqueue`` cannot be imported.
BLOCKER = """
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"distributed", "dask_jobqueue"}:
            raise ImportError(f"{name} is blocked here")
        return None

sys.meta_path.insert(0, _Blocked())
"""


def _run_blocked(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code], capture_output=True, text=True, timeout=300
    )


def test_the_blocker_blocks():
    out = _run_blocked("import distributed")
    assert out.returncode != 0
    assert "distributed is blocked here" in out.stderr


def test_every_module_outside_daskhpo_dask_imports_without_distributed():
    code = """
import importlib, pkgutil
import daskhpo, simulate
names = []
for package in (daskhpo, simulate):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name == "daskhpo.dask" or info.name.startswith("daskhpo.dask."):
            continue
        if info.name.endswith(".__main__"):  # runs the command line when imported
            continue
        names.append(info.name)
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")
print(len(names))
print("\\n".join(failed))
assert "distributed" not in sys.modules
"""
    out = _run_blocked(code)
    assert out.returncode == 0, out.stderr
    count, *failed = out.stdout.strip().splitlines()
    assert int(count) > 40  # the walk found the packages' modules
    assert not [line for line in failed if line], failed


def test_validating_an_experiment_file_does_not_import_distributed(tmp_path):
    (tmp_path / "experiment.yaml").write_text(
        "objective: tests.objectives:quadratic\n"
        "metric: loss\n"
        "num_trials: 4\n"
        "space:\n  lr: {loguniform: [1.0e-4, 1.0]}\n"
        "cluster: {local: {n_workers: 2, gpus: 2}}\n"
    )
    code = f"""
from daskhpo.experiment.spec import ExperimentSpec
from daskhpo.dask.clusters import ClusterSpec, ClusterError
spec = ExperimentSpec.from_file({str(tmp_path / "experiment.yaml")!r})
spec.with_overrides(workers=4)
for value in ("local", "tcp://host:8786", {{"address": "tls://h:1", "tls_ca_file": "ca.pem"}}):
    ClusterSpec.parse(value)
try:
    ClusterSpec.parse("slurm")
except ClusterError as exc:
    print(exc)
assert "distributed" not in sys.modules, "validation imported distributed"
"""
    out = _run_blocked(code)
    assert out.returncode == 0, out.stderr
    assert "needs dask-jobqueue: pip install 'daskhpo[slurm]'" in out.stdout
