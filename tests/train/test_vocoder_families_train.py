"""Every family's debug config trains from the real CLI, resumes, and exports a loadable model."""

from __future__ import annotations

import pytest
import torch

import melwave
from melwave.cli import main
from melwave.train import checkpoint as ckpt

from vocoder_train_helpers import CONFIGS, make_audio_dir

FAMILIES = {  # config -> (family, mel bins)
    "melgan.debug": ("melgan", 80),
    "melgan-keras.debug": ("melgan", 80),  # the Keras tutorial's generator and discriminator
    "gomin-gan.debug": ("gomin-gan", 128),
    "vocos.debug": ("vocos", 80),
    "diffwave.debug": ("diffwave", 80),
    "hifigan-v1.debug": ("hifigan", 80),
    "hifigan-universal-finetune.debug": ("hifigan", 80),  # the pretrained V1 (13.9M) via train.init
}


@pytest.fixture(scope="module")
def small_audio(tmp_path_factory):
    return make_audio_dir(tmp_path_factory.mktemp("audio"), seconds=0.6, bad_file=False)


@pytest.mark.parametrize("name", [*sorted(set(FAMILIES) - {"hifigan-universal-finetune.debug"}),
                                  pytest.param("hifigan-universal-finetune.debug", marks=pytest.mark.slow)])
def test_debug_config_trains_resumes_and_exports(name, small_audio, tmp_path):
    family, n_mels = FAMILIES[name]
    run = tmp_path / "run"
    common = ["--data", str(small_audio), "--out", str(run), "--set", "train.checkpoint_every=2", "--set", "train.validate_every=2"]
    assert main(["train", "vocoder", "--config", str(CONFIGS / f"{name}.yaml"), *common, "--set", "train.steps=2"]) == 0
    assert main(["train", "vocoder", "--resume", *common, "--set", "train.steps=3"]) == 0
    assert [s for s, _ in ckpt.list_checkpoints(run)] == [2, 3]
    vocoder = melwave.load_vocoder(run)
    assert vocoder.family == family
    wave = vocoder.synthesize(torch.zeros(n_mels, 5) + vocoder.prepare_melspectrogram(torch.zeros(2048)).min())
    assert wave.shape[-1] >= 5 * vocoder.hop_length and torch.isfinite(wave).all()
