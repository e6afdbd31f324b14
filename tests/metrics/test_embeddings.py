import importlib.util
import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from melwave.errors import CheckpointError
from melwave.metrics.embeddings import EmbeddingCache, get_embedding
from melwave.metrics.embeddings.vggish import VGGish, VGGishNetwork, vggish_examples, vggish_mel_matrix
from melwave.metrics.fad import embed_files, fad_from_sets, frechet_audio_distance

HAS_AISFX = importlib.util.find_spec("aisfx") is not None


def tone(freq, seconds=1.0, rate=16000, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (0.4 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.01 * rng.normal(size=len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def vggish_files(tmp_path_factory):
    """Weights in the torchvggish layout (random values), saved as the real files are: a plain state dict."""
    root = tmp_path_factory.mktemp("vggish")
    generator = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VGGishNetwork().state_dict().items()}
    # Fan-in scaled random values: activations stay O(1) through all layers.
    state = {k: torch.randn(shape, generator=generator) * (2.0 / (shape[1:].numel() if len(shape) > 1 else 1e4)) ** 0.5
             for k, shape in shapes.items()}
    network = VGGishNetwork()
    network.load_state_dict(state)
    weights = root / "vggish-test.pth"
    torch.save(state, weights)
    q, _ = torch.linalg.qr(torch.randn(128, 128))
    pca = root / "vggish_pca_params-test.pth"
    torch.save({"pca_eigen_vectors": q, "pca_means": torch.randn(128, 1)}, pca)
    return weights, pca, network


@pytest.fixture(scope="module")
def vggish_model(vggish_files):
    return VGGish(vggish_files[0])


def test_vggish_state_dict_layout_is_torchvggish():
    keys = {k: tuple(v.shape) for k, v in VGGishNetwork().state_dict().items()}
    assert keys["features.0.weight"] == (64, 1, 3, 3)
    assert keys["features.13.weight"] == (512, 512, 3, 3)
    assert keys["embeddings.0.weight"] == (4096, 12288)
    assert keys["embeddings.4.weight"] == (128, 4096)
    assert len(keys) == 18


def test_vggish_front_end():
    matrix = vggish_mel_matrix()
    assert matrix.shape == (257, 64) and np.all(matrix[0] == 0)
    # Triangles span 125-7500 Hz: nothing below the first edge or above the last.
    freqs = np.linspace(0, 8000, 257)
    assert np.all(matrix[freqs < 125] == 0) and np.all(matrix[freqs > 7500] == 0)
    assert vggish_examples(np.zeros(16000 * 2)).shape == (2, 96, 64)   # 0.96 s examples
    assert vggish_examples(np.zeros(1000)).shape == (1, 96, 64)        # short clips padded to one
    # A 1 kHz tone lights the band around 1 kHz.
    examples = vggish_examples(tone(1000.0))
    center = np.argmax(examples[0].mean(0))
    band_centers = np.array([np.sum(freqs * matrix[:, i]) / np.sum(matrix[:, i]) for i in range(64)])
    assert abs(band_centers[center] - 1000) < 120


@pytest.mark.float_sensitive
def test_vggish_loads_standard_layout_and_embeds(vggish_files, vggish_model):
    weights, pca, network = vggish_files
    model = vggish_model
    assert model.name == "vggish"
    out = model.embed(tone(440.0, seconds=2.0))
    assert out.shape == (2, 128) and np.all(out >= 0)  # after the final ReLU
    # Same numbers as the network we saved: the loader kept every weight.
    expected = network(torch.from_numpy(vggish_examples(tone(440.0, seconds=2.0)))[:, None]).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    with_pca = VGGish(weights, pca)
    assert with_pca.name == "vggish-pca" and with_pca.cache_key != model.cache_key
    assert with_pca.embed(tone(440.0)).shape == (1, 128)


def test_vggish_rejects_wrong_files(tmp_path, vggish_files):
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(CheckpointError, match="torchvggish layout"):
        VGGish(bad)
    with pytest.raises(CheckpointError, match="no such"):
        VGGish(tmp_path / "missing.pth")
    pca = tmp_path / "pca.pth"
    torch.save({"pca_means": torch.zeros(128, 1)}, pca)
    with pytest.raises(CheckpointError, match="pca_eigen_vectors"):
        VGGish(vggish_files[0], pca)
    with pytest.raises(Exception, match="needs its weights"):
        get_embedding("vggish")


def _write_set(root, freqs, rate=16000, seconds=1.0, seed=0):
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, f in enumerate(freqs):
        path = root / f"clip{i:02d}.wav"
        sf.write(path, tone(f, seconds, rate, seed=seed + i), rate)
        paths.append(path)
    return paths


@pytest.mark.float_sensitive
def test_fad_with_vggish_properties_and_cache(tmp_path, vggish_model):
    model = vggish_model
    low = _write_set(tmp_path / "low", np.linspace(200, 300, 6), seconds=2.0)
    low2 = _write_set(tmp_path / "low2", np.linspace(205, 305, 6), seconds=2.0, seed=50)
    high = _write_set(tmp_path / "high", np.linspace(2000, 3000, 6), seconds=2.0)
    cache = EmbeddingCache(tmp_path / "cache")
    same = frechet_audio_distance(low, low, model, cache=cache)
    assert same.fad == pytest.approx(0.0, abs=1e-6)
    assert (same.reference_clips, same.evaluated_clips) == (6, 6)
    assert same.reference_seconds == pytest.approx(12.0) and same.label == "FAD[vggish]"
    assert "FAD[vggish]" in same.summary() and "6 clips / 12.0 s" in same.summary()
    assert cache.misses == 6 and cache.hits == 6  # the second pass over `low` came from the cache
    near = frechet_audio_distance(low, low2, model, cache=cache).fad
    far = frechet_audio_distance(low, high, model, cache=cache).fad
    assert 0 < near < far
    assert frechet_audio_distance(high, low, model, cache=cache).fad == pytest.approx(far, rel=1e-6)


def test_cache_key_changes_when_file_is_rewritten(tmp_path, vggish_model):
    model = vggish_model
    (path,) = _write_set(tmp_path / "a", [440.0])
    cache = EmbeddingCache(tmp_path / "cache")
    first = embed_files([path], model, cache=cache).rows
    time.sleep(0.01)
    sf.write(path, tone(3000.0), 16000)
    os.utime(path, None)
    second = embed_files([path], model, cache=cache).rows
    assert cache.misses == 2 and cache.hits == 0
    assert not np.allclose(first, second)
    embed_files([path], model, cache=cache)
    assert cache.hits == 1


def test_unreadable_clips_are_skipped_and_reported(tmp_path, vggish_model):
    model = vggish_model
    good = _write_set(tmp_path / "a", [440.0, 550.0])
    bad = tmp_path / "a" / "broken.wav"
    bad.write_bytes(b"")
    result = embed_files(good + [bad], model)
    assert result.clips == 2 and len(result.skipped) == 1 and "broken.wav" in result.skipped[0]
    fad = fad_from_sets(result, embed_files(good[:1], model), "vggish")
    assert np.isnan(fad.fad) and "at least 2" in fad.note


@pytest.mark.skipif(not HAS_AISFX, reason="aisfx (offline FAD embedding weights) not installed: pip install --no-deps aisfx==0.1.2")
def test_aisfx_offline_embedding_separates_sounds(tmp_path):
    model = get_embedding("aisfx")
    assert model.name == "aisfx" and model.dim == 512
    rate = model.sample_rate
    a = model.embed(tone(300.0, seconds=2.4, rate=rate))
    b = model.embed(tone(300.0, seconds=2.4, rate=rate, seed=9))
    c = model.embed((np.random.default_rng(0).normal(size=int(2.4 * rate)) * 0.2).astype(np.float32))
    assert a.shape == (1, 512) and np.all(np.isfinite(a))
    assert np.linalg.norm(a - b) < 0.5 * np.linalg.norm(a - c)
