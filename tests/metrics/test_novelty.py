"""Novelty tells a generator that copies its training clips from one that draws new ones."""

from __future__ import annotations

import numpy as np
import pytest

from melwave.metrics.frechet import MetricError
from melwave.metrics.novelty import _nearest, novelty


def test_copies_are_near_copies_and_new_draws_are_not():
    rng = np.random.default_rng(0)
    training = rng.normal(size=(300, 16))
    copies = training[rng.integers(0, 300, 100)] + rng.normal(scale=1e-3, size=(100, 16))
    fresh = rng.normal(size=(100, 16))
    copied, drawn = novelty(training, copies), novelty(training, fresh)
    assert copied.near_copy_share > 0.95 and copied.median_ratio < 0.01
    assert drawn.near_copy_share < 0.2 and 0.7 < drawn.median_ratio < 1.5


@pytest.mark.float_sensitive
def test_nearest_excludes_only_the_item_itself_and_matches_brute_force():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 5)), rng.normal(size=(40, 5))
    brute = np.sqrt(((b[:, None] - a[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(_nearest(b, a, exclude_self=False), brute, rtol=1e-9)
    full = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(_nearest(a, a, exclude_self=True), full.min(1), rtol=1e-6, atol=1e-9)


def test_bad_inputs_are_metric_errors():
    with pytest.raises(MetricError, match="at least 2 training"):
        novelty(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(MetricError, match="one width"):
        novelty(np.zeros((5, 3)), np.zeros((4, 2)))
