"""Worker side of a trial: ``report()``, ``checkpoint_dir()`` and the attempt wrapper.

An attempt runs inside :func:`run_attempt` on a Dask worker. Its start, reports and end travel
to the driver as worker events (``log_event``), which cost a fraction of a millisecond and need
no round trip; start and end come from the worker plugin when the worker has it
(``events``). The driver's STOP/PAUSE decisions come back as a flag set on the worker
(``verdicts``), checked by the next ``report()``, which then raises :class:`TrialStopped`;
the wrapper turns that into a clean STOPPED or PAUSED outcome. A report at one of the
scheduler's milestones (a rung) waits, up to the search's ``verdict_timeout``, for the
driver's verdict on it, so a trial stopped there computes no step beyond it; every other
report returns at once. ``distributed`` is imported lazily so that
importing daskhpo (and the simulator) does not pull it in.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskhpo.dask.gpus import pinned
from daskhpo.dask.worker import events, verdicts
from daskhpo.dask.worker.lifetime import remaining_lifetime
from daskhpo.dask.worker.reruns import claim_start
from daskhpo.dask.worker.shipping import ShippedObjective
from daskhpo.milestones import NO_MILESTONES, Milestones, MilestoneTracker

_local = threading.local()
#: Worker statuses that mean the worker is going away.
_LEAVING = frozenset({"closing", "closing_gracefully", "closed", "failed"})


class TrialStopped(Exception):
    """Raised by ``report()`` when the scheduler stopped or paused the trial.

    Objectives need not catch it: the trial wrapper records a clean STOPPED or PAUSED status.
    """

    def __init__(self, paused: bool = False) -> None:
        super().__init__("paused by the scheduler" if paused else "stopped by the scheduler")
        self.paused = paused


class WorkerLeaving(TrialStopped):
    """Raised by ``report()`` when the trial's worker is retiring: the attempt is lost (not the
    trial's fault) and the driver resubmits it to resume from its checkpoint."""

    def __init__(self) -> None:
        super().__init__(paused=True)


@dataclass
class TrialContext:
    """What an attempt knows about itself while it runs."""

    trial_id: int
    attempt: int
    key: str
    topic: str | None
    checkpoint_dir: Path
    budget: float | None = None
    resources: dict[str, float] = field(default_factory=dict)
    reports: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    log_event: Callable[[str, Any], None] | None = None
    devices: list[str] = field(default_factory=list)  # GPUs pinned for it (CUDA_VISIBLE_DEVICES)
    worker: Any = None  # the Dask worker it runs on
    milestones: MilestoneTracker | None = None  # reports that wait for the driver's verdict
    verdict_timeout: float = 0.0
    verdict_waits: int = 0
    verdict_timeouts: int = 0


#: What :func:`_warn_once` has warned about in this process.
_WARNED: set[str] = set()


def _warn_once(what: str, message: str) -> None:
    """A UserWarning, the first time only: a user trying an objective by hand learns that
    ``report()`` / ``checkpoint_dir()`` do nothing useful there, without a flood."""
    if what in _WARNED:
        return
    _WARNED.add(what)
    warnings.warn(message, UserWarning, stacklevel=3)


def current_trial() -> TrialContext | None:
    """The running attempt's context, or None outside a trial."""
    return getattr(_local, "context", None)


def checkpoint_dir() -> Path:
    """The trial's own directory, the same for every attempt of the trial.

    Save checkpoints here; when a trial is resubmitted (its worker was lost, or a paused trial
    is promoted) the new attempt finds them and can continue. Outside a trial (calling the
    objective by hand) it is a fresh temporary directory, and the first such call warns.
    """
    ctx = current_trial()
    if ctx is None:
        _warn_once(
            "checkpoint_dir",
            "daskhpo.checkpoint_dir() was called outside a trial (the objective runs by hand, "
            "not under tune()): it returns a new temporary directory on each call, which no "
            "later attempt resumes from. (Shown once.)",
        )
        return Path(tempfile.mkdtemp(prefix="daskhpo-checkpoint-"))
    ctx.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    return ctx.checkpoint_dir


