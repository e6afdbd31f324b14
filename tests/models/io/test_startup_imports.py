"""Loading a vocoder imports what vocoding needs and nothing else (issue 12, section 4): not the
training, metrics, data or plotting stacks, and not librosa/scipy.signal/numba (melwave builds its
mel filterbank itself). Each case runs in a fresh interpreter so earlier imports cannot hide one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN_PREFIXES = ("melwave.train", "melwave.metrics", "melwave.data", "matplotlib", "scipy.signal", "librosa", "numba",
                      "tensorboard")


def _modules_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["griffinlim", "hifigan-universal", "vocos-22k"])
def test_loading_a_vocoder_imports_no_heavy_stack(name):
    modules = _modules_after(f"import melwave\nmelwave.load_vocoder({name!r})")
    loaded = [m for m in modules if any(m == p or m.startswith(p + ".") for p in FORBIDDEN_PREFIXES)]
    assert not loaded, f"load_vocoder({name!r}) imported {loaded[:10]}"
    # Only the family asked for: Griffin-Lim does not import HiFi-GAN, and no generator comes along.
    if name == "griffinlim":
        assert "melwave.models.vocoders.hifigan" not in modules
    assert "melwave.models.generators.cwgan" not in modules


def test_help_imports_no_torch():
    modules = _modules_after("from melwave.cli import build_parser\nbuild_parser()")
    assert "torch" not in modules, "`melwave --help` must not import torch"
