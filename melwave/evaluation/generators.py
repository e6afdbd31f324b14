"""`melwave evaluate generator`: compare a folder of generated sounds/mels with a folder of real ones.

A folder may hold audio files, mel files (.pt/.npy with their MelConfig) or both side by side
(`melwave generate` writes x.pt + x.wav): the mel is used for the image/raw-mel metrics (it is
the generator's own output, before any vocoder) and the audio for FAD. Audio without a mel is
analysed with the evaluation MelConfig: the generated mels' config, or `mel_config` if none.

Mels are cropped (from the start: notes are onset-aligned) or padded with silence to a common
length, `frames` (default: the median length of the generated mels).

Condition labels of generated items come from a `labels.csv` in the folder (path,cond1,...;
paths with or without suffix) or `name=value` folder levels, as melwave's labelled datasets.

`combinations` restricts both sets to items whose labels fall in one of them (a generator's
held-out combinations: the same command then measures composition). With a `vocoder`, both sets'
mels (as cropped) are vocoded by it and FAD and pitch accuracy hear that audio, so the vocoder's
own artefacts are on both sides; without one they use the audio files beside the mels.
Per-class FID groups items by `class_key` (default: the conditions of `combinations`, else every
condition of the generated labels) and averages over classes with >= `min_class_items` items in
both sets.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.features import compress
from melwave.audio.io import AUDIO_EXTENSIONS, find_files, load_audio
from melwave.audio.melfile import MEL_EXTENSIONS, load_mel
from melwave.data.holdout import matches
from melwave.data.labelled import read_labels_csv
from melwave.errors import MelwaveError
from melwave.metrics.embeddings.base import AudioEmbedding, EmbeddingCache
from melwave.metrics.fad import EmbeddedSet, FADResult, embed_files, fad_from_sets
from melwave.metrics.fid import STYLE_DEFAULT, ImageStyle, inception_features, raw_mel_features, render_mel_image
from melwave.metrics.frechet import MetricError, frechet_distance_features, kernel_inception_distance
from melwave.metrics.generator import (
    ConditionScore, NDBResult, PerClassFrechet, condition_scores, number_of_different_bins, per_class_frechet,
)
from melwave.metrics.note_pitch import PitchAccuracy, pitch_accuracy
from melwave.evaluation.report import Entry, HtmlReport, Table, mel_grid

log = logging.getLogger(__name__)

DEFAULT_MEL_CONFIG = PRESETS["cwgan-22k-log"]


@dataclass
class SetItem:
    """One sound of a set: its audio and/or mel file, and its condition labels (may be empty)."""

    key: Path
    audio: Path | None = None
    mel_file: Path | None = None
    labels: dict[str, str] = field(default_factory=dict)


def _labels_from_csv(root: Path) -> dict[Path, dict[str, str]]:
    """{path without audio/mel suffix: labels} from `root/labels.csv` ({} if there is none);
    parsed by the labelled datasets' own reader, so both accept and refuse the same files."""
    csv_path = root / "labels.csv"
    if not csv_path.is_file():
        return {}
    items, _ = read_labels_csv(csv_path)
    # Rows may name x.wav, x.pt or plain x: all mean the item keyed x.
    return {item.path.with_suffix("") if item.path.suffix.lower() in AUDIO_EXTENSIONS + MEL_EXTENSIONS else item.path: item.labels
            for item in items}


def scan_set(root: str | Path) -> list[SetItem]:
    """Group the audio and mel files under `root` by path without suffix; attach labels."""
    root = Path(root)
    if not root.is_dir():
        raise MelwaveError(f"{root}: not a folder")
    items: dict[Path, SetItem] = {}
    for path in find_files(root, AUDIO_EXTENSIONS + MEL_EXTENSIONS):
        suffix = path.suffix.lower()
        item = items.setdefault(path.with_suffix(""), SetItem(path.with_suffix("")))
        if suffix in MEL_EXTENSIONS:
            item.mel_file = item.mel_file or path
        else:
            item.audio = item.audio or path
    if not items:
        raise MelwaveError(f"{root}: no audio ({', '.join(AUDIO_EXTENSIONS)}) or mel ({', '.join(MEL_EXTENSIONS)}) files found")
    from_csv = _labels_from_csv(root)
    for key, item in items.items():
        if key in from_csv:
            item.labels = from_csv[key]
            continue
        parts = key.relative_to(root).parts[:-1]
        item.labels = dict(p.split("=", 1) for p in parts if "=" in p)
    return list(items.values())


