"""The audio-embedding contract FAD uses, and a per-file cache of embeddings.

AudioEmbedding.embed: (T,) float32 waveform at `sample_rate` -> (frames, dim) float array,
one row per analysis window (FAD treats every row as a sample).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from melwave.utils.fileio import atomic_write


class AudioEmbedding(Protocol):
    name: str          # shown in every output: FAD[name]
    sample_rate: int   # the rate `embed` expects
    dim: int

    @property
    def cache_key(self) -> str:
        """Changes whenever the embedding of the same audio could change (name, weights, settings)."""

    def embed(self, wave: np.ndarray) -> np.ndarray: ...


def file_fingerprint(path: str | Path) -> str:
    """Absolute path + modification time + size: cheap, and changes when the file is rewritten."""
    path = Path(path).resolve()
    stat = path.stat()
    return f"{path}|{stat.st_mtime_ns}|{stat.st_size}"


def default_cache_dir() -> Path:
    root = os.environ.get("MELWAVE_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "melwave")
    return Path(root) / "embeddings"


class EmbeddingCache:
    """Embeddings stored as .npy files under `root`, keyed by file fingerprint + embedding key.

    A file edited in place gets a new mtime/size and so a new key; stale entries are simply never
    read again. `hits`/`misses` count lookups (the CLI reports them; tests check them).
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def _path(self, audio_path: str | Path, embedding: AudioEmbedding) -> Path:
        digest = hashlib.sha1(f"{file_fingerprint(audio_path)}|{embedding.cache_key}".encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.npy"

    def get(self, audio_path: str | Path, embedding: AudioEmbedding) -> np.ndarray | None:
        path = self._path(audio_path, embedding)
        if path.is_file():
            try:
                value = np.load(path, allow_pickle=False)
                self.hits += 1
                return value
            except (OSError, ValueError):
                pass  # a truncated entry is recomputed and rewritten
        self.misses += 1
        return None

    def put(self, audio_path: str | Path, embedding: AudioEmbedding, value: np.ndarray) -> None:
        path = self._path(audio_path, embedding)
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, np.asarray(value, dtype=np.float32), allow_pickle=False)

        atomic_write(path, write, overwrite=True)


def weights_key(path: str | Path | None) -> str:
    if path is None:
        return "none"
    return hashlib.sha1(file_fingerprint(path).encode()).hexdigest()[:16]


def settings_key(**settings) -> str:
    return json.dumps(settings, sort_keys=True, default=str)
