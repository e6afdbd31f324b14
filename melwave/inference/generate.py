"""Generating sounds from a conditional mel generator.

    model = load_generator()                          # the shipped `flow-notes` model (or a path / run folder)
    conditions = parse_conditions(model, ["instrument=flute", "velocity=loud"])
    plans = plan_samples(model, conditions, n=8, sweep=False, seed=0)
    paths = write_samples(model, plans, "out/", vocoder=pick_vocoder(model))

`load_generator` lives with the other loaders (`melwave.models.io.load`). Per sample
`write_samples` writes NAME.pt (the mel in the model's MelConfig units, with its config,
`melwave.load_mel` reads it), NAME.wav (through the vocoder) and NAME.png, plus one
OUT/labels.csv (path,cond1,...) so the folder is itself a labelled dataset that the evaluation
tools and `melwave train classifier` read. Work is done `batch_size` samples at a time and written
before the next batch, so thousands of samples never pile up in memory.

Conditions the user leaves out are drawn at random per sample (seeded); with `sweep=True` every
combination of the unspecified conditions is generated `n` times.

Audio never clips silently: by default a whole-clip peak limiter (melwave.inference.limiter) turns
any clip peaking above -1 dBFS down to it, and the number of clips it touched is logged; with
`limit=False` (--no-limit) clips that a 16-bit file will hard-clip are counted and warned about.
Clips are the model's training length unless `seconds` asks for less.

Sample names are unique as files on any file system: values that sanitise to one name (`a/b` and
`a-b`, `A` and `a`, long values cut to one prefix) get a short hash of their raw conditions
appended (`unique_plans`), and labels.csv always lists the names written.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch

from melwave.audio.config import PRESETS
from melwave.audio.io import save_audio
from melwave.audio.melfile import MelFile, save_mel
from melwave.audio.plot import save_mel_image
from melwave.errors import ConfigError, OutputExistsError
from melwave.inference.limiter import CEILING_DB, limit_peaks, over_full_scale
from melwave.inference.output_plan import short_hash, unique_names
# load_generator lives with the other loaders (models/io/load); importing it here also keeps the
# older path `melwave.inference.generate.load_generator` working.
from melwave.models.io.load import load_generator, load_vocoder
from melwave.utils.csvsafe import csv_text
from melwave.utils.fileio import atomic_write_bytes

log = logging.getLogger("melwave")


def parse_conditions(model, items: Sequence[str]) -> dict[str, str]:
    """["instrument=flute", ...] -> {"instrument": "flute"}; bad names/values list the valid ones."""
    vocabulary = model.vocabulary
    chosen: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(f"--condition {item!r}: expected NAME=VALUE; this model's conditions: {vocabulary.describe()}")
        condition = vocabulary[name]          # unknown name: error listing every condition
        condition.index(value)                # unknown value: error listing the valid values
        if name in chosen and chosen[name] != value:
            raise ConfigError(f"--condition {name} given twice ({chosen[name]!r} and {value!r})")
        chosen[name] = value
    return chosen


@dataclass(frozen=True)
class SamplePlan:
    """One sample to generate: its file stem and its full set of conditions."""

    stem: str
    conditions: dict[str, str]


# File-name budget of a sample's label, in UTF-8 bytes: with the hash tags, the index, the
# extension and the temporary-file wrapping of atomic writes it stays well under the 255 bytes
# a file name may have.
MAX_LABEL_BYTES = 120


def sample_stem(conditions: Mapping[str, str], index: int) -> str:
    """`name-value_name-value_NNN`, file-safe: characters other than letters, digits and `-_.#`
    become `-`, a leading `.` too (no hidden files), and a label longer than MAX_LABEL_BYTES is
    cut and tagged with a hash of the full one. Different conditions can still give one stem
    (`a/b` and `a-b`, `A` and `a`): `unique_plans` tags those."""
    label = "_".join(f"{k}-{v}" for k, v in conditions.items())
    safe = "".join(c if c.isalnum() or c in "-_.#" else "-" for c in label)
    safe = "-" + safe[1:] if safe.startswith(".") else safe
    if len(safe.encode("utf-8", "surrogatepass")) > MAX_LABEL_BYTES:
        cut = safe.encode("utf-8", "surrogatepass")[:MAX_LABEL_BYTES].decode("utf-8", "ignore")
        safe = f"{cut}-{short_hash(label)}"
    return f"{safe}_{index:03d}"


def _identity(conditions: Mapping[str, str]) -> str:
    # JSON keeps names and values apart whatever characters they hold: the hash input is unambiguous.
    return json.dumps(list(conditions.items()), ensure_ascii=False)


def unique_plans(plans: Sequence[SamplePlan]) -> list[SamplePlan]:
    """`plans` with file names that stay distinct on any file system: samples of different
    conditions whose stems clash (ignoring case) get `-<hash of their conditions>` appended (see
    `melwave.inference.output_plan.unique_names`). Plans that do not clash are returned as they
    are, so this is idempotent. Raises MelwaveError naming both if one stem is planned twice for
    the same conditions."""
    stems = unique_names([p.stem for p in plans], [_identity(p.conditions) for p in plans])
    renamed = [p if p.stem == stem else SamplePlan(stem, p.conditions) for p, stem in zip(plans, stems)]
    tagged = sum(p.stem != stem for p, stem in zip(plans, stems))
    if tagged:
        log.info("note: %d sample name(s) clashed once made file-safe (e.g. values differing only in case or in "
                 "characters a file name cannot hold); each got a -<hash> tag; labels.csv maps names to conditions", tagged)
    return renamed


def plan_samples(model, fixed: Mapping[str, str], *, n: int, sweep: bool = False, seed: int = 0) -> list[SamplePlan]:
    """The samples to generate: `n` per combination (sweep) or `n` in all, unspecified conditions random."""
    if n < 1:
        raise ConfigError(f"-n {n}: expected at least 1 sample")
    vocabulary = model.vocabulary
    free = [c for c in vocabulary.conditions if c.name not in fixed]
    plans: list[SamplePlan] = []
    if sweep:
        for values in itertools.product(*(c.values for c in free)):
            conditions = {c.name: fixed.get(c.name) for c in vocabulary.conditions}
            conditions.update({c.name: v for c, v in zip(free, values)})
            plans += [SamplePlan(sample_stem(conditions, i), conditions) for i in range(n)]
        return unique_plans(plans)
    rng = torch.Generator().manual_seed(seed + 7919)  # apart from the noise stream
    # Counted per set of conditions, not per stem: two sets with one stem are then tagged apart
    # by unique_plans instead of silently sharing a numbering.
    counters: dict[tuple, int] = {}
    for _ in range(n):
        conditions = {}
        for c in vocabulary.conditions:
            conditions[c.name] = fixed[c.name] if c.name in fixed else c.values[int(torch.randint(len(c.values), (), generator=rng))]
        key = tuple(conditions.items())
        index = counters.get(key, 0)
        counters[key] = index + 1
        plans.append(SamplePlan(sample_stem(conditions, index), conditions))
    return unique_plans(plans)


def pick_vocoder(model, name: str | None = None, *, device: str | torch.device = "cpu"):
    """The named vocoder, or by default the pretrained HiFi-GAN when the model's MelConfig is its
    (hifigan-22k), else Griffin-Lim under the model's MelConfig."""
    if name is None:
        name = "hifigan-universal" if model.mel_config == PRESETS["hifigan-22k"] else "griffinlim"
    vocoder = load_vocoder(name, device=device, mel_config=model.mel_config)
    model.mel_config.require_same(vocoder.mel_config, what=f"generator '{getattr(model, 'name', 'model')}' output",
                                  expected_by=f"vocoder '{name}'")
    return vocoder


