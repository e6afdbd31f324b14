"""A labelled dataset of single notes rendered from the General MIDI soundfont in `pretty_midi`.

`build_notes(out_dir, NotesSpec(...))` renders every (instrument, pitch, velocity) combination
`takes` times with `tinysoundfont` and writes

    OUT/instrument=flute/pitch=C4/velocity=loud/take0.wav   (22.05 kHz mono 16-bit wav)
    OUT/labels.csv                                           (path,instrument,pitch,velocity)
    OUT/notes.yaml                                           (the spec that built it)

Takes differ by a few milliseconds of onset, by how long the key is held, by a few cents of
tuning (the synth's channel tuning) and, when `reverb` > 0, by how much of a synthetic room is
mixed in (tinysoundfont has no effects of its own); all drawn from a generator seeded by `seed`,
so the same spec always builds the same bytes. Velocity plays the role of the source system's
drill force: louder and brighter for the same instrument and pitch. The audio is not
normalised: loudness is one of the conditions.

Two named specs (`NOTES_PRESETS`): "full", the default, NSynth-like in breadth (8 instrument
families × 36 chromatic pitches × 3 velocities × 4 takes = 3,456 clips, about a minute and a
half); "small", the 240 clips the shipped `cwgan-notes` model was trained on (byte for byte what
the default was before "full" existed).
"""

from __future__ import annotations

import io
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

from melwave.errors import ConfigError, MelwaveError, OutputExistsError
from melwave.utils.csvsafe import csv_text
from melwave.utils.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

# General MIDI programs (0-based) by the names users type.
GM_PROGRAMS: dict[str, int] = {
    "piano": 0, "bright-piano": 1, "harpsichord": 6, "celesta": 8, "glockenspiel": 9,
    "vibraphone": 11, "marimba": 12, "xylophone": 13, "organ": 19, "accordion": 21,
    "guitar": 24, "steel-guitar": 25, "electric-guitar": 27, "bass": 32, "violin": 40,
    "viola": 41, "cello": 42, "harp": 46, "strings": 48, "choir": 52, "trumpet": 56,
    "trombone": 57, "tuba": 58, "horn": 60, "sax": 65, "oboe": 68, "bassoon": 70,
    "clarinet": 71, "piccolo": 72, "flute": 73, "recorder": 74, "pan-flute": 75,
    "square-lead": 80, "saw-lead": 81, "sitar": 104, "steel-drums": 114,
    # TimGM6mb's drawbar, percussive, rock and church organs sound their 16' stop: pYIN hears the
    # fundamental an octave below the key. Its reed organ is in tune.
    "reed-organ": 20,
}
VELOCITIES: dict[str, int] = {"soft": 40, "medium": 80, "loud": 120}
NOTE_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SAMPLE_RATE = 22050


def note_number(name: str) -> int:
    """'C4' -> 60, 'F#3' -> 54, 'Bb5' -> 82 (scientific pitch notation, C4 = middle C)."""
    match = re.fullmatch(r"([A-Ga-g])([#b]?)(-?\d)", name.strip())
    if not match:
        raise ConfigError(f"pitch {name!r}: expected a note name such as C4, F#3 or Bb5")
    letter, accidental, octave = match.groups()
    number = 12 * (int(octave) + 1) + NOTE_NAMES[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]
    if not 0 <= number <= 127:
        raise ConfigError(f"pitch {name!r}: outside the MIDI range C-1..G9")
    return number


def note_name(number: int) -> str:
    """60 -> 'C4', 61 -> 'C#4' (sharps: the inverse of `note_number` on its sharp spellings)."""
    return f"{SHARP_NAMES[number % 12]}{number // 12 - 1}"


def chromatic(low: str, high: str) -> tuple[str, ...]:
    """Every semitone from `low` to `high` inclusive: chromatic('C3', 'B3') -> ('C3', 'C#3', ..., 'B3')."""
    first, last = note_number(low), note_number(high)
    if last < first:
        raise ConfigError(f"pitches {low}..{high}: the range runs downwards")
    return tuple(note_name(n) for n in range(first, last + 1))