def plain(value: Any) -> Any:
    """Turn numpy/torch scalars and containers into msgpack- and JSON-friendly Python values."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars, 0-d arrays, one-element tensors
    if callable(item):
        try:
            return plain(item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def report(step: float, /, **metrics: Any) -> None:
    """Send intermediate metrics at ``step`` (an epoch, an iteration...) to the driver.

    Raises :class:`TrialStopped` when the scheduler has decided to stop or pause the trial, or
    when the trial reached the budget it was started with (promotion schedulers). Outside a
    trial it does nothing (the first such call warns), so objectives can be called by hand.
    """
    ctx = current_trial()
    if ctx is None:
        _warn_once(
            "report",
            "daskhpo.report() was called outside a trial (the objective runs by hand, not "
            "under tune()): its metrics go nowhere and no scheduler can stop the run. "
            "(Shown once.)",
        )
        return
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
        raise TypeError(f"report(step, ...) needs a finite number as step, got {step!r}")
    clean = plain(metrics)
    ctx.reports.append((time.time(), float(step), clean))
    if ctx.log_event is not None and ctx.topic is not None:
        ctx.log_event(ctx.topic, ["report", ctx.key, float(step), clean])
    paused = verdicts.stop_request(ctx.key)
    if paused is not None:
        raise TrialStopped(paused=paused)
    if getattr(getattr(ctx.worker, "status", None), "name", "running") in _LEAVING:
        # The worker retires (lifetime, walltime, scale-down) and Dask cannot stop this thread:
        # end here; the driver resubmits the trial, which resumes from its checkpoint.
        raise WorkerLeaving
    if ctx.budget is not None and step >= ctx.budget:
        raise TrialStopped(paused=True)
    if ctx.milestones is not None and ctx.milestones.crossed(step):
        _await_verdict(ctx, float(step))


def _await_verdict(ctx: TrialContext, step: float) -> None:
    """At a milestone: wait (bounded) for the driver's verdict; raise if it ends the trial.

    A wait that times out is counted and the trial goes on, as it would without waiting.
    """
    ctx.verdict_waits += 1
    if not verdicts.wait_for_verdict(ctx.key, step, ctx.verdict_timeout):
        ctx.verdict_timeouts += 1
    paused = verdicts.stop_request(ctx.key)
    if paused is not None:
        raise TrialStopped(paused=paused)


def _metrics_from(value: Any, metric: str) -> dict[str, Any]:
    """Validate what the objective returned; the message says what was wrong and the fix."""
    if isinstance(value, Mapping):
        metrics: dict[str, Any] = plain(value)
        if metric not in metrics:
            raise ValueError(
                f"the objective returned a dict without the metric {metric!r} "
                f"(keys: {sorted(metrics)}); include it, e.g. return {{{metric!r}: value, ...}}"
            )
    elif isinstance(value, bool) or (
        not isinstance(value, (int, float)) and not hasattr(value, "item")
    ):
        raise TypeError(
            f"the objective returned {value!r} of type {type(value).__name__}; return a number "
            f"(the value of {metric!r}) or a dict that contains {metric!r}"
        )
    else:
        metrics = {metric: plain(value)}
    number = metrics[metric]
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise TypeError(
            f"the metric {metric!r} is {number!r} of type {type(number).__name__}; "
            "it must be a number"
        )
    if not math.isfinite(number):
        raise ValueError(
            f"the metric {metric!r} is {number!r}; it must be a finite number (a diverged run "
            "can return a large penalty instead, or raise to be recorded as failed)"
        )
    return metrics


def _copy_present(source: str, target: str) -> None:
    """Copy one file, skipping one that vanished meanwhile: the donor may be renaming a
    temporary file into place while its directory is copied."""
    with contextlib.suppress(FileNotFoundError):
        shutil.copy2(source, target)


def _seed_checkpoint(source: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``source`` (PBT exploit), never half of one.

    The copy is made beside the target and swapped in by renames, so a trial that is itself
    copying from ``target`` at that moment sees the old directory or the new one, not an empty
    one. The donor may be rewriting its checkpoint meanwhile: files that vanish mid-copy are
    skipped (checkpoints are replaced atomically, so the new file is there instead).
    """
    staging = target.with_name(f"{target.name}.incoming-{uuid.uuid4().hex[:8]}")
    for _ in range(3):  # the donor's directory may be mid-swap itself for a moment
        if source.exists():
            try:
                shutil.copytree(source, staging, copy_function=_copy_present)
                break
            except FileNotFoundError:
                shutil.rmtree(staging, ignore_errors=True)
        time.sleep(0.05)
    else:
        staging.mkdir(parents=True, exist_ok=True)
    retired = target.with_name(f"{target.name}.replaced-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def run_attempt(
    objective: Callable[[dict[str, Any]], Any],
    config: dict[str, Any],
    *,
    trial_id: int,
    attempt: int,
    key: str,
    topic: str | None,
    metric: str,
    trial_dir: str,
    budget: float | None = None,
    resources: dict[str, float] | None = None,
    checkpoint_from: str | None = None,
    milestones: Milestones = NO_MILESTONES,
    verdict_timeout: float = 0.0,
    mark_start: bool = True,
) -> dict[str, Any] | None:
    """Run one attempt of a trial on a worker and describe how it ended.

    Never raises for the objective's sake: failures come back as an ``error`` outcome so the
    driver, not Dask, decides about retries. The outcome is the task's result, which the
    worker plugin sends on as the "end" event (``events``); without the plugin the
    task sends it and returns None, or returns it when it could not be sent.
    """
    log_event: Callable[[str, Any], None] | None = None
    by_plugin = False
    worker_address = "local"
    worker: Any = None
    if topic is not None:
        from distributed import get_worker

        worker = get_worker()
        log_event = worker.log_event
        worker_address = worker.address
        by_plugin = key in events.PLUGIN_KEYS  # the worker plugin sends "start" and "end"
        if not by_plugin:
            log_event(topic, ["start", key, worker_address])
        first = claim_start(trial_dir, key, worker_address) if mark_start else None
        if first is not None:  # Dask started this attempt again: it must not run twice
            rerun = {"key": key, "worker": worker_address, "outcome": "rerun", "reports": []}
            rerun["first"] = first
            if by_plugin:
                return rerun
            log_event(topic, ["end", key, rerun])
            return None
    ckpt = Path(trial_dir)
    if checkpoint_from is not None:
        _seed_checkpoint(Path(checkpoint_from), ckpt)
    ctx = TrialContext(
        trial_id=trial_id,
        attempt=attempt,
        key=key,
        topic=topic,
        checkpoint_dir=ckpt,
        budget=budget,
        resources=dict(resources or {}),
        log_event=log_event,
        worker=worker,
        milestones=milestones.tracker() if milestones and verdict_timeout > 0 else None,
        verdict_timeout=verdict_timeout,
    )
    verdicts.begin(key)
    _local.context = ctx
    outcome: dict[str, Any] = {"key": key, "worker": worker_address}
    # On a worker, a GPU trial gets devices of its own (CUDA_VISIBLE_DEVICES) while it runs.
    pin: contextlib.AbstractContextManager[list[str]] = (
        pinned(key, resources) if topic is not None else contextlib.nullcontext([])
    )
    try:
        with pin as devices:
            ctx.devices = list(devices)
            value = objective(dict(config))
        outcome["metrics"] = _metrics_from(value, metric)
        outcome["outcome"] = "returned"
    except WorkerLeaving:
        outcome["outcome"] = "lost"
    except TrialStopped as stop:
        outcome["outcome"] = "paused" if stop.paused else "stopped"
    except Exception as exc:
        outcome["outcome"] = "error"
        outcome["error"] = error_text(exc, worker_address)
    finally:
        _local.context = None
        verdicts.forget(key)
    outcome["reports"] = ctx.reports
    if ctx.verdict_waits:
        outcome["verdict_waits"] = ctx.verdict_waits
        outcome["verdict_timeouts"] = ctx.verdict_timeouts
    if log_event is not None and topic is not None and not by_plugin:
        try:
            log_event(topic, ["end", key, outcome])
        except TypeError:  # not msgpack-able after all: the driver gathers the result instead
            return outcome
        # The event carries the outcome; the task's own result stays tiny, so the worker does
        # not measure and keep a copy nobody fetches.
        return None
    return outcome


