"""The notes builder: deterministic bytes from a seed, labels as CSV and folder levels."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from melwave.cli import main
from melwave.data.labelled import scan_labelled
from melwave.data.notes import NotesSpec, build_notes, note_number
from melwave.errors import ConfigError, OutputExistsError

SPEC = NotesSpec(instruments=("trumpet",), pitches=("C4", "C5"), velocities=("soft", "loud"), takes=2,
                 duration=0.3, hold=(0.1, 0.2), max_onset=0.01, seed=11)


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_takes(tmp_path):
    build_notes(tmp_path / "a", SPEC)
    build_notes(tmp_path / "b", SPEC)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    build_notes(tmp_path / "c", NotesSpec(**{**SPEC.__dict__, "seed": 12}))
    a, c = files(tmp_path / "a"), files(tmp_path / "c")
    assert set(a) == set(c)
    assert any(a[k] != c[k] for k in a if k.endswith(".wav"))


def test_labels_agree_with_folders_and_velocity_is_louder(tmp_path):
    build_notes(tmp_path, SPEC)
    rows = list(csv.DictReader((tmp_path / "labels.csv").open()))
    assert len(rows) == len(SPEC) == 8
    csv_items, csv_vocab = scan_labelled(tmp_path, source="csv")
    folder_items, folder_vocab = scan_labelled(tmp_path, source="folders")
    assert {(i.path, tuple(sorted(i.labels.items()))) for i in csv_items} == \
           {(i.path, tuple(sorted(i.labels.items()))) for i in folder_items}
    assert csv_vocab.to_list() == [{"name": "instrument", "values": ["trumpet"]}, {"name": "pitch", "values": ["C4", "C5"]},
                                   {"name": "velocity", "values": ["soft", "loud"]}]
    wave, rate = sf.read(tmp_path / rows[0]["path"])
    assert rate == 22050 and len(wave) == round(0.3 * 22050) and wave.ndim == 1
    rms = {v: np.mean([np.sqrt(np.mean(sf.read(tmp_path / r["path"])[0] ** 2)) for r in rows if r["velocity"] == v])
           for v in ("soft", "loud")}
    assert rms["loud"] > 1.5 * rms["soft"]


def test_spec_errors_and_refusing_a_non_empty_folder(tmp_path):
    with pytest.raises(ConfigError, match="unknown instruments"):
        NotesSpec(instruments=("kazoo",))
    with pytest.raises(ConfigError, match="note name"):
        NotesSpec(pitches=("H2",))
    assert note_number("C4") == 60 and note_number("F#3") == 54 and note_number("Bb5") == 82
    build_notes(tmp_path, SPEC)
    with pytest.raises(OutputExistsError):
        build_notes(tmp_path, SPEC)


def test_dataset_notes_cli(tmp_path, capsys):
    out = tmp_path / "n"
    assert main(["dataset", "notes", str(out), "--instruments", "flute", "--pitches", "A4", "--velocities", "loud",
                 "--takes", "2", "--seed", "5"]) == 0
    assert (out / "instrument=flute" / "pitch=A4" / "velocity=loud" / "take1.wav").exists()
    assert main(["dataset", "notes", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
