"""MelExtractor agrees with librosa on every preset; batching and dtypes don't change it."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.features import MelExtractor, compress, decompress, mel_basis, mel_spectrogram
from melwave.errors import AudioTooShortError, MelwaveError
from testsignals import chirp_mix
from source_references import tf_mel_weight_matrix





def librosa_reference(wave: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """The config's mel computed with librosa only (float64), as the source systems did."""
    center = cfg.padding == "center"
    if cfg.padding == "symmetric":
        pad = (cfg.n_fft - cfg.hop_length) // 2
        wave = np.pad(wave, pad, mode=cfg.pad_mode)
    elif cfg.padding == "end":  # tf.signal.stft(pad_end=True)
        frames = -(-len(wave) // cfg.hop_length)
        wave = np.pad(wave, (0, (frames - 1) * cfg.hop_length + cfg.n_fft - len(wave)))
    spectrum = np.abs(librosa.stft(y=wave, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                                   window="hann", center=center, pad_mode=cfg.pad_mode)) ** cfg.power
    mel = _reference_basis(cfg) @ spectrum
    if cfg.normalized:  # torchaudio normalized="window": STFT / ||window||_2
        norm = np.sqrt(np.sum(librosa.filters.get_window("hann", cfg.win_length, fftbins=True) ** 2))
        mel = mel / norm**cfg.power
    if cfg.compression == "log":
        return np.log(np.maximum(mel, cfg.log_clamp))
    if cfg.compression == "db":
        if cfg.power == 2.0:
            return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=cfg.top_db)
        return librosa.amplitude_to_db(mel, ref=1.0, amin=1e-5, top_db=cfg.top_db)
    if cfg.compression == "tfio-db":  # tfio.audio.dbscale on one clip: 10·log10(x²), floored below its max
        db = 20 * np.log10(np.maximum(mel, 1e-10))
        return db if cfg.top_db is None else np.maximum(db, db.max() - cfg.top_db)
    if cfg.compression == "gomin":
        return np.maximum((10 * np.log10(mel + 1e-10) + 100) / 100, 0)
    return mel


# Tolerances in the config's own units (linear: relative to the peak). float32 torch vs librosa's
# float64, on a 1 s chirp + harmonics + noise: measured worst cases are log 5e-5 (cwgan-22k-log),
# dB 1.3e-4, gomin 2e-6, linear 2.3e-7 of the peak; the bounds leave ~4x headroom.
TOLERANCE = {"log": 2e-4, "db": 5e-4, "tfio-db": 1e-3, "gomin": 1e-5, "none": 1e-6}


def _variants() -> dict[str, MelConfig]:
    """Every preset, plus the padding modes and compressions the presets don't use."""
    configs = dict(PRESETS)
    base = PRESETS["hifigan-22k"]
    for padding in ("center", "symmetric", "end", "none"):
        for pad_mode in ("reflect", "constant"):
            configs[f"pad-{padding}-{pad_mode}"] = base.replace(padding=padding, pad_mode=pad_mode)
    configs["db-magnitude"] = base.replace(compression="db", top_db=60.0)
    configs["db-power-no-top"] = base.replace(compression="db", power=2.0, top_db=None)
    configs["gomin-22k"] = base.replace(compression="gomin", power=2.0, normalized=True)
    configs["short-window"] = base.replace(win_length=800, fmin=50.0, fmax=None)
    return configs


VARIANTS = _variants()


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_matches_librosa(name):
    cfg = VARIANTS[name]
    wave = chirp_mix(cfg.sample_rate, 1.0, dtype=np.float64)
    ours = mel_spectrogram(wave.astype(np.float32), cfg).numpy()
    reference = librosa_reference(wave, cfg)
    assert ours.shape == reference.shape == (cfg.n_mels, cfg.num_frames(len(wave)))
    if cfg.compression == "none":
        error = np.abs(ours - reference).max() / np.abs(reference).max()
    else:
        error = np.abs(ours - reference).max()
    assert error < TOLERANCE[cfg.compression], f"{name}: max error {error:.2e}"


