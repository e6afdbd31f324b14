"""Reading and writing audio: any common format, rate and channel count in; float32 mono at the
requested rate out, with notes saying what was converted."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from melwave.errors import AudioError
from melwave.utils.fileio import atomic_write

# Beyond this |sample| a float file is treated as corrupt (+120 dB over full scale).
MAX_PEAK = 1e6

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")


@dataclass
class LoadedAudio:
    """wave: (T,) float32 in [-1, 1] (not clipped), at sample_rate."""

    wave: np.ndarray
    sample_rate: int
    source_rate: int
    source_channels: int
    notes: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.wave) / self.sample_rate


def _read(path: Path) -> tuple[np.ndarray, int]:
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        first_error = err
    # libsndfile lacks some codecs (older builds: mp3/opus); audioread via librosa covers them.
    try:
        import warnings

        from melwave.utils.optional import require

        librosa = require("librosa", "decoding formats libsndfile cannot read")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(str(path), sr=None, mono=False)
        data = np.atleast_2d(data).T.astype(np.float32)
        return data, int(rate)
    except Exception:  # noqa: BLE001 - any decoder failure means "not decodable audio"
        message = str(first_error).strip().splitlines()[-1] if str(first_error).strip() else type(first_error).__name__
        message = message.replace(f"Error opening {str(path)!r}: ", "")
        if "does not exist" in message or "not a regular file" in message:
            message = "unrecognised data"  # libsndfile's words for an undecodable mp3 stream
        raise AudioError(f"{path}: cannot decode audio: corrupt, truncated or not a supported format ({message})") from None


def find_files(root: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS) -> list[Path]:
    """The one folder scan: every file under `root` (recursively) whose suffix is one of
    `extensions` (case-insensitive), sorted, skipping hidden files and everything inside hidden
    folders (`.git`, `.ipynb_checkpoints`, macOS `._` resource forks), so training, evaluation and
    the batch commands see the same files in the same folder."""
    root = Path(root)
    wanted = tuple(e.lower() for e in extensions)
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in wanted and not any(part.startswith(".") for part in p.relative_to(root).parts)
                  and p.is_file())


def resample(wave: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """(T,) or (T, C) float32 resampled with soxr's high-quality filter."""
    if source_rate == target_rate:
        return wave
    return soxr.resample(wave, source_rate, target_rate, quality="HQ").astype(np.float32)


def load_audio(path: str | Path, sample_rate: int | None = None) -> LoadedAudio:
    """Decode `path`, down-mix to mono and resample to `sample_rate` (None keeps the file's).

    Raises AudioError naming the file for missing, empty, undecodable or non-finite audio.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes)")
    data, rate = _read(path)
    if not isinstance(rate, int) or rate <= 0:  # a corrupt header can declare 0 Hz (found by fuzzing)
        raise AudioError(f"{path}: header declares an invalid sample rate ({rate})")
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio has no samples")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(f"{path}: audio contains {bad} NaN or infinite sample(s)")
    notes = []
    peak = float(np.abs(data).max())
    if peak > MAX_PEAK:
        # Float files this far beyond full scale are corrupt, and would overflow float32 power spectra.
        raise AudioError(f"{path}: peak amplitude {peak:.3g} is implausible (more than {MAX_PEAK:.0e} x full scale); corrupt float data?")
    if peak > 1.0:
        notes.append(f"peak amplitude {peak:.3g} exceeds full scale (1.0); samples kept unclipped")
    channels = data.shape[1]
    wave = data.mean(axis=1) if channels > 1 else data[:, 0]
    if channels > 1:
        notes.append(f"down-mixed {channels} channels to mono")
    target = rate if sample_rate is None else sample_rate
    if rate != target:
        wave = resample(wave, rate, target)
        notes.append(f"resampled {rate} Hz -> {target} Hz")
    return LoadedAudio(np.ascontiguousarray(wave, dtype=np.float32), target, rate, channels, notes)


def save_audio(path: str | Path, wave: np.ndarray, sample_rate: int, *, overwrite: bool = False, subtype: str = "PCM_16") -> Path:
    """Write a mono (T,) waveform atomically as WAV (or FLAC by extension); refuses to clobber."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: refusing to write audio containing NaN or infinite samples")
    path = Path(path)
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    clipped = np.clip(wave, -1.0, 1.0)
    return atomic_write(path, lambda tmp: sf.write(str(tmp), clipped, sample_rate, subtype=subtype, format=fmt), overwrite=overwrite)
