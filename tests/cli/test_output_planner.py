"""The output planner and the batch loop against a hostile user: no batch loses or clobbers a file.

Each case runs the real CLI in-process on tiny real audio and checks the exit code, the one-line
refusal naming the inputs and the output, that nothing was written over (inputs byte for byte),
and that the other files of the batch still complete.
"""

from __future__ import annotations

import csv
import dataclasses
import tracemalloc
from pathlib import Path

import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.cli import main
from melwave.data.labelled import read_labels_csv
from melwave.inference import pipeline
from melwave.inference.inputs import MAX_LIST_LINE, read_list
from melwave.inference.output_plan import Item, plan_batch
from melwave.utils.csvsafe import csv_text, guard_cell, unguard_cell

BATCH = {"analyze", "synthesize", "resynth", "run"}


def cli(*args: str) -> int:
    return main([*args, "--no-progress"] if args[0] in BATCH else list(args))


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: 'nothing written' is this staying equal."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def failed_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("melwave: FAILED")]


# --- two inputs, one output --------------------------------------------------------------------


def test_two_inputs_one_output_are_refused_and_the_rest_runs(wav_file, tmp_path, capsys):
    a1, a2, b = wav_file("d1/a.wav", 0.3), wav_file("d2/a.wav", 0.3, f0=200), wav_file("d1/b.wav", 0.3)
    out = tmp_path / "out"
    code = cli("resynth", "-m", "griffinlim", "-i", a1, a2, b, "-o", str(out), "--overwrite")
    err = capsys.readouterr().err
    assert code == 1
    assert snapshot(out).keys() == {"b.wav"}                      # nothing written to the shared output
    refusals = [line for line in failed_lines(err) if "refused" in line]
    assert len(refusals) == 2
    assert all(a1 in line and a2 in line and str(out / "a.wav") in line for line in refusals)
    assert "1 done" in err and "2 failed" in err


