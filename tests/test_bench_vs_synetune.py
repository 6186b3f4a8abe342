"""The Syne Tune comparison script runs without Syne Tune: its help, and a clear skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_vs_synetune.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_help_works_without_syne_tune():
    out = _run("--help")
    assert out.returncode == 0, out.stderr
    assert "--trials" in out.stdout
    assert "--synetune-python" in out.stdout


def test_without_its_venv_the_comparison_is_skipped_with_how_to_make_it(tmp_path: Path):
    out = _run("--synetune-python", str(tmp_path / "none" / "bin" / "python"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"skipped: no Syne Tune venv at {tmp_path}")
    assert "pip install syne-tune==0.16.0" in out.stdout
