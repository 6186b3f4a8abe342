"""Examples shipped with daskhpo; ``daskhpo demo`` runs ``quadratic.yaml``."""

from __future__ import annotations

from pathlib import Path

#: The directory holding the example experiment files.
EXAMPLES_DIR = Path(__file__).resolve().parent
#: The experiment ``daskhpo demo`` runs.
DEMO_EXPERIMENT = EXAMPLES_DIR / "quadratic.yaml"