def evaluation_config(fake: Sequence[SetItem], default: MelConfig = DEFAULT_MEL_CONFIG) -> MelConfig:
    """The generated mels' config (all must agree), else `default`."""
    config = None
    for item in fake:
        if item.mel_file is None or item.mel_file.suffix != ".pt":
            continue
        found = load_mel(item.mel_file).config
        if config is None:
            config = found
        elif found != config:
            differences = ", ".join(f"{k}: {a!r} vs {b!r}" for k, (a, b) in found.diff(config).items())
            raise MelwaveError(f"{item.mel_file}: mel config differs from the other generated mels ({differences})")
    return config or default


def item_mel(item: SetItem, cfg: MelConfig) -> torch.Tensor:
    """(n_mels, frames) in `cfg` units: the item's mel file if it has this config, else its audio analysed."""
    if item.mel_file is not None:
        try:
            mel_file = load_mel(item.mel_file, cfg if item.mel_file.suffix == ".npy" else None)
        except MelwaveError:
            if item.audio is None:
                raise
        else:
            if mel_file.config == cfg:
                return mel_file.mel.float()
            if item.audio is None:
                differences = ", ".join(f"{k}: {a!r} (evaluation uses {b!r})" for k, (a, b) in mel_file.config.diff(cfg).items())
                raise MelwaveError(f"{item.mel_file}: mel config differs from the evaluation config and no audio is beside it "
                                   f"({differences})")
    from melwave.audio.features import mel_spectrogram

    audio = load_audio(item.audio, cfg.sample_rate)
    wave = audio.wave if len(audio.wave) >= cfg.min_samples() else np.pad(audio.wave, (0, cfg.min_samples() - len(audio.wave)))
    return mel_spectrogram(wave, cfg)


def fit_frames(mel: torch.Tensor, frames: int, cfg: MelConfig) -> torch.Tensor:
    if mel.shape[-1] >= frames:
        return mel[..., :frames]
    silence = float(compress(torch.zeros(1), cfg)[0])
    return torch.nn.functional.pad(mel, (0, frames - mel.shape[-1]), value=silence)


@dataclass
class GeneratorEvaluation:
    mel_config: MelConfig
    frames: int
    real_items: int
    fake_items: int
    scores: dict[str, float]                  # flat name -> value, e.g. "FID[mel-image]"
    notes: dict[str, str]
    fad: FADResult | None
    ndb: NDBResult | None
    conditions: list[ConditionScore]
    skipped: list[str]
    per_class: dict[str, PerClassFrechet] = field(default_factory=dict)   # features name -> per-class FID
    pitch: PitchAccuracy | None = None
    combinations: list[dict[str, str]] | None = None                       # the filter, if any

    def rows(self) -> list[list]:
        return [[name, value, self.notes.get(name, "")] for name, value in self.scores.items()]

    def format_table(self) -> str:
        width = max(len(n) for n in self.scores) if self.scores else 10
        lines = [f"{'metric'.ljust(width)}  value"]
        for name, value in self.scores.items():
            shown = "nan" if isinstance(value, float) and math.isnan(value) else (f"{value:.4f}" if isinstance(value, float) else str(value))
            note = f"  ({self.notes[name]})" if name in self.notes else ""
            lines.append(f"{name.ljust(width)}  {shown}{note}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "mel_config": self.mel_config.to_dict(), "frames": self.frames, "real_items": self.real_items,
            "fake_items": self.fake_items, "scores": self.scores, "notes": self.notes,
            "fad": self.fad.to_dict() if self.fad else None, "ndb": self.ndb.to_dict() if self.ndb else None,
            "conditions": [c.to_dict() for c in self.conditions], "skipped": self.skipped,
            "per_class_fid": {k: v.to_dict() for k, v in self.per_class.items()},
            "pitch": self.pitch.to_dict() if self.pitch else None, "combinations": self.combinations,
        }