@pytest.mark.float_sensitive
def test_mel_basis_is_librosas():
    cfg = PRESETS["gomin-24k"]
    reference = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=128, fmin=0, fmax=12000, htk=False, norm="slaney")
    np.testing.assert_allclose(mel_basis(cfg).numpy(), reference, rtol=1e-6, atol=1e-9)


def _reference_basis(cfg: MelConfig) -> np.ndarray:
    """librosa's filterbank, or for mel_scale="tensorflow" TF's construction (source_references)."""
    if cfg.mel_scale == "tensorflow":
        basis = tf_mel_weight_matrix(cfg.n_mels, cfg.n_freqs, cfg.sample_rate, cfg.fmin, cfg.resolved_fmax).T
        if cfg.mel_norm == "slaney":  # the same area normalisation on TF's band edges in Hz
            edges = 700 * np.expm1(np.linspace(*(1127 * np.log1p(np.array([cfg.fmin, cfg.resolved_fmax]) / 700)), cfg.n_mels + 2) / 1127)
            basis = basis * (2.0 / (edges[2:] - edges[:-2]))[:, None]
        return basis
    return librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.resolved_fmax,
                               htk=cfg.mel_scale == "htk", norm="slaney" if cfg.mel_norm == "slaney" else None)


def _assert_basis_matches(cfg: MelConfig) -> None:
    # melwave builds the filterbank itself (no librosa import on the inference path) with
    # librosa's arithmetic; two float implementations may still differ in the last float32
    # bit, so the tolerance is float32 rounding relative to the filterbank's peak.
    reference = _reference_basis(cfg)
    ours = mel_basis(cfg).numpy()
    assert ours.shape == reference.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-7 * np.abs(reference).max())


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_filterbank_equals_librosa_on_every_preset(name):
    _assert_basis_matches(PRESETS[name])


@pytest.mark.float_sensitive
@settings(max_examples=40, deadline=None)
@given(sample_rate=st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]), n_fft=st.sampled_from([256, 512, 1024, 2048]),
       n_mels=st.integers(8, 160), fmin=st.floats(0, 300), top=st.one_of(st.none(), st.floats(0.5, 1.0)),
       scale=st.sampled_from(["htk", "slaney", "tensorflow"]), slaney_norm=st.booleans())
