"""Loading the authors' own code (reference packages from PyPI, installed by scripts/setup.sh
with --no-deps) for equality tests, without running their package __init__s, which import
torchaudio/encodec that cannot load here."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from typing import Iterator, Mapping, Sequence

import pytest


@contextlib.contextmanager
def authors_modules(package: str, names: Sequence[str], stubs: Mapping[str, types.ModuleType] | None = None
                    ) -> Iterator[types.SimpleNamespace]:
    """Import `package.NAME` for each of `names`, in order, by file path under a bare `package`
    module object; `stubs` stand in for modules they import but that cannot load here. Everything
    put into sys.modules is restored afterwards. Skips if the package is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (scripts/setup.sh installs it)")
    folder = list(spec.submodule_search_locations)[0]
    stubs = dict(stubs or {})
    saved = {name: sys.modules.get(name) for name in [package, *(f"{package}.{n}" for n in names), *stubs]}
    bare = types.ModuleType(package)
    bare.__path__ = [folder]
    sys.modules[package] = bare
    sys.modules.update(stubs)
    try:
        loaded = {}
        for name in names:
            module_spec = importlib.util.spec_from_file_location(f"{package}.{name}", f"{folder}/{name}.py")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[f"{package}.{name}"] = module
            module_spec.loader.exec_module(module)
            loaded[name] = module
        yield types.SimpleNamespace(**loaded)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
