"""`melwave dataset notes OUT`: render a labelled dataset of single notes (General MIDI soundfont).

    melwave dataset notes OUT [--preset full|small] [--seed S] [--instruments piano flute ...]
                              [--pitches C4 G4 ...] [--velocities soft loud ...] [--takes N]
                              [--duration SECONDS] [--tuning CENTS] [--reverb WET] [--overwrite]

The preset gives every field (full: the default, 3,456 clips; small: the 240 clips the shipped
cwgan-notes model was trained on); the other options replace single fields of it.
"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger("melwave")


def register(subparsers: argparse._SubParsersAction) -> None:
    from melwave.data.notes import GM_PROGRAMS, NOTES_PRESETS, VELOCITIES

    full, small = NOTES_PRESETS["full"], NOTES_PRESETS["small"]
    parser = subparsers.add_parser("dataset", help="build a built-in dataset (notes)")
    kinds = parser.add_subparsers(dest="dataset", metavar="KIND")
    kinds.required = True
    notes = kinds.add_parser(
        "notes", help="single notes rendered from the General MIDI soundfont in pretty_midi",
        description="Render every instrument × pitch × velocity combination `takes` times (22.05 kHz wav), with "
                    "labels as OUT/labels.csv and as name=value folder levels. Deterministic from --seed.")
    notes.add_argument("out", help="output folder (must be empty or absent unless --overwrite)")
    notes.add_argument("--preset", choices=sorted(NOTES_PRESETS), default="full",
                       help=f"full (default): {len(full.instruments)} instruments × {len(full.pitches)} pitches "
                            f"{full.pitches[0]}..{full.pitches[-1]} × {len(full.velocities)} velocities × {full.takes} "
                            f"takes = {len(full)} clips; small: the {len(small)} clips the shipped cwgan-notes model "
                            "was trained on. The options below replace single fields of it")
    # None: the preset's value.
    notes.add_argument("--seed", type=int, help="seed of the per-take onset, hold, tuning and reverb draws (default 0)")
    notes.add_argument("--instruments", nargs="+", metavar="NAME",
                       help=f"GM instruments (full: {' '.join(full.instruments)}); known: {' '.join(sorted(GM_PROGRAMS))}")
    notes.add_argument("--pitches", nargs="+", metavar="NOTE",
                       help="note names, C4 = middle C, or one range LOW..HIGH for every semitone between "
                            f"(full: {full.pitches[0]}..{full.pitches[-1]})")
    notes.add_argument("--velocities", nargs="+", metavar="NAME",
                       help=f"velocity names: {', '.join(f'{k} ({v})' for k, v in VELOCITIES.items())}")
    notes.add_argument("--takes", type=int, help=f"renders per combination (full: {full.takes})")
    notes.add_argument("--duration", type=float, help=f"clip seconds (default {full.duration})")
    notes.add_argument("--tuning", type=float, metavar="CENTS",
                       help=f"detune each take by up to ± CENTS (full: {full.tuning:g}, small: {small.tuning:g})")
    notes.add_argument("--reverb", type=float, metavar="WET",
                       help=f"mix up to this fraction of a synthetic room into each take (default {full.reverb:g}: dry)")
    notes.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, replacing files")
    notes.set_defaults(func=run_notes)


def spec_from_args(args: argparse.Namespace):
    """The NotesSpec of the preset with the fields the user gave replaced."""
    import dataclasses

    from melwave.data.notes import NOTES_PRESETS, chromatic

    preset = NOTES_PRESETS[args.preset]
    changes = {name: getattr(args, name) for name in ("seed", "takes", "duration", "tuning", "reverb")
               if getattr(args, name) is not None}
    for name in ("instruments", "velocities"):
        if getattr(args, name) is not None:
            changes[name] = tuple(getattr(args, name))
    if args.pitches is not None:
        if len(args.pitches) == 1 and ".." in args.pitches[0]:
            changes["pitches"] = chromatic(*args.pitches[0].split("..", 1))
        else:
            changes["pitches"] = tuple(args.pitches)
    duration = changes.get("duration", preset.duration)
    if duration <= preset.hold[1] + preset.max_onset:
        # Keep the held part within a shorter clip: hold for 40–75 % of it.
        changes["hold"] = (round(0.4 * duration, 3), round(0.75 * duration, 3))
    return dataclasses.replace(preset, **changes)


def run_notes(args: argparse.Namespace) -> int:
    from melwave.data.notes import build_notes

    spec = spec_from_args(args)
    started = time.monotonic()
    labels = build_notes(args.out, spec, overwrite=args.overwrite)
    log.info("wrote %d notes (%s) and %s in %.1f s", len(spec),
             "; ".join(f"{k}: {' '.join(v)}" for k, v in spec.conditions.items()), labels, time.monotonic() - started)
    return 0
