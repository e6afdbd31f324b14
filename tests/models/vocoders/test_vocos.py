import dataclasses
import math

import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.audio.features import stft
from melwave.errors import ConfigError
from melwave.models.blocks.istft_head import ISTFT, ISTFTHead
from melwave.models.vocoders.vocos import VOCOS_CONFIGS, Vocos

from _vocoder_checks import build_on_meta, check_receptive_field, check_save_load, check_shapes, param_count


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return Vocos(VOCOS_CONFIGS["debug"], PRESETS["hifigan-22k"])


def test_full_size_parameter_count():
    # Vocos: 13.5M (dim 512, intermediate 1536, 8 layers), here with 80 mels and n_fft 1024.
    count = param_count(build_on_meta(lambda: Vocos(VOCOS_CONFIGS["vocos"], PRESETS["hifigan-22k"])))
    assert 13.3e6 < count < 13.7e6, count


@pytest.mark.parametrize("preset", ["hifigan-22k", "gomin-24k", "melgan-22k"])
def test_shapes_over_random_lengths(preset):
    torch.manual_seed(0)
    model = Vocos(VOCOS_CONFIGS["debug"], PRESETS[preset])
    lengths = torch.randint(1, 50, (3,), generator=torch.Generator().manual_seed(1)).tolist()
    check_shapes(model, [1, 2] + lengths)


@pytest.mark.float_sensitive
def test_output_depends_on_local_mel_only(tiny):
    check_receptive_field(tiny)


def test_save_load_round_trip(tiny, tmp_path):
    check_save_load(tiny, tmp_path)


def test_rejects_unknown_config_keys():
    with pytest.raises(ConfigError, match="depth"):
        Vocos.from_config({"depth": 3}, PRESETS["hifigan-22k"])