# probabilities(mels (N, n_mels, frames) in cfg units) -> {condition: (N, K)}; plus its vocabulary.
@dataclass
class ClassifierSpec:
    predict: Callable[[torch.Tensor], Mapping[str, np.ndarray]]
    vocabularies: Mapping[str, Sequence[str]]
    mel_config: MelConfig
    frames: int


def _record(scores: dict, notes: dict, name: str, fn) -> None:
    try:
        scores[name] = fn()
    except MetricError as err:
        scores[name] = math.nan
        notes[name] = str(err)


def filter_items(items: list[SetItem], combinations: Sequence[Mapping[str, str]], what: str) -> list[SetItem]:
    """The items whose labels fall in one of `combinations`; none is an error naming the set."""
    kept = [item for item in items if matches(item.labels, combinations)]
    if not kept:
        names = sorted({name for c in combinations for name in c})
        raise MelwaveError(f"{what}: none of its {len(items)} items is labelled with one of the {len(combinations)} "
                           f"combinations asked for (of {', '.join(names)})")
    return kept


def class_name(labels: Mapping[str, str], key: Sequence[str]) -> str | None:
    """'flute/C#4' for key (instrument, pitch); None when the item lacks one of them."""
    values = [labels.get(name) for name in key]
    return None if any(v is None for v in values) else "/".join(values)


