"""Plots of a real multi-fidelity search and of simulated tables, rendered to PNG files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import daskhpo as dh
from daskhpo import records
from daskhpo.display import plots
from daskhpo.experiment.journal import Journal
from simulate import tables
from tests import objectives
from tests.journal_lines import journal_lines

pytest.importorskip("matplotlib")

SPACE = {"floor": dh.uniform(0.0, 0.5), "epochs": 9, "epoch_time": 0.01}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def search(dask_client, tmp_path_factory):
    """An ASHA (promotion) search of learning curves: pauses, promotions and completions."""
    directory = tmp_path_factory.mktemp("search")
    result = dh.tune(
        objectives.curve,
        SPACE,
        metric="loss",
        num_trials=9,
        seed=4,
        scheduler={"asha": {"max_resource": 9, "variant": "promotion"}},
        client=dask_client,
        experiment_dir=directory,
        progress=False,
    )
    return result, directory


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 10_000


def _journal(directory: Path) -> list[dict]:
    return journal_lines(directory / "journal.jsonl")


def test_incumbent_is_the_best_completed_value_over_time(search, tmp_path):
    result, _ = search
    fig = plots.plot_incumbent(result, path=tmp_path / "incumbent.png")
    _png(tmp_path / "incumbent.png")
    (ax,) = fig.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("wall time (s)", "loss")
    best = plots.incumbent(result)
    assert list(best["value"]) == sorted(best["value"], reverse=True)  # improves over time
    assert best["value"].iloc[-1] == pytest.approx(result.best_value)
    assert best["trial_id"].iloc[-1] == result.best_trial.trial_id
    (line,) = ax.get_lines()  # the best-so-far step line
    assert list(line.get_ydata())[-1] == pytest.approx(result.best_value)
    assert len(ax.collections[0].get_offsets()) == result.count("COMPLETED")  # one dot each


def test_timeline_has_a_bar_per_attempt_on_its_worker(search, tmp_path):
    result, directory = search
    fig = plots.plot_timeline(result, path=tmp_path / "timeline.png")
    _png(tmp_path / "timeline.png")
    (ax,) = fig.axes
    started = [r for r in _journal(directory) if r["event"] == "started"]
    assert len(ax.patches) == len(started) > result.trials["trial_id"].nunique()  # promotions
    workers = sorted(w.split("://")[-1] for w in result.trials["worker"].unique())
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == workers
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert legend == {"paused", "completed"}
    assert ax.get_xlabel() == "wall time (s)"


def test_curves_draw_one_line_per_trial(search, tmp_path):
    result, _ = search
    fig = plots.plot_curves(result, path=tmp_path / "curves.png", highlight=2)
    _png(tmp_path / "curves.png")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == result.reports["trial_id"].nunique() == 9
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2
    assert labels[0] == f"trial {result.best_trial.trial_id} completed"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step (reported resource)", "loss")


def test_report_figure_from_the_experiment_directory(search, tmp_path):
    result, directory = search
    fig = plots.plot_report(directory, path=tmp_path / "report.png")
    _png(tmp_path / "report.png")
    assert [ax.get_title() for ax in fig.axes] == [
        "incumbent trajectory (min loss)",
        "trial timeline per worker",
        "intermediate results per trial",
    ]
    from_dir, from_result = plots.incumbent(directory), plots.incumbent(result)
    assert list(from_dir["trial_id"]) == list(from_result["trial_id"])
    assert list(from_dir["value"]) == pytest.approx(list(from_result["value"]))


def test_a_running_search_shows_its_running_attempts(search, tmp_path):
    _, directory = search
    lines = (directory / "journal.jsonl").read_text().splitlines(keepends=True)
    # The journal as it was when the first attempt paused, with another still running.
    first_pause = next(i for i, line in enumerate(lines) if '"event":"paused"' in line)
    cut = next(i for i, line in enumerate(lines) if i > first_pause and '"started"' in line)
    (tmp_path / "journal.jsonl").write_text("".join(lines[: cut + 1]))
    shutil.copy(directory / "experiment.json", tmp_path)
    run = plots.load_run(tmp_path)
    assert set(run.segments["outcome"]) == {"RUNNING", "PAUSED"}
    fig = plots.plot_report(tmp_path)
    legend = {t.get_text() for t in fig.axes[1].get_legend().get_texts()}
    assert "running" in legend
    assert "no completed trial yet" in {t.get_text() for t in fig.axes[0].texts}


def test_csv_files_alone_are_enough(search, tmp_path):
    result, directory = search
    for name in ("trials.csv", "reports.csv", "experiment.json"):
        shutil.copy(directory / name, tmp_path)
    run = plots.load_run(tmp_path)
    assert len(run.segments) == len(result.trials)  # one bar per trial (no attempt detail)
    assert len(run.reports) == len(result.reports)
    fig = plots.plot_report(tmp_path, path=tmp_path / "report.png")
    _png(tmp_path / "report.png")
    assert len(fig.axes) == 3


def test_speedup_and_cost_tables_from_the_simulator(tmp_path):
    speedup = tables.speedup_table([1, 2, 4], trials=60, repeats=2, seed=0)
    fig = plots.plot_speedup(speedup, path=tmp_path / "speedup.png")
    _png(tmp_path / "speedup.png")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["ideal", "sync", "async"]
    cost = tables.cost_table([1, 10], trials=100, duration="constant:60", price=[0.09, 0.9])
    fig = plots.plot_cost(cost, path=tmp_path / "cost.png")
    _png(tmp_path / "cost.png")
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 4  # two markets at two prices
    assert len(ax.texts) == len(cost)  # each point labelled with its instance count


def test_bad_sources_are_named():
    with pytest.raises(ValueError, match="not a directory"):
        plots.load_run("/nonexistent/experiment")
    with pytest.raises(ValueError, match=r"lacks \['speedup'\]"):
        plots.plot_speedup(pd.DataFrame({"workers": [1], "mode": ["sync"]}))


# --------------------------------------------------------------------------- readable axes


def _search_with_outliers(directory: Path, bad: tuple[int, ...] = (3, 11, 25)) -> Path:
    """A finished search of 40 trials on 2 workers, values near 0.2 to 1, a few at 2000."""
    rng = np.random.default_rng(0)
    directory.mkdir()
    (directory / "experiment.json").write_text(
        '{"metric": "loss", "mode": "min", "num_trials": 40, "space": {"x": {"uniform": [0, 1]}}}'
    )
    journal = Journal(directory / "journal.jsonl")
    free = [0.0, 0.0]
    for trial_id in range(40):
        lane = trial_id % 2
        start, end = free[lane], free[lane] + rng.uniform(0.5, 2.0)
        free[lane] = end
        x = float(rng.uniform())
        loss = 2000.0 if trial_id in bad else 0.2 + x * np.exp(-trial_id / 10)
        worker = f"tcp://127.0.0.1:{4000 + lane}"
        journal.append(records.Created(time=start, trial_id=trial_id, config={"x": x}))
        journal.append(records.Submitted(time=start, trial_id=trial_id, attempt=0))
        journal.append(records.Started(time=start, trial_id=trial_id, attempt=0, worker=worker))
        journal.append(
            records.Completed(time=end, trial_id=trial_id, attempt=0, metrics={"loss": loss})
        )
    journal.append(records.End(time=max(free), reason="nothing left to run"))
    journal.close()
    return directory


def test_a_few_very_bad_trials_do_not_flatten_the_incumbent(tmp_path):
    directory = _search_with_outliers(tmp_path / "exp")
    fig = plots.plot_incumbent(directory, path=tmp_path / "incumbent.png")
    _png(tmp_path / "incumbent.png")
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    best = plots.incumbent(directory)["value"]
    assert high < 2.0  # the bulk of the values, not the 2000s
    assert low <= best.min() < best.iloc[0] <= high  # the whole best-so-far line shows
    assert ax.get_ylabel() == f"loss (clipped: 3 trials above {high:.3g})"
    dots, beyond = ax.collections
    assert len(dots.get_offsets()) == 40  # every trial is still drawn
    assert [y for _, y in beyond.get_offsets()] == [high] * 3  # the three, at the edge
    assert len(ax.patches) == 0
    timeline = plots.plot_timeline(directory).axes[0]
    assert len(timeline.patches) == 40  # trials that started at time 0 included


@pytest.mark.parametrize(
    ("values", "mode", "kind"),
    [
        ([0.2, 0.3, 0.25, 0.4, 0.5, 0.22, 0.31, 2000.0], "min", "clipped"),
        ([0.9, 0.8, 0.85, 0.7, 0.95, 0.88, -500.0], "max", "clipped"),
        ([0.2, 0.3, 0.25, 0.4, 0.5, 0.22, 0.31, 0.9], "min", "linear"),
        ([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3e-3, 3e-2], "min", "log"),
        ([1.0, 5.0, 2000.0], "min", "linear"),  # too few trials to call any an outlier
    ],
)
def test_value_axis(values, mode, kind):
    from daskhpo.display.incumbent import value_axis

    axis = value_axis(values, mode)
    assert axis.kind == kind
    if kind == "clipped":
        low, high = axis.limits
        kept = [v for v in values if low <= v <= high]
        assert len(kept) == len(values) - 1
        assert axis.note.endswith(
            f"{'above' if mode == 'min' else 'below'} {(high if mode == 'min' else low):.3g}"
        )
    else:
        assert axis.limits is None


def test_the_cost_chart_labels_its_values_range(tmp_path):
    cost = tables.cost_table([1, 10], trials=100, duration="constant:60", price=[0.09, 0.9])
    fig = plots.plot_cost(cost, path=tmp_path / "cost.png")
    (ax,) = fig.axes
    fig.canvas.draw()
    for axis, column in ((ax.xaxis, "makespan_h"), (ax.yaxis, "cost_usd")):
        low, high = cost[column].min(), cost[column].max()
        ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
        assert len(ticks) >= 2, (column, list(axis.get_majorticklocs()))
        labels = [t.get_text() for t in axis.get_majorticklabels() if t.get_text()]
        assert labels
        assert all(float(text) > 0 for text in labels)  # plain numbers
        assert not [t.get_text() for t in axis.get_minorticklabels() if t.get_text()]


def test_log_ticks_are_round_numbers_inside_the_range():
    from daskhpo.display.figures import log_ticks

    assert log_ticks([0.03, 1.5]) == [0.05, 0.1, 0.2, 0.5, 1.0]
    assert log_ticks([0.17, 1.7]) == [0.2, 0.5, 1.0]
    assert len(log_ticks([3.1, 3.9])) >= 2
    assert log_ticks([1, 10_000]) == [1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert log_ticks([]) == []
