"""The one check of a file's format name and version, for every file format melwave writes (mel
files, model files, training checkpoints, ONNX exports): the same two questions, the same one-line
answers naming the file."""

from __future__ import annotations

from typing import Any, Mapping

from melwave.errors import MelwaveError
from melwave.utils.safe_config import short_repr


def check_format(header: Any, *, source: Any, kind: str, name: str, version: Any, error: type[MelwaveError],
                 keys: tuple[str, str] = ("format", "version"), article: str = "a", hint: str = "") -> None:
    """Raise `error` unless `header` is a mapping whose `keys` hold `name` and `version`.

    kind: the kind of file, for messages ("melwave mel file", ...), after `article`; hint: appended
    to the format error (what else would have been accepted)."""
    format_key, version_key = keys
    found = header.get(format_key) if isinstance(header, Mapping) else None
    if found != name:
        shown = f"{format_key} {short_repr(found)}" if isinstance(header, Mapping) else f"a {type(header).__name__}"
        raise error(f"{source}: not {article} {kind} ({shown}, expected {format_key} {name!r}{hint})")
    if header.get(version_key) != version:
        raise error(f"{source}: {kind} format version {short_repr(header.get(version_key))} is unsupported "
                    f"(this melwave reads {version})")
