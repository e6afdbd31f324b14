"""Manifests: one JSON line per input of a batch, so corpus-scale runs can be audited and merged.

A manifest is a `.jsonl` file of records, each one line, appended with one `write` on a file
opened with O_APPEND (a line is never interleaved with another; a run killed mid-line leaves at
most its last line cut, which readers skip and the next run starts on a fresh line). Records:

- `{"record": "run", ...}`, first, once per run (a resumed run appends a new one):
  `version`, `command`, `shard` ("K/N"), `shard_index`, `shard_count`, `jobs`,
  `inputs_total` (inputs of the whole batch, all shards), `inputs_digest` (sha256 of the sorted
  ids of the whole batch: equal in every shard of one batch), `planned` (the ids this run owns),
  `models` (evaluate: the model labels; absent otherwise), `started` (UTC, ISO 8601), `host`, `pid`.
- `{"record": "file", ...}`, one per input and (for evaluate) model: `id`, `input`, `output`,
  `status` (ok, failed, skipped, refused), `audio_seconds` (seconds of audio, null when not
  known), `seconds` (seconds taken), `error` (one line, null unless failed/refused/skipped),
  `notes`, `shard`; evaluate adds `model`, `metrics` and `lag_samples`.

`id` is the input's path relative to its root (`melwave.inference.sharding`), with `#2`, `#3`...
for later inputs of the batch with the same relative path: the same in every shard, wherever the
corpus is mounted. `merge_manifests` reads any number of manifests (one per shard, resumed runs
appended) into one result per input, reporting inputs recorded by two shards, inputs no run
recorded, and shards no manifest covers.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from melwave.errors import MelwaveError
from melwave.inference.sharding import Shard

VERSION = 1
STATUSES = ("ok", "failed", "skipped", "refused")
RUN_FIELDS = ("record", "version", "command", "shard", "shard_index", "shard_count", "jobs", "inputs_total",
              "inputs_digest", "planned", "started", "host", "pid")
FILE_FIELDS = ("record", "id", "input", "output", "status", "audio_seconds", "seconds", "error", "notes", "shard")
# Shard coverage is checked modulo the lcm of the shard counts seen; past this it is counted only.
MAX_COVERAGE_MODULUS = 100_000


def manifest_path(path: str | Path, shard: Shard) -> Path:
    """Where a shard writes `--manifest PATH`: PATH itself for the whole batch, else
    `NAME.shard-K-of-N.jsonl` beside it, so concurrent shards never share a file."""
    path = Path(path)
    if shard.whole:
        return path
    stem, suffix = (path.stem, path.suffix) if path.suffix else (path.name, ".jsonl")
    return path.with_name(f"{stem}.{shard.tag}{suffix}")


def unit_ids(keys: Iterable[str]) -> list[str]:
    """Ids for inputs with these relative paths, in batch order: the path, and `path#n` for its
    n-th repeat (two roots holding one relative path), so every input has its own id."""
    seen: dict[str, int] = {}
    ids = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        ids.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return ids


def digest(ids: Iterable[str]) -> str:
    """sha256 of the sorted ids: two shards agree on it exactly when they split the same batch."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_record(*, command: str, shard: Shard, jobs: int, all_ids: Sequence[str], planned: Sequence[str],
               **extra: Any) -> dict[str, Any]:
    return {"record": "run", "version": VERSION, "command": command, "shard": shard.label, "shard_index": shard.index,
            "shard_count": shard.count, "jobs": jobs, "inputs_total": len(all_ids), "inputs_digest": digest(all_ids),
            "planned": list(planned), "started": _now(), "host": socket.gethostname(), "pid": os.getpid(), **extra}


def file_record(*, id: str, input: str | Path, output: str | Path | None, status: str, audio_seconds: float | None,
                seconds: float, error: str | None, notes: Sequence[str] = (), shard: Shard, **extra: Any) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: expected one of {STATUSES}")
    return {"record": "file", "id": id, "input": str(input), "output": None if output is None else str(output),
            "status": status, "audio_seconds": _seconds(audio_seconds), "seconds": _seconds(seconds), "error": error,
            "notes": list(notes), "shard": shard.label, **extra}


