"""`melwave analyze | synthesize | resynth | run | vocoders`: analysis and synthesis over batches.

This module parses the options, loads the model into the jobs (`build_jobs`) and says what
happened; what a batch holds and which mode `run` runs is planned in `melwave.inference.batch_plan`,
the pairs run through `melwave.inference.runner`, and the lines it prints are `melwave.cli.batch`'s.

At corpus scale (docs/scale.md): `--shard K/N|auto` runs one shard of the batch
(`melwave.inference.sharding`; under torchrun the ranks split it without being asked), `--jobs N`
runs it in N worker processes (`melwave.cli.workers`), `--manifest FILE` records one JSON line per
input (`melwave.inference.manifest`), `--batch-size B` vocodes B files at a time
(`melwave.inference.batch_jobs`, equal to one by one within float rounding).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from melwave.audio.config import PRESETS
from melwave.cli.options import explicit_mel_config, mel_options, trust_file_option
from melwave.errors import MelwaveError
from melwave.models.io.load import BACKENDS
from melwave.models.io.registry import available_vocoders

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


def device_for(device: str, slot: int) -> str:
    """`device` for the `slot`-th process on this machine: plain "cuda" (from auto) becomes one GPU
    per process, round robin, so torchrun ranks and --jobs workers do not all share GPU 0."""
    if device != "cuda":
        return device
    import torch

    return f"cuda:{slot % max(1, torch.cuda.device_count())}"


def local_slot() -> int:
    """This process's index among the copies a launcher started on this machine (0 if none)."""
    for name in ("LOCAL_RANK", "SLURM_LOCALID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


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
    parser.add_argument("--no-progress", action="store_true", help="no progress bars, nor the progress lines of a long file off a terminal")
    trust_file_option(parser)
    scale_options(parser)


def scale_options(parser: argparse.ArgumentParser, *, jobs: bool = True) -> None:
    """--shard and --manifest (and --jobs): see docs/scale.md."""
    parser.add_argument("--shard", metavar="K/N|auto",
                        help="run only shard K of N (1 <= K <= N) of the inputs, split by a hash of each input's path "
                        "relative to its root; auto: from torchrun (RANK/WORLD_SIZE) or Slurm (SLURM_ARRAY_TASK_*, "
                        "SLURM_PROCID) variables. Under torchrun the ranks split the batch without it")
    parser.add_argument("--manifest", type=Path, metavar="FILE.jsonl",
                        help="append one JSON line per input (status, seconds); a shard writes FILE.shard-K-of-N.jsonl. "
                        "Merge with `melwave evaluate merge`")
    if jobs:
        parser.add_argument("--jobs", default="1", metavar="N",
                            help="run in N worker processes on this machine, each with 1/N of the torch threads (default 1)")


def _batch_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", default="1", metavar="B",
                        help="vocode B files at a time, bucketed by length (same output as one by one; vocoders that "
                        "cannot batch exactly, e.g. griffinlim, run one by one with a note; default 1)")


def count_option(args: argparse.Namespace, name: str) -> int:
    """A whole-number option >= 1 (--jobs, --batch-size), or a one-line ConfigError naming it."""
    from melwave.errors import ConfigError

    text = str(getattr(args, name.lstrip("-").replace("-", "_"), None) or "1")
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigError(f"{name} {text}: expected a whole number >= 1")
    return int(text)


def _resample_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resample-mel", action="store_true",
                        help="convert mels made under another mel config to the vocoder's (lossy) instead of refusing them")


def _chunk_option(parser: argparse.ArgumentParser) -> None:
    # default None = melwave.inference.pipeline.DEFAULT_CHUNK_SECONDS, resolved in `build_jobs` (the pipeline imports torch).
    parser.add_argument("--chunk-seconds", type=float, default=None,
                        help="vocode long inputs in overlapping chunks of this length (default 5; 0 = whole file)")


