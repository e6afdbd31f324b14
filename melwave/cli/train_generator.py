"""`melwave train generator`: train a conditional mel generator on labelled audio, with the recipe
its config names (`recipe.name`: wgan-gp for cwgan, flow-matching for flow).

    melwave train generator --data DIR --out RUN [--family cwgan|flow] [--max-time 20m] [--steps N]
                            [--held-out word,voice[:0.2] | --held-out pairs.csv] [--resume] [--set KEY=VALUE ...]
    melwave train generator --config configs/generator/flow-small.yaml --data DIR [--out RUN] [...]

DIR is a labelled folder: `labels.csv` (path,cond1,...) or `name=value/...` folder levels (see
melwave.data.labelled). The conditions found there become part of the model. Without --config the
family's CPU default is fitted to DIR (melwave.train.generator_defaults: clip length from the data,
nothing held out). Command-line settings are applied as `--set` overrides on top of the config, and
one given twice in conflicting ways is an error, never silently dropped. `--max-time` stops cleanly
with a checkpoint; Ctrl-C (SIGINT) or SIGTERM saves one and exits 130 / 143. Under
`torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from melwave.cli.run_options import add_run_arguments

from melwave.train.generator_defaults import DEFAULT_FAMILY, FAMILIES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generator", help="train a conditional mel generator (flow matching or CWGAN-GP) on labelled audio",
        description="Train a conditional mel generator on a labelled folder of audio: labels from DIR/labels.csv "
                    "(path,cond1,...) or from name=value folder levels. Without --config, the family's CPU default "
                    "is fitted to the data (clip length, conditions; nothing held out).")
    add_run_arguments(parser, default_config_dir="configs/generator")
    parser.add_argument("--data", required=True, help="labelled folder of audio (e.g. from `melwave dataset notes`)")
    parser.add_argument("--family", choices=FAMILIES, default=None,
                        help=f"model family without --config: cwgan (WGAN-GP, the default: it learns most per CPU-minute) "
                             f"or flow (flow matching)")
    parser.add_argument("--max-time", default=None, metavar="DURATION",
                        help="stop cleanly, with a checkpoint, after this long (90s, 20m, 1h, 1h30m); with --steps, "
                             "whichever comes first")
    parser.add_argument("--steps", type=int, default=None, help="train up to this many steps in all (train.steps)")
    parser.add_argument("--held-out", default=None, metavar="CONDITIONS[:FRACTION]|CSV",
                        help="leave condition combinations out of training: e.g. word,voice (15%% of the pairs), "
                             "word,voice:0.25, or a CSV listing them (recipe.data.holdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from melwave.train.budget import TrainingInterrupted, parse_duration
    from melwave.train.loop import resolve_run_config, train
    from melwave.train.recipe import require_trains
    from melwave.train.recipes.conditions import prepare_config

    max_seconds = parse_duration(args.max_time, flag="--max-time") if args.max_time is not None else None
    config, run_dir, where = load_config(args, bounded_by_time=max_seconds is not None)
    require_trains(config, "generator", where=where)
    # The data's conditions become part of the config first, so a resumed run compares like with like.
    config = resolve_run_config(prepare_config(config, args.data), run_dir, resume=args.resume)
    try:
        train(config, args.data, run_dir, resume=args.resume, max_seconds=max_seconds)
    except TrainingInterrupted as stop:  # the checkpoint is written; exit as the signal asked
        return stop.exit_code
    return 0


def flag_overrides(args: argparse.Namespace, *, bounded_by_time: bool, fitted: bool) -> list[str]:
    """The command's own flags as `--set` overrides (applied after the user's --set, which they must
    not contradict). `fitted`: the config is the CPU default, whose step count a --max-time replaces."""
    from melwave.data.holdout import parse_held_out
    from melwave.errors import ConfigError
    from melwave.train.config import UNTIL_DEADLINE

    keys = {item.partition("=")[0].strip() for item in args.overrides}
    extra = []
    if args.steps is not None:
        if args.steps < 1:
            raise ConfigError(f"--steps {args.steps}: expected a positive number of steps")
        if "train.steps" in keys:
            raise ConfigError("--steps and --set train.steps=...: give the step count once")
        extra.append(f"train.steps={args.steps}")
    elif bounded_by_time and fitted and "train.steps" not in keys:
        # "Train for 20 minutes": the default's step count would otherwise end it early.
        extra.append(f"train.steps={UNTIL_DEADLINE}")
    if args.held_out is not None:
        if any(key == "recipe.data.holdout" or key.startswith("recipe.data.holdout.") for key in keys):
            raise ConfigError("--held-out and --set recipe.data.holdout...: choose the held-out combinations once")
        # JSON is YAML: condition names with commas or colons survive the override parser.
        extra.append(f"recipe.data.holdout={json.dumps(parse_held_out(args.held_out))}")
    if args.family is not None and "model.family" in keys:
        raise ConfigError("--family and --set model.family=...: choose the family once")
    return extra


def load_config(args: argparse.Namespace, *, bounded_by_time: bool):
    """(run config, run folder, where it came from): --config, else (resuming) RUN/config.yaml, else
    the --family CPU default fitted to --data; each with --set and the command's flags applied."""
    from melwave.errors import ConfigError
    from melwave.train.config import apply_overrides, parse_run_config, read_yaml
    from melwave.train.generator_defaults import default_config

    family = args.family or DEFAULT_FAMILY
    stored = Path(args.out) / "config.yaml" if args.out else None
    if args.config:
        run_dir = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
        overrides = [*args.overrides, *flag_overrides(args, bounded_by_time=bounded_by_time, fitted=False)]
        config = parse_run_config(apply_overrides(read_yaml(args.config), overrides), source=str(args.config))
        where = str(args.config)
    elif args.resume and stored is not None and stored.exists():
        run_dir = Path(args.out)
        overrides = [*args.overrides, *flag_overrides(args, bounded_by_time=False, fitted=False)]
        config = parse_run_config(apply_overrides(read_yaml(stored), overrides), source=str(stored))
        where = str(stored)
    else:
        run_dir = Path(args.out) if args.out else Path("runs") / f"{family}-{Path(args.data).resolve().name}"
        overrides = [*args.overrides, *flag_overrides(args, bounded_by_time=bounded_by_time, fitted=True)]
        config = default_config(family, args.data, overrides)
        where = f"the {family} default (no --config)"
    if args.family is not None and config.model.family != args.family:
        raise ConfigError(f"--family {args.family}: {where} trains a {config.model.family!r} model; drop --family or "
                          f"pass a {args.family} config")
    return config, run_dir, where
