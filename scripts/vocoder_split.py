"""Split the recorded speech and music the vocoders train on (docs/vocoders.md says where it comes
from: DEST/speech/{cs,nl}, DEST/music) into a vocoder training set and a
held-out evaluation set, reproducibly (melwave-22k's model card says which files).

    .venv/bin/python scripts/vocoder_split.py data/audio data/vocoder [--speech-minutes 15] [--music-excerpts 24]

DEST/heldout/speech: 24 whole speech lines (12 Czech, 12 Dutch; seeded among files > 40 kB),
DEST/heldout/music:  three 10 s excerpts of each held-out track (track10/14/24, as vocos-22k),
DEST/train/speech:   a seeded choice of the other speech lines, about --speech-minutes long,
DEST/train/music:    --music-excerpts 15 s excerpts of the other tracks (spread over each track).
Everything is written as 22.05 kHz mono 16-bit wav. Training subsets are small on purpose: a
distillation teacher (HiFi-GAN V1) costs ~1 s of one CPU core per audio second; the targets
are cached, so a later session can grow the set without recomputing what it has.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from melwave.audio.io import load_audio  # noqa: E402

RATE = 22050
HELDOUT_TRACKS = ("track10", "track14", "track24")


def write(path: Path, wave: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise SystemExit(f"{path}: exists; refusing to overwrite (remove DEST to rebuild)")
    sf.write(path, np.clip(wave, -1, 1), RATE, subtype="PCM_16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--speech-minutes", type=float, default=15.0)
    parser.add_argument("--music-excerpts", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    speech_held, speech_pool = [], []
    for lang in ("cs", "nl"):
        files = sorted((args.src / "speech" / lang).glob("*.ogg"))
        big = [f for f in files if f.stat().st_size > 40_000]
        held = set(rng.choice(len(big), 12, replace=False).tolist())
        speech_held += [big[i] for i in sorted(held)]
        speech_pool += [f for f in files if f not in {big[i] for i in held}]
    for f in speech_held:
        write(args.dest / "heldout/speech" / f"{f.parent.name}-{f.stem}.wav", load_audio(f, RATE).wave)
    budget, used = args.speech_minutes * 60 * RATE, 0
    for i in rng.permutation(len(speech_pool)):
        if used >= budget:
            break
        f = speech_pool[i]
        try:
            wave = load_audio(f, RATE).wave
        except Exception as err:  # an undecodable file is skipped, and said so
            print(f"skipping {f}: {err}")
            continue
        if len(wave) < RATE // 2:
            continue
        write(args.dest / "train/speech" / f"{f.parent.name}-{f.stem}.wav", wave)
        used += len(wave)
    music = sorted(p for p in (args.src / "music").iterdir() if p.suffix in (".opus", ".ogg"))
    train_tracks = [p for p in music if p.stem not in HELDOUT_TRACKS]
    for p in music:
        if p.stem in HELDOUT_TRACKS:
            wave = load_audio(p, RATE).wave
            for k, start in enumerate(np.linspace(0.2, 0.7, 3) * len(wave)):
                write(args.dest / "heldout/music" / f"{p.stem}-{k}.wav", wave[int(start): int(start) + 10 * RATE])
    picks = rng.choice(len(train_tracks), args.music_excerpts, replace=args.music_excerpts > len(train_tracks))
    for k, i in enumerate(picks):
        wave = load_audio(train_tracks[i], RATE).wave
        start = int(rng.uniform(0.05, 0.9) * max(0, len(wave) - 15 * RATE))
        write(args.dest / "train/music" / f"{train_tracks[i].stem}-{k:02d}.wav", wave[start: start + 15 * RATE])
    print(f"{args.dest}: held out {len(speech_held)} speech lines + {3 * len(HELDOUT_TRACKS)} music excerpts; "
          f"train {used / RATE / 60:.1f} min speech + {args.music_excerpts} × 15 s music")


if __name__ == "__main__":
    main()
