"""VocoderStream: exact, bounded-cost streaming of one utterance at a time (see the package docstring).

State, in absolute frame indices of the utterance: frames [start, received) are buffered (mel,
and noise for noise-driven vocoders), samples of frames [0, emitted) have been returned. After
every call start = max(0, emitted − context_frames), so the buffer never holds more than
context_frames + lookahead_frames + k frames for a push of k.
"""

from __future__ import annotations

import torch
from torch import Tensor

from melwave.errors import MelFileError, MelwaveError
from melwave.models.streaming.reach import float_dtype, measure_reach


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


class VocoderStream:
    """push(mel (n_mels, k) or (1, n_mels, k)) -> (samples,) now final; flush() -> the rest.

    lookahead_frames: frames after a frame that must arrive before its samples are final (the
        algorithmic latency: lookahead_frames · hop / sample_rate seconds).
    context_frames:   frames before the first pending frame kept for the next window.
    Noise-driven vocoders (`noise_input`) get `FrameNoise(hop, seed)` noise, drawn as frames arrive.
    `exact` is True: the joined output is the offline output (to float rounding).
    """

    exact = True

    def __init__(self, vocoder, *, seed: int = 0):
        reason = vocoder.streaming_refusal()
        if reason is not None:
            raise MelwaveError(f"vocoder '{vocoder.name}' cannot stream: {reason}")
        self.vocoder = vocoder
        reach = measure_reach(vocoder)
        self.context_frames, self.lookahead_frames = reach.left, reach.right
        self.noise_input = bool(getattr(vocoder, "noise_input", False))
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Forget the utterance: the next push is frame 0 of a new one (noise restarts from `seed`)."""
        device, dtype = self.vocoder.device, float_dtype(self.vocoder)
        self._mel = torch.empty(1, self.vocoder.mel_config.n_mels, 0, device=device, dtype=dtype)
        self._noise = torch.empty(1, 0, device=device, dtype=dtype)
        self._noise_source = FrameNoise(self.vocoder.hop_length, self.seed) if self.noise_input else None
        self.start = self.received = self.emitted = 0
        self.finished = False

    @torch.no_grad()
    def push(self, mel: Tensor) -> Tensor:
        """Append the next k >= 1 frames; return the samples of every frame now final (possibly none)."""
        if self.finished:
            raise MelwaveError("stream: this utterance was flushed; call reset() to start a new one")
        if mel.ndim == 3 and mel.shape[0] != 1:
            raise MelFileError(f"stream: one utterance at a time: expected (n_mels, k) or (1, n_mels, k), got shape {tuple(mel.shape)}")
        # check_mel validates; its float32 copy is not used, so a float64 vocoder sees float64 input.
        self.vocoder.check_mel(mel, source="stream: pushed mel")
        mel = (mel if mel.ndim == 3 else mel[None]).to(self._mel)
        self._mel = torch.cat([self._mel, mel], dim=-1)
        if self._noise_source is not None:
            noise = self._noise_source.draw(mel.shape[-1]).to(self._noise)
            self._noise = torch.cat([self._noise, noise[None]], dim=-1)
        self.received += mel.shape[-1]
        return self._emit(self.received - self.lookahead_frames)

    @torch.no_grad()
    def flush(self) -> Tensor:
        """End of utterance: the samples of every frame not returned yet, as offline computes them
        with its end padding. Then push refuses until reset()."""
        if self.finished:
            raise MelwaveError("stream: this utterance was flushed already; call reset() to start a new one")
        wave = self._emit(self.received)
        self.finished = True
        return wave

    def _emit(self, ready: int) -> Tensor:
        """Samples of frames [emitted, ready), from one vocoder run on frames [lo, received)."""
        hop = self.vocoder.hop_length
        if ready <= self.emitted:
            return torch.empty(0, device=self._mel.device)
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
