"""Do the tests catch what they claim? Break the code on purpose and run the covering tests.

Each break is an exact text replacement in one source file of a scratch copy of the repository
(the working tree is never touched). The tests that claim to cover that part run in the copy;
a break is *caught* when at least one of them fails, and *survives* when all pass. A table
``break | tests | result`` is printed at the end; the exit status is 1 when a break survived.

    python benchmarks/mutants.py                 # every break
    python benchmarks/mutants.py --only seed     # breaks whose name contains "seed"
    python benchmarks/mutants.py --baseline      # first check the tests pass unbroken

The anchors are copies of the current code. When a refactor moves or rewrites the code a break
anchors on, the run stops with "anchor not found": update the break here along with the
refactor (same meaning, new text), never drop it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FT = "tests/test_fault_tolerance.py::"
RESUME_TESTS = (
    FT + "test_time_budget_cancels_and_resume_finishes_the_count",
    FT + "test_ctrl_c_cancels_running_trials_and_the_search_resumes",
    FT + "test_daskhpo_run_killed_midway_then_daskhpo_resume_finishes_without_reruns",
)
CANCEL_TESTS = RESUME_TESTS[:2]
GPU_TESTS = ("tests/test_gpus.py",)


@dataclass(frozen=True)
class Break:
    """One deliberate break: replace ``old`` (found exactly once) by ``new`` in ``path``."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BREAKS = (
    Break(
        "cancel() no longer tells running trials to stop",
        "daskhpo/dask/backend.py",
        "        if record.worker is not None:  # running: Dask cannot interrupt it, the flag can\n"
        "            self.stop(trial_id, attempt, pause=False)\n",
        "        pass\n",
        CANCEL_TESTS,
    ),
    Break(
        "report() ignores stop requests",
        "daskhpo/dask/worker/verdicts.py",
        "    return _STOP_REQUESTS.get(key)\n",
        "    return None\n",
        CANCEL_TESTS,
    ),
    Break(
        "resume deletes the checkpoint directories of unfinished trials",
        "daskhpo/api.py",
        "        records = list(read_records(directory.journal_path))\n",
        "        records = list(read_records(directory.journal_path))\n"
        "        import shutil\n"
        "        done = {r.trial_id for r in records if type(r).__name__ == 'Completed'}\n"
        "        for old in (directory.path / 'trials').glob('trial_*'):\n"
        "            if int(old.name.split('_')[1]) not in done:\n"
        "                shutil.rmtree(old)\n",
        RESUME_TESTS,
    ),
    Break(
        "resume ignores the experiment's saved seed",
        "daskhpo/api.py",
        "        settings = settings.replace("
        "seed=directory.check_resumable(settings, search.space))\n",
        "        directory.check_resumable(settings, search.space)\n",
        RESUME_TESTS,
    ),
    Break(
        "trial tasks submitted without their Dask resources=",
        "daskhpo/dask/backend.py",
        "                resources=dict(resources) or None,\n",
        "                resources=None,\n",
        GPU_TESTS,
    ),
)

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info"
)


def _copy(target: Path) -> Path:
    tree = target / "repo"
    shutil.copytree(ROOT, tree, ignore=IGNORED)
    return tree


def check_anchor(tree: Path, brk: Break) -> str:
    """The text of the file ``brk`` patches; stops loudly when its anchor is gone or not
    unique."""
    text = (tree / brk.path).read_text()
    found = text.count(brk.old)
    if found != 1:
        raise SystemExit(
            f"anchor not found exactly once ({found} times) for {brk.name!r} in {brk.path}; "
            "the code moved: update this break in benchmarks/mutants.py to the new code"
        )
    return text


def apply(tree: Path, brk: Break) -> None:
    """Patch the copy (see :func:`check_anchor`)."""
    text = check_anchor(tree, brk)
    (tree / brk.path).write_text(text.replace(brk.old, brk.new))


def run_tests(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[int, list[str], float]:
    """Run ``tests`` in ``tree``; returns pytest's exit code, the failed test names, seconds."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", *tests]
    start = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return -1, [f"timed out after {timeout:g} s"], time.monotonic() - start
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, flags=re.MULTILINE)
    return done.returncode, [f.split("::")[-1] for f in failed], time.monotonic() - start


def verdict(code: int) -> str:
    if code == 0:
        return "survived"
    if code in (1, -1):
        return "caught"
    return f"not run (pytest exit {code})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the breaks whose name contains this")
    parser.add_argument("--baseline", action="store_true", help="check the tests pass unbroken")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per break")
    parser.add_argument(
        "--check", action="store_true", help="only check that every anchor is in the code"
    )
    args = parser.parse_args()
    breaks = [b for b in BREAKS if args.only in b.name]
    if not breaks:
        raise SystemExit(f"no break matches --only {args.only!r}")
    if args.check:
        for brk in breaks:
            check_anchor(ROOT, brk)
        print(f"{len(breaks)} anchors found")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="daskhpo-mutants-") as scratch:
        if args.baseline:
            tree = _copy(Path(scratch) / "baseline")
            tests = tuple(dict.fromkeys(t for b in breaks for t in b.tests))
            code, failed, seconds = run_tests(tree, tests, args.timeout)
            print(f"baseline: pytest exit {code} in {seconds:.0f} s {failed}", flush=True)
            if code != 0:
                raise SystemExit("the covering tests fail without any break; fix that first")
        for i, brk in enumerate(breaks):
            tree = _copy(Path(scratch) / f"break-{i}")
            apply(tree, brk)
            code, failed, seconds = run_tests(tree, brk.tests, args.timeout)
            result = verdict(code)
            print(f"{brk.name}: {result} in {seconds:.0f} s {failed}", flush=True)
            names = ", ".join(t.split("::")[-1] for t in brk.tests)
            rows.append((brk.name, names, result, ", ".join(failed)))
            shutil.rmtree(tree, ignore_errors=True)
    print("\n| break | tests | result | failing tests |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0 if all(r[2] == "caught" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
