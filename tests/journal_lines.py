"""A journal's lines as plain dicts, for tests that check what is on disk field by field.

The library reads journals only as records (:func:`daskhpo.experiment.journal.read_records`,
:class:`daskhpo.experiment.view.ExperimentView`); tests that look at the raw JSON (field names,
how values were encoded, a torn line) read it here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a journal that have an ``event``, in order. Reading stops at a torn
    last line (a driver killed mid-write) and skips a garbled line, as the library's reader does."""
    lines: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(line, dict) and "event" in line:
                lines.append(line)
    return lines
