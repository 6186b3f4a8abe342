"""The journal schema, the settings object and the error tree: the contracts every layer uses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskhpo import errors, records
from daskhpo.experiment.journal import Journal, read_records
from daskhpo.settings import TuneSettings

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
metrics = st.dictionaries(st.text(min_size=1, max_size=8), finite, max_size=4)


@given(
    trial_id=st.integers(0, 10**6),
    attempt=st.integers(0, 50),
    time=st.floats(0, 1e7),
    step=finite,
    values=metrics,
)
def test_every_report_survives_encoding_and_decoding(trial_id, attempt, time, step, values):
    record = records.Reported(
        time=time, trial_id=trial_id, attempt=attempt, step=step, metrics=values
    )
    assert records.decode_line(records.encode(record)) == record


def test_records_are_single_lines_with_the_event_first_and_nan_as_null():
    line = records.encode(
        records.Completed(
            time=1.0, trial_id=2, attempt=0, metrics={"loss": np.float64(math.nan), "n": 3}
        )
    )
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line.startswith(b'{"event":"completed"')
    decoded = records.decode_line(line)
    assert isinstance(decoded, records.Completed)
    assert decoded.metrics == {"loss": None, "n": 3}


def test_unknown_fields_are_ignored_and_unknown_events_skipped():
    created = records.decode({"event": "created", "trial_id": 1, "config": {}, "new_field": 1})
    assert created == records.Created(trial_id=1, config={})
    assert records.decode({"event": "from-a-newer-release", "time": 1.0}) is None


def test_a_record_missing_what_it_needs_is_a_journal_error():
    with pytest.raises(errors.JournalError, match="not a valid 'created' record"):
        records.decode({"event": "created", "time": 0.0})
    with pytest.raises(errors.JournalError, match="not a JSON"):
        records.decode_line(b"[1, 2]\n")


def test_the_journal_reads_back_what_it_appended_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    written = [
        records.Header(writer="test"),
        records.Created(time=0.1, trial_id=0, config={"x": 1.5}),
        records.Submitted(time=0.1, trial_id=0, attempt=0),
        records.Lost(time=0.5, trial_id=0, attempt=0, reason="worker died"),
    ]
    for record in written:
        journal.append(record)
    journal.close()
    with path.open("ab") as f:
        f.write(b'{"event":"started","tri')  # the driver died mid-write
    assert list(read_records(path)) == written


def test_settings_validate_once_with_the_bad_value_in_the_message():
    with pytest.raises(errors.SettingsError, match="num_trials must be a positive integer, got 0"):
        TuneSettings(metric="loss", num_trials=0)
    with pytest.raises(errors.SettingsError, match="mode must be 'min' or 'max', got 'up'"):
        TuneSettings(metric="loss", mode="up")
    with pytest.raises(errors.SettingsError, match="time_budget must be a positive number"):
        TuneSettings(metric="loss", time_budget=math.inf)
    with pytest.raises(errors.SettingsError, match="resource 'GPU' must be a positive number"):
        TuneSettings(metric="loss", resources={"GPU": -1})
    with pytest.raises(ValueError, match="metric must be a non-empty string"):
        TuneSettings(metric="")  # a SettingsError is also a ValueError


def test_gpus_per_trial_is_folded_into_resources_and_survives_replace():
    settings = TuneSettings(metric="loss", gpus_per_trial=1)
    assert settings.resources == {"GPU": 1.0}
    assert settings.replace(num_trials=5).resources == {"GPU": 1.0}
    with pytest.raises(errors.SettingsError, match="contradicts"):
        TuneSettings(metric="loss", resources={"GPU": 2}, gpus_per_trial=1)


def test_num_trials_comes_from_the_grid_or_is_required():
    assert TuneSettings(metric="loss").num_trials_for(grid_size=6) == 6
    assert TuneSettings(metric="loss", time_budget=5).num_trials_for(grid_size=None) is None
    with pytest.raises(errors.SettingsError, match="num_trials is required"):
        TuneSettings(metric="loss").num_trials_for(grid_size=None)


def test_every_user_facing_error_is_a_daskhpo_error_and_keeps_its_builtin_base():
    assert issubclass(errors.SpaceError, errors.DaskhpoError)
    assert issubclass(errors.SpaceError, ValueError)
    assert issubclass(errors.NotResumableError, errors.ExperimentError)
    assert issubclass(errors.ObjectiveNotPicklable, TypeError)
    assert issubclass(errors.ObjectiveNotLoadable, RuntimeError)
    assert issubclass(errors.NoCapacityError, RuntimeError)
    from daskhpo.backend import NoCapacityError
    from daskhpo.experiment.spec import ExperimentError
    from daskhpo.space import SpaceError

    assert NoCapacityError is errors.NoCapacityError
    assert SpaceError is errors.SpaceError
    assert ExperimentError is errors.ExperimentError
