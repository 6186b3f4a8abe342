"""What the commands print: exit codes, the console, and tables of trials (plain rows).

rich loads when something is printed, not when the command starts, so ``daskhpo --help`` and
usage errors stay quick.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daskhpo.trial import TrialStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

#: Exit status for bad input (the same as click's usage errors).
EXIT_BAD_INPUT = 2
#: Exit status when the search ran but no trial completed.
EXIT_NO_RESULT = 1
#: Exit status after Ctrl-C (the results so far are saved).
EXIT_INTERRUPTED = 130

#: Best trials shown after a run and by ``report``.
TOP = 5
#: Most recent trials shown by ``status``.
RECENT = 10


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def fmt(value: Any) -> str:
    """A cell: floats to 6 significant digits, missing values as ``-``."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def params(row: Mapping[str, Any], names: Sequence[str]) -> str:
    """``name=value`` for each hyperparameter of ``row`` (its ``config/<name>`` columns)."""
    return ", ".join(
        f"{name}={fmt(row.get(f'config/{name}'))}" for name in names if f"config/{name}" in row
    )


def trial_table(
    rows: Iterable[Mapping[str, Any]],
    metric: str,
    names: Sequence[str],
    title: str,
    *,
    extra: bool = False,
) -> Table:
    """Trials as a rich table: id, metric, hyperparameters, status (and attempt, worker)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("trial", justify="right")
    table.add_column(metric, justify="right")
    table.add_column("hyperparameters", overflow="fold")
    table.add_column("status")
    if extra:
        table.add_column("attempt", justify="right")
        table.add_column("worker", overflow="fold")
    for row in rows:
        cells = [fmt(row["trial_id"]), fmt(row.get(metric)), params(row, names), fmt(row["status"])]
        if extra:
            worker = fmt(row.get("worker"))
            cells += [fmt(row.get("attempt")), worker.split("://", 1)[-1]]
        table.add_row(*cells)
    return table


def counts(statuses: Iterable[str]) -> str:
    """``running 1, completed 2``: how many trials are in each status, in a fixed order."""
    statuses = [str(s) for s in statuses]
    found = {s.value: statuses.count(s.value) for s in TrialStatus if statuses.count(s.value)}
    return ", ".join(f"{s.lower()} {n}" for s, n in found.items()) or "none yet"
