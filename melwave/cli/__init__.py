"""`melwave` console command. Thin: parses arguments and calls the Python API.

Each command group lives in its own module exposing `register(subparsers)`; `train` has its own
sub-commands registered by the modules in TRAIN_MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from melwave.errors import MelwaveError

# (module, registers top-level commands)
COMMAND_MODULES = [
    "melwave.cli.synthesis",   # analyze, synthesize, resynth
    "melwave.cli.demo",        # demo
    "melwave.cli.generate",    # generate
    "melwave.cli.dataset",     # dataset notes
    "melwave.cli.evaluate",    # evaluate vocoder|generator
    "melwave.cli.convert",     # convert (to melwave's file), export (to ONNX)
    "melwave.cli.stream",      # stream (mel frames -> PCM as samples become final)
]
TRAIN_MODULES = [
    "melwave.cli.train_vocoder",     # train vocoder
    "melwave.cli.train_generator",   # train generator
    "melwave.cli.train_classifier",  # train classifier
]


def _import_optional(name: str):
    """Import a command module; a module not written yet is skipped, any other error is raised."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="melwave", description="Audio <-> mel-spectrograms, mel generation and neural vocoders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name in COMMAND_MODULES:
        module = _import_optional(name)
        if module is not None:
            module.register(commands)
    train_modules = [m for m in (_import_optional(n) for n in TRAIN_MODULES) if m is not None]
    if train_modules:
        train = commands.add_parser("train", help="train a vocoder, generator or classifier")
        train_commands = train.add_subparsers(dest="train_command", metavar="WHAT")
        train_commands.required = True
        for module in train_modules:
            module.register(train_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except MelwaveError as err:
        print(f"melwave: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("melwave: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("melwave: error: out of memory (the input or model asks for more than this machine has)", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        # Anything that reaches here is a melwave bug (every user error is a MelwaveError): say
        # so in one line and keep the traceback for -v.
        logging.getLogger("melwave").debug("traceback", exc_info=True)
        detail = " ".join(str(err).split())[:300]
        print(f"melwave: internal error: {type(err).__name__}: {detail} (a bug: run with -v for the traceback "
              f"and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
