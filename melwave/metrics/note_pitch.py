"""Does a generated note sound the pitch it was asked for? pYIN (Mauch & Dixon 2014, librosa's)
on each note's audio, compared in cents with the requested note name.

note_f0:        (T,) waveform + the requested frequency -> the median f0 of its voiced frames (Hz),
                NaN when pYIN finds none. The search spans a little more than an octave either
                side of the request, so a wrong note or an octave error is measured, not hidden.
pitch_accuracy: per note, the error in cents; the share within `tolerance` cents (50: the nearest
                semitone is the requested one) and the median absolute error. Unvoiced notes count
                as misses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from melwave.metrics.frechet import MetricError
from melwave.utils.optional import require

SEARCH = 2.3          # f0 is searched within [request / SEARCH, request · SEARCH]
MAX_F0 = 4000.0       # Hz; above, pYIN's frames are too short to trust


def note_hz(name: str) -> float:
    """'A4' -> 440.0 (scientific pitch notation, the notes dataset's names)."""
    from melwave.data.notes import note_number

    return 440.0 * 2.0 ** ((note_number(name) - 69) / 12)


def note_f0(wave: np.ndarray, sample_rate: int, target_hz: float) -> float:
    """Median f0 (Hz) of the voiced frames of a note, searched around `target_hz`; NaN if unvoiced."""
    librosa = require("librosa", "pitch accuracy (pYIN)")
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    frame = 2048 if sample_rate >= 16000 else 1024
    if len(wave) < frame:
        wave = np.pad(wave, (0, frame - len(wave)))
    f0, voiced, _ = librosa.pyin(wave, fmin=target_hz / SEARCH, fmax=min(target_hz * SEARCH, MAX_F0), sr=sample_rate,
                                 frame_length=frame, hop_length=frame // 8)
    found = f0[voiced & np.isfinite(f0)]
    return float(np.median(found)) if len(found) >= 3 else math.nan


@dataclass
class PitchAccuracy:
    within: float              # share of notes within `tolerance` cents of the request (unvoiced: missed)
    median_cents: float        # median |error| in cents over the voiced notes
    tolerance: float
    items: int
    unvoiced: int

    def to_dict(self) -> dict:
        return asdict(self)


def pitch_accuracy(waves: Sequence[np.ndarray], sample_rate: int, pitches: Sequence[str], *,
                   tolerance: float = 50.0) -> PitchAccuracy:
    """pYIN pitch of each wave against its requested note name (e.g. 'C#4')."""
    if len(waves) != len(pitches) or not waves:
        raise MetricError(f"pitch accuracy: {len(waves)} waves for {len(pitches)} requested pitches")
    cents = []
    for wave, name in zip(waves, pitches):
        target = note_hz(name)
        f0 = note_f0(wave, sample_rate, target)
        cents.append(1200.0 * math.log2(f0 / target) if f0 == f0 else math.nan)
    errors = np.abs(np.asarray(cents))
    voiced = errors[np.isfinite(errors)]
    return PitchAccuracy(float(np.mean(np.nan_to_num(errors, nan=np.inf) <= tolerance)),
                         float(np.median(voiced)) if len(voiced) else math.nan, tolerance, len(cents),
                         int(np.sum(~np.isfinite(errors))))
