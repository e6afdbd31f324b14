"""`load_vocoder("hf:OWNER/NAME[@REVISION]")` from a Hugging Face cache folder the test writes
(the layout huggingface_hub writes), downloads only when allowed, one-line errors otherwise."""

from __future__ import annotations

import os
import sys
import types

import pytest
import torch

from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError
from melwave.models.io import hub
from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import save_model
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


def _snapshot(cache, repo="someone/tiny-vocoder", commit=COMMIT, ref="main"):
    """The folders huggingface_hub writes: refs/REF holds the commit, snapshots/COMMIT the files
    (links into blobs/, as the real cache has them)."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / ref).write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "blobs").mkdir(exist_ok=True)
    return snapshot


def _link_blob(snapshot, name, write):
    blob = snapshot.parents[1] / "blobs" / f"blob-{name}"
    write(blob)
    (snapshot / name).symlink_to(blob)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "hf-cache"
    folder.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return folder


def _melgan():
    torch.manual_seed(0)
    return MelGAN(MELGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()


def test_melwave_model_in_the_cache_loads_by_name_and_revision(cache):
    model = _melgan()
    snapshot = _snapshot(cache)
    _link_blob(snapshot, "model.safetensors", lambda p: save_model(model, p.with_suffix(".safetensors")).rename(p))
    # A second revision (a tag) pointing to another commit with another model.
    other = _snapshot(cache, commit=OTHER, ref="v2")
    save_model(HiFiGAN(HIFIGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]), other / "model.safetensors")
    mel = torch.randn(1, 80, 30)
    loaded = load_vocoder("hf:someone/tiny-vocoder")
    assert loaded.family == "melgan" and loaded.name == "hf:someone/tiny-vocoder"
    assert loaded.provenance["hub"] == "hf:someone/tiny-vocoder"
    with torch.no_grad():
        assert torch.equal(loaded(mel), model(mel))
    assert load_vocoder("hf:someone/tiny-vocoder@v2").family == "hifigan"
    assert load_vocoder(f"hf:someone/tiny-vocoder@{OTHER}").family == "hifigan"  # a commit without a ref


@pytest.mark.float_sensitive
def test_hifigan_pth_snapshot_loads_its_one_checkpoint(cache):
    torch.manual_seed(0)
    model = HiFiGAN(HIFIGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()
    snapshot = _snapshot(cache, repo="lab/hifigan-test")
    _link_blob(snapshot, "generator_v1.pth", lambda p: torch.save({"generator": model.state_dict()}, p))
    (snapshot / "README.md").write_text("a model card")
    loaded = load_vocoder("hf:lab/hifigan-test")
    assert loaded.provenance["layout"] == "hifigan"
    mel = torch.randn(1, 80, 30)
    with torch.no_grad():
        assert torch.allclose(loaded(mel), model(mel), atol=1e-6)  # the same weights; rounding of folded weight norm


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert hub.cache_dir() == tmp_path / "direct"


def test_missing_and_offline_is_one_line_with_where_and_how(cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as caught:
        load_vocoder("hf:nobody/absent@v1")
    message = str(caught.value)
    assert "\n" not in message and str(cache / "models--nobody--absent") in message
    assert "HF_HUB_OFFLINE" in message and "huggingface-cli download nobody/absent --revision v1" in message


def test_missing_without_huggingface_hub_names_the_install(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(CheckpointError) as caught:
        load_vocoder("hf:nobody/absent")
    message = str(caught.value)
    assert "\n" not in message and "pip install 'melwave[hub]'" in message and "huggingface-cli download nobody/absent" in message


def test_downloads_through_snapshot_download_when_allowed(cache, monkeypatch):
    model = _melgan()
    calls = []

    def snapshot_download(repo_id, revision, cache_dir):
        calls.append((repo_id, revision, cache_dir))
        snapshot = _snapshot(cache, repo=repo_id)
        save_model(model, snapshot / "model.safetensors")
        return str(snapshot)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    assert load_vocoder("hf:someone/fresh").family == "melgan"
    assert calls == [("someone/fresh", "main", str(cache))]
    assert load_vocoder("hf:someone/fresh").family == "melgan" and len(calls) == 1  # second time: from the cache


def test_failed_download_is_one_line(cache, monkeypatch):
    def snapshot_download(**kwargs):
        raise ConnectionError("Network is unreachable\nretrying")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(snapshot_download=snapshot_download))
    with pytest.raises(CheckpointError) as caught:
        load_vocoder("hf:someone/unreachable")
    assert "\n" not in str(caught.value) and "Network is unreachable" in str(caught.value)


@pytest.mark.parametrize("spec", ["hf:", "hf:justname", "hf:a/b/c", "hf:../x", "hf:owner/name@"])
def test_malformed_specs(spec, cache):
    with pytest.raises(CheckpointError, match="hf:OWNER/NAME"):
        load_vocoder(spec)


HOSTILE_SPECS = [
    # '--' is the cache's separator: these name the folder of another repository.
    "hf:a--b/c", "hf:a/b--c", "hf:someone/tiny--vocoder",
    # Not names the Hub gives: leading/trailing '-' or '.', '..', '.git', too long, not ASCII.
    "hf:-a/b", "hf:a-/b", "hf:.a/b", "hf:a/b.", "hf:a/..b", "hf:a..b/c", "hf:a/b.git", "hf:" + "a" * 97 + "/b",
    "hf:a/" + "b" * 97, "hf:café/b", "hf:a/b c", "hf:a/b\n", "hf:a\\b/c",
    # Revisions that are paths, not refs.
    "hf:a/b@..", "hf:a/b@../../../etc", "hf:a/b@main/../../x", "hf:a/b@/abs", "hf:a/b@a//b", "hf:a/b@a/",
    "hf:a/b@.hidden", "hf:a/b@x.lock", "hf:a/b@v1.", "hf:a/b@x\\y", "hf:a/b@main\n", "hf:a/b@a b", "hf:a/b@x@y",
    "hf:a/b@" + "v" * 256, "hf:a/b@" + COMMIT + "\n",
]


@pytest.mark.parametrize("spec", HOSTILE_SPECS)
def test_crafted_names_and_revisions_are_refused_in_one_line(spec, cache):
    with pytest.raises(CheckpointError, match="hf:OWNER/NAME") as caught:
        load_vocoder(spec)
    assert "\n" not in str(caught.value)


def test_a_name_with_the_cache_separator_cannot_alias_another_repository(cache):
    """models--a--b--c is both hf:a/b--c and hf:a--b/c; neither spelling may read it (the Hub
    forbids '--' in names, so it is no repository's folder)."""
    model = _melgan()
    save_model(model, _snapshot(cache, repo="a/b--c") / "model.safetensors")
    assert (cache / "models--a--b--c").is_dir()
    for spec in ("hf:a--b/c", "hf:a/b--c"):
        with pytest.raises(CheckpointError, match="'--' and '..' are not allowed"):
            load_vocoder(spec)


@pytest.mark.parametrize("spec,repo,revision", [
    ("hf:a/b", "a/b", "main"), ("hf:A_1/b.c-d", "A_1/b.c-d", "main"), ("hf:_x_/y", "_x_/y", "main"),
    ("hf:a/b@refs/pr/1", "a/b", "refs/pr/1"), ("hf:a/b@v1.0+build_2", "a/b", "v1.0+build_2"),
    ("hf:" + "a" * 96 + "/" + "b" * 96, "a" * 96 + "/" + "b" * 96, "main"), (f"hf:a/b@{COMMIT}", "a/b", COMMIT),
])
def test_names_the_hub_gives_are_accepted(spec, repo, revision):
    assert hub.parse(spec) == (repo, revision)


def test_no_accepted_reference_reaches_outside_the_cache(tmp_path):
    """Property: whatever the text, a reference is refused, or every path built from it (the
    repository folder, its refs/ file, the snapshot of a commit) lies inside the cache."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cache = tmp_path / "cache"
    pieces = st.sampled_from(["a", "b", "Z9", "-", "_", ".", "..", "--", "/", "@", "\\", ":", "~", "\n", "%2e", " ", "é", "\x00"])

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(pieces, max_size=12).map("".join))
    def check(body):
        try:
            repo, revision = hub.parse("hf:" + body)
        except CheckpointError:
            return
        folder = hub.repo_folder(repo, cache)
        for path in (folder, folder / "refs" / revision, folder / "snapshots" / revision):
            normal = os.path.normpath(path)
            assert normal.startswith(str(cache) + os.sep), (body, normal)
        assert os.path.normpath(folder).count(os.sep) == str(cache).count(os.sep) + 1  # one folder, directly in it
        assert "\x00" not in revision and "\n" not in revision and "\n" not in repo

    check()
