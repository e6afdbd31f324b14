"""Saved mels: round trip with their config, safe loading, and clear errors naming the file."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.audio.melfile import FORMAT_NAME, MelFile, load_mel, save_mel
from melwave.errors import MelConfigMismatch, MelFileError, OutputExistsError, UnsafeFileError

CFG = PRESETS["hifigan-22k"]


def _mel(frames: int = 50, n_mels: int = 80) -> torch.Tensor:
    return torch.randn(n_mels, frames, generator=torch.Generator().manual_seed(0)) - 5


def test_pt_round_trip_keeps_config_source_duration(tmp_path):
    path = tmp_path / "a.pt"
    mel = _mel()
    save_mel(path, MelFile(mel, CFG, source="speech/a.wav", duration=0.58))
    loaded = load_mel(path)
    torch.testing.assert_close(loaded.mel, mel, rtol=0, atol=0)
    assert loaded.config == CFG and loaded.source == "speech/a.wav" and loaded.duration == pytest.approx(0.58)
    # It is a plain dict readable with weights_only=True (no code can run while loading).
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT_NAME and raw["version"] == 1 and raw["mel_config"] == CFG.to_dict()
    # Permissions are those of a normally created file, not mkstemp's 0600.
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_pt_with_a_different_requested_config_names_fields(tmp_path):
    path = tmp_path / "a.pt"
    save_mel(path, MelFile(_mel(), CFG))
    with pytest.raises(MelConfigMismatch, match="fmax") as info:
        load_mel(path, config=CFG.replace(fmax=11025.0))
    assert "a.pt" in str(info.value)


def test_npy_needs_a_config(tmp_path):
    path = tmp_path / "a.npy"
    save_mel(path, MelFile(_mel(), CFG))
    with pytest.raises(MelFileError, match="a.npy.*carries no config"):
        load_mel(path)
    loaded = load_mel(path, config=CFG)
    torch.testing.assert_close(loaded.mel, _mel())
    assert loaded.config == CFG


def test_existing_output_is_not_clobbered(tmp_path):
    path = tmp_path / "a.pt"
    save_mel(path, MelFile(_mel(), CFG))
    with pytest.raises(OutputExistsError, match="a.pt"):
        save_mel(path, MelFile(_mel(10), CFG))
    save_mel(path, MelFile(_mel(10), CFG), overwrite=True)
    assert load_mel(path).mel.shape == (80, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]  # no temp files left


@pytest.mark.parametrize("bad, message", [
    (lambda m: m.index_fill(1, torch.tensor([3]), float("nan")), "NaN"),
    (lambda m: m[:, :0], "zero frames"),
    (lambda m: m[:64], "64 bins"),
    (lambda m: m[None, None], "shape"),
])
def test_bad_mels_are_refused_naming_the_file(tmp_path, bad, message):
    # Written around save_mel's own validation, as a foreign tool might.
    path = tmp_path / "bad.pt"
    data = MelFile(_mel(), CFG).to_dict() | {"mel": bad(_mel())}
    torch.save(data, path)
    with pytest.raises(MelFileError, match=message) as info:
        load_mel(path)
    assert "bad.pt" in str(info.value)
    np.save(tmp_path / "bad.npy", bad(_mel()).numpy())
    with pytest.raises(MelFileError, match="bad.npy"):
        load_mel(tmp_path / "bad.npy", config=CFG)


def test_save_refuses_bad_mels(tmp_path):
    with pytest.raises(MelFileError, match="NaN"):
        save_mel(tmp_path / "x.pt", MelFile(torch.full((80, 5), float("nan")), CFG))
    assert not list(tmp_path.iterdir())


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_with_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "version": 1, "mel": _Payload(str(marker))}, path)
    with pytest.raises(UnsafeFileError, match="evil.pt: refusing to load.*open.*code execution") as info:
        load_mel(path)
    assert isinstance(info.value, MelFileError)
    assert not marker.exists()
    # Same payload as a bare pickle with a .pt name.
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(MelFileError, match="evil.pt"):
        load_mel(path)
    assert not marker.exists()


@pytest.mark.parametrize("contents, message", [
    (b"", "empty"),
    (b"not a zip or pickle at all", "unreadable"),
    (pickle.dumps({"mel": [1.0, 2.0]}, protocol=4), "a pickle, but not torch.s legacy format"),
])
def test_garbage_files(tmp_path, contents, message):
    path = tmp_path / "g.pt"
    path.write_bytes(contents)
    with pytest.raises(MelFileError, match=message):
        load_mel(path)


def test_other_dicts_versions_and_field_types(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"mel": _mel()}, path)
    with pytest.raises(MelFileError, match="not a melwave mel file"):
        load_mel(path)
    good = MelFile(_mel(), CFG).to_dict()
    for change, message in (({"version": 99}, "version 99"), ({"mel_config": {"n_mels": 80, "bogus": 1}}, "bogus"),
                            ({"duration": "long"}, "duration"), ({"source": 5}, "source")):
        path.unlink()
        torch.save(good | change, path)
        with pytest.raises(MelFileError, match=message):
            load_mel(path)


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(MelFileError, match="nope.pt: no such file"):
        load_mel(tmp_path / "nope.pt")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(MelFileError, match="unsupported mel extension"):
        load_mel(tmp_path / "m.txt")
