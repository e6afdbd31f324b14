import numpy as np
import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.audio.features import mel_spectrogram
from melwave.metrics.fid import (STYLE_DEFAULT, STYLE_SOURCE, ImageStyle, inception_features, raw_mel_features,
                                 render_mel_image, resize_like_fid_helper)
from melwave.metrics.frechet import MetricError, frechet_distance_features

CFG = PRESETS["cwgan-22k-log"]


def note(freq, gain=0.3, seconds=0.8, seed=0):
    rate = CFG.sample_rate
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    wave = sum(gain / k * np.sin(2 * np.pi * k * freq * t + rng.uniform(0, 6)) for k in range(1, 6)) * np.exp(-3 * t)
    return mel_spectrogram(wave.astype(np.float32), CFG)


def test_render_uses_a_fixed_range_not_per_image_normalisation():
    quiet, loud = note(220.0, gain=0.03), note(220.0, gain=0.3)
    a, b = render_mel_image(quiet, CFG), render_mel_image(loud, CFG)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)  # a louder note must look different
    # jet: silence (below vmin) is the colormap's first colour, dark blue.
    silent = render_mel_image(torch.full((128, 64), -11.5), CFG)
    assert np.all(silent == silent[0, 0]) and silent[0, 0, 2] > 100 and silent[0, 0, 0] < 10
    # Low frequencies at the bottom: a low note's energy is in the bottom rows.
    rows = render_mel_image(note(110.0), CFG).astype(float).sum(axis=(1, 2))
    assert rows[-32:].mean() > rows[:32].mean()


def test_source_style_renders_linear_power_like_the_source():
    mel = torch.full((128, 128), np.log(2.5))  # log-compressed power 2.5 -> middle of [0, 5]
    image = render_mel_image(mel, CFG, STYLE_SOURCE)
    import matplotlib

    expected = (np.array(matplotlib.colormaps["jet"](0.5)[:3]) * 255).round()
    assert np.abs(image[64, 64].astype(float) - expected).max() <= 4
    with pytest.raises(MetricError):
        ImageStyle(vmin=1.0, vmax=0.0)


@pytest.mark.float_sensitive
def test_resize_matches_fid_helper_definition():
    # "nv_bilinear": a constant image stays constant, and a 299x299 input is returned unchanged.
    x = torch.rand(2, 3, 299, 299)
    torch.testing.assert_close(resize_like_fid_helper(x), x, atol=1e-4, rtol=0)
    const = torch.full((1, 3, 128, 128), 0.25)
    torch.testing.assert_close(resize_like_fid_helper(const), torch.full((1, 3, 299, 299), 0.25))


def _features(freqs, seed=0):
    return inception_features(np.stack([render_mel_image(note(f, seed=seed + i), CFG) for i, f in enumerate(freqs)]))


@pytest.mark.float_sensitive
def test_inception_features_and_fid_on_mel_images():
    # Kept to four images: Inception-v3 costs ~0.5 s per image on one CPU core.
    low, high = _features([110.0, 130.0]), _features([1500.0, 2500.0])
    assert low.shape == (2, 2048) and np.all(low >= 0)  # pool features after ReLU
    assert frechet_distance_features(low, low) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance_features(low, high) > 1.0


@pytest.mark.slow
def test_inception_fid_orders_similar_and_different_sets():
    low = _features(np.linspace(100, 140, 8))
    low2 = _features(np.linspace(102, 142, 8), seed=10)
    high = _features(np.linspace(1500, 2500, 8))
    near = frechet_distance_features(low, low2)
    far = frechet_distance_features(low, high)
    assert 0 < near < far


def test_raw_mel_features():
    features = raw_mel_features(note(220.0), CFG)
    assert features.shape == (512,) and features.min() >= 0 and features.max() <= 1
    short = raw_mel_features(note(220.0, seconds=0.05), CFG)  # fewer frames than the grid
    assert short.shape == (512,)
    assert not np.allclose(features, raw_mel_features(note(880.0), CFG))
    assert STYLE_DEFAULT.scale == "db"
