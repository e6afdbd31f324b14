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
    "audio": ("melwave.models", "melwave.inference", "melwave.train", "melwave.metrics", "melwave.evaluation", "melwave.data",
              "melwave.cli"),
    "models": ("melwave.inference", "melwave.train", "melwave.metrics", "melwave.evaluation", "melwave.data", "melwave.cli"),
    "inference": ("melwave.train", "melwave.metrics", "melwave.evaluation", "melwave.data", "melwave.cli"),
    "utils": ("melwave.models", "melwave.inference", "melwave.train", "melwave.metrics", "melwave.evaluation", "melwave.data",
              "melwave.cli"),
    # Metric functions are pure: the workflows that run them (evaluation/) sit above them.
    "metrics": ("melwave.evaluation", "melwave.train", "melwave.cli"),
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


# models/ uses only these (besides itself): a model loads and runs without the layers above it.
MODELS_MAY_IMPORT = ("melwave.models", "melwave.audio", "melwave.utils", "melwave.errors", "melwave._version")


def test_models_import_only_audio_utils_errors_and_the_version():
    bad = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
           for path in sorted((PACKAGE / "models").rglob("*.py"))
           for line, module in imported_modules(path)
           if module.startswith("melwave") and not module.startswith(MODELS_MAY_IMPORT)]
    assert not bad, "\n".join(bad)


def _module_graph() -> dict[str, set[str]]:
    """melwave module -> the melwave modules it imports (at module level or inside functions)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path

    def resolve(dotted: str) -> str | None:
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            if ".".join(parts[:end]) in modules:
                return ".".join(parts[:end])
        return None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` names the submodule when there is one.
                targets = [resolve(f"{node.module}.{alias.name}") or node.module for alias in node.names]
            for target in targets:
                found = resolve(target) if target and target.startswith("melwave") else None
                if found and found != name and found != "melwave":
                    graph[name].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_function_level_imports_too():
    assert _cycles(_module_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_architecture_doc_names_every_subpackage():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    subpackages = sorted(str(p.parent.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("__init__.py")
                         if p.parent != PACKAGE and "pretrained" not in p.parts)
    # A nested subpackage may be named by its last part ("  vocoders/" under "melwave/models/").
    missing = [name for name in subpackages if f"{name}/" not in doc and f"{name.rsplit('/', 1)[1]}/" not in doc]
    assert not missing, f"docs/architecture.md does not describe: {missing}"
