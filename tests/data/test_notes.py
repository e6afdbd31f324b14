"""The notes builder: deterministic bytes from a seed, labels as CSV and folder levels."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from melwave.cli import main
from melwave.data.labelled import scan_labelled
from melwave.data.notes import NOTES_PRESETS, NotesSpec, build_notes, chromatic, note_number
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


def test_default_is_nsynth_like_and_small_is_the_shipped_models_data():
    full = NotesSpec()
    assert full == NOTES_PRESETS["full"] and len(full.instruments) >= 8 and len(full.pitches) >= 24 and full.takes >= 4
    assert full.pitches[:3] == ("C3", "C#3", "D3") and full.pitches[-1] == "B5" and len(full.pitches) == 36
    assert full.tuning > 0 and len(full) == 8 * 36 * 3 * 4
    small = NOTES_PRESETS["small"]
    assert len(small) == 240 and small.tuning == 0 and small.reverb == 0
    assert chromatic("B3", "C#4") == ("B3", "C4", "C#4")
    with pytest.raises(ConfigError, match="tuning=80"):
        NotesSpec(tuning=80)


def test_tuning_and_reverb_change_the_takes_deterministically(tmp_path):
    librosa = pytest.importorskip("librosa")
    tuned = NotesSpec(**{**SPEC.__dict__, "pitches": ("A4",), "velocities": ("loud",), "duration": 0.6, "hold": (0.4, 0.45),
                         "tuning": 40.0, "reverb": 0.5, "takes": 3})
    build_notes(tmp_path / "a", tuned, progress=False)
    build_notes(tmp_path / "b", tuned, progress=False)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    cents = []
    for take in range(3):
        wave, rate = sf.read(tmp_path / "a" / "instrument=trumpet" / "pitch=A4" / "velocity=loud" / f"take{take}.wav")
        f0, voiced, _ = librosa.pyin(wave.astype(np.float32), fmin=300, fmax=600, sr=rate, resolution=0.02)
        cents.append(1200 * np.log2(np.median(f0[voiced]) / 440.0))
    assert max(cents) - min(cents) > 10 and max(abs(c) for c in cents) < 50   # detuned differently, within ±40 (+ the font's own)


def test_dataset_notes_cli_preset_and_ranges():
    from melwave.cli.dataset import spec_from_args
    import argparse

    def args(**given):
        base = dict(preset="full", seed=None, instruments=None, pitches=None, velocities=None, takes=None, duration=None,
                    tuning=None, reverb=None)
        return argparse.Namespace(**{**base, **given})

    assert spec_from_args(args(preset="small")) == NOTES_PRESETS["small"]
    assert spec_from_args(args()) == NotesSpec()
    assert spec_from_args(args(pitches=["A3..C4"], takes=2)).pitches == ("A3", "A#3", "B3", "C4")
