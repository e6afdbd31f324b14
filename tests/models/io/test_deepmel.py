"""DeepMelSpectrogramGenerator's users' checkpoints through melwave give the source's own output.

Golden outputs: tests/goldens/deepmel/golden.pt, made by make_golden.py beside it, which runs
the source's model code (CWGANGP.py, shallow_CWGANGP.py) on weights from a seeded rule. Here the
same rule rebuilds those weights, they are saved in the layout the source's train scripts write
(with its optimiser states and loss lists), loaded through `melwave.load_generator(PATH,
source_config=YAML)` (and the critic through `load_deepmel_critic`), and compared.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

import melwave
from melwave.audio.config import PRESETS
from melwave.errors import CheckpointError, ConfigError, UnsafeFileError
from melwave.models.generators.critic import SOURCE_CRITIC, SOURCE_STRIPS_CRITIC, Critic
from melwave.models.generators.cwgan import CONFIGS, CWGANGenerator
from melwave.models.io.formats.deepmel import load_deepmel_critic, source_conditions
from repo_paths import GOLDENS

FIXTURE = GOLDENS / "deepmel" / "golden.pt"


def _script():
    spec = importlib.util.spec_from_file_location("deepmel_golden", FIXTURE.with_name("make_golden.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _script()


@dataclasses.dataclass
class Note:
    """A class in a pickle: loading it would need code from outside torch's allow-list."""

    x: int


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def source_runs(tmp_path_factory, fixture):
    """kind -> (checkpoint, YAML), written once per module (the strips' 55M weights take seconds)."""
    root = tmp_path_factory.mktemp("deepmel")
    return {kind: write_source_run(root, fixture, kind) for kind in ("deep", "strips")}


