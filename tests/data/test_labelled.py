"""Labels from folders (name=value, named levels) and CSV; errors name the file; bad audio skipped."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from melwave.audio.config import PRESETS
from melwave.data.labelled import (
    DatasetError, LabelledDataConfig, LabelledMels, Vocabulary, read_labels_csv, scan_labelled, silence_value,
)
from melwave.errors import ConfigError

SR = 22050


def tone(path, seconds=0.3, freq=440.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return path


def test_name_value_folders_give_conditions_with_natural_order(tmp_path):
    for force in ("2", "10", "1"):
        for angle in ("sm", "lg"):
            tone(tmp_path / f"force={force}" / f"angle={angle}" / "x.wav")
    items, vocabulary = scan_labelled(tmp_path)
    assert vocabulary.names == ("force", "angle")
    assert vocabulary["force"].values == ("1", "2", "10")       # natural, not lexicographic
    assert vocabulary["angle"].values == ("lg", "sm")
    assert len(items) == 6
    assert {tuple(sorted(i.labels.items())) for i in items} >= {(("angle", "sm"), ("force", "10"))}


def test_plain_levels_need_names_and_then_map_positionally(tmp_path):
    tone(tmp_path / "sm" / "0" / "a.wav")
    tone(tmp_path / "v" / "3" / "b.wav")
    with pytest.raises(DatasetError, match="name=value"):
        scan_labelled(tmp_path)
    items, vocabulary = scan_labelled(tmp_path, levels=["angle", "force"])
    assert vocabulary.names == ("angle", "force")
    assert vocabulary["angle"].values == ("sm", "v") and vocabulary["force"].values == ("0", "3")
    tone(tmp_path / "lg" / "b.wav")
    with pytest.raises(DatasetError, match="1 folder level"):
        scan_labelled(tmp_path, levels=["angle", "force"])


def test_folders_with_different_conditions_are_an_error(tmp_path):
    tone(tmp_path / "force=1" / "a.wav")
    tone(tmp_path / "angle=0" / "b.wav")
    with pytest.raises(DatasetError, match="differ"):
        scan_labelled(tmp_path)


def test_csv_labels_keep_first_appearance_order_and_report_line_errors(tmp_path):
    tone(tmp_path / "a.wav")
    tone(tmp_path / "sub" / "b.wav")
    (tmp_path / "labels.csv").write_text("path,instrument,pitch\na.wav,flute,C4\nsub/b.wav,piano,A3\n")
    items, vocabulary = scan_labelled(tmp_path)              # auto: labels.csv wins
    assert vocabulary.to_list() == [{"name": "instrument", "values": ["flute", "piano"]},
                                    {"name": "pitch", "values": ["C4", "A3"]}]
    assert items[1].path == tmp_path / "sub" / "b.wav"
    bad = tmp_path / "bad.csv"
    bad.write_text("path,instrument\na.wav,flute,extra\n")
    with pytest.raises(DatasetError, match=r"bad.csv:2: 3 fields, the header has 2"):
        read_labels_csv(bad)
    bad.write_text("file,instrument\na.wav,flute\n")
    with pytest.raises(DatasetError, match="must start with 'path'"):
        read_labels_csv(bad)
    bad.write_text("path,instrument\n")
    with pytest.raises(DatasetError, match="no rows"):
        read_labels_csv(bad)


def test_formula_guarded_labels_csv_reads_back_the_values_written(tmp_path):
    # What melwave writes for hostile values (melwave.utils.csvsafe): a leading ' before a formula
    # trigger. The reader gives back the raw values; a plain leading ' and numbers are untouched.
    from melwave.utils.csvsafe import csv_text

    rows = [["path", "=cond"], ["'=a.wav", '=HYPERLINK("x")'], ["b.wav", "-3.5"], ["c.wav", "'plain"], ["d.wav", "'-1"]]
    (tmp_path / "labels.csv").write_text(csv_text(rows, lineterminator="\n"))
    assert (tmp_path / "labels.csv").read_text().splitlines()[:2] == ["path,'=cond", "''=a.wav,\"'=HYPERLINK(\"\"x\"\")\""]
    items, vocabulary = read_labels_csv(tmp_path / "labels.csv")
    assert vocabulary.names == ("=cond",)
    assert [item.path.name for item in items] == ["'=a.wav", "b.wav", "c.wav", "d.wav"]
    assert [item.labels["=cond"] for item in items] == ['=HYPERLINK("x")', "-3.5", "'plain", "'-1"]


def test_unreadable_files_are_skipped_and_crops_have_fixed_size(tmp_path, caplog):
    tone(tmp_path / "k=a" / "long.wav", seconds=1.0)
    tone(tmp_path / "k=b" / "short.wav", seconds=0.1)
    (tmp_path / "k=b" / "broken.wav").write_bytes(b"RIFF not really a wav")
    mel = PRESETS["hifigan-22k"]
    data = LabelledMels.from_folder(tmp_path, mel, frames=32, data=LabelledDataConfig(crop="start"))
    assert len(data) == 2
    assert "broken.wav" in caplog.text
    crops = [data[i][0] for i in range(len(data))]
    assert all(c.shape == (80, 32) for c in crops)
    short = crops[1]  # files are read in path order: k=a/long.wav, (k=b/broken.wav skipped), k=b/short.wav
    assert torch.allclose(short[:, -5:], torch.full((80, 5), silence_value(mel)))  # padded with silence
    mean, std, frames = data.statistics()
    assert mean.shape == std.shape == (80,) and frames == 64 and (std > 0).all()


def test_random_crops_are_reproducible_by_key(tmp_path):
    tone(tmp_path / "k=a" / "long.wav", seconds=2.0, freq=300)
    data = LabelledMels.from_folder(tmp_path, PRESETS["hifigan-22k"], frames=16, data=LabelledDataConfig(crop="random"))
    assert torch.equal(data[(0, 5)][0], data[(0, 5)][0])
    assert any(not torch.equal(data[(0, 5)][0], data[(0, s)][0]) for s in range(6, 12))


def test_vocabulary_errors_list_the_valid_values():
    vocabulary = Vocabulary.from_list([{"name": "pitch", "values": ["C4", "G4"]}])
    with pytest.raises(ConfigError, match="valid: C4, G4"):
        vocabulary.encode({"pitch": "A4"})
    with pytest.raises(ConfigError, match="pitch = C4|G4"):
        vocabulary["velocity"]
