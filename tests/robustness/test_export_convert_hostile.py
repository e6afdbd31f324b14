"""Hostile inputs to export, convert and the ONNX Runtime backend: crafted .onnx files (external
data pointing out of the model's folder or past a file's end, oversized or broken metadata, graphs
that fail while running), outputs that cannot be written, DeepMel configs of the wrong types.
Every one is a one-line MelwaveError naming the file (or, while running, that input's failure in
a batch that goes on), and refused .onnx files never reach ONNX Runtime."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from melwave.audio.config import PRESETS  # noqa: E402
from melwave.audio.melfile import MelFile, save_mel  # noqa: E402
from melwave.cli import main  # noqa: E402
from melwave.errors import CheckpointError, ConfigError, MelwaveError  # noqa: E402
from melwave.models.onnx import runtime as onnx_runtime  # noqa: E402
from melwave.errors import OutputError
from melwave.models.io.conversion import convert_vocoder  # noqa: E402
from melwave.models.onnx.runtime import OnnxRunError, inspect_onnx, session_from  # noqa: E402
from melwave.models.io.load import load_vocoder  # noqa: E402
from melwave.models.io.model_file import save_model
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN  # noqa: E402

CFG = PRESETS["hifigan-22k"]
ONE = b"\x00\x00\x80\x3f"  # float32 1.0, little-endian


def _metadata(**changes: str) -> dict[str, str]:
    """The metadata melwave's exporter writes, for a graph taking (batch, 80, frames)."""
    meta = {"melwave.format": "melwave-onnx", "melwave.version": "1", "family": "melgan", "name": "crafted",
            "model_config": "{}", "mel_config": json.dumps(CFG.to_dict()), "receptive_frames": "4",
            "provenance": json.dumps({"source": "test"})}
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def _graph(*, input_name="mel", n_mels=80, hop=CFG.hop_length, fail_unless_divisible_by=None, external=None):
    """mel (B, n_mels, F) -> sum over mels, tiled `hop` times -> wave (B, F * hop), times a
    one-value initializer `scale` (stored externally when `external` gives its entries). With
    `fail_unless_divisible_by` k, a Reshape to (-1, k) makes ONNX Runtime fail when B·F % k != 0."""
    nodes = [helper.make_node("ReduceSum", [input_name, "axes"], ["summed"], keepdims=0)]
    last = "summed"
    if fail_unless_divisible_by:
        nodes += [helper.make_node("Reshape", ["summed", "odd"], ["folded"]),
                  helper.make_node("Shape", ["summed"], ["shape"]),
                  helper.make_node("Reshape", ["folded", "shape"], ["unfolded"])]
        last = "unfolded"
    nodes += [helper.make_node("Tile", [last, "repeats"], ["tiled"]), helper.make_node("Mul", ["tiled", "scale"], ["wave"])]
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [1], [1.0])
    if external is not None:
        scale.ClearField("float_data")
        scale.data_location = TensorProto.EXTERNAL
        for key, value in external.items():
            entry = scale.external_data.add()
            entry.key, entry.value = key, value
    initializers = [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
                    helper.make_tensor("repeats", TensorProto.INT64, [2], [1, hop]),
                    helper.make_tensor("odd", TensorProto.INT64, [2], [-1, fail_unless_divisible_by or 1]), scale]
    graph = helper.make_graph(nodes, "crafted",
                              [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_mels, "frames"])],
                              [helper.make_tensor_value_info("wave", TensorProto.FLOAT, ["batch", "samples"])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    return model


def _write(path: Path, model, meta: dict[str, str] | None = None) -> Path:
    for key, value in (_metadata() if meta is None else meta).items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def no_onnx_runtime(monkeypatch):
    """ONNX Runtime's session constructor replaced by one that records any call: a refusal
    must happen before it."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the file reached ONNX Runtime")

    monkeypatch.setattr(ort, "InferenceSession", refuse)
    return calls


def _one_line_naming(err: BaseException, *names: str) -> str:
    message = str(err)
    assert "\n" not in message, message
    for name in names:
        assert name in message, (name, message)
    return message


def _mel(frames: int, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 80, frames, generator=torch.Generator().manual_seed(frames)) - 5


# --- external data -------------------------------------------------------------------------

def _escaping_locations(tmp_path: Path) -> dict[str, str]:
    """Locations that name a real, readable file outside the model's folder (or ORT's memory
    tag, made a real file too): each must be refused for where it points, not for a missing file."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(ONE * 4)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "sub").mkdir()
    (folder / "link.bin").symlink_to(secret)
    (folder / "linked-folder").symlink_to(tmp_path)
    tag = folder / "*" / "_ORT_MEM_ADDR_"
    tag.mkdir(parents=True)
    (tag / "*").write_bytes(ONE * 1024)
    return {"parent": "../secret.bin", "through a subfolder": "sub/../../secret.bin", "absolute": str(secret),
            "symlink": "link.bin", "symlinked folder": "linked-folder/secret.bin",
            "windows drive": "C:\\secret.bin", "unc": "\\\\server\\share\\secret.bin", "NUL": "data.bin\x00x",
            "ORT memory tag": "*/_ORT_MEM_ADDR_/*"}