def evaluate_generator(real_dir: str | Path, fake_dir: str | Path, *, mel_config: MelConfig | None = None,
                       frames: int | None = None, style: ImageStyle = STYLE_DEFAULT, embedding: AudioEmbedding | None = None,
                       cache: EmbeddingCache | None = None, classifier: ClassifierSpec | None = None,
                       report: HtmlReport | None = None, progress: bool | None = None, device: str = "cpu",
                       grid_per_value: int = 4, image_fid: bool = True,
                       combinations: Sequence[Mapping[str, str]] | None = None, vocoder=None,
                       class_key: Sequence[str] | None = None, min_class_items: int = 5,
                       pitch_condition: str | None = "pitch", train_dir: str | Path | None = None) -> GeneratorEvaluation:
    """Every generator metric of `fake_dir` against `real_dir` (see the module docstring).

    image_fid=False skips the Inception network (FID/KID on mel images), the slow part on a CPU.
    pitch_condition: the label holding note names (C#4) for pYIN pitch accuracy; None skips it.
    train_dir: the clips the generator was trained on, for novelty (near-copies of them); None
    measures novelty against `real_dir`. With a classifier, its accuracy on the real items is
    reported beside the generated items' as the ceiling (`ceiling[condition]`): pass held-out real
    clips as `real_dir` for an honest ceiling.
    """
    real_items, fake_items = scan_set(real_dir), scan_set(fake_dir)
    if combinations is not None:
        real_items = filter_items(real_items, combinations, f"real set {real_dir}")
        fake_items = filter_items(fake_items, combinations, f"generated set {fake_dir}")
    cfg = mel_config or evaluation_config(fake_items)
    skipped: list[str] = []

    def mels_of(items: list[SetItem], what: str) -> tuple[list[SetItem], list[torch.Tensor]]:
        kept, mels = [], []
        for item in tqdm(items, desc=f"mels ({what})", unit="item", disable=progress is False):
            try:
                mels.append(item_mel(item, cfg))
                kept.append(item)
            except MelwaveError as err:
                skipped.append(str(err))
        if len(mels) < 2:
            raise MelwaveError(f"{what}: fewer than 2 usable items" + (f" (first problem: {skipped[0]})" if skipped else ""))
        return kept, mels

    real_items, real_mels = mels_of(real_items, "real")
    fake_items, fake_mels = mels_of(fake_items, "generated")
    frames = frames or int(np.median([m.shape[-1] for m in fake_mels]))
    real_mels = [fit_frames(m, frames, cfg) for m in real_mels]
    fake_mels = [fit_frames(m, frames, cfg) for m in fake_mels]

    scores: dict[str, float] = {}
    notes: dict[str, str] = {}
    if image_fid:
        images_real = np.stack([render_mel_image(m, cfg, style) for m in real_mels])
        images_fake = np.stack([render_mel_image(m, cfg, style) for m in fake_mels])
        with tqdm(total=len(images_real) + len(images_fake), desc="inception", unit="img", disable=progress is False) as bar:
            feats_real = inception_features(images_real, device=device, progress=bar)
            feats_fake = inception_features(images_fake, device=device, progress=bar)
        _record(scores, notes, "FID[mel-image]", lambda: frechet_distance_features(feats_real, feats_fake))
        kid = {}
        _record(kid, notes, "KID[mel-image]", lambda: kernel_inception_distance(feats_real, feats_fake))
        if isinstance(kid["KID[mel-image]"], tuple):
            scores["KID[mel-image]"], scores["KID[mel-image] std"] = kid["KID[mel-image]"]
        else:
            scores["KID[mel-image]"] = math.nan
    raw_real = np.stack([raw_mel_features(m, cfg, style) for m in real_mels])
    raw_fake = np.stack([raw_mel_features(m, cfg, style) for m in fake_mels])
    _record(scores, notes, "FID[raw-mel]", lambda: frechet_distance_features(raw_real, raw_fake))
    counted = f"{len(real_mels)} real / {len(fake_mels)} generated mels of {frames} frames"
    for name in ("FID[mel-image]", "KID[mel-image]", "FID[raw-mel]"):
        if name in scores:
            notes[name] = f"{notes[name]}; {counted}" if name in notes else counted
    ndb = None
    try:
        ndb = number_of_different_bins(raw_real, raw_fake)
        scores["NDB[raw-mel]"] = float(ndb.ndb)
        scores["NDB/K[raw-mel]"] = ndb.fraction
    except MetricError as err:
        scores["NDB[raw-mel]"] = math.nan
        notes["NDB[raw-mel]"] = str(err)
    if ndb is not None:
        notes["NDB[raw-mel]"] = notes["NDB/K[raw-mel]"] = (f"K = {ndb.bins} k-means bins of the real set, "
                                                           f"{ndb.ndb} differ at p < {ndb.alpha}")

    key = tuple(class_key) if class_key else (tuple(dict.fromkeys(n for c in combinations for n in c)) if combinations
                                              else tuple(dict.fromkeys(n for i in fake_items for n in i.labels)))
    per_class: dict[str, PerClassFrechet] = {}
    if key:
        # Items without every condition of the key belong to no class.
        real_classes = {row: c for row, i in enumerate(real_items) if (c := class_name(i.labels, key)) is not None}
        fake_classes = {row: c for row, i in enumerate(fake_items) if (c := class_name(i.labels, key)) is not None}
        features = {"raw-mel": (raw_real, raw_fake)}
        if image_fid:
            features["mel-image"] = (feats_real, feats_fake)
        for name, (real_rows, fake_rows) in features.items():
            result = per_class_frechet(real_rows[list(real_classes)], list(real_classes.values()), fake_rows[list(fake_classes)],
                                       list(fake_classes.values()), key=key, min_items=min_class_items)
            label = f"FID[{name}] per {'×'.join(key)}"
            per_class[name] = result
            scores[f"{label} mean"], scores[f"{label} sd"] = result.mean, result.sd
            notes[f"{label} mean"] = (f"{len(result.per_class)} classes with >= {min_class_items} real and generated items"
                                      + (f"; {result.skipped} smaller ones left out" if result.skipped else ""))

    real_waves = fake_waves = None
    if vocoder is not None:
        real_waves, fake_waves = vocode_set(vocoder, real_mels, cfg), vocode_set(vocoder, fake_mels, cfg)

    fad = None
    if embedding is not None and vocoder is not None:
        label = f"FAD[{embedding.name} via {vocoder.name}]"
        fad = fad_from_sets(embed_waves(real_waves, cfg.sample_rate, embedding),
                            embed_waves(fake_waves, cfg.sample_rate, embedding), f"{embedding.name} via {vocoder.name}")
        scores[label] = fad.fad
        scores[f"FAD∞[{embedding.name} via {vocoder.name}]"] = fad.fad_inf
        notes[label] = (f"both sets' mels vocoded by {vocoder.name}: reference {fad.reference_clips} clips, generated "
                        f"{fad.evaluated_clips}" + (f"; {fad.note}" if fad.note else ""))
    elif embedding is not None:
        real_audio = [i.audio for i in real_items if i.audio is not None]
        fake_audio = [i.audio for i in fake_items if i.audio is not None]
        label = f"FAD[{embedding.name}]"
        if len(real_audio) < 2 or len(fake_audio) < 2:
            scores[label] = math.nan
            notes[label] = f"needs audio files in both folders (found {len(real_audio)} real, {len(fake_audio)} generated)"
        else:
            with tqdm(total=len(real_audio) + len(fake_audio), desc=f"embed ({embedding.name})", unit="clip",
                      disable=progress is False) as bar:
                real_set = embed_files(real_audio, embedding, cache=cache, progress=bar)
                fake_set = embed_files(fake_audio, embedding, cache=cache, progress=bar)
            skipped += real_set.skipped + fake_set.skipped
            fad = fad_from_sets(real_set, fake_set, embedding.name)
            scores[label] = fad.fad
            scores[f"FAD∞[{embedding.name}]"] = fad.fad_inf
            notes[label] = (f"reference {fad.reference_clips} clips / {fad.reference_seconds:.1f} s, generated "
                            f"{fad.evaluated_clips} clips / {fad.evaluated_seconds:.1f} s" + (f"; {fad.note}" if fad.note else ""))

    pitch = None
    if pitch_condition is not None and any(pitch_condition in i.labels for i in fake_items):
        pitch = generated_pitch(fake_items, fake_waves, cfg.sample_rate, pitch_condition, scores, notes, progress)

    _novelty(scores, notes, raw_real, raw_fake, train_dir, cfg, frames, style, mels_of)

    conditions: list[ConditionScore] = []
    if classifier is not None:
        conditions = classify_conditions(classifier, fake_items, fake_mels, cfg, skipped)
        ceiling = {c.condition: c for c in _ceiling(classifier, real_items, real_mels, cfg, notes)}
        for c in conditions:
            scores[f"accuracy[{c.condition}]"] = c.accuracy
            if c.condition in ceiling:
                scores[f"ceiling[{c.condition}]"] = ceiling[c.condition].accuracy
                notes[f"ceiling[{c.condition}]"] = (f"the classifier's accuracy on the {ceiling[c.condition].items} real items "
                                                    "(held-out real clips give the honest ceiling)")
            scores[f"IS[{c.condition}]"] = c.inception_score
            scores[f"mIS[{c.condition}]"] = c.modified_inception_score
            notes[f"mIS[{c.condition}]"] = "diversity within each requested value; 1 = every item of a value classified alike"

    evaluation = GeneratorEvaluation(cfg, frames, len(real_items), len(fake_items), scores, notes, fad, ndb, conditions, skipped,
                                     per_class, pitch, [dict(c) for c in combinations] if combinations is not None else None)
    if report is not None:
        _fill_report(report, evaluation, real_items, real_mels, fake_items, fake_mels, cfg, grid_per_value)
    return evaluation


