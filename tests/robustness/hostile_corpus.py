"""The hostile-file corpus: files a stranger could hand melwave, each with the command that feeds
it in, built here from nothing and run through the real CLI.

    python tests/robustness/hostile_corpus.py DEST          # build DEST/<case>/..., print the cases
    python tests/robustness/hostile_corpus.py DEST --run    # build, then run every case in this process

`--run` prints one JSON line per case: {"case", "rc", "stderr", "marker", "inputs_intact", "error"}.
tests/robustness/test_hostile_corpus.py runs it in a child process under an address-space limit
(RLIMIT_AS), so a case that allocates past it dies as MemoryError rather than taking the machine,
and checks every line: no code ran (no marker file), no traceback or internal error, a non-zero
exit code, one error line naming the file, and the inputs unchanged.

Every class of attack in docs/robustness.md has at least one case here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import signal
import struct
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

MARKER = "CODE-RAN"  # a payload that runs creates this file next to the case's files
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass
class Case:
    name: str
    argv: list[str]
    attack: str                      # one line: what the file tries
    env: dict[str, str] = field(default_factory=dict)
    must_name: str = ""              # text the error line must contain (the file's name)
    fails_whole: bool = True         # False: a batch where other files must still be written
    expect_written: tuple[str, ...] = ()   # outputs that must exist afterwards (the batch went on)
    expect_absent: tuple[str, ...] = ()    # outputs that must not exist


# --- building blocks ---------------------------------------------------------------------------


def _wav(path: Path, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(22050 * seconds)) / 22050
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    return path


class _Payload:
    """Unpickling this runs `touch MARKER` (os.system: pickled as posix.system)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _OpenPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _payload_then(marker: Path, value: object) -> bytes:
    """A protocol-2 pickle that calls os.system, drops its result and returns `value`: loads
    "normally" when the call is allowed."""
    call = pickle.dumps(_Payload(marker), protocol=2)[2:-1]  # no PROTO header, no STOP
    rest = pickle.dumps(value, protocol=2)[2:]
    return b"\x80\x02" + call + b"0" + rest  # 0 = POP


def _hifigan_state(weight_norm: bool = False) -> dict[str, torch.Tensor]:
    from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN

    torch.manual_seed(0)
    state = HiFiGAN(HIFIGAN_CONFIGS["v3"]).state_dict()
    if weight_norm:
        for key in [k for k in state if k.endswith(".weight") and state[k].dim() == 3]:
            v = state.pop(key)
            state[key[:-len("weight")] + "weight_v"] = v
            state[key[:-len("weight")] + "weight_g"] = v.flatten(1).norm(dim=1).reshape(-1, 1, 1)
    return state


