"""FrameStream: what every exact streamer shares, whatever it computes with.

One utterance at a time, in absolute frame indices: `received` frames have been pushed, the
samples of frames [0, emitted) returned. A frame's samples are final once `lookahead_frames`
later frames have arrived (the vocoder's measured reach, see reach.py), so after a push the
streamer returns frames [emitted, received − lookahead_frames) and `flush()` the rest. Subclasses
say how the samples are computed in `_advance`; the checks, the bookkeeping and the errors live
here once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from melwave.errors import MelFileError, MelwaveError
from melwave.models.streaming.reach import float_dtype, measure_reach


class FrameStream:
    """push(mel (n_mels, k) or (1, n_mels, k)) -> (samples,) now final; flush() -> the rest.

    lookahead_frames: frames after a frame that must arrive before its samples are final (the
        algorithmic latency: lookahead_frames · hop / sample_rate seconds).
    context_frames:   frames before a frame its samples depend on.
    exact:            True: the joined output is the offline output (to float rounding).
    kind:             how the samples are computed ("windowed", "cached").
    """

    exact = True
    kind = "abstract"

    def __init__(self, vocoder):
        reason = vocoder.streaming_refusal()
        if reason is not None:
            raise MelwaveError(f"vocoder '{vocoder.name}' cannot stream: {reason}")
        self.vocoder = vocoder
        reach = measure_reach(vocoder)
        self.context_frames, self.lookahead_frames = reach.left, reach.right
        # Read once: `vocoder.device` walks every parameter, which costs more than a small push.
        self.device, self.dtype = vocoder.device, float_dtype(vocoder)

    def reset(self) -> None:
        """Forget the utterance: the next push is frame 0 of a new one."""
        self.received = self.emitted = 0
        self.finished = False
        self._restart()

    @torch.no_grad()
    def push(self, mel: Tensor) -> Tensor:
        """Append the next k >= 1 frames; return the samples of every frame now final (possibly none)."""
        if self.finished:
            raise MelwaveError("stream: this utterance was flushed; call reset() to start a new one")
        if mel.ndim == 3 and mel.shape[0] != 1:
            raise MelFileError(f"stream: one utterance at a time: expected (n_mels, k) or (1, n_mels, k), got shape {tuple(mel.shape)}")
        # check_mel validates; its float32 copy is not used, so a float64 vocoder sees float64 input.
        self.vocoder.check_mel(mel, source="stream: pushed mel")
        mel = (mel if mel.ndim == 3 else mel[None]).to(device=self.device, dtype=self.dtype)
        self.received += mel.shape[-1]
        return self._advance(mel, self.received - self.lookahead_frames)

    @torch.no_grad()
    def flush(self) -> Tensor:
        """End of utterance: the samples of every frame not returned yet, as offline computes them
        with its end padding. Then push refuses until reset()."""
        if self.finished:
            raise MelwaveError("stream: this utterance was flushed already; call reset() to start a new one")
        wave = self._advance(None, self.received)
        self.finished = True
        return wave

    def _restart(self) -> None:
        """Drop the state of the utterance (reset() has zeroed the counters)."""
        raise NotImplementedError

    def _advance(self, mel: Tensor | None, ready: int) -> Tensor:
        """Take the pushed frames (None: the utterance ended) and return the samples of frames
        [emitted, ready), advancing `emitted` to `ready` when that is beyond it."""
        raise NotImplementedError

    def _empty(self) -> Tensor:
        return torch.empty(0, device=self.device, dtype=self.dtype)
