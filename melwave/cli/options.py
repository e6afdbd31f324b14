"""Options several commands share, written once: --trust-file, the mel settings
(--mel-preset/--mel-config) and what they resolve to. Light at import (presets only): `melwave
--help` builds every parser."""

from __future__ import annotations

import argparse
from pathlib import Path

from melwave.audio.config import PRESETS, MelConfig, get_preset
from melwave.errors import MelwaveError

TRUST_FILE_HELP = ("allow legacy mel/checkpoint files that need full unpickling (this can run code from the file; "
                   "without it every torch file is read as data only)")


def trust_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-file", action="store_true", help=TRUST_FILE_HELP)


def mel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mel-preset", choices=sorted(PRESETS), help="mel settings by preset name")
    parser.add_argument("--mel-config", type=Path, help="mel settings from a YAML file of MelConfig fields")


def explicit_mel_config(args: argparse.Namespace) -> MelConfig | None:
    """The mel config the user gave (--mel-preset or --mel-config), or None: never a default,
    so a vocoder's own config is used unless one was asked for."""
    if getattr(args, "mel_preset", None) and getattr(args, "mel_config", None):
        raise MelwaveError("give --mel-preset or --mel-config, not both")
    if getattr(args, "mel_preset", None):
        return get_preset(args.mel_preset)
    if getattr(args, "mel_config", None):
        return MelConfig.load(args.mel_config)
    return None
