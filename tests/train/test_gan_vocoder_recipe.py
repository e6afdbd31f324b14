"""GAN recipe internals: the generator learns from the discriminator's score on its own output
(not only feature matching — the MelGAN tutorial's bug), warm-up, and fine-tuning init."""

from __future__ import annotations

import pytest
import torch

from melwave.losses.adversarial import generator_adversarial_loss
from melwave.train.config import load_run_config
from melwave.train.recipe import RecipeContext, get_recipe
from melwave.train.recipes.vocoder_common import build_vocoder, set_weight_norm
from melwave.train.state import TrainState

from vocoder_train_helpers import CONFIGS


def make_recipe(name: str, overrides=()):
    config = load_run_config(CONFIGS / f"{name}.yaml", list(overrides))
    torch.manual_seed(0)
    recipe = get_recipe(config.recipe.name)(config, RecipeContext(device=torch.device("cpu")))
    recipe.build()
    return config, recipe


def batch(n=2, length=2048, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / 22050
    return torch.stack([0.3 * torch.sin(2 * torch.pi * (150 + 50 * i) * t) + 0.01 * torch.randn(length, generator=g) for i in range(n)])


@pytest.mark.float_sensitive
def test_melgan_generator_receives_adversarial_gradient_on_its_own_output():
    # Feature matching and mel loss off: any generator gradient can only come from the adversarial term.
    config, recipe = make_recipe("melgan.debug", ["recipe.feature_weight=0", "recipe.mel_weight=0"])
    generator, discriminator = recipe.modules["generator"], recipe.modules["discriminator"]
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    real = batch()
    metrics = recipe.train_step(real, TrainState())
    assert metrics["g_adv"] > 0 and "d_loss" in metrics
    grads = {name: p.grad.clone() for name, p in generator.named_parameters()}
    assert sum(g.norm() for g in grads.values()) > 0
    # Recompute what the generator's gradient must be: d/dθ adv_G(D(G_θ(mel))) with the
    # pre-step generator and the discriminator as it was after its own update.
    reference = set_weight_norm(build_vocoder(config), True)
    reference.load_state_dict(before)
    fake = reference(recipe.extractor(real))[..., : real.shape[-1]]
    scores, _ = discriminator(torch.cat([real, fake]))
    generator_adversarial_loss([s[len(real):] for s in scores], "lsgan").backward()
    for name, p in reference.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-7)


def test_mel_warmup_skips_the_discriminator():
    _, recipe = make_recipe("hifigan-v3.debug", ["recipe.mel_warmup_steps=2"])
    d_before = {k: v.clone() for k, v in recipe.modules["discriminator"].state_dict().items()}
    metrics = recipe.train_step(batch(), TrainState(step=0))
    assert "d_loss" not in metrics and "g_adv" not in metrics and metrics["mel_l1"] > 0
    assert all(torch.equal(v, recipe.modules["discriminator"].state_dict()[k]) for k, v in d_before.items())
    metrics = recipe.train_step(batch(), TrainState(step=2))
    assert "d_loss" in metrics and "g_adv" in metrics


@pytest.mark.float_sensitive
def test_finetune_init_reproduces_the_pretrained_generator_under_weight_norm():
    pytest.importorskip("safetensors")
    from melwave.models.io.load import load_vocoder

    _, recipe = make_recipe("hifigan-universal-finetune.debug")
    recipe.init_from("hifigan-universal")
    generator = recipe.modules["generator"]
    assert any("parametrizations" in name for name, _ in generator.named_parameters())  # trains with weight norm
    pretrained = load_vocoder("hifigan-universal")
    mel = torch.randn(1, 80, 12) - 4
    with torch.no_grad():
        torch.testing.assert_close(generator(mel), pretrained(mel), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(recipe.export_model()(mel), pretrained(mel), rtol=1e-4, atol=1e-5)


def test_gradient_clipping_and_exponential_lr_decay():
    _, recipe = make_recipe("hifigan-v3.debug", ["train.grad_clip=0.001", "train.lr_decay=0.5", "train.lr_decay_every=2"])
    lrs = []
    for step in range(4):
        metrics = recipe.train_step(batch(), TrainState(step=step))
        lrs.append(metrics["lr"])
        clipped = torch.norm(torch.stack([p.grad.norm() for p in recipe.modules["generator"].parameters() if p.grad is not None]))
        assert metrics["g_grad_norm"] > 0.001 and float(clipped) <= 0.001 * 1.01
    assert lrs == [2e-4, 1e-4, 1e-4, 5e-5]   # halved after every second step


def test_bf16_autocast_step_runs_and_keeps_fp32_weights():
    _, recipe = make_recipe("hifigan-v3.debug", ["train.precision=bf16"])
    metrics = recipe.train_step(batch(), TrainState(step=5))
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(p.dtype == torch.float32 for p in recipe.modules["generator"].parameters())