def _adam_state(count: int) -> dict:
    """What torch.optim.Adam(...).state_dict() holds, as the train scripts save it."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(count)]
    return torch.optim.Adam(params, lr=5e-5, betas=(0.5, 0.9)).state_dict()


def write_source_run(tmp_path: Path, fixture: dict, kind: str) -> tuple[Path, Path]:
    """A checkpoint as train_CWGANGP.py / train_ShallowCWGANGP.py save it, and its YAML config."""
    data = fixture[kind]
    if kind == "deep":
        gen = golden.seeded_state(data["gen_shapes"], fixture["gen_seed"])
        dis = golden.seeded_state(data["critic_shapes"], fixture["critic_seed"])
        checksums = golden.checksum(gen), golden.checksum(dis)
        gen_opt, dis_opt = _adam_state(len(gen)), _adam_state(len(dis))
    else:
        strips = data["yaml"]["num_strips"]
        gen = [golden.seeded_state(data["gen_shapes"], fixture["gen_seed"] + 10 * (i + 1)) for i in range(strips)]
        dis = [golden.seeded_state(data["critic_shapes"], fixture["critic_seed"] + 10 * (i + 1)) for i in range(strips)]
        checksums = sum(map(golden.checksum, gen)), sum(map(golden.checksum, dis))
        gen_opt, dis_opt = [_adam_state(len(gen[0]))] * strips, [_adam_state(len(dis[0]))] * strips
    # The same rule must give the same weights here as where the golden outputs were made. CPU
    # kernels (AVX2/AVX-512/generic) differ in the last float32 bits of the sampled values and in
    # summation order: ~1e-8 of the sum. Another RNG stream would move a sum of millions of |N(0, σ)|
    # by ~1e-4 of it, so 1e-6 tells the two apart.
    assert checksums == pytest.approx((data["gen_checksum"], data["critic_checksum"]), rel=1e-6)
    checkpoint = tmp_path / f"{kind}.pt"
    torch.save({"epoch": 1000, "dis_state_dict": dis, "optim_dis_state_dict": dis_opt, "gen_state_dict": gen,
                "optim_gen_state_dict": gen_opt, "dis_loss_stats": [0.5, -1.25], "gen_loss_stats": [2.0, 1.5]}, checkpoint)
    config = tmp_path / f"{kind}.yaml"
    # In the file's order: the source numbers the class folders as its YAML lists them.
    config.write_text(yaml.safe_dump(data["yaml"], sort_keys=False))
    return checkpoint, config


def assert_matches_golden(mel: torch.Tensor, expected: dict, rows: list[int]) -> None:
    # The same float32 network computed by two codes: differences are rounding (summation order
    # of convolutions), far below 1e-4 of the output's peak.
    tolerance = 1e-4 * float(expected["peak"])
    torch.testing.assert_close(mel[:, rows], expected["rows"], atol=tolerance, rtol=0)
    # Sums of 128 values: 128× the per-value tolerance.
    torch.testing.assert_close(mel.sum(-1), expected["row_sums"], atol=128 * tolerance, rtol=0)
    torch.testing.assert_close(mel.sum(-2), expected["col_sums"], atol=128 * tolerance, rtol=0)


@pytest.mark.float_sensitive
@pytest.mark.parametrize("kind, preset", [("deep", "cwgan-22k"), ("strips", "cwgan-strips-22k")])
def test_generator_equals_the_source_on_its_checkpoint(source_runs, fixture, kind, preset):
    checkpoint, config = source_runs[kind]
    model = melwave.load_generator(checkpoint, source_config=config)
    assert model.mel_config == PRESETS[preset]          # the source's analysis: raw linear power mels
    assert model.config.normalised is False
    expected_names = ["drill_angle", "drill_force"] if kind == "deep" else ["drill_force"]
    assert list(model.vocabulary.names) == expected_names
    assert model.vocabulary["drill_force"].values == ("0", "1", "2", "3")
    if kind == "deep":  # label 0, 1, 2 = the YAML's outer folders in its order
        assert model.vocabulary["drill_angle"].values == ("sm", "lg", "v")
    mel = model.generate(fixture[kind]["labels"], z=fixture["z"])
    assert mel.shape == (fixture["batch"], 128, 128)
    assert_matches_golden(mel, fixture[kind]["mel"], fixture["rows"])
    # The labels matter: another drill force gives another mel.
    other = fixture[kind]["labels"].clone()
    other[:, -1] = (other[:, -1] + 1) % 4
    assert (model.generate(other, z=fixture["z"]) - mel).abs().amax() > 1e-3 * float(fixture[kind]["mel"]["peak"])


@pytest.mark.float_sensitive
@pytest.mark.parametrize("kind", ["deep", "strips"])
def test_critic_equals_the_source_on_its_checkpoint(source_runs, fixture, kind):
    checkpoint, config = source_runs[kind]
    critic = load_deepmel_critic(checkpoint, config)
    x = torch.randn(fixture["batch"], 1, 128, 128, generator=torch.Generator().manual_seed(fixture["critic_input_seed"])).abs()
    with torch.no_grad():
        scores = critic.score_mels(x[:, 0], fixture[kind]["labels"])
    expected = fixture[kind]["scores"].reshape(fixture["batch"], -1)
    # Scores are sums over 16 values of O(1) maps after 3-5 layers: rounding is < 1e-5 of them.
    torch.testing.assert_close(scores, expected, atol=1e-4 * float(expected.abs().amax()), rtol=0)


def test_cli_generates_from_a_deepmel_checkpoint(tmp_path, source_runs):
    from melwave.cli import main
    from melwave.inference.generate import plan_samples, write_samples

    checkpoint, config = source_runs["deep"]
    out = tmp_path / "out"
    code = main(["generate", "-m", str(checkpoint), "--source-config", str(config), "--condition", "drill_angle=v",
                 "--condition", "drill_force=2", "-n", "2", "-o", str(out), "--no-images", "--vocoder", "griffinlim",
                 "--seed", "5"])
    assert code == 0
    assert len(list(out.glob("*.wav"))) == 2
    assert (out / "labels.csv").read_text().splitlines()[0] == "path,drill_angle,drill_force"
    # The same samples through the API (whose equality with the source is tested above).
    model = melwave.load_generator(checkpoint, source_config=config)
    api = tmp_path / "api"
    plans = plan_samples(model, {"drill_angle": "v", "drill_force": "2"}, n=2, seed=5)
    write_samples(model, plans, api, seed=5, images=False, progress=False)
    for plan in plans:
        saved, expected = melwave.load_mel(out / f"{plan.stem}.pt"), melwave.load_mel(api / f"{plan.stem}.pt")
        assert saved.config == PRESETS["cwgan-22k"]
        torch.testing.assert_close(saved.mel, expected.mel, atol=0, rtol=0)  # the same computation twice
    code = main(["generate", "-m", str(checkpoint), "--source-config", str(config), "--condition", "drill_force=9",
                 "-n", "1", "-o", str(tmp_path / "bad"), "--no-images"])
    assert code != 0


def test_source_parameter_counts(fixture):
    """The named configs `source` / `strips-source` and the source critics, at the source's sizes."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    deep_conditions = source_conditions(fixture["deep"]["yaml"], Path("config_CWGAN_GP.yaml"))
    strip_conditions = source_conditions(fixture["strips"]["yaml"], Path("config_Sh_CWGAN_GP.yaml"))
    assert [len(c["values"]) for c in deep_conditions] == [3, 4] and [len(c["values"]) for c in strip_conditions] == [4]
    with torch.device("meta"):
        deep = CWGANGenerator(dataclasses.replace(CONFIGS["source"], conditions=deep_conditions), PRESETS["cwgan-22k"])
        strips = CWGANGenerator(dataclasses.replace(CONFIGS["strips-source"], conditions=strip_conditions),
                                PRESETS["cwgan-strips-22k"])
        assert count(deep) == 7_490_544
        assert count(Critic.for_generator(SOURCE_CRITIC, deep)) == 2_794_402
        assert count(strips) == 8 * 5_776_704
        assert count(Critic.for_generator(SOURCE_STRIPS_CRITIC, strips)) == 8 * 1_060_642


