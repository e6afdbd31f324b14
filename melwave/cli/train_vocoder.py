"""`melwave train vocoder`: train or fine-tune a vocoder on a folder of audio.

    melwave train vocoder --config configs/vocoder/hifigan-v3.yaml --data DIR [--out RUN]
                          [--resume] [--set train.batch_size=8 ...] [--init hifigan-universal|PATH]

Under `torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse

from melwave.cli.run_options import add_run_arguments, load_run_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "vocoder", help="train or fine-tune a vocoder on a folder of audio",
        description="Train a vocoder (any family, GAN or diffusion recipe) on a folder of audio files.")
    add_run_arguments(parser, default_config_dir="configs/vocoder")
    parser.add_argument("--data", required=True, help="folder of audio files (searched recursively; any format and rate)")
    parser.add_argument("--init", metavar="NAME|PATH",
                        help="start from a pretrained vocoder's weights (e.g. hifigan-universal, a run folder, a .safetensors)")
    parser.set_defaults(func=run)


def resolve(args: argparse.Namespace):
    """(run config, run folder) from --config/--out/--resume/--set, checked against the folder."""
    from melwave.train.loop import resolve_run_config

    config, run_dir = load_run_arguments(args)
    return resolve_run_config(config, run_dir, resume=args.resume), run_dir


def run(args: argparse.Namespace) -> int:
    from melwave.train.loop import train
    from melwave.train.recipe import require_trains

    config, run_dir = resolve(args)
    require_trains(config, "vocoder", where=str(args.config or run_dir))
    train(config, args.data, run_dir, resume=args.resume, init=args.init)
    return 0
