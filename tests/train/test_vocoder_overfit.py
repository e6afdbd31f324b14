"""Overfit per family (slow): on one short clip, mel-L1 of the exported model falls clearly
within a few hundred steps, compared with the same architecture untrained."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import melwave
from melwave.losses.spectral import MelL1Loss
from melwave.train.config import load_run_config
from melwave.train.loop import train
from melwave.train.recipes.vocoder_common import build_vocoder, exported_copy, set_weight_norm

from vocoder_train_helpers import CONFIGS, tone

# config -> (steps, overrides). Debug-size models; learning rates raised for a quick overfit.
CASES = {
    "hifigan-v3.debug": (300, ["train.learning_rate=0.002"]),
    "melgan.debug": (300, ["train.learning_rate=0.001"]),
    "gomin-gan.debug": (300, ["train.learning_rate=0.001"]),
    "vocos.debug": (300, ["train.learning_rate=0.002"]),
    # The debug DiffWave (8 channels) is too small to overfit through a 3-step sampler; 32 wide is.
    "diffwave.debug": (400, ["train.learning_rate=0.002", "recipe.ema_decay=0.9", "model.config.residual_channels=32",
                             "model.config.residual_layers=8", "model.config.dilation_cycle=4",
                             "model.config.inference_steps=8"]),
}
MAX_RATIO = 0.7  # trained mel-L1 must be at most 70 % of the untrained model's


def mel_l1(model, wave: torch.Tensor) -> float:
    loss = MelL1Loss(model.mel_config)
    with torch.no_grad():
        mel = model.prepare_melspectrogram(wave.unsqueeze(0))
        return float(loss(model(mel)[..., : wave.shape[-1]], wave.unsqueeze(0)))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_overfits_one_clip(name, tmp_path):
    steps, overrides = CASES[name]
    config = load_run_config(CONFIGS / f"{name}.yaml", [
        f"train.steps={steps}", "train.batch_size=4", "train.validate_every=0", f"train.checkpoint_every={steps}",
        "train.log_every=50", "data.segment_samples=4096", *overrides])
    data = tmp_path / "clip"
    data.mkdir()
    rate = config.mel.sample_rate
    sf.write(data / "clip.wav", tone(0.75, rate, f0=160.0, seed=0), rate)
    wave = torch.from_numpy(melwave.load_audio(data / "clip.wav", rate).wave)

    torch.manual_seed(config.train.seed)  # the loop builds the model under the same seed
    untrained = exported_copy(set_weight_norm(build_vocoder(config), config.recipe.name == "gan"
                                              and getattr(config.recipe.options, "weight_norm", False)))
    before = mel_l1(untrained, wave)
    run = train(config, data, tmp_path / "run")
    after = mel_l1(melwave.load_vocoder(run), wave)
    print(f"{name}: mel-L1 {before:.3f} -> {after:.3f} after {steps} steps")
    assert after < MAX_RATIO * before, (before, after)
