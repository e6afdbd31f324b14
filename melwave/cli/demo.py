"""`melwave demo`: the built-in end-to-end run — resynthesize the example clip through every
available vocoder and generate a grid of sounds from the shipped generator, writing wavs and mel
images to a fresh folder."""

from __future__ import annotations

import argparse
import importlib.resources
import json
import logging
import shutil
import time
from pathlib import Path

from melwave.errors import MelwaveError

log = logging.getLogger("melwave")


def example_clip() -> Path:
    """The built-in example (CC0; see melwave/assets/README.md)."""
    return Path(str(importlib.resources.files("melwave") / "assets" / "example.wav"))


def fresh_folder(requested: Path | None, *, overwrite: bool) -> Path:
    """The requested folder, or `melwave-demo`, `melwave-demo-2`, ... — never clobbering a past run."""
    if requested is not None:
        if requested.exists() and any(requested.iterdir()) and not overwrite:
            raise MelwaveError(f"{requested}: folder exists and is not empty (pass --overwrite to write into it)")
        return requested
    base = Path("melwave-demo")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate


def resynthesize_all(out: Path, *, device: str, overwrite: bool) -> list[dict]:
    # Imported here, not at the top: `melwave --help` builds every command's parser.
    import torch

    from melwave.audio.io import load_audio, save_audio
    from melwave.audio.plot import save_mel_image
    from melwave.models.io.load import load_vocoder
    from melwave.models.io.registry import available_vocoders

    clip = example_clip()
    rows = []
    reference = None
    for name in available_vocoders():
        start = time.perf_counter()
        try:
            vocoder = load_vocoder(name, device=device)
        except MelwaveError as err:
            log.warning("demo: skipping %s: %s", name, err)
            continue
        audio = load_audio(clip, vocoder.sample_rate)
        wave = torch.from_numpy(audio.wave)
        mel = vocoder.prepare_melspectrogram(wave)
        if reference is None or reference[0] != vocoder.mel_config:
            save_mel_image(out / f"original-mel-{vocoder.mel_config.fingerprint()}.png", mel, vocoder.mel_config,
                           title=f"original ({vocoder.mel_config.sample_rate} Hz, {vocoder.mel_config.n_mels} mels)", overwrite=overwrite)
            reference = (vocoder.mel_config, mel)
        load_seconds = time.perf_counter() - start
        start = time.perf_counter()
        out_wave = vocoder.synthesize(mel).cpu()
        seconds = time.perf_counter() - start
        save_audio(out / f"{name}.wav", out_wave.numpy(), vocoder.sample_rate, overwrite=overwrite)
        out_mel = vocoder.prepare_melspectrogram(out_wave)
        frames = min(out_mel.shape[-1], mel.shape[-1])
        mel_l1 = float((out_mel[:, :frames] - mel[:, :frames]).abs().mean())
        save_mel_image(out / f"{name}-mel.png", out_mel, vocoder.mel_config, title=f"{name} (mel-L1 {mel_l1:.3f})", overwrite=overwrite)
        row = {"vocoder": name, "audio_seconds": round(audio.duration, 2), "synthesis_seconds": round(seconds, 3),
               "real_time_factor": round(audio.duration / seconds, 1), "load_seconds": round(load_seconds, 2),
               "mel_l1_vs_original": round(mel_l1, 4)}
        rows.append(row)
        log.info("demo: %-18s %5.1fx real time, mel-L1 %.3f -> %s", name, row["real_time_factor"], mel_l1, out / f"{name}.wav")
    return rows


def run_demo(out: Path | None = None, *, device: str = "cpu", overwrite: bool = False) -> Path:
    from melwave.utils.optional import require

    # The demo's mel pictures need the plot extra: say so before any folder is made.
    require("matplotlib", "the mel images of `melwave demo`")
    out = fresh_folder(out, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "original.wav"
    if overwrite or not target.exists():
        shutil.copyfile(example_clip(), target)
    log.info("demo: writing to %s", out.resolve())
    summary: dict = {"resynthesis": resynthesize_all(out, device=device, overwrite=overwrite)}
    try:
        from melwave.inference.generate import demo_grid
    except ImportError:
        demo_grid = None
    if demo_grid is not None:
        generated = demo_grid(out / "generated", overwrite=overwrite)
        summary["generated"] = [str(p.relative_to(out)) for p in generated]
        sounds = [p for p in generated if p.suffix == ".wav"]
        log.info("demo: generated %d sounds (wav + mel file + PNG each) under %s", len(sounds), out / "generated")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"melwave demo: wrote {out.resolve()}")
    for row in summary["resynthesis"]:
        print(f"  {row['vocoder']:18s} {row['real_time_factor']:6.1f}x real time   mel-L1 {row['mel_l1_vs_original']:.3f}")
    return out


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="resynthesize the built-in clip with every vocoder and generate sounds")
    parser.add_argument("-o", "--output", type=Path, default=None, help="folder (default: a new melwave-demo[-N])")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing non-empty folder")

    def run(args: argparse.Namespace) -> int:
        run_demo(args.output, device=args.device, overwrite=args.overwrite)
        return 0

    parser.set_defaults(func=run)
