"""Turning `-i`/`-o` arguments into (input, output) pairs, and running a job over them so that one
bad file never stops the others.

Inputs may be files, folders (searched recursively), globs (`**` recursive) and `.txt` lists (one
path per line, relative to the list's folder; `#` comments). Outputs are either one path per input,
or one folder that mirrors the inputs' tree under it.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tqdm import tqdm

from melwave.errors import MelwaveError

log = logging.getLogger("melwave")


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


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def expand_inputs(specs: Sequence[str], extensions: Sequence[str]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Expand `-i` specs into files with one of `extensions`. Returns (items, problems).

    A spec that names nothing is a problem (reported), not a crash; explicit files are kept even with
    another extension so the job reports them as unsupported instead of silently skipping them.
    """
    items: list[Item] = []
    problems: list[tuple[str, str]] = []
    suffixes = tuple(e.lower() for e in extensions)

    def wanted(path: Path) -> bool:
        return path.suffix.lower() in suffixes and not path.name.startswith(".")

    for spec in specs:
        path = Path(spec)
        if glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True))
            found = [p for p in matches if p.is_file() and wanted(p)]
            if not found:
                problems.append((spec, f"pattern matched no {'/'.join(suffixes)} files"))
            root = _glob_root(spec)
            items.extend(Item(p, root) for p in found)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and wanted(p))
            if not found:
                problems.append((spec, f"folder holds no {'/'.join(suffixes)} files"))
            items.extend(Item(p, path) for p in found)
        elif path.suffix.lower() == ".txt" and path.is_file():
            base = path.parent
            for number, line in enumerate(path.read_text().splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                entry = Path(line) if Path(line).is_absolute() else base / line
                items.append(Item(entry, entry.parent))
        else:
            # Missing files are kept: the job reports them per file with a clear reason.
            items.append(Item(path, path.parent))
    seen: set[Path] = set()
    unique = []
    for item in items:
        key = item.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique, problems


def plan_outputs(items: Sequence[Item], outputs: Sequence[str], default_suffix: str) -> list[Path]:
    """Map inputs to outputs: N files for N inputs, or one folder mirroring the input tree.

    A single output with a file suffix and a single input is a file; anything else single is a folder.
    """
    if len(outputs) == 1:
        out = Path(outputs[0])
        is_file = out.suffix != "" and not outputs[0].endswith(("/", os.sep)) and not out.is_dir()
        if is_file:
            if len(items) != 1:
                raise MelwaveError(f"-o {out} is a file but there are {len(items)} inputs; give a folder or one output per input")
            return [out]
        return [out / item.relative.with_suffix(default_suffix) for item in items]
    if len(outputs) != len(items):
        raise MelwaveError(f"got {len(items)} inputs but {len(outputs)} outputs; give one output per input or a single folder")
    return [Path(o) for o in outputs]


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed in {self.seconds:.1f} s"
        if self.failed:
            text += "\nfailed:\n" + "\n".join(f"  {path}: {reason}" for path, reason in self.failed)
        return text


def _strip_prefix(message: str, source: Path) -> str:
    """Errors already name their file; don't print it twice on one line."""
    prefix = f"{source}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def run_batch(pairs: Iterable[tuple[Path, Path]], job: Callable[[Path, Path], list[str]], *, skip_existing: bool = False,
              overwrite: bool = False, desc: str = "files", progress: bool | None = None) -> BatchReport:
    """Run job(input, output) -> notes for each pair, reporting each failure in one line and going on.

    Outputs that exist are refused (reported as failures) unless `overwrite`, or skipped with
    `skip_existing` so an interrupted batch can resume.
    """
    pairs = list(pairs)
    report = BatchReport()
    start = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(pairs, desc=desc, unit="file", disable=not show, file=sys.stderr)
    for source, target in bar:
        if target.exists() and skip_existing:
            report.skipped.append(target)
            continue
        if target.exists() and not overwrite:
            reason = f"output {target} exists (use --overwrite to replace, --skip-existing to keep)"
            report.failed.append((source, reason))
            tqdm.write(f"melwave: FAILED {source}: {reason}", file=sys.stderr)
            continue
        try:
            notes = job(source, target)
        except MelwaveError as err:
            reason = _strip_prefix(str(err), source)
            report.failed.append((source, reason))
            tqdm.write(f"melwave: FAILED {source}: {reason}", file=sys.stderr)
            continue
        except (MemoryError, RuntimeError, ValueError, OSError) as err:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            report.failed.append((source, reason))
            tqdm.write(f"melwave: FAILED {source}: {reason}", file=sys.stderr)
            continue
        for note in notes:
            tqdm.write(f"melwave: note: {source}: {note}", file=sys.stderr)
        report.done.append(target)
    report.seconds = time.perf_counter() - start
    return report
