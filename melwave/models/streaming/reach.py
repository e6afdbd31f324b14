"""How far, in mel frames, a vocoder's output samples depend on its input: measured, not estimated.

A NaN placed in one mel frame (and in that frame's noise samples, for noise-driven vocoders)
turns every output sample that depends on it into NaN: convolutions (NaN·0 is NaN), padding,
pointwise activations, per-frame norms, FFTs and overlap-adds all carry it, so the NaN span is
the vocoder's dependency cone at this frame, exactly and independent of the weights' values.
Every family here is equivariant to shifting the mel by whole frames (each layer maps frame f to
samples [f·hop, (f+1)·hop)), so one probe frame gives the reach of every sample phase.

The probe mel is sized from the family's `receptive_frames` (the bound chunked synthesis uses)
plus a margin, and doubled (up to MAX_REACH) until the cone stays clear of the probe's edges (so
no padding folds the NaN back in).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch

from melwave.errors import MelwaveError

MARGIN = 2  # frames between the cone and the probe's edges
MAX_REACH = 1024  # frames (~12 s at hop 256, 22 kHz): beyond this a window is no streaming working set

_cache: "weakref.WeakKeyDictionary[torch.nn.Module, Reach]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Reach:
    """left: most frames before its own frame an output sample depends on (the context a window
    needs); right: most frames after it (the lookahead: frame f is final once f + right arrived)."""

    left: int
    right: int


def float_dtype(module: torch.nn.Module) -> torch.dtype:
    """The float type a module computes in: its first floating parameter's (float32 if none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def measure_reach(vocoder) -> Reach:
    """The vocoder's Reach, measured once per vocoder instance (a forward pass of about
    2·receptive_frames frames) and cached while the instance lives."""
    if vocoder not in _cache:
        _cache[vocoder] = _probe(vocoder)
    return _cache[vocoder]


@torch.no_grad()
def _probe(vocoder) -> Reach:
    hop, n_mels = vocoder.hop_length, vocoder.mel_config.n_mels
    bound = min(max(1, int(vocoder.receptive_frames)), MAX_REACH)
    while True:
        centre = bound + MARGIN
        frames = 2 * centre + 1
        mel = torch.zeros(1, n_mels, frames, device=vocoder.device, dtype=float_dtype(vocoder))
        mel[..., centre] = float("nan")
        if getattr(vocoder, "noise_input", False):
            noise = torch.zeros(1, frames * hop, device=vocoder.device, dtype=mel.dtype)
            noise[:, centre * hop : (centre + 1) * hop] = float("nan")
            wave = vocoder(mel, noise)
        else:
            wave = vocoder(mel)
        hit = torch.isnan(wave[0]).nonzero().flatten()
        if hit.numel() == 0:
            raise MelwaveError(f"vocoder '{vocoder.name}': its output does not carry a NaN from the mel, so its reach "
                               f"cannot be measured and it cannot stream")
        first, last = int(hit.min()) // hop, int(hit.max()) // hop
        if first >= MARGIN and last < frames - MARGIN:
            return Reach(left=last - centre, right=centre - first)
        if bound == MAX_REACH:
            raise MelwaveError(f"vocoder '{vocoder.name}': its output depends on mel frames more than {MAX_REACH} "
                               f"frames away, so it cannot stream with a bounded window")
        bound = min(2 * bound, MAX_REACH)
