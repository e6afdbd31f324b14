"""A tiny notes dataset rendered once per test session: 2 instruments × 2 pitches × 2 velocities × 2 takes."""

from __future__ import annotations

import pytest

from melwave.data.notes import NotesSpec, build_notes

TINY = NotesSpec(instruments=("piano", "flute"), pitches=("C4", "G4"), velocities=("soft", "loud"), takes=2,
                 duration=0.3, hold=(0.1, 0.2), max_onset=0.01, seed=3)


@pytest.fixture(scope="session")
def tiny_notes(tmp_path_factory):
    out = tmp_path_factory.mktemp("notes") / "tiny"
    build_notes(out, TINY)
    return out
