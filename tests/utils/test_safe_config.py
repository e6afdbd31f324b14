"""The YAML/JSON reader for files strangers write: each hostile input is one error line naming the
file, after work bounded by the caps (counted here, never timed), and nothing else escapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melwave.errors import CheckpointError, ConfigError, MelwaveError
from melwave.utils import safe_config
from melwave.utils.safe_config import (MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NODES, MAX_NUMBER_CHARS, parse_json, parse_yaml,
                                       read_json, read_yaml, short_repr, short_str)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(params=sorted(safe_config.LOADERS))
def loader(request, monkeypatch):
    """Run a test with each YAML event source this PyYAML has (libyaml's and the pure-Python one)."""
    monkeypatch.setattr(safe_config, "_Loader", safe_config.LOADERS[request.param])
    return request.param


def one_line_error(call, source: str, error: type[MelwaveError] = ConfigError) -> str:
    """The message `call()` raises: of type `error`, one line, naming `source`, of bounded length."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert type(info.value) is error
    assert message.startswith(f"{source}: "), message
    assert "\n" not in message and "Traceback" not in message
    assert len(message) <= len(source) + 320, message
    return message


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """The classic alias bomb: about 700 bytes standing for width**levels strings."""
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# --- what still works ------------------------------------------------------------------------------
def test_plain_yaml_reads_as_safe_load_does(loader):
    text = textwrap.dedent("""\
        train: {steps: 10, betas: [0.8, 0.99], grad_clip: null, flag: yes}
        defaults: &defaults {lr: 2.0e-4, decay: .inf}
        run: {<<: *defaults, lr: 1.0e-3}
        name: "caf\u00e9"
        when: 2024-01-02
    """)
    assert parse_yaml(text, source="run.yaml") == yaml.safe_load(text)
    assert parse_yaml(text.encode("utf-8-sig"), source="run.yaml") == yaml.safe_load(text)  # bytes, with a BOM
    assert parse_yaml("", source="empty.yaml") is None


def test_plain_json_reads_as_json_loads_does():
    text = '{"a": [1, -2.5e3, "x\\"[[[{{{", null, true], "b": {"c": "\\\\"}}'
    assert parse_json(text, source="c.json") == json.loads(text)
    assert parse_json("[NaN, Infinity]", source="own.json", allow_nonfinite=True)[1] == float("inf")


def test_files_are_read_and_named(tmp_path):
    (tmp_path / "c.yaml").write_text("a: 1\n")
    (tmp_path / "c.json").write_text('{"a": 1}')
    assert read_yaml(tmp_path / "c.yaml") == read_json(tmp_path / "c.json") == {"a": 1}


def test_anchors_within_the_budget_keep_working(loader):
    width = 9  # 9**4 = 6561 strings once expanded: a big config, but under MAX_NODES
    data = parse_yaml(billion_laughs(levels=4, width=width), source="ok.yaml")
    assert len(data["lol4"]) == width and data["lol4"][0][0][0][0] == "lol"


# --- alias bombs -------------------------------------------------------------------------------------
def test_billion_laughs_is_refused_after_work_bounded_by_the_file(loader, monkeypatch):
    # Count every node the composer builds and every object the constructor makes: the refusal
    # comes after work proportional to the ~700-byte file, before any Python object exists.
    composed, constructed = [], []
    real_compose, real_construct = safe_config._BudgetComposer.compose_node, safe_config._LimitedConstructor.construct_object
    monkeypatch.setattr(safe_config._BudgetComposer, "compose_node",
                        lambda self, *a: composed.append(1) or real_compose(self, *a))
    monkeypatch.setattr(safe_config._LimitedConstructor, "construct_object",
                        lambda self, *a, **k: constructed.append(1) or real_construct(self, *a, **k))
    text = billion_laughs()
    assert len(text) < 1000
    message = one_line_error(lambda: parse_yaml(text, source="bomb.yaml"), "bomb.yaml")
    assert f"more than {MAX_NODES} values" in message and "line 7" in message
    assert len(composed) <= text.count("lol") + 1  # one per node or alias the text spells out, none per expansion
    assert constructed == []


def test_alias_cycles_are_refused(loader):
    message = one_line_error(lambda: parse_yaml("a: &a [1, {b: *a}]\n", source="cycle.yaml"), "cycle.yaml")
    assert "contains it" in message


def test_an_alias_counts_the_depth_it_reaches(loader):
    deep = "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1)
    assert parse_yaml(f"a: &a {deep}\n", source="ok.yaml")  # the anchor alone fits ...
    message = one_line_error(lambda: parse_yaml(f"a: &a {deep}\nb: [[*a]]\n", source="deep.yaml"), "deep.yaml")
    assert f"deeper than {MAX_DEPTH}" in message  # ... but not two levels further down


def test_alias_bomb_in_a_subprocess_with_capped_memory(tmp_path):
    # Belt and braces: a 400 MB address-space cap that the old loader's expansion would exceed.
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    code = textwrap.dedent(f"""\
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 * 10**8, 4 * 10**8))
        from melwave.errors import ConfigError
        from melwave.utils.safe_config import read_yaml
        try:
            read_yaml({str(path)!r})
        except ConfigError as err:
            print(err)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "bomb.yaml" in result.stdout and "alias bomb" in result.stdout


