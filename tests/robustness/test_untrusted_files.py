"""Files from elsewhere are data: loading mels, checkpoints, models and configs never runs code.

Each malicious file carries a payload that would create a marker file if it ever executed;
the tests prove the load is refused with a clear message AND the marker never appears.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from melwave.audio.config import PRESETS, MelConfig
from melwave.audio.melfile import FORMAT_NAME, MelFile, load_mel
from melwave.errors import CheckpointError, ConfigError, MelFileError, MelwaveError, UnsafeFileError
from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import load_model
from melwave.models.vocoders.hifigan import load_hifigan_checkpoint


class Payload:
    """Unpickling this calls os.system (module-level function, so pickle can name it)."""

    def __init__(self, marker: Path):
        self.command = f"touch {marker}"

    def __reduce__(self):
        return (os.system, (self.command,))


class OpenPayload:
    """Unpickling this calls builtins.open(marker, 'w'): creates the marker without a shell."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payloads_are_live(paths: list[Path], marker: Path) -> None:
    """Prove the files really are dangerous: full unpickling (in one child process) runs each
    file's payload, which creates the marker."""
    code = ("import pathlib, sys, torch\n"
            "marker = pathlib.Path(sys.argv[1])\n"
            "for p in sys.argv[2:]:\n"
            "    torch.load(p, weights_only=False)\n"
            "    print('ran' if marker.exists() else 'inert', flush=True)\n"
            "    marker.unlink(missing_ok=True)\n")
    done = subprocess.run([sys.executable, "-c", code, str(marker), *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["ran"] * len(paths), f"test files are not actually malicious: {done.stdout} {done.stderr[-500:]}"


@pytest.fixture(scope="module")
def malicious(tmp_path_factory) -> tuple[dict[str, Path], Path]:
    directory = tmp_path_factory.mktemp("malicious")
    marker = directory / "PAYLOAD_RAN"
    files = {}
    files["mel-shaped dict with a payload"] = directory / "evil_mel.pt"
    torch.save({"format": FORMAT_NAME, "version": 1, "mel": torch.zeros(80, 4), "mel_config": PRESETS["hifigan-22k"].to_dict(),
                "source": Payload(marker), "duration": 1.0}, files["mel-shaped dict with a payload"])
    files["checkpoint with a payload"] = directory / "evil_generator.pth.tar"
    torch.save({"generator": {"conv_pre.weight": torch.zeros(512, 80, 7)}, "optim": OpenPayload(marker)},
               files["checkpoint with a payload"])
    _payloads_are_live(list(files.values()), marker)
    return files, marker


@pytest.mark.parametrize("which", ["mel-shaped dict with a payload", "checkpoint with a payload"])
def test_malicious_torch_pickles_are_refused_and_never_run(malicious, which):
    files, marker = malicious
    path = files[which]
    as_mel = path if path.suffix == ".pt" else _as(path, ".pt")
    with pytest.raises(UnsafeFileError, match=f"{as_mel.name}: refusing to load.*(system|open).*code execution") as info:
        load_mel(as_mel)
    assert isinstance(info.value, MelFileError)
    for loader in (load_hifigan_checkpoint, load_vocoder):
        with pytest.raises(UnsafeFileError, match="refusing to load") as info:
            loader(path)
        assert isinstance(info.value, CheckpointError)
    assert not marker.exists()


def _as(path: Path, suffix: str) -> Path:
    copy = path.with_name(path.name + suffix)
    copy.write_bytes(path.read_bytes())
    return copy


def test_plain_pickle_and_npy_object_arrays_are_refused(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"mel": OpenPayload(marker)}, protocol=2))
    with pytest.raises(MelwaveError, match="raw.pt"):
        load_mel(raw)
    array = np.empty(1, dtype=object)
    array[0] = OpenPayload(marker)
    npy = tmp_path / "obj.npy"
    np.save(npy, array, allow_pickle=True)
    with pytest.raises(MelFileError, match="obj.npy: not a readable .npy array"):
        load_mel(npy, config=PRESETS["hifigan-22k"])
    assert not marker.exists()


def test_payload_hidden_in_a_zip_member_is_refused(tmp_path):
    # torch's zip format: replace data.pkl of a genuine mel file with a malicious pickle.
    marker = tmp_path / "PAYLOAD_RAN"
    genuine = io.BytesIO()
    torch.save(MelFile(torch.zeros(80, 4), PRESETS["hifigan-22k"]).to_dict(), genuine)
    source = zipfile.ZipFile(io.BytesIO(genuine.getvalue()))
    path = tmp_path / "swapped.pt"
    with zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps(OpenPayload(marker), protocol=2)
            target.writestr(item, data)
    with pytest.raises(MelwaveError, match="swapped.pt"):
        load_mel(path)
    assert not marker.exists()


def test_yaml_configs_are_safe_loaded(tmp_path):
    marker = tmp_path / "PAYLOAD_RAN"
    for text in (f"!!python/object/apply:os.system ['touch {marker}']",
                 f"sample_rate: !!python/object/apply:os.system ['touch {marker}']",
                 "sample_rate: !!python/name:os.system"):
        with pytest.raises(ConfigError, match="not valid YAML") as info:
            MelConfig.from_yaml(text, source="evil.yaml")
        assert "\n" not in str(info.value)  # one line for the CLI
        path = tmp_path / "evil.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match="evil.yaml"):
            MelConfig.load(path)
    assert not marker.exists()


def test_safetensors_models_carry_only_data(tmp_path):
    # A model file's header is JSON and its tensors raw bytes: a hostile header is just a bad file.
    path = tmp_path / "evil.safetensors"
    header = {"format": "melwave-model", "version": 1, "family": "hifigan", "model_config": {"__class__": "os.system"},
              "mel_config": {"sample_rate": 22050}}
    save_file({"x": torch.zeros(1)}, str(path), metadata={"melwave": json.dumps(header)})
    with pytest.raises(CheckpointError, match="evil.safetensors.*__class__"):
        load_model(path)
    # A pickle renamed to .safetensors is not read as a pickle.
    path.write_bytes(pickle.dumps(OpenPayload(tmp_path / "PAYLOAD_RAN")))
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_vocoder(path)
    assert not (tmp_path / "PAYLOAD_RAN").exists()
