"""Vocoding many mels in batches (B, n_mels, frames) whose output equals vocoding each alone.

Padding a short mel to the batch's longest changes its last samples: they see the padding
where, alone, they see the end of the mel (a convolution's zero padding of every layer). The
vocoder's reach (`melwave.models.streaming.measure_reach`: how many frames before and after its
own an output sample depends on, measured, not estimated) says which: the samples of the last
`right` frames. Those are vocoded again from a tail window of `left + right` frames that ends at
the mel's true end, where again the window's end is the mel's, and whose start is more than
`left` frames before them, so they see exactly the frames they see alone. Every sample is then
computed from the same inputs as one-by-one; only float rounding of the different shapes differs.

Tails all have `left + right` frames (a mel that short is vocoded whole), so they batch with no
padding. Only vocoders whose output is a bounded, deterministic function of the mel can batch
(`batch_refusal`); the others are vocoded one by one.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from melwave.errors import MelwaveError


def batch_refusal(vocoder) -> str | None:
    """None when `vocode_batch` reproduces this vocoder's one-by-one output, else why not (one line)."""
    refusal = getattr(vocoder, "streaming_refusal", None)
    reason = refusal() if refusal is not None else f"'{vocoder.name}' does not say whether its output is local"
    if reason is None and getattr(vocoder, "noise_input", False):
        reason = "its output depends on noise drawn for every call, which a batch draws differently"
    if reason is None:
        from melwave.models.streaming import measure_reach

        try:
            measure_reach(vocoder)
        except MelwaveError as err:
            reason = str(err)
    return reason


def _groups(order: Sequence[int], size: int) -> list[list[int]]:
    return [list(order[i : i + size]) for i in range(0, len(order), size)]


@torch.no_grad()
def _run(vocoder, mels: Sequence[Tensor]) -> Tensor:
    """(B, T) for mels of (n_mels, F_i), padded at the end to the longest with zeros."""
    longest = max(m.shape[-1] for m in mels)
    batch = mels[0].new_zeros(len(mels), mels[0].shape[0], longest)
    for row, mel in enumerate(mels):
        batch[row, :, : mel.shape[-1]] = mel
    return vocoder(batch)


@torch.no_grad()
def vocode_batch(vocoder, mels: Sequence[Tensor], batch_size: int) -> list[Tensor]:
    """Waves (F_i · hop,) for mels (n_mels, F_i), equal to `vocoder(mel[None])[0]` for each within
    float rounding. Mels are sorted by length and vocoded `batch_size` at a time (little padding),
    plus one batched pass over the tails of the mels shorter than their batch's longest (see the
    module doc). Raises MelwaveError when `batch_refusal(vocoder)` is not None."""
    reason = batch_refusal(vocoder)
    if reason is not None:
        raise MelwaveError(f"vocoder '{vocoder.name}' cannot batch exactly: {reason}")
    from melwave.models.streaming import measure_reach

    reach = measure_reach(vocoder)
    window = reach.left + reach.right
    hop = vocoder.hop_length
    frames = [int(m.shape[-1]) for m in mels]
    waves: list[Tensor | None] = [None] * len(mels)
    # A mel no longer than a tail window is its own tail: vocoded whole, with others of its length.
    short = [i for i in range(len(mels)) if frames[i] <= window]
    order = sorted((i for i in range(len(mels)) if frames[i] > window), key=lambda i: frames[i])
    tails: list[int] = []
    for group in _groups(order, batch_size):
        out = _run(vocoder, [mels[i] for i in group])
        longest = max(frames[i] for i in group)
        for row, i in enumerate(group):
            waves[i] = out[row, : frames[i] * hop].clone()
            if frames[i] < longest:
                tails.append(i)
    for group in _groups(tails, batch_size):
        out = _run(vocoder, [mels[i][:, frames[i] - window :] for i in group])
        for row, i in enumerate(group):
            # Frames [F - right, F) of the mel are frames [left, window) of its tail.
            waves[i][(frames[i] - reach.right) * hop :] = out[row, reach.left * hop : window * hop]
    by_length: dict[int, list[int]] = {}
    for i in short:
        by_length.setdefault(frames[i], []).append(i)
    for same in by_length.values():
        for group in _groups(same, batch_size):
            out = _run(vocoder, [mels[i] for i in group])
            for row, i in enumerate(group):
                waves[i] = out[row]
    missing = [i for i, w in enumerate(waves) if w is None]
    assert not missing, f"mels {missing} were not vocoded"  # every index is in exactly one group above
    return waves  # type: ignore[return-value]
