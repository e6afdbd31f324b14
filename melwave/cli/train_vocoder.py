"""`melwave train vocoder`: train or fine-tune a vocoder on a folder of audio.

    melwave train vocoder --config configs/vocoder/hifigan-v3.yaml --data DIR [--out RUN]
                          [--resume] [--set train.batch_size=8 ...] [--init hifigan-universal|PATH]

Under `torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from melwave.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vocoder", help="train or fine-tune a vocoder on a folder of audio",
        description="Train a vocoder (any family, GAN or diffusion recipe) on a folder of audio files.")
    add_run_arguments(parser, default_config_dir="configs/vocoder")
    parser.add_argument("--data", required=True, help="folder of audio files (searched recursively; any format and rate)")
    parser.add_argument("--init", metavar="NAME|PATH",
                        help="start from a pretrained vocoder's weights (e.g. hifigan-universal, a run folder, a .safetensors)")
    parser.set_defaults(func=run)


def add_run_arguments(parser: argparse.ArgumentParser, *, default_config_dir: str) -> None:
    """--config/--out/--resume/--set, shared by the `train` commands."""
    parser.add_argument("--config", help=f"run config YAML (see {default_config_dir}/); optional with --resume")
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (repeatable)")


def resolve(args: argparse.Namespace):
    """(run config, run folder) from --config/--out/--resume/--set."""
    from melwave.train.config import apply_overrides, load_run_config, parse_run_config, read_yaml
    from melwave.train.loop import resolve_run_config

    if args.out is None and args.config is None:
        raise ConfigError("pass --config FILE (and/or --out RUN with --resume)")
    run_dir = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    config = load_run_config(args.config, args.overrides) if args.config else None
    if config is None:
        stored = run_dir / "config.yaml"
        if not stored.exists():
            raise ConfigError(f"{run_dir}: no config.yaml here to resume; pass --config")
        config = parse_run_config(apply_overrides(read_yaml(stored), args.overrides), source=str(stored))
    return resolve_run_config(config, run_dir, resume=args.resume), run_dir


def run(args: argparse.Namespace) -> int:
    from melwave.train.loop import train

    config, run_dir = resolve(args)
    if config.recipe.name not in ("gan", "diffusion"):
        raise ConfigError(f"{args.config or run_dir}: recipe {config.recipe.name!r} does not train a vocoder")
    train(config, args.data, run_dir, resume=args.resume, init=args.init)
    return 0
