"""Reading YAML and JSON that a stranger may have written: bounded memory, bounded work, and
every failure one line naming the file.

Configs arrive from people we do not know (model folders, `--mel-config FILE`, run configs), so
the readers here assume the bytes are hostile. What they refuse, and the caps (module constants):

- files larger than MAX_CONFIG_BYTES (read with a bounded read, never the whole of a 10 GB file),
  directories and devices (only regular files and pipes are read), bad UTF-8, NUL bytes;
- nesting deeper than MAX_DEPTH collections (checked while parsing, before Python's own recursion
  could overflow: `json.loads` would raise RecursionError, a YAML constructor would recurse);
- YAML documents with more than MAX_NODES nodes once aliases are expanded ("billion laughs": a
  700-byte file whose nine levels of nine aliases stand for 9**9 values). Each alias is charged
  the full size of what it points to, while the document is composed and before any Python
  object is built; an alias to a node that contains it (a cycle) is refused outright. Anchors and
  aliases within the budget keep working, as PyYAML's files and hand-written configs use them;
- number literals longer than MAX_NUMBER_CHARS (int() of 5000 digits raises ValueError, and a huge
  integer is slow to convert), and decimal literals that overflow to infinity (1e999). YAML's
  spelled-out `.inf` / `.nan` stay accepted; JSON's non-standard NaN/Infinity only with
  `allow_nonfinite=True`.

YAML is loaded with `yaml.SafeLoader`'s constructor and resolver (data only: no tag builds an
object), so accepted values are those `yaml.safe_load` returns. Events come from libyaml when
PyYAML has it (about 100 times faster; its scanner also stops at 1000 levels of its own), else
from PyYAML's pure-Python parser; the counting composer is the same Python code either way.

API (`error`: the MelwaveError subclass to raise, ConfigError unless the caller says otherwise;
`source`: how messages name the input, e.g. the path):

    parse_yaml(text, *, source, error=ConfigError) -> Any          text: str or bytes
    read_yaml(path, *, error=ConfigError, what="config") -> Any
    parse_json(text, *, source, error=ConfigError, allow_nonfinite=False) -> Any
    read_json(path, *, error=ConfigError, what="config", allow_nonfinite=False) -> Any
    read_config_text(path, *, error=ConfigError, what="config") -> str
    short_repr(value, limit=60) -> str     repr for messages, at most `limit` characters
    short_str(value, limit=60) -> str      the same, but a string shows as itself (keys, names)

Messages are one line: `SOURCE: line L, column C: what is wrong` for a cap,
`SOURCE: not valid YAML (what the parser says at line L, column C)` for a syntax error, and
show values only through `short_repr` (builtin scalars and containers, and dataclasses field by
field, are rendered lazily and cut at `limit`; other objects by their own repr).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.resolver import Resolver

from melwave.errors import ConfigError, MelwaveError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # largest config file (or text) read
MAX_DEPTH = 64                       # most collections nested inside each other
MAX_NODES = 100_000                  # most YAML nodes in a document, aliases expanded
MAX_NUMBER_CHARS = 100               # longest int/float literal
MESSAGE_DETAIL_CHARS = 200           # longest parser explanation quoted in a message

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


# --- short values for messages ---------------------------------------------------------------
def short_repr(value: Any, limit: int = 60) -> str:
    """`repr(value)` when that is at most `limit` characters, else its first `limit - 3` and "...".

    Work is bounded by `limit`, not by the value: containers are rendered lazily and rendering
    stops once `limit` characters exist, so a huge or deeply nested (even cyclic) list is never
    walked in full; long strings are cut before repr and huge ints are described, not converted.
    Objects other than the builtin scalars, containers and dataclasses are shown by their own
    repr, which they are trusted to keep short (Paths, numpy arrays and tensors do).
    """
    pieces: list[str] = []
    size = 0
    for piece in _repr_pieces(value, limit):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    text = "".join(pieces)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def short_str(value: Any, limit: int = 60) -> str:
    """Like `short_repr`, but a string shows as itself (for keys and names inside a message)."""
    if type(value) is str:
        text = value if value.isprintable() else ascii(value)[1:-1]
        return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
    return short_repr(value, limit)


def _repr_pieces(value: Any, limit: int) -> Iterator[str]:
    """repr(value) in pieces, produced only as far as the consumer reads."""
    kind = type(value)
    if kind is str or kind is bytes:
        # Cut before repr: repr of a 16 MiB string copies it; the cut repr is longer than limit anyway.
        yield repr(value if len(value) <= limit else value[: limit + 1])
    elif kind is int:
        yield _int_repr(value, limit)
    elif kind in (list, tuple, set, frozenset):
        yield from _sequence_pieces(value, limit)
    elif kind is dict:
        yield from _items_pieces("{", value.items(), "}", limit)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr)
        yield from _items_pieces(f"{kind.__name__}(", items, ")", limit, keyword=True)
    else:
        try:
            yield repr(value)
        except Exception:  # noqa: BLE001 - a message must not fail because a value's repr does
            yield f"<{kind.__name__}>"


def _int_repr(value: int, limit: int) -> str:
    # repr of an int over 4300 digits raises ValueError, and a huge one is slow to convert.
    digits = int(value.bit_length() * math.log10(2)) + 1
    return repr(value) if digits <= limit + 20 else f"<int of about {digits} digits>"


def _sequence_pieces(value: Any, limit: int) -> Iterator[str]:
    kind = type(value)
    if kind in (set, frozenset) and not value:
        yield f"{kind.__name__}()"
        return
    opening, closing = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"), frozenset: ("frozenset({", "})")}[kind]
    yield opening
    for index, item in enumerate(value):
        if index:
            yield ", "
        yield from _repr_pieces(item, limit)
    if kind is tuple and len(value) == 1:
        yield ","
    yield closing


def _items_pieces(opening: str, items: Any, closing: str, limit: int, *, keyword: bool = False) -> Iterator[str]:
    yield opening
    for index, (key, item) in enumerate(items):
        if index:
            yield ", "
        if keyword:
            yield f"{key}="
        else:
            yield from _repr_pieces(key, limit)
            yield ": "
        yield from _repr_pieces(item, limit)
    yield closing


def _one_line(text: str, limit: int = MESSAGE_DETAIL_CHARS) -> str:
    """Whitespace runs (newlines included) as single spaces, cut to `limit` characters."""
    flat = " ".join(text[: 4 * limit].split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _name(source: Any) -> str:
    """How messages name the input: as given, unless it holds newlines or other control characters."""
    return short_str(str(source), 300)


# --- text: size, encoding, NUL bytes, files --------------------------------------------------
def _as_text(data: str | bytes, source: str, error: type[MelwaveError]) -> str:
    """Checked text: at most MAX_CONFIG_BYTES, valid UTF-8 (a leading BOM dropped), no NUL."""
    if not isinstance(data, (str, bytes, bytearray)):
        raise error(f"{source}: expected text, got {type(data).__name__}")
    if len(data) > MAX_CONFIG_BYTES:
        raise error(f"{source}: too large ({len(data)} bytes; the limit is {MAX_CONFIG_BYTES // 2**20} MiB)")
    if isinstance(data, str):
        try:
            data.encode("utf-8")  # lone surrogates cannot be parsed or written back
        except UnicodeEncodeError as err:
            raise error(f"{source}: not valid text (a lone surrogate at character {err.start})") from None
        text = data.removeprefix("\ufeff")
    else:
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise error(f"{source}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None
    nul = text.find("\0")
    if nul >= 0:
        raise error(f"{source}: contains a NUL byte at character {nul} (a binary file?)")
    return text


def read_config_text(path: str | Path, *, error: type[MelwaveError] = ConfigError, what: str = "config") -> str:
    """The checked text (see `_as_text`) of a config file, read with a bounded read.

    Regular files and pipes (`<(...)`, a piped /dev/stdin) are read; directories and devices are
    refused, since a device can block or never end. A pipe is opened without waiting for a
    writer, so a FIFO that nobody writes to reads as empty instead of hanging.
    """
    name = _name(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise error(f"{name}: cannot read the {what} ({err.strerror or err})") from None
    try:
        data = _bounded_read(fd, name, error, what)
    finally:
        os.close(fd)
    return _as_text(data, name, error)


def _bounded_read(fd: int, name: str, error: type[MelwaveError], what: str) -> bytes:
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{name}: cannot read the {what} (it is a directory)")
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
            raise error(f"{name}: cannot read the {what} (not a regular file)")
        if info.st_size > MAX_CONFIG_BYTES:
            raise error(f"{name}: too large ({info.st_size} bytes; the limit is {MAX_CONFIG_BYTES // 2**20} MiB)")
        if stat.S_ISFIFO(info.st_mode) and hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # opened without waiting; now wait for what the writer sends
        chunks, size = [], 0
        while size <= MAX_CONFIG_BYTES:  # the file may grow, or st_size may not know (pipes, /proc)
            chunk = os.read(fd, min(1 << 20, MAX_CONFIG_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise error(f"{name}: cannot read the {what} ({err.strerror or err})") from None
    if size > MAX_CONFIG_BYTES:
        raise error(f"{name}: too large (over {MAX_CONFIG_BYTES // 2**20} MiB)")
    return b"".join(chunks)


# --- YAML ------------------------------------------------------------------------------------
class _Refusal(Exception):
    """A limit was hit; carries the message and where in the document (a yaml Mark or None)."""

    def __init__(self, message: str, mark: Any = None):
        super().__init__(message)
        self.mark = mark


class _BudgetComposer(Composer):
    """PyYAML's composer, counting: every node costs 1 and every alias the expanded size of its
    anchor, against MAX_NODES; the nesting an alias reaches counts against MAX_DEPTH too. Both
    are checked as each event arrives, so a hostile document is refused after work proportional
    to its length, before the constructor builds anything."""

    def __init__(self) -> None:
        Composer.__init__(self)
        self._reset_budget()

    def _reset_budget(self) -> None:
        self.nodes_charged = 0          # the document's nodes so far, aliases expanded
        self._open = 0                  # collections enclosing the current node
        self._deepest = [0]             # per open collection: the deepest nesting reached inside
        self._anchor_costs: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, nesting height)

    def compose_document(self) -> Any:
        self._reset_budget()
        try:
            return Composer.compose_document(self)
        finally:
            self._anchor_costs = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            cost = self._anchor_costs.get(event.anchor)
            if cost is None and event.anchor in self.anchors:
                raise _Refusal(f"alias *{short_str(event.anchor, 40)} refers to a collection that contains it", event.start_mark)
            if cost is not None:  # an undefined alias is PyYAML's own error
                self._charge(*cost, event.start_mark)
            return Composer.compose_node(self, parent, index)
        collection = isinstance(event, CollectionStartEvent)
        before = self.nodes_charged
        self._charge(1, int(collection), event.start_mark)
        if collection:
            self._open += 1
            self._deepest.append(self._open)
        node = Composer.compose_node(self, parent, index)
        height = 0
        if collection:
            self._open -= 1
            height = self._deepest.pop() - self._open
            self._deepest[-1] = max(self._deepest[-1], self._open + height)
        if event.anchor is not None:
            self._anchor_costs[event.anchor] = (self.nodes_charged - before, height)
        return node

    def _charge(self, nodes: int, height: int, mark: Any) -> None:
        self.nodes_charged += nodes
        if self.nodes_charged > MAX_NODES:
            raise _Refusal(f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)", mark)
        reach = self._open + height
        if reach > MAX_DEPTH:
            raise _Refusal(f"nested deeper than {MAX_DEPTH} levels", mark)
        self._deepest[-1] = max(self._deepest[-1], reach)

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = Composer.compose_scalar_node(self, anchor)
        if node.tag in (_INT_TAG, _FLOAT_TAG) and len(node.value) > MAX_NUMBER_CHARS:
            raise _Refusal(f"a number of {len(node.value)} characters (the limit is {MAX_NUMBER_CHARS})", node.start_mark)
        return node


class _LimitedConstructor(SafeConstructor):
    """SafeConstructor (data only) that refuses decimal literals overflowing to infinity, and turns
    whatever PyYAML's scalar constructors raise for a bad value under an explicit or implied tag
    into a refusal with a place: ValueError for `!!int abc` or the date 2024-02-30, IndexError
    for an empty `!!int`, KeyError for `!!bool maybe`, AttributeError for `!!timestamp x`."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return SafeConstructor.construct_object(self, node, deep=deep)
        except (yaml.YAMLError, _Refusal):
            raise
        except Exception as err:  # noqa: BLE001 - see the class docstring: the types vary by tag
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            detail = f" ({_one_line(str(err), 80)})" if isinstance(err, ValueError) else ""
            raise _Refusal(f"invalid {short_str(tag, 40)} value {short_repr(getattr(node, 'value', None))}{detail}",
                           node.start_mark) from None

    def construct_yaml_float(self, node: Any) -> float:
        value = SafeConstructor.construct_yaml_float(self, node)
        if math.isinf(value) and "inf" not in node.value.lower():  # `.inf` is meant, 1.0e+999 is not
            raise _Refusal(f"number out of range: {short_str(node.value)}", node.start_mark)
        return value


