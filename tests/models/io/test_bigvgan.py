"""BigVGAN v1/v2 checkpoints through melwave equal NVIDIA's own code on the same weights.

The reference is the `bigvgan` package (PyPI 2.4.1, installed with --no-deps by scripts/setup.sh);
its `__init__` imports its training helpers, so its model module is loaded by path inside a
throwaway package. Each case builds the authors' generator from a SMALL config with the keys of
a published config.json (fewer channels, so it takes a second), gives it seeded random weights,
saves it with the authors' own `_save_pretrained` (config.json + bigvgan_generator.pt with weight
norm) and loads the folder with `melwave.load_vocoder`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types

import numpy as np
import pytest
import soundfile as sf
import torch

import melwave
from melwave.errors import CheckpointError
from melwave.models.io.model_file import load_model, save_model
from melwave.models.vocoders.gomin import GominGAN

# The published configs' generator and mel keys (nvidia/bigvgan_v2_22khz_80band_256x, _44khz_128band_512x;
# v1's bigvgan_base_22khz_80band style), with 128 or 64 channels instead of 1536 or 512.
V2_22K = {"resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
          "upsample_initial_channel": 128, "resblock_kernel_sizes": [3, 7, 11],
          "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "use_tanh_at_final": False,
          "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True, "num_mels": 80,
          "num_freq": 1025, "n_fft": 1024, "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0,
          "fmax": None, "fmax_for_loss": None, "segment_size": 65536, "seed": 1234}
V2_44K = {**V2_22K, "upsample_rates": [8, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [16, 8, 4, 4, 4, 4], "num_mels": 128,
          "num_freq": 1025, "n_fft": 2048, "hop_size": 512, "win_size": 2048, "sampling_rate": 44100}
V1_BASE = {"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
           "upsample_initial_channel": 64, "resblock_kernel_sizes": [3, 7, 11],
           "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snake", "snake_logscale": False,
           "num_mels": 80, "n_fft": 1024, "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0,
           "fmax": 8000}
V1_RESBLOCK2 = {**V1_BASE, "resblock": "2", "resblock_kernel_sizes": [3, 5, 7],
                "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]], "activation": "snakebeta", "snake_logscale": True}
CASES = {"v2-22k-80band-256x": V2_22K, "v2-44k-128band-512x": V2_44K, "v1-snake": V1_BASE, "v1-resblock2": V1_RESBLOCK2}


@pytest.fixture(scope="module")
def reference():
    spec = importlib.util.find_spec("bigvgan")
    if spec is None:
        pytest.skip("reference package bigvgan==2.4.1 not installed (scripts/setup.sh installs it)")
    package = types.ModuleType("_bigvgan_reference")
    package.__path__ = list(spec.submodule_search_locations)  # its __init__ (training helpers) is not run
    sys.modules["_bigvgan_reference"] = package
    try:
        return importlib.import_module("_bigvgan_reference.bigvgan")
    finally:
        sys.modules.pop("_bigvgan_reference", None)


def _official_folder(reference, config, folder, seed=0):
    """The authors' generator with seeded random weights, saved as NVIDIA publishes it."""
    torch.manual_seed(seed)
    model = reference.BigVGAN(reference.AttrDict(dict(config)))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            u = torch.rand(param.shape, generator=generator) * 2 - 1
            if name.endswith(("alpha", "beta")):  # log values around 0, or linear ones around 1
                param.copy_(0.5 * u if config["snake_logscale"] else 1 + 0.5 * u)
            elif name.endswith("weight_g"):
                # Per-channel weight norms small enough that the residual stages do not blow the
                # signal up (a chaotic random network would turn float32 rounding into 1e-4
                # differences); the final conv leaves the output inside BigVGAN's ±1 clamp.
                scale = 0.1 if name.startswith("conv_post") else 0.3 if name.startswith("resblocks") else 1.0
                param.copy_(scale * (1 + 0.5 * u))
            elif name.endswith("weight_v"):
                param.copy_(u)
            else:
                param.copy_(0.05 * u)
    folder.mkdir(parents=True, exist_ok=True)
    model._save_pretrained(folder)
    return model.eval()


