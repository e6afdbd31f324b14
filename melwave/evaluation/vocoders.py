"""`melwave evaluate vocoder`: resynthesize every clip with every model, score each output
against its reference, time the synthesis, and write table + report.

Each model analyses the reference with its own MelConfig (`prepare_melspectrogram`) and
vocodes it (`synthesize`); metrics compare the output with the original file (both resampled
to common evaluation rates, see `melwave.metrics.pairs`), so models of different rates and mel
settings are scored on the same footing.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from melwave.audio.io import AUDIO_EXTENSIONS, find_files, load_audio, resample
from melwave.errors import AudioError, MelwaveError
from melwave.metrics.pairs import DNSMOS_METRICS, METRIC_NOTES, OPTIONAL_METRICS, PAIR_METRICS, pair_metrics
from melwave.evaluation.report import Entry, HtmlReport, Table
from melwave.models.io.load import load_vocoder
from melwave.utils.csvsafe import csv_text
from melwave.utils.fileio import atomic_write_bytes



# Set-level measures: one value per model over all clips (no per-clip column).
SET_METRICS: dict[str, tuple[bool, str]] = {
    "fd_emb": (False, "Fréchet distance between all reference and all output block embeddings (aisfx) of the set"),
}
METRIC_NOTES_SET = {"fd_emb": "rewards a set of outputs whose embedding distribution matches the references'; "
                              "needs many clips to be stable and says nothing about any one clip"}
CONTENTS = ("speech", "music", "general")


def lead_metric(content: str, metrics: Sequence[str]) -> str:
    """The perceptual measure a table leads with and is sorted by: DNSMOS for speech, the
    embedding distance for music and general audio; the best intrusive stand-in when the
    perceptual one is not computed."""
    order = {"speech": ("dnsmos_ovrl", "emb_dist", "pesq"), "music": ("emb_dist", "mr_stft"),
             "general": ("emb_dist", "dnsmos_ovrl", "mr_stft")}[content]
    return next(name for name in order if name in metrics)


def find_audio(root: str | Path, *, limit: int | None = None) -> list[Path]:
    """Audio files under `root` (recursive, any supported format), sorted, at most `limit`."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise MelwaveError(f"{root}: no such folder")
    files = find_files(root)
    if not files:
        raise MelwaveError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    return files[:limit] if limit else files


@dataclass
class ClipResult:
    model: str
    clip: str
    seconds: float
    synth_seconds: float
    lag_samples: int
    values: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        return self.synth_seconds / self.seconds if self.seconds > 0 else math.nan


@dataclass
class ModelSummary:
    model: str
    clips: int
    seconds: float
    means: dict[str, float]
    counts: dict[str, int]
    rtf: float
    params: int


@dataclass
class VocoderEvaluation:
    clips: list[str]
    results: list[ClipResult]
    summaries: list[ModelSummary]
    failures: list[str]
    metrics: dict[str, tuple[bool, str]] = field(default_factory=lambda: dict(PAIR_METRICS))
    content: str = "speech"
    lead: str = "pesq"

    @property
    def clip_metrics(self) -> list[str]:
        """The metrics with a value per clip (all but the set-level ones)."""
        return [m for m in self.metrics if m not in SET_METRICS]

    def table_rows(self) -> list[list]:
        return [[s.model, s.clips, round(s.seconds, 2)] + [s.means.get(m, math.nan) for m in self.metrics] + [s.rtf]
                for s in self.summaries]

    @property
    def headers(self) -> list[str]:
        return ["model", "clips", "seconds"] + list(self.metrics) + ["rtf"]

    def format_table(self) -> str:
        rows = [[str(c) if not isinstance(c, float) else ("nan" if math.isnan(c) else f"{c:.3f}") for c in row]
                for row in self.table_rows()]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(self.headers)]
        lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(self.headers, widths)))]
        lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in rows]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "metrics": {name: {"higher_is_better": hib, "description": desc} for name, (hib, desc) in self.metrics.items()}
            | {"rtf": {"higher_is_better": False, "description": "synthesis seconds per second of audio (lower is faster)"}},
            "content": self.content,
            "lead_metric": self.lead,
            "what_metrics_reward": {m: METRIC_NOTES.get(m) or METRIC_NOTES_SET.get(m) for m in self.metrics},
            "summary": [vars(s) for s in self.summaries],
            "clips": [vars(r) | {"rtf": r.rtf} for r in self.results],
            "failures": self.failures,
        }


