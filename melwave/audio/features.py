"""The one waveform -> mel-spectrogram computation in melwave.

Every model, loss, metric and CLI path calls `MelExtractor` (or `mel_spectrogram`) built from a
`MelConfig`; nothing else re-derives STFT or filterbank settings.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import AudioTooShortError

_DB_AMIN = 1e-10


def hz_to_mel(hz: np.ndarray, *, htk: bool) -> np.ndarray:
    """Hz -> mel on the HTK scale (2595·log10(1 + f/700)) or Slaney's (linear to 1 kHz, then
    logarithmic), the same formulas as librosa.hz_to_mel."""
    scalar = np.ndim(hz) == 0
    hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
    if htk:
        mels = 2595.0 * np.log10(1.0 + hz / 700.0)
        return mels[0] if scalar else mels
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = hz / f_sp
    log_part = hz >= min_log_hz
    mels[log_part] = min_log_mel + np.log(hz[log_part] / min_log_hz) / logstep
    return mels[0] if scalar else mels


def mel_to_hz(mels: np.ndarray, *, htk: bool) -> np.ndarray:
    """Inverse of `hz_to_mel` (librosa.mel_to_hz)."""
    scalar = np.ndim(mels) == 0
    mels = np.atleast_1d(np.asarray(mels, dtype=np.float64))
    if htk:
        hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
        return hz[0] if scalar else hz
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    hz = f_sp * mels
    log_part = mels >= min_log_mel
    hz[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return hz[0] if scalar else hz


@functools.lru_cache(maxsize=32)
def _mel_basis_np(cfg: MelConfig) -> np.ndarray:
    """(n_mels, n_freqs) float32 triangular filterbank, computed as librosa.filters.mel does
    (float64 triangles stored as float32, Slaney area normalisation applied in float32), so the
    two agree to float32 rounding. melwave builds it itself: librosa's import of scipy.signal and
    numba cost 1.7 s of start-up for this one matrix."""
    n_freqs = cfg.n_fft // 2 + 1
    if cfg.mel_scale == "tensorflow":
        weights, edges = _tf_mel_basis_np(cfg)
    else:
        fft_freqs = np.fft.rfftfreq(n=cfg.n_fft, d=1.0 / cfg.sample_rate)
        htk = cfg.mel_scale == "htk"
        # n_mels + 2 band edges uniformly spaced on the mel scale: band i spans edges i .. i + 2.
        edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin, htk=htk), hz_to_mel(cfg.resolved_fmax, htk=htk), cfg.n_mels + 2),
                          htk=htk)
        widths = np.diff(edges)
        ramps = np.subtract.outer(edges, fft_freqs)
        weights = np.zeros((cfg.n_mels, n_freqs), dtype=np.float32)
        for i in range(cfg.n_mels):
            lower = -ramps[i] / widths[i]
            upper = ramps[i + 2] / widths[i + 1]
            weights[i] = np.maximum(0, np.minimum(lower, upper))
    if cfg.mel_norm == "slaney":
        # Approximately constant energy per channel: divide each triangle by its width in Hz / 2.
        weights *= (2.0 / (edges[2 : cfg.n_mels + 2] - edges[: cfg.n_mels]))[:, np.newaxis]
    return weights


def _tf_mel_basis_np(cfg: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """(n_mels, n_freqs) float32 filterbank as tf.signal.linear_to_mel_weight_matrix builds it
    (transposed), and its n_mels + 2 band edges in Hz.

    TF differs from librosa's HTK filterbank in where the triangles are straight: TF takes each
    bin's position on the mel scale (1127·ln(1 + f/700), the HTK scale in natural-log form) and
    draws the triangles linearly in mel; librosa converts the mel band edges back to Hz and draws
    them linearly in Hz (0.5 % apart per band at 22.05 kHz). TF places the bins at
    linspace(0, sr/2, n_fft//2 + 1), never weights the DC bin and does not normalise. TF computes
    in float32; this is float64 stored as float32 (TF's result to its own float32 rounding)."""
    def to_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)

    bins_mel = to_mel(np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1))
    edges_mel = np.linspace(to_mel(cfg.fmin), to_mel(cfg.resolved_fmax), cfg.n_mels + 2)
    lower, center, upper = edges_mel[:-2, None], edges_mel[1:-1, None], edges_mel[2:, None]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights[:, 0] = 0.0  # "HTK excludes the spectrogram DC bin"
    return weights, 700.0 * np.expm1(edges_mel / 1127.0)


def mel_basis(cfg: MelConfig) -> Tensor:
    """(n_mels, n_freqs) filterbank, equal to librosa.filters.mel on the same settings (to float32
    rounding; tests/audio/test_features.py checks every preset and random settings), or for
    mel_scale="tensorflow" to tf.signal.linear_to_mel_weight_matrix transposed.

    Under `torch.device("meta")` (how `load_model` sizes a model before allocating it) this is an
    empty meta tensor of the right shape: nothing is computed or allocated."""
    if building_on_meta():
        return torch.empty(cfg.n_mels, cfg.n_freqs)
    return torch.from_numpy(_mel_basis_np(cfg).copy())