def _legacy_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def _zip_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _replace_data_pkl(torch_zip: bytes, new_pickle: bytes, *, deflate: bool = False) -> bytes:
    """The same torch zip with its data.pkl replaced (names and storages kept)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(torch_zip)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                data = new_pickle
            target.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    return out.getvalue()


def _diffwave_names() -> dict[str, torch.Tensor]:
    # The tensor names DiffWave's layout sniffs for (values are tiny: the attack is elsewhere).
    return {"diffusion_embedding.projection1.weight": torch.zeros(2, 2), "residual_layers.0.dilated_conv.weight": torch.zeros(2, 2, 3)}


def _bigvgan_config() -> dict:
    return {"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
            "upsample_initial_channel": 64, "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snake",
            "snake_logscale": False, "num_mels": 80, "n_fft": 1024, "hop_size": 256, "win_size": 1024,
            "sampling_rate": 22050, "fmin": 0, "fmax": 8000}


def _bigvgan_folder(folder: Path, config: dict | str, state: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    torch.save({"generator": state or {"conv_pre.weight": torch.zeros(64, 80, 7)}}, folder / "bigvgan_generator.pt")
    return folder


def _hf_cache(root: Path, repo: str, files: dict[str, bytes]) -> dict[str, str]:
    commit = hashlib.sha1(repo.encode()).hexdigest()
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return {"HF_HUB_CACHE": str(root), "HF_HUB_OFFLINE": "1"}


# --- the cases -----------------------------------------------------------------------------------


def build(dest: Path) -> list[Case]:
    """Write every case's files under `dest` and return the cases."""
    dest = Path(dest)
    cases: list[Case] = []

    def case(name: str, attack: str, make: Callable[[Path, Path], tuple[list[str], dict]], **kw) -> None:
        folder = dest / name
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / MARKER
        argv, extra = make(folder, marker)
        cases.append(Case(name=name, argv=argv, attack=attack, **{**kw, **extra}))

    def resynth(folder: Path, model: str, *extra: str) -> list[str]:
        return ["resynth", "-i", str(_wav(folder / "in.wav")), "-o", str(folder / "out.wav"), "-m", model, *extra]

    # 1. code execution ---------------------------------------------------------------------------
    def legacy_pickle_then_zip(folder, marker):
        path = folder / "weights.pt"  # starts with a legacy pickle, ends with a DiffWave-looking zip
        path.write_bytes(pickle.dumps(_Payload(marker), protocol=2) + _zip_bytes({"model": _diffwave_names(), "params": {}}))
        return resynth(folder, str(path)), {"must_name": "weights.pt"}

    case("legacy-pickle-plus-zip", "a legacy pickle calling os.system in front of a zip with DiffWave's names",
         legacy_pickle_then_zip)

    def legacy_payload_then_magic(folder, marker):
        # Calls os.system, then returns torch's magic number: the rest is a valid legacy file.
        valid = _legacy_bytes({"generator": _hifigan_state()})
        magic = pickle.dumps(LEGACY_MAGIC, protocol=2)
        assert valid.startswith(magic)
        path = folder / "g.pth"
        path.write_bytes(_payload_then(marker, LEGACY_MAGIC) + valid[len(magic):])
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("legacy-payload-returning-magic", "a legacy file whose magic-number pickle runs a command first",
         legacy_payload_then_magic)

    for command in ("convert", "export", "hf"):
        def via(folder, marker, command=command):
            body = _replace_data_pkl(_zip_bytes({"generator": {"x": torch.zeros(1)}}), pickle.dumps(_Payload(marker), protocol=2))
            path = folder / "generator.pth"
            path.write_bytes(body)
            if command == "convert":
                return ["convert", str(path), "-o", str(folder / "out.safetensors")], {"must_name": "generator.pth"}
            if command == "export":
                return ["export", "-m", str(path), "-o", str(folder / "out.onnx")], {"must_name": "generator.pth"}
            env = _hf_cache(folder / "hub", "evil/model", {"generator.pth": body})
            return resynth(folder, "hf:evil/model"), {"env": env, "must_name": "generator.pth"}

        case(f"zip-payload-via-{command}", f"a torch zip whose data.pkl calls os.system, through {command}", via)

    def open_payload_mel(folder, marker):
        path = folder / "mel.pt"
        path.write_bytes(_replace_data_pkl(_zip_bytes({"mel": torch.zeros(80, 4)}), pickle.dumps(_OpenPayload(marker), protocol=2)))
        return ["synthesize", "-i", str(path), "-o", str(folder / "out.wav"), "-m", "griffinlim"], {"must_name": "mel.pt"}

    case("mel-file-open-payload", "a mel .pt whose pickle calls open() to create a file", open_payload_mel)

    def tensor_new_giant(folder, marker):
        # torch.Tensor(10**12) through NEWOBJ would allocate 4 TB if the class were handed out.
        code = b"\x80\x02ctorch\nTensor\nq\x00\x8a\x05\x00\x10\xa5\xd4\xe8\x85\x81."  # Tensor.__new__(Tensor, 10**12)
        path = folder / "g.pth"
        path.write_bytes(_replace_data_pkl(_zip_bytes({"a": 1}), code))
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("pickle-newobj-tensor-giant", "a pickle calling torch.Tensor(10**12) by NEWOBJ", tensor_new_giant)

    def bytearray_giant(folder, marker):
        code = b"\x80\x02c__builtin__\nbytearray\nq\x00\x8a\x05\x00\x10\xa5\xd4\xe8\x85R."  # bytearray(10**12)
        path = folder / "g.pth"
        path.write_bytes(_replace_data_pkl(_zip_bytes({"a": 1}), code))
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("pickle-bytearray-giant", "a pickle calling bytearray(10**12)", bytearray_giant)

    # 2. native crashes through weight norm ------------------------------------------------------------
    for variant in ("g-wrong-shape", "g-transposed", "g-missing", "v-integer", "g-complex", "g-orphan"):
        def weight_norm(folder, marker, variant=variant):
            state = _hifigan_state(weight_norm=True)
            v, g = "conv_pre.weight_v", "conv_pre.weight_g"
            if variant == "g-wrong-shape":
                state[g] = torch.ones(3, 1, 1)
            elif variant == "g-transposed":
                state[g] = torch.ones(1, state[v].shape[0], 1)
            elif variant == "g-missing":
                del state[g]
            elif variant == "v-integer":
                state[v] = state[v].to(torch.int32)
            elif variant == "g-complex":
                state[g] = state[g].to(torch.complex64)
            else:
                del state[v]
            path = folder / "g.pth"
            torch.save({"generator": state}, path)
            return resynth(folder, str(path)), {"must_name": "g.pth"}

        case(f"weight-norm-{variant}", f"a HiFi-GAN weight-norm pair with {variant}", weight_norm)

    def bigvgan_wn(folder, marker):
        state = {"conv_pre.weight_v": torch.zeros(64, 80, 7), "conv_pre.weight_g": torch.ones(7, 1, 1)}
        return resynth(folder, str(_bigvgan_folder(folder / "bigvgan", _bigvgan_config(), state))), {"must_name": "bigvgan"}

    case("weight-norm-bigvgan", "a BigVGAN weight-norm pair with a g of the wrong shape", bigvgan_wn)

    # 3. sizes the file does not back ----------------------------------------------------------------
    def stride0(folder, marker):
        state = _hifigan_state()
        state["conv_pre.weight"] = torch.zeros(1).expand(10**6, 10**6)
        path = folder / "g.pth"
        torch.save({"generator": state}, path)
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("stride0-giant-tensor", "an expanded (stride-0) tensor of 10^12 elements over one stored value", stride0)

    def storage_lies(folder, marker):
        # The pickle declares a storage of 2^40 floats; the zip member holds 4 bytes.
        data = _zip_bytes({"generator": {"conv_pre.weight": torch.zeros(1)}})
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            pkl = archive.read(name)
        old = pickle.dumps(1, protocol=2)[2:-1]  # the element count as pickled: K\x01
        assert old in pkl
        path = folder / "g.pth"
        path.write_bytes(_replace_data_pkl(data, pkl.replace(old, b"\x8a\x06\x00\x00\x00\x00\x00\x01", 1)))
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("storage-size-lie", "a storage declaring 2^40 values over a 4-byte member", storage_lies)

    def legacy_storage_lies(folder, marker):
        data = bytearray(_legacy_bytes({"generator": {"conv_pre.weight": torch.zeros(3)}}))
        # The storage's element count after the pickles: 8 bytes little-endian, 3 -> 2^40.
        tail = struct.pack("<q", 3) + b"\x00" * 12
        at = bytes(data).rfind(tail)
        data[at:at + 8] = struct.pack("<q", 2**40)
        path = folder / "g.pth"
        path.write_bytes(bytes(data))
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("legacy-storage-size-lie", "a legacy file whose storage header claims 2^40 values", legacy_storage_lies)

    def zip_bomb(folder, marker):
        # data.pkl deflated from 64 MiB of zeros (a 1000x ratio); a real bomb is only bigger.
        body = _replace_data_pkl(_zip_bytes({"a": 1}), b"\x80\x02" + b"\x00" * (64 * 2**20), deflate=True)
        path = folder / "g.pth"
        path.write_bytes(body)
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("zip-bomb-data-pkl", "a 64 MiB data.pkl deflated to ~64 KB", zip_bomb)

    def zip_size_lie(folder, marker):
        # A stored member whose central directory claims 3 GiB.
        body = bytearray(_zip_bytes({"generator": {"x": torch.zeros(1)}}))
        eocd = bytes(body).rfind(b"PK\x05\x06")
        cd = struct.unpack("<I", body[eocd + 16:eocd + 20])[0]
        while body[cd:cd + 4] == b"PK\x01\x02":
            name_len, extra_len, comment_len = struct.unpack("<HHH", body[cd + 28:cd + 34])
            name = bytes(body[cd + 46:cd + 46 + name_len])
            if name.endswith(b"data.pkl"):
                body[cd + 24:cd + 28] = struct.pack("<I", 3 * 2**30)
            cd += 46 + name_len + extra_len + comment_len
        path = folder / "g.pth"
        path.write_bytes(bytes(body))
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("zip-declared-3gib", "a zip member whose directory entry claims 3 GiB", zip_size_lie)

    for name, change in (("channels", {"upsample_initial_channel": 2**20}), ("n-fft", {"n_fft": 2**31, "win_size": 1024}),
                         ("n-mels", {"num_mels": 2**24}), ("layers", {"resblock_dilation_sizes": [[1] * 10**6] * 3}),
                         ("string-sizes", {"upsample_initial_channel": "512"}),
                         ("huge-dilation", {"resblock_dilation_sizes": [[10**8, 3, 5], [1, 3, 5], [1, 3, 5]]})):
        def bigvgan_size(folder, marker, change=change):
            return resynth(folder, str(_bigvgan_folder(folder / "bigvgan", {**_bigvgan_config(), **change}))), \
                {"must_name": "bigvgan"}

        case(f"bigvgan-{name}", f"a BigVGAN config.json asking for {name}", bigvgan_size)

    for name, change in (("layers", {"residual_layers": 10**6}), ("channels", {"residual_channels": 10**7}),
                         ("steps", {"noise_schedule": [1e-4] * 10**5}), ("cycle", {"dilation_cycle_length": 10**6}),
                         ("n-mels", {"n_mels": 2**24})):
        def diffwave(folder, marker, change=change):
            params = {"residual_layers": 2, "residual_channels": 2, "dilation_cycle_length": 1, "hop_samples": 256,
                      "sample_rate": 22050, "n_fft": 1024, "n_mels": 80, "noise_schedule": [1e-4, 0.05],
                      "inference_noise_schedule": [1e-4, 0.05], **change}
            path = folder / "weights.pt"
            torch.save({"model": _diffwave_names(), "params": params}, path)
            return resynth(folder, str(path)), {"must_name": "weights.pt"}

        case(f"diffwave-{name}", f"DiffWave params asking for {name}", diffwave)

    def gomin_giant(folder, marker):
        state = {"conv_pre.weight": torch.zeros(1).expand(2**20, 80, 7), "ups.0.weight": torch.zeros(4, 2, 8)}
        path = folder / "gan_state_dict.pt"
        torch.save(state, path)
        return resynth(folder, str(path)), {"must_name": "gan_state_dict.pt"}

    case("gomin-expanded", "a GOMIN state dict of expanded tensors describing 10^9 weights", gomin_giant)

    def vocos_bomb(folder, marker):
        vocos = folder / "vocos"
        vocos.mkdir()
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
        (vocos / "config.yaml").write_text("\n".join(lines) + "\n")
        torch.save({}, vocos / "pytorch_model.bin")
        return resynth(folder, str(vocos)), {"must_name": "config.yaml"}

    case("vocos-yaml-alias-bomb", "a Vocos config.yaml that is a billion-laughs alias bomb", vocos_bomb)

    # 4. configs ---------------------------------------------------------------------------------------
    for name, text in (("alias-bomb", "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
                            f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]) + "\n"),
                       ("deep", "n_fft: " + "[" * 100_000 + "]" * 100_000 + "\n"),
                       ("long-int", "n_fft: " + "9" * 5000 + "\n"),
                       ("bad-utf8", b"n_fft: \xff\xfe\n".decode("latin1")),
                       ("nul", "n_fft: 1024\x00\n")):
        def mel_config(folder, marker, text=text, name=name):
            path = folder / "mel.yaml"
            path.write_bytes(text.encode("latin1") if name == "bad-utf8" else text.encode())
            return ["analyze", "-i", str(_wav(folder / "in.wav")), "-o", str(folder / "out.pt"), "--mel-config", str(path)], \
                {"must_name": "mel.yaml"}

        case(f"mel-config-{name}", f"--mel-config with {name}", mel_config)

    def bigvgan_deep_json(folder, marker):
        return resynth(folder, str(_bigvgan_folder(folder / "bigvgan", '{"activation": ' + "[" * 100_000 + "]" * 100_000 + "}"))), \
            {"must_name": "config.json"}

    case("bigvgan-deep-json", "a BigVGAN config.json nested 100,000 deep", bigvgan_deep_json)

    # 5. batches that would lose files ------------------------------------------------------------------
    def collide(folder, marker):
        a, b = _wav(folder / "d1" / "a.wav"), _wav(folder / "d2" / "a.wav")
        return ["resynth", "-i", str(a), str(b), "-o", str(folder / "out"), "-m", "griffinlim", "--overwrite"], \
            {"must_name": "a.wav", "expect_absent": ("out/a.wav",)}

    case("batch-two-inputs-one-output", "two inputs that map to one output, with --overwrite", collide)

    def same_folder(folder, marker):
        data = folder / "d"
        _wav(data / "a.wav")
        return ["resynth", "-i", str(data), "-o", str(data), "-m", "griffinlim", "--overwrite"], {"must_name": "a.wav"}

    case("batch-output-is-input", "-i d -o d --overwrite: outputs that are the batch's inputs", same_folder)

    def bad_list(folder, marker):
        good = _wav(folder / "good.wav")
        listing = folder / "list.txt"
        listing.write_bytes(b"good.wav\n" + b"x\x00y.wav\n" + b"\xff\xfe.wav\n" + b"z" * (10 * 2**20) + b"\n")
        return ["analyze", "-i", str(listing), "-o", str(folder / "out")], \
            {"must_name": "list.txt", "fails_whole": False, "expect_written": (f"out/{good.stem}.pt",)}

    case("batch-list-nul-utf8-long", "a .txt list with a NUL byte, bad UTF-8 and a 10 MB line", bad_list)

    def onnx_garbage(folder, marker):
        path = folder / "model.onnx"
        path.write_bytes(b"\x08\x07" + os.urandom(2000))
        return resynth(folder, str(path)), {"must_name": "model.onnx"}

    case("onnx-garbage", "random bytes named .onnx", onnx_garbage)

    def npy_giant_header(folder, marker):
        path = folder / "mel.npy"
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (80, 4 * 10**12)})
        path.write_bytes(header.getvalue() + b"\x00" * 64)
        return ["synthesize", "-i", str(path), "-o", str(folder / "out.wav"), "-m", "griffinlim", "--mel-preset", "hifigan-22k"], \
            {"must_name": "mel.npy"}

    case("npy-declared-terabytes", "a .npy mel whose header declares 3.2e14 floats", npy_giant_header)

    def mel_stride0(folder, marker):
        from melwave.audio.config import PRESETS

        path = folder / "mel.pt"
        torch.save({"format": "melwave-mel", "version": 1, "mel": torch.zeros(1).expand(80, 10**9),
                    "mel_config": PRESETS["hifigan-22k"].to_dict(), "source": None, "duration": None}, path)
        return ["synthesize", "-i", str(path), "-o", str(folder / "out.wav"), "-m", "griffinlim"], {"must_name": "mel.pt"}

    case("mel-file-stride0", "a mel .pt holding an expanded 80 x 10^9 mel over one value", mel_stride0)

    def safetensors_deep_header(folder, marker):
        from safetensors.torch import save_file

        path = folder / "model.safetensors"
        save_file({"x": torch.zeros(1)}, str(path), metadata={"melwave": "[" * 50_000 + "]" * 50_000})
        return resynth(folder, str(path)), {"must_name": "model.safetensors"}

    case("safetensors-deep-header", "a melwave header nested 50,000 deep", safetensors_deep_header)

    def sparse(folder, marker):
        path = folder / "g.pth"
        torch.save({"generator": {"conv_pre.weight": torch.zeros(4, 4).to_sparse()}}, path)
        return resynth(folder, str(path)), {"must_name": "g.pth"}

    case("sparse-tensor", "a sparse tensor where weights belong", sparse)

    def long_name(folder, marker):
        good = _wav(folder / "good.wav")
        return ["analyze", "-i", str(good), str(good), "-o", str(folder / "ok.pt"), str(folder / ("n" * 300 + ".pt"))], \
            {"must_name": "n" * 40, "fails_whole": False, "expect_written": ("ok.pt",)}

    case("output-name-too-long", "an output name longer than the file system allows (ENAMETOOLONG)", long_name)

    def hf_traversal(folder, marker):
        env = _hf_cache(folder / "hub", "a/b", {})
        return resynth(folder, "hf:a/b@../../../../etc"), {"env": env, "must_name": "hf:a/b"}

    case("hf-revision-traversal", "an hf: revision with '..' path traversal", hf_traversal)

    return cases


