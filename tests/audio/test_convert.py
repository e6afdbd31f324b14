"""Mel conversion between configs: frame-exact re-projection, or via audio when framing differs."""

from __future__ import annotations

import numpy as np
import soxr
import torch

from melwave.audio.config import PRESETS
from melwave.audio.mel_convert import convert_mel, same_framing
from melwave.audio.features import MelExtractor
from testsignals import speech_like

TARGET = PRESETS["hifigan-22k"]


def _spread(mel: torch.Tensor) -> float:
    return float((mel - mel.mean()).abs().mean())


def test_identity_is_a_no_op():
    mel = torch.randn(80, 10)
    assert convert_mel(mel, TARGET, TARGET) is mel


def test_same_framing_reprojects_close_to_direct_analysis():
    wave = torch.from_numpy(speech_like(22050, 1.5))
    for source in (TARGET.replace(n_mels=128, fmax=11025.0), TARGET.replace(mel_scale="htk", mel_norm="none", power=2.0),
                   TARGET.replace(compression="db", power=2.0)):
        assert same_framing(source, TARGET)
        converted = convert_mel(MelExtractor(source)(wave), source, TARGET)
        direct = MelExtractor(TARGET)(wave)
        assert converted.shape == direct.shape
        # Measured 1 % (wider band set), 5 % (HTK filterbank), 8 % (power, the NNLS solves for
        # summed powers); reading the same mel unconverted is off by ~220 % of the spread.
        assert float((converted - direct).abs().mean()) < 0.1 * _spread(direct), source
        assert float((MelExtractor(source)(wave)[:80] - direct).abs().mean()) > 0.5 * _spread(direct)


def test_other_framing_goes_through_audio():
    source = PRESETS["gomin-24k"]
    wave24 = soxr.resample(speech_like(22050, 1.5), 22050, 24000).astype(np.float32)
    converted = convert_mel(MelExtractor(source)(torch.from_numpy(wave24))[None], source, TARGET)[0]
    direct = MelExtractor(TARGET)(torch.from_numpy(speech_like(22050, 1.5)))
    frames = min(converted.shape[-1], direct.shape[-1])
    assert abs(converted.shape[-1] - direct.shape[-1]) <= 2
    assert float((converted[:, :frames] - direct[:, :frames]).abs().mean()) < 0.15 * _spread(direct)
