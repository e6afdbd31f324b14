"""The named conditions a conditional model is trained on and asked for.

A `Vocabulary` is part of a model's architecture (one embedding or head per condition, one row
per value) and is stored in its config, so users ask for `instrument=flute`, never for index 3.
Label tensors are (B, K) long: column k holds an index into `conditions[k].values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from melwave.errors import ConfigError


@dataclass(frozen=True)
class Condition:
    """One conditioning variable and its named values; index i means values[i]."""

    name: str
    values: tuple[str, ...]

    def index(self, value: str) -> int:
        try:
            return self.values.index(value)
        except ValueError:
            raise ConfigError(f"condition {self.name}: unknown value {value!r}; valid: {', '.join(self.values)}") from None


@dataclass(frozen=True)
class Vocabulary:
    """The conditions of a dataset or model, in a fixed order."""

    conditions: tuple[Condition, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.conditions)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(c.values) for c in self.conditions)

    def __getitem__(self, name: str) -> Condition:
        for condition in self.conditions:
            if condition.name == name:
                return condition
        raise ConfigError(f"unknown condition {name!r}; this model's conditions: {self.describe()}")

    def describe(self) -> str:
        return "; ".join(f"{c.name} = {'|'.join(c.values)}" for c in self.conditions)

    def to_list(self) -> list[dict]:
        return [{"name": c.name, "values": list(c.values)} for c in self.conditions]

    @classmethod
    def from_list(cls, data: Sequence[dict], *, source: str = "conditions") -> "Vocabulary":
        try:
            conditions = tuple(Condition(str(d["name"]), tuple(str(v) for v in d["values"])) for d in data)
        except (KeyError, TypeError):
            raise ConfigError(f"{source}: expected a list of {{name, values}} mappings") from None
        for c in conditions:
            if not c.values or len(set(c.values)) != len(c.values):
                raise ConfigError(f"{source}: condition {c.name!r} needs distinct, non-empty values")
        if len({c.name for c in conditions}) != len(conditions):
            raise ConfigError(f"{source}: condition names repeat: {[c.name for c in conditions]}")
        return cls(conditions)

    def encode(self, labels: dict[str, str], *, source: str = "labels") -> list[int]:
        """{name: value} -> one index per condition (all conditions required)."""
        missing = [n for n in self.names if n not in labels]
        extra = [n for n in labels if n not in self.names]
        if missing or extra:
            raise ConfigError(f"{source}: conditions {sorted(labels)} do not match {list(self.names)}")
        return [self[n].index(labels[n]) for n in self.names]

    def parse_combinations(self, data: object, *, source: str = "held_out") -> tuple[dict[str, str], ...]:
        """A stored list of {condition: value} combinations (e.g. a generator's held-out ones),
        checked against this vocabulary: every name a condition, every value one of its values."""
        if not isinstance(data, (list, tuple)) or not all(isinstance(c, dict) and c for c in data):
            raise ConfigError(f"{source}: expected a list of {{condition: value}} mappings")
        combinations = []
        for combination in data:
            for name, value in combination.items():
                self[str(name)].index(str(value))  # unknown names and values: errors listing the valid ones
            combinations.append({str(k): str(v) for k, v in combination.items()})
        return tuple(combinations)
