"""Every file in the hostile corpus (tests/robustness/hostile_corpus.py), through the real CLI, in
one child process held to 2 GiB of address space: no code runs, nothing aborts, no traceback,
one error line naming the file, a non-zero exit code, and nothing lost."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).with_name("hostile_corpus.py")
ADDRESS_SPACE = 2 * 2**30  # bytes: "stays under 2 GB"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    dest = tmp_path_factory.mktemp("hostile")
    # A watchdog for a hang (each case also has its own alarm), not a measure of speed.
    done = subprocess.run([sys.executable, str(CORPUS), str(dest), "--run"], capture_output=True, text=True,
                          preexec_fn=_limit, timeout=1800, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                                "HOME": str(dest)})
    assert done.returncode == 0, f"the corpus run itself died (rc {done.returncode}): {done.stderr[-3000:]}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    peaks = [line["peak_rss_kib"] for line in lines if "peak_rss_kib" in line]
    assert len(peaks) == 1, "the corpus run did not report its peak memory"
    return {"cases": [line for line in lines if "case" in line], "peak_kib": peaks[0], "dest": dest}


def _problems(result: dict) -> list[str]:
    problems = []
    stderr = result["stderr"]
    if result["marker"]:
        problems.append("CODE RAN (the payload's marker file exists)")
    if result["error"]:
        problems.append(result["error"])
    if result["rc"] in (0, None):
        problems.append(f"exit code {result['rc']}")
    if "Traceback" in stderr or "internal error" in stderr:
        problems.append("a traceback or internal error instead of a one-line error")
    error_lines = [line for line in stderr.splitlines() if result["must_name"] in line]
    if not error_lines:
        problems.append(f"no error line names {result['must_name']!r}")
    if any(len(line) > 1200 for line in stderr.splitlines()):
        problems.append("an error line longer than 1,200 characters")
    if not result["inputs_intact"]:
        problems.append("an input file was changed")
    if result["written"]:
        problems.append(f"the batch did not go on: {result['written']} missing")
    if result["absent"]:
        problems.append(f"written although refused: {result['absent']}")
    return problems


def test_every_hostile_file_is_one_line_and_runs_nothing(results):
    cases = results["cases"]
    assert len(cases) >= 40, f"only {len(cases)} cases ran"
    failures = {r["case"]: _problems(r) for r in cases if _problems(r)}
    assert not failures, "\n".join(f"{name}: {'; '.join(p)}\n    {r['stderr'][-400:]}"
                                   for name, p in failures.items() for r in cases if r["case"] == name)


def test_the_whole_corpus_stays_under_two_gigabytes(results):
    # RLIMIT_AS already stops any allocation past 2 GiB (it would show as a failed case above);
    # the child's own peak resident size (reported by it) says how far under it the worst stayed.
    assert results["peak_kib"] * 1024 < ADDRESS_SPACE


def test_the_corpus_covers_every_attack_class(results):
    names = {r["case"] for r in results["cases"]}
    for prefix in ("legacy-pickle-plus-zip", "zip-payload-via-convert", "zip-payload-via-export", "zip-payload-via-hf",
                   "weight-norm-g-wrong-shape", "stride0-giant-tensor", "zip-bomb", "bigvgan-channels", "diffwave-steps",
                   "mel-config-alias-bomb", "batch-two-inputs-one-output", "batch-output-is-input", "batch-list",
                   "onnx-garbage", "hf-revision-traversal"):
        assert any(name.startswith(prefix) for name in names), prefix