@pytest.mark.float_sensitive
@pytest.mark.parametrize("preset", ["hifigan-22k", "gomin-24k", "melgan-22k"])
def test_istft_inverts_the_analysis_stft_frame_aligned(preset):
    """The true STFT of a signal, as the mel analysis computes it, comes back as the signal
    itself, sample-aligned, F frames -> F·hop samples."""
    cfg = PRESETS[preset].replace(normalized=False)
    hop = cfg.hop_length
    wave = torch.randn(2, 37 * hop, generator=torch.Generator().manual_seed(0))
    spec = stft(wave, cfg)
    frames = cfg.num_frames(wave.shape[-1])
    assert spec.shape[-1] == frames
    # center padding yields one extra frame (1 + T//hop): F frames describe F·hop samples.
    spec = spec[..., : wave.shape[-1] // hop]
    out = ISTFT.for_mel_config(cfg)(spec)
    assert out.shape == (2, spec.shape[-1] * hop)
    # "end" padding starts frame 0 at sample 0, where only the rising edge of one Hann window
    # (≈ (πk/n_fft)⁴ squared) covers the signal: dividing by it amplifies rounding there.
    first = 64 if cfg.padding == "end" else 0
    torch.testing.assert_close(out[:, first:], wave[:, first : out.shape[-1]], atol=2e-5, rtol=0)


@pytest.mark.float_sensitive
def test_head_reconstructs_from_true_magnitude_and_phase():
    cfg = PRESETS["hifigan-22k"]
    head = ISTFTHead(8, cfg)
    wave = torch.randn(1, 20 * cfg.hop_length, generator=torch.Generator().manual_seed(2))
    spec = stft(wave, cfg)
    rebuilt = head.istft(head.spectrum(spec.abs().log(), spec.angle()))
    torch.testing.assert_close(rebuilt, wave, atol=2e-5, rtol=0)


@pytest.mark.float_sensitive
def test_center_istft_equals_torch_istft():
    cfg = PRESETS["gomin-24k"]
    spec = torch.randn(2, cfg.n_fft // 2 + 1, 12, dtype=torch.complex64, generator=torch.Generator().manual_seed(4))
    spec[:, 0] = spec[:, 0].real.to(spec.dtype)  # DC and Nyquist bins of a real signal are real
    spec[:, -1] = spec[:, -1].real.to(spec.dtype)
    ours = ISTFT.for_mel_config(cfg)(spec)
    theirs = torch.istft(spec, cfg.n_fft, cfg.hop_length, cfg.win_length, torch.hann_window(cfg.win_length),
                         center=True, length=12 * cfg.hop_length)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_magnitude_is_clipped():
    head = ISTFTHead(4, PRESETS["hifigan-22k"])
    spec = head.spectrum(torch.full((1, 513, 2), 50.0), torch.zeros(1, 513, 2))
    assert spec.abs().max() <= 100.0 + 1e-3 and math.isfinite(spec.abs().max().item())


@pytest.mark.float_sensitive
def test_prior_variant_starts_as_its_prior_and_learns_corrections():
    """With prior="nnls-peaks" the untrained model is exactly the ISTFT of the NNLS magnitude with
    the peak phase (Griffin-Lim's starting point), and gradients reach the backbone."""
    from melwave.audio.features import MelExtractor
    from melwave.audio.phase_retrieval import mel_to_linear, peak_phase
    from testsignals import speech_like

    torch.manual_seed(0)
    cfg = PRESETS["hifigan-22k"]
    model = Vocos(VOCOS_CONFIGS["debug-prior"], cfg)
    mel = MelExtractor(cfg)(torch.from_numpy(speech_like(cfg.sample_rate, 0.5)))[None]
    magnitude = mel_to_linear(mel, cfg, iterations=model.config.prior_iterations)
    expected = ISTFT.for_mel_config(cfg)(magnitude * peak_phase(magnitude, cfg))
    out = model(mel)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)  # exp(log(.)) round-off
    # The estimate is already a fair vocoder: its mel is far closer to the input's than an
    # untrained plain Vocos's.
    def mel_error(wave):
        return (MelExtractor(cfg)(wave.detach()) - mel)[..., 2:-2].abs().mean()

    plain = Vocos(VOCOS_CONFIGS["debug"], cfg)
    assert mel_error(out) < 0.4 * mel_error(plain(mel)), (mel_error(out), mel_error(plain(mel)))
    out.pow(2).mean().backward()
    assert model.head.out.weight.grad.abs().sum() > 0
    torch.optim.SGD(model.parameters(), lr=1.0).step()
    model.zero_grad()
    model(mel).pow(2).mean().backward()
    assert model.blocks[0].pwconv1.weight.grad.abs().sum() > 0


def test_prior_is_validated():
    with pytest.raises(ConfigError, match="prior"):
        Vocos.from_config({"prior": "magic"}, PRESETS["hifigan-22k"])


@pytest.mark.float_sensitive
def test_gl_prior_variant_starts_as_griffin_lim():
    """prior="nnls-gl": the untrained model's output IS melwave's Griffin-Lim (same NNLS magnitude,
    same iterations), so the shipped model can only be trained away from that starting point."""
    from melwave.audio.features import MelExtractor
    from melwave.audio.phase_retrieval import griffin_lim, mel_to_linear
    from testsignals import speech_like

    torch.manual_seed(0)
    cfg = PRESETS["hifigan-22k"]
    model = Vocos(VOCOS_CONFIGS["debug-gl"], cfg)
    mel = MelExtractor(cfg)(torch.from_numpy(speech_like(cfg.sample_rate, 0.5)))[None]
    magnitude = mel_to_linear(mel, cfg, iterations=model.config.prior_iterations)
    expected = griffin_lim(magnitude, cfg, iterations=model.config.prior_gl_iterations)
    out = model(mel)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    # More iterations change the output: the iterations really run inside the model.
    longer = Vocos(dataclasses.replace(VOCOS_CONFIGS["debug-gl"], prior_gl_iterations=12), cfg)
    longer.load_state_dict(model.state_dict())
    assert (longer(mel) - out).abs().max() > 1e-3
    out.pow(2).mean().backward()
    assert model.head.out.weight.grad.abs().sum() > 0


def test_gl_prior_iterations_are_validated():
    with pytest.raises(ConfigError, match="prior_gl_iterations"):
        Vocos.from_config({"prior": "nnls-gl", "prior_gl_iterations": -1}, PRESETS["hifigan-22k"])
