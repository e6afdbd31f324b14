"""A folder of audio -> random fixed-length training segments + held-out validation clips.

Any format/rate/channel count `melwave.audio.io.load_audio` reads is accepted; everything is
converted to mono at the model's sample rate once, when the dataset is built (kept in memory:
one hour of 22.05 kHz audio is ~320 MB). Files that fail to decode are reported and skipped.

The split is deterministic: files are ordered by a hash of (split_seed, relative path), so adding
a file never moves another between train and validation.

Sampling is resumable and shardable: `ResumableBatchSampler` gives batch k of rank r as a pure
function of (seed, k, r), so a resumed run draws exactly the batches it would have drawn, and the
ranks of a distributed run draw disjoint examples.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from melwave.audio.io import AUDIO_EXTENSIONS, find_files, load_audio
from melwave.errors import AudioError

log = logging.getLogger(__name__)


def find_audio_files(root: str | Path) -> list[Path]:
    """All audio files under `root` (recursive), sorted; an error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise AudioError(f"{root}: not a directory (expected a folder of audio files)")
    files = find_files(root)
    if not files:
        raise AudioError(f"{root}: no audio files found (looked for {', '.join(AUDIO_EXTENSIONS)}, recursively)")
    return files


def split_files(files: list[Path], root: Path, n_validation: int, seed: int) -> tuple[list[Path], list[Path]]:
    """(train, validation) by a stable hash of each relative path; at least one file trains."""
    def key(path: Path) -> str:
        return hashlib.sha256(f"{seed}:{path.relative_to(root).as_posix()}".encode()).hexdigest()

    ordered = sorted(files, key=key)
    n_validation = min(n_validation, len(ordered) - 1)
    return sorted(ordered[n_validation:]), sorted(ordered[:n_validation])


def _load_all(files: list[Path], sample_rate: int, what: str) -> tuple[list[np.ndarray], list[Path], list[str]]:
    waves, kept, problems = [], [], []
    started = time.monotonic()
    for i, path in enumerate(files):
        try:
            waves.append(load_audio(path, sample_rate).wave)
            kept.append(path)
        except AudioError as err:
            problems.append(str(err))
            log.warning("skipping %s", err)
        if (i + 1) % 200 == 0:
            log.info("loading %s audio: %d/%d files (%.0f s)", what, i + 1, len(files), time.monotonic() - started)
    return waves, kept, problems


