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


# --- the published layouts' loaders ------------------------------------------------------------
# Torch files (zip and legacy), state dicts of random names/shapes/dtypes, and the config files
# the layouts read (BigVGAN's config.json, DiffWave's params), through `melwave.load_vocoder`:
# whatever they hold, only a one-line MelwaveError naming the file comes out.

def _torch_bytes(obj, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


_WN_SEED = {"generator": {"conv_pre.weight_v": torch.randn(4, 3, 5), "conv_pre.weight_g": torch.rand(4, 1, 1),
                          "conv_pre.bias": torch.zeros(4), "ups.0.weight": torch.randn(4, 2, 8)}}
_DIFFWAVE_SEED = {"model": {"diffusion_embedding.projection1.weight": torch.zeros(2, 2),
                            "residual_layers.0.dilated_conv.weight": torch.zeros(2, 2, 3)},
                  "params": {"residual_layers": 2, "residual_channels": 2, "dilation_cycle_length": 1, "hop_samples": 256,
                             "sample_rate": 22050, "n_fft": 1024, "n_mels": 80, "noise_schedule": [1e-4, 0.05]}}
SEED_CHECKPOINTS = [_torch_bytes(_WN_SEED), _torch_bytes(_WN_SEED, legacy=True), _torch_bytes(_DIFFWAVE_SEED),
                    _torch_bytes(_DIFFWAVE_SEED, legacy=True)]
_NAMES = ["conv_pre.weight", "conv_pre.weight_g", "conv_pre.weight_v", "conv_pre.bias", "ups.0.weight", "ups.0.weight_g",
          "ups.0.weight_v", "conv_post.weight", "resblocks.0.convs1.0.weight", "generator", "model", "params"]
_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int8, torch.bool,
           torch.complex64, torch.uint8]


@st.composite
def tensors(draw):
    shape = draw(st.lists(st.integers(0, 6), max_size=4))
    tensor = torch.zeros(shape, dtype=draw(st.sampled_from(_DTYPES)))
    kind = draw(st.sampled_from(["plain", "expanded", "view", "sparse"]))
    if kind == "expanded" and tensor.dim():
        tensor = torch.zeros([1] * tensor.dim(), dtype=tensor.dtype).expand(*[max(s, 1) * 1000 for s in shape])
    elif kind == "view" and tensor.numel() > 1:
        tensor = tensor.reshape(-1)[1:]
    elif kind == "sparse" and tensor.dim() and tensor.dtype.is_floating_point:
        tensor = tensor.to_sparse()
    return tensor


state_dicts = st.dictionaries(st.sampled_from(_NAMES), tensors() | st.integers() | st.text(max_size=4) | st.none(),
                              max_size=8)


def _fuzz_layout_file(data: bytes, name: str) -> None:
    import melwave

    folder = Path(tempfile.mkdtemp())
    path = folder / name
    path.write_bytes(data)
    try:
        _only_melwave_errors(lambda p: melwave.load_vocoder(p), path)
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


@FAST
@given(mutated(SEED_CHECKPOINTS), st.sampled_from(["g.pth", "weights.pt", "gan_state_dict.pt"]))
def test_layout_loaders_on_mutated_torch_files(data, name):
    _fuzz_layout_file(data, name)


@FAST
@given(state_dicts, st.booleans(), st.booleans())
def test_layout_loaders_on_random_state_dicts(state, wrapped, legacy):
    _fuzz_layout_file(_torch_bytes({"generator": state} if wrapped else state, legacy=legacy), "g.pth")


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                     max_leaves=12)
_BIGVGAN = {"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
            "upsample_initial_channel": 16, "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snake", "snake_logscale": False,
            "num_mels": 80, "n_fft": 1024, "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0,
            "fmax": 8000}


@FAST
@given(st.dictionaries(st.sampled_from(sorted(_BIGVGAN)), _JSON, min_size=1, max_size=4))
def test_bigvgan_loader_on_random_config_values(changes):
    import json

    import melwave

    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_text(json.dumps({**_BIGVGAN, **changes}))
    torch.save({"generator": {"conv_pre.weight": torch.zeros(16, 80, 7)}}, folder / "bigvgan_generator.pt")
    try:
        melwave.load_vocoder(folder)
    except MelwaveError as err:
        assert "\n" not in str(err) and str(folder) in str(err), err
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


@FAST
@given(st.dictionaries(st.sampled_from(sorted(_DIFFWAVE_SEED["params"])), _JSON, min_size=1, max_size=4))
def test_diffwave_loader_on_random_params(changes):
    state = {**_DIFFWAVE_SEED, "params": {**_DIFFWAVE_SEED["params"], **changes}}
    _fuzz_layout_file(_torch_bytes(state), "weights.pt")


@pytest.mark.slow
@settings(SLOW, max_examples=3000)
@given(mutated(SEED_CHECKPOINTS) | st.binary(max_size=1024), st.sampled_from(["g.pth", "weights.pt", "gan_state_dict.pt"]))
def test_layout_loaders_fuzz_long(data, name):
    _fuzz_layout_file(data, name)


@pytest.mark.slow
@settings(SLOW, max_examples=2000)
@given(state_dicts, st.booleans(), st.booleans())
def test_layout_loaders_on_random_state_dicts_long(state, wrapped, legacy):
    _fuzz_layout_file(_torch_bytes({"generator": state} if wrapped else state, legacy=legacy), "g.pth")
