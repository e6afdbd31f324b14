"""Reading `torch.save` files as data: no code runs, and nothing is allocated that the file's own
bytes do not justify.

This is the one reader behind every torch pickle melwave opens (mel `.pt` files, training
checkpoints, and the checkpoints other projects publish). It never calls `torch.load`; it reads
both of torch's formats itself:

- the zip format (torch >= 1.6): `<archive>/data.pkl` (the pickle: structure and names) and
  `<archive>/data/<key>` (one member per storage, raw bytes);
- the legacy format: pickles in a row (magic number, protocol, system info, the object, the
  list of storage keys), then each storage as an 8-byte element count and its bytes.

Which one a file is is decided by its first four bytes, as torch decides: a file that starts
with a pickle and ends with a zip is read as the pickle it starts with (and refused if that
pickle wants code), never as the zip at its end. `pickle_stream`, which layout detection sniffs,
follows the same rule.

Every pickle goes through one restricted unpickler: the globals it may name are an allow-list
of plain containers, torch sizes/dtypes/devices, storage types and tensor rebuild functions
(ours, which check before building), plus the caller's `stand_ins` (a class the authors pickled,
mapped to a plain class allowed in its place). Anything else raises the caller's unsafe-file
error naming the global; nothing named by the file is ever imported or called.

Bounds, all checked before bytes are read, inflated or allocated:
- a pickle is at most MAX_PICKLE_BYTES and rebuilds at most MAX_TENSORS tensors;
- a zip holds at most MAX_MEMBERS members; a compressed member inflates at most
  MAX_MEMBER_RATIO times its compressed size; all members read together stay within
  MAX_INFLATE_FACTOR x the file's size + MAX_INFLATE_SLACK (zip entries can overlap on disk,
  so a small file could otherwise name the same bytes a thousand times);
- a storage must be exactly the bytes its declared element count needs, and present in the file;
- a tensor must fit its storage: strides >= 0, its last element inside the storage, and no
  more elements than the storage holds (an expanded, stride-0 "giant" becomes its full size at
  the first operation on it).
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, Callable

from melwave.errors import CheckpointError, MelwaveError, UnsafeFileError

MAX_PICKLE_BYTES = 16 * 2**20
MAX_TENSORS = 100_000
MAX_MEMBERS = 200_000
MAX_MEMBER_RATIO = 100
MAX_INFLATE_FACTOR = 2
MAX_INFLATE_SLACK = 16 * 2**20
MAX_TENSOR_DIMS = 64
MAX_KEY_CHARS = 64

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001


class _Refused(Exception):
    """Raised while reading; turned into the caller's error type, prefixed with the file."""

    def __init__(self, message: str, *, unsafe: bool = False):
        super().__init__(message)
        self.unsafe = unsafe


def _one_line(err: BaseException, limit: int = 120) -> str:
    return " ".join(str(err).split())[:limit] or type(err).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- what a pickle may name ------------------------------------------------------------------


class _StorageType:
    """What a pickled storage class (torch.FloatStorage, ...) stands for: its element type."""

    def __init__(self, dtype):
        self.dtype = dtype


class _TensorType:
    """Stands for torch.Tensor / torch.nn.Parameter where a pickle names the class (as the
    `new_type` of `_rebuild_from_type_v2`); the real classes are never handed to the unpickler,
    whose NEWOBJ could call `torch.Tensor(10**12)`."""

    def __init__(self, parameter: bool = False):
        self.parameter = parameter


class _Storage:
    """A storage of the file: a flat tensor of its dtype (on `meta` while only its size is known)."""

    def __init__(self, flat):
        self.flat = flat


