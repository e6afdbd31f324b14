"""Registry: save_model/load_model round trips, load_vocoder by name and path, clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import melwave
from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError, MelwaveError, OutputExistsError
from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import load_model, read_header, save_model
from melwave.models.io.registry import available_vocoders, families
from melwave.models.vocoders.griffinlim import GriffinLim, GriffinLimConfig
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN


def test_every_listed_vocoder_has_a_loader_and_a_one_line_description():
    from melwave.models.io.load import _named_factory

    names = available_vocoders()
    assert {"hifigan-universal", "hifigan-ljspeech", "griffinlim"} <= set(names)
    for name, description in names.items():
        assert callable(_named_factory(name)), name
        assert description and "\n" not in description, name
    assert _named_factory("no-such-vocoder") is None
    assert {"hifigan", "griffinlim"} <= set(families())


def test_hifigan_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = PRESETS["cwgan-22k-log"]  # 128 mels: the file's mel config must come back, not a default
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"], cfg).eval()
    path = save_model(model, tmp_path / "voc.safetensors")
    loaded = load_model(path)
    assert isinstance(loaded, HiFiGAN) and loaded.config == model.config and loaded.mel_config == cfg
    assert loaded.name == "voc"
    mel = torch.randn(1, 128, 6)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), model(mel), rtol=0, atol=0)
    # load_vocoder accepts the path and a folder holding model.safetensors.
    folder = tmp_path / "run"
    save_model(model, folder / "model.safetensors")
    assert load_vocoder(folder).name == "run"
    assert load_vocoder(str(path)).mel_config == cfg
    header = read_header(path)
    assert header["family"] == "hifigan" and header["mel_config"] == cfg.to_dict()


@pytest.mark.float_sensitive
def test_weight_norm_model_saves_folded(tmp_path):
    # Saving mid-training (weight norm applied) writes the inference layout, and leaves the
    # caller's model parametrised.
    torch.manual_seed(0)
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"]).eval()
    model.apply_weight_norm()
    loaded = load_model(save_model(model, tmp_path / "wn.safetensors"))
    assert any("parametrizations" in k for k in model.state_dict())
    mel = torch.randn(1, 80, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), model(mel), rtol=1e-5, atol=1e-6)


def test_griffinlim_round_trip(tmp_path):
    cfg = PRESETS["gomin-24k"]
    voc = GriffinLim(GriffinLimConfig(iterations=8, init="random", seed=3), mel_config=cfg)
    loaded = load_model(save_model(voc, tmp_path / "gl.safetensors"))
    assert isinstance(loaded, GriffinLim) and loaded.config == voc.config and loaded.mel_config == cfg
    mel = voc.prepare_melspectrogram(torch.randn(4800) * 0.1)
    torch.testing.assert_close(loaded.synthesize(mel), voc.synthesize(mel))


def test_save_refuses_other_suffixes_and_existing_files(tmp_path):
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"])
    with pytest.raises(CheckpointError, match=".safetensors"):
        save_model(model, tmp_path / "m.pt")
    save_model(model, tmp_path / "m.safetensors")
    with pytest.raises(OutputExistsError):
        save_model(model, tmp_path / "m.safetensors")
    save_model(model, tmp_path / "m.safetensors", overwrite=True)


def test_load_vocoder_errors_name_the_problem(tmp_path):
    with pytest.raises(CheckpointError, match="unknown vocoder 'hifigan-nope'.*griffinlim"):
        load_vocoder("hifigan-nope")
    with pytest.raises(CheckpointError, match="does/not/exist"):
        load_vocoder(tmp_path / "does/not/exist.safetensors")
    (tmp_path / "m.bin").write_bytes(b"x")
    # A path no layout takes: one line naming it and every layout with the files it needs.
    with pytest.raises(CheckpointError, match=r"m\.bin: this file matches no checkpoint layout.*safetensors.*hifigan: .*generator") as info:
        load_vocoder(tmp_path / "m.bin")
    assert "\n" not in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="empty: this folder matches no checkpoint layout"):
        load_vocoder(tmp_path / "empty")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="junk.safetensors: not a readable safetensors"):
        load_vocoder(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no such model file"):
        load_model(tmp_path)  # a folder without model.safetensors


def _write(path, header, state=None):
    save_file(state or {"x": torch.zeros(1)}, str(path), metadata=None if header is None else {"melwave": header})
    return path


@pytest.mark.parametrize("header, message", [
    (None, "no melwave header"),
    ("{not json", "not valid JSON"),
    (json.dumps({"format": "other"}), "not a melwave model file .format 'other', expected format 'melwave-model'"),
    (json.dumps({"format": "melwave-model", "version": 7}), "version 7"),
    (json.dumps({"format": "melwave-model", "version": 1, "family": "wavenet"}), "unknown model family 'wavenet'"),
    (json.dumps({"format": "melwave-model", "version": 1, "family": "hifigan", "mel_config": {"n_mel": 80}}), "n_mel"),
    (json.dumps({"format": "melwave-model", "version": 1, "family": "hifigan", "mel_config": {},
                 "model_config": {"upsample_rates": "abc"}}), "model_config"),
    (json.dumps({"format": "melwave-model", "version": 1, "family": "hifigan", "mel_config": {},
                 "model_config": {"layers": 3}}), "layers"),
    (json.dumps({"format": "melwave-model", "version": 1, "family": "hifigan", "mel_config": {}, "model_config": {}}),
     "weights do not match"),
])
def test_bad_model_files(tmp_path, header, message):
    path = _write(tmp_path / "bad.safetensors", header)
    with pytest.raises(CheckpointError, match=message) as info:
        load_model(path)
    assert "bad.safetensors" in str(info.value) and isinstance(info.value, MelwaveError)


def test_wrong_shapes_are_a_checkpoint_error(tmp_path):
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"])
    path = save_model(model, tmp_path / "m.safetensors")
    header = read_header(path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["conv_post.weight"] = torch.zeros(1, 32, 3)
    _write(tmp_path / "shape.safetensors", json.dumps(header), state)
    with pytest.raises(CheckpointError, match="shape.safetensors.*do not match"):
        load_model(tmp_path / "shape.safetensors")


def test_top_level_api():
    voc = melwave.load_vocoder("griffinlim")
    mel = voc.prepare_melspectrogram(torch.randn(22050) * 0.1)
    assert mel.shape == (80, 86)
    assert voc(mel[None]).shape == (1, 86 * 256)
    assert voc.mel_config == PRESETS["hifigan-22k"]
    gomin = melwave.load_vocoder("griffinlim", mel_config=PRESETS["gomin-24k"])
    assert gomin.mel_config == PRESETS["gomin-24k"] and gomin.sample_rate == 24000


# --- an explicit mel config is never silently dropped -------------------------------------------

def test_explicit_mel_config_differing_from_a_trained_vocoder_is_an_error():
    with pytest.raises(melwave.MelConfigMismatch) as info:
        load_vocoder("hifigan-universal", mel_config=PRESETS["gomin-24k"])
    message = str(info.value)
    assert "hifigan-universal" in message and "n_mels: 128 (expected 80)" in message
    assert "sample_rate: 24000 (expected 22050)" in message and "\n" not in message
    assert set(info.value.differences) == set(PRESETS["gomin-24k"].diff(PRESETS["hifigan-22k"]))
    # The same config as the model's is fine, and so is none.
    assert load_vocoder("hifigan-universal", mel_config=PRESETS["hifigan-22k"]).mel_config == PRESETS["hifigan-22k"]


@pytest.mark.parametrize("name", ["hifigan-ljspeech", "vocos-22k"])
def test_every_named_trained_vocoder_refuses_another_mel_config(name):
    if name not in available_vocoders():
        pytest.skip(f"{name} is not installed here")
    with pytest.raises(melwave.MelConfigMismatch, match="n_mels: 128 \\(expected 80\\)"):
        load_vocoder(name, mel_config=PRESETS["gomin-24k"])


def test_explicit_mel_config_checked_for_model_files_too(tmp_path):
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"], PRESETS["cwgan-22k-log"])
    path = save_model(model, tmp_path / "voc.safetensors")
    assert load_vocoder(path, mel_config=PRESETS["cwgan-22k-log"]).mel_config == PRESETS["cwgan-22k-log"]
    with pytest.raises(melwave.MelConfigMismatch, match="n_mels: 80 \\(expected 128\\)"):
        load_vocoder(path, mel_config=PRESETS["hifigan-22k"])
    folder = save_model(model, tmp_path / "run" / "model.safetensors").parent
    with pytest.raises(melwave.MelConfigMismatch):
        load_vocoder(folder, mel_config=PRESETS["hifigan-22k"])


def test_griffinlim_uses_any_explicit_mel_config():
    for name in ("gomin-24k", "cwgan-22k-log"):
        assert load_vocoder("griffinlim", mel_config=PRESETS[name]).mel_config == PRESETS[name]


def test_families_and_named_vocoders_come_from_the_tables():
    from melwave.models.io import registry

    assert set(families()) == set(registry.FAMILY_TABLE)
    for family in registry.FAMILY_TABLE:
        assert registry.family_class(family).family == family
    names = available_vocoders()
    assert set(registry.NAMED_TABLE) <= set(names)
    assert set(registry.shipped_models("vocoder")) <= set(names)
    for name, path in registry.shipped_models("vocoder").items():
        assert names[name] == registry.shipped_description(path) and names[name]
    # One shipped-model lookup serves the generator too.
    from melwave.models.io.load import shipped_generators

    assert shipped_generators() == registry.shipped_models("generator")