def error_text(exc: BaseException, worker: str) -> str:
    """What a failed attempt's ``error`` says: the traceback, then, when the objective needs a
    module this worker lacks, which one and how to fix it (last, where a short view of the
    error, which keeps the last lines, still shows it)."""
    text = "".join(traceback.format_exception(exc)).rstrip()
    missing = _missing_module(exc)
    if missing is not None:
        text += (
            f"\nThe objective (or a module it uses) imports {missing!r}, which the worker "
            f"{worker} cannot import: install the package that provides it in the workers' "
            "Python environment (for example `pip install "
            f"{missing.split('.')[0]}` there), or put its directory on their PYTHONPATH."
        )
    return text


def _missing_module(exc: BaseException) -> str | None:
    """The module a ModuleNotFoundError (or one it was raised from) names, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError) and current.name:
            return current.name
        current = current.__cause__ or current.__context__
    return None


def run_task(
    objective: Callable[[dict[str, Any]], Any], config: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any] | None:
    """The task of one attempt. Keyword arguments of ``run_attempt`` travel as one dict:
    ``client.submit`` reserves ``key``, ``resources`` and friends for itself. It lives here,
    not beside the driver's code, so a worker imports only this light module."""
    return run_attempt(objective, config, **options)


def objective_loads(objective: Callable[[dict[str, Any]], Any], topic: str | None = None) -> bool:
    """Runs on a worker: loads the objective there (imports its module) or raises why not.

    With a ``topic``, also tells the driver how long this worker has left (``lifetime``),
    which spares it a round trip to ask.
    """
    if isinstance(objective, ShippedObjective):
        objective = objective.load()
    if topic is not None:
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(topic, ["lifetime", worker.address, remaining_lifetime(worker)])
    return callable(objective)