def test_bad_source_files_fail_in_one_line(tmp_path, fixture, source_runs):
    checkpoint, config = source_runs["deep"]
    # The YAML and the checkpoint disagree on the vocabulary.
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump({**fixture["deep"]["yaml"], "num_class": [4], "cls_pth": {"sm": ["0", "1", "2", "3"]}},
                                    sort_keys=False))
    with pytest.raises(CheckpointError, match="wrong.yaml") as err:
        melwave.load_generator(checkpoint, source_config=wrong)
    assert "\n" not in str(err.value)
    # Not a DeepMel checkpoint.
    other = tmp_path / "other.pt"
    torch.save({"generator": {}}, other)
    with pytest.raises(CheckpointError, match="gen_state_dict"):
        melwave.load_generator(other, source_config=config)
    # A pickle that would run code is refused.
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"gen_state_dict": {}, "note": Note(1)}, unsafe)
    with pytest.raises(UnsafeFileError, match="trust"):
        melwave.load_generator(unsafe, source_config=config)
    # A missing key of the YAML is named.
    partial = tmp_path / "partial.yaml"
    partial.write_text(yaml.safe_dump({k: v for k, v in fixture["deep"]["yaml"].items() if k != "latent_dim"}))
    with pytest.raises(ConfigError, match="latent_dim"):
        melwave.load_generator(checkpoint, source_config=partial)


@pytest.mark.parametrize("kind", ["deep", pytest.param("strips", marks=pytest.mark.slow)])  # strips: 185 MB, ~7 s
def test_convert_stores_a_deepmel_generator_as_a_melwave_model(tmp_path, fixture, source_runs, kind):
    from melwave.cli import main

    checkpoint, config = source_runs[kind]
    out = tmp_path / "model.safetensors"
    assert main(["convert", str(checkpoint), "--source-config", str(config), "-o", str(out)]) == 0
    assert main(["convert", str(checkpoint), "--source-config", str(config), "-o", str(out)]) != 0  # no overwrite
    converted = melwave.load_generator(out)                       # the file alone: no YAML, no checkpoint
    original = melwave.load_generator(checkpoint, source_config=config)
    assert converted.mel_config == original.mel_config and converted.vocabulary == original.vocabulary
    assert converted.config == original.config and not converted.config.normalised
    labels, z = fixture[kind]["labels"], fixture["z"]
    # The same weights and the same computation: identical.
    torch.testing.assert_close(converted.generate(labels, z=z), original.generate(labels, z=z), atol=0, rtol=0)
    header = melwave.models.io.model_file.read_header(out)
    assert header["provenance"]["layout"] == "deepmel" and header["provenance"]["source_config"] == str(config)
