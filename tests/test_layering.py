"""The package's layers, checked from the source: what may import what.

models/ must not import data/ (the Vocabulary moved into models for this), and nothing that
inference uses may import the training, metrics or CLI stacks. Imports inside functions count
too: they run when the function does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "melwave"

# layer -> the melwave subpackages it must never import
FORBIDDEN = {
    "audio": ("melwave.models", "melwave.inference", "melwave.train", "melwave.metrics", "melwave.data", "melwave.cli"),
    "models": ("melwave.inference", "melwave.train", "melwave.metrics", "melwave.data", "melwave.cli"),
    "inference": ("melwave.train", "melwave.metrics", "melwave.data", "melwave.cli"),
    "utils": ("melwave.models", "melwave.inference", "melwave.train", "melwave.metrics", "melwave.data", "melwave.cli"),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_is_below_it(layer):
    bad = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
           for path in sorted((PACKAGE / layer).rglob("*.py"))
           for line, module in imported_modules(path)
           if module.startswith(FORBIDDEN[layer])]
    assert not bad, "\n".join(bad)


def test_the_scan_sees_function_level_imports(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from melwave.train.loop import train\n")
    assert imported_modules(source) == [(2, "melwave.train.loop")]
