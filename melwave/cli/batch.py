"""Turning `-i`/`-o` arguments into (input, output) pairs, and running a job over them so that one
bad file never stops the others.

Inputs may be files, folders (searched recursively), globs (`**` recursive) and `.txt` lists (one
path per line, relative to the list's folder; `#` comments). Outputs are either one path per input,
or one folder that mirrors the inputs' tree under it. The whole map is checked by the output
planner (`melwave.inference.output_plan`) before anything is written.

`batch_units` names everything the batch accounts for (each planned pair, each refused input,
each input spec that named nothing) with a shard key and an id (`melwave.inference.sharding`,
`melwave.inference.manifest`); `run_batch` runs pairs and reports each as a `FileResult`.
"""

from __future__ import annotations

import glob
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

from melwave.errors import MelwaveError
from melwave.inference.manifest import unit_ids
from melwave.inference.output_plan import Item, OutputPlan, plan_batch

log = logging.getLogger("melwave")

__all__ = ["Item", "OutputPlan", "BatchReport", "FileResult", "Jobs", "Unit", "batch_units", "expand_inputs", "plan_batch",
           "run_batch", "read_list"]

# A list line longer than this is not a path (PATH_MAX is 4096 on Linux): it is reported and skipped
# without ever holding more than this many bytes of it.
MAX_LIST_LINE = 4096
# A list with this many bad lines is probably not a list at all (a binary file named .txt): stop there.
MAX_LIST_PROBLEMS = 20


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the newline) per line, or (number, None) for a line longer than
    MAX_LIST_LINE, whose rest is read and dropped in bounded pieces."""
    number = 0
    while True:
        line = handle.readline(MAX_LIST_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LIST_LINE and not line.endswith(b"\n"):
            while (rest := handle.readline(MAX_LIST_LINE)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line.rstrip(b"\r\n")


def _list_entry(raw: bytes | None) -> tuple[str | None, str | None]:
    """(path text, None) for a usable line, (None, None) for a blank or comment, (None, reason) for a bad one."""
    if raw is None:
        return None, f"line longer than {MAX_LIST_LINE} bytes; skipped"
    if b"\0" in raw:
        return None, "contains a NUL byte; skipped"
    try:
        text = raw.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError as err:
        return None, f"not valid UTF-8 (byte {err.start + 1}); skipped"
    if not text or text.startswith("#"):
        return None, None
    return text, None


def read_list(path: Path) -> tuple[list[Item], list[tuple[str, str]]]:
    """The entries of a `.txt` list (one path per line, relative to the list's folder; `#` comments),
    read line by line with a bounded line length. Returns (items, problems): a bad line (NUL byte,
    not UTF-8, over-long) is one problem named `LIST:LINE`; the good lines are still returned."""
    items: list[Item] = []
    problems: list[tuple[str, str]] = []
    try:
        with open(path, "rb") as handle:
            for number, raw in _lines(handle):
                text, problem = _list_entry(raw)
                if problem:
                    problems.append((f"{path}:{number}", problem))
                    if len(problems) >= MAX_LIST_PROBLEMS:
                        problems.append((str(path), f"{MAX_LIST_PROBLEMS} bad lines; stopped reading it (is it a list of paths?)"))
                        break
                elif text:
                    entry = Path(text) if Path(text).is_absolute() else path.parent / text
                    items.append(Item(entry, entry.parent))
    except OSError as err:
        problems.append((str(path), f"cannot read the list ({err.strerror or err})"))
    return items, problems


def _kind(path: Path) -> str:
    """"dir", "file" or "" for a path that is neither or cannot be looked at (e.g. a name too long)."""
    try:
        return "dir" if path.is_dir() else "file" if path.is_file() else ""
    except (OSError, ValueError):
        return ""


def expand_inputs(specs: Sequence[str], extensions: Sequence[str]) -> tuple[list[Item], list[tuple[str, str]]]:
    """Expand `-i` specs into files with one of `extensions`. Returns (items, problems).

    A spec that names nothing is a problem (reported), not a crash; explicit files are kept even with
    another extension so the job reports them as unsupported instead of silently skipping them.
    A file named more than once is kept each time: the output planner de-duplicates with a note.
    """
    items: list[Item] = []
    problems: list[tuple[str, str]] = []
    suffixes = tuple(e.lower() for e in extensions)

    def wanted(path: Path) -> bool:
        return path.suffix.lower() in suffixes and not path.name.startswith(".") and _kind(path) == "file"

    for spec in specs:
        path = Path(spec)
        kind = _kind(path)
        if glob.has_magic(spec):
            found = [p for p in sorted(Path(p) for p in glob.glob(spec, recursive=True)) if wanted(p)]
            if not found:
                problems.append((spec, f"pattern matched no {'/'.join(suffixes)} files"))
            root = _glob_root(spec)
            items.extend(Item(p, root) for p in found)
        elif kind == "dir":
            from melwave.audio.io import find_files  # the one folder scan (hidden files and folders skipped)

            found = [p for p in find_files(path, suffixes) if _kind(p) == "file"]
            if not found:
                problems.append((spec, f"folder holds no {'/'.join(suffixes)} files"))
            items.extend(Item(p, path) for p in found)
        elif path.suffix.lower() == ".txt" and kind == "file":
            listed, bad = read_list(path)
            items.extend(listed)
            problems.extend(bad)
        else:
            # Missing files are kept: the job reports them per file with a clear reason.
            items.append(Item(path, path.parent))
    return items, problems


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
class FileResult:
    """What became of one input: status ok, skipped (the output was there), failed or refused;
    `error` one line; `audio_seconds` None where not known; `seconds` the time it took."""

    source: Path
    target: Path | None
    status: str
    error: str | None = None
    notes: tuple[str, ...] = ()
    audio_seconds: float | None = None
    seconds: float = 0.0


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, result: FileResult) -> None:
        if result.status == "ok":
            self.done.append(result.target)
        elif result.status == "skipped":
            self.skipped.append(result.target)
        else:  # failed or refused
            self.failed.append((result.source, result.error or result.status))

    def summary(self) -> str:
        text = f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed in {self.seconds:.1f} s"
        if self.failed:
            text += "\nfailed:\n" + "\n".join(f"  {path}: {reason}" for path, reason in self.failed)
        return text


def _strip_prefix(message: str, source: Path) -> str:
    """Errors already name their file; don't print it twice on one line."""
    prefix = f"{source}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _shorten(text: str, limit: int = 400) -> str:
    """One line of at most `limit` characters: an error may carry a huge file name or message."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 61] + " ... " + line[-56:]


def failure_reason(err: BaseException, source: Path) -> str:
    """One line for any exception a job raised: a MelwaveError's own message (without the file name
    the batch line already shows), an OSError's errno text and file, else the type and first line."""
    if isinstance(err, MelwaveError):  # already one line, written for users: shown whole
        return _strip_prefix(str(err), source)
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return _shorten(f"{type(err).__name__}: {err.strerror}{where}")
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return _shorten(f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__)


