"""The source-system presets equal the sources' own analyses on every frame, edge frames included.

References: `source_references.py` (numpy float64, written from the sources' definitions) and, for
the MelGAN tutorial, a golden file computed by TensorFlow itself (tests/goldens/melgan_keras_mel/).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from source_references import keras_tutorial_mel, tf_mel_weight_matrix, torchaudio_mel

from melwave.audio.config import PRESETS
from melwave.audio.features import MelExtractor, compress, decompress, mel_basis, mel_spectrogram
from repo_paths import GOLDENS
from testsignals import chirp_mix

GOLDEN_TF = GOLDENS / "melgan_keras_mel" / "golden.npz"

# Every test here compares melwave's analysis with a source's own, within float32 rounding.
pytestmark = pytest.mark.float_sensitive


def _clip(sample_rate: int, num_samples: int, seed: int = 0) -> np.ndarray:
    # Loud at both ends (no fade), so the padding at the edges shows in the first and last frames.
    return chirp_mix(sample_rate, num_samples / sample_rate + 0.01, seed, dtype=np.float64)[:num_samples]


@pytest.mark.parametrize("name, num_samples", [("cwgan-22k", 32768), ("cwgan-strips-22k", 44161)])
def test_cwgan_presets_equal_torchaudio_zero_padded_mels(name, num_samples):
    # 32768 samples is the source's training crop: 128 frames, the first and last two of which
    # reach into the (n_fft - hop)/2 padding; 44161 gives the strips' 128 frames at hop 345.
    cfg = PRESETS[name]
    wave = _clip(cfg.sample_rate, num_samples)
    reference = torchaudio_mel(wave, sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop=cfg.hop_length,
                               n_mels=cfg.n_mels, f_min=cfg.fmin, f_max=cfg.resolved_fmax)
    ours = mel_spectrogram(wave.astype(np.float32), cfg).double().numpy()
    assert ours.shape == reference.shape == (cfg.n_mels, cfg.num_frames(num_samples))
    # float32 STFT + matmul against float64: rounding of ~1e-7 of the peak (measured 2.1e-7);
    # a wrong pad (reflect) is off by 6-20 % of the peak at frames 0 and -1 (checked below).
    peak = reference.max()
    per_frame = np.abs(ours - reference).max(axis=0) / peak
    assert per_frame.max() < 1e-6, f"worst frame {per_frame.argmax()}: {per_frame.max():.2e}"
    # The reflect-padded analysis (melwave's cwgan-22k before issue 16) differs at the edge frames
    # by far more than the tolerance, and only there: what this test guards.
    reflected = mel_spectrogram(wave.astype(np.float32), cfg.replace(pad_mode="reflect")).double().numpy()
    edge_error = np.abs(reflected - reference).max(axis=0) / peak
    assert edge_error[0] > 1e-2 and edge_error[-1] > 1e-2
    assert edge_error[3:-3].max() < 1e-6


def test_tf_filterbank_equals_tensorflows_definition():
    cfg = PRESETS["melgan-22k"]
    reference = tf_mel_weight_matrix(cfg.n_mels, cfg.n_freqs, cfg.sample_rate, cfg.fmin, cfg.resolved_fmax).T
    ours = mel_basis(cfg).numpy()
    # Both are float64 constructions; ours is stored as float32: one float32 rounding of weights <= 1.
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-7)
    assert (ours[:, 0] == 0).all()
    # Not librosa's HTK filterbank (triangles linear in Hz), which is what the preset used before.
    librosa_style = mel_basis(cfg.replace(mel_scale="htk")).numpy()
    assert np.abs(librosa_style - reference).max() > 1e-3


def test_melgan_preset_equals_the_keras_tutorials_mel():
    cfg = PRESETS["melgan-22k"]
    num_samples = 22050 + 100  # not a multiple of the hop: pad_end's zeros reach the last frames
    wave = _clip(cfg.sample_rate, num_samples)
    reference = keras_tutorial_mel(wave)
    ours = mel_spectrogram(wave.astype(np.float32), cfg).double().numpy()
    assert ours.shape == reference.shape == (80, -(-num_samples // 256))
    # float32 against float64 in dB: 20·log10 turns a relative rounding error e into 8.7·e dB;
    # measured 1.9e-5 dB. The old preset (10·log10, librosa filterbank) was tens of dB off.
    assert np.abs(ours - reference).max() < 2e-4
    assert reference.max() - reference.min() == pytest.approx(80.0)  # the floor is reached: tested too


def test_melgan_preset_equals_tensorflows_output():
    # Golden output of TensorFlow 2.21 running the tutorial's analysis on a stored clip.
    golden = np.load(GOLDEN_TF)
    cfg = PRESETS["melgan-22k"]
    np.testing.assert_allclose(mel_basis(cfg).numpy().T, golden["filterbank"], rtol=0, atol=3e-5)
    ours = mel_spectrogram(golden["wave"], cfg).numpy()
    assert ours.shape == golden["mel_db"].shape
    # TF builds its filterbank in float32 (mel positions ~2000 with float32 rounding of ~1e-4 mel,
    # weights off by up to 1.5e-5, measured); that moves band energies by < 1e-4 relative, i.e.
    # < 1e-3 dB. Measured worst frame 3.5e-4 dB; the old preset was 40 dB off on this clip.
    assert np.abs(ours - golden["mel_db"]).max() < 1e-3
    # And the independent float64 reference agrees with TF's output on the same clip.
    assert np.abs(keras_tutorial_mel(golden["wave"]) - golden["mel_db"]).max() < 1e-3


def test_tfio_db_floor_is_per_item_and_batches_do_not_mix():
    # tfio floors top_db below its whole input tensor's max; melwave below each clip's own max, so
    # a clip's mel is what the tutorial computes for that clip alone, whatever it is batched with.
    cfg = PRESETS["melgan-22k"]
    loud, quiet = _clip(cfg.sample_rate, 8000, 1), 1e-3 * _clip(cfg.sample_rate, 8000, 2)
    batch = MelExtractor(cfg)(torch.from_numpy(np.stack([loud, quiet])).float()).double().numpy()
    for row, clip in zip(batch, (loud, quiet)):
        assert np.abs(row - keras_tutorial_mel(clip)).max() < 1e-3


def test_tfio_db_decompress_inverts_above_the_floor():
    cfg = PRESETS["melgan-22k"].replace(top_db=None)
    linear = torch.logspace(-6, 4, 60, dtype=torch.float64).reshape(1, 6, 10)
    stored = compress(linear, cfg)
    torch.testing.assert_close(stored, 20 * torch.log10(linear))  # 20·log10, not 10·log10
    torch.testing.assert_close(decompress(stored, cfg), linear)
    floored = compress(linear.float(), PRESETS["melgan-22k"])
    above = floored > floored.min()
    torch.testing.assert_close(decompress(floored, cfg)[above], linear.float()[above], rtol=1e-5, atol=0)
