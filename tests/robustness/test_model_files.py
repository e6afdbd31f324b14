"""A model file is data: its header cannot make melwave allocate what the file does not hold.

`load_model` builds the model a header describes on the meta device (no memory), holds its size
to MAX_MODEL_PARAMS and compares every tensor name and shape with the file's own before it
allocates anything. These files are hand-made: a real header with an edited config.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError
from melwave.models.io.gate import MAX_MODEL_PARAMS, meta_build, plain_state
from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import load_model, read_header, save_model
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN


def _small_hifigan(tmp_path):
    torch.manual_seed(0)
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"])
    return model, save_model(model, tmp_path / "good.safetensors")


def _rewrite(src, dst, header_changes=None, state=None):
    header = read_header(src)
    header.update(header_changes or {})
    from safetensors.torch import load_file

    save_file(state if state is not None else load_file(str(src)), str(dst), metadata={"melwave": json.dumps(header)})
    return dst


def _builds(monkeypatch) -> list[str]:
    """The device of every model construction `load_model` runs: "meta" while sizing, "cpu" when
    it builds for real. A refusal "before allocating anything" means only "meta" appears; this
    counts work instead of timing it (a timed test fails on a loaded machine)."""
    from melwave.models.io import model_file

    devices: list[str] = []
    original = model_file._build

    def spy(*args, **kwargs):
        devices.append(torch.empty(0).device.type)
        return original(*args, **kwargs)

    monkeypatch.setattr(model_file, "_build", spy)
    return devices


def test_absurd_config_fails_fast_without_allocating(tmp_path, monkeypatch):
    # upsample_initial_channel 131072 over V3: 3.5e11 parameters (1.4 TB). It used to be built first
    # and die allocating; now it is refused from the meta-device size in well under a second.
    _, good = _small_hifigan(tmp_path)
    config = read_header(good)["model_config"] | {"upsample_initial_channel": 131072}
    bad = _rewrite(good, tmp_path / "absurd.safetensors", {"model_config": config})
    builds = _builds(monkeypatch)
    with pytest.raises(CheckpointError) as info:
        load_model(bad)
    message = str(info.value)
    assert builds == ["meta"]
    assert "absurd.safetensors" in message and "MAX_MODEL_PARAMS" in message and "\n" not in message


def test_config_asking_for_a_million_layers_is_stopped_while_sizing(tmp_path, monkeypatch):
    # Tiny layers, so the parameter bound alone would let it through, but building 10^6 modules
    # (even on meta) takes minutes and gigabytes of Python objects: the op budget, sized from the
    # file's own tensor count, stops the sizing itself.
    _, good = _small_hifigan(tmp_path)
    config = read_header(good)["model_config"] | {"resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1] * 250_000]}
    bad = _rewrite(good, tmp_path / "deep.safetensors", {"model_config": config})
    builds = _builds(monkeypatch)
    with pytest.raises(CheckpointError, match=r"deep\.safetensors: .*more than 9,600 tensor operations.*46 tensors"):
        load_model(bad)
    assert builds == ["meta"]  # stopped inside the sizing, at the budget (100 x (46 + 50) ops)


def test_config_within_the_bound_that_disagrees_with_the_tensors(tmp_path, monkeypatch):
    # A bigger (but allowed) model than the tensors hold: the shapes are compared before building.
    _, good = _small_hifigan(tmp_path)
    config = read_header(good)["model_config"] | {"upsample_initial_channel": 4096}
    bad = _rewrite(good, tmp_path / "wide.safetensors", {"model_config": config})
    builds = _builds(monkeypatch)
    with pytest.raises(CheckpointError, match=r"wide\.safetensors: weights do not match the hifigan architecture") as info:
        load_model(bad)
    assert builds == ["meta"]
    message = str(info.value)
    assert "conv_pre.weight expected (4096, 80, 7) stored (256, 80, 7)" in message and "\n" not in message


def test_one_tensor_of_the_wrong_shape_is_named(tmp_path):
    model, good = _small_hifigan(tmp_path)
    state = {k: v.clone() for k, v in plain_state(model).items()}
    state["conv_post.weight"] = torch.zeros(1, 32, 3)
    bad = _rewrite(good, tmp_path / "shape.safetensors", state=state)
    with pytest.raises(CheckpointError, match=r"shape\.safetensors.*conv_post\.weight expected \(1, 32, 7\) stored \(1, 32, 3\)"):
        load_model(bad)


def test_missing_and_extra_tensors_are_named(tmp_path):
    model, good = _small_hifigan(tmp_path)
    state = {k: v.clone() for k, v in plain_state(model).items() if k != "conv_post.bias"}
    state["surprise"] = torch.zeros(2)
    bad = _rewrite(good, tmp_path / "names.safetensors", state=state)
    with pytest.raises(CheckpointError, match=r"names\.safetensors.*missing \['conv_post\.bias'\].*unexpected \['surprise'\]"):
        load_model(bad)


def test_absurd_mel_config_is_bounded_too(tmp_path, monkeypatch):
    # The filterbank buffer (n_mels x n_fft/2+1) is counted: n_fft 2^31 would be 1e11 values.
    _, good = _small_hifigan(tmp_path)
    mel = PRESETS["hifigan-22k"].to_dict() | {"n_fft": 2**31, "win_length": 1024}
    bad = _rewrite(good, tmp_path / "mel.safetensors", {"mel_config": mel})
    builds = _builds(monkeypatch)
    with pytest.raises(CheckpointError, match=r"mel\.safetensors"):
        load_model(bad)
    assert "cpu" not in builds


def test_every_family_sizes_on_meta_like_it_builds():
    # The check is only as good as the meta build: every family's layout must be the real one.
    from melwave.models.io import registry

    # Families without a usable default config: the shipped generators' and classifier's headers.
    shipped = registry.shipped_models("generator")
    files = (shipped["cwgan-notes"], shipped["flow-notes"], shipped["cwgan-notes"].parent / "classifier.safetensors")
    configs = {header["family"]: (header["model_config"], PRESETS["hifigan-22k"].from_dict(header["mel_config"]))
               for header in map(read_header, files)}
    for family in registry.FAMILY_TABLE:
        cls = registry.family_class(family)
        model_config, mel_config = configs.get(family, ({}, PRESETS["hifigan-22k"]))
        try:
            real = cls.from_config(model_config, mel_config)
        except Exception as err:  # a family that needs a config this test does not know
            pytest.fail(f"{family}: give this test a valid model_config ({err})")
        skeleton = meta_build(lambda: cls.from_config(model_config, mel_config))
        assert {k: tuple(v.shape) for k, v in plain_state(skeleton).items()} == \
               {k: tuple(v.shape) for k, v in plain_state(real).items()}, family
        assert all(p.is_meta for p in skeleton.parameters()), family


def test_bound_is_stated_and_generous():
    assert MAX_MODEL_PARAMS >= 100 * sum(p.numel() for p in HiFiGAN(HIFIGAN_CONFIGS["v1"]).parameters())


def test_cli_prints_one_line_and_exits_nonzero(tmp_path, wav_file):
    _, good = _small_hifigan(tmp_path)
    config = read_header(good)["model_config"] | {"upsample_initial_channel": 131072}
    bad = _rewrite(good, tmp_path / "absurd.safetensors", {"model_config": config})
    src = wav_file("in.wav", seconds=0.3)
    result = subprocess.run([sys.executable, "-m", "melwave", "resynth", "-m", str(bad), "-i", src, "-o", str(tmp_path / "y.wav"),
                             "--no-progress"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "absurd.safetensors" in lines[0] and "MAX_MODEL_PARAMS" in lines[0], result.stderr
    with pytest.raises(CheckpointError):
        load_vocoder(bad)
