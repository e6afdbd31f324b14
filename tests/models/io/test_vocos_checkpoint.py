"""Vocos checkpoints in the authors' layout (config.yaml + pytorch_model.bin) give the authors'
output through melwave.

The reference is the authors' own code, `vocos==0.1.0` from PyPI (scripts/setup.sh installs it
with --no-deps): its backbone, head and ISTFT modules loaded by path, because the package's
__init__ imports encodec/torchaudio, which cannot load here. heads.py imports two torchaudio mel
helpers used only by its IMDCT head: those two alone get a stand-in that raises if called.
"""

from __future__ import annotations

import math
import types

import pytest
import torch
import yaml

import melwave
from melwave.errors import CheckpointError
from melwave.models.vocoders.vocos import Vocos

from _reference import authors_modules

SAMPLE_RATE, N_FFT, HOP, N_MELS = 24000, 1024, 256, 100
DIM, INTERMEDIATE, LAYERS = 64, 192, 3  # small: the authors' 512/1536/8 in miniature


@pytest.fixture(scope="module")
def authors():
    """The authors' modules (vocos.models, vocos.heads, ...), imported by file path."""

    def unavailable(*args, **kwargs):
        raise NotImplementedError("torchaudio stand-in: only the IMDCT head uses this")

    stub = types.ModuleType("torchaudio.functional.functional")
    stub._hz_to_mel = stub._mel_to_hz = unavailable
    stubs = {"torchaudio": types.ModuleType("torchaudio"), "torchaudio.functional": types.ModuleType("torchaudio.functional"),
             "torchaudio.functional.functional": stub}
    with authors_modules("vocos", ("modules", "spectral_ops", "heads", "models"), stubs) as modules:
        yield modules


