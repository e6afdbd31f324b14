"""All reference/output metrics of one clip in one call, NaN plus a reason where a metric can't run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from melwave.audio.io import resample
from melwave.metrics import spectral, speech

# name -> (higher is better?, short description) — the table and report use this order.
PAIR_METRICS: dict[str, tuple[bool, str]] = {
    "pesq": (True, "PESQ wide-band (16 kHz), 1.04–4.64"),
    "stoi": (True, "STOI, 0–1"),
    "mcd": (False, "mel-cepstral distortion, dB"),
    "mr_stft": (False, "multi-resolution STFT distance"),
    "mel_l1": (False, "L1 of log-mels (HiFi-GAN config)"),
    "f0_rmse_cents": (False, "F0 RMSE over frames voiced in both, cents"),
    "vuv_f1": (True, "voiced/unvoiced F1"),
    "periodicity_rmse": (False, "periodicity RMSE"),
}
# Computed only when asked for (slow, or needing optional packages).
OPTIONAL_METRICS: dict[str, tuple[bool, str]] = {
    "dnsmos_ovrl": (True, "DNSMOS overall MOS of the output alone (speechmos), 1-5"),
}


@dataclass
class PairResult:
    values: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    lag_samples: int = 0
    seconds: float = 0.0


def _run(values: dict, notes: dict, name: str, fn, *args) -> None:
    try:
        values[name] = float(fn(*args))
    except speech.Unavailable as err:
        values[name] = math.nan
        notes[name] = str(err)


def pair_metrics(reference: np.ndarray, ref_rate: int, output: np.ndarray, out_rate: int, *, max_lag_ms: float = 10.0,
                 dtw_mcd: bool = False, dnsmos: bool = False) -> PairResult:
    """Reference at ref_rate and output at out_rate -> every metric in PAIR_METRICS.

    Both are brought to 22.05 kHz (the spectral metrics' rate), aligned there, and the speech
    metrics resample to 16 kHz themselves.
    """
    rate = spectral.MEL_CONFIG.sample_rate
    ref = resample(np.asarray(reference, np.float32), ref_rate, rate)
    out = resample(np.asarray(output, np.float32), out_rate, rate)
    ref, out, lag = speech.align(ref, out, rate, max_lag_ms=max_lag_ms)
    values: dict[str, float] = {}
    notes: dict[str, str] = {}
    if len(ref) < spectral.MEL_CONFIG.n_fft:
        for name in list(PAIR_METRICS) + (["dnsmos_ovrl"] if dnsmos else []):
            values[name] = math.nan
            notes[name] = f"clip too short ({len(ref)} samples at {rate} Hz)"
        return PairResult(values, notes, lag, len(ref) / rate)
    _run(values, notes, "pesq", speech.pesq_wb, ref, out, rate)
    _run(values, notes, "stoi", speech.stoi, ref, out, rate)
    _run(values, notes, "mcd", lambda a, b, r: speech.mel_cepstral_distortion(a, b, r, dtw=dtw_mcd), ref, out, rate)
    _run(values, notes, "mr_stft", spectral.multi_resolution_stft_distance, ref, out)
    _run(values, notes, "mel_l1", spectral.mel_l1, ref, out)
    pitch = speech.pitch_scores(ref, out, rate)
    values.update(f0_rmse_cents=pitch.f0_rmse_cents, vuv_f1=pitch.vuv_f1, periodicity_rmse=pitch.periodicity_rmse)
    notes.update(pitch.notes)
    if dnsmos:
        _run(values, notes, "dnsmos_ovrl", speech.dnsmos_overall, out, rate)
    return PairResult(values, notes, lag, len(ref) / rate)
