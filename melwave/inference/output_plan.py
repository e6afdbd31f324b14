"""The output planner: every batch's whole input -> output map, checked before anything is written.

Every command that writes many files plans through here (analyze, synthesize, resynth and run via
`melwave.inference.batch_plan`, and `melwave generate`'s sample names via `unique_names`), so that
no batch silently loses a file. The rules:

- The same input named more than once (the same path twice, a symlink to it, a file inside a folder
  that is also given, a repeated list entry) is processed once, under its first mention, with a
  note. With one output per input (`-o A B ...`) the pairs are kept as given: a file named twice
  with two outputs is written to both, an identical (input, output) pair repeated runs once.
- Two or more inputs that map to one output are all refused before anything runs: one line per
  input naming the other input(s) and the output, nothing written to that output. The rest of the
  batch runs; the exit code is non-zero. `--overwrite` and `--skip-existing` do not change this.
- An output that is one of the batch's inputs (itself included: `resynth -i d -o d`) is refused,
  even with `--overwrite`: melwave never writes over a file the batch reads.
- Outputs are compared after resolving symlinks and `..`, ignoring letter case and Unicode
  normal form (macOS and Windows file systems do; a name that would clash there is refused on
  Linux too, so a batch means the same on every machine), and by inode where the file exists.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from melwave.errors import MelwaveError


@dataclass(frozen=True)
class Item:
    """One input file and the root it was found under (for mirroring the tree)."""

    path: Path
    root: Path

    @property
    def relative(self) -> Path:
        try:
            return self.path.relative_to(self.root)
        except ValueError:
            return Path(self.path.name)


@dataclass(frozen=True)
class OutputPlan:
    """What a batch will do. `pairs`: (input, output) to run, in order; `refused`: (input, one-line
    reason) for inputs that must not run (nothing is written for them); `notes`: one-line notes
    (e.g. a de-duplicated input) to show before the batch starts."""

    pairs: tuple[tuple[Path, Path], ...]
    refused: tuple[tuple[Path, str], ...] = ()
    notes: tuple[str, ...] = ()


def _real(path: Path) -> str:
    """The absolute path with symlinks and `..` resolved (non-strict: the file may not exist yet)."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError, RuntimeError):  # a symlink loop or an unusable name: keep it as given
        return os.path.abspath(path)


def name_key(text: str) -> str:
    """How a case-insensitive, normalising file system (macOS, Windows) compares names."""
    return unicodedata.normalize("NFC", text).casefold()


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def map_outputs(items: Sequence[Item], outputs: Sequence[str], default_suffix: str) -> list[Path]:
    """Map inputs to outputs: N files for N inputs, or one folder mirroring the input tree.

    A single output with a file suffix and a single input is a file; anything else single is a
    folder. Raises MelwaveError when the counts cannot be paired.
    """
    if len(outputs) == 1:
        out = Path(outputs[0])
        is_file = out.suffix != "" and not outputs[0].endswith(("/", os.sep)) and not _is_dir(out)
        if is_file:
            if len(items) != 1:
                raise MelwaveError(f"-o {out} is a file but there are {len(items)} inputs; give a folder or one output per input")
            return [out]
        return [out / item.relative.with_suffix(default_suffix) for item in items]
    if len(outputs) != len(items):
        raise MelwaveError(f"got {len(items)} inputs but {len(outputs)} outputs; give one output per input or a single folder")
    return [Path(o) for o in outputs]


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # e.g. a name too long for the file system: not a folder
        return False


def _first_mentions(items: Sequence[Item]) -> tuple[list[Item], list[str]]:
    """Items without repeats of one file (by resolved path), each kept where first named."""
    seen: dict[str, Item] = {}
    counts: dict[str, int] = {}
    for item in items:
        key = _real(item.path)
        seen.setdefault(key, item)
        counts[key] = counts.get(key, 0) + 1
    notes = [f"{seen[key].path}: named {count} times in the inputs; processed once"
             for key, count in counts.items() if count > 1]
    return list(seen.values()), notes