def _plan(args: argparse.Namespace, mode: str, shard):
    """The plan of the whole batch (`melwave.inference.batch_plan`), made by every shard alike (so
    a clash between inputs of different shards is still refused), with this shard's problems and
    refusals printed now, before anything is written."""
    from melwave.cli.batch import show_plan, show_problems
    from melwave.inference.batch_plan import find_inputs

    found = find_inputs(args.input, mode, chosen=getattr(args, "mode", None) if mode == "run" else None,
                        mel_format=getattr(args, "format", "pt"))
    show_problems(found, shard)
    plan = found.plan(args.output)
    show_plan(plan, shard)
    return plan


def build_jobs(args: argparse.Namespace, mode: str, device: str):
    """The Jobs that run `mode` (analyze, synthesize or resynth) for these options; loads the model.
    Called in each --jobs worker too, so it depends on nothing but its arguments."""
    from melwave.inference.runner import Jobs
    from melwave.models.io.load import load_vocoder
    from melwave.inference.pipeline import DEFAULT_CHUNK_SECONDS, VocoderFor, analyze_file, resynth_file, synthesize_file

    chunk = getattr(args, "chunk_seconds", None)
    chunk = DEFAULT_CHUNK_SECONDS if chunk is None else (chunk or None)
    # A mel config the user gave (--mel-preset/--mel-config) is passed to load_vocoder as explicit:
    # a trained vocoder made for another one is an error naming the fields, never silently used
    # instead. Without one, the vocoder's own config is used (None is not a config).
    explicit = explicit_mel_config(args)
    if mode == "analyze":
        cfg = explicit or PRESETS["hifigan-22k"]
        if getattr(args, "model", None):
            cfg = load_vocoder(args.model, mel_config=explicit, trust_file=args.trust_file).mel_config
        return Jobs(functools.partial(analyze_file, cfg=cfg, device=device, overwrite=args.overwrite))
    from melwave.inference.batch_jobs import batched_jobs
    from melwave.inference.pipeline import OutputRate, prepare_resynthesis, prepare_synthesis

    output_rate = OutputRate.parse(getattr(args, "output_rate", None))
    progress = False if getattr(args, "no_progress", False) else None   # a long file's own bar or log lines
    if mode == "synthesize":
        # With --resample-mel the given config describes the input mels, which are converted to
        # the vocoder's own: then it is not a request for the vocoder.
        resample = getattr(args, "resample_mel", False)
        vocoder = load_vocoder(args.model or DEFAULT_MODEL, device=device, mel_config=None if resample else explicit,
                               trust_file=args.trust_file, backend=args.backend)
        npy_config = explicit or vocoder.mel_config
        job = functools.partial(synthesize_file, vocoders=VocoderFor(vocoder), npy_config=npy_config,
                                chunk_seconds=chunk, overwrite=args.overwrite, trust_file=args.trust_file,
                                resample_mel=resample, output_rate=output_rate, progress=progress)
        prepare = functools.partial(_prepare_synthesis, prepare=prepare_synthesis, vocoders=VocoderFor(vocoder),
                                    npy_config=npy_config, trust_file=args.trust_file, resample_mel=resample)
    else:
        vocoder = load_vocoder(args.model or DEFAULT_MODEL, device=device, mel_config=explicit, trust_file=args.trust_file,
                               backend=args.backend)
        job = functools.partial(resynth_file, vocoder=vocoder, device=device, chunk_seconds=chunk, overwrite=args.overwrite,
                                output_rate=output_rate, progress=progress)
        prepare = functools.partial(prepare_resynthesis, vocoder=vocoder, device=device)
    return batched_jobs(job, vocoder, prepare, batch_size=count_option(args, "--batch-size"), chunk_seconds=chunk,
                        overwrite=args.overwrite, output_rate=output_rate, progress=progress)


def _prepare_synthesis(source: Path, target: Path, *, prepare, **options):
    return prepare(source, **options)  # synthesis needs no output to prepare: the same signature as resynthesis


