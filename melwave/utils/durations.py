"""Durations as people read them in progress lines: 42s -> '0m42s', 5400 s -> '1h30m'."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """Seconds -> 'MmSSs' under an hour, 'HhMMm' from an hour on, '?' when unknown (inf/NaN)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"
