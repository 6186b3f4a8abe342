"""The simulator's public names: pinned, all resolvable, and loaded only when used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import simulate

PUBLIC = [
    "Billing",
    "CalibratedWorkload",
    "Calibration",
    "CalibrationError",
    "ClusterSpec",
    "CurveModel",
    "CurveWorkload",
    "DurationModel",
    "DurationWorkload",
    "Engine",
    "FaultModel",
    "PlanResult",
    "Pricing",
    "SimBackend",
    "SimRun",
    "TabulatedWorkload",
    "cost_table",
    "recommend",
    "run_search",
    "scheduler_table",
    "simulate_plan",
    "speedup_table",
]


def test_all_is_the_pinned_list():
    assert simulate.__all__ == PUBLIC


def test_every_public_name_resolves_to_what_its_module_defines():
    for name in PUBLIC:
        value = getattr(simulate, name)
        assert value is not None, name
        assert name in dir(simulate)
    from simulate.plan import simulate_plan
    from simulate.runner import run_search

    assert simulate.run_search is run_search
    assert simulate.simulate_plan is simulate_plan


def test_an_unknown_name_is_an_attribute_error_that_names_it():
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = simulate.no_such_name


def test_import_simulate_loads_neither_pandas_nor_yaml():
    code = (
        "import json, sys\n"
        "import simulate\n"
        "import simulate.engine\n"
        "print(json.dumps({m: m in sys.modules for m in ('pandas', 'yaml', 'distributed')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {"pandas": False, "yaml": False, "distributed": False}


def test_a_public_name_loads_its_module_on_first_use():
    code = (
        "import json, sys\n"
        "import simulate\n"
        "before = 'simulate.tables' in sys.modules\n"
        "simulate.speedup_table\n"
        "print(json.dumps([before, 'simulate.tables' in sys.modules, 'pandas' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, True, True]