def output_paths(out_dir: Path, plan: SamplePlan) -> dict[str, Path]:
    return {kind: out_dir / f"{plan.stem}.{kind}" for kind in ("pt", "wav", "png")}


def check_sampling(model, sampling: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings a user gave (e.g. {"steps": 16}), refused with one line if the model's
    family does not take one: a setting given explicitly is never dropped silently."""
    unknown = [key for key in sampling if key not in model.sampling_options]
    if unknown:
        takes = ", ".join(f"--{k}" for k in model.sampling_options) or "none (it samples in one pass)"
        raise ConfigError(f"--{unknown[0]}: generator '{model.name}' (family {model.family}) has no such sampling "
                          f"setting; it takes: {takes}")
    model.sampling_settings(**sampling)  # bad values fail here, before any output is written
    return dict(sampling)


def model_seconds(model) -> float:
    """The length of the clips a generator makes (its training crop), in seconds."""
    return model.frames * model.mel_config.hop_length / model.mel_config.sample_rate


def check_seconds(model, seconds: float | None) -> float | None:
    """`--seconds`: None (the model's own length) or a length in (0, the model's length]; longer is
    refused with one line (the model draws a fixed number of frames)."""
    if seconds is None:
        return None
    longest = model_seconds(model)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigError(f"--seconds {seconds}: expected a length above zero (this model makes {longest:.2f} s)")
    if seconds > longest + 1e-9:
        raise ConfigError(f"--seconds {seconds:g}: generator '{getattr(model, 'name', 'model')}' makes at most "
                          f"{longest:.2f} s ({model.frames} frames, its training clip length); ask for less, or "
                          f"train with longer clips (--set model.config.frames=N)")
    return float(seconds)


@dataclass
class LimitReport:
    """What the peak limiter did to a call's audio (see melwave.inference.limiter)."""

    clips: int = 0       # clips vocoded
    limited: int = 0     # turned down to the ceiling (limit on)
    clipped: int = 0     # written with samples at or beyond full scale, so hard-clipped (limit off)


def write_samples(model, plans: Sequence[SamplePlan], out_dir: str | Path, *, vocoder=None, seed: int = 0,
                  batch_size: int = 16, overwrite: bool = False, images: bool = True,
                  progress: bool = True, sampling: Mapping[str, Any] | None = None, seconds: float | None = None,
                  limit: bool = True, report: LimitReport | None = None) -> list[Path]:
    """Generate and write every planned sample (mel .pt, .wav, .png) and OUT/labels.csv.

    Every output path is checked before anything is generated: stems that would clash as files
    are tagged apart (`unique_plans`, so labels.csv always matches the files), and an existing
    file is an error unless `overwrite`. Sample i's noise is seeded by (seed, i): same call, same
    sounds, whatever the batch size. `sampling`: settings of an iterative generator's sampler
    (`check_sampling`). Text cells of labels.csv are guarded against spreadsheet formulas
    (`melwave.utils.csvsafe`); `melwave.data.labelled.read_labels_csv` reads the values back.

    `seconds`: cut every clip (mel and audio) to this length (`check_seconds`; None: the model's).
    `limit`: the whole-clip peak limiter (melwave.inference.limiter) on the audio, so no clip is
    hard-clipped; off, clips that will clip are counted and logged instead. `report` (if given) is
    filled with the counts; they are logged either way.
    """
    sampling = check_sampling(model, sampling or {})
    seconds = check_seconds(model, seconds)
    report = report if report is not None else LimitReport()
    rate, hop = model.mel_config.sample_rate, model.mel_config.hop_length
    frames = math.ceil(seconds * rate / hop - 1e-9) if seconds is not None else None
    samples = round(seconds * rate) if seconds is not None else None
    plans = unique_plans(plans)
    out_dir = Path(out_dir)
    labels_path = out_dir / "labels.csv"
    targets = [labels_path] + [p for plan in plans for p in output_paths(out_dir, plan).values()
                               if vocoder is not None or p.suffix != ".wav"]
    if not overwrite:
        existing = [p for p in targets if p.exists()]
        if existing:
            raise OutputExistsError(f"{existing[0]}: output exists ({len(existing)} in all; pass --overwrite to replace them)")
    out_dir.mkdir(parents=True, exist_ok=True)
    noise = torch.Generator()
    written: list[Path] = []
    rows: list[list[str]] = []
    names = list(model.vocabulary.names)
    iterator: Iterable = range(0, len(plans), batch_size)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=-(-len(plans) // batch_size), unit="batch", desc="generate", leave=False)
    model.eval()
    for start in iterator:
        chunk = plans[start:start + batch_size]
        labels = torch.tensor([model.vocabulary.encode(p.conditions) for p in chunk], dtype=torch.long)
        # Sample i's noise depends on (seed, i) only: batch size never changes the sounds.
        z = torch.stack([torch.randn(model.z_dim, generator=noise.manual_seed(seed * 1_000_003 + start + i))
                         for i in range(len(chunk))])
        mels = model.generate(labels, z, **sampling).cpu()
        if frames is not None:
            mels = mels[..., :frames]
        waves = vocoder.synthesize(mels.to(vocoder.device), model.mel_config).cpu() if vocoder is not None else None
        if waves is not None:
            if samples is not None:
                waves = waves[..., :samples]
            report.clips += len(waves)
            if limit:
                waves, limited = limit_peaks(waves)
                report.limited += int(limited.sum())
            else:
                report.clipped += int(over_full_scale(waves).sum())
        for i, plan in enumerate(chunk):
            paths = output_paths(out_dir, plan)
            title = ", ".join(f"{k}={v}" for k, v in plan.conditions.items())
            save_mel(paths["pt"], MelFile(mel=mels[i], config=model.mel_config, source=f"generated by {getattr(model, 'name', 'cwgan')}: {title}",
                                          duration=(samples or mels.shape[-1] * hop) / rate),
                     overwrite=overwrite)
            written.append(paths["pt"])
            if waves is not None:
                save_audio(paths["wav"], waves[i].numpy(), model.mel_config.sample_rate, overwrite=overwrite)
                written.append(paths["wav"])
            if images:
                save_mel_image(paths["png"], mels[i], model.mel_config, title=title, overwrite=overwrite)
                written.append(paths["png"])
            audio_or_mel = paths["wav"] if waves is not None else paths["pt"]
            rows.append([audio_or_mel.name, *(plan.conditions[n] for n in names)])
    table = csv_text([["path", *names], *rows], lineterminator="\n")
    atomic_write_bytes(labels_path, table.encode(), overwrite=overwrite)
    written.append(labels_path)
    if report.limited:
        log.info("peak limiter: %d of %d clips peaked above %g dBFS and were turned down to it as a whole "
                 "(--no-limit writes them as vocoded)", report.limited, report.clips, CEILING_DB)
    if report.clipped:
        log.warning("warning: %d of %d clips reach full scale and are hard-clipped in their WAV files "
                    "(drop --no-limit to turn them down instead)", report.clipped, report.clips)
    return written


# Conditions of the demo grid: every instrument at two pitches, loud; then a velocity sweep.
def demo_plans(model) -> list[SamplePlan]:
    vocabulary = model.vocabulary
    plans: list[SamplePlan] = []
    names = vocabulary.names
    if set(names) == {"instrument", "pitch", "velocity"}:
        pitches = [p for p in ("D4", "A4") if p in vocabulary["pitch"].values] or list(vocabulary["pitch"].values[:2])
        loud = "loud" if "loud" in vocabulary["velocity"].values else vocabulary["velocity"].values[-1]
        for instrument in vocabulary["instrument"].values:
            for pitch in pitches:
                conditions = {"instrument": instrument, "pitch": pitch, "velocity": loud}
                plans.append(SamplePlan(sample_stem(conditions, 0), conditions))
        for velocity in vocabulary["velocity"].values:
            conditions = {"instrument": vocabulary["instrument"].values[-1], "pitch": pitches[0], "velocity": velocity}
            if all(p.conditions != conditions for p in plans):
                plans.append(SamplePlan(sample_stem(conditions, 0), conditions))
        return unique_plans(plans)
    # Any other model: one sample per value of each condition, the others at their first value.
    for condition in vocabulary.conditions:
        for value in condition.values:
            conditions = {c.name: c.values[0] for c in vocabulary.conditions}
            conditions[condition.name] = value
            if all(p.conditions != conditions for p in plans):
                plans.append(SamplePlan(sample_stem(conditions, 0), conditions))
    return unique_plans(plans)


def demo_grid(out_dir: Path, overwrite: bool = False, *, model: str | Path | None = None, seed: int = 0) -> list[Path]:
    """A small grid of sounds from the shipped generator: wav + PNG + mel file per sample.

    Returns every written path. Raises CheckpointError if no generator ships with this install.
    """
    generator = load_generator(model)
    vocoder = pick_vocoder(generator)
    plans = demo_plans(generator)
    log.info("generating %d sounds with '%s' (%s), vocoded by %s", len(plans), generator.name,
             generator.vocabulary.describe(), vocoder.name)
    return write_samples(generator, plans, Path(out_dir), vocoder=vocoder, seed=seed, overwrite=overwrite, progress=False)
