"""Running a job over a batch's (input, output) pairs so that one bad file never stops the others.

`run_batch` runs each pair (or a group of pairs at once: batched vocoding) and reports each as a
`FileResult`, counted in a `BatchReport`. What to run comes as `Jobs`; which pairs to run comes
from the batch's plan (`melwave.inference.batch_plan`). Showing results is the caller's: the CLI
passes its per-file printer as `echo`.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tqdm import tqdm

from melwave.errors import MelwaveError

log = logging.getLogger("melwave")


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

    def add_unrunnable(self, units: Iterable) -> None:
        """Count the units that never ran (`melwave.inference.batch_plan.Unit`s without a pair) as
        failed: after the batch's own failures, input problems before refusals."""
        for unit in sorted((u for u in units if u.pair is None), key=lambda u: u.status == "refused"):
            self.failed.append((unit.source, unit.reason))

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
              on_result: Callable[[FileResult], None] | None = None, echo: Callable[[FileResult], None] | None = None,
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
    workers; then the seconds of audio are measured); `echo` too, first, to show it to the user
    (the CLI's per-file lines, printed above the progress bar).
    """
    pairs = list(pairs)
    report = BatchReport()
    start = time.perf_counter()
    bar = tqdm(total=len(pairs), desc=desc, unit="file", disable=not (sys.stderr.isatty() if progress is None else progress),
               file=sys.stderr)

    def emit(result: FileResult) -> None:
        report.add(result)
        if echo is not None:
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
