"""Shared test fixtures: small, deterministic audio made in the test (speech-like clips, folders of
clips in several formats for training, a tiny rendered notes dataset)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from testsignals import harmonic_signal  # noqa: F401 (tests import it from conftest too)
from vocoder_train_helpers import make_audio_dir

# Two cores are shared by everything on the test machine; oversubscription only slows tests down.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def wav_file(tmp_path):
    def make(name: str = "a.wav", seconds: float = 1.5, sr: int = 22050, channels: int = 1, **kw) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        wave = harmonic_signal(seconds, sr, **kw)
        data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
        sf.write(path, data, sr)
        return str(path)

    return make


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    """A folder of clips in several formats and rates, with one corrupt file (vocoder_train_helpers)."""
    return make_audio_dir(tmp_path / "audio")


@pytest.fixture(scope="session")
def tiny_notes(tmp_path_factory):
    """A tiny notes dataset rendered once per test session: 2 instruments × 2 pitches × 2 velocities × 2 takes."""
    from melwave.data.notes import NotesSpec, build_notes

    spec = NotesSpec(instruments=("piano", "flute"), pitches=("C4", "G4"), velocities=("soft", "loud"), takes=2,
                     duration=0.3, hold=(0.1, 0.2), max_onset=0.01, seed=3)
    out = tmp_path_factory.mktemp("notes") / "tiny"
    build_notes(out, spec)
    return out
