import numpy as np
import pytest
import torch
from torch import nn

from melwave.metrics.frechet import MetricError
from melwave.metrics.generator import condition_scores, inception_score, kmeans, number_of_different_bins


@pytest.mark.float_sensitive
def test_inception_score_bounds():
    k = 5
    assert inception_score(np.full((20, k), 1 / k)) == pytest.approx(1.0)
    confident_even = np.eye(k)[np.arange(50) % k]
    assert inception_score(confident_even) == pytest.approx(k, rel=1e-6)
    collapsed = np.eye(k)[np.zeros(50, dtype=int)]
    assert inception_score(collapsed) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    mixed = rng.dirichlet(np.ones(k), size=100)
    assert 1.0 < inception_score(mixed) < k


def test_ndb_same_distribution_few_bins_collapsed_many():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(8, 4)) * 5
    real = centers[rng.integers(8, size=800)] + rng.normal(size=(800, 4))
    fake_good = centers[rng.integers(8, size=400)] + rng.normal(size=(400, 4))
    fake_collapsed = centers[np.zeros(400, dtype=int)] + rng.normal(size=(400, 4))
    good = number_of_different_bins(real, fake_good, bins=8)
    bad = number_of_different_bins(real, fake_collapsed, bins=8)
    assert good.ndb <= 2
    assert bad.ndb >= 6 and bad.fraction >= 0.75
    with pytest.raises(MetricError):
        number_of_different_bins(real[:2], fake_good)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0], [10, 0], [0, 10]], dtype=float)
    points = centers[rng.integers(3, size=300)] + 0.3 * rng.normal(size=(300, 2))
    found = kmeans(points, 3)
    assert np.sort(np.linalg.norm(found[:, None] - centers[None], axis=-1).min(axis=1)).max() < 0.3


class TinyConditionClassifier(nn.Module):
    """Two heads on pooled mel bands: 'pitch' (low/high) and 'loudness' (soft/loud)."""

    def __init__(self, n_mels):
        super().__init__()
        self.pitch = nn.Linear(n_mels, 2)
        self.loudness = nn.Linear(n_mels, 2)

    def forward(self, mels):
        x = mels.mean(dim=-1)
        return {"pitch": self.pitch(x), "loudness": self.loudness(x)}


def synth_mels(pitch, loud, n_mels=16, frames=8, seed=0):
    n = len(pitch)
    g = torch.Generator().manual_seed(seed)
    mels = torch.randn(n, n_mels, frames, generator=g) * 0.3 - 4
    band = torch.where(torch.as_tensor(pitch) == 0, 3, 12)
    for i in range(n):
        mels[i, band[i] - 1:band[i] + 2] += 2 + 2 * loud[i]
    return mels


def test_condition_accuracy_with_a_tiny_trained_classifier():
    rng = np.random.default_rng(0)
    pitch, loud = rng.integers(2, size=200), rng.integers(2, size=200)
    mels = synth_mels(pitch, loud)
    model = TinyConditionClassifier(16)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    targets = {"pitch": torch.as_tensor(pitch), "loudness": torch.as_tensor(loud)}
    for _ in range(150):
        out = model(mels)
        loss = sum(nn.functional.cross_entropy(out[k], targets[k]) for k in out)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def classify(batch):
        with torch.no_grad():
            return {k: v.softmax(-1).numpy() for k, v in model(batch).items()}

    vocab = {"pitch": ["low", "high"], "loudness": ["soft", "loud"]}
    # "Generated" items that follow their conditions: high accuracy.
    p2, l2 = rng.integers(2, size=60), rng.integers(2, size=60)
    good = condition_scores(classify(synth_mels(p2, l2, seed=1)), {"pitch": p2, "loudness": l2}, vocab)
    assert {s.condition: s.accuracy for s in good} == {"pitch": pytest.approx(1.0, abs=0.05), "loudness": pytest.approx(1.0, abs=0.1)}
    assert set(good[0].per_value) == {"low", "high"}
    assert all(s.inception_score > 1.5 for s in good)
    # A generator that ignores the pitch condition (always low): pitch accuracy ~ the share asking for low.
    ignored = condition_scores(classify(synth_mels(np.zeros(60, int), l2, seed=2)), {"pitch": p2, "loudness": l2}, vocab)
    by_name = {s.condition: s for s in ignored}
    assert by_name["pitch"].accuracy == pytest.approx((p2 == 0).mean(), abs=0.05)
    assert by_name["pitch"].per_value["high"] < 0.1
    assert by_name["pitch"].inception_score < 1.2
    with pytest.raises(MetricError):
        condition_scores({"pitch": np.ones((3, 2))}, {"pitch": np.zeros(4, int)}, vocab)
