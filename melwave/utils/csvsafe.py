"""CSV cells that a spreadsheet will not run as formulas (CSV/formula injection).

A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is taken as a formula
by Excel, LibreOffice and Google Sheets; a file name or condition value such as
`=HYPERLINK(...)` or `-2+3+cmd|' /C calc'!A0` would run when a user opens melwave's CSV. Every
CSV melwave writes goes through `csv_text`, which prefixes such cells with `'` (the OWASP rule;
spreadsheets show the cell as text and hide the quote).

The guard round-trips: `unguard_cell(guard_cell(v)) == v` for every string `v`. A cell that
already starts with quotes followed by a trigger gets one more quote, and `unguard_cell` removes
exactly one, so a value that really begins with `'=` comes back as written. Numbers are never
touched: non-string cells pass through, and so does text that is only a number (`-3.5`, `+1e-3`,
`-inf`), which no spreadsheet runs as code.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Sequence

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def _needs_guard(text: str) -> bool:
    # Quotes are skipped so that a guarded-looking value gets its own quote (see the module doc).
    return text.lstrip(QUOTE).startswith(TRIGGERS)


def guard_cell(value: Any) -> Any:
    """`value` made safe for a spreadsheet: a string starting (after any quotes) with a formula
    trigger gets a leading `'`; number-only text and non-strings are returned unchanged."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value) or not _needs_guard(value):
        return value
    return QUOTE + value


def unguard_cell(text: str) -> str:
    """The value `guard_cell` was given: one leading `'` is removed where `guard_cell` adds one."""
    if text.startswith(QUOTE) and _needs_guard(text):
        return text[1:]
    return text


def csv_text(rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> str:
    """`rows` (the header being the first) as CSV text, every text cell guarded."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([guard_cell(cell) for cell in row])
    return buffer.getvalue()
