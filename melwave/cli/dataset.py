"""`melwave dataset notes OUT`: render a labelled dataset of single notes (General MIDI soundfont).

    melwave dataset notes OUT [--seed S] [--instruments piano flute ...] [--pitches C4 G4 ...]
                              [--velocities soft loud ...] [--takes N] [--duration SECONDS] [--overwrite]
"""

from __future__ import annotations

import argparse
import logging
import time

log = logging.getLogger("melwave")


def register(subparsers: argparse._SubParsersAction) -> None:
    from melwave.data.notes import GM_PROGRAMS, VELOCITIES, NotesSpec

    default = NotesSpec()
    parser = subparsers.add_parser("dataset", help="build a built-in dataset (notes)")
    kinds = parser.add_subparsers(dest="dataset", metavar="KIND")
    kinds.required = True
    notes = kinds.add_parser(
        "notes", help="single notes rendered from the General MIDI soundfont in pretty_midi",
        description="Render every instrument × pitch × velocity combination `takes` times (22.05 kHz wav), with "
                    "labels as OUT/labels.csv and as name=value folder levels. Deterministic from --seed.")
    notes.add_argument("out", help="output folder (must be empty or absent unless --overwrite)")
    notes.add_argument("--seed", type=int, default=default.seed, help="seed of onset and hold jitter (default 0)")
    notes.add_argument("--instruments", nargs="+", default=list(default.instruments), metavar="NAME",
                       help=f"GM instruments (default: {' '.join(default.instruments)}); known: {' '.join(sorted(GM_PROGRAMS))}")
    notes.add_argument("--pitches", nargs="+", default=list(default.pitches), metavar="NOTE",
                       help=f"note names, C4 = middle C (default: {' '.join(default.pitches)})")
    notes.add_argument("--velocities", nargs="+", default=list(default.velocities), metavar="NAME",
                       help=f"velocity names: {', '.join(f'{k} ({v})' for k, v in VELOCITIES.items())}")
    notes.add_argument("--takes", type=int, default=default.takes, help=f"renders per combination (default {default.takes})")
    notes.add_argument("--duration", type=float, default=default.duration, help=f"clip seconds (default {default.duration})")
    notes.add_argument("--overwrite", action="store_true", help="write into a non-empty folder, replacing files")
    notes.set_defaults(func=run_notes)


def run_notes(args: argparse.Namespace) -> int:
    from melwave.data.notes import NotesSpec, build_notes
    default = NotesSpec()
    hold = default.hold
    if args.duration <= hold[1] + default.max_onset:
        # Keep the held part within a shorter clip: hold for 40–75 % of it.
        hold = (round(0.4 * args.duration, 3), round(0.75 * args.duration, 3))
    spec = NotesSpec(instruments=tuple(args.instruments), pitches=tuple(args.pitches),
                     velocities=tuple(args.velocities), takes=args.takes, duration=args.duration,
                     hold=hold, seed=args.seed)
    started = time.monotonic()
    labels = build_notes(args.out, spec, overwrite=args.overwrite)
    log.info("wrote %d notes (%s) and %s in %.1f s", len(spec),
             "; ".join(f"{k}: {' '.join(v)}" for k, v in spec.conditions.items()), labels, time.monotonic() - started)
    return 0
