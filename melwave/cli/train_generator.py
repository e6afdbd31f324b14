"""`melwave train generator`: train a conditional mel generator on labelled audio, with the recipe
its config names (`recipe.name`: wgan-gp for cwgan, flow-matching for flow).

    melwave train generator --config configs/generator/cwgan-small.yaml --data DIR [--out RUN]
                            [--resume] [--set train.steps=2000 ...]
    melwave train generator --config configs/generator/flow-small.yaml --data DIR [--out RUN]

DIR is a labelled folder: `labels.csv` (path,cond1,...) or `name=value/...` folder levels (see
melwave.data.labelled). The conditions found there become part of the model. Under
`torchrun --nproc_per_node=N` the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse

from melwave.cli.run_options import add_run_arguments, load_run_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generator", help="train a conditional mel generator (CWGAN-GP or flow matching) on labelled audio",
        description="Train a conditional mel generator (the config's recipe: wgan-gp for cwgan, flow-matching for "
                    "flow) on a labelled folder of audio: labels from DIR/labels.csv (path,cond1,...) or from "
                    "name=value folder levels.")
    add_run_arguments(parser, default_config_dir="configs/generator")
    parser.add_argument("--data", required=True, help="labelled folder of audio (e.g. from `melwave dataset notes`)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from melwave.train.loop import resolve_run_config, train
    from melwave.train.recipe import require_trains
    from melwave.train.recipes.conditions import prepare_config

    config, run_dir = load_run_arguments(args)
    require_trains(config, "generator", where=str(args.config or run_dir))
    # The data's conditions become part of the config first, so a resumed run compares like with like.
    config = resolve_run_config(prepare_config(config, args.data), run_dir, resume=args.resume)
    train(config, args.data, run_dir, resume=args.resume)
    return 0
