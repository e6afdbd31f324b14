"""Generator metrics that need no reference pairs: condition accuracy and an Inception-score-like
diversity figure from a condition classifier, its modified form (mIS: diversity within each
requested class), NDB from clustering, and the Fréchet distance per class of a label.

A classifier is any callable `classify(mels) -> {condition: (N, K) class probabilities}` taking
(N, n_mels, frames) mels; melwave's own condition classifier fits that shape, and tests use a
tiny one built on the spot.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping

import numpy as np

from melwave.metrics.frechet import MetricError, frechet_distance_features
from melwave.utils.optional import require

Classifier = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass
class ConditionScore:
    condition: str
    accuracy: float            # fraction of generated items classified as their requested value
    per_value: dict[str, float]
    inception_score: float     # exp(E_x KL(p(y|x) || p(y))), 1 … number of values
    items: int
    modified_inception_score: float = math.nan  # exp(E_y E_{i,j in y} KL(p(y|x_i) || p(y|x_j))), >= 1

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


def modified_inception_score(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """mIS (Gurumurthy et al. 2017, DeLiGAN): exp of the mean KL(p(y|x_i) ‖ p(y|x_j)) over ordered
    pairs of items generated for the same class, averaged over classes.

    (N, K) probabilities, (N,) requested classes. 1 when all items of each class get the same
    distribution (no diversity within a class, which IS cannot see); it grows with how differently
    the classifier sees items of one class. Unlike IS it is not bounded by K (a KL between two
    posteriors is unbounded); it is at least exp(E_y I_y), the IS computed within each class, which
    is. Classes with fewer than 2 items are left out; none with 2 gives NaN.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels):
        raise MetricError(f"modified_inception_score: expected (N, K) probabilities and (N,) labels, got {probs.shape} "
                          f"and {labels.shape}")
    probs = probs / probs.sum(axis=1, keepdims=True)
    logs = np.log(probs + eps)
    per_class = []
    for value in np.unique(labels):
        group, log_group = probs[labels == value], logs[labels == value]
        n = len(group)
        if n < 2:
            continue
        # KL(p_i ‖ p_j) = Σ p_i log p_i − Σ p_i log p_j, for every pair at once; the diagonal is 0.
        cross = group @ log_group.T
        kl = np.sum(group * log_group, axis=1)[:, None] - cross
        per_class.append(kl.sum() / (n * (n - 1)))
    return float(np.exp(np.mean(per_class))) if per_class else math.nan


@dataclass
class PerClassFrechet:
    """Fréchet distance computed separately per class (a value, or a combination of values)."""

    key: tuple[str, ...]       # the conditions naming a class, e.g. ("instrument", "pitch")
    min_items: int             # classes with fewer real or generated items were left out
    per_class: dict[str, float]
    skipped: int               # classes present in both sets but too small

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.per_class.values()))) if self.per_class else math.nan

    @property
    def sd(self) -> float:
        return float(np.std(list(self.per_class.values()))) if self.per_class else math.nan

    def to_dict(self) -> dict:
        return {"key": list(self.key), "min_items": self.min_items, "mean": self.mean, "sd": self.sd,
                "classes": len(self.per_class), "skipped": self.skipped, "per_class": self.per_class}


def per_class_frechet(real: np.ndarray, real_classes: list[str], fake: np.ndarray, fake_classes: list[str], *,
                      key: tuple[str, ...], min_items: int = 5) -> PerClassFrechet:
    """The Fréchet distance of each class's real (N, D) and generated (M, D) feature rows, for the
    classes both sets have at least `min_items` of (`*_classes`: one class name per row)."""
    if min_items < 2:
        raise MetricError(f"per-class FID: min_items={min_items}; a covariance needs at least 2 items")
    real, fake = np.asarray(real), np.asarray(fake)
    real_groups: dict[str, list[int]] = {}
    fake_groups: dict[str, list[int]] = {}
    for row, name in enumerate(real_classes):
        real_groups.setdefault(name, []).append(row)
    for row, name in enumerate(fake_classes):
        fake_groups.setdefault(name, []).append(row)
    shared = [name for name in fake_groups if name in real_groups]
    per_class, skipped = {}, 0
    for name in shared:
        if min(len(real_groups[name]), len(fake_groups[name])) < min_items:
            skipped += 1
            continue
        per_class[name] = frechet_distance_features(real[real_groups[name]], fake[fake_groups[name]])
    return PerClassFrechet(tuple(key), min_items, per_class, skipped)


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
                                     inception_score(probs), len(truth), modified_inception_score(probs, truth)))
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
