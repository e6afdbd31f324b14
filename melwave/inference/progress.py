"""Progress within one long file, counted in seconds of audio.

    report = AudioProgress("talk.flac", total_seconds=600.0)     # bar on a terminal, else log lines
    wave = vocoder.synthesize(mel, chunk_frames=430, progress=report)   # called after each chunk
    report.close()

The batch bar counts files, so a ten-minute recording would otherwise sit at "0/1" for minutes.
On a terminal a second bar (seconds of audio, rate as × real time) appears under the batch bar
once the file has taken `delay` seconds, and disappears when it is done. Off a terminal (a log
file, CI, a worker process) a line goes to stderr whenever `every` seconds have passed since the
last one: `melwave: talk.flac: 125/600 s of audio (21%), 3.4x real time, 2m20s left`. Work is
reported at chunk boundaries, so a line can come later than `every` when one chunk takes longer.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from melwave.utils.durations import format_duration

LOG_EVERY = 10.0   # seconds between progress lines off a terminal
BAR_DELAY = 1.0    # a file finished sooner than this never shows a bar


class AudioProgress:
    """A `progress(done_frames, total_frames)` callback for chunked work on one file of
    `total_seconds` of audio. `enabled`: None = a bar on a terminal, lines otherwise; False = silent;
    True = a bar. `clock` is injectable so tests count lines without waiting."""

    def __init__(self, label: str, total_seconds: float, *, enabled: bool | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic,
                 every: float | None = None, delay: float = BAR_DELAY):
        self.label = label
        self.total = float(total_seconds)
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.every = LOG_EVERY if every is None else every
        self.start = clock()
        self.last_line = self.start
        self.done = 0.0
        self.lines = 0
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.mode = "off" if enabled is False else ("bar" if enabled or tty else "lines")
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=round(self.total, 1), desc=label, unit="s", unit_scale=False, leave=False,
                            position=1, delay=delay, file=self.stream,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio [{remaining}]")

    def __call__(self, done_frames: int, total_frames: int) -> None:
        done = self.total * done_frames / max(total_frames, 1)
        if self.bar is not None:
            self.bar.update(round(done - self.done, 3))
        self.done = done
        if self.mode == "lines":
            now = self.clock()
            if now - self.last_line >= self.every and done < self.total:
                self.last_line = now
                self.lines += 1
                print(f"melwave: {self.line(now)}", file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{self.label}: {self.done:.0f}/{self.total:.0f} s of audio ({100 * self.done / max(self.total, 1e-9):.0f}%), "
                f"{rate:.1f}x real time, {format_duration(left)} left")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> "AudioProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