def _ceiling(classifier: ClassifierSpec, items: list[SetItem], mels: list[torch.Tensor], cfg: MelConfig,
             notes: dict) -> list[ConditionScore]:
    """The classifier's accuracy on real items: what a perfect generator could score."""
    try:
        return classify_conditions(classifier, items, list(mels), cfg, [])
    except MelwaveError as err:
        notes["ceiling"] = f"no ceiling: {err}"
        return []


def _novelty(scores: dict, notes: dict, raw_real: np.ndarray, raw_fake: np.ndarray, train_dir, cfg: MelConfig,
             frames: int, style: ImageStyle, mels_of) -> None:
    """Near-copies of the training clips (melwave.metrics.novelty) among the generated items."""
    from melwave.metrics.novelty import novelty

    reference, against = raw_real, "the real set"
    if train_dir is not None:
        _, train_mels = mels_of(scan_set(train_dir), "training")
        reference = np.stack([raw_mel_features(fit_frames(m, frames, cfg), cfg, style) for m in train_mels])
        against = f"the {len(train_mels)} training items"
    try:
        result = novelty(reference.reshape(len(reference), -1), raw_fake.reshape(len(raw_fake), -1))
    except MetricError as err:
        scores["near-copies"] = math.nan
        notes["near-copies"] = str(err)
        return
    scores["near-copies"], scores["NN-distance ratio"] = result.near_copy_share, result.median_ratio
    notes["near-copies"] = (f"share of generated items closer to one of {against} than {result.quantile:.0%} of those are "
                            f"to their own nearest neighbour (~{result.quantile:.0%} for new draws, ~100% for copies)")
    notes["NN-distance ratio"] = (f"median distance of a generated item to its nearest neighbour in {against} over theirs "
                                  "to each other (~1: as new as the data; << 1: near-copies)")