@pytest.mark.float_sensitive
@pytest.mark.parametrize("case", list(CASES))
def test_checkpoint_equals_the_authors_generator(reference, case, tmp_path):
    config = CASES[case]
    official = _official_folder(reference, config, tmp_path / case)
    stored = torch.load(tmp_path / case / "bigvgan_generator.pt", weights_only=True)["generator"]
    assert any(k.endswith("weight_g") for k in stored)  # the layout really has weight norm
    model = melwave.load_vocoder(tmp_path / case)
    assert isinstance(model, GominGAN) and model.provenance["layout"] == "bigvgan"
    assert model.mel_config.n_mels == config["num_mels"] and model.hop_length == config["hop_size"]
    assert model.mel_config.resolved_fmax == (config["fmax"] or config["sampling_rate"] / 2)
    mel = torch.randn(2, config["num_mels"], 7, generator=torch.Generator().manual_seed(1)) - 4  # log-mel-like
    with torch.no_grad():
        expected = official(mel)[:, 0]
        got = model(mel)
    assert got.shape == expected.shape
    peak = expected.abs().max()
    assert 0.2 < peak < 1 and expected.std() > 0.03  # a real signal, neither clamped nor silent
    # Same network, two implementations (folded vs live weight norm, float64- vs float32-designed
    # filters): float32 rounding only (measured <= 1e-6 of peak; in float64 the two agree to 1e-12).
    assert (got - expected).abs().max() <= 1e-4 * peak
    # Stored as melwave's own file, the config describes the variant fully.
    again = load_model(save_model(model, tmp_path / f"{case}.safetensors"))
    assert again.config == model.config and again.mel_config == model.mel_config
    with torch.no_grad():
        torch.testing.assert_close(again(mel), got, rtol=0, atol=0)


def test_mel_config_is_bigvgans(reference, tmp_path):
    _official_folder(reference, V2_44K, tmp_path / "m")
    mel = melwave.load_vocoder(tmp_path / "m").mel_config
    assert (mel.sample_rate, mel.n_fft, mel.win_length, mel.hop_length, mel.n_mels) == (44100, 2048, 2048, 512, 128)
    assert (mel.padding, mel.pad_mode, mel.power, mel.mel_scale, mel.mel_norm) == ("symmetric", "reflect", 1.0, "slaney", "slaney")
    assert (mel.compression, mel.log_clamp, mel.fmin, mel.fmax) == ("log", 1e-5, 0.0, None)


def test_resynth_cli_on_a_bigvgan_folder(reference, tmp_path):
    from melwave.cli import main

    folder = tmp_path / "bigvgan"
    _official_folder(reference, V1_BASE, folder)
    t = np.arange(22050 // 4) / 22050
    sf.write(tmp_path / "x.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    assert main(["resynth", "-i", str(tmp_path / "x.wav"), "-o", str(tmp_path / "y.wav"), "-m", str(folder), "--no-progress"]) == 0
    audio, rate = sf.read(tmp_path / "y.wav")
    assert rate == 22050 and abs(len(audio) - len(t)) < 256 and np.isfinite(audio).all()


def test_weights_file_beside_its_config_is_recognised(reference, tmp_path):
    _official_folder(reference, V1_BASE, tmp_path / "f")
    (tmp_path / "f" / "bigvgan_generator.pt").rename(tmp_path / "f" / "g_05000000")
    assert melwave.load_vocoder(tmp_path / "f" / "g_05000000").provenance["layout"] == "bigvgan"


def test_bad_folders_fail_in_one_line(reference, tmp_path):
    folder = tmp_path / "b"
    _official_folder(reference, V1_BASE, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "hop_size"}))
    with pytest.raises(CheckpointError, match=r"config\.json: missing mel key\(s\) \['hop_size'\]") as err:
        melwave.load_vocoder(folder)
    assert "\n" not in str(err.value)
    (folder / "config.json").write_text(json.dumps({**config, "upsample_initial_channel": 32}))
    with pytest.raises(CheckpointError, match="weights do not match") as err:
        melwave.load_vocoder(folder)
    assert "\n" not in str(err.value)
