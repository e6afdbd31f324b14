"""Fuzzing the file readers and config parsing: whatever the bytes, melwave raises only its own
errors (MelwaveError subclasses), never a traceback from a library underneath.

The default run tries a few dozen inputs per reader; the `slow` versions run each for about a
minute (`pytest -m slow tests/robustness`)."""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.io import load_audio
from melwave.audio.melfile import MelFile, load_mel, save_mel
from melwave.errors import MelwaveError

CFG = PRESETS["hifigan-22k"]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
SLOW = settings(max_examples=8000, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _wav_bytes(subtype: str = "PCM_16", channels: int = 1, frames: int = 400, rate: int = 22050) -> bytes:
    buffer = io.BytesIO()
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (frames, channels))
    sf.write(buffer, data, rate, subtype=subtype, format="WAV")
    return buffer.getvalue()


SEED_WAVS = [_wav_bytes(), _wav_bytes("FLOAT", 2), _wav_bytes("PCM_U8"), _wav_bytes("PCM_24", 3, 100, 8000)]


def _mel_pt_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(MelFile(torch.randn(80, 4), CFG, source="x.wav", duration=0.05).to_dict(), buffer)
    return buffer.getvalue()


def _mel_npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(0).standard_normal((80, 4)).astype(np.float32))
    return buffer.getvalue()


SEED_MELS = {".pt": _mel_pt_bytes(), ".npy": _mel_npy_bytes()}


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid file with a few bytes overwritten, inserted or cut: mostly-plausible headers."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "header", "int", "truncate", "insert"]))
        if not data:
            break
        if kind == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "header":  # the first 64 bytes hold every WAV/NPY/zip field that matters
            i = draw(st.integers(0, min(63, len(data) - 1)))
            data[i] = draw(st.integers(0, 255))
        elif kind == "int" and len(data) >= 8:  # a length/rate/channel field set to an extreme
            i = draw(st.integers(0, min(60, len(data) - 4)))
            data[i : i + 4] = struct.pack("<I", draw(st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 65535, 96000])))
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data) - 1)) :]
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=16))
    return bytes(data)


def _write(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    handle.write(data)
    handle.close()
    return Path(handle.name)


def _only_melwave_errors(call, path: Path) -> None:
    try:
        call(path)
    except MelwaveError as err:
        assert path.name in str(err), f"error does not name the file: {err}"
        assert "\n" not in str(err), f"error is not one line: {err!r}"
    finally:
        path.unlink()


def _fuzz_audio(data: bytes, suffix: str) -> None:
    def read(path: Path) -> None:
        audio = load_audio(path, 22050)
        assert audio.wave.dtype == np.float32 and audio.wave.ndim == 1 and np.isfinite(audio.wave).all()

    _only_melwave_errors(read, _write(data, suffix))


def _fuzz_mel(data: bytes, suffix: str) -> None:
    def read(path: Path) -> None:
        mel = load_mel(path, config=CFG if suffix == ".npy" else None)
        assert mel.mel.shape[0] == mel.config.n_mels and torch.isfinite(mel.mel).all()

    _only_melwave_errors(read, _write(data, suffix))


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
field_names = st.sampled_from([f for f in CFG.to_dict()] + ["bogus", "", "Sample_Rate"])
config_dicts = st.dictionaries(field_names | st.integers() | st.none(), yaml_values, max_size=8) | st.builds(
    lambda changes: {**CFG.to_dict(), **changes}, st.dictionaries(field_names, yaml_values, max_size=3))


def _fuzz_config(data) -> None:
    try:
        cfg = MelConfig.from_dict(data) if not isinstance(data, str) else MelConfig.from_yaml(data)
    except MelwaveError as err:
        assert "\n" not in str(err), f"error is not one line: {err!r}"
        return
    assert MelConfig.from_yaml(cfg.to_yaml()) == cfg  # anything accepted is a valid, round-tripping config


yaml_texts = st.text(max_size=200) | config_dicts.map(lambda d: yaml.safe_dump(d, default_flow_style=None)) | st.just(
    "!!python/object/apply:os.system ['true']")


# --- default (fast) versions --------------------------------------------------------------------
@FAST
@given(st.binary(max_size=256), st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]))
def test_load_audio_random_bytes(data, suffix):
    _fuzz_audio(data, suffix)


@FAST
@given(mutated(SEED_WAVS))
def test_load_audio_mutated_wav(data):
    _fuzz_audio(data, ".wav")


@FAST
@given(st.sampled_from(sorted(SEED_MELS)).flatmap(lambda s: st.tuples(st.just(s), mutated([SEED_MELS[s]]) | st.binary(max_size=128))))
def test_load_mel_mutated_and_random(case):
    suffix, data = case
    _fuzz_mel(data, suffix)


@FAST
@given(config_dicts | yaml_texts)
def test_mel_config_parsing(data):
    _fuzz_config(data)


# --- slow (about a minute each) -------------------------------------------------------------------
@pytest.mark.slow
@SLOW
@given(st.binary(max_size=2048) | mutated(SEED_WAVS), st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ".aiff"]))
def test_load_audio_fuzz_long(data, suffix):
    _fuzz_audio(data, suffix)


@pytest.mark.slow
@SLOW
@given(st.sampled_from(sorted(SEED_MELS)).flatmap(lambda s: st.tuples(st.just(s), mutated([SEED_MELS[s]]) | st.binary(max_size=512))))
def test_load_mel_fuzz_long(case):
    suffix, data = case
    _fuzz_mel(data, suffix)


@pytest.mark.slow
@settings(SLOW, max_examples=5000)
@given(config_dicts | yaml_texts)
def test_mel_config_fuzz_long(data):
    _fuzz_config(data)
