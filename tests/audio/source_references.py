"""The source systems' mel analyses, written from their definitions in numpy float64.

Independent of melwave's code on purpose (own framing, own FFT, own filterbanks): tests compare
melwave's presets with these on every frame.

- `torchaudio_mel`: torchaudio.transforms.MelSpectrogram as the deep mel generator calls it
  (DeepMelSpectrogramGenerator data.py): `pad=int((n_fft - hop)/2)`, `center=False`, power 2,
  HTK scale, no filter norm. torchaudio applies `pad` as zero padding (F.pad "constant") before
  the STFT; its `pad_mode` only matters when center=True, which the source turns off.
- `tf_mel_weight_matrix` and `keras_tutorial_mel`: the MelGAN Keras tutorial's `MelSpec` layer:
  tf.signal.stft(pad_end=True), |X|², tf.signal.linear_to_mel_weight_matrix,
  tfio.audio.dbscale(top_db=80) (= 10·log10(x²), floored 80 dB below the tensor's max).
"""

from __future__ import annotations

import numpy as np


def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (torch.hann_window and tf.signal.hann_window's default)."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)


def _power_frames(padded: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(frames, n_fft//2 + 1) |rfft|² of hann-windowed frames starting at 0, hop, 2·hop, ..."""
    count = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[i * hop: i * hop + n_fft] for i in range(count)])
    return np.abs(np.fft.rfft(frames * _hann(n_fft), axis=-1)) ** 2


def torchaudio_htk_fbanks(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> np.ndarray:
    """(n_freqs, n_mels) torchaudio.functional.melscale_fbanks(mel_scale="htk", norm=None):
    band edges equally spaced in 2595·log10(1 + f/700), triangles linear in Hz."""
    bins_hz = np.linspace(0, sample_rate // 2, n_freqs)
    mels = np.linspace(2595 * np.log10(1 + f_min / 700), 2595 * np.log10(1 + f_max / 700), n_mels + 2)
    edges = 700 * (10 ** (mels / 2595) - 1)
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        left, mid, right = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(bins_hz):
            fb[k, m] = max(0.0, min((f - left) / (mid - left), (right - f) / (right - mid)))
    return fb


def torchaudio_mel(wave: np.ndarray, *, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float,
                   f_max: float) -> np.ndarray:
    """(n_mels, frames) power mel of the deep mel generator's MelSpectrogram(pad=(n_fft-hop)/2, center=False)."""
    pad = int((n_fft - hop) / 2)
    padded = np.concatenate([np.zeros(pad), np.asarray(wave, np.float64), np.zeros(pad)])
    power = _power_frames(padded, n_fft, hop)
    return (power @ torchaudio_htk_fbanks(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate)).T


def tf_mel_weight_matrix(num_mel_bins: int, num_spectrogram_bins: int, sample_rate: float, lower_edge_hertz: float,
                         upper_edge_hertz: float) -> np.ndarray:
    """(num_spectrogram_bins, num_mel_bins) tf.signal.linear_to_mel_weight_matrix, in float64:
    bins at linspace(0, sr/2), mel = 1127·ln(1 + f/700), triangles linear in mel, DC bin zero."""
    def mel(hz):
        return 1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0)

    bin_mels = mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))
    edges = np.linspace(mel(lower_edge_hertz), mel(upper_edge_hertz), num_mel_bins + 2)
    matrix = np.zeros((num_spectrogram_bins, num_mel_bins))
    for m in range(num_mel_bins):
        up = (bin_mels - edges[m]) / (edges[m + 1] - edges[m])
        down = (edges[m + 2] - bin_mels) / (edges[m + 2] - edges[m + 1])
        matrix[:, m] = np.clip(np.minimum(up, down), 0.0, None)
    matrix[0] = 0.0
    return matrix


def tfio_dbscale(x: np.ndarray, top_db: float) -> np.ndarray:
    """tfio.audio.dbscale: 10·log10 of the input squared, floored top_db below the whole tensor's max."""
    with np.errstate(divide="ignore"):
        log_spec = 10.0 * np.log10(np.square(x))
    return np.maximum(log_spec, log_spec.max() - top_db)


def keras_tutorial_mel(wave: np.ndarray, *, sample_rate: int = 22050, frame_length: int = 1024, frame_step: int = 256,
                       n_mels: int = 80, fmin: float = 125.0, fmax: float = 7600.0, top_db: float = 80.0) -> np.ndarray:
    """(n_mels, frames) the tutorial's MelSpec layer on one clip (a tensor of one clip, so the
    dbscale floor is that clip's max)."""
    wave = np.asarray(wave, np.float64)
    frames = -(-len(wave) // frame_step)  # pad_end: a frame starts at every hop inside the signal
    padded = np.concatenate([wave, np.zeros((frames - 1) * frame_step + frame_length - len(wave))])
    power = _power_frames(padded, frame_length, frame_step)
    mel = power @ tf_mel_weight_matrix(n_mels, frame_length // 2 + 1, sample_rate, fmin, fmax)
    return tfio_dbscale(mel, top_db).T
