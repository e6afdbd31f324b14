"""An independent judge of a conditional generator: nearest neighbours among the REAL clips' mels.

    python scripts/judge_nearest.py --real /tmp/speech --fake out/              # every condition
    python scripts/judge_nearest.py --real /tmp/speech --fake out/ --json score.json

Each generated clip gets the labels of its k nearest real clips (majority vote, k = 5): a clip that
sounds like the word it was asked for lands among that word's recordings. The judge was never
trained on generated audio and knows nothing of the generator, so it cannot be gamed by the
training loss; what it rewards is being close to real examples of the asked-for condition (a copy
of a training clip scores perfectly: it checks conditioning, not originality).

Features: hifigan-22k log-mels (80 bins) of the first `frames` frames (the generated clips' length;
real clips are cropped or padded with silence to it), floored at FLOOR (-8 ln ≈ -70 dB under full
scale: below it, noise floors differ between real and generated clips and are not the sound),
averaged over pairs of frames (a few frames of onset jitter cost little). Distance: Euclidean.

Generated clips are read from the folder `melwave generate` writes: the mel files (NAME.pt, the
generator's own output, before any vocoder) if present, else the audio, and OUT/labels.csv. The
real side is any labelled folder (name=value folders or labels.csv). The judge's own accuracy on
real clips (leave-one-out) is printed too: the ceiling a perfect generator could reach.
Also reported: the share of generated clips whose mel exceeds the real clips' maximum (by more than
0.5 ln ≈ 4 dB) and of generated audio that reaches full scale (clipped).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from melwave.audio.config import PRESETS
from melwave.audio.features import MelExtractor
from melwave.audio.io import AUDIO_EXTENSIONS, load_audio
from melwave.audio.melfile import load_mel
from melwave.data.labelled import read_labels_csv, scan_labelled
from melwave.models.mel_crop import fixed_crop, silence_value

CONFIG = PRESETS["hifigan-22k"]
FLOOR = -8.0
K = 5


def clip_mel(path: Path, extractor: MelExtractor) -> torch.Tensor:
    """(80, T) hifigan-22k log-mel of an audio or mel file."""
    if path.suffix == ".pt":
        mel = load_mel(path)
        if mel.config != CONFIG:
            raise SystemExit(f"{path}: mel config is not hifigan-22k; judge its audio instead (delete the .pt files)")
        return mel.mel.float()
    with torch.no_grad():
        return extractor(torch.from_numpy(load_audio(path, CONFIG.sample_rate).wave))


def features(mels: list[torch.Tensor], frames: int) -> torch.Tensor:
    """(N, 80 · frames/2) judge features of (80, T_i) mels."""
    fill = silence_value(CONFIG)
    stacked = torch.stack([fixed_crop(m, frames, 0, fill) for m in mels]).clamp(min=FLOOR)
    pooled = torch.nn.functional.avg_pool1d(stacked, 2, ceil_mode=True)
    return pooled.flatten(1)


def vote(neighbours: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, k) neighbour indices, (M,) integer labels of the real clips -> (N,) majority labels
    (ties go to the nearer neighbour's label)."""
    picked = labels[neighbours]
    out = np.empty(len(picked), dtype=labels.dtype)
    for i, row in enumerate(picked):
        values, counts = np.unique(row, return_counts=True)
        best = values[counts == counts.max()]
        out[i] = next(v for v in row if v in best)
    return out


def nearest(queries: torch.Tensor, reference: torch.Tensor, k: int, exclude_self: bool = False) -> np.ndarray:
    distances = torch.cdist(queries, reference)
    if exclude_self:
        distances.fill_diagonal_(float("inf"))
    return distances.topk(k, largest=False).indices.numpy()


def judge(real_dir: Path, fake_dir: Path, k: int = K) -> dict:
    extractor = MelExtractor(CONFIG)
    items, vocabulary = scan_labelled(real_dir)
    real_mels = [clip_mel(item.path, extractor) for item in items]
    real_max = float(torch.stack([m.max() for m in real_mels]).max())
    fake_items, _ = read_labels_csv(fake_dir / "labels.csv")
    fake_mels, clipped = [], 0
    for item in fake_items:
        mel_file = item.path.with_suffix(".pt")
        fake_mels.append(clip_mel(mel_file if mel_file.exists() else item.path, extractor))
        audio = item.path.with_suffix(".wav")
        if audio.exists():
            clipped += int(np.abs(load_audio(audio).wave).max() >= 32767 / 32768)
    frames = int(np.median([m.shape[1] for m in fake_mels]))
    real_x, fake_x = features(real_mels, frames), features(fake_mels, frames)
    fake_neighbours = nearest(fake_x, real_x, k)
    real_neighbours = nearest(real_x, real_x, k, exclude_self=True)
    result = {"clips": len(fake_mels), "frames": frames, "k": k, "accuracy": {}, "real_leave_one_out": {},
              "chance": {}, "above_data_max": float(np.mean([float(m.max()) > real_max + 0.5 for m in fake_mels])),
              "data_max": real_max, "generated_max": float(max(float(m.max()) for m in fake_mels)),
              "clipped_audio": clipped / len(fake_mels)}
    for condition in vocabulary.conditions:
        real_labels = np.array([condition.values.index(item.labels[condition.name]) for item in items])
        asked = np.array([condition.values.index(item.labels[condition.name]) for item in fake_items])
        result["accuracy"][condition.name] = float(np.mean(vote(fake_neighbours, real_labels) == asked))
        result["real_leave_one_out"][condition.name] = float(np.mean(vote(real_neighbours, real_labels) == real_labels))
        result["chance"][condition.name] = 1 / len(condition.values)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Nearest-neighbour judge of generated clips against real ones.")
    parser.add_argument("--real", type=Path, required=True, help="labelled folder of real clips (the training data)")
    parser.add_argument("--fake", type=Path, required=True, help="folder written by `melwave generate` (with labels.csv)")
    parser.add_argument("-k", type=int, default=K, help=f"neighbours that vote (default {K})")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = judge(args.real, args.fake, args.k)
    for name, accuracy in result["accuracy"].items():
        print(f"{name}: {accuracy:.1%} of {result['clips']} generated clips judged right (chance "
              f"{result['chance'][name]:.1%}; real clips, leave-one-out: {result['real_leave_one_out'][name]:.1%})")
    print(f"mel above the data's max: {result['above_data_max']:.1%} (generated max {result['generated_max']:.2f}, "
          f"data max {result['data_max']:.2f}); audio at full scale: {result['clipped_audio']:.1%}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