def test_filterbank_equals_librosa_on_random_settings(sample_rate, n_fft, n_mels, fmin, top, scale, slaney_norm):
    import warnings

    cfg = MelConfig(sample_rate=sample_rate, n_fft=n_fft, win_length=n_fft, hop_length=n_fft // 4, n_mels=n_mels,
                    fmin=fmin, fmax=None if top is None else max(fmin + 1.0, sample_rate / 2 * top),
                    mel_scale=scale, mel_norm="slaney" if slaney_norm else "none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about empty filters for narrow settings; both agree on them
        _assert_basis_matches(cfg)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", ["hifigan-22k", "gomin-24k", "melgan-22k"])
def test_batched_equals_per_item(name):
    cfg = PRESETS[name]
    extractor = MelExtractor(cfg)
    # melgan's dB top_db is relative to each item's own peak: items at different levels test that.
    waves = torch.stack([torch.from_numpy(chirp_mix(cfg.sample_rate, 0.5, seed, dtype=np.float64) * gain).float()
                         for seed, gain in ((0, 1.0), (1, 0.01), (2, 0.3))])
    batched = extractor(waves)
    for i in range(len(waves)):
        torch.testing.assert_close(batched[i], extractor(waves[i]), rtol=1e-5, atol=1e-5)


@pytest.mark.float_sensitive
def test_float64_and_float32_inputs_agree():
    cfg = PRESETS["hifigan-22k"]
    wave = chirp_mix(cfg.sample_rate, 0.5, dtype=np.float64)
    a = mel_spectrogram(torch.from_numpy(wave), cfg)  # float64 tensor
    b = mel_spectrogram(wave.astype(np.float32), cfg)  # float32 array
    assert a.dtype == b.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_shape_contract_and_bad_shapes():
    cfg = PRESETS["hifigan-22k"]
    extractor = MelExtractor(cfg)
    assert extractor(torch.zeros(2, 25600)).shape == (2, 80, 100)
    assert extractor(torch.zeros(25600)).shape == (80, 100)
    with pytest.raises(ValueError, match="shape"):
        extractor(torch.zeros(1, 2, 25600))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_too_short_audio_is_a_melwave_error(name):
    cfg = PRESETS[name]
    assert mel_spectrogram(np.zeros(cfg.min_samples(), np.float32), cfg).shape == (cfg.n_mels, 1)
    with pytest.raises(AudioTooShortError, match="too short") as info:
        mel_spectrogram(np.zeros(cfg.min_samples() - 1, np.float32), cfg)
    assert isinstance(info.value, MelwaveError) and isinstance(info.value, ValueError)


@given(st.integers(1, 6000), st.sampled_from(sorted(VARIANTS)))
@settings(max_examples=30, deadline=None)
def test_frame_count_matches_config(num_samples, name):
    cfg = VARIANTS[name]
    if num_samples < cfg.min_samples():
        return
    mel = mel_spectrogram(np.zeros(num_samples, np.float32), cfg)
    assert mel.shape == (cfg.n_mels, cfg.num_frames(num_samples))


@pytest.mark.float_sensitive
@pytest.mark.parametrize("compression", ["log", "gomin", "none", "db", "tfio-db"])
def test_decompress_inverts_compress_above_the_floor(compression):
    cfg = PRESETS["hifigan-22k"].replace(compression=compression, power=2.0, top_db=None)
    linear = torch.logspace(-4, 2, 50).reshape(1, 5, 10)
    torch.testing.assert_close(decompress(compress(linear, cfg), cfg), linear, rtol=1e-4, atol=1e-9)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_long_inputs_in_blocks_give_identical_mels(name):
    # Long inputs are analysed in blocks of frames to bound memory; the result must not change.
    cfg = VARIANTS[name]
    extractor = MelExtractor(cfg)
    wave = torch.from_numpy(chirp_mix(cfg.sample_rate, 0.6, dtype=np.float64)).float()[None].repeat(2, 1)
    whole = extractor.linear(wave)
    extractor.block_frames = 7
    blocks = extractor.linear(wave)
    assert blocks.shape == whole.shape and extractor(wave).shape == whole.shape
    # Two computation paths (one STFT vs many), so equal only to float rounding: FFT and matmul
    # kernels of different sizes sum in different orders, and which kernels run differs between
    # CPUs (AMD EPYC vs Intel, ATEN_CPU_CAPABILITY). Measured worst case 1.8e-7 of the peak
    # (~1.5 float32 eps); a misplaced frame or sample would be of the order of the signal itself.
    # Compared before compression, which is the same elementwise function on both paths and would
    # turn rounding at the log floor into large-looking differences.
    torch.testing.assert_close(blocks, whole, rtol=0, atol=2e-6 * whole.abs().max().item())


@pytest.mark.float_sensitive
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["hifigan-22k", "gomin-24k", "melgan-22k"])
def test_gpu_matches_cpu(name):
    cfg = PRESETS[name]
    wave = torch.from_numpy(chirp_mix(cfg.sample_rate, 1.0, dtype=np.float64)).float()[None].repeat(3, 1)
    cpu = MelExtractor(cfg)(wave)
    gpu = MelExtractor(cfg).cuda()(wave.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=TOLERANCE[cfg.compression])


def test_the_one_folder_scan_skips_hidden_files_and_folders(tmp_path):
    from melwave.audio.io import find_files

    for name in ("a.wav", "sub/b.FLAC", ".hidden.wav", ".git/c.wav", "sub/._d.wav", "sub/.cache/e.wav", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_files(tmp_path)] == ["a.wav", "sub/b.FLAC"]
    assert [p.name for p in find_files(tmp_path, (".txt",))] == ["notes.txt"]