@pytest.mark.parametrize("case", ["parent", "through a subfolder", "absolute", "symlink", "symlinked folder",
                                  "windows drive", "unc", "NUL", "ORT memory tag"])
def test_external_data_outside_the_model_folder_is_refused_before_onnx_runtime(case, tmp_path, no_onnx_runtime):
    location = _escaping_locations(tmp_path)[case]
    path = _write(tmp_path / "model" / "hostile.onnx", _graph(external={"location": location, "offset": "0", "length": "4"}))
    with pytest.raises(CheckpointError) as caught:
        load_vocoder(path)
    message = _one_line_naming(caught.value, str(path), "'scale'")
    assert "not loaded" in message and "not found" not in message  # refused for where it points
    assert no_onnx_runtime == []


@pytest.mark.parametrize("entries,why", [
    ({"location": "w.bin", "offset": str(10**12), "length": "4"}, "of a 16-byte file"),
    ({"location": "w.bin", "length": str(10**15)}, "of a 16-byte file"),
    ({"location": "w.bin", "offset": "14", "length": "4"}, "of a 16-byte file"),
    ({"location": "w.bin", "length": "-4"}, "not a byte count"),
    ({"location": "w.bin", "length": "4 "}, "not a byte count"),
    ({"location": "w.bin", "offset": "0x10"}, "not a byte count"),
    ({"location": "w.bin", "offset": "9" * 30}, "not a byte count"),
    ({"location": "absent.bin"}, "not found"),
    ({"location": "folder"}, "not a regular file"),
    ({"location": "pipe"}, "not a regular file"),  # opening a FIFO would block the load
    ({"offset": "0"}, "without a location"),
])
def test_external_data_sizes_and_kinds_are_checked_before_onnx_runtime(entries, why, tmp_path, no_onnx_runtime):
    (tmp_path / "w.bin").write_bytes(ONE * 4)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    path = _write(tmp_path / "hostile.onnx", _graph(external=entries))
    with pytest.raises(CheckpointError) as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path), why)
    assert no_onnx_runtime == []


@pytest.mark.float_sensitive
def test_external_data_inside_the_folder_loads_and_runs(tmp_path):
    """The control: the same checks pass a model whose data lies beside it, directly or through
    a symlink that stays in the folder, at an offset within the file."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "w.bin").write_bytes(b"\x00" * 8 + ONE)
    (tmp_path / "alias.bin").symlink_to(tmp_path / "data" / "w.bin")
    for location in ("data/w.bin", "alias.bin"):
        path = _write(tmp_path / f"{location.replace('/', '-')}.onnx",
                      _graph(external={"location": location, "offset": "8", "length": "4"}))
        assert [ref.entries["location"] for ref in inspect_onnx(path).external] == [location]
        vocoder = load_vocoder(path)
        mel = _mel(30)
        expected = mel.sum(1).repeat(1, CFG.hop_length)  # the graph: sum over mels, tiled, times 1.0
        assert torch.allclose(vocoder(mel), expected, rtol=1e-5, atol=1e-3)


def test_serialized_bytes_may_not_refer_to_external_data(no_onnx_runtime):
    data = _graph(external={"location": "w.bin"}).SerializeToString()
    with pytest.raises(CheckpointError, match="external data") as caught:
        session_from(data)
    _one_line_naming(caught.value, "the exported graph", "'scale'")
    assert no_onnx_runtime == []


# --- malformed protobufs and metadata -------------------------------------------------------

def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field: tag, varint length, payload."""
    size, length = len(payload), b""
    while True:
        length += bytes([(size & 0x7F) | (0x80 if size > 0x7F else 0)])
        size >>= 7
        if not size:
            return bytes([number << 3 | 2]) + length + payload