def _seconds(value: float | None) -> float | None:
    """Rounded to 0.1 ms; None for unknown (or NaN: a clip no model could time)."""
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def _line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8: escaped, so the line stays valid JSON
        return (json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n").encode("ascii")


class ManifestWriter:
    """Appends records to one manifest, one `os.write` per line. Not for sharing one file between
    shards on a network file system (O_APPEND is not atomic over NFS): each shard has its own."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            size = os.fstat(self._fd).st_size
            # A run killed mid-line left no newline: the next record starts on a line of its own.
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                self._write(b"\n")
        except OSError as err:
            raise MelwaveError(f"--manifest {self.path}: cannot append to it ({err.strerror or err})") from None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def write(self, record: dict[str, Any]) -> None:
        self._write(_line(record))

    def close(self) -> None:
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ManifestRecorder:
    """A batch command's `--manifest`: `start` writes the run record and a record for each unit of
    this shard that cannot run; then, as `on_result` of `melwave.inference.runner.run_batch`, each
    FileResult is written as a file record under its unit's id. `units`: this shard's units
    (`melwave.inference.batch_plan.Unit`)."""

    def __init__(self, path: str | Path, shard: Shard, units: Sequence[Any]):
        self.writer, self.shard, self.units = ManifestWriter(manifest_path(path, shard)), shard, list(units)
        self.path = self.writer.path
        self.ids = {u.pair: u.id for u in self.units if u.pair is not None}

    def start(self, *, command: str, jobs: int, all_ids: Sequence[str]) -> None:
        self.writer.write(run_record(command=command, shard=self.shard, jobs=jobs, all_ids=all_ids,
                                     planned=[u.id for u in self.units]))
        for unit in self.units:
            if unit.pair is None:
                self.writer.write(file_record(id=unit.id, input=unit.source, output=None, status=unit.status,
                                              audio_seconds=None, seconds=0.0, error=unit.reason, shard=self.shard))

    def __call__(self, result: Any) -> None:
        self.writer.write(file_record(id=self.ids[(result.source, result.target)], input=result.source, output=result.target,
                                      status=result.status, audio_seconds=result.audio_seconds, seconds=result.seconds,
                                      error=result.error, notes=result.notes, shard=self.shard))

    def close(self) -> None:
        self.writer.close()


# --- reading and merging -----------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run's header, where it was read."""

    path: Path
    line: int
    header: dict[str, Any]

    @property
    def shard(self) -> str:
        return str(self.header.get("shard", "?"))

    @property
    def identity(self) -> tuple:
        """Runs with the same identity are the same shard of the same batch (a resumed run)."""
        h = self.header
        return h.get("shard_index"), h.get("shard_count"), h.get("inputs_digest")

    def units(self) -> list[tuple[str, str | None]]:
        models = self.header.get("models") or [None]
        return [(i, m) for i in self.header.get("planned", []) for m in models]


Unit = tuple[str, "str | None"]  # (id, model): evaluate records one line per clip and model


@dataclass
class Merged:
    """Every input's final record across the manifests, and what does not add up."""

    runs: list[Run] = field(default_factory=list)
    final: dict[Unit, dict[str, Any]] = field(default_factory=dict)
    duplicates: list[tuple[Unit, list[str]]] = field(default_factory=list)   # unit, the shards that recorded it
    unrecorded: list[tuple[Unit, str]] = field(default_factory=list)         # planned by a shard, no line
    missing_shards: list[str] = field(default_factory=list)                  # "K/N" no run covers
    unplanned: int | None = None        # inputs of the batch no run planned (None: the runs disagree)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)                            # nothing wrong, worth saying

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for record in self.final.values():
            counts[record["status"]] += 1
        return counts

    def shortfalls(self) -> list[str]:
        """What keeps the merge from being complete, as counts ("3 failed", "1 duplicated", ...)."""
        counts = self.counts()
        found = [(counts["failed"], "failed"), (counts["refused"], "refused"), (len(self.duplicates), "duplicated"),
                 (len(self.unrecorded) + (self.unplanned or 0), "missing"), (len(self.missing_shards), "shard(s) missing"),
                 (len(self.problems), "problem(s) reading the manifests")]
        return [f"{n} {what}" for n, what in found if n]

    @property
    def complete(self) -> bool:
        """Every input recorded exactly once, nothing failed or refused, no line unreadable."""
        return not self.shortfalls()


def _check(record: Any, where: str) -> str | None:
    """None for a usable record, else why not."""
    if not isinstance(record, dict) or record.get("record") not in ("run", "file"):
        return f"{where}: not a manifest record"
    if record["record"] == "file":
        if not isinstance(record.get("id"), str) or record.get("status") not in STATUSES:
            return f"{where}: a file record needs a string id and a status in {'/'.join(STATUSES)}"
    elif not isinstance(record.get("planned"), list):
        return f"{where}: a run record needs its planned ids"
    return None


def read_manifest(path: str | Path) -> tuple[list[tuple[Run, list[dict[str, Any]]]], list[str]]:
    """[(run, its file records)] in file order, and one line per unreadable line or problem."""
    path = Path(path)
    runs: list[tuple[Run, list[dict[str, Any]]]] = []
    problems: list[str] = []
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise MelwaveError(f"{path}: cannot read the manifest ({err.strerror or err})") from None
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                problems.append(f"{path}:{number}: not valid JSON (a line cut off when a run was killed?); skipped")
                continue
            if (problem := _check(record, f"{path}:{number}")) is not None:
                problems.append(problem + "; skipped")
            elif record["record"] == "run":
                runs.append((Run(path, number, record), []))
            elif not runs:
                problems.append(f"{path}:{number}: a file record before any run record; skipped")
            else:
                runs[-1][1].append(record)
    return runs, problems


def _better(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether a later record of one input replaces an earlier one: yes, except that a resumed
    run's "skipped" (the output was already there) keeps the run that made it "ok"."""
    return not (new["status"] == "skipped" and old["status"] == "ok")


def _coverage(runs: Sequence[Run]) -> list[str]:
    """Shards ("K/N") of the batch that no run covers. Shard K/N covers the hashes congruent to
    K-1 modulo N; checked modulo the lcm of the counts, and named in those terms."""
    counts = {int(r.header.get("shard_count") or 1) for r in runs}
    modulus = math.lcm(*counts)
    if modulus > MAX_COVERAGE_MODULUS:
        return []
    covered = set()
    for run in runs:
        index, count = int(run.header.get("shard_index") or 1), int(run.header.get("shard_count") or 1)
        covered.update(range(index - 1, modulus, count))
    return [f"{r + 1}/{modulus}" for r in range(modulus) if r not in covered]


def merge_manifests(paths: Sequence[str | Path]) -> Merged:
    """One result for the batch the manifests' runs belong to (see the module doc).

    Runs are taken in the order they started; a later record of an input replaces an earlier one
    (`_better`). Records of one input by runs of different shards are duplicates (reported; the
    later one is kept); by runs of the same shard they are a resumed run (not reported).
    """
    merged = Merged()
    pairs: list[tuple[Run, list[dict[str, Any]]]] = []
    seen: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:  # a glob and a name for one file: its runs are not a second shard
            merged.notes.append(f"{path}: given more than once; read once")
            continue
        seen.add(real)
        runs, problems = read_manifest(path)
        pairs += runs
        merged.problems += problems
    if not pairs:
        merged.problems.append("no run records in " + ", ".join(str(p) for p in paths))
        return merged
    pairs.sort(key=lambda pair: (str(pair[0].header.get("started", "")), str(pair[0].path), pair[0].line))
    merged.runs = [run for run, _ in pairs]
    by: dict[Unit, Run] = {}
    dup: dict[Unit, list[str]] = {}
    for run, records in pairs:
        for record in records:
            unit = (record["id"], record.get("model"))
            earlier = by.get(unit)
            if earlier is not None and (earlier.identity != run.identity or earlier is run):
                dup.setdefault(unit, [earlier.shard]).append(run.shard)
            if earlier is None or _better(record, merged.final[unit]):
                merged.final[unit] = record
                by[unit] = run
    merged.duplicates = sorted(dup.items())
    planned: dict[Unit, str] = {}
    for run in merged.runs:
        for unit in run.units():
            planned.setdefault(unit, run.shard)
    merged.unrecorded = sorted((unit, shard) for unit, shard in planned.items() if unit not in merged.final)
    batches = {(r.header.get("inputs_total"), r.header.get("inputs_digest")) for r in merged.runs}
    if len(batches) > 1:
        merged.problems.append("the runs split different batches (inputs total/digest: "
                               + "; ".join(f"{t} {str(d)[:12]}" for t, d in sorted(batches, key=str))
                               + "): the inputs or -i/-o changed between shards, so the shards are no partition")
        return merged
    merged.missing_shards = _coverage(merged.runs)
    models = max(len(r.header.get("models") or [None]) for r in merged.runs)
    total = int(next(iter(batches))[0] or 0) * models
    merged.unplanned = total - len(planned)
    return merged
