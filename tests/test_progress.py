"""The progress displays: what they say, and that they follow a real search."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import daskhpo as dh
from daskhpo.display.progress import (
    Leader,
    LiveProgress,
    Snapshot,
    format_elapsed,
    make_progress,
    snapshot,
    summary_html,
    summary_line,
)
from tests import objectives


def _snap(**changes) -> Snapshot:
    values = {
        "metric": "loss",
        "mode": "min",
        "created": 12,
        "total": 20,
        "queued": 1,
        "running": 2,
        "completed": 6,
        "stopped": 2,
        "paused": 0,
        "failed": 1,
        "resubmitted": 3,
        "retried": 0,
        "best_value": 0.25,
        "best_trial_id": 4,
        "elapsed": 12.34,
    }
    return Snapshot(**(values | changes))


def test_summary_line_has_counts_best_and_elapsed():
    line = summary_line(_snap())
    assert line == (
        "trials 12/20 | running 2 | queued 1 | completed 6 | stopped 2 | failed 1 | "
        "resubmitted 3 | best loss=0.25 (trial 4) | 12.3s"
    )


def test_summary_line_leaves_out_zero_rare_counts_and_marks_intermediate_bests():
    line = summary_line(
        _snap(stopped=0, failed=0, resubmitted=0, paused=5, best_is_final=False, total=None)
    )
    assert "stopped" not in line
    assert "failed" not in line
    assert "resubmitted" not in line
    assert "paused 5" in line
    assert "trials 12/?" in line
    assert "best loss=0.25 (trial 4, intermediate)" in line
    assert "best loss=-" in summary_line(_snap(best_value=None, best_trial_id=None))


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.04, "0.0s"), (59.94, "59.9s"), (75, "1:15"), (3725.9, "1:02:05")]
)
def test_elapsed_is_short(seconds, text):
    assert format_elapsed(seconds) == text


def test_html_table_lists_counts_and_the_best_trials_escaped():
    leaders = (
        Leader(4, "COMPLETED", 9.0, 0.25, {"lr": 0.01, "act": "<relu>"}),
        Leader(7, "RUNNING", 3.0, 0.5, {"lr": 0.1, "act": "tanh"}),
    )
    page = summary_html(_snap(leaders=leaders, param_names=("lr", "act")))
    assert page.startswith('<div class="daskhpo-progress">')
    for header in ("running", "completed", "stopped", "failed", "resubmitted", "elapsed"):
        assert f"<th>{header}</th>" in page
    assert "<td>6</td>" in page  # completed
    assert "<th>best loss (min)</th>" in page
    assert "<td>0.25 (trial 4)</td>" in page
    assert page.count("<tr><td>") == 1 + len(leaders)  # the counts row, then one per leader
    assert "&lt;relu&gt;" in page
    assert "<relu>" not in page
    assert "best trials" not in summary_html(_snap())  # no table of trials before any result


class Probe:
    """Keeps the snapshots of a running search (a Tuner callback)."""

    def __init__(self) -> None:
        self.steps: list[Snapshot] = []
        self.last: Snapshot | None = None

    def on_step(self, tuner) -> None:
        self.steps.append(snapshot(tuner, 0.0))

    def on_end(self, tuner) -> None:
        self.last = snapshot(tuner, 1.0)


def test_snapshot_of_a_real_search_agrees_with_its_result(dask_client):
    probe = Probe()
    result = dh.tune(
        objectives.raises_if_negative,
        {"x": dh.choice([-1, 1, 2, 3])},
        metric="x",
        mode="max",
        num_trials=16,
        seed=5,
        client=dask_client,
        callbacks=[probe],
        progress=False,
    )
    last = probe.last
    assert last is not None
    assert (last.created, last.total) == (16, 16)
    assert (last.running, last.queued) == (0, 0)
    assert last.completed == result.count("COMPLETED")
    assert last.failed == result.count("FAILED") > 0
    assert (last.best_value, last.best_is_final) == (result.best_value, True)
    assert last.best_trial_id == result.best_trial.trial_id
    values = [leader.value for leader in last.leaders]
    assert len(values) == 5
    assert values == sorted(values, reverse=True)  # best first, for mode="max"
    assert values[0] == 3.0
    assert last.param_names == ("x",)
    assert probe.steps
    assert all(s.completed <= last.completed for s in probe.steps)


def test_terminal_display_ends_with_the_final_line(dask_client):
    out = io.StringIO()
    display = LiveProgress(console=Console(file=out, force_terminal=True, width=200))
    result = dh.tune(
        objectives.quadratic,
        {"lr": dh.loguniform(1e-4, 1.0), "layers": dh.randint(1, 8)},
        metric="loss",
        num_trials=10,
        seed=0,
        client=dask_client,
        callbacks=[display],
        progress=False,
    )
    text = out.getvalue()
    assert "trials 10/10 | running 0 | queued 0 | completed 10 |" in text
    assert f"best loss={result.best_value:.6g}" in text


def test_display_choice(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())  # output that is not a terminal
    assert make_progress(False) is None
    assert make_progress(None) is None
    assert isinstance(make_progress(True), LiveProgress)