def _unique_labels(models: Sequence[str]) -> list[str]:
    labels = []
    for spec in models:
        path = Path(spec)
        label = spec if not path.exists() else (path.parent.name if path.name == "model.safetensors" else path.stem)
        base, n = label, 1
        while label in labels:
            n += 1
            label = f"{base}#{n}"
        labels.append(label)
    return labels


def summarize(model: str, results: list[ClipResult], params: int, metrics=PAIR_METRICS) -> ModelSummary:
    means, counts = {}, {}
    for metric in metrics:
        values = np.array([r.values.get(metric, math.nan) for r in results], dtype=np.float64)
        valid = values[~np.isnan(values)]
        means[metric] = float(valid.mean()) if len(valid) else math.nan
        counts[metric] = int(len(valid))
    seconds = sum(r.seconds for r in results)
    rtf = sum(r.synth_seconds for r in results) / seconds if seconds > 0 else math.nan
    return ModelSummary(model, len(results), seconds, means, counts, rtf, params)


def dnsmos_installed() -> bool:
    from melwave.utils.optional import available

    return available("speechmos") and available("onnxruntime")


def resolve_embedding(spec, *, device: str = "cpu"):
    """"auto": the offline aisfx embedding when its package is installed, else None; "none" or
    None: no embedding; another string: `get_embedding(spec)`; an AudioEmbedding: itself."""
    from melwave.metrics.embeddings import get_embedding
    from melwave.utils.optional import available

    if spec is None or spec == "none":
        return None
    if spec == "auto":
        return get_embedding("aisfx", device=device) if available("aisfx") else None
    return get_embedding(spec, device=device) if isinstance(spec, str) else spec