def _storage_types() -> dict[str, _StorageType]:
    import torch

    names = {"Double": torch.float64, "Float": torch.float32, "Half": torch.float16, "BFloat16": torch.bfloat16,
             "Long": torch.int64, "Int": torch.int32, "Short": torch.int16, "Char": torch.int8, "Byte": torch.uint8,
             "Bool": torch.bool, "ComplexFloat": torch.complex64, "ComplexDouble": torch.complex128}
    # A GPU-saved file names cuda storages; they are read onto the CPU like the others.
    table = {f"{prefix}.{name}Storage": _StorageType(dtype)
             for prefix in ("torch", "torch.cuda") for name, dtype in names.items()}
    table["torch.UntypedStorage"] = table["torch.storage.UntypedStorage"] = _StorageType(torch.uint8)
    return table


def _as_ints(value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)) and len(value) <= MAX_TENSOR_DIMS and all(_is_int(v) for v in value):
        return tuple(value)
    raise _Refused(f"tensor {what} {str(value)[:60]} is not a short tuple of integers")


class _Rebuilder:
    """torch's tensor rebuild functions, checking every number against the storage first and
    counting the tensors one file may rebuild."""

    def __init__(self):
        self.tensors = 0

    def tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any, **__: Any):
        """`torch._utils._rebuild_tensor(_v2)(storage, offset, size, stride, ...)`."""
        self.tensors += 1
        if self.tensors > MAX_TENSORS:
            raise _Refused(f"it holds more than {MAX_TENSORS:,} tensors")
        if not isinstance(storage, _Storage):
            raise _Refused("a tensor refers to something that is not a storage of this file")
        size, stride = _as_ints(size, "shape"), _as_ints(stride, "strides")
        if not _is_int(offset) or offset < 0 or len(size) != len(stride) or min(size + stride, default=0) < 0:
            raise _Refused(f"shape {size}, strides {stride} and offset {str(offset)[:20]} do not describe a tensor")
        held = storage.flat.numel()
        numel = 1
        for s in size:
            numel *= s
        last = offset + sum((s - 1) * st for s, st in zip(size, stride)) if numel else offset - 1
        if last >= held or numel > held - offset:
            raise _Refused(f"a tensor of shape {size} (strides {stride}, offset {offset}) needs more than the "
                           f"{held:,} values its storage holds (an expanded or truncated tensor)")
        return storage.flat.as_strided(size, stride, offset)

    def tensor_v3(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                  backward_hooks: Any = None, dtype: Any = None, metadata: Any = None):
        """`torch._utils._rebuild_tensor_v3`: the same, with the dtype given beside an untyped storage."""
        import torch

        if isinstance(storage, _Storage) and isinstance(dtype, torch.dtype) and storage.flat.dtype != dtype:
            raw = storage.flat.view(torch.uint8) if storage.flat.dtype == torch.uint8 else None
            if raw is None or raw.numel() % dtype.itemsize:
                raise _Refused(f"a {dtype} tensor over a storage that does not hold whole {dtype} values")
            storage = _Storage(raw.view(dtype))
        return self.tensor(storage, offset, size, stride)

    @staticmethod
    def parameter(data: Any, requires_grad: Any = False, *_: Any):
        import torch

        if not isinstance(data, torch.Tensor):
            raise _Refused("a parameter holds something that is not a tensor")
        return torch.nn.Parameter(data, requires_grad=bool(requires_grad) and data.is_floating_point())

    def from_type(self, func: Any, new_type: Any, args: Any, state: Any = None):
        """`torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`."""
        if func not in (self.tensor, self.tensor_v3, self.parameter) or not isinstance(args, tuple):
            raise _Refused("a tensor is rebuilt by a function melwave does not allow", unsafe=True)
        if not isinstance(new_type, _TensorType):
            raise _Refused("tensor subclasses are not supported")
        result = func(*args)
        return self.parameter(result) if new_type.parameter else result


def _encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    # Protocol-2 pickles spell a bytes object as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8") or errors != "strict":
        raise _Refused("_codecs.encode used for anything but making bytes from text", unsafe=True)
    return text.encode(encoding)


