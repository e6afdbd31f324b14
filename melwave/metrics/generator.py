"""Generator metrics that need no reference pairs: condition accuracy and an Inception-score-like
diversity figure from a condition classifier, and NDB from clustering.

A classifier is any callable `classify(mels) -> {condition: (N, K) class probabilities}` taking
(N, n_mels, frames) mels; melwave's own condition classifier fits that shape, and tests use a
tiny one built on the spot.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping

import numpy as np

from melwave.metrics.frechet import MetricError
from melwave.utils.optional import require

Classifier = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass
class ConditionScore:
    condition: str
    accuracy: float            # fraction of generated items classified as their requested value
    per_value: dict[str, float]
    inception_score: float     # exp(E_x KL(p(y|x) || p(y))), 1 … number of values
    items: int

    def to_dict(self) -> dict:
        return asdict(self)


def inception_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) for (N, K) rows of class probabilities (Salimans et al. 2016).

    1 when every item gets the same distribution; K when items are confidently classified and
    spread evenly over all K classes. Computed on the whole set (no splits) and reported per
    condition (GANSynth's pitch IS, generalised).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise MetricError(f"inception_score: expected (N, K) probabilities, got shape {probs.shape}")
    probs = probs / probs.sum(axis=1, keepdims=True)
    marginal = probs.mean(axis=0, keepdims=True)
    kl = np.sum(probs * (np.log(probs + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def condition_scores(probabilities: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                     vocabularies: Mapping[str, list[str]]) -> list[ConditionScore]:
    """Per condition: accuracy of argmax predictions against the requested labels (N,) ints,
    accuracy per requested value, and the IS-like figure."""
    scores = []
    for condition, probs in probabilities.items():
        probs = np.asarray(probs)
        if condition not in labels:
            continue
        truth = np.asarray(labels[condition])
        if len(truth) != len(probs):
            raise MetricError(f"condition {condition!r}: {len(probs)} predictions for {len(truth)} labels")
        predicted = probs.argmax(axis=1)
        vocab = list(vocabularies.get(condition, [str(i) for i in range(probs.shape[1])]))
        per_value = {}
        for index, name in enumerate(vocab):
            mask = truth == index
            if mask.any():
                per_value[name] = float((predicted[mask] == index).mean())
        scores.append(ConditionScore(condition, float((predicted == truth).mean()) if len(truth) else math.nan, per_value,
                                     inception_score(probs), len(truth)))
    return scores


def kmeans(features: np.ndarray, clusters: int, *, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding -> (clusters, D) centroids."""
    features = np.asarray(features, dtype=np.float64)
    rng = np.random.default_rng(seed)
    centroids = [features[rng.integers(len(features))]]
    for _ in range(1, clusters):
        distance = np.min(((features[:, None, :] - np.asarray(centroids)[None]) ** 2).sum(-1), axis=1)
        total = distance.sum()
        choice = rng.choice(len(features), p=distance / total) if total > 0 else rng.integers(len(features))
        centroids.append(features[choice])
    centroids = np.asarray(centroids)
    for _ in range(iterations):
        assign = assign_bins(features, centroids)
        updated = np.array([features[assign == k].mean(axis=0) if np.any(assign == k) else centroids[k] for k in range(clusters)])
        if np.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def assign_bins(features: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    distance = (features ** 2).sum(1)[:, None] - 2 * features @ centroids.T + (centroids ** 2).sum(1)[None]
    return distance.argmin(axis=1)


@dataclass
class NDBResult:
    ndb: int           # number of statistically different bins
    bins: int
    alpha: float
    real_items: int
    fake_items: int

    @property
    def fraction(self) -> float:
        return self.ndb / self.bins

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction": self.fraction}


def number_of_different_bins(real: np.ndarray, fake: np.ndarray, *, bins: int | None = None, alpha: float = 0.05,
                             seed: int = 0) -> NDBResult:
    """NDB (Richardson & Weiss 2018): cluster the real features into `bins` cells (k-means), put
    both sets into the nearest cell, and count cells whose real and generated proportions differ
    by a two-proportion z-test at level `alpha`. 0 is best; a mode-collapsed generator scores high.
    Default bins: min(50, N_real // 10), at least 2.
    """
    real = np.asarray(real, dtype=np.float64)
    fake = np.asarray(fake, dtype=np.float64)
    if len(real) < 4 or len(fake) < 2:
        raise MetricError(f"NDB needs at least 4 real and 2 generated items, got {len(real)} and {len(fake)}")
    bins = bins or max(2, min(50, len(real) // 10))
    bins = min(bins, len(real))
    centroids = kmeans(real, bins, seed=seed)
    p_real = np.bincount(assign_bins(real, centroids), minlength=bins) / len(real)
    p_fake = np.bincount(assign_bins(fake, centroids), minlength=bins) / len(fake)
    pooled = (p_real * len(real) + p_fake * len(fake)) / (len(real) + len(fake))
    se = np.sqrt(pooled * (1 - pooled) * (1 / len(real) + 1 / len(fake)))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, (p_real - p_fake) / se, 0.0)
    p_values = 2 * require("scipy.stats", "NDB's p-values").norm.sf(np.abs(z))
    return NDBResult(int(np.sum(p_values < alpha)), bins, alpha, len(real), len(fake))