def evaluate_vocoders(models: Sequence[str], clips: Sequence[Path], *, device: str = "cpu", max_seconds: float | None = None,
                      chunk_seconds: float | None = 10.0, report: HtmlReport | None = None, progress: bool | None = None,
                      data_root: Path | None = None, dnsmos: bool | None = None, embedding="auto",
                      content: str = "speech", report_clips: int | None = 24, backend: str = "torch") -> VocoderEvaluation:
    """Score every model on every clip; the report plays the first `report_clips` clips (None: all).

    Perceptual measures run by default: DNSMOS (`dnsmos=None`: when speechmos and onnxruntime are
    installed; True requires them) and the embedding distance (`embedding="auto"`: aisfx when
    installed; "none" to skip). `content` (speech, music or general) picks the measure the table
    leads with and is sorted by (`lead_metric`). `backend`: "torch" or "onnxruntime" (load_vocoder's).
    """
    from melwave.inference.pipeline import chunk_frames_for
    from melwave.metrics.frechet import frechet_distance_features

    if content not in CONTENTS:
        raise MelwaveError(f"content {content!r}: expected one of {CONTENTS}")
    if dnsmos is None:
        dnsmos = dnsmos_installed()
    elif dnsmos:  # asked for: a missing package is an error now, not after the first model
        from melwave.utils.optional import require

        require("speechmos.dnsmos", "DNSMOS in `melwave evaluate vocoder` (--dnsmos)")
    embedder = resolve_embedding(embedding, device=device)
    metrics = dict(PAIR_METRICS)
    if dnsmos:
        metrics |= {name: OPTIONAL_METRICS[name] for name in DNSMOS_METRICS}
    if embedder is not None:
        name = getattr(embedder, "name", "embedding")
        metrics |= {"emb_dist": (False, OPTIONAL_METRICS["emb_dist"][1].replace("(aisfx)", f"({name})")),
                    "fd_emb": (False, SET_METRICS["fd_emb"][1].replace("(aisfx)", f"({name})"))}
    lead = lead_metric(content, metrics)
    # The lead measure first, the other perceptual ones next, then the intrusive ones.
    perceptual = [m for m in (*DNSMOS_METRICS, "emb_dist", "fd_emb") if m in metrics and m != lead]
    metrics = {m: metrics[m] for m in [lead, *perceptual, *(m for m in metrics if m != lead and m not in perceptual)]}
    clip_metrics = [m for m in metrics if m not in SET_METRICS]
    labels = _unique_labels(models)
    failures: list[str] = []

    def read(clip: Path) -> tuple[np.ndarray, int]:
        audio = load_audio(clip)
        wave = audio.wave[: int(max_seconds * audio.sample_rate)] if max_seconds else audio.wave
        return wave, audio.sample_rate

    def clip_name(path: Path) -> str:
        return str(path.relative_to(data_root)) if data_root and path.is_relative_to(data_root) else path.name

    # Clips are decoded again for every model rather than held in memory: decoding is cheap next
    # to synthesis, and a few thousand clips would not fit.
    readable: list[Path] = []
    entries: dict[Path, list[Entry]] = {}
    for clip in clips:
        try:
            wave, rate = read(clip)
        except AudioError as err:
            failures.append(str(err))
            continue
        readable.append(clip)
        entries[clip] = []
        if report is not None and (report_clips is None or len(readable) <= report_clips):
            audio_rel, image_rel = report.add_audio(f"{clip_name(clip)}-reference", wave, rate)
            entries[clip].append(Entry("reference", audio_rel, image_rel, {"seconds": len(wave) / rate}))
    if not readable:
        raise MelwaveError("none of the clips could be read" + (f" (first: {failures[0]})" if failures else ""))

    results: list[ClipResult] = []
    summaries: list[ModelSummary] = []
    bar = tqdm(total=len(models) * len(readable), desc="evaluate", unit="clip", disable=progress is False)
    for spec, label in zip(models, labels):
        vocoder = load_vocoder(spec, device=device, backend=backend)
        rate = vocoder.sample_rate
        chunk = chunk_frames_for(vocoder.mel_config, chunk_seconds)
        params = sum(p.numel() for p in vocoder.parameters())
        # Warm-up: the first call pays one-time costs (allocations, kernel selection) that are
        # not synthesis speed.
        warm = np.zeros(max(rate // 2, vocoder.mel_config.min_samples()), np.float32)
        vocoder.synthesize(vocoder.prepare_melspectrogram(warm), vocoder.mel_config)
        model_results = []
        set_embeddings: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for clip in readable:
            bar.set_postfix_str(f"{label}: {clip.name}"[:60])
            wave, ref_rate = read(clip)
            at_model_rate = resample(wave, ref_rate, rate)
            if len(at_model_rate) < vocoder.mel_config.min_samples():
                result = ClipResult(label, clip_name(clip), len(wave) / ref_rate, math.nan, 0,
                                    {m: math.nan for m in clip_metrics}, {m: "clip shorter than one mel frame" for m in clip_metrics})
            else:
                mel = vocoder.prepare_melspectrogram(at_model_rate)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                output = vocoder.synthesize(mel, vocoder.mel_config, chunk_frames=chunk)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - start
                output = output.detach().cpu().numpy().astype(np.float32)
                pair = pair_metrics(wave, ref_rate, output, rate, dnsmos=dnsmos, embedding=embedder)
                result = ClipResult(label, clip_name(clip), len(output) / rate, elapsed, pair.lag_samples, pair.values, pair.notes)
                if pair.embeddings is not None:
                    set_embeddings[0].append(pair.embeddings[0])
                    set_embeddings[1].append(pair.embeddings[1])
                if report is not None and entries[clip]:
                    audio_rel, image_rel = report.add_audio(f"{clip_name(clip)}-{label}", output, rate)
                    shown = {k: pair.values[k] for k in (lead, *perceptual[:1], "pesq", "stoi") if k in pair.values}
                    entries[clip].append(Entry(label, audio_rel, image_rel, shown))
            model_results.append(result)
            bar.update(1)
        results.extend(model_results)
        summary = summarize(label, model_results, params, clip_metrics)
        if "fd_emb" in metrics:
            rows = [np.concatenate(side) for side in set_embeddings] if set_embeddings[0] else None
            # A Fréchet distance needs more embedding rows than one clip gives to mean anything.
            usable = rows is not None and min(len(rows[0]), len(rows[1])) >= 2
            summary.means["fd_emb"] = frechet_distance_features(*rows) if usable else math.nan
            summary.counts["fd_emb"] = len(rows[1]) if usable else 0
        summaries.append(summary)
        del vocoder
    bar.close()
    # Best first by the lead measure (NaN last).
    higher_better = metrics[lead][0]
    summaries.sort(key=lambda s: (math.isnan(s.means[lead]), -s.means[lead] if higher_better else s.means[lead]))
    evaluation = VocoderEvaluation([clip_name(c) for c in readable], results, summaries, failures, metrics, content, lead)
    if report is not None:
        report.table(Table(f"Mean over clips, {content}, sorted by {lead} (rtf: synthesis seconds per audio second; bold = best)",
                           evaluation.headers, evaluation.table_rows(), {m: hib for m, (hib, _) in metrics.items()} | {"rtf": False}))
        report.notes.append("Metrics: " + "; ".join(f"{m}: {d}" for m, (_, d) in metrics.items()))
        report.notes.append("What each metric rewards and misses — listen before trusting any one number: "
                            + " | ".join(f"{m}: {METRIC_NOTES.get(m) or METRIC_NOTES_SET[m]}" for m in metrics))
        if not dnsmos:
            report.notes.append("DNSMOS was not computed (speechmos/onnxruntime not installed: pip install 'melwave[eval]').")
        if embedder is None:
            report.notes.append("No embedding distance (the aisfx package is not installed: pip install --no-deps aisfx==0.1.2).")
        if failures:
            report.notes.append(f"{len(failures)} clip(s) could not be read: " + "; ".join(failures[:5]))
        shown = [clip for clip in readable if entries[clip]]
        if len(shown) < len(readable):
            report.notes.append(f"The table covers all {len(readable)} clips; the players below show the first {len(shown)}.")
        report.section("Clips", [(clip_name(clip), entries[clip]) for clip in shown])
    return evaluation


def write_tables(evaluation: VocoderEvaluation, out: Path) -> list[Path]:
    """summary.csv (model × metric), clips.csv (one row per model and clip, with notes), results.json."""
    written = []
    # Model and clip names come from user file names: csv_text keeps them from running as formulas.
    summary = csv_text([evaluation.headers, *evaluation.table_rows()])
    written.append(atomic_write_bytes(out / "summary.csv", summary.encode(), overwrite=True))
    rows: list[list] = [["model", "clip", "seconds", "synth_seconds", "rtf", "lag_samples"] + evaluation.clip_metrics + ["notes"]]
    for r in evaluation.results:
        notes = "; ".join(f"{k}: {v}" for k, v in r.notes.items())
        rows.append([r.model, r.clip, round(r.seconds, 4), round(r.synth_seconds, 4), r.rtf, r.lag_samples]
                    + [r.values.get(m, math.nan) for m in evaluation.clip_metrics] + [notes])
    written.append(atomic_write_bytes(out / "clips.csv", csv_text(rows).encode(), overwrite=True))
    written.append(write_json(out / "results.json", evaluation.to_json()))
    return written


def json_safe(value):
    """NaN/inf -> None recursively (json.dumps would write NaN, which is not JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return json_safe(value.item())
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: Path, data) -> Path:
    return atomic_write_bytes(path, json.dumps(json_safe(data), indent=2, ensure_ascii=False).encode(), overwrite=True)