def _bytearray(data: Any = b"") -> bytearray:
    # bytearray(10**12) would allocate a terabyte: only copies of bytes the pickle holds.
    if not isinstance(data, (bytes, bytearray)):
        raise _Refused("bytearray made from something other than bytes", unsafe=True)
    return bytearray(data)


def _size(values: Any = ()) -> Any:
    import torch

    return torch.Size(_as_ints(tuple(values) if isinstance(values, (tuple, list)) else values, "size"))


def _device(*args: Any) -> Any:
    import torch

    if not 1 <= len(args) <= 2 or not isinstance(args[0], str) or len(args[0]) > 32 or \
            (len(args) == 2 and (not _is_int(args[1]) or not 0 <= args[1] < 1024)):
        raise _Refused("torch.device with arguments that are not a device name and index")
    try:
        return torch.device(*args)
    except (RuntimeError, ValueError, TypeError) as err:
        raise _Refused(f"torch.device: {_one_line(err, 60)}") from None


def _allowed_globals(rebuild: _Rebuilder) -> dict[str, Any]:
    import collections

    import torch

    allowed: dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "builtins.set": set, "builtins.frozenset": frozenset, "builtins.complex": complex,
        "builtins.slice": slice, "builtins.bytearray": _bytearray, "_codecs.encode": _encode,
        "torch.Size": _size, "torch.device": _device,
        "torch._utils._rebuild_tensor": rebuild.tensor, "torch._utils._rebuild_tensor_v2": rebuild.tensor,
        "torch._utils._rebuild_tensor_v3": rebuild.tensor_v3,
        "torch._utils._rebuild_parameter": rebuild.parameter,
        "torch._utils._rebuild_parameter_with_state": rebuild.parameter,
        "torch._tensor._rebuild_from_type_v2": rebuild.from_type,
        "torch.Tensor": _TensorType(), "torch.nn.parameter.Parameter": _TensorType(parameter=True),
    }
    allowed.update({f"torch.{name}": value for name in dir(torch)
                    if isinstance(value := getattr(torch, name, None), torch.dtype)})
    allowed.update(_storage_types())
    return allowed


# Tensor kinds torch can pickle that melwave never needs: refused as unsupported (not unsafe).
_UNSUPPORTED = frozenset({"torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
                          "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_wrapper_subclass",
                          "torch._utils._rebuild_meta_tensor_no_storage",
                          "torch._utils._rebuild_device_tensor_from_numpy",
                          "torch._utils._rebuild_device_tensor_from_cpu_tensor"})


class _Unpickler(pickle.Unpickler):
    """The C unpickler with `find_class` held to the allow-list: REDUCE, NEWOBJ, BUILD, INST and
    EXT* can only reach what `find_class` returned, so nothing else can run."""

    def __init__(self, file, allowed: dict[str, Any], persistent: Callable[[Any], Any] | None):
        super().__init__(file, encoding="latin1")
        self._allowed, self._persistent = allowed, persistent

    def find_class(self, module: str, name: str) -> Any:
        # Protocol-2 pickles use Python 2 names (__builtin__.set); map them as pickle's own
        # find_class does (the mapping only renames, and the result still meets the allow-list).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = f"{module}.{name}"
        if key in self._allowed:
            return self._allowed[key]
        if key in _UNSUPPORTED:
            raise _Refused(f"it holds a tensor kind melwave does not load ({key})")
        raise _Refused(f"refusing to load: unpickling it would call {key[:120]} (code execution)", unsafe=True)

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent is None:
            raise _Refused("a pickle refers to an external object where none is allowed")
        return self._persistent(pid)


def _unpickle(stream, allowed: dict[str, Any], persistent=None) -> Any:
    try:
        return _Unpickler(stream, allowed, persistent).load()
    except _Refused:
        raise
    except RecursionError:
        raise _Refused("its pickle nests too deeply") from None
    except MemoryError:
        raise _Refused("its pickle asks for more memory than there is") from None
    except Exception as err:  # noqa: BLE001 - a corrupt pickle fails in many ways
        raise _Refused(f"corrupt pickle ({type(err).__name__}: {_one_line(err)})") from None


