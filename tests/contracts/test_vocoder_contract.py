"""One contract, run over every vocoder family in the registry's table: what `Vocoder` promises
(melwave/models/base.py), checked on each family's tiny `debug` configuration. A family added to
FAMILY_TABLE is covered here without writing a test for it, and one without a `debug` config fails.

- shapes: (B, n_mels, F) -> (B, F * hop), finite, for several F;
- batching: each row of a batch equals that mel vocoded alone (float rounding);
- files: `save_model` then `load_model` rebuilds the same family, configs and outputs exactly;
- sizing: the meta-device build the loading gate relies on has the real build's names and shapes;
- weight norm (families with it): the training form and its fold compute the same function;
- reach: what an output sample depends on, measured, is inside `receptive_frames` (which the
  chunked synthesis and the exact streamer trust).
"""

from __future__ import annotations

import copy

import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.models.base import Vocoder
from melwave.models.io.gate import meta_build, plain_state
from melwave.models.io.model_file import load_model, save_model
from melwave.models.io.registry import FAMILY_TABLE, family_class

VOCODER_FAMILIES = sorted(f for f in FAMILY_TABLE if issubclass(family_class(f), Vocoder))


def tiny(family: str) -> Vocoder:
    cls = family_class(family)
    torch.manual_seed(0)
    if family == "griffinlim":  # no weights: its config is the algorithm's
        return cls(mel_config=PRESETS["hifigan-22k"]).eval()
    return cls(cls.named_configs["debug"], PRESETS[cls.default_mel_preset]).eval()


def run(vocoder: Vocoder, mel: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """vocoder(mel), with explicit seeded noise (one draw per row) for noise-driven families."""
    with torch.no_grad():
        if getattr(vocoder, "noise_input", False):
            generator = torch.Generator().manual_seed(seed)
            noise = torch.randn(1, mel.shape[-1] * vocoder.hop_length, generator=generator).expand(mel.shape[0], -1)
            return vocoder(mel, noise.contiguous())
        return vocoder(mel)


# DiffWave samples its starting noise for the whole batch from its seed: a row vocoded alone gets
# other noise, so its rows are not the batch's (its own tests compare it on fixed noise).
BATCH_INDEPENDENT = [f for f in VOCODER_FAMILIES if f != "diffwave"]


def test_every_vocoder_family_is_covered():
    assert {"hifigan", "melgan", "vocos", "gomin-gan", "diffwave", "parallel-wavegan", "pwg-toolkit",
            "griffinlim"} <= set(VOCODER_FAMILIES)
    missing = [f for f in VOCODER_FAMILIES if f != "griffinlim" and "debug" not in (family_class(f).named_configs or {})]
    assert not missing, f"families without a 'debug' config for the contract: {missing}"


@pytest.mark.parametrize("family", VOCODER_FAMILIES)
def test_shapes(family):
    vocoder = tiny(family)
    for frames in (6, 13):
        wave = run(vocoder, torch.randn(2, vocoder.mel_config.n_mels, frames))
        assert wave.shape == (2, frames * vocoder.hop_length), (frames, tuple(wave.shape))
        assert torch.isfinite(wave).all()


@pytest.mark.float_sensitive
@pytest.mark.parametrize("family", BATCH_INDEPENDENT)
def test_a_batch_is_its_rows(family):
    vocoder = tiny(family)
    mel = torch.randn(3, vocoder.mel_config.n_mels, 10)
    batch = run(vocoder, mel)
    rows = torch.cat([run(vocoder, mel[i : i + 1]) for i in range(3)])
    scale = rows.abs().max().clamp_min(1e-6)
    assert (batch - rows).abs().max() <= 1e-4 * scale


@pytest.mark.parametrize("family", VOCODER_FAMILIES)
def test_the_saved_file_alone_rebuilds_it(family, tmp_path):
    vocoder = tiny(family)
    path = save_model(vocoder, tmp_path / f"{family}.safetensors")
    loaded = load_model(path)
    assert type(loaded) is type(vocoder) and loaded.family == family
    assert loaded.config == vocoder.config and loaded.mel_config == vocoder.mel_config
    mel = torch.randn(1, vocoder.mel_config.n_mels, 9)
    assert torch.equal(run(loaded, mel), run(vocoder, mel))


@pytest.mark.parametrize("family", VOCODER_FAMILIES)
def test_the_meta_build_is_the_real_build(family):
    vocoder = tiny(family)
    skeleton = meta_build(lambda: type(vocoder)(vocoder.config, vocoder.mel_config) if family != "griffinlim"
                          else type(vocoder)(mel_config=vocoder.mel_config))
    real = {k: (tuple(v.shape), v.dtype) for k, v in plain_state(vocoder).items()}
    assert {k: (tuple(v.shape), v.dtype) for k, v in plain_state(skeleton).items()} == real


@pytest.mark.float_sensitive
@pytest.mark.parametrize("family", [f for f in VOCODER_FAMILIES if hasattr(family_class(f), "apply_weight_norm")])
def test_weight_norm_folds_to_the_same_function(family):
    model = copy.deepcopy(tiny(family))
    model.apply_weight_norm()
    assert any("parametrizations.weight.original0" in n for n, _ in model.named_parameters())
    with torch.no_grad():  # a fold that ignored g (or v) would change the output
        for name, parameter in model.named_parameters():
            if name.endswith("original0"):
                parameter.mul_(1.5)
    mel = torch.randn(2, model.mel_config.n_mels, 7)
    before = run(model, mel)
    model.remove_weight_norm()
    after = run(model, mel)
    assert not any("parametrizations" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", [f for f in VOCODER_FAMILIES if family_class(f).feed_forward])
def test_measured_reach_is_inside_the_receptive_field(family):
    from melwave.models.streaming.reach import measure_reach

    vocoder = tiny(family)
    reach = measure_reach(vocoder)
    assert max(reach.left, reach.right) <= vocoder.receptive_frames, (reach, vocoder.receptive_frames)


@pytest.mark.float_sensitive
def test_prepare_melspectrogram_resamples_audio_of_another_rate():
    import numpy as np

    vocoder = tiny("griffinlim")
    t = np.arange(16000) / 16000
    at_16k = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    t = np.arange(vocoder.sample_rate) / vocoder.sample_rate
    at_model_rate = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    expected = vocoder.prepare_melspectrogram(at_model_rate)
    resampled = vocoder.prepare_melspectrogram(at_16k, sample_rate=16000)
    assert resampled.shape == expected.shape
    # The same tone: the loudest bin agrees; analysed as if at 22.05 kHz it would sit 38 % higher.
    assert torch.equal(resampled[:, 10:-10].argmax(0), expected[:, 10:-10].argmax(0))
    wrong = vocoder.prepare_melspectrogram(at_16k)
    assert not torch.equal(wrong[:, 10:-10].argmax(0)[:5], expected[:, 10:-10].argmax(0)[:5])
    batch = vocoder.prepare_melspectrogram(np.stack([at_16k, at_16k]), sample_rate=16000)
    torch.testing.assert_close(batch[1], resampled)


@pytest.mark.parametrize("family", VOCODER_FAMILIES)
def test_a_mel_config_in_the_config_slot_is_refused_by_name(family):
    """Every model takes (config, mel_config); a MelConfig first (Griffin-Lim's order once) is a
    TypeError that says how to call it, not a failure deep inside the constructor."""
    with pytest.raises(TypeError, match="pass it as mel_config="):
        family_class(family)(PRESETS["hifigan-22k"])
