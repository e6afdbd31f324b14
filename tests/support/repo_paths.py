"""Where things are in the repository, for tests in any folder (tests/support is on pytest's pythonpath)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Outputs of other projects' own code, each folder holding the script that made them (make_golden.py).
GOLDENS = REPO / "tests" / "goldens"