def _storage_id(pid: Any, length: int) -> tuple[Any, str, int]:
    """(dtype, key, element count) of a persistent id `('storage', type, key, location, numel, ...)`."""
    if not isinstance(pid, tuple) or len(pid) != length or pid[0] not in ("storage", b"storage"):
        raise _Refused(f"unsupported persistent id {str(pid)[:80]} (saved modules or storage views?)")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if not isinstance(storage_type, _StorageType):
        raise _Refused("a storage of an unknown type")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS or "/" in key or key.startswith("."):
        raise _Refused(f"storage key {str(key)[:40]!r} is not a plain name")
    if not _is_int(numel) or numel < 0:
        raise _Refused(f"storage {key!r} declares {str(numel)[:40]} elements")
    return storage_type.dtype, key, numel


def _typed(raw, dtype, big_endian: bool):
    """Raw bytes (a uint8 tensor) as `dtype` values in this machine's (little-endian) order."""
    import torch

    if big_endian and dtype.itemsize > 1:
        raw = torch.from_numpy(raw.numpy().reshape(-1, dtype.itemsize)[:, ::-1].copy().reshape(-1))
    return raw.view(dtype)


# --- the zip format ------------------------------------------------------------------------------


class _ZipReader:
    """A torch zip file: members checked for count, size and compression before reading."""

    def __init__(self, handle, file_size: int):
        try:
            self.archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
            raise _Refused(f"corrupt or truncated torch zip archive ({_one_line(err)})") from None
        infos = self.archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _Refused(f"its zip holds {len(infos):,} members, more than the {MAX_MEMBERS:,} allowed")
        self.members = {info.filename: info for info in infos}
        self.budget = MAX_INFLATE_FACTOR * file_size + MAX_INFLATE_SLACK
        pickles = [name for name in self.members if name.endswith("data.pkl") and name.count("/") <= 1
                   and name.rsplit("/", 1)[-1] == "data.pkl"]
        if len(pickles) != 1:
            raise _Refused("not a torch file (a zip without exactly one <archive>/data.pkl)")
        self.prefix = pickles[0][: -len("data.pkl")]

    def _claim(self, name: str, size: int | None, limit: int) -> zipfile.ZipInfo:
        """The member `name`, checked (and its inflated size charged to the budget) before reading."""
        info = self.members.get(name)
        shown = repr(name[:100])
        if info is None:
            raise _Refused(f"zip member {shown} is missing")
        if info.flag_bits & 0x1:
            raise _Refused(f"zip member {shown} is encrypted")
        if size is not None and info.file_size != size:
            raise _Refused(f"zip member {shown} holds {info.file_size:,} bytes where its pickle declares {size:,}")
        if info.file_size > limit:
            raise _Refused(f"zip member {shown} is {info.file_size:,} bytes, more than the {limit:,} allowed")
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
            raise _Refused(f"zip member {shown} would inflate {info.compress_size:,} bytes to {info.file_size:,} "
                           f"(more than {MAX_MEMBER_RATIO}x: a zip bomb?)")
        if info.file_size > self.budget:
            raise _Refused(f"its zip members inflate to more than {MAX_INFLATE_FACTOR}x the file's size "
                           "(overlapping or bomb members?)")
        self.budget -= info.file_size
        return info

    def _read_into(self, info: zipfile.ZipInfo, buffer: memoryview) -> None:
        shown = repr(info.filename[:100])
        try:
            with self.archive.open(info) as member:
                done = 0
                while done < len(buffer):
                    got = member.readinto(buffer[done:])
                    if not got:
                        raise _Refused(f"zip member {shown} is truncated")
                    done += got
        except _Refused:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as err:
            raise _Refused(f"zip member {shown} is unreadable ({_one_line(err)})") from None

    def read_bytes(self, name: str, limit: int) -> bytes:
        info = self._claim(name, None, limit)
        buffer = bytearray(info.file_size)
        self._read_into(info, memoryview(buffer))
        return bytes(buffer)

    def load(self, allowed: dict[str, Any]) -> Any:
        import torch

        big_endian = False
        if self.prefix + "byteorder" in self.members:
            order = self.read_bytes(self.prefix + "byteorder", 16).strip()
            if order not in (b"little", b"big"):
                raise _Refused(f"unknown byte order {order[:16]!r}")
            big_endian = order == b"big"
        pickled = self.read_bytes(self.prefix + "data.pkl", MAX_PICKLE_BYTES)
        storages: dict[str, _Storage] = {}

        def persistent_load(pid: Any) -> _Storage:
            dtype, key, numel = _storage_id(pid, 5)
            if key not in storages:
                nbytes = numel * dtype.itemsize
                info = self._claim(f"{self.prefix}data/{key}", nbytes, nbytes)  # before allocating
                raw = torch.empty(nbytes, dtype=torch.uint8)
                self._read_into(info, memoryview(raw.numpy()))
                storages[key] = _Storage(_typed(raw, dtype, big_endian))
            elif storages[key].flat.numel() != numel:
                raise _Refused(f"storage {key!r} is declared with two different sizes")
            return storages[key]

        return _unpickle(io.BytesIO(pickled), allowed, persistent_load)


