"""Markdown table from `melwave evaluate vocoder` results (for the README and model cards).

    .venv/bin/python scripts/eval_table.py REPORT/results.json [MORE/results.json ...] [--models a,b,c]

Several reports of the same clips (e.g. baselines once, a model in training later) make one table.

One row per model: the perceptual measures first when the report has them (DNSMOS overall /
signal / background for speech; the embedding distance, and the set's Fréchet distance, for
music), then PESQ, STOI, MCD, MR-STFT, mel-L1, F0 RMSE and speed (× real time, the inverse of the
report's rtf), means over the report's clips; the best value per column in bold.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

PERCEPTUAL = (("dnsmos_ovrl", "DNSMOS", "{:.2f}"), ("dnsmos_sig", "SIG", "{:.2f}"), ("dnsmos_bak", "BAK", "{:.2f}"),
              ("emb_dist", "emb. dist.", "{:.3f}"), ("fd_emb", "FD emb.", "{:.1f}"))
COLUMNS = (("pesq", "PESQ", "{:.2f}"), ("stoi", "STOI", "{:.3f}"), ("mcd", "MCD dB", "{:.2f}"),
           ("mr_stft", "MR-STFT", "{:.2f}"), ("mel_l1", "mel-L1", "{:.3f}"), ("f0_rmse_cents", "F0 RMSE (cents)", "{:.0f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+")
    parser.add_argument("--models", help="comma-separated order (default: the reports')")
    args = parser.parse_args()
    data, rows = {"metrics": {}}, {}
    for path in args.results:
        report = json.loads(path.read_text())
        data["metrics"].update(report["metrics"])
        for row in report["summary"]:
            if rows and row["clips"] != next(iter(rows.values()))["clips"]:
                raise SystemExit(f"{path}: {row['model']} has {row['clips']} clips, the other reports another count")
            rows[row["model"]] = row
    order = args.models.split(",") if args.models else list(rows)
    present = {key for row in rows.values() for key, value in row["means"].items()
               if value is not None and math.isfinite(value)}
    columns = [c for c in PERCEPTUAL if c[0] in present] + list(COLUMNS)
    best = {}
    for key, _, _ in columns:
        values = [rows[m]["means"].get(key) for m in order if m in rows]
        values = [v for v in values if v is not None and math.isfinite(v)]
        if values:
            best[key] = max(values) if data["metrics"][key]["higher_is_better"] else min(values)
    print("| model | " + " | ".join(title for _, title, _ in columns) + " | × real time |")
    print("|---" * (len(columns) + 2) + "|")
    for model in order:
        means = rows[model]["means"]
        cells = []
        for key, _, fmt in columns:
            value = means.get(key)
            text = "n/a" if value is None or not math.isfinite(value) else fmt.format(value)
            cells.append(f"**{text}**" if value is not None and value == best.get(key) else text)
        rtf = rows[model].get("rtf")
        speed = f"{1 / rtf:.1f}" if rtf else "n/a"
        print(f"| {model} | " + " | ".join(cells) + f" | {speed} |")
    first = next(iter(rows.values()))
    print(f"\n{first['clips']} clips, {sum(r['seconds'] for r in rows.values()) / len(rows):.1f} s of audio per model")


if __name__ == "__main__":
    main()
