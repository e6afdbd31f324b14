"""`melwave analyze | synthesize | resynth | run | vocoders`: analysis and synthesis over batches."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from melwave.audio.config import PRESETS, MelConfig, get_preset
from melwave.errors import MelwaveError
from melwave.models.registry import BACKENDS, available_vocoders

# torch, the models and the pipeline are imported inside the commands: `melwave --help` builds this
# parser and must not pay for them.

DEFAULT_MODEL = "hifigan-universal"


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MelwaveError(f"--device {name}: CUDA is not available on this machine")
    return name


def _common(parser: argparse.ArgumentParser, *, model: bool = True) -> None:
    parser.add_argument("-i", "--input", nargs="+", required=True, metavar="IN",
                        help="files, folders (recursive), globs ('**' recursive; quote them) or .txt lists")
    parser.add_argument("-o", "--output", nargs="+", required=True, metavar="OUT",
                        help="one output per input, or one folder that mirrors the input tree")
    if model:
        parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                            help=f"vocoder name ({', '.join(sorted(available_vocoders()))}) or model path (default {DEFAULT_MODEL})")
        parser.add_argument("--backend", choices=BACKENDS, default="torch",
                            help="run the vocoder in torch (default) or ONNX Runtime (exported in memory; a .onnx -m always runs there)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    parser.add_argument("--skip-existing", action="store_true", help="leave outputs that exist (resume a batch)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--trust-file", action="store_true",
                        help="allow legacy mel/checkpoint files that need full unpickling (this can run code from the file)")


def _mel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mel-preset", choices=sorted(PRESETS), help="mel settings by preset name")
    parser.add_argument("--mel-config", type=Path, help="mel settings from a YAML file of MelConfig fields")


def _resample_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resample-mel", action="store_true",
                        help="convert mels made under another mel config to the vocoder's (lossy) instead of refusing them")


def _chunk_option(parser: argparse.ArgumentParser) -> None:
    # default None = melwave.inference.pipeline.DEFAULT_CHUNK_SECONDS, resolved in `_run` (the pipeline imports torch).
    parser.add_argument("--chunk-seconds", type=float, default=None,
                        help="vocode long inputs in overlapping chunks of this length (default 5; 0 = whole file)")


def _explicit_mel_config(args: argparse.Namespace) -> MelConfig | None:
    if getattr(args, "mel_preset", None) and getattr(args, "mel_config", None):
        raise MelwaveError("give --mel-preset or --mel-config, not both")
    if getattr(args, "mel_preset", None):
        return get_preset(args.mel_preset)
    if getattr(args, "mel_config", None):
        return MelConfig.load(args.mel_config)
    return None


def _finish(report) -> int:
    print(f"melwave: {report.summary()}", file=sys.stderr)
    return 0 if report.ok else 1


def _pairs(args: argparse.Namespace, extensions: tuple[str, ...], default_suffix: str):
    """(pairs to run, problems): the planned batch, with every input that cannot run (a spec that
    names nothing, a bad list line, a refusal of the output planner) as a (name, reason) problem,
    printed now, before anything is written."""
    from melwave.cli.batch import expand_inputs, plan_batch

    items, problems = expand_inputs(args.input, extensions)
    for spec, reason in problems:
        print(f"melwave: FAILED {spec}: {reason}", file=sys.stderr)
    if not items:
        raise MelwaveError("no input files to process")
    plan = plan_batch(items, args.output, default_suffix)
    for note in plan.notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    for source, reason in plan.refused:
        print(f"melwave: FAILED {source}: {reason}", file=sys.stderr)
    return list(plan.pairs), problems + [(str(source), reason) for source, reason in plan.refused]


def _run(args: argparse.Namespace, mode: str) -> int:
    from melwave.audio.io import AUDIO_EXTENSIONS
    from melwave.audio.melfile import MEL_EXTENSIONS
    from melwave.cli.batch import BatchReport, run_batch
    from melwave.models.registry import load_vocoder
    from melwave.inference.pipeline import DEFAULT_CHUNK_SECONDS, VocoderFor, analyze_file, mode_for, resynth_file, synthesize_file

    device = resolve_device(args.device)
    if mode == "analyze":
        suffix = ".npy" if getattr(args, "format", "pt") == "npy" else ".pt"
        pairs, problems = _pairs(args, AUDIO_EXTENSIONS, suffix)
    elif mode == "synthesize":
        pairs, problems = _pairs(args, MEL_EXTENSIONS, ".wav")
    elif mode == "resynth":
        pairs, problems = _pairs(args, AUDIO_EXTENSIONS, ".wav")
    else:
        pairs, problems = _pairs(args, AUDIO_EXTENSIONS + MEL_EXTENSIONS, ".wav")
    if not pairs:  # every input was refused: load no model, only report
        return _finish(_report_of(problems, BatchReport()))
    if mode == "run":
        mode = mode_for([p for p, _ in pairs], [o for _, o in pairs])
    chunk = getattr(args, "chunk_seconds", None)
    chunk = DEFAULT_CHUNK_SECONDS if chunk is None else (chunk or None)
    # A mel config the user gave (--mel-preset/--mel-config) is passed to load_vocoder as explicit:
    # a trained vocoder made for another one is an error naming the fields, never silently used
    # instead. Without one, the vocoder's own config is used (None is not a config).
    explicit = _explicit_mel_config(args)
    if mode == "analyze":
        cfg = explicit or PRESETS["hifigan-22k"]
        if getattr(args, "model", None):
            cfg = load_vocoder(args.model, mel_config=explicit, trust_file=args.trust_file).mel_config
        job = functools.partial(analyze_file, cfg=cfg, device=device, overwrite=args.overwrite)
    elif mode == "synthesize":
        # With --resample-mel the given config describes the input mels, which are converted to
        # the vocoder's own: then it is not a request for the vocoder.
        resample = getattr(args, "resample_mel", False)
        vocoder = load_vocoder(args.model, device=device, mel_config=None if resample else explicit, trust_file=args.trust_file,
                               backend=args.backend)
        npy_config = explicit or vocoder.mel_config
        job = functools.partial(synthesize_file, vocoders=VocoderFor(vocoder), npy_config=npy_config,
                                chunk_seconds=chunk, overwrite=args.overwrite, trust_file=args.trust_file,
                                resample_mel=getattr(args, "resample_mel", False))
    else:
        vocoder = load_vocoder(args.model, device=device, mel_config=explicit, trust_file=args.trust_file, backend=args.backend)
        job = functools.partial(resynth_file, vocoder=vocoder, device=device, chunk_seconds=chunk, overwrite=args.overwrite)
    report = run_batch(pairs, job, skip_existing=args.skip_existing, overwrite=args.overwrite, desc=mode,
                       progress=False if args.no_progress else None)
    return _finish(_report_of(problems, report))


def _report_of(problems: list[tuple[str, str]], report):
    """`report` with the problems found before the batch ran counted as failures."""
    report.failed.extend((Path(spec), reason) for spec, reason in problems)
    return report


def _list_vocoders(args: argparse.Namespace) -> int:
    for name, description in sorted(available_vocoders().items()):
        print(f"{name:20s} {description}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser("analyze", help="audio -> mel files (.pt with config, or bare .npy)")
    _common(analyze, model=False)
    analyze.add_argument("-m", "--model", default=None, help="take the mel settings from this vocoder (default: hifigan-22k preset)")
    _mel_options(analyze)
    analyze.add_argument("--format", choices=("pt", "npy"), default="pt", help="file type when -o is a folder")
    analyze.set_defaults(func=functools.partial(_run, mode="analyze"))

    vocoding = (
        ("synthesize", "mel files -> audio through a vocoder", True),
        ("resynth", "audio -> mel -> audio through a vocoder", False),
        ("run", "GOMIN-style: the input/output extensions choose analyze, synthesize or resynth", True),
    )
    for mode, description, reads_mels in vocoding:
        parser = commands.add_parser(mode, help=description)
        _common(parser)
        _mel_options(parser)
        _chunk_option(parser)
        if reads_mels:
            _resample_option(parser)
        parser.set_defaults(func=functools.partial(_run, mode=mode))

    listing = commands.add_parser("vocoders", help="list the named vocoders")
    listing.set_defaults(func=_list_vocoders)