def vocode_set(vocoder, mels: list[torch.Tensor], cfg: MelConfig, batch_size: int = 32) -> list[np.ndarray]:
    """A set of equal-length (n_mels, frames) mels in `cfg` units (`fit_frames` made them so) ->
    waveforms at cfg.sample_rate through `vocoder`, `batch_size` at a time: one file's checked,
    chunked vocoding is `melwave.inference.pipeline.vocode`."""
    waves: list[np.ndarray] = []
    for start in range(0, len(mels), batch_size):
        batch = torch.stack(mels[start:start + batch_size]).to(vocoder.device)
        waves += list(vocoder.synthesize(batch, cfg).cpu().numpy())
    return waves


def embed_waves(waves: list[np.ndarray], sample_rate: int, embedding: AudioEmbedding) -> EmbeddedSet:
    """Embed waveforms held in memory (resampled to the embedding's rate); no cache: they have no file."""
    from melwave.audio.io import resample

    rows = [np.asarray(embedding.embed(resample(w, sample_rate, embedding.sample_rate)), dtype=np.float64) for w in waves]
    return EmbeddedSet(np.concatenate(rows), len(waves), sum(len(w) for w in waves) / sample_rate)


def generated_pitch(items: list[SetItem], waves: list[np.ndarray] | None, sample_rate: int, condition: str,
                    scores: dict, notes: dict, progress: bool | None) -> PitchAccuracy | None:
    """pYIN pitch accuracy of the generated items labelled with `condition` (vocoded `waves`, else
    their audio files); recorded as `pitch within 50c` and `pitch median |cents|`."""
    from melwave.errors import ConfigError
    from melwave.metrics.note_pitch import note_hz

    chosen, audio = [], []
    for row, item in enumerate(items):
        if condition not in item.labels:
            continue
        if waves is not None:
            audio.append(waves[row])
        elif item.audio is not None:
            audio.append(load_audio(item.audio, sample_rate).wave)
        else:
            continue
        chosen.append(item.labels[condition])
    label = "pitch within 50c"
    if not chosen:
        scores[label] = math.nan
        notes[label] = "no generated audio: give a vocoder (--vocoder) or audio files beside the mels"
        return None
    try:
        for name in set(chosen):
            note_hz(name)
    except ConfigError as err:
        scores[label] = math.nan
        notes[label] = f"{condition} values are not note names ({err})"
        return None
    result = pitch_accuracy(list(tqdm(audio, desc="pitch (pYIN)", unit="note", disable=progress is False)), sample_rate, chosen)
    scores[label], scores["pitch median |cents|"] = result.within, result.median_cents
    notes[label] = f"pYIN on {result.items} generated notes against their requested {condition}; {result.unvoiced} unvoiced"
    return result