class AudioSegments(Dataset):
    """Training examples: (segment_samples,) float32 crops of the training files.

    Item `(index, crop_seed)` (from ResumableBatchSampler) picks a file in proportion to its
    length (index ranges over len(self) slots of segment_samples each) and a crop offset drawn
    from `crop_seed`; a plain int index uses the index as the seed. Files shorter than a segment
    are zero-padded at the end.
    """

    keyed = True  # tells ResumableBatchSampler to yield (index, crop_seed) pairs

    def __init__(self, files: list[Path], sample_rate: int, segment_samples: int):
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.waves, self.files, self.problems = _load_all(files, sample_rate, "training")
        if not self.waves:
            raise AudioError(f"none of the {len(files)} training files could be read: {self.problems[:3]}")
        slots = np.array([max(1, len(w) // segment_samples) for w in self.waves])
        self._slot_ends = np.cumsum(slots)

    def __len__(self) -> int:
        return int(self._slot_ends[-1])

    @property
    def total_seconds(self) -> float:
        return sum(len(w) for w in self.waves) / self.sample_rate

    def locate(self, item: int | tuple[int, int], align: int = 1) -> tuple[int, int]:
        """(file index, crop start) of an item; starts are multiples of `align` samples. A start
        past the end of a short file's wave means zero padding (see `crop`)."""
        index, crop_seed = item if isinstance(item, tuple) else (item, item)
        file_index = int(np.searchsorted(self._slot_ends, index, side="right"))
        room = len(self.waves[file_index]) - self.segment_samples
        if room <= 0:
            return file_index, 0
        return file_index, int(np.random.default_rng(crop_seed).integers(0, room // align + 1)) * align

    def crop(self, wave: np.ndarray, start: int) -> torch.Tensor:
        """(segment_samples,) float32 from `start`, zero-padded at the end if the wave is short."""
        segment = np.zeros(self.segment_samples, dtype=np.float32)
        piece = wave[start : start + self.segment_samples]
        segment[: len(piece)] = piece
        return torch.from_numpy(segment)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        file_index, start = self.locate(item)
        return self.crop(self.waves[file_index], start)


class PairedSegments(Dataset):
    """Distillation examples: (2, segment_samples) float32 — row 0 a crop of a training file,
    row 1 the same samples of that file's target (a teacher vocoder's output for the whole
    file's mel, `melwave.train.teacher`).

    Crop starts are multiples of `align` (the hop length): the student's mel of the crop then
    sits on the frame grid of the mel the teacher saw, so the target is the teacher's answer to
    (nearly) the same input — a sub-hop shift would change a vocoder's output, not just delay it.
    """

    keyed = True

    def __init__(self, segments: AudioSegments, targets: list[np.ndarray], align: int):
        if len(targets) != len(segments.waves):
            raise ValueError(f"{len(targets)} targets for {len(segments.waves)} training files")
        for path, wave, target in zip(segments.files, segments.waves, targets):
            if len(target) != len(wave):
                raise ValueError(f"{path}: target has {len(target)} samples, the audio {len(wave)}")
        self.segments, self.targets, self.align = segments, targets, align

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, item: int | tuple[int, int]) -> torch.Tensor:
        file_index, start = self.segments.locate(item, self.align)
        return torch.stack([self.segments.crop(self.segments.waves[file_index], start),
                            self.segments.crop(self.targets[file_index], start)])


class ValidationClips(Dataset):
    """Held-out clips, each (T,) float32 with T <= max_seconds·sample_rate, cut to a whole number
    of `hop_length`s so mels and waveforms line up exactly."""

    def __init__(self, files: list[Path], sample_rate: int, max_seconds: float, hop_length: int, min_samples: int):
        waves, self.files, self.problems = _load_all(files, sample_rate, "validation")
        limit = int(max_seconds * sample_rate)
        self.clips = []
        for wave in waves:
            wave = wave[:limit]
            wave = wave[: len(wave) // hop_length * hop_length]
            shortest = max(min_samples, hop_length)
            if len(wave) < shortest:  # very short files: zero-pad to a whole number of hops
                wave = np.pad(wave, (0, -(-shortest // hop_length) * hop_length - len(wave)))
            self.clips.append(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)))

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.clips[index]


class ResumableBatchSampler(Sampler):
    """An endless stream of batches, batch k of rank r a pure function of (seed, k, r).

    Each epoch is a fresh permutation of range(n) (seeded by (seed, epoch)); rank r takes every
    world_size-th element, truncated so all ranks get equally many per epoch. `start_batch` skips
    batches already consumed (resume) without drawing them. Keyed datasets get (index, crop_seed)
    items, so random crops are reproduced on resume too.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start_batch: int = 0, keyed: bool = False):
        if n < world_size:
            raise ValueError(f"dataset of {n} examples cannot be shared among {world_size} processes")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.start_batch, self.keyed = rank, world_size, start_batch, keyed
        self.per_rank = n // world_size
        self._epoch_cache: tuple[int, np.ndarray] | None = None

    def _order(self, epoch: int) -> np.ndarray:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch_cache = (epoch, perm[self.rank :: self.world_size][: self.per_rank])
        return self._epoch_cache[1]

    def item(self, position: int) -> int | tuple[int, int]:
        """The item at `position` of this rank's stream."""
        epoch, offset = divmod(position, self.per_rank)
        index = int(self._order(epoch)[offset])
        if not self.keyed:
            return index
        crop_seed = int(np.random.default_rng([self.seed, epoch, self.rank, offset, 7]).integers(2**62))
        return index, crop_seed

    def __iter__(self) -> Iterator[list]:
        batch = self.start_batch
        while True:
            first = batch * self.batch_size
            yield [self.item(p) for p in range(first, first + self.batch_size)]
            batch += 1

    def __len__(self) -> int:  # endless; DataLoader only needs this for progress estimates
        return 2**62
