"""VocoderStream, the windowed streamer: each push re-runs the vocoder on a window of context, new
and lookahead frames (see the package docstring). Exact for every feed-forward family, whatever
its layers; the cached streamer (cached.py) computes each sample once where it applies.

State, in absolute frame indices of the utterance: frames [start, received) are buffered (mel,
and noise for noise-driven vocoders), samples of frames [0, emitted) have been returned. After
every call start = max(0, emitted − context_frames), so the buffer never holds more than
context_frames + lookahead_frames + k frames for a push of k.
"""

from __future__ import annotations

import torch
from torch import Tensor

from melwave.models.streaming.frames import FrameStream


class FrameNoise:
    """Standard-normal noise for noise-driven vocoders, `hop` samples per frame, drawn frame by
    frame from one seeded generator: the same sequence however many frames each request asks for
    (so a streamer's noise and `FrameNoise(hop, seed).draw(frames)` for the whole mel agree)."""

    def __init__(self, hop: int, seed: int = 0):
        self.hop = hop
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, frames: int) -> Tensor:
        """(frames · hop,) float32 on the CPU."""
        if frames == 0:
            return torch.empty(0)
        return torch.cat([torch.randn(self.hop, generator=self.generator) for _ in range(frames)])


class VocoderStream(FrameStream):
    """The windowed exact streamer (FrameStream's API). Per push the vocoder runs on at most
    k + context_frames + lookahead_frames frames, whatever the length of the utterance.
    Noise-driven vocoders (`noise_input`) get `FrameNoise(hop, seed)` noise, drawn as frames arrive.
    """

    kind = "windowed"

    def __init__(self, vocoder, *, seed: int = 0):
        super().__init__(vocoder)
        self.noise_input = bool(getattr(vocoder, "noise_input", False))
        self.seed = seed
        self.reset()

    def _restart(self) -> None:
        self._mel = torch.empty(1, self.vocoder.mel_config.n_mels, 0, device=self.device, dtype=self.dtype)
        self._noise = torch.empty(1, 0, device=self.device, dtype=self.dtype)
        self._noise_source = FrameNoise(self.vocoder.hop_length, self.seed) if self.noise_input else None
        self.start = 0

    def _advance(self, mel: Tensor | None, ready: int) -> Tensor:
        if mel is not None:
            self._mel = torch.cat([self._mel, mel], dim=-1)
            if self._noise_source is not None:
                noise = self._noise_source.draw(mel.shape[-1]).to(self._noise)
                self._noise = torch.cat([self._noise, noise[None]], dim=-1)
        return self._emit(ready)

    def _emit(self, ready: int) -> Tensor:
        """Samples of frames [emitted, ready), from one vocoder run on frames [lo, received)."""
        hop = self.vocoder.hop_length
        if ready <= self.emitted:
            return self._empty()
        # Either lo = 0 (the window starts where the utterance does, with offline's own padding)
        # or the first returned frame has context_frames real frames before it.
        lo = max(0, self.emitted - self.context_frames)
        mel = self._mel[..., lo - self.start :]
        if self._noise_source is not None:
            wave = self.vocoder(mel, self._noise[:, (lo - self.start) * hop :])
        else:
            wave = self.vocoder(mel)
        out = wave[0, (self.emitted - lo) * hop : (ready - lo) * hop]
        self.emitted = ready
        keep = max(0, ready - self.context_frames)
        self._mel = self._mel[..., keep - self.start :]
        self._noise = self._noise[:, (keep - self.start) * hop :]
        self.start = keep
        return out
