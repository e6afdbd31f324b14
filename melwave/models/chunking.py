"""Vocoding long mels in overlapping chunks so memory stays bounded.

A convolutional vocoder's output at a frame depends only on nearby frames, so a chunk fed with
`context` extra frames each side reproduces the whole-file output in its core. Adjacent cores
overlap by `2 * fade` frames and are joined with an equal-gain linear crossfade, which hides the
small residual differences (and phase disagreement for iterative methods like Griffin-Lim).
"""

from __future__ import annotations

import torch
from torch import Tensor


def chunk_spans(frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Core spans [start, end) covering 0..frames, each at most chunk_frames long."""
    if chunk_frames <= 0:
        raise ValueError("chunk_frames must be positive")
    return [(start, min(start + chunk_frames, frames)) for start in range(0, frames, chunk_frames)]


@torch.no_grad()
def synthesize_chunked(vocoder, mel: Tensor, *, chunk_frames: int, context: int | None = None, fade: int = 4) -> Tensor:
    """mel (B, n_mels, F) -> wave (B, F * hop), vocoded chunk by chunk.

    Peak memory is that of one chunk of `chunk_frames + 2 * context` frames plus the output.
    """
    hop = vocoder.hop_length
    context = vocoder.receptive_frames if context is None else context
    fade = min(fade, context)
    frames = mel.shape[-1]
    out = torch.zeros(mel.shape[0], frames * hop, device=mel.device)
    weight = torch.zeros(frames * hop, device=mel.device)
    for start, end in chunk_spans(frames, chunk_frames):
        lo = max(0, start - context)
        hi = min(frames, end + context)
        piece = vocoder(mel[..., lo:hi])
        # Keep the core plus `fade` frames either side for the crossfade.
        keep_lo = max(0, start - fade)
        keep_hi = min(frames, end + fade)
        segment = piece[..., (keep_lo - lo) * hop : (keep_hi - lo) * hop]
        ramp = torch.ones(segment.shape[-1], device=mel.device)
        n_fade = 2 * fade * hop
        if keep_lo > 0 and n_fade:
            ramp[:n_fade] = torch.linspace(0, 1, n_fade + 2, device=mel.device)[1:-1]
        if keep_hi < frames and n_fade:
            ramp[-n_fade:] = torch.minimum(ramp[-n_fade:], torch.linspace(1, 0, n_fade + 2, device=mel.device)[1:-1])
        out[..., keep_lo * hop : keep_hi * hop] += segment * ramp
        weight[keep_lo * hop : keep_hi * hop] += ramp
    return out / weight.clamp(min=1e-8)