def echo(result: FileResult) -> None:
    """The lines a user sees for one file: FAILED with the reason, or its notes."""
    if result.status in ("failed", "refused"):
        tqdm.write(f"melwave: FAILED {result.source}: {result.error}", file=sys.stderr)
    for note in result.notes:
        tqdm.write(f"melwave: note: {result.source}: {note}", file=sys.stderr)


def _exists(path: Path) -> bool:
    # Path.exists raises for some errors (ENAMETOOLONG); the job reports those when it writes.
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def audio_seconds(source: Path, target: Path) -> float | None:
    """Seconds of audio a finished job handled: the output's length when it is audio, else the
    input's (analysis); None when neither can be read as audio."""
    import soundfile as sf

    for path in (target, source):
        try:
            return float(sf.info(str(path)).duration)
        except Exception:  # noqa: BLE001 - not audio (a mel file) or not readable: try the other, else unknown
            continue
    return None


# A group job: [(input, output)] -> per pair, what it returned (notes, or a `Done`) or raised.
GroupJob = Callable[[Sequence[tuple[Path, Path]]], Sequence[object]]


@dataclass(frozen=True)
class Jobs:
    """What runs a batch's pairs: `job` per pair, or `group_job` over up to `group_size` pairs at a
    time; `notes`: one-line notes about how (e.g. why batching was not used), shown once."""

    job: Callable[[Path, Path], list[str]]
    group_job: GroupJob | None = None
    group_size: int = 1
    notes: tuple[str, ...] = ()


