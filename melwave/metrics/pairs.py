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
# Perceptual measures, computed when their models are installed (see `evaluate_vocoders`).
OPTIONAL_METRICS: dict[str, tuple[bool, str]] = {
    "dnsmos_ovrl": (True, "DNSMOS P.835 overall MOS of the output alone (speechmos), 1-5"),
    "dnsmos_sig": (True, "DNSMOS P.835 speech-signal MOS (distortion of the voice), 1-5"),
    "dnsmos_bak": (True, "DNSMOS P.835 background MOS (noise, buzz), 1-5"),
    "emb_dist": (False, "1 - cosine similarity of the output's and reference's mean audio embeddings (aisfx), 0-2"),
}
DNSMOS_METRICS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")

# What each measure rewards and what it misses: printed in the report so that no single number
# is read as "quality". Intrusive metrics compare with the reference sample by sample or frame by
# frame; they reward magnitude accuracy and cannot hear phase artefacts that listeners do.
METRIC_NOTES: dict[str, str] = {
    "dnsmos_ovrl": "rewards what listeners rate in speech (trained on human P.835 ratings): clean, natural voice; "
                   "misses fidelity to the reference (a different but clean voice scores well) and is meaningless for music",
    "dnsmos_sig": "rewards an undistorted voice; misses background problems (see dnsmos_bak)",
    "dnsmos_bak": "rewards a clean background; misses distortion of the voice itself",
    "emb_dist": "rewards sounding like the reference to a learned audio classifier (timbre, texture), for any audio; "
                "misses fine detail the embedding discards and is not calibrated to listener ratings",
    "pesq": "rewards magnitude accuracy in speech bands; misses phase artefacts (Griffin-Lim's metallic buzz scores high)",
    "stoi": "rewards intelligibility (envelope correlation in 1/3-octave bands); misses quality beyond intelligibility",
    "mcd": "rewards the spectral envelope (mel cepstrum); misses phase, pitch and excitation",
    "mr_stft": "rewards magnitude accuracy at three resolutions, the whole band included; misses phase",
    "mel_l1": "rewards matching the log-mel the vocoder was given; a vocoder that ignores phase can score perfectly",
    "f0_rmse_cents": "rewards the right pitch where both are voiced; misses everything else",
    "vuv_f1": "rewards voicing decisions that match the reference",
    "periodicity_rmse": "rewards the right amount of periodicity (buzz vs breath); misses timbre",
}


@dataclass
class PairResult:
    values: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    lag_samples: int = 0
    seconds: float = 0.0
    # (reference, output) block embeddings (rows, dim) when an embedding was given, for set-level
    # Fréchet distances.
    embeddings: tuple[np.ndarray, np.ndarray] | None = None


def _run(values: dict, notes: dict, name: str, fn, *args) -> None:
    try:
        values[name] = float(fn(*args))
    except speech.Unavailable as err:
        values[name] = math.nan
        notes[name] = str(err)


def pair_metrics(reference: np.ndarray, ref_rate: int, output: np.ndarray, out_rate: int, *, max_lag_ms: float = 10.0,
                 dtw_mcd: bool = False, dnsmos: bool = False, embedding=None) -> PairResult:
    """Reference at ref_rate and output at out_rate -> every metric in PAIR_METRICS, plus the
    DNSMOS_METRICS with `dnsmos` and `emb_dist` with `embedding` (an AudioEmbedding).

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
        for name in list(PAIR_METRICS) + (list(DNSMOS_METRICS) if dnsmos else []) + (["emb_dist"] if embedding else []):
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
        try:
            values.update({f"dnsmos_{k}": v for k, v in speech.dnsmos_scores(out, rate).items()})
        except speech.Unavailable as err:
            values.update({name: math.nan for name in DNSMOS_METRICS})
            notes.update({name: str(err) for name in DNSMOS_METRICS})
    embedded = None
    if embedding is not None:
        embedded = tuple(embedding.embed(resample(x, rate, embedding.sample_rate)) for x in (ref, out))
        values["emb_dist"] = embedding_distance(*embedded)
    return PairResult(values, notes, lag, len(ref) / rate, embedded)


def embedding_distance(reference: np.ndarray, output: np.ndarray) -> float:
    """1 - cosine similarity of the mean block embeddings (rows, dim) of two clips: 0 when the
    embedding hears them alike, up to 2. Means over blocks so that clip length does not matter."""
    a, b = reference.mean(axis=0), output.mean(axis=0)
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return 1.0 - float(a @ b) / norm if norm > 0 else math.nan
