"""The ONNX Runtime backend: a `Vocoder` that runs an exported graph (melwave.models.onnx.export).

`load_vocoder(X, backend="onnxruntime")` gives an `OnnxVocoder`: for a `.onnx` file melwave wrote,
its session; for anything else, the torch model exported in memory first (seconds; `melwave
export` once and pass the .onnx file to skip that). The MelConfig, family, model config and
chunking context come from the file's metadata, so `prepare_melspectrogram`, mel checks,
`synthesize(chunk_frames=...)` and evaluation work as for the torch model. Only onnxruntime is
needed to run a file (not onnx, not the exporter).

A `.onnx` file is data from elsewhere. Before ONNX Runtime sees it, `inspect_onnx` reads its
protobuf with a small reader of its own (bounded size, nesting and field count) and refuses:
external data (TensorProto `external_data`, see ONNX's external-data rules) whose `location` is
absolute, climbs out with `..`, resolves (through symlinks) outside the model's folder, is not a
regular file, is ONNX Runtime's in-memory address tag, or whose `offset`/`length` run past the
file; metadata of more entries or bytes than melwave writes, or not UTF-8. The metadata melwave
reads comes from that scan, each JSON entry bounded and parsed with one-line errors; the graph
must take one float32 `mel` (batch, n_mels, frames) and give a float32 `wave`. Failures while
running (a graph whose operators reject the input) are one-line `OnnxRunError`s naming the file,
which a batch reports for the one input and goes on.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.errors import CheckpointError, ConfigError, MelwaveError
from melwave.models.base import Vocoder
from melwave.utils.headers import check_format

FORMAT = "melwave-onnx"
VERSION = "1"
# protobuf cannot serialise one message past 2 GiB: bigger models keep weights in external data.
MAX_MODEL_BYTES = 2**31 - 1
# melwave writes 15 metadata entries; its JSON ones (model_config, mel_config, provenance) are a
# few KB. The bounds leave room for other tools' entries and stop a file from making melwave
# decode or parse megabytes of text.
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_BYTES = 256
MAX_METADATA_VALUE_BYTES = 256 * 1024
# An external-data location is a relative file name; keys and values beyond these are not ONNX's.
MAX_EXTERNAL_ENTRY_BYTES = 4096
# protobuf's own parsers stop at 100 nested messages; melwave's graphs nest 2 (graph, node).
MAX_NESTING = 64
# HiFi-GAN V1's exported graph (520 MB) has 14,000 fields on the scanned path, read in 20 ms; a
# file of 2-byte fields could keep the reader busy for many minutes: this stops it within seconds.
MAX_FIELDS = 5_000_000
# Chunking pads each chunk by this many frames either side; melwave's vocoders need < 1000.
MAX_RECEPTIVE_FRAMES = 100_000
# ONNX Runtime reads an external-data location "*/_ORT_MEM_ADDR_/*" as a process memory address.
_ORT_MEMORY_TAG = "_ORT_MEM_ADDR_"
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_BYTE_COUNT = re.compile(r"[0-9]{1,19}")  # fullmatch: `$` would accept a trailing newline
_FAMILY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_NAME_CHARS = 200


class OnnxRunError(MelwaveError):
    """ONNX Runtime failed while running a graph (an input it rejects, an operator that fails),
    or the graph gave an output melwave cannot use."""


class _Malformed(Exception):
    """The bytes are not a protobuf the scan can walk (internal: becomes a CheckpointError)."""


def _one_line(err: BaseException, limit: int = 300) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())[:limit]}"


# --- reading the protobuf ------------------------------------------------------------------

# From onnx.proto: the message-typed fields on every path from ModelProto to a TensorProto (and
# to the model's metadata_props and opset_import): all the scan descends into. "entry" is a
# StringStringEntryProto (key 1, value 2), "opset" an OperatorSetIdProto (domain 1, version 2).
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 8: "opset", 14: "entry", 20: "training", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node", 11: "attribute"},
    "tensor": {13: "entry"},
}
_TENSOR_NAME, _TENSOR_LOCATION = 8, 14


@dataclass
class ExternalRef:
    """One tensor whose data the model says lives in another file."""

    tensor: str
    entries: dict[str, str]
    data_location: int


@dataclass
class OnnxContents:
    """What melwave reads from a model file before ONNX Runtime does."""

    metadata: dict[str, str] = field(default_factory=dict)
    opsets: dict[str, int] = field(default_factory=dict)
    external: list[ExternalRef] = field(default_factory=list)


class _Scanner:
    """A protobuf wire-format walker over bytes or a read-only mmap: fields are visited, long
    byte strings (weights) are skipped by their length, never copied."""

    def __init__(self, buffer: Any):
        self.buffer, self.fields, self.contents = buffer, 0, OnnxContents()

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            if pos >= end or shift > 63:
                raise _Malformed(f"a truncated or overlong varint at byte {pos}")
            byte = self.buffer[pos]
            result |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if byte < 0x80:
                return result, pos

    def walk(self, start: int, end: int):
        """(field number, wire type, value) of one message; a length-delimited value is its span."""
        pos = start
        while pos < end:
            self.fields += 1
            if self.fields > MAX_FIELDS:
                raise _Malformed(f"more than {MAX_FIELDS:,} protobuf fields")
            key, pos = self.varint(pos, end)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = self.varint(pos, end)
            elif wire in (1, 5):
                value, pos = None, pos + (8 if wire == 1 else 4)
            elif wire == 2:
                size, pos = self.varint(pos, end)
                value, pos = (pos, pos + size), pos + size
            else:  # groups (3, 4) are not in onnx.proto; 6 and 7 are not protobuf
                raise _Malformed(f"wire type {wire} at byte {pos}")
            if number == 0:
                raise _Malformed(f"field number 0 at byte {pos}")
            if pos > end:
                raise _Malformed(f"a field runs past the end of its message at byte {pos}")
            yield number, wire, value

    def text(self, start: int, end: int, limit: int, what: str) -> str:
        if end - start > limit:
            raise _Malformed(f"{what} of {end - start:,} bytes (at most {limit:,})")
        try:
            return bytes(self.buffer[start:end]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"{what} is not UTF-8 text") from None

    def entry(self, start: int, end: int, limit: int, what: str) -> tuple[str, str]:
        key = value = ""
        for number, wire, span in self.walk(start, end):
            if wire == 2 and number == 1:
                key = self.text(*span, MAX_METADATA_KEY_BYTES, f"{what} key")
            elif wire == 2 and number == 2:
                value = self.text(*span, limit, f"{what} {key[:40]!r}")
        return key, value

    def opset(self, start: int, end: int) -> None:
        domain, version = "", 0
        for number, wire, value in self.walk(start, end):
            if wire == 2 and number == 1:
                domain = self.text(*value, MAX_METADATA_KEY_BYTES, "opset domain")
            elif wire == 0 and number == 2:
                version = value
        self.contents.opsets["" if domain == "ai.onnx" else domain] = version

    def message(self, kind: str, start: int, end: int, depth: int = 0) -> None:
        if depth > MAX_NESTING:
            raise _Malformed(f"messages nested more than {MAX_NESTING} deep")
        children = _CHILDREN[kind]
        entries: list[tuple[str, str]] = []
        name, location = (0, 0), 0
        for number, wire, value in self.walk(start, end):
            if kind == "tensor" and number == _TENSOR_LOCATION and wire == 0:
                location = value
            if wire != 2:
                continue
            child = children.get(number)
            if child == "entry":
                limit = MAX_METADATA_VALUE_BYTES if kind == "model" else MAX_EXTERNAL_ENTRY_BYTES
                entries.append(self.entry(*value, limit, "metadata" if kind == "model" else "external_data"))
            elif child == "opset":
                self.opset(*value)
            elif child is not None:
                self.message(child, *value, depth + 1)
            elif kind == "tensor" and number == _TENSOR_NAME:
                name = value
        if kind == "model":
            self.contents.metadata = _metadata(entries)
        elif kind == "tensor" and (entries or location == _EXTERNAL):
            shown = bytes(self.buffer[name[0]:min(name[1], name[0] + 200)]).decode("utf-8", "replace")
            self.contents.external.append(ExternalRef(shown, dict(entries), location))


def _metadata(entries: list[tuple[str, str]]) -> dict[str, str]:
    if len(entries) > MAX_METADATA_ENTRIES:
        raise _Malformed(f"{len(entries)} metadata entries (at most {MAX_METADATA_ENTRIES})")
    metadata: dict[str, str] = {}
    for key, value in entries:
        # Two values for one key: whichever a reader takes, another may take the other one.
        if key in metadata:
            raise _Malformed(f"metadata key {key[:40]!r} appears twice")
        metadata[key] = value
    return metadata


def _scan(buffer: Any, size: int, source: str) -> OnnxContents:
    scanner = _Scanner(buffer)
    try:
        scanner.message("model", 0, size)
    except _Malformed as err:
        raise CheckpointError(f"{source}: not a valid ONNX model ({err}); not loaded") from None
    return scanner.contents


# --- external data -------------------------------------------------------------------------

def _escapes(location: str) -> bool:
    """True for a location that is not a plain relative path below the model's folder, on any
    system: absolute (POSIX or Windows, drive or UNC), `..` anywhere, a NUL."""
    windows = PureWindowsPath(location)
    return ("\x00" in location or PurePosixPath(location).is_absolute() or bool(windows.anchor)
            or ".." in windows.parts)


def _byte_count(ref: ExternalRef, key: str, where: str) -> int | None:
    value = ref.entries.get(key)
    if value is None:
        return None
    if not _BYTE_COUNT.fullmatch(value):
        raise CheckpointError(f"{where}: external_data {key}={value[:40]!r} is not a byte count; not loaded")
    return int(value)


def _check_external(ref: ExternalRef, folder: Path, source: str) -> None:
    """Refuse external data ONNX's rules forbid: the file must be a regular file inside the
    model's folder (after symlinks), and offset and length must lie within it."""
    location = ref.entries.get("location", "")
    where = f"{source}: tensor {ref.tensor!r}"
    if not location:
        raise CheckpointError(f"{where}: external data without a location; not loaded")
    shown = repr(location[:120])
    if _ORT_MEMORY_TAG in location:
        raise CheckpointError(f"{where}: external data location {shown} is ONNX Runtime's memory-address tag; not loaded")
    if _escapes(location):
        raise CheckpointError(f"{where}: external data location {shown} is not a relative path inside the model's "
                              f"folder; not loaded")
    root = folder.resolve()
    try:
        target = (folder / location).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        raise CheckpointError(f"{where}: external data file {shown} not found beside the model; not loaded") from None
    if not target.is_relative_to(root):
        raise CheckpointError(f"{where}: external data file {shown} resolves outside the model's folder "
                              f"(a symlink to {str(target)[:120]!r}); not loaded")
    try:
        regular, size = target.is_file(), target.stat().st_size
    except OSError as err:
        raise CheckpointError(f"{where}: external data {shown} unreadable ({err.strerror}); not loaded") from None
    if not regular:
        raise CheckpointError(f"{where}: external data {shown} is not a regular file; not loaded")
    offset, length = _byte_count(ref, "offset", where) or 0, _byte_count(ref, "length", where)
    if offset > size or (length is not None and offset + length > size):
        raise CheckpointError(f"{where}: external data {shown} asks for bytes {offset:,}..{offset + (length or 0):,} "
                              f"of a {size:,}-byte file; not loaded")


