"""Vocoding long mels in overlapping chunks so memory stays bounded.

A convolutional vocoder's output at a frame depends only on nearby frames, so a chunk fed with
`context` extra frames each side reproduces the whole-file output in its core. Adjacent cores
overlap by `2 * fade` frames and are joined with an equal-gain linear crossfade, which hides the
small residual differences (and phase disagreement for iterative methods like Griffin-Lim).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def chunk_spans(frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Core spans [start, end) covering 0..frames, each at most chunk_frames long."""
    if chunk_frames <= 0:
        raise ValueError("chunk_frames must be positive")
    return [(start, min(start + chunk_frames, frames)) for start in range(0, frames, chunk_frames)]


def _ramp_up(first: int, count: int, zone: int, device: torch.device) -> Tensor:
    """Samples `first .. first+count` of a linear 0 -> 1 ramp over `zone` samples, excluding both
    ends, so up(n) + down(n) == 1 exactly for the two chunks sharing a crossfade zone."""
    positions = torch.arange(first, first + count, device=device, dtype=torch.float32)
    return (positions + 1) / (zone + 1)


@torch.no_grad()
def synthesize_chunked(vocoder, mel: Tensor, *, chunk_frames: int, context: int | None = None, fade: int = 4,
                       progress: Callable[[int, int], None] | None = None) -> Tensor:
    """mel (B, n_mels, F) -> wave (B, F * hop), vocoded chunk by chunk.

    Peak memory is that of one chunk of `chunk_frames + 2 * context` frames plus the output.
    Around each boundary b between two cores, samples of frames [b - fade, b + fade) are a
    crossfade of the two chunks whose weights sum to exactly 1 (so no normalisation buffer of
    the output's length is needed). `progress(done_frames, total_frames)` is called after each chunk.
    """
    hop = vocoder.hop_length
    context = vocoder.receptive_frames if context is None else context
    # Zones of neighbouring boundaries must not overlap: each core is >= 2 * fade frames except
    # possibly the last, whose right edge is the end of the signal (no zone there).
    fade = max(0, min(fade, context, chunk_frames // 2))
    frames = mel.shape[-1]
    out = torch.zeros(mel.shape[0], frames * hop, device=mel.device)
    zone = 2 * fade * hop
    # Vocoders whose output depends on a global solution (Griffin-Lim's phase) expose
    # forward_chunk(mel, state, offset) -> (wave, state) to carry it from chunk to chunk.
    forward_chunk = getattr(vocoder, "forward_chunk", None)
    state = None
    for start, end in chunk_spans(frames, chunk_frames):
        lo = max(0, start - context)
        hi = min(frames, end + context)
        if forward_chunk is not None:
            piece, state = forward_chunk(mel[..., lo:hi], state=state, offset=lo)
        else:
            piece = vocoder(mel[..., lo:hi])
        # Keep the core plus `fade` frames either side for the crossfade.
        keep_lo = max(0, start - fade) if start > 0 else 0
        keep_hi = min(frames, end + fade)
        segment = piece[..., (keep_lo - lo) * hop : (keep_hi - lo) * hop]
        ramp = torch.ones(segment.shape[-1], device=mel.device)
        if start > 0 and zone:
            # Zone of the left boundary: samples [(start - fade) * hop, (start + fade) * hop).
            count = min(zone, segment.shape[-1])
            ramp[:count] = _ramp_up(0, count, zone, mel.device)
        if end < frames and zone:
            zone_lo = (end - fade - keep_lo) * hop  # where the right zone starts in `segment`
            count = segment.shape[-1] - zone_lo
            ramp[zone_lo:] = ramp[zone_lo:] * (1 - _ramp_up(0, count, zone, mel.device))
        out[..., keep_lo * hop : keep_hi * hop] += segment * ramp
        del piece, segment
        if progress is not None:
            progress(end, frames)
    return out