def run_batch(pairs: Iterable[tuple[Path, Path]], job: Callable[[Path, Path], list[str]], *, skip_existing: bool = False,
              overwrite: bool = False, desc: str = "files", progress: bool | None = None,
              on_result: Callable[[FileResult], None] | None = None, show: bool = True,
              group_job: GroupJob | None = None, group_size: int = 1) -> BatchReport:
    """Run job(input, output) -> notes for each pair, reporting each failure in one line and going on.

    Outputs that exist are refused (reported as failures) unless `overwrite`, or skipped with
    `skip_existing` so an interrupted batch can resume. Any exception a job raises (a MelwaveError,
    an OSError such as a name too long, MemoryError, a torch or ONNX Runtime error) fails that
    pair only; KeyboardInterrupt and SystemExit stop the batch. The pairs should come from
    `plan_batch`, which refuses shared outputs and outputs that are inputs before this runs.

    `group_job`: runs up to `group_size` pairs at once (batched vocoding), returning per pair its
    notes or `Done`, or the exception that pair raised; if the group job itself raises, its pairs
    run one by one through `job`. `on_result` gets every pair's FileResult (manifests, --jobs
    workers; then the seconds of audio are measured); `show=False` prints no per-file lines.
    """
    pairs = list(pairs)
    report = BatchReport()
    start = time.perf_counter()
    bar = tqdm(total=len(pairs), desc=desc, unit="file", disable=not (sys.stderr.isatty() if progress is None else progress),
               file=sys.stderr)

    def emit(result: FileResult) -> None:
        report.add(result)
        if show:
            echo(result)
        if on_result is not None:
            on_result(result)
        bar.update(1)

    def finished(source: Path, target: Path, outcome: object, seconds: float) -> FileResult:
        if isinstance(outcome, BaseException):
            log.debug("%s failed", source, exc_info=outcome)
            return FileResult(source, target, "failed", failure_reason(outcome, source), seconds=seconds)
        notes = tuple(getattr(outcome, "notes", outcome) or ())
        known = getattr(outcome, "audio_seconds", None)
        measured = known if known is not None or on_result is None else audio_seconds(source, target)
        return FileResult(source, target, "ok", None, notes, measured, getattr(outcome, "seconds", None) or seconds)

    def one(source: Path, target: Path) -> FileResult:
        begin = time.perf_counter()
        try:
            outcome: object = job(source, target)
        except Exception as err:  # noqa: BLE001 - one bad file, whatever it raised, must not stop the batch
            outcome = err
        return finished(source, target, outcome, time.perf_counter() - begin)

    size = max(1, group_size) if group_job is not None else 1
    for first in range(0, len(pairs), size):
        runnable = []
        for source, target in pairs[first : first + size]:
            if _exists(target) and skip_existing:
                emit(FileResult(source, target, "skipped", f"output {target} exists (--skip-existing)"))
            elif _exists(target) and not overwrite:
                emit(FileResult(source, target, "failed",
                                f"output {target} exists (use --overwrite to replace, --skip-existing to keep)"))
            else:
                runnable.append((source, target))
        if group_job is None or not runnable:
            for source, target in runnable:
                emit(one(source, target))
            continue
        begin = time.perf_counter()
        try:
            outcomes = list(group_job(runnable))
        except Exception:  # noqa: BLE001 - the group's own failure: each pair alone, as without batching
            log.debug("batch of %d failed; one by one", len(runnable), exc_info=True)
            for source, target in runnable:
                emit(one(source, target))
            continue
        share = (time.perf_counter() - begin) / len(runnable)
        for (source, target), outcome in zip(runnable, outcomes):
            emit(finished(source, target, outcome, share))
    bar.close()
    report.seconds = time.perf_counter() - start
    return report