@dataclass(frozen=True)
class NotesSpec:
    """What to render. The default ("full": 8 × 36 × 3 × 4 = 3,456 clips of 0.75 s) builds in
    about a minute and a half on one CPU core; `NOTES_PRESETS["small"]` (240 clips) in seconds.

    instruments: names from GM_PROGRAMS. The default has one per family: keyboard, plucked,
                 brass, reed, flute, bowed, mallet, organ; each was checked with pYIN to sound
                 every default pitch within 10 cents (TimGM6mb's sax is silent at E4, its other
                 organs an octave low: left out).
    pitches:     note names (C4 = middle C); the default is chromatic C3..B5 (three octaves).
    velocities:  names from VELOCITIES (soft 40, medium 80, loud 120).
    takes:       renders per combination, differing in onset, hold time, tuning and reverb.
    duration:    clip length in seconds (0.75 s = 64 frames of hop 256 at 22.05 kHz).
    hold:        (min, max) seconds the key is held; the release rings on until the clip ends.
    max_onset:   the note starts up to this many seconds into the clip.
    tuning:      per take, the note is detuned by up to ± this many cents (0: in tune).
    reverb:      per take, up to this fraction (0..1) of a synthetic room is mixed in (0: dry).
    seed:        seeds every per-take draw.
    """

    instruments: tuple[str, ...] = ("piano", "guitar", "trumpet", "clarinet", "flute", "violin", "marimba", "reed-organ")
    pitches: tuple[str, ...] = chromatic("C3", "B5")
    velocities: tuple[str, ...] = ("soft", "medium", "loud")
    takes: int = 4
    duration: float = 0.75
    hold: tuple[float, float] = (0.3, 0.55)
    max_onset: float = 0.02
    tuning: float = 5.0
    reverb: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for field_name, vocabulary in (("instruments", GM_PROGRAMS), ("velocities", VELOCITIES)):
            values = getattr(self, field_name)
            if not values:
                raise ConfigError(f"notes: {field_name} is empty")
            unknown = [v for v in values if v not in vocabulary]
            if unknown:
                raise ConfigError(f"notes: unknown {field_name} {unknown}; valid: {sorted(vocabulary)}")
        if not self.pitches:
            raise ConfigError("notes: pitches is empty")
        for name in self.pitches:
            note_number(name)
        for field_name in ("instruments", "pitches", "velocities"):
            values = getattr(self, field_name)
            if len(set(values)) != len(values):
                raise ConfigError(f"notes: {field_name} has duplicates: {list(values)}")
        if self.takes < 1:
            raise ConfigError(f"notes: takes={self.takes}: expected >= 1")
        if not 0 < self.hold[0] <= self.hold[1] < self.duration:
            raise ConfigError(f"notes: hold={self.hold}: expected 0 < min <= max < duration ({self.duration})")
        if not 0 <= self.max_onset < self.duration - self.hold[1]:
            raise ConfigError(f"notes: max_onset={self.max_onset} leaves no room for the held note")
        if not 0 <= self.tuning <= 50:
            raise ConfigError(f"notes: tuning={self.tuning}: expected 0..50 cents (more would change the note)")
        if not 0 <= self.reverb <= 1:
            raise ConfigError(f"notes: reverb={self.reverb}: expected a wet fraction in 0..1")

    @property
    def conditions(self) -> dict[str, tuple[str, ...]]:
        """Condition name -> its values, in the order the labels use."""
        return {"instrument": self.instruments, "pitch": self.pitches, "velocity": self.velocities}

    def __len__(self) -> int:
        return len(self.instruments) * len(self.pitches) * len(self.velocities) * self.takes


NOTES_PRESETS: dict[str, NotesSpec] = {
    "full": NotesSpec(),
    # The shipped cwgan-notes model's data: pitches in fifths, no tuning jitter. With tuning 0
    # nothing extra is drawn per take, so this builds the same bytes as before "full" existed.
    "small": NotesSpec(instruments=("piano", "guitar", "trumpet", "flute"), pitches=("C3", "G3", "D4", "A4", "E5"),
                       tuning=0.0),
}


def soundfont_path() -> Path:
    """TimGM6mb.sf2 inside the installed pretty_midi package (found without importing it)."""
    from melwave.utils.optional import package_dir

    path = package_dir("pretty_midi", "the General MIDI soundfont of the notes dataset") / "TimGM6mb.sf2"
    if not path.exists():
        raise MelwaveError(f"{path}: pretty_midi's General MIDI soundfont is missing")
    return path


class NoteRenderer:
    """Renders one note at a time: (program, key, velocity, onset s, hold s) -> (T,) float32."""

    def __init__(self, duration: float, sample_rate: int = SAMPLE_RATE):
        from melwave.utils.optional import require

        tinysoundfont = require("tinysoundfont", "rendering the notes dataset")
        self._tinysoundfont = tinysoundfont
        self.sample_rate = sample_rate
        self.samples = int(round(duration * sample_rate))
        self._font_bytes = soundfont_path().read_bytes()

    def render(self, program: int, key: int, velocity: int, onset: float, hold: float, cents: float = 0.0) -> np.ndarray:
        # A fresh synth per note (about 10 ms): a reused one carries voice and filter state from
        # note to note, and the output would depend on what was rendered before.
        synth = self._tinysoundfont.Synth(samplerate=self.sample_rate)
        font = synth.sfload(self._font_bytes)
        synth.program_select(0, font, 0, program)
        if cents:
            synth.set_tuning(0, cents / 100.0)  # semitones
        start = int(round(onset * self.sample_rate))
        stop = min(self.samples, start + int(round(hold * self.sample_rate)))
        parts = [np.zeros((start, 2), np.float32)]
        synth.noteon(0, key, velocity)
        parts.append(np.frombuffer(synth.generate(stop - start), dtype=np.float32).reshape(-1, 2))
        synth.noteoff(0, key)
        parts.append(np.frombuffer(synth.generate(self.samples - stop), dtype=np.float32).reshape(-1, 2))
        stereo = np.concatenate(parts)[: self.samples]
        return stereo.mean(axis=1).astype(np.float32)


def room_response(sample_rate: int, seed: int, seconds: float = 0.4, rt60: float = 0.35) -> np.ndarray:
    """(N,) impulse response of a synthetic room: seeded white noise decaying 60 dB in `rt60`,
    with unit energy, so a wet fraction w gives a tail about as loud as w times the dry note."""
    rng = np.random.default_rng([seed, 0x5EED])  # its own stream: per-take draws stay as they were
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    response = rng.standard_normal(len(t)) * 10.0 ** (-3.0 * t / rt60)
    return (response / np.sqrt(np.sum(response ** 2))).astype(np.float64)


def add_reverb(wave: np.ndarray, response: np.ndarray, wet: float) -> np.ndarray:
    """(T,) dry note -> (T,) (1 − wet)·dry + wet·(dry ∗ response), cut to the clip's length."""
    size = len(wave) + len(response) - 1
    tail = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(response, size), size)[: len(wave)]
    return ((1.0 - wet) * wave + wet * tail).astype(np.float32)


def _wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, format="WAV", subtype="PCM_16")  # PCM: float wavs carry a time-stamped PEAK chunk
    return buffer.getvalue()


def build_notes(out_dir: str | Path, spec: NotesSpec = NotesSpec(), *, overwrite: bool = False,
                progress: bool = True) -> Path:
    """Render the dataset into `out_dir`; returns the path of labels.csv.

    Refuses a non-empty `out_dir` unless `overwrite` (then files of the same names are replaced).
    `progress` shows a bar over the clips; a log line after each instrument gives rate and ETA.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out_dir}: directory is not empty (pass --overwrite to write into it)")
    renderer = NoteRenderer(spec.duration)
    rng = np.random.default_rng(spec.seed)
    response = room_response(renderer.sample_rate, spec.seed) if spec.reverb else None
    rows: list[list[str]] = []
    started = time.monotonic()
    total = len(spec)
    # The bar only on a terminal (disable=None): in a pipe or CI log the per-instrument log lines
    # (rate, ETA) are the progress, and a bar there would add a line per update.
    bar = tqdm(total=total, unit="clip", desc="notes", leave=False, disable=None if progress else True)
    for instrument in spec.instruments:
        for pitch in spec.pitches:
            for velocity in spec.velocities:
                for take in range(spec.takes):
                    onset = float(rng.uniform(0.0, spec.max_onset))
                    hold = float(rng.uniform(*spec.hold))
                    # Drawn only when used: a spec without them consumes the stream as before they
                    # existed, so its bytes did not change when they were added.
                    cents = float(rng.uniform(-spec.tuning, spec.tuning)) if spec.tuning else 0.0
                    wet = float(rng.uniform(0.0, spec.reverb)) if spec.reverb else 0.0
                    wave = renderer.render(GM_PROGRAMS[instrument], note_number(pitch), VELOCITIES[velocity], onset, hold, cents)
                    if response is not None:
                        wave = add_reverb(wave, response, wet)
                    relative = Path(f"instrument={instrument}") / f"pitch={pitch}" / f"velocity={velocity}" / f"take{take}.wav"
                    atomic_write_bytes(out_dir / relative, _wav_bytes(wave, renderer.sample_rate), overwrite=overwrite)
                    rows.append([relative.as_posix(), instrument, pitch, velocity])
                    bar.update()
        elapsed = time.monotonic() - started
        rate = len(rows) / max(elapsed, 1e-9)
        log.info("notes: %d/%d clips (%s) in %.1f s, %.0f clips/s, ETA %.0f s", len(rows), total, instrument, elapsed,
                 rate, (total - len(rows)) / rate)
    bar.close()
    table = csv_text([["path", "instrument", "pitch", "velocity"], *rows], lineterminator="\n")
    labels = atomic_write_bytes(out_dir / "labels.csv", table.encode(), overwrite=overwrite)
    spec_dict = asdict(spec)
    spec_dict.update({k: list(v) for k, v in spec_dict.items() if isinstance(v, tuple)})
    spec_dict["sample_rate"] = renderer.sample_rate
    atomic_write_bytes(out_dir / "notes.yaml", yaml.safe_dump(spec_dict, sort_keys=False).encode(), overwrite=overwrite)
    return labels