def building_on_meta() -> bool:
    """True inside `with torch.device("meta"):` (how `load_model` sizes a model from its file
    before allocating it). Buffers computed at construction (windows, filterbanks, tables) are
    then left empty: only their shapes matter, and some ops (hann_window, arange) would import
    torch's decomposition tables (about a second) to run on meta."""
    return torch.empty(0).device.type == "meta"


def hann_window(length: int) -> Tensor:
    """torch.hann_window(length), or an empty tensor of its shape on the meta device."""
    return torch.empty(length) if building_on_meta() else torch.hann_window(length)


def pad_for_stft(wave: Tensor, cfg: MelConfig) -> tuple[Tensor, bool]:
    """Apply the config's explicit padding. Returns (padded wave, center flag for torch.stft).

    wave: (B, T) with T >= cfg.min_samples() (checked by `stft` through `check_length`).
    """
    if cfg.padding == "center":
        return wave, True
    if cfg.padding == "symmetric":
        left = right = cfg.pad_left
    elif cfg.padding == "end":
        # tf.signal.stft(pad_end=True): enough zeros that every sample starts a frame.
        frames = -(-wave.shape[-1] // cfg.hop_length)
        left, right = 0, max(0, (frames - 1) * cfg.hop_length + cfg.n_fft - wave.shape[-1])
    else:
        return wave, False
    mode = cfg.pad_mode if cfg.padding != "end" else "constant"
    return F.pad(wave.unsqueeze(1), (left, right), mode=mode).squeeze(1), False


def check_length(num_samples: int, cfg: MelConfig) -> None:
    """Raise AudioTooShortError (a MelwaveError and a ValueError) if no frame fits."""
    if num_samples < cfg.min_samples():
        raise AudioTooShortError(
            f"audio of {num_samples} samples is too short: this mel config "
            f"(padding={cfg.padding}, pad_mode={cfg.pad_mode}, n_fft={cfg.n_fft}) needs at least {cfg.min_samples()}")


def stft(wave: Tensor, cfg: MelConfig, window: Tensor | None = None) -> Tensor:
    """Complex STFT (B, n_freqs, frames) of a (B, T) waveform, with the config's padding.

    Raises AudioTooShortError when T < cfg.min_samples().
    """
    if window is None:
        window = torch.hann_window(cfg.win_length, device=wave.device, dtype=wave.dtype)
    check_length(wave.shape[-1], cfg)
    padded, center = pad_for_stft(wave, cfg)
    spec = torch.stft(
        padded,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window=window,
        center=center,
        pad_mode=cfg.pad_mode,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    if cfg.normalized:
        # torchaudio's normalized=True ("window"): divide by the window's L2 norm.
        spec = spec / window.pow(2).sum().sqrt()
    return spec


def _explicit_padding(wave: Tensor, cfg: MelConfig) -> Tensor:
    """(B, T) -> (B, T') padded so that frames start at t·hop with no further padding."""
    if cfg.padding == "center":
        pad = cfg.pad_left
        return F.pad(wave.unsqueeze(1), (pad, pad), mode=cfg.pad_mode).squeeze(1)
    return pad_for_stft(wave, cfg)[0]


def compress(mel: Tensor, cfg: MelConfig) -> Tensor:
    """Linear mel (power or magnitude per cfg.power) -> the config's stored values."""
    if cfg.compression == "log":
        return torch.log(torch.clamp(mel, min=cfg.log_clamp))
    if cfg.compression == "log10":
        return torch.log10(torch.clamp(mel, min=cfg.log_clamp))
    if cfg.compression == "db":
        # librosa: power_to_db(amin=1e-10) for power, amplitude_to_db(amin=1e-5) for magnitude.
        scale, amin = (10.0, _DB_AMIN) if cfg.power == 2.0 else (20.0, _DB_AMIN**0.5)
        return _floor_below_peak(scale * torch.log10(torch.clamp(mel, min=amin)), cfg.top_db)
    if cfg.compression == "tfio-db":
        # tfio.audio.dbscale: 10·log10(square(x)) = 20·log10(x), floored top_db below the peak.
        # tfio has no amin (log(0) = -inf, then floored); the 1e-10 clamp (-200 dB) changes
        # nothing unless an item's peak is below -120 dB, where tfio would give -inf or worse.
        # tfio's peak is its whole input tensor's; melwave's is each item's, so a clip's mel does
        # not depend on what it was batched with (the same for one clip, as analysed at inference).
        return _floor_below_peak(20.0 * torch.log10(torch.clamp(mel, min=_DB_AMIN)), cfg.top_db)
    if cfg.compression == "gomin":
        return torch.clamp((10 * torch.log10(mel + 1e-10) + 100) / 100, min=0.0)
    if cfg.compression == "diffwave":
        # lmnt-com/diffwave's preprocess.py, in its order of operations.
        db = 20 * torch.log10(torch.clamp(mel, min=1e-5)) - 20
        return torch.clamp((db + 100) / 100, 0.0, 1.0)
    return mel


def _floor_below_peak(db: Tensor, top_db: float | None) -> Tensor:
    """Clip dB values to at most `top_db` below the maximum of each item (librosa's top_db)."""
    if top_db is None:
        return db
    peak = db.amax(dim=tuple(range(1, db.ndim)), keepdim=True) if db.ndim > 1 else db.max()
    return torch.maximum(db, peak - top_db)


def decompress(values: Tensor, cfg: MelConfig) -> Tensor:
    """Inverse of `compress` (up to its clamping): stored values -> linear mel."""
    if cfg.compression == "log":
        return torch.exp(values)
    if cfg.compression == "log10":
        return torch.pow(10.0, values)
    if cfg.compression == "db":
        scale = 10.0 if cfg.power == 2.0 else 20.0
        return torch.pow(10.0, values / scale)
    if cfg.compression == "tfio-db":
        return torch.pow(10.0, values / 20.0)
    if cfg.compression == "gomin":
        return torch.clamp(torch.pow(10.0, (values * 100 - 100) / 10) - 1e-10, min=0.0)
    if cfg.compression == "diffwave":
        return torch.pow(10.0, (values * 100 - 100 + 20) / 20)
    return values


class MelExtractor(nn.Module):
    """(B, T) or (T,) waveform -> (B, n_mels, frames) or (n_mels, frames) mel values.

    Batched, device-agnostic (buffers follow `.to(device)`), and equal to librosa's
    `feature.melspectrogram` on the same settings followed by the config's compression.
    """

    def __init__(self, cfg: MelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", hann_window(cfg.win_length), persistent=False)
        self.register_buffer("basis", mel_basis(cfg), persistent=False)

    # Frames per STFT block for long inputs: the complex STFT of one hour at 22.05 kHz would be
    # 1.3 GB; blocks of 4096 frames keep the transient at ~17 MB per item, with identical output.
    block_frames: int = 4096

    def linear(self, wave: Tensor) -> Tensor:
        """(B, T) -> (B, n_mels, frames) uncompressed mel (power or magnitude per cfg.power)."""
        cfg = self.cfg
        window = self.window.to(wave.dtype)
        if cfg.num_frames(wave.shape[-1]) <= self.block_frames:
            return self._mel_of(stft(wave, cfg, window))
        check_length(wave.shape[-1], cfg)
        padded = _explicit_padding(wave, cfg)
        frames = 1 + (padded.shape[-1] - cfg.n_fft) // cfg.hop_length
        blocks = []
        for first in range(0, frames, self.block_frames):
            last = min(frames, first + self.block_frames)
            piece = padded[:, first * cfg.hop_length : (last - 1) * cfg.hop_length + cfg.n_fft]
            spec = torch.stft(piece, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                              center=False, return_complex=True)
            if cfg.normalized:
                spec = spec / window.pow(2).sum().sqrt()
            blocks.append(self._mel_of(spec))
        return torch.cat(blocks, dim=-1)

    def _mel_of(self, spec: Tensor) -> Tensor:
        # |X|² from the real and imaginary views: ~3x faster on CPU than complex abs(), and
        # power mels skip the square root entirely.
        real, imag = spec.real, spec.imag
        power = torch.addcmul(real * real, imag, imag)
        if self.cfg.power == 2.0:
            values = power
        elif power.requires_grad:
            # Training losses differentiate through here; sqrt's derivative is infinite at an
            # exactly-zero bin (silence), which would make the whole gradient NaN. The clamp only
            # touches |X| < 1e-6, below every compression's floor.
            values = power.clamp_min(1e-12).sqrt()
        else:
            values = power.sqrt_()
        return torch.matmul(self.basis.to(values.dtype), values)

    def forward(self, wave: Tensor) -> Tensor:
        squeeze = wave.ndim == 1
        if squeeze:
            wave = wave.unsqueeze(0)
        if wave.ndim != 2:
            raise ValueError(f"expected a (T,) or (B, T) waveform, got shape {tuple(wave.shape)}")
        mel = compress(self.linear(wave.float()), self.cfg)
        return mel.squeeze(0) if squeeze else mel


def mel_spectrogram(wave: Tensor | np.ndarray, cfg: MelConfig) -> Tensor:
    """Functional form of MelExtractor for one-off calls."""
    if isinstance(wave, np.ndarray):
        wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return MelExtractor(cfg).to(wave.device)(wave)
