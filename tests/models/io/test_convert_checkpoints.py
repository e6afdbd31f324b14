"""`melwave convert`: other projects' layouts and melwave models -> one melwave file that loads
alone and gives the same output."""

from __future__ import annotations

import json

import pytest
import torch

import melwave
from melwave.audio.config import PRESETS
from melwave.cli import main
from melwave.errors import CheckpointError, OutputExistsError
from melwave.models.io.conversion import convert_vocoder
from melwave.models.io.load import load_vocoder
from melwave.models.io.model_file import read_header, save_model
from melwave.models.vocoders.hifigan import HIFIGAN_CONFIGS, HiFiGAN
from melwave.models.vocoders.melgan import MELGAN_CONFIGS, MelGAN


def _hifigan_pth(tmp_path, mel_config=PRESETS["hifigan-22k"]):
    """A jik876-layout checkpoint ({"generator": state_dict}) of a tiny random HiFi-GAN."""
    torch.manual_seed(0)
    model = HiFiGAN(HIFIGAN_CONFIGS["debug"], mel_config).eval()
    path = tmp_path / "g_00001000.pth"
    torch.save({"generator": model.state_dict()}, path)
    return path


def _mel(n_mels=80, frames=40, seed=1):
    return torch.randn(1, n_mels, frames, generator=torch.Generator().manual_seed(seed)) - 4


def test_hifigan_pth_converts_to_a_file_that_loads_alone_with_the_same_output(tmp_path):
    source = _hifigan_pth(tmp_path)
    out = tmp_path / "converted" / "model.safetensors"
    written, loaded = convert_vocoder(source, out)
    assert written == out and out.exists()
    source.unlink()  # the converted file needs nothing beside it
    header = read_header(out)
    assert header["family"] == "hifigan" and header["mel_config"] == PRESETS["hifigan-22k"].to_dict()
    provenance = header["provenance"]
    assert provenance["layout"] == "hifigan" and provenance["source"] == str(source)
    assert provenance["converted_by"] == f"melwave {melwave.__version__}"
    again = load_vocoder(out)
    assert again.provenance == provenance and again.mel_config == loaded.mel_config
    mel = _mel()
    with torch.no_grad():
        # Same weights, same code, same machine: bit-identical.
        assert torch.equal(again(mel), loaded(mel))


def test_a_given_mel_config_is_stored_for_a_layout_without_one(tmp_path):
    cfg = PRESETS["hifigan-22k"].replace(fmax=11025.0)
    source = _hifigan_pth(tmp_path, cfg)
    out = tmp_path / "wide.safetensors"
    convert_vocoder(source, out, mel_config=cfg)
    assert load_vocoder(out).mel_config == cfg


def test_melwave_model_converts_with_provenance_and_same_output(tmp_path):
    torch.manual_seed(0)
    model = MelGAN(MELGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()
    source = save_model(model, tmp_path / "run.safetensors")
    out = tmp_path / "copy.safetensors"
    convert_vocoder(source, out, half=False)
    provenance = read_header(out)["provenance"]
    assert provenance["layout"] == "melwave" and provenance["source"] == str(source)
    mel = _mel()
    with torch.no_grad():
        assert torch.equal(load_vocoder(out)(mel), load_vocoder(source)(mel))


def test_never_overwrites_without_the_flag_and_writes_nothing_on_failure(tmp_path):
    source = _hifigan_pth(tmp_path)
    out = tmp_path / "model.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        convert_vocoder(source, out)
    assert out.read_bytes() == b"keep me"
    convert_vocoder(source, out, overwrite=True)
    assert read_header(out)["family"] == "hifigan"
    with pytest.raises(CheckpointError, match=r"\.safetensors"):
        convert_vocoder(source, tmp_path / "model.pt")
    broken = tmp_path / "broken.pth"
    torch.save({"generator": {"foo.weight": torch.zeros(3)}}, broken)
    with pytest.raises(CheckpointError):
        convert_vocoder(broken, tmp_path / "never.safetensors")
    assert not (tmp_path / "never.safetensors").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp.safetensors")]  # no temporary left behind


def test_cli_convert(tmp_path, capsys):
    source = _hifigan_pth(tmp_path)
    out = tmp_path / "cli.safetensors"
    assert main(["convert", str(source), "-o", str(out)]) == 0
    assert "hifigan" in capsys.readouterr().err
    assert main(["convert", str(source), "-o", str(out)]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err
    assert main(["convert", str(source), "-o", str(out), "--overwrite", "--mel-preset", "hifigan-22k"]) == 0
    assert json.loads(json.dumps(read_header(out)["provenance"]))["layout"] == "hifigan"


def _melgan_with(tmp_path, value: float, name: str = "bad.safetensors"):
    """A melwave MelGAN file with `value` written into one weight (the tensor's name returned)."""
    torch.manual_seed(0)
    model = MelGAN(MELGAN_CONFIGS["debug"], PRESETS["hifigan-22k"]).eval()
    key = next(k for k, v in model.state_dict().items() if v.is_floating_point() and v.numel() > 4)
    with torch.no_grad():
        model.state_dict()[key].view(-1)[3] = value
    return save_model(model, tmp_path / name), key


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_weights_are_refused_naming_the_tensor_unless_allowed(value, tmp_path):
    source, key = _melgan_with(tmp_path, value)
    out = tmp_path / "out.safetensors"
    with pytest.raises(CheckpointError) as caught:
        convert_vocoder(source, out)
    message = str(caught.value)
    assert "\n" not in message and repr(key) in message and "1 NaN/Inf value" in message and "--allow-nonfinite" in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp.safetensors")]
    convert_vocoder(source, out, allow_nonfinite=True)  # the explicit flag stores it as it is
    stored = load_vocoder(out).state_dict()[key].view(-1)[3]
    assert not torch.isfinite(stored) and (torch.isnan(stored) if value != value else stored == value)


def test_half_refuses_weights_float16_would_store_as_inf(tmp_path):
    source, key = _melgan_with(tmp_path, 1e5)  # finite in float32, beyond float16's 65504
    with pytest.raises(CheckpointError, match=f"{key!r} holds 1 value.*float16") as caught:
        convert_vocoder(source, tmp_path / "half.safetensors", half=True)
    assert "\n" not in str(caught.value) and not (tmp_path / "half.safetensors").exists()
    convert_vocoder(source, tmp_path / "full.safetensors")  # float32 holds it
    assert float(load_vocoder(tmp_path / "full.safetensors").state_dict()[key].view(-1)[3]) == 1e5


def test_cli_convert_nonfinite(tmp_path, capsys):
    source, key = _melgan_with(tmp_path, float("nan"))
    out = tmp_path / "cli.safetensors"
    assert main(["convert", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and not out.exists()
    assert main(["convert", str(source), "-o", str(out), "--allow-nonfinite"]) == 0 and out.exists()
