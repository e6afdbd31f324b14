"""The one parser from plain dicts (YAML, JSON, safetensors headers) to frozen-dataclass configs.

Every config in melwave — run sections, recipe options, model architectures — is a frozen
dataclass whose field annotations are the schema. `parse_dataclass` builds one from a mapping:

- unknown keys are errors naming the full key path and listing the valid keys;
- values are checked against the annotation and converted where YAML/JSON cannot say what we
  mean: lists become (nested) tuples, so frozen configs stay hashable and compare equal after a
  round trip; an int is accepted for a float field; a whole float for an int field;
- nested dataclass fields are parsed recursively, so errors say `model.schedule.bogus`;
- the dataclass's own `__post_init__` checks run last, their message prefixed with the path.
- values shown in messages go through `short_repr`, so a hostile 10 MB value makes a short line.

`to_plain` is the inverse: dataclasses and tuples back to dicts and lists that YAML writes.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping, TypeVar

from melwave.errors import ConfigError
from melwave.utils.safe_config import short_repr, short_str

T = TypeVar("T")


def parse_dataclass(cls: type[T], data: Any, path: str | None = None) -> T:
    """Build frozen dataclass `cls` from a mapping (None: all defaults); errors name `path`."""
    path = path or cls.__name__
    if data is None:
        data = {}
    fields = [f for f in dataclasses.fields(cls) if f.init]
    known = sorted(f.name for f in fields)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of {known}, got {short_repr(data)}")
    for key in data:
        if key not in known:
            raise ConfigError(f"{path}.{short_str(key)}: unknown key; valid keys of {path}: {known}")
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(value, hints[key], f"{path}.{key}") for key, value in data.items()}
    missing = [f.name for f in fields if f.name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{path}: missing required key(s) {missing}")
    try:
        return cls(**values)
    except (ConfigError, TypeError) as err:
        # __post_init__ checks know the field, not where the config came from.
        raise ConfigError(f"{path}: {err}") from None


def _coerce(value: Any, kind: Any, path: str) -> Any:
    """Check/convert one value against a field annotation; errors name `path`."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(kind), path)
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else parse_dataclass(kind, value, path)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true/false, got {short_repr(value)}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: expected an integer, got {short_repr(value)}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{path}: expected a number, got {short_repr(value)}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {short_repr(value)}")
    if origin is tuple:
        return _coerce_tuple(value, typing.get_args(kind), path)
    if origin in (dict, Mapping) or kind in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {short_repr(value)}")
        return dict(value)
    raise ConfigError(f"{path}: unsupported schema type {kind!r}")  # pragma: no cover - schema bug


def _coerce_union(value: Any, options: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _coerce(value, option, path)
        except ConfigError as err:
            errors.append(str(err))
    raise ConfigError(errors[0] if errors else f"{path}: invalid value {short_repr(value)}")


def _coerce_tuple(value: Any, args: tuple[Any, ...], path: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: expected a list, got {short_repr(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
        raise ConfigError(f"{path}: expected a list of {len(args)} values, got {short_repr(value)}")
    return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def to_plain(obj: Any) -> Any:
    """Dataclasses/tuples -> dicts/lists that yaml.safe_dump and json.dumps write."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj
