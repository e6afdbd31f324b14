"""A small labelled set of spoken words, made with espeak-ng: the "own sounds" of docs/own-sounds.md.

    apt-get install -y espeak-ng
    python scripts/make_speech_set.py /tmp/speech                     # 8 words × 4 voices × 10 takes = 320 clips
    python scripts/make_speech_set.py /tmp/speech-csv --layout csv    # the same clips, labelled by OUT/labels.csv

Layout `folders` (default): OUT/word=yes/voice=us-male/yes_us-male_03.wav, the name=value folder
levels melwave reads as labels. Layout `csv`: OUT/clips/*.wav and OUT/labels.csv (path,word,voice).

Each clip is one word spoken by espeak-ng at 22.05 kHz with a seeded speed (words per minute) and
pitch per take, its silences trimmed, placed 20-80 ms into a clip of 1.10-1.20 s (real one-second
recordings are never all the same length), at a peak of -12 to -3 dBFS over a -66 dB noise floor (a
real recording is never digital silence). Same arguments and seed, same files. The audio is data for
experiments: keep it out of the repository (e.g. under /tmp).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050
WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
# Condition value -> espeak-ng voice (language + variant): two accents × two registers.
VOICES = {"us-male": "en-us+m3", "us-female": "en-us+f3", "gb-male": "en-gb-x-rp+m1", "gb-female": "en-gb+f2"}
SPEEDS = (130, 190)          # words per minute, drawn per take
PITCHES = (30, 70)           # espeak-ng pitch 0-99, drawn per take
CLIP_SECONDS = (1.10, 1.20)  # clip length, drawn per take
ONSET_SECONDS = (0.02, 0.08)
PEAK_DB = (-12.0, -3.0)
NOISE_DB = -66.0


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's rendering of `word` as float32 at RATE (espeak-ng's own rate)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "word.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), word],
                       check=True, capture_output=True)
        wave, rate = sf.read(str(path), dtype="float32")
    if rate != RATE:
        raise SystemExit(f"espeak-ng wrote {rate} Hz, expected {RATE}")
    return wave if wave.ndim == 1 else wave.mean(axis=1)


def trim(wave: np.ndarray, threshold_db: float = -50.0) -> np.ndarray:
    """`wave` without its leading and trailing samples quieter than threshold_db of its peak."""
    level = np.abs(wave)
    loud = np.nonzero(level > level.max() * 10 ** (threshold_db / 20))[0]
    return wave[loud[0]:loud[-1] + 1] if len(loud) else wave


def make_clip(word: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    speech = trim(speak(word, voice, int(rng.integers(*SPEEDS, endpoint=True)), int(rng.integers(*PITCHES, endpoint=True))))
    length = int(rng.uniform(*CLIP_SECONDS) * RATE)
    onset = int(rng.uniform(*ONSET_SECONDS) * RATE)
    speech = speech[:length - onset]  # a word longer than its clip is cut (espeak's are ~0.3-0.7 s)
    clip = np.zeros(length, dtype=np.float32)
    clip[onset:onset + len(speech)] = speech * (10 ** (rng.uniform(*PEAK_DB) / 20) / max(np.abs(speech).max(), 1e-9))
    clip += rng.standard_normal(length).astype(np.float32) * 10 ** (NOISE_DB / 20)
    return clip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder (must not exist, or be empty)")
    parser.add_argument("--words", default=",".join(WORDS), help=f"comma-separated words (default {','.join(WORDS)})")
    parser.add_argument("--voices", default=",".join(VOICES), help=f"comma-separated voices of {sorted(VOICES)}")
    parser.add_argument("--takes", type=int, default=10, help="clips per (word, voice) (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seeds speeds, pitches, lengths, levels and noise")
    parser.add_argument("--layout", choices=("folders", "csv"), default="folders",
                        help="labels as word=W/voice=V folders (default) or OUT/labels.csv")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("make_speech_set: espeak-ng not found (apt-get install -y espeak-ng)", file=sys.stderr)
        return 2
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    unknown = [v for v in voices if v not in VOICES]
    if unknown or not words or args.takes < 1:
        print(f"make_speech_set: voices must be among {sorted(VOICES)}, words non-empty, --takes >= 1", file=sys.stderr)
        return 2
    if args.out.exists() and any(args.out.iterdir()):
        print(f"make_speech_set: {args.out} is not empty", file=sys.stderr)
        return 2
    rows = []
    for w, word in enumerate(words):
        for v, voice in enumerate(voices):
            for take in range(args.takes):
                # Seeded per clip, so a subset of words or voices gives the same clips.
                rng = np.random.default_rng([args.seed, WORDS.index(word) if word in WORDS else 100 + w,
                                             list(VOICES).index(voice), take])
                clip = make_clip(word, VOICES[voice], rng)
                name = f"{word}_{voice}_{take:02d}.wav"
                folder = args.out / (f"word={word}/voice={voice}" if args.layout == "folders" else "clips")
                folder.mkdir(parents=True, exist_ok=True)
                sf.write(str(folder / name), clip, RATE, subtype="PCM_16")
                rows.append([str((folder / name).relative_to(args.out)), word, voice])
    if args.layout == "csv":
        with open(args.out / "labels.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([["path", "word", "voice"], *rows])
    print(f"wrote {len(rows)} clips ({len(words)} words × {len(voices)} voices × {args.takes}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
