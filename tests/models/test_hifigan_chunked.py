"""Chunked synthesis: matches whole-file output, bounded chunk sizes, any length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melwave.models.chunking import chunk_spans, synthesize_chunked
from melwave.models.io.load import load_vocoder
from testsignals import speech_like



def snr_db(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    return 10 * torch.log10(reference.pow(2).sum() / (estimate - reference).pow(2).sum().clamp(min=1e-20)).item()


class Recorder(torch.nn.Module):
    """Wraps a vocoder and records the frame count of every call."""

    def __init__(self, vocoder):
        super().__init__()
        self.vocoder, self.calls = vocoder, []
        self.hop_length, self.receptive_frames = vocoder.hop_length, vocoder.receptive_frames

    def forward(self, mel):
        self.calls.append(mel.shape[-1])
        return self.vocoder(mel)


@pytest.fixture(scope="module")
def universal():
    return load_vocoder("hifigan-universal")


def _check_agreement(voc, seconds: float, chunk_frames: int) -> tuple[float, list[int]]:
    mel = voc.prepare_melspectrogram(speech_like(22050, seconds))[None]
    recorder = Recorder(voc)
    with torch.no_grad():
        whole = voc(mel)
        chunked = synthesize_chunked(recorder, mel, chunk_frames=chunk_frames)
    assert chunked.shape == whole.shape
    return snr_db(chunked, whole), recorder.calls


def test_chunked_hifigan_matches_whole_file(universal):
    # Measured on this signal: context 24 (the default) gives ~86 dB at chunk 100 and ~104 dB at
    # chunk 256 (float32 noise); context 8 drops to 17 dB because the generator's receptive field
    # (~13 frames) then sees zero padding, which in log-mel units is a loud event. 60 dB is far
    # below audibility and far above what a wrong context or crossfade gives.
    snr, calls = _check_agreement(universal, 0.6, chunk_frames=20)
    assert snr > 60, snr
    assert max(calls) <= 20 + 2 * universal.receptive_frames  # bounded working set per call
    assert len(calls) == len(chunk_spans(51, 20))


def test_too_little_context_is_detected(universal):
    # The agreement test can fail: with context smaller than the receptive field it does.
    mel = universal.prepare_melspectrogram(speech_like(22050, 0.3))[None]
    with torch.no_grad():
        whole = universal(mel)
        chunked = synthesize_chunked(universal, mel, chunk_frames=10, context=2)
    assert snr_db(chunked, whole) < 40


@pytest.mark.slow
def test_chunked_hifigan_matches_whole_file_on_10_seconds(universal):
    snr, calls = _check_agreement(universal, 10.0, chunk_frames=256)
    assert snr > 60, snr  # measured ~100 dB
    assert max(calls) <= 256 + 2 * universal.receptive_frames


@pytest.mark.float_sensitive
@pytest.mark.parametrize("frames", [1, 7, 50, 51, 99, 101])
def test_any_length_and_chunk_size_reassembles_exactly(frames):
    # A pointwise "vocoder" (each frame -> hop samples of its value): chunking must reproduce it
    # exactly, which checks the spans, context trimming and that crossfade weights sum to 1.
    class Pointwise(torch.nn.Module):
        hop_length, receptive_frames = 4, 3

        def forward(self, mel):
            return mel[:, 0].repeat_interleave(4, dim=-1)

    mel = torch.randn(2, 1, frames)
    for chunk in (1, 2, 5, 50):
        out = synthesize_chunked(Pointwise(), mel, chunk_frames=chunk)
        # Crossfaded seams add w·x + (1−w)·x: exact in real numbers, a few float32 ulps here
        # (|x| reaches ~4 for randn, where one ulp is 4.8e-7), hence a relative term too.
        torch.testing.assert_close(out, Pointwise()(mel), rtol=1e-6, atol=1e-6)


def test_chunk_spans_rejects_nonpositive_sizes():
    with pytest.raises(ValueError, match="positive"):
        chunk_spans(10, 0)