def _run(args: argparse.Namespace, mode: str) -> int:
    from melwave.cli.batch import echo, finish
    from melwave.inference.pipeline import OutputRate
    from melwave.inference.runner import BatchReport, run_batch
    from melwave.inference.sharding import resolve_shard

    shard, shard_notes = resolve_shard(getattr(args, "shard", None))
    jobs = count_option(args, "--jobs")
    count_option(args, "--batch-size")  # a bad value is an error now, not after planning
    device = resolve_device(args.device)
    for note in shard_notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    OutputRate.parse(getattr(args, "output_rate", None))  # a bad value is an error now, not per file
    plan = _plan(args, mode, shard)
    mode, note = plan.which_mode()
    if note is not None:
        print(f"melwave: note: {note}", file=sys.stderr)
    mine = [u for u in plan.units if shard.owns(u.key)]
    record = _manifest(args, mode, shard, jobs, plan.units, mine)
    try:
        report = BatchReport()
        pairs = [u.pair for u in mine if u.pair is not None]
        if pairs:  # else every input of this shard was refused (or there are none): load no model, only report
            options = dict(skip_existing=args.skip_existing, overwrite=args.overwrite, desc=mode,
                           progress=False if args.no_progress else None, on_result=record)
            slot = local_slot()
            if jobs > 1:
                from melwave.cli.workers import run_parallel

                keys = [u.key for u in mine if u.pair is not None]
                report = run_parallel(pairs, keys, shard=shard, jobs=jobs, build=functools.partial(build_jobs, args, mode),
                                      device_for=functools.partial(_worker_device, device, slot, jobs), **options)
            else:
                built = build_jobs(args, mode, device_for(device, slot))
                for note in built.notes:
                    print(f"melwave: note: {note}", file=sys.stderr)
                report = run_batch(pairs, built.job, group_job=built.group_job, group_size=built.group_size, echo=echo,
                                   **options)
        report.add_unrunnable(mine)
    finally:
        if record is not None:
            record.close()
    return finish(report, shard)


def _worker_device(device: str, slot: int, jobs: int, worker: int) -> str:
    return device_for(device, slot * jobs + worker)


def _manifest(args, command: str, shard, jobs: int, units, mine):
    """The --manifest recorder for this run (None without --manifest): its run record and the
    records of this shard's inputs that cannot run are written now."""
    if getattr(args, "manifest", None) is None:
        return None
    from melwave.inference.manifest import ManifestRecorder

    recorder = ManifestRecorder(args.manifest, shard, mine)
    print(f"melwave: manifest {recorder.path}", file=sys.stderr)
    recorder.start(command=command, jobs=jobs, all_ids=[u.id for u in units])
    return recorder


def _list_vocoders(args: argparse.Namespace) -> int:
    for name, description in sorted(available_vocoders().items()):
        print(f"{name:20s} {description}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser("analyze", help="audio -> mel files (.pt with config, or bare .npy)")
    _common(analyze, model=False)
    analyze.add_argument("-m", "--model", default=None, help="take the mel settings from this vocoder (default: hifigan-22k preset)")
    mel_options(analyze)
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
        mel_options(parser)
        _chunk_option(parser)
        parser.add_argument("--output-rate", metavar="model|input|HZ", default="model",
                            help="sample rate of the written audio: the vocoder's (model, default), the input file's "
                                 "(input; resynthesis only) or a number of Hz; resampled with soxr")
        if mode != "run":
            _batch_size_option(parser)
        else:
            parser.add_argument("--mode", choices=("analyze", "synthesize", "resynth"),
                                help="what to do, instead of telling it from the extensions (needed when -o is one "
                                     "folder: audio into a folder is resynthesized unless --mode analyze)")
            # Only vocoding needs a model: an analysis takes its mel settings from --mel-preset/
            # --mel-config, or from -m when it is given.
            parser.set_defaults(model=None)
        if reads_mels:
            _resample_option(parser)
        parser.set_defaults(func=functools.partial(_run, mode=mode))

    listing = commands.add_parser("vocoders", help="list the named vocoders")
    listing.set_defaults(func=_list_vocoders)