_LimitedConstructor.add_constructor(_FLOAT_TAG, _LimitedConstructor.construct_yaml_float)


def _loader_classes() -> dict[str, type]:
    """The loaders available here: "c" (libyaml events) if PyYAML was built with it, "python" always."""
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class PythonLoader(_BudgetComposer, Reader, Scanner, Parser, _LimitedConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            _BudgetComposer.__init__(self)
            _LimitedConstructor.__init__(self)
            Resolver.__init__(self)

    loaders: dict[str, type] = {"python": PythonLoader}
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML without libyaml
        return loaders

    class CLoader(_BudgetComposer, CParser, _LimitedConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _BudgetComposer.__init__(self)
            _LimitedConstructor.__init__(self)
            Resolver.__init__(self)

    return {"c": CLoader, **loaders}


LOADERS = _loader_classes()
_Loader = LOADERS.get("c", LOADERS["python"])  # which one parse_yaml uses (tests swap it)


def parse_yaml(text: str | bytes, *, source: str, error: type[MelwaveError] = ConfigError) -> Any:
    """The one YAML document in `text`, as `yaml.safe_load` would return it, or `error`.

    Raises `error` (one line starting with `source`) for text over the size cap, bad UTF-8 or a
    NUL, invalid YAML or tags that are not plain data, more than one document, and documents
    over MAX_NODES (aliases expanded), MAX_DEPTH or MAX_NUMBER_CHARS. Empty text gives None.
    """
    name = _name(source)
    text = _as_text(text, name, error)
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
        return loader.get_single_data()
    except _Refusal as refusal:
        raise error(f"{name}: {_at(refusal.mark, '', ': ')}{refusal}") from None
    except yaml.MarkedYAMLError as err:
        # Built from the parts: str(err) spans lines and quotes the source line under a caret.
        detail = f"{err.problem or type(err).__name__}{_at(err.problem_mark, ' at ', '')}"
        if err.context:
            detail = f"{err.context}{_at(err.context_mark, ' at ', '')}: {detail}"
        raise error(f"{name}: not valid YAML ({_one_line(detail)})") from None
    except yaml.reader.ReaderError as err:  # characters YAML does not allow (control characters)
        character = f"U+{err.character:04X}" if isinstance(err.character, int) else short_repr(err.character)
        raise error(f"{name}: not valid YAML (character {character} at offset {err.position}: {err.reason})") from None
    except yaml.YAMLError as err:
        raise error(f"{name}: not valid YAML ({_one_line(str(err))})") from None
    except (ValueError, TypeError, OverflowError, LookupError) as err:  # not seen in fuzzing; a line, never a traceback
        raise error(f"{name}: not valid YAML ({_one_line(str(err))})") from None
    finally:
        if loader is not None:
            loader.dispose()


def _at(mark: Any, before: str, after: str) -> str:
    """`line L, column C` (1-based, as editors count) between `before` and `after`, or "" without a mark."""
    return "" if mark is None else f"{before}line {mark.line + 1}, column {mark.column + 1}{after}"


def read_yaml(path: str | Path, *, error: type[MelwaveError] = ConfigError, what: str = "config") -> Any:
    """`parse_yaml` of the file at `path` (read by `read_config_text`); messages name the path."""
    return parse_yaml(read_config_text(path, error=error, what=what), source=str(path), error=error)


# --- JSON ------------------------------------------------------------------------------------
# Inside a string an escape pair is one token, so an escaped quote never ends the string.
_JSON_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _json_depth_refusal(text: str) -> str | None:
    """The refusal for nesting deeper than MAX_DEPTH, found without recursion, or None.

    One pass over the brackets and quotes (an unbalanced or malformed text is json's to report:
    this only has to see every bracket that json would descend into)."""
    depth, in_string = 0, False
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or token[0] == "\\":
            continue
        elif token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                return f"line {line}, column {column}: nested deeper than {MAX_DEPTH} levels"
        else:
            depth -= 1
    return None


def parse_json(text: str | bytes, *, source: str, error: type[MelwaveError] = ConfigError,
               allow_nonfinite: bool = False) -> Any:
    """The JSON value in `text`, as `json.loads` would return it, or `error` (one line naming
    `source`): over the size cap, bad UTF-8 or a NUL, invalid JSON, nesting over MAX_DEPTH,
    number literals over MAX_NUMBER_CHARS or overflowing to infinity, and the non-standard
    constants NaN/Infinity/-Infinity unless `allow_nonfinite` (Python's json.dumps writes them
    by default, so files melwave wrote itself may hold them)."""
    name = _name(source)
    text = _as_text(text, name, error)
    deep = _json_depth_refusal(text)
    if deep:
        raise error(f"{name}: {deep}")
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=_json_constant if not allow_nonfinite else _json_nonfinite)
    except _Refusal as refusal:
        raise error(f"{name}: {refusal}") from None
    except json.JSONDecodeError as err:
        # json's messages expect a place after them, some ending in "at" ("Invalid control character at").
        what = _one_line(err.msg) if err.msg.endswith(" at") else f"{_one_line(err.msg)} at"
        raise error(f"{name}: not valid JSON ({what} line {err.lineno}, column {err.colno})") from None
    except RecursionError:  # unreachable after the depth check; kept so no path gives a traceback
        raise error(f"{name}: nested too deeply") from None


def _json_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refusal(f"a number of {len(literal)} characters (the limit is {MAX_NUMBER_CHARS})")
    return int(literal)


def _json_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _Refusal(f"a number of {len(literal)} characters (the limit is {MAX_NUMBER_CHARS})")
    value = float(literal)
    if math.isinf(value):
        raise _Refusal(f"number out of range: {literal}")
    return value


def _json_constant(name: str) -> float:
    raise _Refusal(f"{name} is not a JSON number")


def _json_nonfinite(name: str) -> float:
    return float(name)


def read_json(path: str | Path, *, error: type[MelwaveError] = ConfigError, what: str = "config",
              allow_nonfinite: bool = False) -> Any:
    """`parse_json` of the file at `path` (read by `read_config_text`); messages name the path."""
    return parse_json(read_config_text(path, error=error, what=what), source=str(path), error=error,
                      allow_nonfinite=allow_nonfinite)
