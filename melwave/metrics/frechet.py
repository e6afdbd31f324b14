"""Distances between two sets of feature vectors: Fréchet distance (FID/FAD), KID, and the
sample-count extrapolation FD∞.

features: (N, D) float arrays, one row per item. Everything is computed in float64.

The Fréchet distance between N(mu1, S1) and N(mu2, S2) is
    |mu1 - mu2|² + tr(S1) + tr(S2) - 2·tr((S1 S2)^½).
`scipy.linalg.sqrtm(S1 @ S2)` of the non-symmetric product can come back complex or with a
negative trace on near-singular covariances (few samples, many dimensions). We use the
symmetric form instead: (S1 S2)^½ has the same eigenvalues as (S1^½ S2 S1^½)^½, which is
symmetric positive semi-definite, so `eigh` gives real eigenvalues; the tiny negative ones
round-off produces are clipped to 0. The result is then real, >= 0 and symmetric in its
arguments up to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melwave.errors import MelwaveError


class MetricError(MelwaveError):
    """A metric cannot be computed from what it was given (too few items, bad shapes)."""


@dataclass(frozen=True)
class GaussianStats:
    """Mean (D,) and covariance (D, D) of a feature set, with the item count it came from."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


def _as_features(features: np.ndarray, what: str = "features") -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise MetricError(f"{what}: expected (N, D) feature rows, got shape {features.shape}")
    if not np.isfinite(features).all():
        raise MetricError(f"{what}: features contain NaN or infinite values")
    return features


def gaussian_stats(features: np.ndarray, *, what: str = "features") -> GaussianStats:
    """(N, D) -> GaussianStats; needs N >= 2 for a covariance."""
    features = _as_features(features, what)
    if features.shape[0] < 2:
        raise MetricError(f"{what}: need at least 2 items for a covariance, got {features.shape[0]}")
    return GaussianStats(features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1), features.shape[0])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh (negatives clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^½) computed as tr((S1^½ S2 S1^½)^½), always real."""
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(a: GaussianStats, b: GaussianStats) -> float:
    """Fréchet distance between two Gaussians (>= 0, symmetric)."""
    if a.mu.shape != b.mu.shape:
        raise MetricError(f"feature sizes differ: {a.mu.shape[0]} vs {b.mu.shape[0]}")
    diff = a.mu - b.mu
    value = float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * trace_sqrt_product(a.sigma, b.sigma))
    # Round-off can leave -1e-12 for identical sets; a distance is never negative.
    return max(value, 0.0)


def frechet_distance_features(real: np.ndarray, fake: np.ndarray) -> float:
    return frechet_distance(gaussian_stats(real, what="reference set"), gaussian_stats(fake, what="evaluated set"))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): unbiased MMD² with the kernel k(x, y) = (x·y / D + 1)³,
    averaged over `subsets` random subsets of min(subset_size, N_real, N_fake) items each.

    Returns (mean, standard deviation over subsets). Unbiased, so it can be slightly negative
    for sets drawn from the same distribution; that is expected, not clipped.
    """
    real = _as_features(real, "reference set")
    fake = _as_features(fake, "evaluated set")
    if real.shape[1] != fake.shape[1]:
        raise MetricError(f"feature sizes differ: {real.shape[1]} vs {fake.shape[1]}")
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise MetricError(f"KID needs at least 2 items in each set, got {real.shape[0]} and {fake.shape[0]}")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(real.shape[0], m, replace=False)]
        y = fake[rng.choice(fake.shape[0], m, replace=False)]
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        # Unbiased: leave out the diagonal self-similarities of the within-set kernels.
        values[i] = ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1)) + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                     - 2 * k_xy.mean())
    return float(values.mean()), float(values.std())


@dataclass(frozen=True)
class Extrapolated:
    """FD∞: the intercept of a line fitted to FD(N) against 1/N (N = evaluated items used)."""

    value: float
    slope: float
    counts: tuple[int, ...]
    distances: tuple[float, ...]


def frechet_distance_infinity(real: np.ndarray, fake: np.ndarray, *, points: int = 15, min_count: int | None = None,
                              seed: int = 0) -> Extrapolated:
    """Extrapolate the Fréchet distance to infinitely many evaluated items.

    FD is biased upwards by roughly c/N for N evaluated items (Chong & Forsyth 2020, "Effectively
    Unbiased FID"; used for FAD by Gui et al. 2024). We compute FD on random subsets of the
    evaluated set at `points` sizes between `min_count` (default N/5, at least 2) and N, fit
    FD = FD∞ + slope / N by least squares and report the intercept. The reference set is used whole.
    """
    real = _as_features(real, "reference set")
    fake = _as_features(fake, "evaluated set")
    n = fake.shape[0]
    low = max(2, min_count if min_count is not None else n // 5)
    if n < 3 or low >= n:
        raise MetricError(f"FD∞ needs at least 3 evaluated items (and min_count < N), got N={n}, min_count={low}")
    reference = gaussian_stats(real, what="reference set")
    rng = np.random.default_rng(seed)
    counts = sorted(set(np.linspace(low, n, points).round().astype(int).tolist()))
    distances = []
    for count in counts:
        subset = fake[rng.choice(n, count, replace=False)]
        distances.append(frechet_distance(reference, gaussian_stats(subset)))
    slope, intercept = np.polyfit(1.0 / np.asarray(counts, dtype=np.float64), np.asarray(distances), 1)
    return Extrapolated(float(intercept), float(slope), tuple(counts), tuple(float(d) for d in distances))
