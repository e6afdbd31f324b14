"""Keeping generated audio below full scale: a whole-clip peak limiter.

A generated mel can ask a vocoder for more than full scale (a generator that drew bins louder than
any of its training recordings, a vocoder's overshoot), and a 16-bit WAV cuts whatever exceeds it:
hard clipping, audible as crackle. `limit_peaks` turns down, as a whole, every clip whose peak is
above `ceiling` (default -1 dBFS), to exactly the ceiling; clips below it are left untouched. One
gain per clip: no distortion, no pumping, the clip's own dynamics kept; only its level changes.

    waves, limited = limit_peaks(waves)          # (B, T) float; limited: (B,) bool
"""

from __future__ import annotations

import torch
from torch import Tensor

CEILING_DB = -1.0  # dBFS: a little headroom for the conversion to 16-bit and for players' resampling


def ceiling_amplitude(ceiling_db: float = CEILING_DB) -> float:
    return 10 ** (ceiling_db / 20)


def limit_peaks(waves: Tensor, ceiling_db: float = CEILING_DB) -> tuple[Tensor, Tensor]:
    """(B, T) waveforms -> (the same, each clip peaking above `ceiling_db` scaled down to it;
    (B,) bool: which clips were scaled)."""
    ceiling = ceiling_amplitude(ceiling_db)
    peaks = waves.abs().amax(dim=-1)
    limited = peaks > ceiling
    gains = torch.where(limited, ceiling / peaks.clamp(min=1e-12), torch.ones_like(peaks))
    return waves * gains[:, None], limited


def over_full_scale(waves: Tensor) -> Tensor:
    """(B, T) -> (B,) bool: clips that a 16-bit file would hard-clip (a sample at or beyond ±1)."""
    return waves.abs().amax(dim=-1) >= 1.0
