"""lmnt-com/diffwave checkpoints ({'model': ..., 'params': ...}) give the authors' output
through melwave: the network on the same noise, mel and step, and their inference.py's full and
fast sampling with the same seed.

The reference is the authors' code, `diffwave==0.1.7` from PyPI (scripts/setup.sh installs it
with --no-deps): model.py and params.py import only numpy/torch; inference.py imports
torchaudio at the top (unused by `predict`), which gets an empty stand-in module.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

import melwave
from melwave.errors import UnsafeFileError
from melwave.models.vocoders.diffwave import DiffWave

from _reference import authors_modules

N_MELS, LAYERS, CHANNELS, CYCLE, HOP = 20, 4, 8, 2, 256
FAST = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]  # their params.inference_noise_schedule


@pytest.fixture(scope="module")
def authors():
    # inference.py imports torchaudio at the top (unused by `predict`): an empty stand-in.
    with authors_modules("diffwave", ("params", "model", "inference"),
                         {"torchaudio": types.ModuleType("torchaudio")}) as modules:
        yield modules


def small_params(authors):
    return authors.params.AttrDict(authors.params.params).override(dict(
        n_mels=N_MELS, residual_layers=LAYERS, residual_channels=CHANNELS, dilation_cycle_length=CYCLE,
        noise_schedule=np.linspace(1e-4, 0.05, 50).tolist(), inference_noise_schedule=FAST))


def write_checkpoint(authors, path, *, attrdict: bool = False, seed: int = 0):
    """Their DiffWave with every parameter seeded-random, saved as their Learner.state_dict()."""
    torch.manual_seed(seed)
    params = small_params(authors)
    model = authors.model.DiffWave(params)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():  # incl. the zero-initialised output projection
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    stored_params = params if attrdict else dict(params)  # their learner stores dict(params)
    torch.save({"step": 7, "model": model.state_dict(), "params": stored_params}, path)
    return model.eval(), params


@pytest.mark.float_sensitive
def test_network_equals_theirs_on_the_same_noise_mel_and_step(authors, tmp_path):
    reference, _ = write_checkpoint(authors, tmp_path / "weights.pt")
    model = melwave.load_vocoder(tmp_path / "weights.pt")
    assert isinstance(model, DiffWave) and model.provenance["layout"] == "diffwave"
    generator = torch.Generator().manual_seed(2)
    mel = torch.rand(1, N_MELS, 6, generator=generator)
    audio = torch.randn(1, 6 * HOP, generator=generator)
    for step in (torch.tensor([0]), torch.tensor([37]), torch.tensor([12.4])):  # integer and fractional (fast) steps
        with torch.no_grad():
            expected = reference(audio, mel, step).squeeze(1)
            got = model.network(audio, step, mel)
        # Same network; skip sums in another order: float32 rounding only.
        assert (got - expected).abs().max() <= 1e-4 * expected.abs().max(), step


@pytest.mark.float_sensitive
@pytest.mark.parametrize("fast", [False, True])
def test_sampling_equals_their_inference_with_the_same_seed(authors, tmp_path, monkeypatch, fast):
    _, params = write_checkpoint(authors, tmp_path / "weights.pt")
    model = melwave.load_vocoder(tmp_path)  # the folder form their inference.py accepts
    if fast:
        model.with_sampling(inference_schedule=model.provenance["inference_noise_schedule"])
    mel = torch.rand(1, N_MELS, 4, generator=torch.Generator().manual_seed(3))
    # Their predict() builds the network from the module's base params, not the file's: give it ours.
    monkeypatch.setattr(authors.inference, "base_params", params)
    authors.inference.models.clear()
    # A first call builds and caches their model (its init draws from the global RNG), so the
    # seeded call below draws only the sampler's noise, as melwave's generator does.
    authors.inference.predict(mel[..., :1], model_dir=str(tmp_path), device=torch.device("cpu"))
    torch.manual_seed(11)
    expected, sample_rate = authors.inference.predict(mel, model_dir=str(tmp_path), device=torch.device("cpu"),
                                                      fast_sampling=fast)
    got = model.with_sampling(seed=11)(mel)
    assert sample_rate == model.sample_rate and got.shape == expected.shape
    # Same noise draws in the same order; 50 (or 6) steps of float32 rounding of the network and
    # of float64 vs numpy constants: far below 1e-4 of the peak.
    assert (got - expected).abs().max() <= 1e-4 * expected.abs().max()


def test_attrdict_params_load_without_running_code(authors, tmp_path):
    reference, _ = write_checkpoint(authors, tmp_path / "old.pt", attrdict=True)
    model = melwave.load_vocoder(tmp_path / "old.pt")
    assert model.config.residual_layers == LAYERS and model.config.schedule.num_train_steps == 50
    # A file that needs any other class is refused without trust_file.
    torch.save({"model": reference.state_dict(), "params": small_params(authors), "x": types.SimpleNamespace(a=1)},
               tmp_path / "bad.pt")
    with pytest.raises(UnsafeFileError, match="trust-file"):
        melwave.load_vocoder(tmp_path / "bad.pt")
    assert isinstance(melwave.load_vocoder(tmp_path / "bad.pt", trust_file=True), DiffWave)


@pytest.mark.float_sensitive
def test_mel_is_their_preprocess(authors, tmp_path):
    """Their preprocess.py: torchaudio MelSpectrogram(win = 4·hop, 20 Hz … sr/2, magnitude,
    normalized) and the dB mapping, computed here from its definition (torchaudio cannot load)."""
    write_checkpoint(authors, tmp_path / "w.pt")
    model = melwave.load_vocoder(tmp_path / "w.pt")
    sr, n_fft = 22050, 1024
    wave = 0.3 * torch.randn(1, 30 * HOP, generator=torch.Generator().manual_seed(4))
    window = torch.hann_window(4 * HOP)
    spec = torch.stft(wave, n_fft, HOP, 4 * HOP, window, center=True, pad_mode="reflect", return_complex=True)
    spec = spec.abs() / window.pow(2).sum().sqrt()
    # torchaudio.functional.melscale_fbanks(htk, norm=None, f_min=20, f_max=sr/2)
    freqs = torch.linspace(0, sr // 2, n_fft // 2 + 1)
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    m_pts = torch.linspace(hz_to_mel(20.0), hz_to_mel(sr / 2), N_MELS + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    slopes = f_pts.unsqueeze(0) - freqs.unsqueeze(1)
    fb = torch.clamp(torch.min(-slopes[:, :-2] / (f_pts[1:-1] - f_pts[:-2]), slopes[:, 2:] / (f_pts[2:] - f_pts[1:-1])), min=0)
    mel = torch.matmul(spec.transpose(-1, -2), fb).transpose(-1, -2)
    expected = torch.clamp((20 * torch.log10(torch.clamp(mel, min=1e-5)) - 20 + 100) / 100, 0.0, 1.0)
    got = model.prepare_melspectrogram(wave)
    assert got.shape == expected.shape
    # Values in [0, 1] = dB/100: float32 rounding of two filterbank computations is ~1e-6 dB.
    assert (got - expected).abs().max() <= 1e-4


@pytest.mark.float_sensitive
def test_save_model_round_trip(authors, tmp_path):
    write_checkpoint(authors, tmp_path / "w.pt")
    model = melwave.load_vocoder(tmp_path / "w.pt").with_sampling(inference_schedule=FAST)
    melwave.save_model(model, tmp_path / "w.safetensors")
    again = melwave.load_model(tmp_path / "w.safetensors")
    assert again.config == model.config and again.mel_config == model.mel_config
    mel = torch.rand(1, N_MELS, 3, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(again(mel), model(mel), atol=1e-6)