# --- the legacy format ---------------------------------------------------------------------------


class _Bounded(io.RawIOBase):
    """A read-only window on `handle` that hands out at most `limit` bytes, so one pickle of a
    legacy file cannot make the unpickler read the whole (possibly huge) stream. No `peek`: the
    C unpickler then reads exactly the bytes it consumes, and the file position after a pickle
    is where the next one starts."""

    def __init__(self, handle, limit: int):
        self.handle, self.left = handle, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise _Refused(f"a pickle in it is longer than {MAX_PICKLE_BYTES:,} bytes")
        got = self.handle.readinto(memoryview(buffer)[: self.left]) or 0
        self.left -= got
        return got

    def readline(self, size: int | None = -1) -> bytes:
        limit = self.left if size is None or size < 0 else min(size, self.left)
        line = self.handle.readline(limit)
        self.left -= len(line)
        return line


class _LegacyReader:
    """torch's pre-1.6 format. Tensors are rebuilt while their pickle is read, before the
    storages' bytes (which follow it) are known to exist: the object pickle is read twice, first
    over shape-only (meta) storages to learn and check every size, then over the real ones."""

    def __init__(self, handle, file_size: int):
        self.handle, self.file_size = handle, file_size

    def _pickle(self, allowed: dict[str, Any], persistent=None) -> Any:
        return _unpickle(_Bounded(self.handle, MAX_PICKLE_BYTES), allowed, persistent)

    def load(self, allowed: dict[str, Any], make_allowed: Callable[[], dict[str, Any]]) -> Any:
        import torch

        plain: dict[str, Any] = {}
        try:
            magic = self._pickle(plain)
        except _Refused as refused:
            if refused.unsafe:
                raise
            raise _Refused("not a torch file (neither a zip nor a legacy torch pickle)") from None
        if magic != LEGACY_MAGIC_NUMBER or self._pickle(plain) != LEGACY_PROTOCOL:
            raise _Refused("not a torch file (a pickle, but not torch's legacy format)")
        info = self._pickle(plain)
        big_endian = isinstance(info, dict) and info.get("little_endian") is False
        start = self.handle.tell()
        declared: dict[str, tuple[Any, int]] = {}

        def declare(pid: Any) -> _Storage:
            dtype, key, numel = _storage_id(pid, 6)
            if pid[5] is not None:
                raise _Refused("storage views (torch < 0.4 files) are not supported")
            if declared.setdefault(key, (dtype, numel)) != (dtype, numel):
                raise _Refused(f"storage {key!r} is declared twice, differently")
            return _Storage(torch.empty(numel, dtype=dtype, device="meta"))

        self._pickle(allowed, declare)
        end = self.handle.tell()
        keys = self._pickle(plain)
        if not isinstance(keys, list) or len(keys) != len(set(keys)) or set(keys) != set(declared):
            raise _Refused("its storage list does not match the storages its pickle uses")
        need = sum(8 + numel * dtype.itemsize for dtype, numel in declared.values())
        if need > self.file_size - self.handle.tell():
            raise _Refused(f"its storages need {need:,} bytes, more than the rest of the file holds")
        storages = {}
        for key in keys:
            dtype, numel = declared[key]
            header = self.handle.read(8)
            if len(header) != 8 or struct.unpack("<q", header)[0] != numel:
                raise _Refused(f"storage {key!r}: its size header does not match the {numel:,} values declared")
            raw = torch.empty(numel * dtype.itemsize, dtype=torch.uint8)
            if self.handle.readinto(memoryview(raw.numpy())) != raw.numel():
                raise _Refused(f"storage {key!r} is truncated")
            storages[key] = _Storage(_typed(raw, dtype, big_endian))
        self.handle.seek(start)
        result = _unpickle(_Bounded(self.handle, end - start), make_allowed(),
                           lambda pid: storages[_storage_id(pid, 6)[1]])
        return result


