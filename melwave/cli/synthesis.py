"""`melwave analyze | synthesize | resynth | run | vocoders`: analysis and synthesis over batches.

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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
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


def _finish(report, shard=None) -> int:
    """Print the summary (prefixed with the shard when this is one) and return the exit code."""
    prefix = "" if shard is None or shard.whole else f"shard {shard.label}: "
    print(f"melwave: {prefix}{report.summary()}", file=sys.stderr)
    return 0 if report.ok else 1


def _units(args: argparse.Namespace, extensions: tuple[str, ...], default_suffix: str, shard):
    """Every unit of the whole batch (`melwave.cli.batch.batch_units`), planned by every shard
    alike (so a clash between inputs of different shards is still refused), with this shard's
    problems and refusals printed now, before anything is written."""
    from melwave.cli.batch import batch_units, expand_inputs, plan_batch

    items, problems = expand_inputs(args.input, extensions)
    for spec, reason in problems:
        if shard.owns(spec):
            print(f"melwave: FAILED {spec}: {reason}", file=sys.stderr)
    if not items:
        raise MelwaveError("no input files to process")
    plan = plan_batch(items, args.output, default_suffix)
    for note in plan.notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    units = batch_units(items, problems, plan)
    for unit in units:
        if unit.status == "refused" and shard.owns(unit.key):
            print(f"melwave: FAILED {unit.source}: {unit.reason}", file=sys.stderr)
    return units


# A group of this many times --batch-size files is read, sorted by length and vocoded B at a time:
# sorting a larger group wastes less on padding, and the group's mels are held in memory.
GROUP_BATCHES = 8


def build_jobs(args: argparse.Namespace, mode: str, device: str):
    """The Jobs that run `mode` (analyze, synthesize or resynth) for these options; loads the model.
    Called in each --jobs worker too, so it depends on nothing but its arguments."""
    from melwave.cli.batch import Jobs
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
    from melwave.inference.pipeline import OutputRate, prepare_resynthesis, prepare_synthesis

    output_rate = OutputRate.parse(getattr(args, "output_rate", None))
    if mode == "synthesize":
        # With --resample-mel the given config describes the input mels, which are converted to
        # the vocoder's own: then it is not a request for the vocoder.
        resample = getattr(args, "resample_mel", False)
        vocoder = load_vocoder(args.model or DEFAULT_MODEL, device=device, mel_config=None if resample else explicit,
                               trust_file=args.trust_file, backend=args.backend)
        npy_config = explicit or vocoder.mel_config
        job = functools.partial(synthesize_file, vocoders=VocoderFor(vocoder), npy_config=npy_config,
                                chunk_seconds=chunk, overwrite=args.overwrite, trust_file=args.trust_file,
                                resample_mel=resample, output_rate=output_rate)
        prepare = functools.partial(_prepare_synthesis, prepare=prepare_synthesis, vocoders=VocoderFor(vocoder),
                                    npy_config=npy_config, trust_file=args.trust_file, resample_mel=resample)
    else:
        vocoder = load_vocoder(args.model or DEFAULT_MODEL, device=device, mel_config=explicit, trust_file=args.trust_file,
                               backend=args.backend)
        job = functools.partial(resynth_file, vocoder=vocoder, device=device, chunk_seconds=chunk, overwrite=args.overwrite,
                                output_rate=output_rate)
        prepare = functools.partial(prepare_resynthesis, vocoder=vocoder, device=device)
    return _batched(job, vocoder, prepare, count_option(args, "--batch-size"), chunk, args.overwrite, output_rate)


def _prepare_synthesis(source: Path, target: Path, *, prepare, **options):
    return prepare(source, **options)  # synthesis needs no output to prepare: the same signature as resynthesis


def _batched(job, vocoder, prepare, batch_size: int, chunk, overwrite: bool, output_rate):
    """Jobs with cross-file batching when asked for and exact for this vocoder, else one by one with a note."""
    from melwave.cli.batch import Jobs

    if batch_size == 1:
        return Jobs(job)
    from melwave.inference.batch_jobs import BatchedVocoding
    from melwave.inference.batching import batch_refusal

    reason = batch_refusal(vocoder)
    if reason is not None:
        return Jobs(job, notes=(f"--batch-size {batch_size}: vocoder '{vocoder.name}' cannot batch exactly ({reason}); "
                                f"vocoding one file at a time",))
    group = BatchedVocoding(vocoder, prepare, batch_size=batch_size, chunk_seconds=chunk, overwrite=overwrite,
                            output_rate=output_rate)
    return Jobs(job, group, batch_size * GROUP_BATCHES)


def _run(args: argparse.Namespace, mode: str) -> int:
    from melwave.audio.io import AUDIO_EXTENSIONS
    from melwave.audio.melfile import MEL_EXTENSIONS
    from melwave.cli.batch import BatchReport, run_batch
    from melwave.inference.pipeline import OutputRate, mode_for
    from melwave.inference.sharding import resolve_shard

    shard, shard_notes = resolve_shard(getattr(args, "shard", None))
    jobs = count_option(args, "--jobs")
    count_option(args, "--batch-size")  # a bad value is an error now, not after planning
    device = resolve_device(args.device)
    for note in shard_notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    extensions, suffix = {
        "analyze": (AUDIO_EXTENSIONS, ".npy" if getattr(args, "format", "pt") == "npy" else ".pt"),
        "synthesize": (MEL_EXTENSIONS, ".wav"),
        "resynth": (AUDIO_EXTENSIONS, ".wav"),
        "run": (AUDIO_EXTENSIONS + MEL_EXTENSIONS, ".wav"),
    }[mode]
    OutputRate.parse(getattr(args, "output_rate", None))  # a bad value is an error now, not per file
    chosen = getattr(args, "mode", None) if mode == "run" else None
    if chosen == "analyze":
        suffix = ".pt"
    units = _units(args, extensions, suffix, shard)
    runnable = [u.pair for u in units if u.pair is not None]
    if mode == "run" and runnable:  # from the whole batch: every shard runs the same mode
        mode = chosen or mode_for([p for p, _ in runnable], [o for _, o in runnable])
        if chosen is None and len(args.output) == 1 and not Path(args.output[0]).suffix:
            print(f"melwave: note: -o {args.output[0]} is a folder: running {mode} (from the inputs' extensions; "
                  f"--mode analyze|synthesize|resynth chooses)", file=sys.stderr)
    mine = [u for u in units if shard.owns(u.key)]
    record = _manifest(args, mode, shard, jobs, units, mine)
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
                report = run_batch(pairs, built.job, group_job=built.group_job, group_size=built.group_size, **options)
        # Counted after the batch's own failures, input problems before refusals, as they always were.
        for unit in sorted((u for u in mine if u.pair is None), key=lambda u: u.status == "refused"):
            report.failed.append((unit.source, unit.reason))
    finally:
        if record is not None:
            record.close()
    return _finish(report, shard)


def _worker_device(device: str, slot: int, jobs: int, worker: int) -> str:
    return device_for(device, slot * jobs + worker)


def _manifest(args, command: str, shard, jobs: int, units, mine):
    """The --manifest recorder for this run (None without --manifest): its run record and the
    records of this shard's inputs that cannot run are written now."""
    if getattr(args, "manifest", None) is None:
        return None
    from melwave.inference.manifest import ManifestWriter, manifest_path, run_record

    writer = ManifestWriter(manifest_path(args.manifest, shard))
    print(f"melwave: manifest {writer.path}", file=sys.stderr)
    writer.write(run_record(command=command, shard=shard, jobs=jobs, all_ids=[u.id for u in units],
                            planned=[u.id for u in mine]))
    recorder = ManifestRecorder(writer, shard, mine)
    for unit in mine:
        if unit.pair is None:
            recorder.unit(unit)
    return recorder


class ManifestRecorder:
    """`on_result` for run_batch: each FileResult as a file record under its unit's id."""

    def __init__(self, writer, shard, units):
        self.writer, self.shard = writer, shard
        self.ids = {u.pair: u.id for u in units if u.pair is not None}

    def unit(self, unit) -> None:
        from melwave.inference.manifest import file_record

        self.writer.write(file_record(id=unit.id, input=unit.source, output=None, status=unit.status, audio_seconds=None,
                                      seconds=0.0, error=unit.reason, shard=self.shard))

    def __call__(self, result) -> None:
        from melwave.inference.manifest import file_record

        self.writer.write(file_record(id=self.ids[(result.source, result.target)], input=result.source, output=result.target,
                                      status=result.status, audio_seconds=result.audio_seconds, seconds=result.seconds,
                                      error=result.error, notes=result.notes, shard=self.shard))

    def close(self) -> None:
        self.writer.close()


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