def classify_conditions(classifier: ClassifierSpec, items: list[SetItem], mels: list[torch.Tensor], cfg: MelConfig,
                        skipped: list[str]) -> list[ConditionScore]:
    """Accuracy and IS-like score per condition for the items whose labels name that condition."""
    if classifier.mel_config != cfg:
        # The classifier sees mels its own way: analyse again under its config.
        mels = []
        for item in items:
            mels.append(item_mel(item, classifier.mel_config))
    batch = torch.stack([fit_frames(m, classifier.frames, classifier.mel_config) for m in mels])
    probabilities = {k: np.asarray(v) for k, v in classifier.predict(batch).items()}
    labels: dict[str, np.ndarray] = {}
    selected: dict[str, np.ndarray] = {}
    for condition, vocab in classifier.vocabularies.items():
        index = {v: i for i, v in enumerate(vocab)}
        rows, truth = [], []
        for row, item in enumerate(items):
            value = item.labels.get(condition)
            if value is None:
                continue
            if value not in index:
                skipped.append(f"{item.key}: {condition}={value!r} is not a value the classifier knows ({', '.join(vocab)})")
                continue
            rows.append(row)
            truth.append(index[value])
        if rows:
            labels[condition] = np.asarray(truth)
            selected[condition] = probabilities[condition][rows]
    if not labels:
        raise MelwaveError("no generated item carries a condition label the classifier knows "
                           f"(conditions {list(classifier.vocabularies)}; labels come from labels.csv or name=value folders)")
    return condition_scores(selected, labels, {k: list(v) for k, v in classifier.vocabularies.items()})


def _fill_report(report: HtmlReport, evaluation: GeneratorEvaluation, real_items, real_mels, fake_items, fake_mels, cfg,
                 per_value: int) -> None:
    report.notes.append(f"{evaluation.real_items} real and {evaluation.fake_items} generated items; mels cropped/padded to "
                        f"{evaluation.frames} frames of a {cfg.n_mels}-band, {cfg.sample_rate} Hz mel config.")
    report.table(Table("Generator metrics", ["metric", "value", "note"], evaluation.rows()))
    if evaluation.conditions:
        rows = [[c.condition, v, acc] for c in evaluation.conditions for v, acc in c.per_value.items()]
        report.table(Table("Classifier accuracy on generated items, per requested value", ["condition", "value", "accuracy"], rows))

    def entry(item: SetItem, mel: torch.Tensor, label: str) -> Entry:
        # The caption names the item by its labels (or its file name when it has none).
        caption = " ".join(f"{k}={v}" for k, v in item.labels.items()) + f" · {item.key.name}" if item.labels else item.key.name
        image = report.add_image(f"{label}-{caption}", mel, cfg)
        audio = None
        if item.audio is not None:
            loaded = load_audio(item.audio)
            audio, _ = report.add_audio(f"{label}-{caption}", loaded.wave, loaded.sample_rate, image=False)
        return Entry(caption, audio, image)

    key = next(iter(evaluation.per_class.values())).key if evaluation.per_class else ()
    if key:
        real_by, fake_by = defaultdict(list), defaultdict(list)
        for item, mel in zip(real_items, real_mels):
            real_by[class_name(item.labels, key)].append(mel)
        for item, mel in zip(fake_items, fake_mels):
            fake_by[class_name(item.labels, key)].append(mel)
        classes = sorted(c for c in fake_by if c is not None)[:48]
        rows = [real_by[c][:1] + [None] * (1 - len(real_by[c][:1])) + fake_by[c][:per_value] for c in classes]
        report.add_picture(f"Grid: {' × '.join(key)} (rows) × samples", mel_grid(rows, cfg),
                           f"one row per class ({', '.join(classes[:6])}{', …' if len(classes) > 6 else ''}): "
                           f"a real example, then {per_value} generated")
    names = sorted({n for item in fake_items for n in item.labels})
    for name in names:
        groups: dict[str, list[Entry]] = defaultdict(list)
        for item, mel in zip(fake_items, fake_mels):
            value = item.labels.get(name)
            if value is not None and len(groups[value]) < per_value:
                groups[value].append(entry(item, mel, f"fake-{name}-{value}"))
        report.section(f"Generated, by {name}", [(f"{name} = {v}", e) for v, e in sorted(groups.items())])
    if not names:
        report.section("Generated", [("samples", [entry(i, m, "fake") for i, m in list(zip(fake_items, fake_mels))[:2 * per_value]])])
    report.section("Real", [("samples", [entry(i, m, "real") for i, m in list(zip(real_items, real_mels))[:2 * per_value]])])
