"""Novelty: are generated clips new, or near-copies of the clips the generator was trained on?

With a few hundred training clips a generator that memorises looks perfect on accuracy and FID.
Each generated clip's distance to its nearest training clip is set against the training clips'
own nearest-neighbour distances (each to the closest OTHER training clip): a generated clip
closer to some training clip than `quantile` of the training clips are to their nearest
neighbour is a near-copy. A generator that copies scores a near-copy share near 1; one that draws
new clips from the data's distribution scores near `quantile` (the rate at which the training
clips themselves fall under the threshold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from melwave.metrics.frechet import MetricError


@dataclass(frozen=True)
class Novelty:
    near_copy_share: float     # generated clips closer to a training clip than the threshold
    threshold: float           # the `quantile` of the training clips' nearest-neighbour distances
    median_ratio: float        # median generated NN distance / median training NN distance (~1 = as new as the data)
    quantile: float
    generated: int
    training: int

    def to_dict(self) -> dict:
        return asdict(self)


def _nearest(queries: np.ndarray, references: np.ndarray, *, exclude_self: bool) -> np.ndarray:
    """(Q,) Euclidean distance of each query row to its nearest reference row, in blocks (memory
    Q_block x R, not Q x R x D)."""
    out = np.empty(len(queries))
    ref_sq = (references**2).sum(1)
    for start in range(0, len(queries), 256):
        block = queries[start : start + 256]
        d2 = (block**2).sum(1)[:, None] + ref_sq[None, :] - 2 * block @ references.T
        if exclude_self:
            rows = np.arange(len(block))
            d2[rows, start + rows] = np.inf
        out[start : start + len(block)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def novelty(training: np.ndarray, generated: np.ndarray, *, quantile: float = 0.05) -> Novelty:
    """training (N, D), generated (M, D) feature rows (e.g. flattened log-mels) -> Novelty."""
    training, generated = np.asarray(training, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    if training.ndim != 2 or generated.ndim != 2 or training.shape[1] != generated.shape[1]:
        raise MetricError(f"novelty: feature rows of one width expected, got {training.shape} and {generated.shape}")
    if len(training) < 2 or len(generated) < 1:
        raise MetricError(f"novelty: needs at least 2 training and 1 generated items (got {len(training)}, {len(generated)})")
    if not 0 < quantile < 1:
        raise MetricError(f"novelty: quantile={quantile}: expected 0 < quantile < 1")
    own = _nearest(training, training, exclude_self=True)
    theirs = _nearest(generated, training, exclude_self=False)
    threshold = float(np.quantile(own, quantile))
    median_own = float(np.median(own))
    return Novelty(near_copy_share=float((theirs < threshold).mean()), threshold=threshold,
                   median_ratio=float(np.median(theirs) / median_own) if median_own > 0 else float("inf"),
                   quantile=quantile, generated=len(generated), training=len(training))
