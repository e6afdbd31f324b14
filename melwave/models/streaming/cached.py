"""CachedStream: exact streaming that computes every sample once.

The vocoder's forward runs as a Plan of cached layers (trace.py, ops.py): each push feeds only the
new frames through, every conv keeping the tail of its input its next outputs need, so a pushed
frame costs what a frame costs offline plus a per-layer overhead per push, instead of the
windowed streamer's re-run of context_frames + lookahead_frames frames of overlap.

The layers emit a sample as soon as every input it depends on has arrived; the returned samples
are held back to whole frames, frames [emitted, received − lookahead_frames) as FrameStream
states, so both streamers return the same samples at the same pushes. That the layers have them
by then (the graph's own delay is within the measured lookahead) is checked at every push.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from melwave.errors import MelwaveError
from melwave.models.streaming.frames import FrameStream
from melwave.models.streaming.trace import NotStreamable, Plan


class CachedStream(FrameStream):
    """The cached exact streamer (FrameStream's API) running `plan`, traced from `vocoder`."""

    kind = "cached"

    def __init__(self, vocoder, plan: Plan):
        super().__init__(vocoder)
        if math.prod(plan.output_dims) != 1:
            raise NotStreamable(f"the output has {math.prod(plan.output_dims)} signals per sample; one streams cached")
        self.plan = plan
        self.reset()

    @property
    def computed_samples(self) -> int:
        """Output samples the layers have produced so far (returned or held back to whole frames)."""
        return self.emitted * self.vocoder.hop_length + self._held.shape[-1]

    def _restart(self) -> None:
        self.plan.reset()
        self._held = self._empty()  # computed samples of frames not returned yet

    def _advance(self, mel: Tensor | None, ready: int) -> Tensor:
        if self.received == 0:  # flushed before any push: nothing to vocode, as offline has nothing
            return self._empty()
        final = mel is None
        wave = self._layers(mel, final)
        self._held = wave if self._held.shape[-1] == 0 else torch.cat([self._held, wave])
        hop = self.vocoder.hop_length
        if ready <= self.emitted:
            return self._empty()
        count = (ready - self.emitted) * hop
        if self._held.shape[-1] < count or (final and self._held.shape[-1] != count):
            raise MelwaveError(f"stream: the cached layers of '{self.vocoder.name}' produced {self.computed_samples} samples "
                               f"after {self.received} frames, expected {ready * hop}: their delay disagrees with the "
                               f"measured lookahead of {self.lookahead_frames} frames")
        out, self._held = self._held[:count], self._held[count:]
        self.emitted = ready
        return out

    def _layers(self, mel: Tensor | None, final: bool) -> Tensor:
        """The new output samples (T,) of the pushed frames (None on flush)."""
        if final:
            frames = torch.empty(0, self.vocoder.mel_config.n_mels, device=self.device, dtype=self.dtype)
        else:
            frames = mel[0].t().contiguous()  # the plan runs time-major
        return self.plan.run(frames, final=final).reshape(-1)
