"""What a batch command (analyze, synthesize, resynth, run) prints: its plan's problems, notes and
refusals before anything runs, one line per file that failed or has notes, and the summary.

The planning and the running are `melwave.inference.batch_plan` and `melwave.inference.runner`;
this module only says what they found, on stderr.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from melwave.errors import MelwaveError


def show_problems(found, shard) -> None:
    """Print this shard's input specs that named nothing (of a FoundInputs); raise MelwaveError
    when no input file was found at all."""
    for spec, reason in found.problems:
        if shard.owns(spec):
            print(f"melwave: FAILED {spec}: {reason}", file=sys.stderr)
    if not found.items:
        raise MelwaveError("no input files to process")


def show_plan(plan, shard) -> None:
    """Print the output planner's notes and this shard's refused inputs (of a BatchPlan), before
    anything is written."""
    for note in plan.notes:
        print(f"melwave: note: {note}", file=sys.stderr)
    for unit in plan.refused:
        if shard.owns(unit.key):
            print(f"melwave: FAILED {unit.source}: {unit.reason}", file=sys.stderr)


def echo(result) -> None:
    """The lines a user sees for one file (a FileResult): FAILED with the reason, or its notes;
    written above the progress bar."""
    if result.status in ("failed", "refused"):
        tqdm.write(f"melwave: FAILED {result.source}: {result.error}", file=sys.stderr)
    for note in result.notes:
        tqdm.write(f"melwave: note: {result.source}: {note}", file=sys.stderr)


def finish(report, shard=None) -> int:
    """Print the summary of a BatchReport (prefixed with the shard when this is one) and return
    the exit code."""
    prefix = "" if shard is None or shard.whole else f"shard {shard.label}: "
    print(f"melwave: {prefix}{report.summary()}", file=sys.stderr)
    return 0 if report.ok else 1
