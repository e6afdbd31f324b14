"""A batch command's `-i` arguments -> its input files, each with the root it was found under.

Inputs may be files, folders (searched recursively, hidden files and folders skipped), globs (`**`
recursive) and `.txt` lists (one path per line, relative to the list's folder; `#` comments). A
spec that names nothing, or a bad list line, is a problem to report, never a crash: the rest of
the batch still runs. The root of each file is what an output folder mirrors
(`melwave.inference.output_plan`) and what its shard key and manifest id are relative to.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from melwave.inference.output_plan import Item

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