def test_shared_output_that_exists_stays_intact(wav_file, tmp_path, capsys):
    a1, a2 = wav_file("d1/a.wav", 0.3), wav_file("d2/a.wav", 0.3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.pt").write_bytes(b"precious")
    for flags in ((), ("--overwrite",), ("--skip-existing",)):
        assert cli("analyze", "-i", a1, a2, "-o", str(out), *flags) == 1
        err = capsys.readouterr().err
        assert "two inputs, one output" in err and "output exists" not in err  # the real reason, not a misleading one
        assert snapshot(out) == {"a.pt": b"precious"}


def test_same_stem_in_two_formats_is_refused(wav_file, tmp_path, capsys):
    import soundfile as sf

    wav_file("in/take.wav", 0.3)
    data, rate = sf.read(wav_file("tmp.wav", 0.3, f0=220))
    sf.write(tmp_path / "in" / "take.flac", data, rate)
    wav_file("in/other.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(tmp_path / "in"), "-o", str(out), "--overwrite") == 1
    err = capsys.readouterr().err
    assert snapshot(out).keys() == {"other.pt"}
    line = next(line for line in failed_lines(err) if "take.flac" in line)
    assert "take.wav" in line and str(out / "take.pt") in line


def test_outputs_differing_only_in_case_are_one_output(wav_file, tmp_path, capsys):
    wav_file("in/Take.wav", 0.3)
    wav_file("in/take.wav", 0.3, f0=210)
    if len(list((tmp_path / "in").iterdir())) != 2:
        pytest.skip("case-insensitive file system: the two inputs are one file")
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(tmp_path / "in"), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert not out.exists() or snapshot(out) == {}
    assert any("Take.wav" in line and "take.wav" in line for line in failed_lines(err))


# --- an output that is an input ----------------------------------------------------------------


def test_resynth_into_its_own_folder_never_touches_the_inputs(wav_file, tmp_path, capsys):
    wav_file("d/a.wav", 0.3)
    wav_file("d/b.wav", 0.3, f0=180)
    before = snapshot(tmp_path / "d")
    assert cli("resynth", "-m", "griffinlim", "-i", str(tmp_path / "d"), "-o", str(tmp_path / "d"), "--overwrite") == 1
    err = capsys.readouterr().err
    assert snapshot(tmp_path / "d") == before
    assert len(failed_lines(err)) == 2 and "its own input" in err and "never writes over an input" in err


def test_output_that_is_another_input_not_yet_read_is_refused(wav_file, tmp_path, capsys):
    import soundfile as sf

    wav_file("d/take.wav", 0.3)
    data, rate = sf.read(wav_file("tmp.wav", 0.3, f0=220))
    sf.write(tmp_path / "d" / "take.flac", data, rate)
    before = snapshot(tmp_path / "d")
    # take.flac -> d/take.wav comes first (sorted) and would replace take.wav before it is read.
    assert cli("resynth", "-m", "griffinlim", "-i", str(tmp_path / "d"), "-o", str(tmp_path / "d"), "--overwrite") == 1
    err = capsys.readouterr().err
    assert snapshot(tmp_path / "d") == before
    line = next(line for line in failed_lines(err) if "take.flac" in line)
    assert "the input" in line and str(tmp_path / "d" / "take.wav") in line


def test_output_folder_reached_through_a_symlink_is_seen(wav_file, tmp_path, capsys):
    wav_file("d/a.wav", 0.3)
    (tmp_path / "link").symlink_to(tmp_path / "d", target_is_directory=True)
    before = snapshot(tmp_path / "d")
    assert cli("resynth", "-m", "griffinlim", "-i", str(tmp_path / "d"), "-o", str(tmp_path / "link"), "--overwrite") == 1
    assert "never writes over an input" in capsys.readouterr().err
    assert snapshot(tmp_path / "d") == before


def test_one_explicit_output_naming_the_input_is_refused(wav_file, tmp_path, capsys):
    src = wav_file("a.wav", 0.3)
    before = Path(src).read_bytes()
    assert cli("resynth", "-m", "griffinlim", "-i", src, "-o", src, "--overwrite") == 1
    assert "its own input" in capsys.readouterr().err
    assert Path(src).read_bytes() == before


# --- the same input twice ----------------------------------------------------------------------


def test_same_input_twice_is_processed_once_with_a_note(wav_file, tmp_path, capsys):
    src = wav_file("a.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", src, src, "-o", str(out)) == 0
    err = capsys.readouterr().err
    assert "named 2 times in the inputs; processed once" in err and "1 done" in err
    assert snapshot(out).keys() == {"a.pt"}


def test_folder_and_a_file_inside_it_run_the_file_once_where_first_named(wav_file, tmp_path, capsys):
    wav_file("d/sub/x.wav", 0.3)
    wav_file("d/y.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(tmp_path / "d"), str(tmp_path / "d" / "sub" / "x.wav"), "-o", str(out)) == 0
    assert "processed once" in capsys.readouterr().err
    assert snapshot(out).keys() == {"sub/x.pt", "y.pt"}


def test_one_input_to_two_named_outputs_writes_both(wav_file, tmp_path):
    src = wav_file("a.wav", 0.3)
    assert cli("analyze", "-i", src, src, "-o", str(tmp_path / "x.pt"), str(tmp_path / "y.pt")) == 0
    assert (tmp_path / "x.pt").exists() and (tmp_path / "y.pt").exists()


def test_planner_alone_sees_the_whole_batch(tmp_path):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    items = [Item(d1 / "a.wav", d1), Item(d2 / "a.wav", d2), Item(d1 / "b.wav", d1)]
    plan = plan_batch(items, [str(tmp_path / "out")], ".pt")
    assert plan.pairs == ((d1 / "b.wav", tmp_path / "out" / "b.pt"),)
    assert [source for source, _ in plan.refused] == [d1 / "a.wav", d2 / "a.wav"]


# --- any exception is one file's line ----------------------------------------------------------


class Fail(Exception):
    """Stands in for onnxruntime's `onnxruntime.capi.onnxruntime_pybind11_state.Fail`."""


def test_any_exception_fails_one_file_and_the_batch_goes_on(wav_file, tmp_path, monkeypatch, capsys):
    real = pipeline.analyze_file
    raised = {"ort": Fail("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Conv node.\nmore"),
              "torch": RuntimeError("CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronous"),
              "memory": MemoryError(), "key": KeyError("mel")}

    def job(source, target, **kw):
        if source.stem in raised:
            raise raised[source.stem]
        return real(source, target, **kw)

    monkeypatch.setattr(pipeline, "analyze_file", job)
    for name in (*raised, "good"):
        wav_file(f"in/{name}.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(tmp_path / "in"), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert snapshot(out).keys() == {"good.pt"}
    lines = failed_lines(err)
    assert len(lines) == 4
    assert any("ort.wav: Fail: [ONNXRuntimeError]" in line for line in lines)
    assert any("torch.wav: RuntimeError: CUDA error: device-side assert triggered" in line for line in lines)
    assert any("memory.wav: MemoryError" in line for line in lines)
    assert "1 done" in err and "4 failed" in err


def test_a_name_too_long_to_write_is_one_line(wav_file, tmp_path, capsys):
    # 240 bytes is a valid name, but not once the atomic write wraps it as a temporary file.
    long_name = "n" * 240 + ".wav"
    wav_file(f"in/{long_name}", 0.3)
    wav_file("in/short.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(tmp_path / "in"), "-o", str(out)) == 1
    err = capsys.readouterr().err
    line = next(line for line in failed_lines(err) if long_name in line)
    assert "File name too long" in line and "Traceback" not in err
    assert snapshot(out).keys() == {"short.pt"}


def test_keyboard_interrupt_still_stops_the_batch(wav_file, tmp_path, monkeypatch):
    real = pipeline.analyze_file

    def job(source, target, **kw):
        if source.stem == "b":
            raise KeyboardInterrupt
        return real(source, target, **kw)

    monkeypatch.setattr(pipeline, "analyze_file", job)
    for name in "abc":
        wav_file(f"in/{name}.wav", 0.3)
    assert cli("analyze", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out")) == 130
    assert snapshot(tmp_path / "out").keys() == {"a.pt"}           # c never ran


# --- hostile .txt lists ------------------------------------------------------------------------


def hostile_list(tmp_path: Path) -> Path:
    listing = tmp_path / "list.txt"
    with open(listing, "wb") as handle:
        handle.write(b"# good, NUL, bad UTF-8, 10 MB, good\n")
        handle.write(b"a.wav\n")
        handle.write(b"b\x00.wav\n")
        handle.write(b"caf\xe9.wav\n")
        handle.write(b"x" * 10_000_000 + b"\n")
        handle.write(b"c.wav\n")
    return listing


def test_bad_list_lines_name_the_list_and_line_and_good_entries_run(wav_file, tmp_path, capsys):
    wav_file("a.wav", 0.3)
    wav_file("c.wav", 0.3)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(hostile_list(tmp_path)), "-o", str(out)) == 1
    err = capsys.readouterr().err
    listing = tmp_path / "list.txt"
    assert f"{listing}:3: contains a NUL byte" in err
    assert f"{listing}:4: not valid UTF-8" in err
    assert f"{listing}:5: line longer than {MAX_LIST_LINE} bytes" in err
    assert all(len(line) < 1000 for line in err.splitlines())
    assert snapshot(out).keys() == {"a.pt", "c.pt"}


def test_a_giant_list_line_is_never_held_in_memory(tmp_path):
    listing = hostile_list(tmp_path)
    tracemalloc.start()
    try:
        items, problems = read_list(listing)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000                                        # the 10 MB line was read in pieces
    assert [item.path.name for item in items] == ["a.wav", "c.wav"] and len(problems) == 3


def test_a_binary_file_named_txt_stops_after_a_few_lines(tmp_path, wav_file, capsys):
    wav_file("a.wav", 0.3)
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\xff\n" * 10_000)
    out = tmp_path / "out"
    assert cli("analyze", "-i", str(junk), str(tmp_path / "a.wav"), "-o", str(out)) == 1
    assert len(failed_lines(capsys.readouterr().err)) <= 25
    assert snapshot(out).keys() == {"a.pt"}


# --- generate: sample names and labels.csv -----------------------------------------------------

LONG = "v" * 300
HOSTILE = ["a/b", "a-b", "a_b", "A", "a", LONG + "1", LONG + "2", "=HYPERLINK(\"http://x\")", "-2+3", "@SUM(1)", "-3.5",
           "'=quoted"]


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator
    from melwave.models.io.model_file import save_model

    torch.manual_seed(0)
    conditions = ({"name": "kind", "values": HOSTILE}, {"name": "level", "values": ["lo", "LO"]})
    model = CWGANGenerator(dataclasses.replace(CONFIGS["debug"], conditions=conditions), PRESETS["hifigan-22k"])
    model.set_statistics(torch.full((80,), -6.0), torch.full((80,), 2.0), frames=100)
    return save_model(model, tmp_path_factory.mktemp("model") / "g.safetensors")


def test_generate_all_gives_every_combination_its_own_file_and_row(hostile_model, tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", "-m", str(hostile_model), "-o", str(out), "--vocoder", "griffinlim", "--all", "-n", "1",
                 "--no-images"]) == 0
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert len(wavs) == len(HOSTILE) * 2
    assert len({name.casefold() for name in wavs}) == len(wavs)   # distinct even on a case-insensitive disk
    assert all(len(name.encode()) < 200 for name in wavs)
    items, vocabulary = read_labels_csv(out / "labels.csv")
    assert sorted(item.path.name for item in items) == wavs       # labels.csv lists exactly the files
    assert {(i.labels["kind"], i.labels["level"]) for i in items} == {(k, v) for k in HOSTILE for v in ("lo", "LO")}
    assert set(vocabulary["kind"].values) == set(HOSTILE)         # formula guards read back as written


def test_generated_names_are_stable_and_clean_ones_untouched(hostile_model, tmp_path):
    args = ["generate", "-m", str(hostile_model), "--vocoder", "griffinlim", "--all", "-n", "1", "--no-images",
            "--condition", "level=lo"]
    assert main([*args, "-o", str(tmp_path / "one")]) == 0
    assert main([*args, "-o", str(tmp_path / "two"), "--seed", "5"]) == 0
    names = sorted(p.name for p in (tmp_path / "one").glob("*.wav"))
    assert names == sorted(p.name for p in (tmp_path / "two").glob("*.wav"))
    assert "kind--3.5_level-lo_000.wav" in names and "kind-a_b_level-lo_000.wav" in names   # no clash: no tag
    tagged = [n for n in names if n.startswith(("kind-a-b_level-lo_000-", "kind-a_level-lo_000-", "kind-A_level-lo_000-"))]
    assert len(tagged) == 4                                         # a/b, a-b, A, a: each tagged
    assert sum(n.startswith("kind-" + "v" * 100) for n in names) == 2  # long values: cut, told apart by a hash


def test_labels_csv_cells_cannot_run_as_formulas(hostile_model, tmp_path):
    out = tmp_path / "gen"
    assert main(["generate", "-m", str(hostile_model), "-o", str(out), "--vocoder", "griffinlim", "--all", "-n", "1",
                 "--no-images", "--condition", "level=lo"]) == 0
    cells = [cell for row in csv.reader((out / "labels.csv").open(newline="")) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r")) or (c.startswith("-") and c != "-3.5")]
    assert "-3.5" in cells and "'=HYPERLINK(\"http://x\")" in cells and "''=quoted" in cells


# --- the CSV guard -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "'=x", "''-1", "'abc", "plain",
                                   "", "'", "-3.5", "+1e-3", "-inf", "x=1"])
def test_guard_round_trips_every_text(value):
    guarded = guard_cell(value)
    assert unguard_cell(guarded) == value
    if value in ("-3.5", "+1e-3", "-inf"):
        assert guarded == value                                     # a number is no formula: kept as it is
    else:
        assert not guarded.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_numbers_stay_numbers():
    assert guard_cell(-3.5) == -3.5 and guard_cell(-2) == -2
    assert csv_text([["x", -3.5, "-3.5", "-x"]], lineterminator="\n") == "x,-3.5,-3.5,'-x\n"


def test_every_csv_melwave_writes_goes_through_the_guard():
    package = Path(__file__).resolve().parents[2] / "melwave"
    writers = [p.relative_to(package).as_posix() for p in package.rglob("*.py")
               if "csv.writer(" in p.read_text(encoding="utf-8") or "csv.DictWriter(" in p.read_text(encoding="utf-8")]
    assert writers == ["utils/csvsafe.py"]
