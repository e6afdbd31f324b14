"""Corpus-scale runs: --shard, --jobs, --manifest / `evaluate merge`, --batch-size.

Sharding is checked where it is decided (the batch's units, from real files through the input
expansion and the output planner) and through the CLI; --jobs and Ctrl-C through a real
`python -m melwave` process; batching against one-by-one vocoding of the same mels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melwave.audio.config import PRESETS
from melwave.cli import main
from melwave.cli.workers import assign
from melwave.errors import ConfigError
from melwave.inference.batch_plan import batch_units
from melwave.inference.inputs import expand_inputs
from melwave.inference.manifest import FILE_FIELDS, RUN_FIELDS, merge_manifests
from melwave.inference.output_plan import plan_batch
from melwave.inference.sharding import Shard, from_environment, parse_shard, resolve_shard, shard_of

BATCH = {"analyze", "synthesize", "resynth", "run"}


def cli(*args: str) -> int:
    return main([*args, "--no-progress"] if args[0] in BATCH else list(args))


def units_of(root: Path, outputs: str = "out"):
    items, problems = expand_inputs([str(root)], (".wav",))
    return batch_units(items, problems, plan_batch(items, [outputs], ".pt"))


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def corpus(wav_file, tmp_path):
    """Nine short clips in three folders, and the folder."""
    for index in range(9):
        wav_file(f"in/{'xyz'[index % 3]}/c{index}.wav", seconds=0.25 + 0.02 * index, f0=120 + 10 * index)
    return tmp_path / "in"


# --- the shard rule -----------------------------------------------------------------------------

NAMES = st.text(alphabet="abcXYZ019 _-éü日", min_size=1, max_size=8).filter(lambda s: s.strip() == s and s[0] not in "-")
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts) + ".wav")


def make(root: Path, relatives) -> None:
    for relative in relatives:
        path = root / relative
        if path.parent.exists() and not path.parent.is_dir() or path.is_dir():
            continue  # a name used as both a folder and a file: keep the first
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.sets(PATHS, min_size=1, max_size=25), added=st.sets(PATHS, max_size=10), count=st.integers(1, 9))
def test_shards_partition_the_batch_and_added_inputs_move_nothing(files, added, count):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        make(root, sorted(files))
        units = units_of(root)
        owners = {u.id: [k for k in range(1, count + 1) if Shard(k, count).owns(u.key)] for u in units}
        assert all(len(shards) == 1 for shards in owners.values()), owners  # every input in exactly one shard
        assert len(owners) == len(units)                                   # and ids tell every input apart
        make(root, sorted(added))
        grown = {u.id: [k for k in range(1, count + 1) if Shard(k, count).owns(u.key)] for u in units_of(root)}
        assert {id: owners[id] for id in owners if id in grown} == {id: grown[id] for id in owners if id in grown}


@settings(max_examples=60, deadline=None)
@given(keys=st.sets(PATHS, min_size=1, max_size=40), count=st.integers(1, 7), parts=st.integers(1, 5))
def test_a_split_shard_is_exactly_the_shard(keys, count, parts):
    """--jobs workers and torchrun ranks take sub-shards: together exactly their shard, nothing else."""
    keys = sorted(keys)
    for index in range(1, count + 1):
        shard = Shard(index, count)
        mine = [k for k in keys if shard.owns(k)]
        subs = shard.split(parts)
        assert sorted(k for sub in subs for k in keys if sub.owns(k)) == mine
        assert [subs[j].owns(k) for k, j in zip(mine, assign(mine, shard, parts))] == [True] * len(mine)


def test_the_same_corpus_mounted_elsewhere_splits_the_same(tmp_path):
    names = [f"d{i % 4}/f{i}.wav" for i in range(30)]
    make(tmp_path / "mnt" / "a" / "corpus", names)
    make(tmp_path / "elsewhere", names)
    split = [{u.id: shard_of(u.key, 5) for u in units_of(root)} for root in (tmp_path / "mnt" / "a" / "corpus", tmp_path / "elsewhere")]
    assert split[0] == split[1] and len(set(split[0].values())) > 1


def test_the_hash_is_sha256_of_the_relative_path():
    # The documented rule, spelt out: anyone can compute which shard holds a file.
    import hashlib
    import unicodedata

    for relative in ("a/b.wav", "x.flac", "caf\u0065\u0301/n.wav"):
        expected = int.from_bytes(hashlib.sha256(unicodedata.normalize("NFC", relative).encode()).digest()[:8], "big") % 7 + 1
        assert shard_of(relative, 7) == expected


# --- --shard values and the environment ----------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("3/2", "--shard 3/2: K must be between 1 and N (2)"),
    ("0/0", "--shard 0/0: the number of shards N must be at least 1"),
    ("x", "--shard 'x': expected K/N"),
    ("0/4", "--shard 0/4: shards count from 1"),
    ("1/4/2", "expected K/N"),
])
def test_bad_shard_values_are_one_line_errors(text, message, corpus, tmp_path, capsys):
    assert cli("analyze", "-i", str(corpus), "-o", str(tmp_path / "o"), "--shard", text) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("melwave: error: ") and message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option, value", [("--jobs", "0"), ("--jobs", "two"), ("--batch-size", "-1")])
def test_bad_counts_are_one_line_errors(option, value, corpus, tmp_path, capsys):
    assert cli("resynth", "-m", "griffinlim", "-i", str(corpus), "-o", str(tmp_path / "o"), option, value) == 2
    err = capsys.readouterr().err
    assert err == f"melwave: error: {option} {value}: expected a whole number >= 1\n"


@pytest.mark.parametrize("env, label", [
    ({}, "1/1"),
    ({"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}, "3/4"),
    # Slurm arrays numbered from 0 and from 1 both give shards 1..N.
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}, "1/4"),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, "4/4"),
    ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_MAX": "7"}, "3/3"),
    ({"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2"}, "2/2"),
    # The batch script itself: --ntasks=4 in the environment, but one process: the whole batch.
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, "1/1"),
    # An array of srun launches: array task 2 of 3 (from 1), srun task 1 of 2.
    ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3",
      "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2"}, "4/6"),
])
def test_shard_auto_reads_the_launcher(env, label):
    assert from_environment(env).label == label
    assert resolve_shard("auto", env)[0].label == label


def test_shard_auto_launches_cover_every_shard_once():
    for count, first in ((4, 0), (4, 1), (3, 10)):
        labels = [from_environment({"SLURM_ARRAY_TASK_ID": str(first + t), "SLURM_ARRAY_TASK_COUNT": str(count),
                                    "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_MAX": str(first + count - 1)}).label
                  for t in range(count)]
        assert sorted(labels) == [f"{k}/{count}" for k in range(1, count + 1)]


@pytest.mark.parametrize("env, message", [
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "12"},
     "consecutive ids"),
    ({"RANK": "4", "WORLD_SIZE": "4"}, "expected 0 <= RANK < WORLD_SIZE"),
    ({"RANK": "one", "WORLD_SIZE": "4"}, "RANK='one': expected an integer"),
])
def test_shard_auto_refuses_an_environment_it_cannot_split_by(env, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(env)


def test_under_torchrun_an_explicit_shard_is_split_by_rank():
    parts = [resolve_shard("2/3", {"RANK": str(r), "WORLD_SIZE": "2"})[0] for r in range(2)]
    assert [p.label for p in parts] == ["2/6", "5/6"] and parts == list(parse_shard("2/3").split(2))


def test_shard_auto_on_the_cli(corpus, tmp_path, monkeypatch, capsys):
    seen = {}
    for task in (1, 2):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
        for name, value in (("COUNT", "2"), ("MIN", "1"), ("MAX", "2")):
            monkeypatch.setenv(f"SLURM_ARRAY_TASK_{name}", value)
        assert cli("analyze", "-i", str(corpus), "-o", str(tmp_path / "mels"), "--shard", "auto",
                   "--manifest", str(tmp_path / "m.jsonl")) == 0
        err = capsys.readouterr().err
        assert f"--shard auto: shard {task}/2 (Slurm SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT)" in err
        assert f"melwave: shard {task}/2: " in err
        seen[task] = {r["id"] for r in records(tmp_path / f"m.shard-{task}-of-2.jsonl") if r["record"] == "file"}
    assert seen[1] and seen[2] and not seen[1] & seen[2]
    assert seen[1] | seen[2] == tree(corpus) and tree(tmp_path / "mels") == {p.replace(".wav", ".pt") for p in tree(corpus)}


def test_torchrun_ranks_split_a_batch_command_without_being_asked(corpus, tmp_path, monkeypatch, capsys):
    done = {}
    for rank in (0, 1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        before = tree(tmp_path / "mels") if (tmp_path / "mels").exists() else set()
        assert cli("analyze", "-i", str(corpus), "-o", str(tmp_path / "mels")) == 0
        err = capsys.readouterr().err
        assert f"note: torchrun rank {rank} of 2: running shard {rank + 1}/2 (the batch split by RANK/WORLD_SIZE)" in err
        assert f"melwave: shard {rank + 1}/2: {len(tree(tmp_path / 'mels') - before)} done" in err
        done[rank] = tree(tmp_path / "mels") - before
    assert done[0] and done[1] and len(done[0]) + len(done[1]) == len(tree(corpus))


# --- manifests and merging ----------------------------------------------------------------------


def test_manifest_lines_are_json_with_the_documented_fields(corpus, tmp_path, wav_file, capsys):
    (corpus / "x" / "broken.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    wav_file("in/y/c1.flac", seconds=0.2)  # y/c1.wav and y/c1.flac: one output, both refused
    manifest = tmp_path / "runs" / "m.jsonl"
    args = ("resynth", "-m", "griffinlim", "-i", str(corpus), "-o", str(tmp_path / "out"), "--manifest", str(manifest))
    assert cli(*args) == 1
    assert cli(*args, "--skip-existing") == 1  # a resumed run appends its own run record
    capsys.readouterr()
    lines = records(manifest)
    runs = [r for r in lines if r["record"] == "run"]
    files = [r for r in lines if r["record"] == "file"]
    assert len(runs) == 2 and all(set(RUN_FIELDS) <= set(r) for r in runs)
    assert all(set(FILE_FIELDS) <= set(r) for r in files)
    first = files[: len(files) // 2]
    status = {r["id"]: r["status"] for r in first}
    assert status["x/broken.wav"] == "failed" and status["y/c1.wav"] == status["y/c1.flac"] == "refused"
    assert sum(s == "ok" for s in status.values()) == 8
    assert runs[0]["inputs_total"] == len(first) == 11 and sorted(runs[0]["planned"]) == sorted(status)
    for record in first:
        if record["status"] == "ok":
            seconds = sf.info(record["input"]).duration
            assert record["audio_seconds"] == pytest.approx(seconds, abs=0.02) and record["error"] is None
            assert Path(record["output"]).exists() and record["seconds"] > 0
        else:
            assert record["error"] and record["audio_seconds"] is None
    assert {r["id"]: r["status"] for r in files[len(files) // 2:] if r["status"] == "skipped"}.keys() == \
        {id for id, s in status.items() if s == "ok"}


def test_merge_reports_missing_and_duplicated_inputs(corpus, tmp_path, capsys):
    out, m = tmp_path / "mels", tmp_path / "m.jsonl"
    for shard in ("1/3", "2/3", "3/3"):
        assert cli("analyze", "-i", str(corpus), "-o", str(out), "--shard", shard, "--manifest", str(m)) == 0
    shards = [tmp_path / f"m.shard-{k}-of-3.jsonl" for k in (1, 2, 3)]
    planned = [set(records(p)[0]["planned"]) for p in shards]
    assert all(planned) and sum(map(len, planned)) == 9

    assert cli("evaluate", "merge", *map(str, shards)) == 0
    assert "complete: every input recorded once, none failed" in capsys.readouterr().err

    merged = merge_manifests([shards[0], shards[2]])
    assert merged.missing_shards == ["2/3"] and merged.unplanned == len(planned[1]) and not merged.duplicates
    assert cli("evaluate", "merge", str(shards[0]), str(shards[2])) == 1
    err = capsys.readouterr().err
    assert "missing: shard 2/3: no manifest covers it" in err and f"{len(planned[1])} missing" in err

    # A whole-batch run next to the shards: every input recorded twice.
    assert cli("analyze", "-i", str(corpus), "-o", str(tmp_path / "again"), "--manifest", str(tmp_path / "whole.jsonl")) == 0
    merged = merge_manifests([*shards, tmp_path / "whole.jsonl"])
    assert sorted(id for (id, _), _ in merged.duplicates) == sorted(tree(corpus))
    assert all(len(shards_of) == 2 and "1/1" in shards_of for _, shards_of in merged.duplicates)
    assert cli("evaluate", "merge", *map(str, shards), str(tmp_path / "whole.jsonl")) == 1
    assert "9 duplicated" in capsys.readouterr().err


def test_merge_names_inputs_a_killed_run_never_recorded_and_a_resumed_run_completes(corpus, tmp_path, capsys):
    out, m = tmp_path / "mels", tmp_path / "m.jsonl"
    for shard in ("1/2", "2/2"):
        assert cli("analyze", "-i", str(corpus), "-o", str(out), "--shard", shard, "--manifest", str(m)) == 0
    cut = tmp_path / "m.shard-2-of-2.jsonl"
    lines = cut.read_text().splitlines(keepends=True)
    lost = json.loads(lines[-1])
    Path(lost["output"]).unlink()
    cut.write_text("".join(lines[:-1]) + lines[-1][:25])  # killed while writing its last line
    merged = merge_manifests([tmp_path / "m.shard-1-of-2.jsonl", cut])
    assert merged.unrecorded == [((lost["id"], None), "2/2")]
    assert any("not valid JSON" in p for p in merged.problems)
    capsys.readouterr()
    # The resumed shard appends to the same file (starting on a fresh line) and skips what is done.
    assert cli("analyze", "-i", str(corpus), "-o", str(out), "--shard", "2/2", "--manifest", str(m), "--skip-existing") == 0
    merged = merge_manifests([tmp_path / "m.shard-1-of-2.jsonl", cut])
    assert not merged.unrecorded and not merged.duplicates and merged.final[(lost["id"], None)]["status"] == "ok"
    assert merged.counts()["ok"] == 9 and merged.counts()["skipped"] == 0  # "skipped" keeps the earlier "ok"
    assert len(merged.problems) == 1  # only the cut line, now followed by valid ones


def test_sharded_vocoder_evaluation_merges_into_one_table(corpus, tmp_path, capsys):
    options = ["-m", "griffinlim", "--data", str(corpus), "--no-dnsmos", "--embedding", "none", "--no-report",
               "--no-progress", "--out", str(tmp_path / "ev"), "--manifest", str(tmp_path / "ev.jsonl")]
    for shard in ("1/2", "2/2"):
        assert cli("evaluate", "vocoder", *options, "--shard", shard) == 0
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["shard-1-of-2", "shard-2-of-2"]
    capsys.readouterr()
    manifests = sorted(str(p) for p in tmp_path.glob("ev.shard-*.jsonl"))
    assert cli("evaluate", "merge", *manifests, "--out", str(tmp_path / "merged")) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:2] == ["griffinlim", "9"]  # every shard's clips in one row
    rows = (tmp_path / "merged" / "clips.csv").read_text().splitlines()
    assert len(rows) == 1 + 9


# --- --jobs -------------------------------------------------------------------------------------


def melwave(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "melwave", *args, "--no-progress"], capture_output=True, text=True,
                          env=env, timeout=300, **kw)


def test_jobs_2_writes_what_jobs_1_writes_and_reports_a_failure_once(corpus, tmp_path):
    broken = corpus / "y" / "broken.wav"
    broken.write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    runs = {}
    for jobs in ("1", "2"):
        runs[jobs] = melwave("resynth", "-m", "griffinlim", "-i", str(corpus), "-o", str(tmp_path / f"o{jobs}"),
                             "--jobs", jobs, "--manifest", str(tmp_path / f"m{jobs}.jsonl"))
        assert runs[jobs].returncode == 1, runs[jobs].stderr
        assert "9 done, 0 skipped, 1 failed" in runs[jobs].stderr
    one, two = tmp_path / "o1", tmp_path / "o2"
    assert tree(one) == tree(two) and len(tree(one)) == 9
    assert all((one / name).read_bytes() == (two / name).read_bytes() for name in tree(one))
    failed = [line for line in runs["2"].stderr.splitlines() if line.startswith("melwave: FAILED")]
    assert len(failed) == 1 and str(broken) in failed[0]
    assert runs["2"].stderr.count(str(broken)) == runs["1"].stderr.count(str(broken)) == 2  # the line and the summary
    lines = [r for r in records(tmp_path / "m2.jsonl") if r["record"] == "file"]
    assert sorted(r["id"] for r in lines) == sorted(tree(corpus)) and records(tmp_path / "m2.jsonl")[0]["jobs"] == 2


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        if entry.name.isdigit() and f"\nPPid:\t{pid}\n" in status:
            found.add(int(entry.name))
    return found


def running(pid: int) -> str:
    """The command line of a live (not zombie) process, else ""."""
    try:
        if "zombie" in Path(f"/proc/{pid}/status").read_text():
            return ""
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# Slow suite: it races a real SIGINT against two worker processes, and on a loaded 2-core machine
# (the fresh-clone run) a worker could die before the parent saw the signal (exit 1, not 130).
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_ctrl_c_stops_every_worker_and_leaves_no_partial_output(wav_file, tmp_path):
    for index in range(120):
        wav_file(f"many/{index % 6}/f{index}.wav", seconds=1.5)
    assert cli("resynth", "-m", "griffinlim", "-i", str(tmp_path / "many" / "0" / "f0.wav"), "-o", str(tmp_path / "ref.wav")) == 0
    complete = sf.info(tmp_path / "ref.wav").frames  # every input is 1.5 s: every finished output this long
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "melwave", "resynth", "-m", "griffinlim", "-i", str(tmp_path / "many"),
                                "-o", str(out), "--jobs", "2", "--no-progress"], stderr=subprocess.PIPE, text=True,
                               env=env, start_new_session=True)
    workers: set[int] = set()
    for _ in range(1200):  # until both workers run and have written something (at most 120 s)
        workers |= children(process.pid)
        if len(workers) >= 2 and out.exists() and any(out.rglob("*.wav")):
            break
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "melwave: interrupted" in err, err[-2000:]
    for _ in range(100):  # the workers are gone (multiprocessing's resource tracker may take a moment more)
        left = {pid: alive for pid in workers if (alive := running(pid))}
        if not left:
            break
        time.sleep(0.1)
    assert not left
    written = sorted(out.rglob("*"))
    assert not [p for p in written if p.is_file() and not p.name.endswith(".wav")]  # no temporary files left
    wavs = [p for p in written if p.suffix == ".wav"]
    assert 0 < len(wavs) < 120  # stopped part-way
    assert all(sf.info(path).frames == complete for path in wavs)  # every output complete


# --- --batch-size -------------------------------------------------------------------------------


def tiny_hifigan(seed: int = 0):
    from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN

    torch.manual_seed(seed)
    model = HiFiGAN(HIFIGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()
    for parameter in model.parameters():  # larger than the init's 0.01 so the output is not near silence
        parameter.data.mul_(8)
    return model


@pytest.mark.float_sensitive
def test_batched_hifigan_equals_one_by_one():
    from melwave.inference.batching import vocode_batch
    from melwave.models.streaming import measure_reach

    vocoder = tiny_hifigan()
    reach = measure_reach(vocoder)
    window = reach.left + reach.right
    generator = torch.Generator().manual_seed(1)
    lengths = [1, 3, window - 1, window, window + 1, 40, 57, 57, 90, 64]
    mels = [torch.randn(80, n, generator=generator) * 2 - 5 for n in lengths]
    alone = [vocoder(mel[None])[0] for mel in mels]
    batched = vocode_batch(vocoder, mels, batch_size=3)
    for mel, one, many in zip(mels, alone, batched):
        assert many.shape == one.shape == (mel.shape[-1] * vocoder.hop_length,)
        peak = one.abs().max().item()
        assert peak > 1e-3
        assert (many - one).abs().max().item() <= 1e-5 * peak
    # What the tails are for: padding alone changes the end of every shorter mel by far more.
    longest = max(lengths)
    padded = torch.zeros(1, 80, longest)
    padded[0, :, :40] = mels[5]
    naive = vocoder(padded)[0, : 40 * vocoder.hop_length]
    assert (naive - alone[5]).abs().max().item() > 100 * 1e-5 * alone[5].abs().max().item()


def test_batch_refusals():
    from melwave.inference.batching import batch_refusal
    from melwave.models.vocoders.griffinlim import GriffinLim

    assert batch_refusal(tiny_hifigan()) is None
    assert batch_refusal(GriffinLim()) is not None


@pytest.mark.float_sensitive
def test_batch_size_on_the_cli_writes_what_one_by_one_writes(corpus, wav_file, tmp_path, capsys):
    from melwave.models.io.model_file import save_model

    model = tmp_path / "tiny.safetensors"
    save_model(tiny_hifigan(), model)
    wav_file("in/long/l.wav", seconds=1.2)  # longer than the 0.5 s chunk: vocoded alone, chunked
    (corpus / "z" / "bad.wav").write_bytes(b"")
    common = ("resynth", "-m", str(model), "-i", str(corpus), "--chunk-seconds", "0.5")
    assert cli(*common, "-o", str(tmp_path / "one")) == 1
    assert cli(*common, "-o", str(tmp_path / "four"), "--batch-size", "4", "--manifest", str(tmp_path / "b.jsonl")) == 1
    err = capsys.readouterr().err
    assert err.count("bad.wav: ") == 4 and "10 done, 0 skipped, 1 failed" in err  # once per run, plus the summaries
    names = tree(tmp_path / "one")
    assert names == tree(tmp_path / "four") and len(names) == 10
    for name in names:
        a, _ = sf.read(tmp_path / "one" / name, dtype="float32")
        b, _ = sf.read(tmp_path / "four" / name, dtype="float32")
        assert a.shape == b.shape and np.abs(a - b).max() <= 1.01 / 32768  # at most one 16-bit step apart
    ok = [r for r in records(tmp_path / "b.jsonl") if r.get("status") == "ok"]
    assert all(r["audio_seconds"] == pytest.approx(sf.info(r["output"]).duration, abs=1e-3) for r in ok) and len(ok) == 10


def test_griffinlim_cannot_batch_and_runs_one_by_one_with_a_note(corpus, tmp_path, capsys):
    assert cli("resynth", "-m", "griffinlim", "-i", str(corpus), "-o", str(tmp_path / "b"), "--batch-size", "4") == 0
    err = capsys.readouterr().err
    assert err.count("note: --batch-size 4: vocoder 'griffinlim' cannot batch exactly") == 1
    assert cli("resynth", "-m", "griffinlim", "-i", str(corpus), "-o", str(tmp_path / "a")) == 0
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in tree(tmp_path / "a"))
