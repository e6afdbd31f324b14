"""ParallelWaveGAN toolkit checkpoints (kan-bayashi/ParallelWaveGAN) loaded into melwave's networks.

The fixtures in tests/goldens/pwg/ were written by the make_golden.py there from the toolkit's own model code
(loaded by path from a checkout): small seeded generators with weight norm, saved as the toolkit's
training saves them, and the waveform its `inference(c, normalize_before=True)` returns for a
stored mel (and noise). shapes.json.gz holds the tensor names and shapes of its published
full-size generators.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import melwave
from melwave.errors import CheckpointError, UnsafeFileError
from melwave.models.io.formats import detect
from melwave.models.blocks.weight_norm import fold_weight_norm_state as fold_weight_norm
from melwave.models.io.formats.pwg import toolkit_mel_config, toolkit_model
from melwave.models.io.gate import meta_build, plain_state
from melwave.models.io.model_file import load_model, save_model
from melwave.models.vocoders.pwg import ParallelWaveGAN, ToolkitVocoder
from repo_paths import GOLDENS

DATA = GOLDENS / "pwg"
CASES = {"parallel_wavegan": "ParallelWaveGAN", "melgan": "MelGAN", "multiband_melgan": "MelGAN",
         "hifigan": "HiFiGAN", "hifigan_v3": "HiFiGAN"}
SHAPES = json.loads(gzip.decompress((DATA / "shapes.json.gz").read_bytes()))


def _run(vocoder, golden) -> torch.Tensor:
    mel = torch.from_numpy(golden["mel"])[None]
    with torch.no_grad():
        if "noise" in golden:
            return vocoder(mel, torch.from_numpy(golden["noise"])[None])[0]
        return vocoder(mel)[0]


@pytest.mark.float_sensitive
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_the_toolkits_own_generator(case):
    vocoder = melwave.load_vocoder(DATA / case)
    assert vocoder.provenance["layout"] == "parallel-wavegan"
    assert type(vocoder) is ToolkitVocoder and type(vocoder.generator).__name__ == CASES[case]
    golden = np.load(DATA / case / "golden.npz")
    wave, expected = _run(vocoder, golden), torch.from_numpy(golden["wave"])
    assert wave.shape == expected.shape
    # Same weights and the same ops (weight norm folded with torch's own kernel); only the order
    # of float32 accumulations may differ between the two implementations (and CPU kernels).
    assert torch.allclose(wave, expected, rtol=0, atol=1e-5 * float(expected.abs().max())), case
    # A wrong normalisation, fold or padding changes the output far beyond that.
    assert not torch.allclose(wave, _run(_without_stats(vocoder), golden), atol=1e-3)


def _without_stats(vocoder):
    twin = ToolkitVocoder(vocoder.config, vocoder.mel_config)
    state = vocoder.state_dict()
    state["feature_mean"], state["feature_scale"] = torch.zeros_like(state["feature_mean"]), torch.ones_like(state["feature_scale"])
    twin.load_state_dict(state)
    return twin.eval()


def test_the_checkpoint_file_itself_and_the_latest_of_several_load(tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(DATA / "hifigan", folder)
    assert detect(folder / "checkpoint-1steps.pkl") is not None
    (folder / "checkpoint-1steps.pkl").rename(folder / "checkpoint-400000steps.pkl")
    (folder / "checkpoint-50000steps.pkl").write_bytes(b"not a checkpoint")  # an older one, not read
    vocoder = melwave.load_vocoder(folder)
    assert vocoder.provenance["checkpoint"] == "checkpoint-400000steps.pkl"
    assert melwave.load_vocoder(folder / "checkpoint-400000steps.pkl").provenance["checkpoint"] == "checkpoint-400000steps.pkl"


@pytest.mark.float_sensitive
def test_mel_config_is_the_toolkits_logmelfilterbank():
    librosa = pytest.importorskip("librosa")
    vocoder = melwave.load_vocoder(DATA / "hifigan")
    cfg = vocoder.mel_config
    config = yaml.safe_load((DATA / "hifigan" / "config.yml").read_text())
    assert (cfg.padding, cfg.pad_mode, cfg.power, cfg.compression, cfg.log_clamp) == ("center", "reflect", 1.0, "log10", 1e-10)
    assert (cfg.n_fft, cfg.win_length, cfg.hop_length, cfg.fmin, cfg.fmax) == (128, 100, 12, 80.0, 7600.0)
    audio = np.random.default_rng(0).normal(0, 0.1, 1000).astype(np.float32)
    audio[300:500] = 0.0  # silence: the 1e-10 floor must be the toolkit's
    # parallel_wavegan/bin/preprocess.py: logmelfilterbank, written out with librosa.
    spc = np.abs(librosa.stft(audio, n_fft=config["fft_size"], hop_length=config["hop_size"], win_length=config["win_length"],
                              window="hann", pad_mode="reflect")).T
    basis = librosa.filters.mel(sr=config["sampling_rate"], n_fft=config["fft_size"], n_mels=config["num_mels"],
                                fmin=config["fmin"], fmax=config["fmax"])
    expected = np.log10(np.maximum(1e-10, spc @ basis.T)).T
    got = vocoder.prepare_melspectrogram(audio).numpy()
    assert got.shape == expected.shape
    # float32 STFT here vs librosa's float32/64 mix: log10 differences of float rounding, except
    # where the mel sits at the floor in both.
    assert np.allclose(got, expected, atol=1e-3), np.abs(got - expected).max()
    assert np.isclose(got.min(), -10.0, atol=1e-4)


@pytest.mark.float_sensitive
def test_log10_compression_round_trips():
    from melwave.audio.features import compress, decompress

    cfg = toolkit_mel_config(yaml.safe_load((DATA / "melgan" / "config.yml").read_text()), source="test")
    mel = torch.rand(3, 10, 7) + 1e-3
    assert torch.allclose(decompress(compress(mel, cfg), cfg), mel, rtol=1e-5)
    assert torch.equal(compress(torch.zeros(1), cfg), torch.tensor([-10.0]))


@pytest.mark.parametrize("case", ["parallel_wavegan", "multiband_melgan", "hifigan"])
def test_save_model_round_trips_with_the_statistics(case, tmp_path):
    vocoder = melwave.load_vocoder(DATA / case)
    stats = vocoder.feature_mean.clone()
    assert not torch.equal(stats, torch.zeros_like(stats))
    path = save_model(vocoder, tmp_path / "model.safetensors")
    loaded = load_model(path)
    assert loaded.config == vocoder.config and loaded.mel_config == vocoder.mel_config
    assert torch.equal(loaded.feature_mean, stats)
    golden = np.load(DATA / case / "golden.npz")
    assert torch.equal(_run(loaded, golden), _run(vocoder, golden))


@pytest.mark.float_sensitive
def test_synthesize_checks_and_chunks():
    vocoder = melwave.load_vocoder(DATA / "hifigan")
    mel = vocoder.prepare_melspectrogram(np.random.default_rng(1).normal(0, 0.1, 12 * 200).astype(np.float32))
    whole = vocoder.synthesize(mel)
    chunked = vocoder.synthesize(mel, chunk_frames=64)
    assert whole.shape == chunked.shape == (mel.shape[-1] * 12,)
    assert torch.allclose(whole, chunked, atol=1e-4)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_published_full_size_generators_map_onto_melwave_networks(name):
    entry = SHAPES[name]
    config = {"generator_type": entry["generator_type"], "generator_params": entry["generator_params"]}
    state = {k: torch.empty(v, device="meta") for k, v in entry["tensors"].items()}
    assert any(k.endswith("weight_g") for k in state)  # the toolkit saves weight norm
    model_config, renamed = toolkit_model(config, fold_weight_norm(state), n_mels=80, source=name)
    mel = melwave.MelConfig(hop_length=model_config.hop_length, n_fft=max(1024, model_config.hop_length))
    skeleton = meta_build(lambda: ToolkitVocoder(model_config, mel))
    expected = {k: tuple(v.shape) for k, v in plain_state(skeleton).items() if not k.startswith("feature_")}
    assert {k: tuple(v.shape) for k, v in renamed.items()} == expected
    # Parameter count: the toolkit's (v, bias and weight-norm-free) equals melwave's.
    toolkit = sum(int(np.prod(v)) for k, v in entry["tensors"].items() if not k.endswith("weight_g"))
    assert toolkit == sum(p.numel() for p in skeleton.generator.parameters())


def test_full_size_parallel_wavegan_folder_loads_and_runs(tmp_path):
    entry = SHAPES["parallel_wavegan.v1"]
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v, generator=generator) * 0.05 for k, v in entry["tensors"].items()}
    torch.save({"model": {"generator": state, "discriminator": {}}, "steps": 400000}, tmp_path / "checkpoint-400000steps.pkl")
    config = {"sampling_rate": 22050, "fft_size": 1024, "hop_size": 256, "win_length": None, "window": "hann", "num_mels": 80,
              "fmin": 80, "fmax": 7600, "format": "npy", "generator_params": entry["generator_params"]}
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
    np.save(tmp_path / "stats.npy", np.stack([np.full(80, -2.0), np.full(80, 0.5)]).astype(np.float32))
    vocoder = melwave.load_vocoder(tmp_path)
    assert isinstance(vocoder.generator, ParallelWaveGAN) and vocoder.config.parallel_wavegan.layers == 30
    assert vocoder.mel_config.fmax == 7600.0 and vocoder.mel_config.win_length == 1024
    assert vocoder.synthesize(torch.randn(80, 3)).shape == (768,)


def _folder(tmp_path, case="melgan", **changes) -> Path:
    folder = tmp_path / case
    shutil.copytree(DATA / case, folder)
    if changes:
        config = yaml.safe_load((folder / "config.yml").read_text())
        for key, value in changes.items():
            if value is None:
                config.pop(key, None)
            elif key == "generator_params":
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder


@pytest.mark.parametrize("changes, message", [
    ({"generator_type": "StyleMelGANGenerator"}, "generator_type 'StyleMelGANGenerator' is not supported"),
    ({"generator_params": {"use_causal_conv": True}}, "use_causal_conv=True is not supported"),
    ({"generator_params": {"channels": 32}}, "weights do not match|do not describe"),
    ({"window": "hamming"}, "Hann window only"),
    ({"num_mels": 12, "generator_params": {"in_channels": 12}}, "num_mels=12"),
])
def test_unsupported_or_inconsistent_folders_fail_in_one_line(tmp_path, changes, message):
    with pytest.raises(CheckpointError, match=message) as err:
        melwave.load_vocoder(_folder(tmp_path, **changes))
    assert "\n" not in str(err.value)


def test_missing_statistics_are_an_error(tmp_path):
    folder = _folder(tmp_path)
    (folder / "stats.npy").unlink()
    with pytest.raises(CheckpointError, match="no stats.h5 or stats.npy"):
        melwave.load_vocoder(folder)


class _Payload:
    def __reduce__(self):
        return (print, ("ran code from the file",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    folder = _folder(tmp_path)
    torch.save({"model": {"generator": {}}, "payload": _Payload()}, folder / "checkpoint-1steps.pkl")
    with pytest.raises(UnsafeFileError, match="--trust-file"):
        melwave.load_vocoder(folder)


def test_loading_a_toolkit_folder_imports_no_heavy_stack():
    import subprocess
    import sys

    forbidden = ("melwave.train", "melwave.metrics", "melwave.data", "matplotlib", "scipy.signal", "librosa", "numba")
    code = (f"import json, sys, melwave\nmelwave.load_vocoder({str(DATA / 'hifigan')!r})\n"
            "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert not [m for m in modules if any(m == p or m.startswith(p + ".") for p in forbidden)]
