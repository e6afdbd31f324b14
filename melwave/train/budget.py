"""When a training session stops early: a wall-clock budget (`--max-time 20m`) and SIGINT/SIGTERM.

    seconds = parse_duration("1h30m", flag="--max-time")      # 5400.0; one-line ConfigError if bad
    with StopSignals() as signals:                               # SIGINT/SIGTERM set a flag ...
        ... if signals.received: save a checkpoint, then raise TrainingInterrupted(signals.received)

The loop checks both between steps, so a stop always lands on a finished step that it then
checkpoints. A second signal while the first is being handled aborts at once (KeyboardInterrupt):
checkpoints are written atomically, so an abort mid-write leaves the previous ones intact.
"""

from __future__ import annotations

import math
import re
import signal
import threading
from types import FrameType

from melwave.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str, *, flag: str = "--max-time") -> float:
    """'90s', '20m', '1h', '1h30m', '1.5h' -> seconds (> 0). Units h, m, s, largest first, each at
    most once; a bare number is refused (minutes or seconds? the unit must be said)."""
    value = str(text).strip().lower()
    parts = _PART.findall(value)
    units = [unit for _, unit in parts]
    if (not parts or "".join(n + u for n, u in parts) != value or len(set(units)) != len(units)
            or units != sorted(units, key="hms".index)):
        raise ConfigError(f"{flag} {text!r}: expected a duration such as 90s, 20m, 1h or 1h30m")
    seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{flag} {text!r}: expected a duration above zero, e.g. 20m")
    return seconds


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after a checkpoint was written. A KeyboardInterrupt, so a
    command that does not catch it still ends as an interrupted one; `exit_code` is the shell's
    convention for death by that signal (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Context manager: SIGINT and SIGTERM set `received` (the signal number) instead of killing the
    process; a second one raises KeyboardInterrupt. Outside the main thread (where Python cannot
    install handlers) it does nothing. The previous handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    @staticmethod
    def name(signum: int) -> str:
        return signal.Signals(signum).name

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: aborted without saving")
        self.received = signum

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