def torchaudio_htk_filterbank() -> torch.Tensor:
    """(n_freqs, n_mels): torchaudio.functional.melscale_fbanks(norm=None, mel_scale="htk"),
    written out from its definition (torchaudio cannot be imported here)."""
    n_freqs = N_FFT // 2 + 1
    all_freqs = torch.linspace(0, SAMPLE_RATE // 2, n_freqs)
    m_max = 2595.0 * math.log10(1.0 + (SAMPLE_RATE / 2) / 700.0)
    m_pts = torch.linspace(0.0, m_max, N_MELS + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.min(down, up), min=0.0)


def authors_mel(wave: torch.Tensor, padding: str) -> torch.Tensor:
    """MelSpectrogramFeatures(padding=...) from its definition: torchaudio's MelSpectrogram
    (hann window of n_fft, reflect padding, magnitude) then safe_log = log(clamp(x, 1e-7))."""
    if padding == "same":
        pad = (N_FFT - HOP) // 2
        wave = torch.nn.functional.pad(wave.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    spec = torch.stft(wave, N_FFT, HOP, N_FFT, torch.hann_window(N_FFT), center=padding == "center",
                      pad_mode="reflect", return_complex=True).abs()
    mel = torch.matmul(spec.transpose(-1, -2), torchaudio_htk_filterbank()).transpose(-1, -2)
    return torch.log(torch.clamp(mel, min=1e-7))


def write_authors_checkpoint(authors, folder, padding: str, seed: int = 0):
    """The authors' backbone + ISTFTHead with seeded random weights, saved as the published layout.
    Returns (backbone, head) for running the reference."""
    torch.manual_seed(seed)
    backbone = authors.models.VocosBackbone(input_channels=N_MELS, dim=DIM, intermediate_dim=INTERMEDIATE,
                                            num_layers=LAYERS)
    head = authors.heads.ISTFTHead(dim=DIM, n_fft=N_FFT, hop_length=HOP, padding=padding)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # Every parameter random (not the authors' zero biases / unit norms), so that a wrong
        # mapping of any one tensor shows in the output.
        for name, parameter in list(backbone.named_parameters()) + list(head.named_parameters()):
            scale = 0.3 if "gamma" in name or "norm" in name else 0.05
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale + (1.0 if name.endswith("norm.weight") else 0.0))
    folder.mkdir()
    config = {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop_length": HOP,
                                            "n_mels": N_MELS, "padding": "center"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": N_MELS, "dim": DIM, "intermediate_dim": INTERMEDIATE,
                                   "num_layers": LAYERS}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": DIM, "n_fft": N_FFT, "hop_length": HOP, "padding": padding}},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # torch.save(vocos.state_dict()) of the authors' whole Vocos module: the feature extractor's
    # torchaudio buffers (MelSpectrogram.spectrogram.window, .mel_scale.fb) come first.
    state = {"feature_extractor.mel_spec.spectrogram.window": torch.hann_window(N_FFT),
             "feature_extractor.mel_spec.mel_scale.fb": torchaudio_htk_filterbank()}
    state.update({f"backbone.{key}": value for key, value in backbone.state_dict().items()})
    state.update({f"head.{key}": value for key, value in head.state_dict().items()})
    torch.save(state, folder / "pytorch_model.bin")
    return backbone.eval(), head.eval()


def test_key_names_are_the_authors(authors, tmp_path):
    write_authors_checkpoint(authors, tmp_path / "v", "center")
    keys = set(torch.load(tmp_path / "v" / "pytorch_model.bin", weights_only=True))
    assert {"backbone.embed.weight", "backbone.norm.weight", "backbone.convnext.2.gamma",
            "backbone.convnext.0.dwconv.weight", "backbone.final_layer_norm.bias", "head.out.weight",
            "head.istft.window"} <= keys


@pytest.mark.float_sensitive
@pytest.mark.parametrize("padding", ["center", "same"])
def test_same_output_as_the_authors_code(authors, tmp_path, padding):
    backbone, head = write_authors_checkpoint(authors, tmp_path / "vocos-mel-24khz", padding)
    model = melwave.load_vocoder(tmp_path / "vocos-mel-24khz")
    assert isinstance(model, Vocos) and model.config.head_padding == padding
    assert model.provenance["layout"] == "vocos"

    wave = 0.1 * torch.randn(2, 40 * HOP + 77, generator=torch.Generator().manual_seed(3))
    mel = authors_mel(wave, "center")
    # melwave's own mel of this checkpoint is the authors' feature extractor's (linear values:
    # two float32 sums over 513 bins in different orders, so rounding of ~1e-6 of the peak).
    ours = model.prepare_melspectrogram(wave)
    assert ours.shape == mel.shape
    assert (ours.exp() - mel.exp()).abs().max() <= 1e-5 * mel.exp().max()

    with torch.no_grad():
        expected = head(backbone(mel))
        got = model(mel)
    frames = mel.shape[-1]
    assert got.shape == (2, frames * HOP)
    # "same": the authors' length exactly; "center": torch.istft(center=True) stops at (F-1)·hop,
    # melwave adds the last hop (the Vocoder contract of F·hop samples).
    assert expected.shape[-1] == (frames if padding == "same" else frames - 1) * HOP
    # Same network, same weights; different summation orders (fold vs torch.istft, complex
    # products): float32 rounding, far below 1e-4 of the peak.
    assert (got[..., : expected.shape[-1]] - expected).abs().max() <= 1e-4 * expected.abs().max()


@pytest.mark.float_sensitive
def test_save_model_round_trip_and_chunking(authors, tmp_path):
    write_authors_checkpoint(authors, tmp_path / "v", "same")
    model = melwave.load_vocoder(tmp_path / "v")
    mel = torch.randn(1, N_MELS, 60, generator=torch.Generator().manual_seed(5)) - 4
    melwave.save_model(model, tmp_path / "v.safetensors")
    again = melwave.load_model(tmp_path / "v.safetensors")
    assert again.config == model.config and again.mel_config == model.mel_config
    with torch.no_grad():
        whole = model(mel)
        assert torch.allclose(again(mel), whole, atol=1e-6 * whole.abs().max())
        chunked = model.synthesize(mel, chunk_frames=20)
    # Chunks with receptive_frames of context reproduce the whole-file output up to the
    # crossfade's float rounding.
    assert (chunked - whole).abs().max() <= 1e-4 * whole.abs().max()


def test_mel_config_from_config_yaml(authors, tmp_path):
    write_authors_checkpoint(authors, tmp_path / "v", "center")
    cfg = melwave.load_vocoder(tmp_path / "v").mel_config
    assert (cfg.sample_rate, cfg.n_fft, cfg.win_length, cfg.hop_length, cfg.n_mels) == (SAMPLE_RATE, N_FFT, N_FFT, HOP, N_MELS)
    assert (cfg.mel_scale, cfg.mel_norm, cfg.power, cfg.padding, cfg.pad_mode) == ("htk", "none", 1.0, "center", "reflect")
    assert (cfg.compression, cfg.log_clamp, cfg.fmin, cfg.resolved_fmax) == ("log", 1e-7, 0.0, SAMPLE_RATE / 2)


def test_refuses_what_it_cannot_reproduce(authors, tmp_path):
    folder = tmp_path / "v"
    write_authors_checkpoint(authors, folder, "center")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    config["feature_extractor"]["class_path"] = "vocos.feature_extractors.EncodecFeatures"
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(CheckpointError, match="feature_extractor.class_path"):
        melwave.load_vocoder(folder)
    # A stored filterbank that is not the config's: the mel melwave would compute is not the trained one.
    write_authors_checkpoint(authors, tmp_path / "w", "center")
    state = torch.load(tmp_path / "w" / "pytorch_model.bin", weights_only=True)
    state["feature_extractor.mel_spec.mel_scale.fb"] = state["feature_extractor.mel_spec.mel_scale.fb"] * 2
    torch.save(state, tmp_path / "w" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="mel_scale.fb"):
        melwave.load_vocoder(tmp_path / "w")
