"""`melwave generate`: sounds from a conditional mel generator.

    melwave generate [-m MODEL] --condition instrument=flute --condition velocity=loud -n 8 -o OUT
                     [--vocoder NAME|PATH] [--seed S] [--all | --held-out] [--overwrite] [--no-images] [--list]
                     [--steps N] [--guidance W]          # iterative generators (flow) only
                     [--seconds S] [--no-limit]           # clip length (default: the model's); peak limiter off
    melwave generate -m CWGANGP_1000.pt --source-config config_CWGAN_GP.yaml ...   # a DeepMel checkpoint

Per sample: OUT/NAME.pt (mel + MelConfig), OUT/NAME.wav, OUT/NAME.png; and OUT/labels.csv. The audio
goes through a whole-clip peak limiter (-1 dBFS; melwave.inference.limiter) unless --no-limit.
NAMEs are file-safe and distinct even where condition values are not (`a/b` and `a-b`, `A` and `a`):
those get a short hash of their conditions (`melwave.inference.generate.unique_plans`).
"""

from __future__ import annotations

import argparse
import logging

from melwave.cli.options import trust_file_option

log = logging.getLogger("melwave")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate sounds from a conditional mel generator",
        description="Generate mel-spectrograms for chosen conditions and vocode them. Conditions left out are "
                    "drawn at random per sample; --all sweeps every combination of them.")
    parser.add_argument("-m", "--model", default=None,
                        help="generator: a shipped name (default: flow-notes), a .safetensors file or a training run folder")
    parser.add_argument("-c", "--condition", action="append", default=[], metavar="NAME=VALUE",
                        help="fix a condition, e.g. --condition instrument=flute (repeatable)")
    parser.add_argument("-n", type=int, default=4, help="samples (per combination with --all; default 4)")
    parser.add_argument("-o", "--out", help="output folder (required unless --list)")
    parser.add_argument("--all", action="store_true", help="sweep every combination of the conditions not fixed")
    parser.add_argument("--held-out", action="store_true",
                        help="only the combinations the model's training data held out (see --list), -n per "
                             "combination and value of the other conditions")
    parser.add_argument("--vocoder", default=None,
                        help="vocoder name or path (default: hifigan-universal when the mel configs match, else griffinlim)")
    parser.add_argument("--seed", type=int, default=0, help="noise and random-condition seed (default 0)")
    # None = the model's stored default; a one-pass generator (cwgan) refuses them.
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps of an iterative generator (flow; default: the model's)")
    parser.add_argument("--guidance", type=float, default=None,
                        help="classifier-free guidance scale of a flow generator (1 = none; default: the model's)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="clip length in seconds (default: the model's training clip length; at most that)")
    parser.add_argument("--no-limit", action="store_true",
                        help="write the audio as vocoded: no peak limiter (clips reaching full scale are hard-clipped "
                             "and counted); by default clips peaking above -1 dBFS are turned down to it as a whole")
    parser.add_argument("--batch-size", type=int, default=16, help="samples generated and written at a time")
    parser.add_argument("--no-images", action="store_true", help="skip the PNG mel images")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--list", action="store_true",
                        help="print the model's conditions and values and the combinations it was trained without, then exit")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--source-config", default=None, metavar="YAML",
                        help="-m is a DeepMelSpectrogramGenerator checkpoint and this its YAML config (conditions "
                             "from its class folders, its mel settings; output: its raw power mels)")
    trust_file_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from melwave.errors import ConfigError
    from melwave.inference.generate import (
        check_sampling, check_seconds, model_seconds, parse_conditions, pick_vocoder, plan_samples, write_samples,
    )
    from melwave.models.io.load import load_generator

    if args.source_config and not args.model:
        raise ConfigError("--source-config: give the DeepMel checkpoint it belongs to with -m PATH")
    model = load_generator(args.model, device=args.device, source_config=args.source_config, trust_file=args.trust_file)
    if args.list:
        for condition in model.vocabulary.conditions:
            print(f"{condition.name}: {' '.join(condition.values)}")
        held_out = getattr(model, "held_out", ())
        if held_out:
            print(f"held out in training ({len(held_out)} combinations of {', '.join(held_out[0])}):")
            for combination in held_out:
                print("  " + " ".join(f"{k}={v}" for k, v in combination.items()))
        return 0
    if not args.out:
        raise ConfigError("-o/--out OUT: an output folder is required")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: expected >= 1")
    if not args.no_images:
        from melwave.utils.optional import require

        # Checked before anything is written: a missing plot extra must not leave half a batch.
        require("matplotlib", "the PNG mel images of `melwave generate` (--no-images skips them)")
    sampling = check_sampling(model, {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance)) if v is not None})
    seconds = check_seconds(model, args.seconds)
    fixed = parse_conditions(model, args.condition)
    if args.held_out:
        from melwave.inference.held_out_samples import held_out_plans

        if args.all:
            raise ConfigError("--held-out and --all: choose one (--held-out already sweeps the other conditions)")
        plans = held_out_plans(model, fixed, n=args.n)
    else:
        plans = plan_samples(model, fixed, n=args.n, sweep=args.all, seed=args.seed)
    vocoder = pick_vocoder(model, args.vocoder, device=args.device)
    log.info("generating %d sample(s) of %.2f s with %s, vocoder %s -> %s", len(plans),
             seconds if seconds is not None else model_seconds(model), model.name, vocoder.name, args.out)
    try:
        written = write_samples(model, plans, args.out, vocoder=vocoder, seed=args.seed, batch_size=args.batch_size,
                                overwrite=args.overwrite, images=not args.no_images, sampling=sampling,
                                seconds=seconds, limit=not args.no_limit)
    except OSError as err:
        # A disk that fills or a name the file system refuses: one line, not a traceback.
        from melwave.errors import MelwaveError

        raise MelwaveError(f"{err.filename or args.out}: cannot write ({err.strerror or err})") from None
    log.info("wrote %d files (%d samples) to %s", len(written), len(plans), args.out)
    return 0