# --- nesting -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["[" * 100_000, "- " * 100_000 + "x\n", "".join(" " * i + f"k{i}:\n" for i in range(100))])
def test_deep_yaml_is_refused(loader, text):
    one_line_error(lambda: parse_yaml(text, source="deep.yaml"), "deep.yaml")


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 100_000, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)])
def test_deep_json_is_refused_without_recursion(text):
    message = one_line_error(lambda: parse_json(text, source="deep.json"), "deep.json")
    assert f"nested deeper than {MAX_DEPTH} levels" in message


def test_json_depth_ignores_brackets_inside_strings():
    text = '["' + "[{" * 1000 + '\\"[[", ["x"]]'
    assert parse_json(text, source="ok.json")[1] == ["x"]
    exactly = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(exactly, source="ok.json") == json.loads(exactly)


# --- numbers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["n: " + "9" * 5000, "n: !!int " + "9" * 5000, "n: 0x" + "f" * 200, "n: 1." + "0" * 200])
def test_long_yaml_numbers_are_refused(loader, text):
    message = one_line_error(lambda: parse_yaml(text, source="num.yaml"), "num.yaml")
    assert f"the limit is {MAX_NUMBER_CHARS}" in message


@pytest.mark.parametrize("text", ["n: 1.0e+999", "n: -1.0e+999", "n: !!float 1e999"])
def test_yaml_floats_overflowing_to_infinity_are_refused(loader, text):
    message = one_line_error(lambda: parse_yaml(text, source="num.yaml"), "num.yaml")
    assert "out of range" in message


@pytest.mark.parametrize("text, words", [
    ("9" * 5000, "the limit is"), ("0." + "1" * 200, "the limit is"), ("[1e999]", "out of range"), ("-1e400", "out of range"),
    ("[NaN]", "NaN is not"), ("-Infinity", "Infinity is not"),
])
def test_json_numbers_are_checked(text, words):
    assert words in one_line_error(lambda: parse_json(text, source="num.json"), "num.json")


def test_bad_scalar_values_are_one_line(loader):
    for text in ("d: 2024-02-30", "n: !!int abc", "b: !!binary 'a'", "n: !!int", "b: !!bool maybe", "t: !!timestamp x"):
        one_line_error(lambda: parse_yaml(text, source="bad.yaml"), "bad.yaml")


# --- text and files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data, words", [(b"a: \xff\xfe\n", "not UTF-8"), (b"a: 1\x00\n", "NUL"), ("a: \ud800", "surrogate"),
                                         (b"a: \x07", "not valid YAML"), ("a: [1\n", "not valid YAML")])
def test_bad_text_is_one_line(loader, data, words):
    assert words in one_line_error(lambda: parse_yaml(data, source="t.yaml"), "t.yaml")
    if words != "not valid YAML":
        assert words in one_line_error(lambda: parse_json(data, source="t.json"), "t.json")