def _nested_model(depth: int) -> bytes:
    """ModelProto.graph -> node -> attribute.g -> graph -> ... `depth` levels down, written by
    hand: onnx's own parser stops at that depth too (which is the point)."""
    graph = b""
    for _ in range(depth):
        graph = _field(1, _field(5, _field(6, graph)))  # graph.node[0].attribute[0].g = graph
    return _field(7, graph)


def _valid_bytes(tmp_path: Path) -> bytes:
    return _write(tmp_path / "valid.onnx", _graph()).read_bytes()


@pytest.mark.parametrize("case,data,why", [
    ("random", bytes(range(256)) * 4, "not a valid ONNX model"),
    ("truncated", None, "not a valid ONNX model"),
    ("wire type 7", b"\x0f\x00", "wire type 7"),
    ("overlong varint", b"\x08" + b"\xff" * 11, "varint"),
    ("length past the end", b"\x3a\xff\xff\xff\x0f", "past the end"),
    ("nested 80 deep", "nested", "nested more than"),
    ("empty", b"", "not an ONNX model exported by melwave"),
])
def test_malformed_protobufs_are_one_line_before_onnx_runtime(case, data, why, tmp_path, no_onnx_runtime):
    if data is None:
        valid = _valid_bytes(tmp_path)
        data = valid[: len(valid) // 2]
    elif data == "nested":
        data = _nested_model(80)
    path = tmp_path / "broken.onnx"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path), why)
    assert no_onnx_runtime == []


def test_size_and_field_bounds(tmp_path, monkeypatch, no_onnx_runtime):
    path = _write(tmp_path / "m.onnx", _graph())
    monkeypatch.setattr(onnx_runtime, "MAX_MODEL_BYTES", 100)
    with pytest.raises(CheckpointError, match="more than one ONNX protobuf can hold") as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path))
    monkeypatch.setattr(onnx_runtime, "MAX_MODEL_BYTES", 2**31 - 1)
    monkeypatch.setattr(onnx_runtime, "MAX_FIELDS", 10)
    with pytest.raises(CheckpointError, match="more than 10 protobuf fields"):
        load_vocoder(path)
    assert no_onnx_runtime == []


@pytest.mark.parametrize("case", ["too many entries", "huge value", "huge key", "not UTF-8", "duplicate key"])
def test_metadata_is_bounded_and_text(case, tmp_path, no_onnx_runtime):
    meta = _metadata()
    model = _graph()
    if case == "too many entries":
        meta.update({f"extra{i}": "x" for i in range(onnx_runtime.MAX_METADATA_ENTRIES)})
    elif case == "huge value":
        meta["provenance"] = json.dumps({"note": "x" * (onnx_runtime.MAX_METADATA_VALUE_BYTES + 1)})
    elif case == "huge key":
        meta["k" * 300] = "x"
    path = _write(tmp_path / "m.onnx", model, meta)
    data = path.read_bytes()
    if case == "not UTF-8":
        data = data.replace(b"crafted", b"craf\xff\xfe\xfd")  # ONNX Runtime's Python binding raised UnicodeDecodeError
    elif case == "duplicate key":
        prop = onnx.ModelProto()
        entry = prop.metadata_props.add()
        entry.key, entry.value = "mel_config", "{}"
        data += prop.SerializeToString()  # protobuf concatenation appends a second entry
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as caught:
        load_vocoder(path)
    expected = {"too many entries": "metadata entries", "huge value": "bytes (at most", "huge key": "metadata key",
                "not UTF-8": "not UTF-8", "duplicate key": "appears twice"}[case]
    _one_line_naming(caught.value, str(path), expected)
    assert no_onnx_runtime == []


@pytest.mark.parametrize("changes,expected", [
    ({"mel_config": "{not json"}, "metadata mel_config is not valid JSON"),
    ({"mel_config": None}, "no 'mel_config'"),
    ({"mel_config": json.dumps({**CFG.to_dict(), "n_mels": "80"})}, "n_mels"),
    ({"model_config": "[1, 2]"}, "metadata model_config: expected a JSON object, got list"),
    ({"provenance": "[" * 100_000 + "]" * 100_000}, "metadata provenance is not valid JSON"),
    ({"receptive_frames": "-1"}, "receptive_frames"),
    ({"receptive_frames": "9" * 10}, "receptive_frames"),
    ({"receptive_frames": "1e3"}, "receptive_frames"),
    ({"family": "melgan\nInjected: line"}, "metadata family"),
    ({"name": "x\nInjected: line"}, "metadata name"),
    ({"melwave.version": "2"}, "unsupported"),
])
def test_metadata_errors_are_one_line_naming_the_field(changes, expected, tmp_path, no_onnx_runtime):
    path = _write(tmp_path / "m.onnx", _graph(), _metadata(**changes))
    with pytest.raises(CheckpointError) as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path), expected)
    assert no_onnx_runtime == []


