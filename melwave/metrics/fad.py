"""Fréchet Audio Distance (Kilgour et al. 2019) with a pluggable embedding.

Every embedding row (one analysis window of one clip) is a sample of the Gaussian; the score is
always reported with the embedding's name (FAD[aisfx], FAD[vggish]), the clip counts and total
durations of both sets, and FAD∞ (extrapolated to infinitely many evaluated rows).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from melwave.audio.io import load_audio
from melwave.metrics.embeddings.base import AudioEmbedding, EmbeddingCache
from melwave.metrics.frechet import MetricError, frechet_distance_features, frechet_distance_infinity


@dataclass
class EmbeddedSet:
    """Embeddings of a set of clips: rows (N_rows, D) and per-clip bookkeeping."""

    rows: np.ndarray
    clips: int
    seconds: float
    skipped: list[str] = field(default_factory=list)


@dataclass
class FADResult:
    embedding: str
    fad: float
    fad_inf: float
    reference_clips: int
    reference_seconds: float
    evaluated_clips: int
    evaluated_seconds: float
    reference_rows: int
    evaluated_rows: int
    note: str = ""

    @property
    def label(self) -> str:
        return f"FAD[{self.embedding}]"

    def to_dict(self) -> dict:
        return {"metric": self.label, **asdict(self)}

    def summary(self) -> str:
        return (f"{self.label} = {self.fad:.4f} (FAD∞ {self.fad_inf:.4f}; reference {self.reference_clips} clips / "
                f"{self.reference_seconds:.1f} s, evaluated {self.evaluated_clips} clips / {self.evaluated_seconds:.1f} s"
                + (f"; {self.note}" if self.note else "") + ")")


def embed_files(paths: Iterable[str | Path], embedding: AudioEmbedding, *, cache: EmbeddingCache | None = None,
                progress=None) -> EmbeddedSet:
    """Embed each audio file (resampled to the embedding's rate), using and filling `cache`."""
    rows, seconds, clips, skipped = [], 0.0, 0, []
    for path in paths:
        value = cache.get(path, embedding) if cache is not None else None
        try:
            audio = load_audio(path, embedding.sample_rate)
        except Exception as err:  # noqa: BLE001 - reported per file, the set goes on
            skipped.append(f"{path}: {err}")
            if progress is not None:
                progress.update(1)
            continue
        if value is None:
            value = embedding.embed(audio.wave)
            if cache is not None:
                cache.put(path, embedding, value)
        rows.append(np.asarray(value, dtype=np.float64))
        seconds += audio.duration
        clips += 1
        if progress is not None:
            progress.update(1)
    dim = getattr(embedding, "dim", 0)
    return EmbeddedSet(np.concatenate(rows) if rows else np.zeros((0, dim)), clips, seconds, skipped)


def fad_from_sets(reference: EmbeddedSet, evaluated: EmbeddedSet, embedding_name: str) -> FADResult:
    """FAD and FAD∞ of two embedded sets; too few rows gives NaN with the reason in `note`."""
    note = ""
    fad = fad_inf = math.nan
    try:
        fad = frechet_distance_features(reference.rows, evaluated.rows)
    except MetricError as err:
        note = str(err)
    if not note:
        try:
            fad_inf = frechet_distance_infinity(reference.rows, evaluated.rows).value
        except MetricError as err:
            note = f"FAD∞: {err}"
        dim = evaluated.rows.shape[1]
        if not note and len(evaluated.rows) < 2 * dim:
            # With fewer rows than ~2x the embedding size the bias is far from linear in 1/N and
            # the extrapolated intercept can even come out negative.
            note = f"FAD∞ unreliable: {len(evaluated.rows)} evaluated embedding rows for {dim} dimensions (want >= {2 * dim})"
    return FADResult(embedding_name, fad, fad_inf, reference.clips, reference.seconds, evaluated.clips, evaluated.seconds,
                     len(reference.rows), len(evaluated.rows), note)


def frechet_audio_distance(reference: Iterable[str | Path], evaluated: Iterable[str | Path], embedding: AudioEmbedding, *,
                           cache: EmbeddingCache | None = None) -> FADResult:
    return fad_from_sets(embed_files(reference, embedding, cache=cache), embed_files(evaluated, embedding, cache=cache), embedding.name)
