"""`melwave train classifier`: the condition classifier that scores generated sounds.

    melwave train classifier --data DIR --out PATH [--config FILE] [--resume] [--set train.steps=800 ...]

DIR is a labelled folder (labels.csv or name=value levels), normally the REAL data a generator
was trained on. PATH ending in `.safetensors` receives the trained classifier (its run folder is
PATH without the suffix + `.run/`); any other PATH is the run folder itself, holding
model.safetensors. Without --config the built-in config is used (hifigan-22k mels, 64-frame crops).
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

log = logging.getLogger("melwave")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classifier", help="train the condition classifier used to evaluate generators",
        description="Train a small CNN with one head per condition on a labelled folder of audio.")
    parser.add_argument("--data", required=True, help="labelled folder of (real) audio")
    parser.add_argument("--out", required=True, help="classifier file (.safetensors) or run folder")
    parser.add_argument("--config", help="run config YAML (default: the built-in classifier config)")
    parser.add_argument("--resume", action="store_true", help="continue the run's newest checkpoint")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing classifier file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.steps=800 (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from melwave.train.config import load_run_config
    from melwave.train.loop import resolve_run_config, train
    from melwave.train.recipes.classifier import default_run_config
    from melwave.train.recipe import require_trains
    from melwave.train.recipes.conditions import prepare_config
    from melwave.utils.fileio import atomic_write, check_writable

    out = Path(args.out)
    target = out if out.suffix == ".safetensors" else None
    run_dir = out.with_suffix(".run") if target else out
    if target is not None:
        check_writable(target, overwrite=args.overwrite)
    config = load_run_config(args.config, args.overrides) if args.config else default_run_config(args.overrides)
    require_trains(config, "classifier", where=str(args.config or "the built-in classifier config"))
    config = resolve_run_config(prepare_config(config, args.data), run_dir, resume=args.resume)
    train(config, args.data, run_dir, resume=args.resume)
    if target is not None:
        atomic_write(target, lambda tmp: shutil.copyfile(run_dir / "model.safetensors", tmp), overwrite=args.overwrite)
        log.info("classifier: %s", target)
    return 0
