"""Labelled audio for conditional mel generation: (mel crop, one index per condition).

Labels come from one of two places:

- a CSV (`labels.csv` in the folder, or a path given): header `path,cond1,cond2,...`, one row per
  file, paths relative to the CSV's folder. Value order = order of first appearance.
- the folder levels between the root and each file: `force=1/angle=0/x.wav` names its conditions
  itself; plain levels (`sm/0/x.wav`) need `levels=("angle", "force")` to name them.
  Values are sorted naturally ("2" before "10").

Every condition has its own vocabulary of named values (`Vocabulary`), which models store so that
users ask for `instrument=flute`, never for index 3.

Each file becomes a fixed-size crop of its mel (`frames` frames): the start of the file (notes,
one-shots) or a random position each time it is drawn (long recordings); files shorter than the
crop are padded with silence. Files that cannot be decoded are reported and skipped.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.audio.io import AUDIO_EXTENSIONS, load_audio
from melwave.data.holdout import HoldoutConfig, matches
from melwave.errors import AudioError, ConfigError, MelwaveError
# The vocabulary and the crop are the models' contract (models store and apply them); the data
# side builds them from labels and files.
from melwave.models.mel_crop import fixed_crop, silence_value
from melwave.models.vocabulary import Condition, Vocabulary
from melwave.utils.csvsafe import unguard_cell

log = logging.getLogger(__name__)

CROPS = ("start", "random")
PROGRESS_EVERY = 5.0  # seconds between "decoded N/M files" lines
LABEL_SOURCES = ("auto", "csv", "folders")


class DatasetError(MelwaveError):
    """A labelled dataset is missing, empty or inconsistently labelled."""


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


@dataclass(frozen=True)
class LabelledItem:
    path: Path
    labels: dict[str, str]


def read_labels_csv(csv_path: Path) -> tuple[list[LabelledItem], Vocabulary]:
    """Parse `path,cond1,...`; errors name the file and line. Cells melwave guarded against
    spreadsheet formulas when writing (`melwave.utils.csvsafe`) come back as the values written."""
    try:
        text = csv_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{csv_path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise DatasetError(f"{csv_path}: cannot read ({err.strerror or err})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not rows[0]:
        raise DatasetError(f"{csv_path}: empty; expected a header 'path,cond1,cond2,...'")
    header = [unguard_cell(h.strip()) for h in rows[0]]
    if header[0] != "path" or len(header) < 2:
        raise DatasetError(f"{csv_path}: header {header} must start with 'path' followed by at least one condition name")
    names = header[1:]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise DatasetError(f"{csv_path}: condition names in the header must be distinct and non-empty: {names}")
    items: list[LabelledItem] = []
    order: dict[str, dict[str, None]] = {n: {} for n in names}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DatasetError(f"{csv_path}:{line}: {len(row)} fields, the header has {len(header)}")
        values = [unguard_cell(cell.strip()) for cell in row]
        if any(not v for v in values):
            raise DatasetError(f"{csv_path}:{line}: empty field in {row}")
        labels = dict(zip(names, values[1:]))
        for name, value in labels.items():
            order[name][value] = None
        items.append(LabelledItem(csv_path.parent / values[0], labels))
    if not items:
        raise DatasetError(f"{csv_path}: no rows below the header")
    vocabulary = Vocabulary(tuple(Condition(n, tuple(order[n])) for n in names))
    return items, vocabulary


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and not p.name.startswith("."))


def read_labels_folders(root: Path, levels: Sequence[str] | None = None) -> tuple[list[LabelledItem], Vocabulary]:
    """Labels from the folder levels between `root` and each audio file."""
    files = _audio_files(root)
    if not files:
        raise DatasetError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    items: list[LabelledItem] = []
    names: tuple[str, ...] | None = tuple(levels) if levels else None
    for path in files:
        parts = path.relative_to(root).parts[:-1]
        if levels:
            if len(parts) != len(levels):
                raise DatasetError(f"{path}: {len(parts)} folder level(s) {list(parts)}, expected {len(levels)} "
                                   f"named {list(levels)}")
            labels = dict(zip(levels, parts))
        else:
            if not parts or not all("=" in p for p in parts):
                raise DatasetError(f"{path}: folder levels {list(parts)} are not all 'name=value'; name the levels "
                                   "(--levels angle,force) or give a labels CSV")
            labels = dict(p.split("=", 1) for p in parts)
            if len(labels) != len(parts):
                raise DatasetError(f"{path}: a condition name repeats in {list(parts)}")
            if names is None:
                names = tuple(labels)
            elif set(labels) != set(names):
                raise DatasetError(f"{path}: conditions {sorted(labels)} differ from the other files' {sorted(names)}")
        if any(not v for v in labels.values()):
            raise DatasetError(f"{path}: empty condition value in {list(parts)}")
        items.append(LabelledItem(path, labels))
    assert names is not None
    vocabulary = Vocabulary(tuple(
        Condition(n, tuple(sorted({item.labels[n] for item in items}, key=_natural_key))) for n in names))
    return items, vocabulary


def scan_labelled(root: str | Path, *, source: str = "auto", csv_path: str | Path | None = None,
                  levels: Sequence[str] | None = None) -> tuple[list[LabelledItem], Vocabulary]:
    """Find the labelled files under `root`. source: auto (CSV if `labels.csv` exists), csv, folders."""
    root = Path(root)
    if source not in LABEL_SOURCES:
        raise ConfigError(f"labels source {source!r}: expected one of {LABEL_SOURCES}")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    csv_file = Path(csv_path) if csv_path else root / "labels.csv"
    if source == "csv" or (source == "auto" and (csv_path or csv_file.exists()) and not levels):
        if not csv_file.exists():
            raise DatasetError(f"{csv_file}: no such labels CSV")
        return read_labels_csv(csv_file)
    return read_labels_folders(root, levels)


@dataclass(frozen=True)
class LabelledDataConfig:
    """Where labels come from and how crops are cut (`recipe.data:` in generator configs).

    crop:    "start" (notes, one-shots: the onset matters) or "random" (long recordings).
    labels:  "auto" (labels.csv if present, else name=value folders), "csv", or "folders".
    levels:  names for plain folder levels, outermost first (e.g. [angle, force]).
    csv:     a labels CSV elsewhere than DIR/labels.csv.
    holdout: condition combinations whose clips are left out (generators only; see
             melwave.data.holdout): {conditions: [instrument, pitch], fraction: 0.15, seed: 0}.
    """

    crop: str = "start"
    labels: str = "auto"
    levels: tuple[str, ...] | None = None
    csv: str | None = None
    holdout: HoldoutConfig = field(default_factory=HoldoutConfig)

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ConfigError(f"data.crop={self.crop!r}: expected one of {CROPS}")
        if self.labels not in LABEL_SOURCES:
            raise ConfigError(f"data.labels={self.labels!r}: expected one of {LABEL_SOURCES}")

    def scan(self, root: str | Path) -> tuple[list[LabelledItem], Vocabulary]:
        return scan_labelled(root, source=self.labels, csv_path=self.csv, levels=self.levels)


def clip_seconds(items: Sequence[LabelledItem]) -> list[float]:
    """Duration in seconds of each labelled file that can be read (headers only where the format
    has one; other files are decoded). Unreadable files are left out: loading reports them."""
    import soundfile as sf

    seconds = []
    for item in items:
        try:
            info = sf.info(str(item.path))
            seconds.append(info.frames / info.samplerate)
            continue
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            pass
        try:
            seconds.append(load_audio(item.path).duration)
        except AudioError:
            continue
    return seconds


def median_clip_seconds(items: Sequence[LabelledItem], *, where: str) -> float:
    """The median duration of the labelled files (what a model fitted to them should make)."""
    seconds = clip_seconds(items)
    if not seconds:
        raise DatasetError(f"{where}: none of the {len(items)} labelled files could be read")
    return float(np.median(seconds))


def load_labelled_mels(items: Sequence[LabelledItem], vocabulary: Vocabulary, mel_config: MelConfig,
                       *, min_frames: int = 1) -> tuple[list[Tensor], Tensor, list[Path]]:
    """Decode every file and compute its whole mel once.

    Returns (mels: list of (n_mels, frames_i), labels: (N, n_conditions) long, kept paths).
    Undecodable or too-short files are logged and skipped; none left is an error.
    """
    extractor = MelExtractor(mel_config)
    mels: list[Tensor] = []
    labels: list[list[int]] = []
    kept: list[Path] = []
    skipped: list[str] = []
    log.info("decoding %d labelled file(s) into mels", len(items))
    # A line every few seconds: thousands of files take minutes, and a silent start looks hung.
    next_report = time.monotonic() + PROGRESS_EVERY
    for done, item in enumerate(items):
        if time.monotonic() >= next_report:
            log.info("decoded %d/%d files", done, len(items))
            next_report = time.monotonic() + PROGRESS_EVERY
        try:
            audio = load_audio(item.path, mel_config.sample_rate)
            if len(audio.wave) < mel_config.min_samples():
                raise AudioError(f"{item.path}: {len(audio.wave)} samples, shorter than one mel frame")
            with torch.no_grad():
                mel = extractor(torch.from_numpy(audio.wave))
        except AudioError as err:
            skipped.append(str(err))
            log.warning("skipping %s", err)
            continue
        mels.append(mel)
        labels.append(vocabulary.encode(item.labels, source=str(item.path)))
        kept.append(item.path)
    if skipped:
        log.warning("skipped %d of %d files that could not be used (first: %s)", len(skipped), len(items), skipped[0])
    if not mels:
        raise DatasetError(f"none of the {len(items)} labelled files could be used" + (f" (first error: {skipped[0]})" if skipped else ""))
    return mels, torch.tensor(labels, dtype=torch.long), kept


class LabelledMels(torch.utils.data.Dataset):
    """Items: (mel crop (n_mels, frames) in mel_config units, labels (n_conditions,) long).

    `crop="random"` draws a new position every time an item is read; "start" always gives the
    file's first frames. The dataset is `keyed`: the training loop's resumable sampler hands it
    (index, crop_seed) so random crops repeat exactly after a resume.
    """

    keyed = True

    def __init__(self, mels: list[Tensor], labels: Tensor, vocabulary: Vocabulary, mel_config: MelConfig,
                 *, frames: int, crop: str = "start"):
        if crop not in CROPS:
            raise ConfigError(f"crop={crop!r}: expected one of {CROPS}")
        self.mels = mels
        self.labels = labels
        self.vocabulary = vocabulary
        self.mel_config = mel_config
        self.frames = frames
        self.crop = crop
        self.fill = silence_value(mel_config)

    @classmethod
    def from_folder(cls, root: str | Path, mel_config: MelConfig, *, frames: int,
                    data: LabelledDataConfig = LabelledDataConfig(), vocabulary: Vocabulary | None = None) -> "LabelledMels":
        items, found = data.scan(root)
        if data.holdout.enabled:
            if not data.holdout.combinations:
                raise ConfigError(f"data.holdout.fraction={data.holdout.fraction}: not yet resolved to combinations "
                                  "(melwave.train.recipes.conditions.prepare_config chooses them before training)")
            kept = [item for item in items if not matches(item.labels, data.holdout.held_out)]
            log.info("holdout: %d of %d files left out (%d combinations of %s)", len(items) - len(kept), len(items),
                     len(data.holdout.combinations), ", ".join(data.holdout.conditions))
            if not kept:
                raise DatasetError(f"{root}: every file falls in a held-out combination")
            items = kept
        if vocabulary is not None:
            # A model's stored vocabulary rules (resume, evaluation): labels outside it are errors.
            for item in items:
                vocabulary.encode(item.labels, source=str(item.path))
            found = vocabulary
        mels, labels, _ = load_labelled_mels(items, found, mel_config)
        return cls(mels, labels, found, mel_config, frames=frames, crop=data.crop)

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        mel = self.mels[index]
        start = 0
        if self.crop == "random" and mel.shape[1] > self.frames:
            high = mel.shape[1] - self.frames + 1
            start = int(np.random.default_rng(seed).integers(high)) if seed is not None else int(torch.randint(0, high, ()).item())
        return fixed_crop(mel, self.frames, start, self.fill), self.labels[index]

    def subset(self, indices: Sequence[int]) -> "LabelledMels":
        return LabelledMels([self.mels[i] for i in indices], self.labels[list(indices)], self.vocabulary,
                            self.mel_config, frames=self.frames, crop=self.crop)

    def split(self, count: int, seed: int = 0) -> tuple["LabelledMels", "LabelledMels | None"]:
        """(train, validation) with `count` files held out (None when count is 0)."""
        if count <= 0 or len(self) < 2:
            return self, None
        count = min(count, len(self) - 1)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)).tolist()
        return self.subset(sorted(order[count:])), self.subset(sorted(order[:count]))

    def frames_of_all(self) -> Tensor:
        """(n_mels, total frames): every frame of every crop ("start": what training sees) or of
        every whole file ("random": crops move, so every frame is seen)."""
        if self.crop == "start":
            return torch.stack([self[i][0] for i in range(len(self))]).permute(1, 0, 2).reshape(self.mel_config.n_mels, -1)
        return torch.cat(self.mels, dim=1)

    def statistics(self) -> tuple[Tensor, Tensor, int]:
        """Per-mel-bin mean and std (n_mels,) over `frames_of_all`, and how many frames that is."""
        frames = self.frames_of_all()
        mean = frames.mean(dim=1)
        # A floor on std: a bin that is silent everywhere would otherwise divide by ~0.
        std = frames.std(dim=1).clamp(min=1e-2)
        return mean, std, frames.shape[1]

    def value_range(self) -> tuple[Tensor, Tensor]:
        """Per-mel-bin minimum and maximum (n_mels,) over `frames_of_all`."""
        frames = self.frames_of_all()
        return frames.min(dim=1).values, frames.max(dim=1).values

    def counts(self) -> dict[str, list[int]]:
        """Examples per value of each condition (for reports)."""
        return {c.name: torch.bincount(self.labels[:, i], minlength=len(c.values)).tolist()
                for i, c in enumerate(self.vocabulary.conditions)}
