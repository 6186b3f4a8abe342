"""Every notebook under notebooks/ runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 180  # seconds per cell; each notebook takes well under a minute in all


def _outputs(nb, mime: str) -> list[str]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if mime in data:
                found.append(data[mime])
    return found


class Client(nbclient.NotebookClient):
    """Runs a notebook and counts the in-place updates of displayed outputs."""

    updates = 0

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "update_display_data":
            self.updates += 1
        return super().process_message(msg, cell, cell_index)


def _check_quickstart(nb, client: Client) -> None:
    assert client.updates >= 2  # the progress table was redrawn while the search ran
    tables = [html for html in _outputs(nb, "text/html") if "daskhpo-progress" in html]
    # One progress table, updated in place (not one appended per refresh), showing the end.
    assert len(tables) == 1
    assert "<th>completed</th>" in tables[0]
    assert "<td>12/12</td>" in tables[0]
    assert "<td>0</td>" in tables[0]  # nothing running or queued any more
    assert len(_outputs(nb, "image/png")) == 1  # the report figure
    assert any("val_loss" in html for html in _outputs(nb, "text/html"))  # the trials table


def _check_simulation(nb, client: Client) -> None:
    assert len(_outputs(nb, "image/png")) == 2  # speedup and cost figures
    text = "".join(_outputs(nb, "text/html"))
    assert "async" in text
    assert "on-demand" in text
    assert "spot" in text


CHECKS: dict[str, Callable[[object, Client], None]] = {
    "quickstart": _check_quickstart,
    "simulation": _check_simulation,
}


def test_the_documented_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= set(CHECKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: clear the outputs before committing"
            assert cell.execution_count is None, f"{path.name}: clear the execution counts"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    if path.stem == "quickstart":
        pytest.importorskip("torch")
        pytest.importorskip("sklearn")
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # experiment directories land here
    client = Client(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, at the first failing cell
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    check = CHECKS.get(path.stem)
    if check is not None:
        check(nb, client)
