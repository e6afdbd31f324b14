"""What the `melwave train` commands share: the --config/--out/--resume/--set options and
turning them into a run config and a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from melwave.errors import ConfigError


def add_run_arguments(parser: argparse.ArgumentParser, *, default_config_dir: str) -> None:
    """--config/--out/--resume/--set."""
    parser.add_argument("--config", help=f"run config YAML (see {default_config_dir}/); optional with --resume")
    parser.add_argument("--out", help="run folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.batch_size=8 (repeatable)")


def load_run_arguments(args: argparse.Namespace) -> tuple[Any, Path]:
    """(run config, run folder): --config with --set overrides, or without --config the
    config.yaml stored in the --out folder (resuming). Not yet checked against the run folder
    (`melwave.train.loop.resolve_run_config` does that, after any command-specific filling)."""
    from melwave.train.config import apply_overrides, load_run_config, parse_run_config, read_yaml

    if args.out is None and args.config is None:
        raise ConfigError("pass --config FILE (and/or --out RUN with --resume)")
    run_dir = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    if args.config:
        return load_run_config(args.config, args.overrides), run_dir
    stored = run_dir / "config.yaml"
    if not stored.exists():
        raise ConfigError(f"{run_dir}: no config.yaml here to resume; pass --config")
    return parse_run_config(apply_overrides(read_yaml(stored), args.overrides), source=str(stored)), run_dir