def inspect_onnx(model: bytes | str | Path, *, source: str | None = None) -> OnnxContents:
    """Read a model's metadata, opsets and external-data references without ONNX Runtime, and
    refuse what must not reach it (see the module's docstring). Serialized bytes may not refer
    to external data at all: they have no folder."""
    if isinstance(model, (bytes, bytearray)):
        source = source or "the exported graph"
        contents = _scan(model, len(model), source)
        if contents.external:
            raise CheckpointError(f"{source}: tensor {contents.external[0].tensor!r} refers to external data, "
                                  f"which a model held in memory cannot have; not loaded")
        return contents
    path = Path(model)
    source = source or str(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_MODEL_BYTES:
                raise CheckpointError(f"{source}: {size:,} bytes, more than one ONNX protobuf can hold "
                                      f"({MAX_MODEL_BYTES:,}); not loaded")
            if size == 0:
                contents = _scan(b"", 0, source)
            else:
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                    contents = _scan(view, size, source)
    except OSError as err:
        raise CheckpointError(f"{source}: cannot read the ONNX model ({err.strerror or err})") from None
    for ref in contents.external:
        _check_external(ref, path.parent, source)
    return contents


# --- sessions ------------------------------------------------------------------------------

def _session(model: bytes | str | Path, device: str | torch.device, source: str) -> Any:
    """An InferenceSession of a model already through `inspect_onnx`, using torch's thread
    count (OMP_NUM_THREADS / torch.set_num_threads) so both backends get the same cores."""
    from melwave.utils.optional import require

    ort = require("onnxruntime", "the ONNX Runtime backend")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Its failures reach the user as one line; its own log would print them again, in colour.
    options.log_severity_level = 4
    # Only the protobuf format `inspect_onnx` checked, never ORT's flatbuffer format.
    options.add_session_config_entry("session.load_model_format", "ONNX")
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    data = model if isinstance(model, (bytes, bytearray)) else str(model)
    try:
        return ort.InferenceSession(data, sess_options=options, providers=providers)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
        raise CheckpointError(f"{source}: ONNX Runtime cannot load it ({' '.join(str(err).split())[:200]})") from None


def session_from(model: bytes | str | Path, *, device: str | torch.device = "cpu") -> Any:
    """An onnxruntime InferenceSession of a model file or serialized bytes, after `inspect_onnx`."""
    source = "the exported graph" if isinstance(model, (bytes, bytearray)) else str(model)
    inspect_onnx(model, source=source)
    return _session(model, device, source)


def run_graph(session: Any, feeds: dict[str, np.ndarray], source: str, outputs: list[str] | None = None) -> list:
    """session.run with ONNX Runtime's failures as one OnnxRunError naming `source`."""
    try:
        return session.run(outputs if outputs is not None else ["wave"], feeds)
    except Exception as err:  # noqa: BLE001 - Fail, InvalidArgument, RuntimeException...: no common base
        raise OnnxRunError(f"{source}: ONNX Runtime failed running the graph ({_one_line(err)})") from None


# --- melwave's metadata and graph ----------------------------------------------------------

def _json_object(meta: Mapping[str, str], key: str, source: str, *, required: bool) -> dict[str, Any]:
    text = meta.get(key)
    if text is None:
        if required:
            raise CheckpointError(f"{source}: metadata of a melwave ONNX model has no {key!r}")
        return {}
    if len(text) > MAX_METADATA_VALUE_BYTES:
        raise CheckpointError(f"{source}: metadata {key} is {len(text):,} characters (at most {MAX_METADATA_VALUE_BYTES:,})")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as err:  # RecursionError: JSON nested thousands deep
        raise CheckpointError(f"{source}: metadata {key} is not valid JSON ({_one_line(err, 120)})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{source}: metadata {key}: expected a JSON object, got {type(value).__name__}")
    return value


def _family(meta: Mapping[str, str], source: str) -> str:
    """Callers branch on the family: a plain identifier, not text from a file shown anywhere."""
    value = meta.get("family", "onnx")
    if not _FAMILY.fullmatch(value):
        raise CheckpointError(f"{source}: metadata family={value[:60]!r}: expected up to 64 letters, digits, '-', '_', '.'")
    return value


def _name(meta: Mapping[str, str], source: str) -> str | None:
    """Messages show the name inside one line: printable and short."""
    value = meta.get("name")
    if value is not None and (len(value) > MAX_NAME_CHARS or not value.isprintable()):
        raise CheckpointError(f"{source}: metadata name={value[:60]!r}: expected up to {MAX_NAME_CHARS} printable characters")
    return value or None


@dataclass(frozen=True)
class OnnxHeader:
    """melwave's metadata of an exported graph, checked."""

    family: str
    name: str | None
    mel_config: MelConfig
    model_config: dict[str, Any]
    receptive_frames: int
    provenance: dict[str, Any]

    @classmethod
    def parse(cls, meta: Mapping[str, str], source: str) -> "OnnxHeader":
        check_format(meta, source=source, kind="ONNX model exported by melwave", article="an", name=FORMAT,
                     version=VERSION, error=CheckpointError, keys=("melwave.format", "melwave.version"))
        mel = _json_object(meta, "mel_config", source, required=True)
        try:
            mel_config = MelConfig.from_dict(mel, source=f"{source}: metadata mel_config")
        except ConfigError as err:
            raise CheckpointError(str(err)) from None
        receptive = meta.get("receptive_frames", "")
        if not re.fullmatch(r"[0-9]{1,6}", receptive) or int(receptive) > MAX_RECEPTIVE_FRAMES:
            raise CheckpointError(f"{source}: metadata receptive_frames={receptive[:20]!r}: expected an integer "
                                  f"0..{MAX_RECEPTIVE_FRAMES}")
        return cls(family=_family(meta, source), name=_name(meta, source),
                   mel_config=mel_config, model_config=_json_object(meta, "model_config", source, required=False),
                   receptive_frames=int(receptive), provenance=_json_object(meta, "provenance", source, required=False))


def _describe(args: list[Any]) -> str:
    text = ", ".join(f"{str(a.name)[:40]!r} {a.type} {a.shape}" for a in args[:4])
    return f"[{text}{', ...' if len(args) > 4 else ''}]"


def _matches(arg: Any, name: str, rank: int, fixed: dict[int, int]) -> bool:
    shape = arg.shape
    return (arg.name == name and arg.type == "tensor(float)" and isinstance(shape, list) and len(shape) == rank
            and all(not isinstance(shape[axis], int) or shape[axis] == size for axis, size in fixed.items()))


def check_graph_io(session: Any, n_mels: int, source: str) -> None:
    """A melwave vocoder graph takes one float32 `mel` (batch, n_mels, frames) and gives a float32
    `wave` (batch, samples): refuse others at load, not at the first file of a batch."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if not (len(inputs) == 1 and _matches(inputs[0], "mel", 3, {1: n_mels})
            and any(_matches(out, "wave", 2, {}) for out in outputs)):
        raise CheckpointError(f"{source}: the graph takes {_describe(inputs)} and gives {_describe(outputs)}; a melwave "
                              f"vocoder graph takes one float32 'mel' (batch, {n_mels}, frames) and gives float32 'wave' "
                              f"(batch, samples)")


class OnnxVocoder(Vocoder):
    """mel (B, n_mels, frames) -> wave (B, frames · hop), computed by an ONNX Runtime session."""

    backend = "onnxruntime"

    def __init__(self, session: Any, meta: Mapping[str, str] | OnnxHeader, *, source: str):
        header = meta if isinstance(meta, OnnxHeader) else OnnxHeader.parse(meta, source)
        check_graph_io(session, header.mel_config.n_mels, source)
        super().__init__(header.model_config, mel_config=header.mel_config)
        self.family = header.family  # the exported family: callers branching on it see the real one
        self.provenance = header.provenance
        self._source = source
        self._session = session
        self._receptive = header.receptive_frames
        self.name = header.name or Path(source).stem

    def config_dict(self) -> dict[str, Any]:
        return dict(self.config or {})

    def forward(self, mel: Tensor) -> Tensor:
        batch, frames = mel.shape[0], mel.shape[-1]
        wave = run_graph(self._session, {"mel": mel.detach().float().cpu().contiguous().numpy()}, self._source)[0]
        expected = (batch, frames * self.hop_length)
        if not isinstance(wave, np.ndarray) or wave.dtype != np.float32 or wave.shape != expected:
            got = f"{wave.dtype} {wave.shape}" if isinstance(wave, np.ndarray) else type(wave).__name__
            raise OnnxRunError(f"{self._source}: the graph gave {got} for {batch} mel(s) of {frames} frames; "
                               f"expected float32 {expected}")
        return torch.from_numpy(wave).to(mel.device)

    @property
    def receptive_frames(self) -> int:
        return self._receptive


def load_onnx(model: bytes | str | Path, *, source: str, device: str | torch.device = "cpu") -> OnnxVocoder:
    """An OnnxVocoder of a graph melwave exported: a `.onnx` file, or the bytes of an export made
    in memory (`melwave.models.onnx.export.export_bytes`; `melwave.models.io.load` does that for
    `load_vocoder(..., backend="onnxruntime")`). `source` names it in messages."""
    if not isinstance(model, bytes):
        model = Path(model)
        if not model.is_file():
            raise CheckpointError(f"{model}: no such ONNX model file")
    # Metadata and external data are checked before ONNX Runtime parses the file.
    header = OnnxHeader.parse(inspect_onnx(model, source=source).metadata, source)
    vocoder = OnnxVocoder(_session(model, device, source), header, source=source)
    if isinstance(model, bytes):
        vocoder.name = source
    return vocoder.eval()
