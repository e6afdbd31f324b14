"""Reference/output metrics for vocoders: alignment, PESQ, STOI, MCD, F0 and periodicity.

Every metric function takes two equal-rate waveforms and returns a float, or raises
`Unavailable(reason)` when the clip cannot be scored (too short, silent); the caller records NaN
plus the reason instead of crashing. A missing optional package (the `eval` extra) is
`melwave.utils.optional.MissingDependency`, which stops the evaluation with one line.

Conventions (what the numbers mean):
- Alignment: the output is shifted by the lag (within ±10 ms) that maximises the cross-correlation
  of its amplitude envelope with the reference's, then both are cut to their common length.
- PESQ: ITU-T P.862.2 wide-band at 16 kHz (`pesq` package), MOS-LQO 1.04–4.64, higher is better.
- STOI: Taal et al. 2011 (`pystoi`, resamples to 10 kHz internally), 0–1, higher is better.
  Needs >= 30 non-silent 256-sample frames at 10 kHz (~0.4 s of speech).
- MCD: mel-cepstral distortion in dB, (10/ln 10)·sqrt(2·Σ_{d=1..24} Δc_d²) averaged over frames,
  with c the cepstrum (DCT-II / (2·80), so log|X(w)| = c0 + 2·Σ c_k cos(k·w)) of the natural-log
  *amplitude* of an 80-band mel spectrum at 16 kHz (25 ms / 10 ms), c0 (energy) excluded; frames where the reference is within 60 dB of its
  loudest frame. This is the MFCC-based "MCD" most vocoder papers report (not SPTK's all-pass
  mel-cepstrum, so values are comparable in trend, not digit for digit). Frames are compared
  one-to-one after alignment (vocoders keep timing; DTW would hide timing errors); `dtw=True`
  aligns with dynamic time warping instead, for systems that change timing.
- F0 RMSE in cents over frames voiced in both, voiced/unvoiced F1 (reference voicing is the
  truth), and periodicity RMSE (CARGAN, Morrison et al. 2022), from the YIN tracker in
  `melwave.metrics.pitch` at 16 kHz with 10 ms hop, 50–1000 Hz.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from melwave.audio.config import MelConfig
from melwave.audio.features import mel_spectrogram
from melwave.audio.io import resample
from melwave.metrics.pitch import track_pitch
from melwave.utils.optional import require

scipy = require("scipy", "the vocoder metrics")
require("scipy.fft", "the vocoder metrics"), require("scipy.signal", "the vocoder metrics")  # used as scipy.fft/.signal

EVAL_RATE = 16000
MCD_CONFIG = MelConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=80, fmin=0.0, fmax=8000.0,
                       padding="center", pad_mode="reflect", power=2.0, mel_scale="slaney", mel_norm="slaney",
                       compression="none")
MCD_COEFFICIENTS = 24
PESQ_MIN_SECONDS = 0.25
STOI_MIN_SECONDS = 0.4


class Unavailable(Exception):
    """This metric cannot be computed for this clip; the message says why."""


def _envelope(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Amplitude envelope (|analytic signal| smoothed over 4 ms), mean removed: insensitive to phase."""
    envelope = np.abs(scipy.signal.hilbert(wave))
    width = max(1, (4 * sample_rate) // 1000)
    envelope = np.convolve(envelope, np.ones(width) / width, mode="same")
    return envelope - envelope.mean()


def align(reference: np.ndarray, output: np.ndarray, sample_rate: int, *, max_lag_ms: float = 10.0) -> tuple[np.ndarray, np.ndarray, int]:
    """Shift `output` by the best lag within ±max_lag_ms and cut both to a common length.

    The lag maximises the cross-correlation of the amplitude envelopes, not of the waveforms:
    a vocoder's output has its own phase, and waveform correlation then peaks at a spurious
    pitch-period offset. Returns (reference, output, lag); lag > 0 means the output was late.
    """
    reference = np.asarray(reference, dtype=np.float64).reshape(-1)
    output = np.asarray(output, dtype=np.float64).reshape(-1)
    max_lag = int(round(max_lag_ms * sample_rate / 1000))
    lag = 0
    length = min(len(reference), len(output))
    if max_lag > 0 and length > 2 * max_lag:
        ref_env = _envelope(reference[:length], sample_rate)
        out_env = _envelope(output[:length], sample_rate)
        corr = scipy.signal.correlate(out_env, ref_env, mode="full", method="fft")
        zero = length - 1
        window = corr[zero - max_lag: zero + max_lag + 1]
        if np.any(window > 0):
            lag = int(np.argmax(window)) - max_lag
    if lag > 0:
        output = output[lag:]
    elif lag < 0:
        reference = reference[-lag:]
    length = min(len(reference), len(output))
    return reference[:length], output[:length], lag


def pesq_wb(reference: np.ndarray, output: np.ndarray, sample_rate: int) -> float:
    if len(reference) < PESQ_MIN_SECONDS * sample_rate:
        raise Unavailable(f"clip shorter than {PESQ_MIN_SECONDS} s")
    pesq_module = require("pesq", "PESQ in the vocoder metrics")
    PesqError, pesq = pesq_module.PesqError, pesq_module.pesq

    ref = resample(np.asarray(reference, np.float32), sample_rate, EVAL_RATE)
    out = resample(np.asarray(output, np.float32), sample_rate, EVAL_RATE)
    try:
        return float(pesq(EVAL_RATE, ref, out, "wb"))
    except PesqError as err:
        raise Unavailable(f"PESQ: {type(err).__name__}") from None


def stoi(reference: np.ndarray, output: np.ndarray, sample_rate: int) -> float:
    if len(reference) < STOI_MIN_SECONDS * sample_rate:
        raise Unavailable(f"clip shorter than {STOI_MIN_SECONDS} s")
    _stoi = require("pystoi", "STOI in the vocoder metrics").stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(np.asarray(reference, np.float64), np.asarray(output, np.float64), sample_rate, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise Unavailable("fewer than 30 non-silent STOI frames")
    return value


def mel_cepstrum(wave: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) -> (frames, 24) cepstra c1..c24 and (frames,) frame energy in dB."""
    wave16 = resample(np.asarray(wave, np.float32), sample_rate, EVAL_RATE)
    power = mel_spectrogram(wave16, MCD_CONFIG).double().numpy().T  # (frames, mels)
    log_amplitude = 0.5 * np.log(np.maximum(power, 1e-10))
    # Cepstrum scaling: log|X(w)| = c0 + 2·Σ c_k cos(k·w), i.e. the unnormalised DCT-II / (2·bands),
    # the scale SPTK mel-cepstra have, so MCD values land in the usual few-dB range.
    cepstra = scipy.fft.dct(log_amplitude, type=2, norm=None, axis=1)[:, 1:MCD_COEFFICIENTS + 1] / (2 * power.shape[1])
    energy_db = 10 * np.log10(power.sum(axis=1) + 1e-10)
    return cepstra, energy_db


def mel_cepstral_distortion(reference: np.ndarray, output: np.ndarray, sample_rate: int, *, dtw: bool = False,
                            silence_db: float = 60.0) -> float:
    ref_c, ref_energy = mel_cepstrum(reference, sample_rate)
    out_c, _ = mel_cepstrum(output, sample_rate)
    if len(ref_c) < 2:
        raise Unavailable("clip shorter than two 10 ms frames")
    if ref_energy.max() < -90:
        raise Unavailable("reference is silent")
    keep = ref_energy > ref_energy.max() - silence_db
    if dtw:
        librosa = require("librosa", "MCD with DTW alignment")
        ref_c, out_c = ref_c[keep], out_c
        _, path = librosa.sequence.dtw(ref_c.T, out_c.T, metric="euclidean")
        diff = ref_c[path[:, 0]] - out_c[path[:, 1]]
    else:
        frames = min(len(ref_c), len(out_c))
        diff = (ref_c[:frames] - out_c[:frames])[keep[:frames]]
    return float((10.0 / math.log(10.0)) * np.mean(np.sqrt(2.0 * np.sum(diff ** 2, axis=1))))


def dnsmos_scores(output: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS P.835 (Reddy et al. 2022): {"ovrl", "sig", "bak"} MOS predictions (1-5) of overall
    quality, speech signal distortion and background noise, no reference needed, from the ONNX
    models inside the optional `speechmos` package (needs onnxruntime). About 1-5 s per clip on a
    CPU. Clips shorter than 9 s are looped to 9 s by the model's own front end."""
    dnsmos = require("speechmos.dnsmos", "DNSMOS in `melwave evaluate vocoder`")
    wave = resample(np.asarray(output, np.float32), sample_rate, EVAL_RATE)
    if len(wave) < EVAL_RATE // 4:
        raise Unavailable("clip shorter than 0.25 s")
    scores = dnsmos.run(np.clip(wave, -1.0, 1.0), EVAL_RATE)
    return {name: float(scores[f"{name}_mos"]) for name in ("ovrl", "sig", "bak")}


def dnsmos_overall(output: np.ndarray, sample_rate: int) -> float:
    """DNSMOS P.835 overall quality alone (see `dnsmos_scores`)."""
    return dnsmos_scores(output, sample_rate)["ovrl"]


@dataclass
class PitchScores:
    f0_rmse_cents: float
    vuv_f1: float
    periodicity_rmse: float
    voiced_frames: int
    notes: dict[str, str] = field(default_factory=dict)


def pitch_scores(reference: np.ndarray, output: np.ndarray, sample_rate: int, **tracker) -> PitchScores:
    ref16 = resample(np.asarray(reference, np.float32), sample_rate, EVAL_RATE)
    out16 = resample(np.asarray(output, np.float32), sample_rate, EVAL_RATE)
    ref = track_pitch(ref16, EVAL_RATE, **tracker)
    out = track_pitch(out16, EVAL_RATE, **tracker)
    frames = min(len(ref.f0), len(out.f0))
    ref_v, out_v = ref.voiced[:frames], out.voiced[:frames]
    notes = {}
    both = ref_v & out_v
    if both.any():
        cents = 1200 * np.log2(out.f0[:frames][both] / ref.f0[:frames][both])
        rmse = float(np.sqrt(np.mean(cents ** 2)))
    else:
        rmse = math.nan
        notes["f0_rmse_cents"] = "no frame voiced in both reference and output"
    tp = int(np.sum(ref_v & out_v))
    fp = int(np.sum(~ref_v & out_v))
    fn = int(np.sum(ref_v & ~out_v))
    if tp + fp + fn == 0:
        f1 = math.nan
        notes["vuv_f1"] = "no voiced frames in reference or output"
    else:
        f1 = 2 * tp / (2 * tp + fp + fn)
    periodicity = float(np.sqrt(np.mean((ref.periodicity[:frames] - out.periodicity[:frames]) ** 2))) if frames else math.nan
    return PitchScores(rmse, f1, periodicity, int(ref_v.sum()), notes)