# --- running ------------------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def run_case(case: Case, folder: Path, seconds: int) -> dict:
    """One case through `melwave.cli.main`, in this process (a watchdog alarm reports a hang)."""
    from melwave.cli import main

    before = _snapshot(folder)
    saved_env = {k: os.environ.get(k) for k in case.env}
    os.environ.update(case.env)
    stderr = io.StringIO()

    def alarm(*_):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    error = None
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            rc = main(case.argv)
    except _Timeout:
        rc, error = None, f"still running after {seconds} s"
    except SystemExit as exit_:
        rc = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException as err:  # noqa: BLE001 - the point is to see what escapes
        rc, error = None, f"escaped: {type(err).__name__}: {str(err)[:300]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    after = _snapshot(folder)
    intact = all(after.get(name) == digest for name, digest in before.items())
    return {"case": case.name, "rc": rc, "stderr": stderr.getvalue()[-4000:], "error": error,
            "marker": (folder / MARKER).exists(), "inputs_intact": intact,
            "written": [name for name in case.expect_written if not (folder / name).exists()],
            "absent": [name for name in case.expect_absent if (folder / name).exists()]}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    run = "--run" in args
    only = [a.split("=", 1)[1] for a in args if a.startswith("--only=")]
    dest = Path(next(a for a in args if not a.startswith("--")))
    cases = build(dest)
    for case in cases:
        if only and case.name not in only:
            continue
        if not run:
            print(f"{case.name}: {case.attack}\n    melwave {' '.join(case.argv)[:200]}")
            continue
        result = run_case(case, dest / case.name, seconds=300)
        print(json.dumps({**result, "must_name": case.must_name, "fails_whole": case.fails_whole}), flush=True)
    if run:
        import resource

        # This process's own peak resident size (KiB on Linux), over every case it ran.
        print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