def test_a_protobuf_onnx_runtime_rejects_is_one_line(tmp_path):
    model = _graph()
    model.graph.node[0].op_type = "NoSuchOperator"
    path = _write(tmp_path / "unknown-op.onnx", model)
    with pytest.raises(CheckpointError, match="ONNX Runtime cannot load it") as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path))


# --- graphs that do not fit, or fail while running ----------------------------------------

@pytest.mark.parametrize("changes", [{"input_name": "x"}, {"n_mels": 64}])
def test_a_graph_whose_inputs_do_not_match_is_refused_at_load(changes, tmp_path):
    path = _write(tmp_path / "other-inputs.onnx", _graph(**changes))
    with pytest.raises(CheckpointError, match="a melwave vocoder graph takes one float32 'mel'") as caught:
        load_vocoder(path)
    _one_line_naming(caught.value, str(path))


def test_failures_while_running_are_one_line_naming_the_model(tmp_path):
    path = _write(tmp_path / "fails.onnx", _graph(fail_unless_divisible_by=7))
    vocoder = load_vocoder(path)
    assert vocoder(_mel(28)).shape == (1, 28 * CFG.hop_length)  # 28 frames reshape into rows of 7
    with pytest.raises(OnnxRunError, match="ONNX Runtime failed running the graph") as caught:
        vocoder(_mel(30))
    _one_line_naming(caught.value, str(path))
    # A graph that runs but gives another shape than (batch, frames * hop) is refused, not passed on.
    short = load_vocoder(_write(tmp_path / "short.onnx", _graph(hop=CFG.hop_length // 2)))
    with pytest.raises(OnnxRunError, match=r"expected float32 \(1, 7680\)") as caught:
        short(_mel(30))
    _one_line_naming(caught.value, "short.onnx")


def test_a_batch_goes_on_past_a_file_the_graph_fails_on(tmp_path, capsys):
    model = _write(tmp_path / "fails.onnx", _graph(fail_unless_divisible_by=7))
    mels = tmp_path / "mels"
    save_mel(mels / "fits.pt", MelFile(mel=_mel(28)[0], config=CFG))
    save_mel(mels / "breaks.pt", MelFile(mel=_mel(30)[0], config=CFG))
    out = tmp_path / "out"
    code = main(["synthesize", "-i", str(mels / "breaks.pt"), str(mels / "fits.pt"), "-o", str(out), "-m", str(model),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert (out / "fits.wav").exists() and not (out / "breaks.wav").exists()
    failed = [line for line in err.splitlines() if "breaks.pt" in line and "ONNX Runtime failed" in line]
    assert len(failed) >= 1 and "fails.onnx" in failed[0]


# --- outputs that cannot be written ---------------------------------------------------------

def _melgan_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(MelGAN(MELGAN_CONFIGS["debug"], CFG).eval(), tmp_path / "src" / "melgan.safetensors")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _cli(command: str, source: Path, target: Path) -> list[str]:
    model = [str(source)] if command == "convert" else ["-m", str(source)]
    return [command, *model, "-o", str(target)]


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root writes anywhere: nothing to test
        folder.chmod(0o700)
        pytest.skip("this user can write into a 0o500 folder (root)")
    yield folder
    folder.chmod(0o700)


def test_convert_and_export_into_a_read_only_folder_are_one_line(tmp_path, read_only_folder, capsys):
    source = _melgan_file(tmp_path)
    for command, name in (("convert", "m.safetensors"), ("export", "m.onnx")):
        target = read_only_folder / name
        args = _cli(command, source, target)
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(target) in err and "Permission denied" in err
    assert _leftovers(read_only_folder) == []


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    """The same refusal that root meets too: a path under a regular file."""
    source = _melgan_file(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command, target in (("convert", blocker / "m.safetensors"), ("export", blocker / "sub" / "m.onnx")):
        args = _cli(command, source, target)
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(target) in err and "is not a folder" in err
    assert blocker.read_text() == "not a folder"


def _fill_disk_after_half(target) -> None:
    """What a full disk does to a writer: half its bytes made it, then ENOSPC."""
    with open(target, "r+b") as handle:
        handle.truncate(handle.seek(0, 2) // 2)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("how", ["OSError", "SafetensorError"])
def test_convert_onto_a_full_disk_is_one_line_and_leaves_nothing(how, tmp_path, monkeypatch, capsys):
    import safetensors.torch
    from safetensors import SafetensorError

    source = _melgan_file(tmp_path)
    real = safetensors.torch.save_file

    def save_file(state, target, metadata=None):
        real(state, target, metadata=metadata)
        if how == "SafetensorError":  # what safetensors raises on a real full disk (measured on a full tmpfs)
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        _fill_disk_after_half(target)

    monkeypatch.setattr(safetensors.torch, "save_file", save_file)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(OutputError) as caught:
        convert_vocoder(source, out_dir / "m.safetensors")
    _one_line_naming(caught.value, str(out_dir / "m.safetensors"), "No space left on device", "nothing was written")
    assert main(["convert", str(source), "-o", str(out_dir / "m.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "No space left on device" in err
    assert _leftovers(out_dir) == []  # neither the output nor a temporary file


def test_export_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from melwave.models.onnx import export as onnx_export

    source = _melgan_file(tmp_path)
    monkeypatch.setattr(onnx_export, "export_bytes", lambda *args, **kwargs: b"\x08\x0a" * 4096)  # the write is under test
    real = Path.write_bytes

    def write_bytes(self, data):
        written = real(self, data)
        if self.name.endswith(".onnx"):  # the temporary file beside the output
            _fill_disk_after_half(self)
        return written

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "m.onnx"
    with pytest.raises(OutputError) as caught:
        onnx_export.export_onnx(load_vocoder(source), target)
    _one_line_naming(caught.value, str(target), "No space left on device")
    assert main(["export", "-m", str(source), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(target) in err and "No space left on device" in err
    assert _leftovers(out_dir) == []


# --- DeepMel configs ----------------------------------------------------------------------

DEEPMEL_YAML = {"cls_pth": {"sm": ["0", "1"]}, "num_class": [2], "latent_dim": 64, "n_mels": 128, "sample_rate": 22050,
                "n_fft": 1024, "win_length": 1024, "hop_length": 256, "f_min": 0, "f_max": 11025, "power": 2,
                "normalized": False, "window_fn": "hann_window", "in_strips": False, "num_strips": 8}


@pytest.mark.parametrize("key,value,expected", [
    ("latent_dim", "64", "latent_dim='64': expected a positive integer, got str"),
    ("latent_dim", 64.0, "latent_dim=64.0: expected a positive integer, got float"),
    ("latent_dim", True, "latent_dim=True: expected a positive integer, got bool"),
    ("latent_dim", 0, "latent_dim=0: expected a positive integer"),
    ("n_mels", "128", "n_mels='128': expected a positive integer, got str"),
    ("hop_length", None, "hop_length=None: expected a positive integer, got null"),
    ("f_min", "0", "f_min='0': expected a number, got str"),
    ("f_max", "max", "f_max='max': expected a number or null, got str"),
    ("power", [2], "power=[2]: expected a number, got list"),
    ("normalized", "no", "normalized='no': expected true or false, got str"),
    ("in_strips", "false", "in_strips='false': expected true or false, got str"),
    ("num_strips", "8", "num_strips='8': expected a positive integer, got str"),
    ("window_fn", 3, "window_fn=3: expected a string, got int"),
    ("num_class", ["2"], "num_class=['2']: expected a list of one or two positive integers"),
    ("num_class", [True], "num_class=[True]: expected a list of one or two positive integers"),
    ("num_class", 2, "num_class=2: expected a list of one or two positive integers (class counts), got int"),
])
def test_deepmel_config_fields_of_the_wrong_type_are_named(key, value, expected, tmp_path):
    import yaml

    import melwave

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**DEEPMEL_YAML, key: value}))
    checkpoint = tmp_path / "run.pt"
    # Just enough to reach the config: a generator taking z of 64, as latent_dim: 64 would say.
    torch.save({"gen_state_dict": {"z_reshape.fc.0.weight": torch.zeros(8, 64)}}, checkpoint)
    with pytest.raises(ConfigError) as caught:
        melwave.load_generator(checkpoint, source_config=config)
    message = _one_line_naming(caught.value, str(config), expected)
    assert "takes z of size" not in message  # the old message: a size "disagreeing" with the same number


def test_every_failure_here_is_a_melwave_error():
    """The CLI prints MelwaveErrors as one line; these types must stay under it."""
    assert issubclass(OutputError, MelwaveError) and issubclass(OnnxRunError, MelwaveError)