def _unique_pairs(pairs: Sequence[tuple[Path, Path]]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pairs without repeats of one (input, output), each kept where first given."""
    seen: dict[tuple[str, str], tuple[Path, Path]] = {}
    counts: dict[tuple[str, str], int] = {}
    for source, target in pairs:
        key = (_real(source), name_key(_real(target)))
        seen.setdefault(key, (source, target))
        counts[key] = counts.get(key, 0) + 1
    notes = [f"{seen[key][0]}: given {count} times with output {seen[key][1]}; processed once"
             for key, count in counts.items() if count > 1]
    return list(seen.values()), notes


def _writes_over_inputs(pairs: Sequence[tuple[Path, Path]]) -> dict[int, str]:
    """{pair index: reason} for pairs whose output is one of the batch's inputs."""
    by_name = {name_key(_real(source)): source for source, _ in pairs}
    by_inode = {inode: source for source, _ in pairs if (inode := _inode(source)) is not None}
    refused = {}
    for index, (source, target) in enumerate(pairs):
        inode = _inode(target)
        hit = by_name.get(name_key(_real(target))) or (by_inode.get(inode) if inode is not None else None)
        if hit is None:
            continue
        what = "its own input" if _real(hit) == _real(source) or _inode(hit) == _inode(source) else f"the input {hit}"
        refused[index] = (f"refused: output {target} is {what} in this batch; melwave never writes over an input, "
                          f"even with --overwrite (choose another output)")
    return refused


def _shared_outputs(pairs: Sequence[tuple[Path, Path]], skip: set[int]) -> dict[int, str]:
    """{pair index: reason} for pairs whose output is also another pair's output."""
    groups: dict[str, list[int]] = {}
    for index, (_, target) in enumerate(pairs):
        if index not in skip:
            groups.setdefault(name_key(_real(target)), []).append(index)
    refused = {}
    for members in (m for m in groups.values() if len(m) > 1):
        for index in members:
            source, target = pairs[index]
            others = " and ".join(
                f"{pairs[o][0]}" + (f" (as {pairs[o][1]})" if str(pairs[o][1]) != str(target) else "")
                for o in members if o != index)
            refused[index] = (f"refused: output {target} is also the output of {others}; two inputs, one output: "
                              f"nothing written for either (give one output per input)")
    return refused


def plan_batch(items: Sequence[Item], outputs: Sequence[str], default_suffix: str) -> OutputPlan:
    """The whole batch's plan (see the module doc for the rules). Raises MelwaveError only when
    `outputs` cannot be paired with the inputs at all; every other problem refuses the inputs it
    concerns, so the rest of the batch still runs."""
    notes: list[str] = []
    if len(outputs) == 1:
        items, notes = _first_mentions(items)
    pairs = list(zip((item.path for item in items), map_outputs(items, outputs, default_suffix)))
    pairs, repeated = _unique_pairs(pairs)
    notes += repeated
    refused = _writes_over_inputs(pairs)
    refused.update(_shared_outputs(pairs, skip=set(refused)))
    return OutputPlan(pairs=tuple(p for i, p in enumerate(pairs) if i not in refused),
                      refused=tuple((pairs[i][0], reason) for i, reason in sorted(refused.items())),
                      notes=tuple(notes))


def short_hash(text: str) -> str:
    """8 hex digits of SHA-256: the same text gives the same tag on every run and machine."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def unique_names(names: Sequence[str], identities: Sequence[str]) -> list[str]:
    """`names` made distinct as files: every name shared (ignoring case and Unicode normal form)
    by entries of different `identities` gets `-<short_hash(identity)>` appended, all of them, so
    no entry's name depends on the order it came in. The identity is the raw thing the name was
    sanitised from (e.g. a sample's condition values). Raises MelwaveError naming both when two
    entries would still share a name (the same name and identity given twice)."""
    groups: dict[str, set[str]] = {}
    for name, identity in zip(names, identities):
        groups.setdefault(name_key(name), set()).add(identity)
    final = [f"{name}-{short_hash(identity)}" if len(groups[name_key(name)]) > 1 else name
             for name, identity in zip(names, identities)]
    taken: dict[str, int] = {}
    for index, name in enumerate(final):
        first = taken.setdefault(name_key(name), index)
        if first != index:
            raise MelwaveError(f"two outputs would both be named {name!r} ({identities[first]} and {identities[index]}); "
                               "nothing written")
    return final
