import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from melwave.metrics.frechet import (MetricError, frechet_distance, frechet_distance_features, frechet_distance_infinity,
                                     gaussian_stats, kernel_inception_distance)


def sample(n=400, d=8, shift=0.0, scale=1.0, seed=0):
    # The mixing matrix is fixed, so equal shift/scale means the same distribution whatever the seed.
    mix = np.random.default_rng(12345).normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ mix * scale + shift


@pytest.mark.float_sensitive
def test_identical_sets_have_zero_distance():
    a = sample()
    assert frechet_distance_features(a, a) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.float_sensitive
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 12))
def test_symmetric_and_non_negative(seed, d):
    a, b = sample(60, d, seed=seed), sample(80, d, shift=0.3, scale=1.5, seed=seed + 1)
    ab, ba = frechet_distance_features(a, b), frechet_distance_features(b, a)
    assert ab >= 0 and np.isfinite(ab)
    assert ab == pytest.approx(ba, rel=1e-6, abs=1e-9)


@pytest.mark.float_sensitive
def test_grows_monotonically_with_mean_shift():
    a = sample()
    distances = [frechet_distance_features(a, a + shift) for shift in (0.0, 0.1, 0.5, 1.0, 3.0)]
    assert all(x < y for x, y in zip(distances, distances[1:]))
    # A pure mean shift of s in every one of d dimensions adds exactly d·s².
    assert distances[-1] == pytest.approx(8 * 9.0, rel=1e-6)


@pytest.mark.float_sensitive
def test_matches_textbook_formula_when_well_conditioned():
    a, b = sample(500, 6, seed=1), sample(500, 6, shift=0.2, scale=0.7, seed=2)
    sa, sb = gaussian_stats(a), gaussian_stats(b)
    root = scipy.linalg.sqrtm(sa.sigma @ sb.sigma).real
    textbook = np.sum((sa.mu - sb.mu) ** 2) + np.trace(sa.sigma + sb.sigma - 2 * root)
    assert frechet_distance(sa, sb) == pytest.approx(textbook, rel=1e-6)


@pytest.mark.float_sensitive
def test_singular_covariances_stay_real_and_non_negative():
    # Fewer items than dimensions: rank-deficient covariances, where sqrtm(S1 S2) goes complex.
    a, b = sample(10, 64, seed=3), sample(12, 64, seed=4)
    value = frechet_distance_features(a, b)
    assert isinstance(value, float) and value >= 0 and np.isfinite(value)
    assert frechet_distance_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    a = sample(300, 16, seed=5)
    # Unbiased: over independent draws of the same distribution it averages to ~0 (either sign).
    same = [kernel_inception_distance(sample(300, 16, seed=s), sample(300, 16, seed=s + 100), subsets=10, subset_size=200)[0]
            for s in range(6)]
    small, _ = kernel_inception_distance(a, sample(300, 16, seed=6) + 0.3, subsets=10, subset_size=200)
    large, _ = kernel_inception_distance(a, sample(300, 16, seed=6) + 1.0, subsets=10, subset_size=200)
    assert abs(np.mean(same)) < 0.1 * small
    assert 0 < small < large


def test_fd_infinity_removes_the_small_sample_bias():
    # Same distribution: FD(N) > 0 only through finite-sample bias; FD∞ should be near 0.
    a, b = sample(4000, 16, seed=7), sample(600, 16, seed=8)
    result = frechet_distance_infinity(a, b, points=10, min_count=50)
    assert result.slope > 0
    assert abs(result.value) < 0.3 * frechet_distance_features(a, b[:50])


def test_bad_inputs_are_reported():
    with pytest.raises(MetricError, match="at least 2"):
        gaussian_stats(np.zeros((1, 3)))
    with pytest.raises(MetricError, match="NaN"):
        gaussian_stats(np.full((3, 3), np.nan))
    with pytest.raises(MetricError, match="sizes differ"):
        frechet_distance_features(np.zeros((4, 3)), np.zeros((4, 2)))
