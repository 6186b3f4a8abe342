"""The design's dependency rule: decisions never import the cluster runtime."""

from __future__ import annotations

import subprocess
import sys


def test_importing_daskhpo_and_its_pure_core_does_not_load_distributed():
    code = (
        "import sys, daskhpo, daskhpo.tuner, daskhpo.schedulers, daskhpo.searchers, "
        "daskhpo.space, daskhpo.experiment.journal, daskhpo.results; "
        "print('distributed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
