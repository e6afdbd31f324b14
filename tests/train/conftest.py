"""Fixtures for the training tests (helpers live in vocoder_train_helpers.py, a unique module
name, because several test folders have a conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocoder_train_helpers import make_audio_dir


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    return make_audio_dir(tmp_path / "audio")
