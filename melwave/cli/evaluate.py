"""`melwave evaluate vocoder | generator`: one command answers "how good is it?".

vocoder:   resynthesize every clip of --data with every -m model, print the model × metric table,
           write summary.csv, clips.csv, results.json and the HTML report into --out.
           --shard K/N|auto scores one shard of the clips (into OUT/shard-K-of-N), --manifest
           records one JSON line per clip and model (docs/scale.md).
generator: FID (mel images, Inception-v3), FID on raw mels, KID, FAD[embedding] and FAD∞, NDB and
           NDB/K, per-class FID (mean ± sd), pYIN pitch accuracy, and with --classifier the
           per-condition accuracy, IS and mIS; --held-out MODEL / --combinations CSV measure only
           those combinations; same outputs.
merge:     per-shard manifests (of any batch command or of `evaluate vocoder`) into one summary:
           inputs recorded by two shards, inputs and shards no run recorded, failures; for
           `evaluate vocoder` also the model x metric table over every shard's clips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melwave.audio.config import PRESETS, get_preset
from melwave.errors import OutputExistsError


def _prepare_out(path: Path, overwrite: bool) -> Path:
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise OutputExistsError(f"{path}: output folder is not empty (pass --overwrite to replace the report in it)")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _device(name: str) -> str:
    from melwave.cli.synthesis import resolve_device

    return resolve_device(name)


def run_vocoder(args: argparse.Namespace) -> int:
    from melwave.inference.manifest import unit_ids
    from melwave.inference.sharding import resolve_shard
    from melwave.evaluation.report import HtmlReport
    from melwave.evaluation.vocoders import evaluate_vocoders, find_audio, write_tables

    shard, notes = resolve_shard(args.shard)
    for note in notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    clips = find_audio(args.data, limit=args.limit)
    data_root = Path(args.data) if Path(args.data).is_dir() else None
    # The clip's name in the tables is its path under --data: also its shard key and manifest id.
    keys = [c.relative_to(data_root).as_posix() if data_root else c.name for c in clips]
    ids = unit_ids(keys)
    planned = [(clip, id) for clip, id, key in zip(clips, ids, keys) if shard.owns(key)]
    if not planned:
        print(f"melwave: shard {shard.label}: none of the {len(clips)} clips is in this shard; nothing to do", file=sys.stderr)
        _vocoder_manifest(args, shard, ids, [], None)
        return 0
    clips = [clip for clip, _ in planned]
    out = _prepare_out(args.out if shard.whole else args.out / shard.tag, args.overwrite)
    report = None if args.no_report else HtmlReport(out, f"Vocoder evaluation: {', '.join(args.model)}", overwrite=True)
    evaluation = evaluate_vocoders(args.model, clips, device=_device(args.device), max_seconds=args.max_seconds or None,
                                   report=report, progress=False if args.no_progress else None, data_root=data_root,
                                   dnsmos=args.dnsmos, embedding=args.embedding, content=args.content,
                                   report_clips=args.report_clips or None, backend=args.backend)
    print(evaluation.format_table())
    print(f"melwave: {evaluation.content}: sorted by {evaluation.lead}, best first", file=sys.stderr)
    if "dnsmos_ovrl" not in evaluation.metrics and args.dnsmos is None:
        print("melwave: note: no DNSMOS (speechmos/onnxruntime not installed: pip install 'melwave[eval]')", file=sys.stderr)
    if "emb_dist" not in evaluation.metrics and args.embedding == "auto":
        print("melwave: note: no embedding distance (aisfx not installed: pip install --no-deps aisfx==0.1.2)", file=sys.stderr)
    written = write_tables(evaluation, out)
    if report is not None:
        written.append(report.write())
    for failure in evaluation.failures:
        print(f"melwave: skipped {failure}", file=sys.stderr)
    print(f"melwave: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    _vocoder_manifest(args, shard, ids, planned, evaluation)
    if not shard.whole:
        print(f"melwave: shard {shard.label}: {len(evaluation.clips)} of {len(clips)} clips scored", file=sys.stderr)
    return 0


def _vocoder_manifest(args: argparse.Namespace, shard, ids: list[str], planned: list[tuple[Path, str]], evaluation) -> None:
    """--manifest for `evaluate vocoder`: the run record, then one line per clip and model, written
    when the shard has finished (the scores exist only then). A clip that could not be read is
    failed for every model; one too short to analyse is skipped."""
    if args.manifest is None:
        return
    from melwave.inference.manifest import ManifestWriter, file_record, manifest_path, run_record
    from melwave.evaluation.vocoders import json_safe

    labels = [s.model for s in evaluation.summaries] if evaluation else []
    header = {} if evaluation is None else {
        "models": labels, "content": evaluation.content, "lead": evaluation.lead,
        "metrics": {m: [hib, description] for m, (hib, description) in evaluation.metrics.items()},
        "params": {s.model: s.params for s in evaluation.summaries}}
    with ManifestWriter(manifest_path(args.manifest, shard)) as writer:
        print(f"melwave: manifest {writer.path}", file=sys.stderr)
        writer.write(run_record(command="evaluate vocoder", shard=shard, jobs=1, all_ids=ids,
                                planned=[id for _, id in planned], **header))
        if evaluation is None:
            return
        scored = {(r.clip, r.model): r for r in evaluation.results}
        for clip, id in planned:
            failure = next((f for f in evaluation.failures if f.startswith(f"{clip}: ")), f"{clip}: could not be read")
            reason = failure[len(f"{clip}: "):]
            for label in labels:
                result = scored.get((id, label))
                if result is None:
                    writer.write(file_record(id=id, input=clip, output=None, status="failed", audio_seconds=None,
                                             seconds=0.0, error=reason, shard=shard, model=label))
                    continue
                short = "; ".join(sorted(set(result.notes.values()))) if result.synth_seconds != result.synth_seconds else None
                writer.write(file_record(id=id, input=clip, output=None, status="skipped" if short else "ok",
                                         audio_seconds=result.seconds, seconds=result.synth_seconds, error=short,
                                         shard=shard, model=label, metrics=json_safe(result.values),
                                         lag_samples=result.lag_samples))


def run_merge(args: argparse.Namespace) -> int:
    """`melwave evaluate merge A.jsonl B.jsonl ...`: exit 0 when every input of the batch was
    recorded exactly once and none failed or was refused, else 1."""
    from melwave.inference.manifest import merge_manifests

    merged = merge_manifests(args.manifests)
    for problem in merged.problems:
        print(f"melwave: {problem}", file=sys.stderr)
    for note in merged.notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    if merged.runs:
        commands = sorted({str(r.header.get("command")) for r in merged.runs})
        shards = sorted({r.shard for r in merged.runs}, key=lambda label: [int(x) for x in label.split("/")])
        print(f"melwave: {len(merged.runs)} run(s) of {', '.join(commands)}: shard(s) {', '.join(shards)}", file=sys.stderr)
    _listed("duplicate", [f"{_unit(unit)} recorded by shards {', '.join(shards)}" for unit, shards in merged.duplicates])
    _listed("missing", [f"{_unit(unit)} planned by shard {shard}, but no line (did that run stop early?)"
                        for unit, shard in merged.unrecorded])
    _listed("missing", [f"shard {label}: no manifest covers it" for label in merged.missing_shards])
    if merged.unplanned:
        print(f"melwave: missing: {merged.unplanned} input(s) of the batch in no run (run the missing shards)", file=sys.stderr)
    finals = list(merged.final.values())
    _listed("FAILED", [f"{r['input']}{_model(r)}: {r['error']}" for r in finals if r["status"] in ("failed", "refused")])
    counts = merged.counts()
    audio = sum(r.get("audio_seconds") or 0.0 for r in finals)
    taken = sum(r.get("seconds") or 0.0 for r in finals)
    print(f"melwave: merged {len(finals)} result(s): " + ", ".join(f"{n} {status}" for status, n in counts.items())
          + f"; {audio:.1f} s of audio in {taken:.1f} s of processing", file=sys.stderr)
    if any(r.get("model") is not None for r in finals):
        _merged_table(merged, args)
    shortfalls = merged.shortfalls()
    print("melwave: complete: every input recorded once, none failed" if not shortfalls else
          f"melwave: incomplete: {', '.join(shortfalls)} (see above)", file=sys.stderr)
    return 0 if not shortfalls else 1


# Lines per kind of problem printed by `evaluate merge` before the rest is counted only.
MAX_LISTED = 50


def _listed(kind: str, lines: list[str]) -> None:
    for line in lines[:MAX_LISTED]:
        print(f"melwave: {kind}: {line}" if kind != "FAILED" else f"melwave: FAILED {line}", file=sys.stderr)
    if len(lines) > MAX_LISTED:
        print(f"melwave: {kind}: ... and {len(lines) - MAX_LISTED} more", file=sys.stderr)


def _model(record: dict) -> str:
    return f" [{record['model']}]" if record.get("model") is not None else ""


def _unit(unit: tuple[str, str | None]) -> str:
    return unit[0] + (f" [{unit[1]}]" if unit[1] is not None else "")


def _merged_table(merged, args: argparse.Namespace) -> None:
    """The `evaluate vocoder` table over every shard's clips: per-clip means pooled from the
    records; set-level measures (fd_emb) need every clip's embeddings at once and are left out."""
    import math

    from melwave.evaluation.vocoders import SET_METRICS, ClipResult, VocoderEvaluation, summarize, write_tables

    header = merged.runs[-1].header
    metrics = {m: (bool(v[0]), str(v[1])) for m, v in (header.get("metrics") or {}).items() if m not in SET_METRICS}
    params = header.get("params") or {}
    by_model: dict[str, list] = {}
    for (id, model), r in sorted(merged.final.items(), key=lambda item: (str(item[0][1]), item[0][0])):
        if model is None or r["status"] not in ("ok", "skipped"):
            continue
        values = {m: math.nan if v is None else float(v) for m, v in (r.get("metrics") or {}).items()}
        seconds = r.get("seconds")
        by_model.setdefault(model, []).append(ClipResult(model, id, r.get("audio_seconds") or 0.0,
                                                         math.nan if seconds is None else seconds,
                                                         int(r.get("lag_samples") or 0), values))
    lead = header.get("lead") if header.get("lead") in metrics else next(iter(metrics), None)
    if lead is None:
        return
    summaries = [summarize(model, results, int(params.get(model, 0)), list(metrics)) for model, results in by_model.items()]
    higher_better = metrics[lead][0]
    # Best first by the lead measure, NaN last: the order `evaluate vocoder` prints.
    summaries.sort(key=lambda s: (math.isnan(s.means[lead]), -s.means[lead] if higher_better else s.means[lead]))
    clips = sorted({r.clip for results in by_model.values() for r in results})
    evaluation = VocoderEvaluation(clips, [r for results in by_model.values() for r in results], summaries, [], metrics,
                                   str(header.get("content", "speech")), lead)
    print(evaluation.format_table())
    if "fd_emb" in (header.get("metrics") or {}):
        print("melwave: note: fd_emb (a set-level measure) is not merged across shards; score it in one run", file=sys.stderr)
    if args.out is not None:
        written = write_tables(evaluation, _prepare_out(args.out, args.overwrite))
        print(f"melwave: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)


def run_generator(args: argparse.Namespace) -> int:
    from melwave.metrics.embeddings import EmbeddingCache, get_embedding
    from melwave.metrics.fid import STYLE_DEFAULT, STYLE_SOURCE
    from melwave.evaluation.generators import evaluate_generator
    from melwave.evaluation.report import HtmlReport
    from melwave.evaluation.vocoders import write_json

    device = _device(args.device)
    out = _prepare_out(args.out, args.overwrite)
    embedding = None if args.embedding == "none" else get_embedding(args.embedding, device=device)
    cache = None if args.no_cache else EmbeddingCache(args.cache)
    classifier = None
    if args.classifier is not None:
        from melwave.evaluation.classifier_adapter import load_classifier_spec

        classifier = load_classifier_spec(args.classifier, device=device)
    combinations = _combinations(args, device)
    mel_config = get_preset(args.mel_preset) if args.mel_preset else None
    vocoder = None
    if args.vocoder is not None:
        from melwave.evaluation.generators import evaluation_config, scan_set
        from melwave.models.io.load import load_vocoder

        cfg = mel_config or evaluation_config(scan_set(args.fake))
        vocoder = load_vocoder(args.vocoder, device=device, mel_config=cfg)
        cfg.require_same(vocoder.mel_config, what="the evaluation mels", expected_by=f"vocoder '{args.vocoder}'")
    report = None if args.no_report else HtmlReport(out, f"Generator evaluation: {args.fake}", overwrite=True)
    evaluation = evaluate_generator(args.real, args.fake, mel_config=mel_config,
                                    frames=args.frames, style=STYLE_SOURCE if args.image_style == "source" else STYLE_DEFAULT,
                                    embedding=embedding, cache=cache, classifier=classifier, report=report,
                                    progress=False if args.no_progress else None, device=device,
                                    image_fid=not args.no_image_fid, combinations=combinations, vocoder=vocoder,
                                    class_key=args.class_key.split(",") if args.class_key else None,
                                    min_class_items=args.min_class_items,
                                    pitch_condition=None if args.no_pitch else args.pitch_condition,
                                    train_dir=args.train_set)
    if combinations is not None:
        print(f"melwave: measured on {len(combinations)} combination(s) only: {evaluation.real_items} real and "
              f"{evaluation.fake_items} generated items", file=sys.stderr)
    print(evaluation.format_table())
    for condition in evaluation.conditions:
        per_value = ", ".join(f"{v} {a:.2f}" for v, a in condition.per_value.items())
        print(f"accuracy[{condition.condition}] per requested value: {per_value}")
    written = [write_json(out / "results.json", evaluation.to_json())]
    from melwave.utils.csvsafe import csv_text
    from melwave.utils.fileio import atomic_write_bytes

    summary = csv_text([["metric", "value", "note"], *evaluation.rows()])
    written.append(atomic_write_bytes(out / "summary.csv", summary.encode(), overwrite=True))
    if report is not None:
        written.append(report.write())
    if evaluation.skipped:
        print(f"melwave: skipped {len(evaluation.skipped)} item(s); first: {evaluation.skipped[0]}", file=sys.stderr)
    if cache is not None:
        print(f"melwave: embedding cache {cache.root}: {cache.hits} hits, {cache.misses} computed", file=sys.stderr)
    print(f"melwave: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def _combinations(args: argparse.Namespace, device: str):
    """The combinations the generator evaluation is restricted to: a model's held-out ones, a CSV's, or None."""
    if args.combinations is not None:
        from melwave.data.holdout import read_combinations_csv

        return read_combinations_csv(args.combinations)
    if args.held_out is None:
        return None
    from melwave.errors import ConfigError
    from melwave.models.io.load import load_generator

    model = load_generator(args.held_out, device="cpu")
    if not model.held_out:
        raise ConfigError(f"--held-out {args.held_out}: the generator holds no combinations out "
                          "(trained without recipe.data.holdout)")
    return model.held_out


def register(commands: argparse._SubParsersAction) -> None:
    from melwave.metrics.embeddings import EMBEDDINGS_HELP

    evaluate = commands.add_parser("evaluate", help="score vocoders or generators; write tables and an HTML report")
    which = evaluate.add_subparsers(dest="evaluate_command", metavar="WHAT")
    which.required = True

    def common(parser: argparse.ArgumentParser, default_out: str) -> None:
        parser.add_argument("--out", type=Path, default=Path(default_out), help=f"report folder (default {default_out})")
        parser.add_argument("--overwrite", action="store_true", help="replace a report already in --out")
        parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
        parser.add_argument("--no-report", action="store_true", help="tables only, no HTML report")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    vocoder = which.add_parser("vocoder", help="resynthesize reference clips with each model and score the outputs")
    vocoder.add_argument("-m", "--model", action="append", required=True, metavar="MODEL",
                         help="vocoder name (hifigan-universal, griffinlim, ...) or model file/run folder; repeat to compare")
    vocoder.add_argument("--data", required=True, help="folder of reference clips (searched recursively; any audio format) or one file")
    vocoder.add_argument("--limit", type=int, help="use at most N clips (sorted by path)")
    vocoder.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                         help="run the vocoders in torch (default) or ONNX Runtime (exported in memory; .onnx files always)")
    vocoder.add_argument("--max-seconds", type=float, default=10.0, help="score only the first S seconds of each clip (default 10; 0 = all)")
    vocoder.add_argument("--report-clips", type=int, default=24, help="clips with players in the HTML report (default 24; "
                         "0 = all); the tables always cover every clip")
    dnsmos = vocoder.add_mutually_exclusive_group()
    dnsmos.add_argument("--dnsmos", dest="dnsmos", action="store_true", default=None,
                        help="require DNSMOS (overall, signal, background; an error if speechmos/onnxruntime are missing). "
                        "Default: computed whenever they are installed (~1-5 s per clip)")
    dnsmos.add_argument("--no-dnsmos", dest="dnsmos", action="store_false", help="skip DNSMOS")
    vocoder.add_argument("--content", choices=("speech", "music", "general"), default="speech",
                         help="what the clips are: the table leads with and sorts by DNSMOS for speech (default), by the "
                         "embedding distance for music and general audio")
    vocoder.add_argument("--embedding", default="auto", help=f"embedding for the per-clip distance and the set's Fréchet "
                         f"distance: auto (aisfx when installed, default), {EMBEDDINGS_HELP}, or none")
    common(vocoder, "evaluation-vocoder")
    from melwave.cli.synthesis import scale_options

    scale_options(vocoder, jobs=False)
    vocoder.set_defaults(func=run_vocoder)

    merge = which.add_parser("merge", help="merge per-shard --manifest files into one summary (duplicates, missing inputs "
                             "and shards, failures; the model table for `evaluate vocoder` manifests)")
    merge.add_argument("manifests", nargs="+", type=Path, metavar="MANIFEST", help="the shards' .jsonl manifests")
    merge.add_argument("--out", type=Path, help="write the merged summary.csv, clips.csv and results.json of "
                       "`evaluate vocoder` manifests here")
    merge.add_argument("--overwrite", action="store_true", help="replace tables already in --out")
    merge.set_defaults(func=run_merge)

    generator = which.add_parser("generator", help="FID/KID/FAD/NDB and condition accuracy of generated against real sounds")
    generator.add_argument("--real", required=True, type=Path, help="folder of real audio and/or mel files")
    generator.add_argument("--fake", required=True, type=Path, help="folder of generated audio and/or mel files (labels from "
                           "labels.csv or name=value folders)")
    generator.add_argument("--classifier", type=Path, help="condition classifier trained by `melwave train classifier`: "
                           "adds per-condition accuracy, the IS-like score and the ceiling (its accuracy on --real: "
                           "give held-out real clips there)")
    generator.add_argument("--train-set", type=Path, metavar="DIR", help="the clips the generator was trained on: novelty "
                           "(share of generated clips that are near-copies of one) is measured against them "
                           "(default: against --real)")
    generator.add_argument("--embedding", default="aisfx", help=f"FAD embedding: {EMBEDDINGS_HELP}, or none")
    generator.add_argument("--cache", type=Path, help="embedding cache folder (default ~/.cache/melwave/embeddings)")
    generator.add_argument("--no-cache", action="store_true", help="do not read or write cached embeddings")
    generator.add_argument("--mel-preset", choices=sorted(PRESETS), help="evaluation mel config when the generated folder has "
                           "no mel files (default cwgan-22k-log)")
    generator.add_argument("--frames", type=int, help="crop/pad mels to this many frames (default: median generated length)")
    generator.add_argument("--image-style", choices=("default", "source"), default="default",
                           help="mel image rendering: default (jet, -60..60 dB) or source (jet, linear power 0..5, as the CWGAN paper)")
    generator.add_argument("--no-image-fid", action="store_true", help="skip FID/KID on mel images (the Inception network is the "
                           "slow part on a CPU)")
    only = generator.add_mutually_exclusive_group()
    only.add_argument("--held-out", metavar="MODEL", help="measure only the combinations this generator (name, file or "
                      "run folder) was trained without: both folders are filtered to them")
    only.add_argument("--combinations", type=Path, metavar="CSV", help="measure only these combinations: a CSV with a "
                      "header of condition names (instrument,pitch) and one combination per row")
    generator.add_argument("--vocoder", "--fad-vocoder", dest="vocoder", metavar="NAME",
                           help="vocode both sets' mels with this vocoder (e.g. griffinlim) for FAD and pitch accuracy; "
                           "default: the audio files beside the mels")
    generator.add_argument("--class-key", metavar="A,B", help="conditions naming a class for per-class FID (default: those "
                           "of --held-out/--combinations, else every condition of the generated labels)")
    generator.add_argument("--min-class-items", type=int, default=5,
                           help="classes with fewer real or generated items are left out of per-class FID (default 5)")
    generator.add_argument("--pitch-condition", default="pitch", metavar="NAME",
                           help="the label holding note names for pYIN pitch accuracy (default pitch)")
    generator.add_argument("--no-pitch", action="store_true", help="skip pitch accuracy (pYIN: ~0.2 s per note on a CPU)")
    common(generator, "evaluation-generator")
    generator.set_defaults(func=run_generator)