# --- the entry points ----------------------------------------------------------------------------


def read_torch_file(path: str | Path, *, error: type[MelwaveError] = CheckpointError,
                    unsafe_error: type[UnsafeFileError] = UnsafeFileError,
                    stand_ins: dict[str, type] | None = None) -> Any:
    """The object a `torch.save` file holds, read as data (see the module docstring).

    Tensors come back on the CPU, as views of their storages like torch's. Raises
    `unsafe_error` (one line naming the file and the global) when the file's pickle would import
    anything outside the allow-list, and `error` for anything else wrong: missing, empty, not a
    torch file, corrupt, truncated, or sizes its bytes do not back.
    `stand_ins`: "module.Name" -> a plain class built in its place (e.g. a dict subclass)."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, expected a torch file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise error(f"{path}: {'no such file' if not path.exists() else f'cannot read ({err.strerror or err})'}") from None
    if size == 0:
        raise error(f"{path}: file is empty (0 bytes)")

    def make_allowed() -> dict[str, Any]:
        return {**_allowed_globals(_Rebuilder()), **(stand_ins or {})}

    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(0)
            if head == ZIP_MAGIC:
                return _ZipReader(handle, size).load(make_allowed())
            if head[:1] == b"\x80":  # a pickle's PROTO opcode: the legacy format
                return _LegacyReader(handle, size).load(make_allowed(), make_allowed)
            raise _Refused("not a torch file (it starts with neither a zip header nor a pickle)")
    except _Refused as refused:
        if refused.unsafe:
            raise unsafe_error(f"{path}: {refused}; only weights-only files are read") from None
        raise error(f"{path}: unreadable ({refused})") from None
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror or err})") from None
    except MemoryError:
        raise error(f"{path}: unreadable (it asks for more memory than there is)") from None


def pickle_stream(path: str | Path) -> bytes:
    """The pickle of a torch zip file (names and structure, no tensor data), or b"" for anything
    else, read under the same bounds as `read_torch_file` and without unpickling. Layout
    detection sniffs it; a file torch would not read as a zip (one that does not START with a
    zip header) gives b"", so detection and loading always see the same format."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                return b""
            handle.seek(0)
            reader = _ZipReader(handle, size)
            return reader.read_bytes(reader.prefix + "data.pkl", MAX_PICKLE_BYTES)
    except (_Refused, OSError):
        return b""
