"""Holding combinations of condition values out of a generator's training data.

A generator that has heard every instrument and every pitch, but never some (instrument, pitch)
pairs, shows by its output on exactly those pairs whether it composes its conditions or only
recalls what it was shown. `HoldoutConfig` (`recipe.data.holdout` in generator configs) says
which conditions form a combination and how many to hold out; `select_held_out` picks them,
deterministically from the labels and the seed. Every clip of a held-out combination leaves,
whatever its other conditions (all velocities of a held-out instrument and pitch).

A combination is a {condition: value} dict over `HoldoutConfig.conditions`; `matches` tells
whether a clip's labels fall in one. The models store the chosen combinations (their
`held_out`), so evaluation and `melwave generate --held-out` find them in the model file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from melwave.errors import ConfigError
from melwave.models.vocabulary import Vocabulary

Combination = Mapping[str, str]


@dataclass(frozen=True)
class HoldoutConfig:
    """Which condition combinations never reach the generator in training.

    conditions:   the conditions whose value combinations are held out, e.g. [instrument, pitch].
    fraction:     share of the combinations present in the data to hold out (0: none), rounded
                  up. Spread evenly: each value loses about this share of its combinations, and
                  every value keeps at least one (an embedding never trained tests nothing).
    seed:         seeds the choice.
    combinations: the held-out combinations, values in the order of `conditions`:
                  [[flute, C4], [piano, F#3]]. Given, they are used as they are; left empty with a
                  fraction, `resolved` fills them in (training does, before the first step, so the
                  run's config.yaml lists them).
    """

    conditions: tuple[str, ...] = ("instrument", "pitch")
    fraction: float = 0.0
    seed: int = 0
    combinations: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.conditions or len(set(self.conditions)) != len(self.conditions):
            raise ConfigError(f"holdout.conditions={list(self.conditions)}: expected distinct condition names")
        if not 0 <= self.fraction < 1:
            raise ConfigError(f"holdout.fraction={self.fraction}: expected 0 <= fraction < 1")
        for combination in self.combinations:
            if len(combination) != len(self.conditions):
                raise ConfigError(f"holdout.combinations: {list(combination)} has {len(combination)} values; expected one "
                                  f"per condition of {list(self.conditions)}")

    @property
    def enabled(self) -> bool:
        return bool(self.fraction or self.combinations)

    @property
    def held_out(self) -> tuple[dict[str, str], ...]:
        """The combinations as {condition: value} dicts (empty until given or resolved)."""
        return tuple(dict(zip(self.conditions, c)) for c in self.combinations)

    def resolved(self, labels: Sequence[Combination], vocabulary: Vocabulary) -> "HoldoutConfig":
        """This config with `combinations` chosen from the data (see `select_held_out`)."""
        chosen = select_held_out(labels, vocabulary, self)
        return dataclasses.replace(self, combinations=tuple(tuple(c[n] for n in self.conditions) for c in chosen))


def matches(labels: Combination, combinations: Sequence[Combination]) -> bool:
    """Whether `labels` (a clip's {condition: value}, maybe more conditions) falls in any combination."""
    return any(all(labels.get(name) == value for name, value in c.items()) for c in combinations)


def select_held_out(labels: Sequence[Combination], vocabulary: Vocabulary, config: HoldoutConfig) -> tuple[dict[str, str], ...]:
    """The combinations to hold out of the data whose clips carry `labels`, in vocabulary order.

    Same labels, vocabulary and config -> same combinations. Raises ConfigError for conditions
    the data lacks, explicit combinations it does not hold, and a choice that would leave some
    value with no training combination.
    """
    if not config.enabled:
        return ()
    for name in config.conditions:
        if name not in vocabulary.names:
            raise ConfigError(f"holdout.conditions: {name!r} is not a condition of the data ({vocabulary.describe()}); "
                              f"train on every combination with --set recipe.data.holdout=null, or hold some out with "
                              f"--held-out {','.join(vocabulary.names)}")
    conditions = [vocabulary[name] for name in config.conditions]
    # Combinations as tuples of value indices, so sorting follows the vocabulary's order.
    present = sorted({tuple(c.index(item[c.name]) for c in conditions) for item in labels})
    if config.combinations:
        chosen = []
        for combination in config.combinations:
            key = tuple(c.index(v) for c, v in zip(conditions, combination))
            if key not in present:
                raise ConfigError(f"holdout.combinations: {list(combination)} ({', '.join(config.conditions)}) has no clips "
                                  "in the data")
            chosen.append(key)
        chosen = sorted(set(chosen))
    else:
        chosen = _spread(present, math.ceil(config.fraction * len(present)), config)
    _check_every_value_kept(present, chosen, conditions)
    return tuple({c.name: c.values[i] for c, i in zip(conditions, key)} for key in chosen)


def _spread(present: list[tuple[int, ...]], count: int, config: HoldoutConfig) -> list[tuple[int, ...]]:
    """`count` of `present`, drawn in a seeded order, each value losing at most its share first."""
    order = [present[i] for i in np.random.default_rng(config.seed).permutation(len(present))]
    per_value: dict[tuple[int, int], int] = {}
    for key in present:
        for k, value in enumerate(key):
            per_value[(k, value)] = per_value.get((k, value), 0) + 1
    # A value's share, rounded up: a grid of 8 instruments × 36 pitches at 15 % loses at most 6
    # pitches per instrument and 2 instruments per pitch in the first pass.
    caps = {key: math.ceil(config.fraction * n) for key, n in per_value.items()}
    taken: dict[tuple[int, int], int] = {}
    chosen: list[tuple[int, ...]] = []
    for capped in (True, False):  # the second pass fills what the caps left short
        for key in order:
            if len(chosen) == count:
                break
            if key in chosen:
                continue
            slots = [(k, v) for k, v in enumerate(key)]
            if capped and any(taken.get(s, 0) >= caps[s] for s in slots):
                continue
            if any(taken.get(s, 0) + 1 >= per_value[s] for s in slots):
                continue  # the last training combination of some value
            chosen.append(key)
            for s in slots:
                taken[s] = taken.get(s, 0) + 1
    if len(chosen) < count:
        raise ConfigError(f"holdout.fraction={config.fraction}: only {len(chosen)} of the {count} combinations asked for can "
                          "be held out while every value keeps one to train on")
    return sorted(chosen)


def _check_every_value_kept(present: list[tuple[int, ...]], chosen: list[tuple[int, ...]], conditions) -> None:
    kept = set(present) - set(chosen)
    for k, condition in enumerate(conditions):
        trained = {key[k] for key in kept}
        lost = [condition.values[key[k]] for key in chosen if key[k] not in trained]
        if lost:
            raise ConfigError(f"holdout: {condition.name}={lost[0]} would have no combination left to train on; hold out "
                              "fewer of its combinations")


def read_combinations_csv(path) -> tuple[dict[str, str], ...]:
    """A CSV of combinations: a header of condition names, one combination per row
    (`instrument,pitch` / `flute,C#4`). Errors name the file and line."""
    import csv
    from pathlib import Path

    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    if not rows or not rows[0] or any(not name.strip() for name in rows[0]):
        raise ConfigError(f"{path}: expected a header of condition names, e.g. 'instrument,pitch'")
    names = [name.strip() for name in rows[0]]
    combinations = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(names) or any(not cell.strip() for cell in row):
            raise ConfigError(f"{path}:{line}: expected {len(names)} non-empty values ({', '.join(names)}), got {row}")
        combinations.append(dict(zip(names, (cell.strip() for cell in row))))
    if not combinations:
        raise ConfigError(f"{path}: no combinations below the header")
    return tuple(combinations)


DEFAULT_FRACTION = 0.15


def parse_held_out(spec: str, *, flag: str = "--held-out") -> dict:
    """`--held-out` as a `recipe.data.holdout` mapping:

        word,voice        15 % of the (word, voice) combinations, chosen from the data (seed 0)
        word,voice:0.25   a quarter of them
        pairs.csv         exactly the combinations a CSV lists (header: condition names)
    """
    from pathlib import Path

    text = str(spec).strip()
    if text.lower().endswith(".csv"):
        chosen = read_combinations_csv(Path(text))
        names = list(chosen[0])
        if any(list(c) != names for c in chosen):  # pragma: no cover - read_combinations_csv keeps the header's names
            raise ConfigError(f"{flag} {text}: rows do not match the header")
        return {"conditions": names, "combinations": [[c[n] for n in names] for c in chosen]}
    names_part, sep, fraction_part = text.partition(":")
    names = [name.strip() for name in names_part.split(",")]
    if not names_part.strip() or any(not name for name in names):
        raise ConfigError(f"{flag} {spec!r}: expected condition names, e.g. {flag} word,voice (or word,voice:0.2, "
                          f"or a CSV of combinations)")
    try:
        fraction = float(fraction_part) if sep else DEFAULT_FRACTION
    except ValueError:
        raise ConfigError(f"{flag} {spec!r}: {fraction_part!r} is not a fraction; e.g. {flag} {names_part}:0.2") from None
    if not 0 < fraction < 1:
        raise ConfigError(f"{flag} {spec!r}: the fraction must be between 0 and 1, e.g. {names_part}:0.2")
    return {"conditions": names, "fraction": fraction}
