"""`melwave evaluate vocoder`: resynthesize every clip with every model, score each output
against its reference, time the synthesis, and write table + report.

Each model analyses the reference with its own MelConfig (`prepare_melspectrogram`) and
vocodes it (`synthesize`); metrics compare the output with the original file (both resampled
to common evaluation rates, see `melwave.metrics.pairs`), so models of different rates and mel
settings are scored on the same footing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from melwave.audio.io import AUDIO_EXTENSIONS, load_audio, resample
from melwave.errors import AudioError, MelwaveError
from melwave.metrics.pairs import OPTIONAL_METRICS, PAIR_METRICS, pair_metrics
from melwave.metrics.report import Entry, HtmlReport, Table
from melwave.models.registry import load_vocoder
from melwave.utils.fileio import atomic_write_bytes



def find_audio(root: str | Path, *, limit: int | None = None) -> list[Path]:
    """Audio files under `root` (recursive, any supported format), sorted, at most `limit`."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise MelwaveError(f"{root}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
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


def evaluate_vocoders(models: Sequence[str], clips: Sequence[Path], *, device: str = "cpu", max_seconds: float | None = None,
                      chunk_seconds: float | None = 10.0, report: HtmlReport | None = None, progress: bool | None = None,
                      data_root: Path | None = None, dnsmos: bool = False, report_clips: int | None = 24) -> VocoderEvaluation:
    """Score every model on every clip; the report plays the first `report_clips` clips (None: all)."""
    from melwave.inference.pipeline import chunk_frames_for

    metrics = dict(PAIR_METRICS) | ({"dnsmos_ovrl": OPTIONAL_METRICS["dnsmos_ovrl"]} if dnsmos else {})
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
        vocoder = load_vocoder(spec, device=device)
        rate = vocoder.sample_rate
        chunk = chunk_frames_for(vocoder.mel_config, chunk_seconds)
        params = sum(p.numel() for p in vocoder.parameters())
        # Warm-up: the first call pays one-time costs (allocations, kernel selection) that are
        # not synthesis speed.
        warm = np.zeros(max(rate // 2, vocoder.mel_config.min_samples()), np.float32)
        vocoder.synthesize(vocoder.prepare_melspectrogram(warm), vocoder.mel_config)
        model_results = []
        for clip in readable:
            bar.set_postfix_str(f"{label}: {clip.name}"[:60])
            wave, ref_rate = read(clip)
            at_model_rate = resample(wave, ref_rate, rate)
            if len(at_model_rate) < vocoder.mel_config.min_samples():
                result = ClipResult(label, clip_name(clip), len(wave) / ref_rate, math.nan, 0,
                                    {m: math.nan for m in metrics}, {m: "clip shorter than one mel frame" for m in metrics})
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
                pair = pair_metrics(wave, ref_rate, output, rate, dnsmos=dnsmos)
                result = ClipResult(label, clip_name(clip), len(output) / rate, elapsed, pair.lag_samples, pair.values, pair.notes)
                if report is not None and entries[clip]:
                    audio_rel, image_rel = report.add_audio(f"{clip_name(clip)}-{label}", output, rate)
                    shown = {k: pair.values[k] for k in ("pesq", "stoi", "mcd")}
                    entries[clip].append(Entry(label, audio_rel, image_rel, shown))
            model_results.append(result)
            bar.update(1)
        results.extend(model_results)
        summaries.append(summarize(label, model_results, params, metrics))
        del vocoder
    bar.close()
    evaluation = VocoderEvaluation([clip_name(c) for c in readable], results, summaries, failures, metrics)
    if report is not None:
        report.table(Table("Mean over clips (rtf: synthesis seconds per audio second; bold = best)", evaluation.headers,
                           evaluation.table_rows(), {m: hib for m, (hib, _) in metrics.items()} | {"rtf": False}))
        report.notes.append("Metrics: " + "; ".join(f"{m}: {d}" for m, (_, d) in metrics.items()))
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
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(evaluation.headers)
    writer.writerows(evaluation.table_rows())
    written.append(atomic_write_bytes(out / "summary.csv", buffer.getvalue().encode(), overwrite=True))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "clip", "seconds", "synth_seconds", "rtf", "lag_samples"] + list(evaluation.metrics) + ["notes"])
    for r in evaluation.results:
        notes = "; ".join(f"{k}: {v}" for k, v in r.notes.items())
        writer.writerow([r.model, r.clip, round(r.seconds, 4), round(r.synth_seconds, 4), r.rtf, r.lag_samples]
                        + [r.values.get(m, math.nan) for m in evaluation.metrics] + [notes])
    written.append(atomic_write_bytes(out / "clips.csv", buffer.getvalue().encode(), overwrite=True))
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
