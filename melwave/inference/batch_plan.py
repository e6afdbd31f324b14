"""A batch command's plan: the files each mode reads and writes, every unit of work a batch holds,
and the mode `melwave run` runs.

`find_inputs(inputs, mode)` expands the `-i` arguments (`melwave.inference.inputs`); its
`plan(outputs)` maps them to outputs (`melwave.inference.output_plan`, which refuses clashes
before anything is written) and names everything the batch accounts for as a `Unit`: each pair to run, each refused
input, each input spec that named nothing, with a shard key (`melwave.inference.sharding`) and an
id (`melwave.inference.manifest`). Every shard plans the whole batch alike, so a clash between
inputs of different shards is still refused, and `run` picks one mode for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from melwave.audio.io import AUDIO_EXTENSIONS
from melwave.audio.melfile import MEL_EXTENSIONS
from melwave.errors import MelwaveError
from melwave.inference.inputs import expand_inputs
from melwave.inference.manifest import unit_ids
from melwave.inference.output_plan import Item, OutputPlan, plan_batch

# mode -> (the files it takes from folders and globs, the type it writes into an output folder)
FILE_TYPES: dict[str, tuple[tuple[str, ...], str]] = {
    "analyze": (AUDIO_EXTENSIONS, ".pt"),
    "synthesize": (MEL_EXTENSIONS, ".wav"),
    "resynth": (AUDIO_EXTENSIONS, ".wav"),
    "run": (AUDIO_EXTENSIONS + MEL_EXTENSIONS, ".wav"),
}


def file_types(mode: str, *, chosen: str | None = None, mel_format: str = "pt") -> tuple[tuple[str, ...], str]:
    """(the extensions `mode` takes from folders and globs, the suffix of its outputs in an output
    folder). `mel_format`: analyze's file type (pt or npy); `chosen`: the mode `run` was told to
    run (--mode), which still takes every file type but writes .pt when it analyzes."""
    extensions, suffix = FILE_TYPES[mode]
    if mode == "analyze" and mel_format == "npy":
        suffix = ".npy"
    if mode == "run" and chosen == "analyze":
        suffix = ".pt"
    return extensions, suffix


@dataclass(frozen=True)
class Unit:
    """One thing a batch accounts for: a pair to run (`target` set, `reason` None), or an input
    that cannot run (`reason`: why; `status` "refused" by the output planner, "failed" for an
    input spec that named nothing or a bad list line). `key`: what decides its shard (the input's
    path relative to its root, or the spec itself); `id`: unique in the batch, the same in every
    shard (`melwave.inference.manifest.unit_ids`)."""

    id: str
    key: str
    source: Path
    target: Path | None = None
    reason: str | None = None
    status: str = "run"

    @property
    def pair(self) -> tuple[Path, Path] | None:
        return (self.source, self.target) if self.reason is None and self.target is not None else None


def batch_units(items: Sequence[Item], problems: Sequence[tuple[str, str]], plan: OutputPlan) -> list[Unit]:
    """Every unit of the batch, in order: planned pairs, refused inputs, then input problems."""
    relative: dict[Path, str] = {}
    for item in items:  # the planner keeps an input's first mention; so does its key
        relative.setdefault(item.path, item.relative.as_posix())
    rows = ([(relative.get(source, source.name), source, target, None, "run") for source, target in plan.pairs]
            + [(relative.get(source, source.name), source, None, reason, "refused") for source, reason in plan.refused]
            + [(spec, Path(spec), None, reason, "failed") for spec, reason in problems])
    ids = unit_ids(row[0] for row in rows)
    return [Unit(id, key, source, target, reason, status) for id, (key, source, target, reason, status) in zip(ids, rows)]


@dataclass(frozen=True)
class BatchPlan:
    """A whole batch, planned: `units` in order (planned pairs, refused inputs, then input specs
    that named nothing), `notes` from the output planner (e.g. a de-duplicated input). `mode`,
    `chosen` and `outputs` are what it was planned for (`which_mode`)."""

    mode: str
    units: tuple[Unit, ...]
    notes: tuple[str, ...] = ()
    chosen: str | None = None
    outputs: tuple[str, ...] = ()

    @property
    def refused(self) -> list[Unit]:
        """The inputs the output planner refused."""
        return [u for u in self.units if u.status == "refused"]

    def which_mode(self) -> tuple[str, str | None]:
        """The mode to run, and a note to show about how it was chosen (or None).

        Only `run` has a choice: the mode it was told (`chosen`), else the one the pairs'
        extensions name (`mode_for`), from the whole batch so that every shard runs the same one.
        A lone output folder has no extension to tell from: the note says the inputs decided.
        Raises MelwaveError when the pairs name no mode or more than one."""
        runnable = [u.pair for u in self.units if u.pair is not None]
        if self.mode != "run" or not runnable:
            return self.mode, None
        mode = self.chosen or mode_for([p for p, _ in runnable], [o for _, o in runnable])
        if self.chosen is None and len(self.outputs) == 1 and not Path(self.outputs[0]).suffix:
            return mode, (f"-o {self.outputs[0]} is a folder: running {mode} (from the inputs' extensions; "
                          f"--mode analyze|synthesize|resynth chooses)")
        return mode, None


@dataclass(frozen=True)
class FoundInputs:
    """The first half of a plan: the input files `mode` found (`items`) and the specs that named
    none (`problems`: (spec, one-line reason)); `suffix` is the type written for them into an
    output folder. Apart from `plan` so that the problems can be told before outputs are mapped."""

    mode: str
    items: tuple[Item, ...]
    problems: tuple[tuple[str, str], ...]
    suffix: str
    chosen: str | None = None

    def plan(self, outputs: Sequence[str]) -> BatchPlan:
        """Map the inputs to `outputs` (`plan_batch`). Raises MelwaveError only when the outputs
        cannot be paired with the inputs at all."""
        plan = plan_batch(self.items, outputs, self.suffix)
        return BatchPlan(self.mode, tuple(batch_units(self.items, self.problems, plan)), plan.notes, self.chosen,
                         tuple(outputs))


def find_inputs(inputs: Sequence[str], mode: str, *, chosen: str | None = None, mel_format: str = "pt") -> FoundInputs:
    """The files `mode` (analyze, synthesize, resynth or run; `chosen`: run's --mode) takes from
    the `-i` specs, as `file_types` says (`mel_format`: analyze's pt or npy)."""
    extensions, suffix = file_types(mode, chosen=chosen, mel_format=mel_format)
    items, problems = expand_inputs(inputs, extensions)
    return FoundInputs(mode, tuple(items), tuple(problems), suffix, chosen)


def mode_for(inputs: list[Path], outputs: list[Path]) -> str:
    """GOMIN's extension rule: audio->audio resynth, audio->mel analyze, mel->audio synthesize."""
    def kind(path: Path) -> str:
        suffix = path.suffix.lower()
        if suffix in MEL_EXTENSIONS:
            return "mel"
        if suffix in AUDIO_EXTENSIONS:
            return "audio"
        return "other"

    kinds = {(kind(i), kind(o)) for i, o in zip(inputs, outputs)}
    table = {("audio", "audio"): "resynth", ("audio", "mel"): "analyze", ("mel", "audio"): "synthesize"}
    modes = {table.get(k) for k in kinds}
    if None in modes or len(modes) != 1:
        raise MelwaveError(f"cannot tell the mode from the extensions {sorted(kinds)}: use audio->audio (resynth), "
                           f"audio->.pt/.npy (analyze) or .pt/.npy->audio (synthesize), the same for every pair")
    return modes.pop()
