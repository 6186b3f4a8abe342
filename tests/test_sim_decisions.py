"""The simulator's searches decide as they did before its fast paths: each scheduler's small
run (``tests/sim_decisions.py``) gives the journal and the end state recorded in
``tests/data/sim_decisions.json``, and small tables the same CSV bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim_decisions import CASES, DIGESTS, table_digests

GOLDEN = json.loads((Path(__file__).parent / "data" / "sim_decisions.json").read_text())


@pytest.mark.parametrize("kind", sorted(DIGESTS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_simulated_search_makes_the_recorded_decisions(name: str, kind: str) -> None:
    assert DIGESTS[kind](CASES[name]) == GOLDEN[name][kind], (
        f"the {name} search's {kind} differs from the recording: a decision, time or metric "
        "changed (if on purpose, record again: python tests/sim_decisions.py "
        "tests/data/sim_decisions.json, and say why in the commit)"
    )


def test_small_tables_have_the_recorded_bytes() -> None:
    assert table_digests() == GOLDEN["tables"]