def test_bad_files_are_one_line(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    assert "directory" in one_line_error(lambda: read_yaml(tmp_path / "dir.yaml"), str(tmp_path / "dir.yaml"))
    assert "No such file" in one_line_error(lambda: read_json(tmp_path / "gone.json"), str(tmp_path / "gone.json"))
    assert "not a regular file" in one_line_error(lambda: read_yaml("/dev/zero"), "/dev/zero")


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:  # sparse: 10 GB on paper, nothing on disk
        handle.truncate(10 * 2**30)
    reads = []
    real_read = os.read
    monkeypatch.setattr(safe_config.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert "too large" in one_line_error(lambda: read_yaml(path), str(path))
    assert reads == []


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="no /dev/fd here")
def test_a_pipe_that_never_ends_is_cut_at_the_cap():
    # Its size is unknown until read, like /proc files: the bounded read stops at the cap + 1 byte.
    read_end, write_end = os.pipe()
    written = []

    def flood() -> None:
        block = b"[" + b" " * 65535
        try:
            while True:
                written.append(os.write(write_end, block))
        except OSError:  # the test closed the reading end
            pass

    writer = threading.Thread(target=flood, daemon=True)
    writer.start()
    path = f"/dev/fd/{read_end}"
    try:
        assert "too large" in one_line_error(lambda: read_json(path), path)
    finally:
        os.close(read_end)
        writer.join()
        os.close(write_end)
    assert sum(written) > MAX_CONFIG_BYTES


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_without_a_writer_reads_as_empty_instead_of_hanging(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    assert read_yaml(path) is None


def test_the_caller_chooses_the_error_type(tmp_path):
    one_line_error(lambda: parse_yaml("a: [", source="model.yaml", error=CheckpointError), "model.yaml", CheckpointError)
    one_line_error(lambda: read_json(tmp_path / "none.json", error=CheckpointError), str(tmp_path / "none.json"), CheckpointError)


def test_sources_with_newlines_stay_one_line():
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: [", source="evil\nname.yaml")
    assert "\n" not in str(info.value) and "evil\\nname.yaml" in str(info.value)


# --- short_repr --------------------------------------------------------------------------------------
def test_short_repr_equals_repr_for_short_values():
    for value in (None, True, 3, 2.5, "x'y", b"ab", [1, (2,)], {"a": {1, 2}}, (), set(), frozenset({1}), {}):
        assert short_repr(value) == repr(value)
    assert short_str("a.b") == "a.b" and short_str("a\nb") == "a\\nb" and short_str(3) == "3"


def test_short_repr_never_walks_a_huge_value():
    seen = []

    class Leaf:
        def __repr__(self) -> str:
            seen.append(1)
            return "L"

    leaf = Leaf()
    bomb: object = leaf
    for _ in range(9):  # the billion-laughs structure: 9**9 leaves, all shared
        bomb = [bomb] * 9
    text = short_repr(bomb)
    assert len(text) == 60 and text.endswith("...") and len(seen) <= 60
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert short_repr(deep) == "[" * 57 + "..."
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert len(short_repr(cyclic)) == 60
    assert short_repr(10**5000) == "<int of about 5001 digits>"  # repr() itself would raise
    assert len(short_repr("x" * 10**7, limit=20)) == 20


# --- fuzzing: nothing but the chosen error, ever --------------------------------------------------------
# Token soups: mostly-YAML that reaches the composer and constructor, not only the scanner.
yaml_ish = st.lists(st.sampled_from(list("[]{}&*!|>-:,'\"#%@ \n\t.019eExab") + ["&a ", "*a", "<<: ", "2024-02-30", ".inf", "1.0e+999"]
                                 + [f"!!{tag} " for tag in ("int", "float", "bool", "null", "str", "binary", "timestamp",
                                                            "seq", "map", "set", "omap", "pairs", "merge", "value")]),
                    max_size=40).map("".join)


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200) | yaml_ish)
def test_parse_yaml_raises_only_the_given_error(text):
    for name in sorted(safe_config.LOADERS):
        safe_config_loader = safe_config.LOADERS[name]
        original, safe_config._Loader = safe_config._Loader, safe_config_loader
        try:
            parse_yaml(text, source="fuzz.yaml", error=CheckpointError)
        except CheckpointError as err:
            assert str(err).startswith("fuzz.yaml: ") and "\n" not in str(err)
        finally:
            safe_config._Loader = original


json_ish = st.lists(st.sampled_from(list('[]{}",:\\ 0123456789eE.-+') + ["true", "null", "NaN", "-Infinity", "\\u00", "1e999"]),
                    max_size=40).map("".join)


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200) | json_ish)
def test_parse_json_raises_only_the_given_error(text):
    try:
        parse_json(text, source="fuzz.json", error=CheckpointError)
    except CheckpointError as err:
        assert str(err).startswith("fuzz.json: ") and "\n" not in str(err)
