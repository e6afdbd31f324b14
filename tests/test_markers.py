"""The float_sensitive mark is on the tests themselves, and the source keeps it honest.

scripts/test.sh reruns `-m "float_sensitive and not slow"` under ATEN_CPU_CAPABILITY=default, so
a tolerance sized to one CPU's kernels fails everywhere instead of on some machines. A test
belongs in that set when it compares two computations of the same quantity (equal in exact
arithmetic: block-wise and whole, batched and single, streamed and offline, ours and a reference
on the same weights, ONNX and torch, a golden file from another library) within a tolerance that
stands in for float rounding.

What is checked here, from the source of every test module: a test whose body, or a function it
calls (defined in its module or imported from another module under tests/), makes a tolerance
comparison (torch.testing.assert_close, numpy.testing.assert_allclose, allclose or isclose from
torch, numpy or math) is marked float_sensitive (on the function, its class or the module's
`pytestmark`), or is listed in NOT_FLOAT_SENSITIVE with the reason its comparison is not one of
float rounding between two paths. Not counted: `not allclose(...)` (a difference is asserted)
and an explicit `rtol=0, atol=0` (exact). pytest.approx and hand-written bounds
(`(a - b).abs().max() <= ...`) are not found this way; the marks on those tests were set by
reading them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MARK = "float_sensitive"
TOLERANCE_CALLS = {"assert_close", "assert_allclose", "allclose", "isclose"}

# "module.py::test": why its tolerance comparison is not float rounding between two paths.
NOT_FLOAT_SENSITIVE = {
    "test_melfile.py::test_npy_needs_a_config":
        "a mel written to .npy and read back: the same float32 values, no computation between them",
    "test_diffwave.py::test_save_load_round_trip_keeps_schedule_and_sampler":
        "the loaded schedule is rebuilt from the same stored config by the same code: equal by construction",
    "test_diffwave.py::test_network_film_responds_to_mel_scale":
        "with FiLM and the mel projections zeroed the mel cannot reach the output: the two runs are the same arithmetic",
    "test_flow_generator.py::test_save_load_round_trip_gives_the_same_mels":
        "a stored statistics buffer read back from the model file",
    "test_registry.py::test_griffinlim_round_trip":
        "the same seeded Griffin-Lim (no weights) run twice on the same mel: one computation path",
    "test_models.py::test_save_load_round_trip_keeps_vocabulary_statistics_and_output":
        "the same weights and code before and after a save: one computation path",
    "test_train_cli.py::test_wgan_gp_steps_checkpoint_and_resume":
        "resume keeps the normalisation statistics stored at step 2: read back, not recomputed",
    "test_train_cli.py::test_classifier_cli_writes_a_loadable_classifier":
        "a sanity check that softmax rows sum to 1 (error ~1e-7 on 2-3 terms, under the default "
        "tolerance on any kernels); the test is of the classifier CLI",
    "test_labelled.py::test_unreadable_files_are_skipped_and_crops_have_fixed_size":
        "short clips are padded with a constant silence value: a fill, not a computation",
    "test_output_range.py::test_cwgan_tanh_output_stays_in_the_data_range_where_linear_does_not":
        "isclose(atol=1e-3) asks whether a saturated tanh reaches the end of its range, far above rounding",
    "test_output_range.py::test_range_buffers_survive_the_model_file_and_only_exist_when_asked":
        "a stored range buffer read back from the model file",
}


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_exact(call: ast.Call) -> bool:
    zero = {k.arg for k in call.keywords if isinstance(k.value, ast.Constant) and k.value.value == 0}
    return {"rtol", "atol"} <= zero


def tolerance_calls(node: ast.AST) -> list[ast.Call]:
    """Tolerance comparisons in `node`, except those negated and those asking for exact equality."""
    negated = {id(n.operand) for n in ast.walk(node) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)}
    return [n for n in ast.walk(node) if isinstance(n, ast.Call) and _name(n) in TOLERANCE_CALLS
            and id(n) not in negated and not _is_exact(n)]


def _marked(decorators_or_value) -> bool:
    return MARK in ast.unparse(decorators_or_value)


class Module:
    """One parsed file: its functions, imports from sibling modules, and its tests with their marks."""

    def __init__(self, path: Path, source: str | None = None):
        self.path = path
        self.tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
        self.functions = {n.name: n for n in self.tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.imports = {alias.asname or alias.name: (n.module, alias.name) for n in self.tree.body
                        if isinstance(n, ast.ImportFrom) and n.module and n.level == 0 for alias in n.names}
        self.module_marked = any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                                   for t in n.targets) and _marked(n.value)
                                 for n in self.tree.body)

    def tests(self):
        """(name, function node, marked) for every test function, including methods of Test classes."""
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                yield node.name, node, self.module_marked or _marked(node.decorator_list)
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                class_marked = self.module_marked or _marked(node.decorator_list) or any(
                    isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
                    and _marked(n.value) for n in node.body)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                        yield f"{node.name}::{item.name}", item, class_marked or _marked(item.decorator_list)


class Index:
    """Every module under a folder, by module name (pytest's rootdir imports need unique basenames)."""

    def __init__(self, modules: dict[str, Module]):
        self.modules = modules
        self._memo: dict[tuple[str, str], bool] = {}

    @classmethod
    def of(cls, folder: Path) -> "Index":
        return cls({p.stem: Module(p) for p in sorted(folder.rglob("*.py"))})

    def compares_with_tolerance(self, module: Module, node: ast.AST, seen: frozenset = frozenset()) -> bool:
        """Whether `node` makes a tolerance comparison itself or through a function it calls that
        is defined in its module or imported from another module of the index."""
        if tolerance_calls(node):
            return True
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
            target = self._resolve(module, call.func.id)
            if target is None or (id(target[0]), target[1].name) in seen:
                continue
            key = (str(target[0].path), target[1].name)
            if key not in self._memo:
                self._memo[key] = self.compares_with_tolerance(*target, seen | {(id(target[0]), target[1].name)})
            if self._memo[key]:
                return True
        return False

    def _resolve(self, module: Module, name: str):
        if name in module.functions:
            return module, module.functions[name]
        if name in module.imports:
            source, original = module.imports[name]
            other = self.modules.get(source)
            if other is not None and original in other.functions:
                return other, other.functions[original]
        return None

    def findings(self):
        """(key, compares with a tolerance, marked) for every test of every test module."""
        for stem, module in self.modules.items():
            if not stem.startswith("test_"):
                continue
            for name, node, marked in module.tests():
                yield f"{module.path.name}::{name}", self.compares_with_tolerance(module, node), marked


@pytest.fixture(scope="module")
def findings():
    return {key: (compares, marked) for key, compares, marked in Index.of(TESTS).findings()}


def test_every_tolerance_comparison_is_marked_or_explained(findings):
    unexplained = sorted(key for key, (compares, marked) in findings.items()
                         if compares and not marked and key not in NOT_FLOAT_SENSITIVE)
    assert not unexplained, (
        "these tests compare with a tolerance but are neither marked @pytest.mark.float_sensitive nor listed in "
        f"NOT_FLOAT_SENSITIVE (tests/test_markers.py) with a reason: {unexplained}")


def test_the_exceptions_are_current(findings):
    # An entry must name an existing, unmarked test that still makes a tolerance comparison:
    # otherwise it explains nothing and would hide a later one.
    stale = sorted(key for key in NOT_FLOAT_SENSITIVE if key not in findings or not findings[key][0])
    contradicted = sorted(key for key in NOT_FLOAT_SENSITIVE if key in findings and findings[key][1])
    assert not stale, f"NOT_FLOAT_SENSITIVE names tests that make no tolerance comparison (or do not exist): {stale}"
    assert not contradicted, f"NOT_FLOAT_SENSITIVE names tests that are marked float_sensitive: {contradicted}"


def test_no_conftest_marks_by_location():
    # The mark was once added to whole folders by a collection hook; each test now says it itself.
    hooks = [p.relative_to(TESTS).as_posix() for p in TESTS.rglob("conftest.py") if MARK in p.read_text(encoding="utf-8")]
    assert not hooks, f"conftest files that add {MARK}: {hooks}"


def _index(**sources: str) -> Index:
    return Index({name: Module(Path(f"{name}.py"), source) for name, source in sources.items()})


def test_the_check_finds_unmarked_comparisons_and_only_those():
    helpers = "import torch\ndef close(a, b):\n    torch.testing.assert_close(a, b)\n"
    tests = '''
import pytest, torch, numpy as np
from helpers import close

def _local(a):
    np.testing.assert_allclose(a, a, rtol=1e-6)

def test_direct():
    torch.testing.assert_close(torch.ones(1), torch.ones(1), atol=1e-6, rtol=0)

@pytest.mark.float_sensitive
def test_marked():
    assert torch.allclose(torch.ones(1), torch.ones(1))

def test_through_a_local_helper():
    _local(np.ones(1))

def test_through_an_imported_helper():
    close(torch.ones(1), torch.ones(1))

def test_negated():
    assert not torch.allclose(torch.ones(1), torch.zeros(1))

def test_exact():
    torch.testing.assert_close(torch.ones(1), torch.ones(1), rtol=0, atol=0)

@pytest.mark.float_sensitive
class TestGroup:
    def test_in_a_marked_class(self):
        assert np.isclose(1.0, 1.0)

class TestPlain:
    def test_in_a_plain_class(self):
        assert np.isclose(1.0, 1.0)
'''
    found = {key: (compares, marked) for key, compares, marked in _index(helpers=helpers, test_x=tests).findings()}
    unmarked = sorted(key for key, (compares, marked) in found.items() if compares and not marked)
    assert unmarked == ["test_x.py::TestPlain::test_in_a_plain_class", "test_x.py::test_direct",
                        "test_x.py::test_through_a_local_helper", "test_x.py::test_through_an_imported_helper"]
    assert found["test_x.py::test_marked"] == (True, True)
    assert found["test_x.py::TestGroup::test_in_a_marked_class"] == (True, True)
    assert not found["test_x.py::test_negated"][0] and not found["test_x.py::test_exact"][0]
    # A module-wide pytestmark marks every test in it.
    module_wide = _index(test_y="import pytest, torch\npytestmark = [pytest.mark.float_sensitive]\n"
                                "def test_a():\n    torch.testing.assert_close(torch.ones(1), torch.ones(1))\n")
    assert list(module_wide.findings()) == [("test_y.py::test_a", True, True)]
