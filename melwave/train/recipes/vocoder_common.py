"""The tools of the vocoder recipes (recipes.vocoder_base.VocoderRecipe): building the vocoder from
the run config, weight norm on and off, fine-tuning from a pretrained vocoder, export, and
validation measures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.losses.spectral import MelL1Loss, MultiResolutionSTFTLoss
from melwave.models.base import Vocoder
from melwave.train.images import mel_image

if TYPE_CHECKING:  # pragma: no cover
    from melwave.train.run_config import RunConfig
    from melwave.train.recipe import Validation

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def build_vocoder(config: RunConfig) -> Vocoder:
    """The run's model: family from the registry, built from the resolved model config + `config.mel`
    (the only place a vocoder recipe reads `config.mel`: afterwards the model's `mel_config` rules)."""
    from melwave.models.io.registry import families, family_class

    family = config.model.family
    if family not in families():
        raise ConfigError(f"model.family={family!r}: unknown; known families: {families()}")
    cls = family_class(family)
    if not issubclass(cls, Vocoder):
        raise ConfigError(f"model.family={family!r}: not a vocoder; the {config.recipe.name} recipe trains vocoders")
    try:
        return cls.from_config(config.model.resolved_config(), config.mel, path="model.config")
    except ConfigError as err:
        # Schema errors already name their key path; the model's own checks (hop length) do not.
        message = str(err)
        raise ConfigError(message if message.startswith("model.config") else f"model.config: {message}") from None


def set_weight_norm(model: ModuleT, enabled: bool) -> ModuleT:
    """Weight norm on (training) or folded (inference), for families that support it."""
    method = "apply_weight_norm" if enabled else "remove_weight_norm"
    if hasattr(model, method):
        getattr(model, method)()
    return model


def exported_copy(model: Vocoder) -> Vocoder:
    """A CPU copy with weight norm folded, in eval mode: what `save_model` writes."""
    # Rebuilt from its config rather than deep-copied: deepcopy of weight-norm parametrized
    # modules corrupts the original's parametrizations in current torch.
    clone = type(model).from_config(model.config_dict(), model.mel_config)
    uses_weight_norm = any("parametrizations" in name for name, _ in model.named_parameters())
    set_weight_norm(clone, uses_weight_norm)
    clone.load_state_dict({k: v.detach().to("cpu") for k, v in model.state_dict().items()})
    return set_weight_norm(clone, False).eval()


def load_pretrained_into(model: Vocoder, source: str, mel_config: MelConfig) -> None:
    """Copy a pretrained vocoder's weights (`hifigan-universal`, a path, a run folder) into the
    run's model in place, so optimizers built on its parameters stay valid.

    Pretrained files hold folded weights; when the run's model trains with weight norm, the
    pretrained copy gets weight norm applied first, so g = ‖w‖ and v = w reproduce it exactly.
    """
    from melwave.models.io.load import load_vocoder

    pretrained = load_vocoder(source, mel_config=mel_config)
    if pretrained.family != model.family:
        raise ConfigError(f"--init {source}: is a {pretrained.family} vocoder, the run trains {model.family}")
    pretrained.mel_config.require_same(mel_config, what=f"--init {source}", expected_by="run's mel config")
    theirs, ours = pretrained.config_dict(), model.config_dict()
    if theirs != ours:
        differing = ", ".join(f"{k}: {theirs.get(k)!r} (run: {ours.get(k)!r})" for k in sorted(set(theirs) | set(ours))
                              if theirs.get(k) != ours.get(k))
        raise ConfigError(f"--init {source}: its {model.family} config differs from the run's model section: {differing}")
    uses_weight_norm = any("parametrizations" in name for name, _ in model.named_parameters())
    set_weight_norm(pretrained, uses_weight_norm)
    missing, unexpected = model.load_state_dict(pretrained.state_dict(), strict=False)
    if missing or unexpected:
        raise ConfigError(f"--init {source}: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")


class VocoderValidation:
    """Mel-L1 (the model's own MelConfig) and MR-STFT distance of resynthesised held-out clips,
    plus audio and mel images of the first few."""

    def __init__(self, mel_config: MelConfig, device: torch.device, samples: int = 2):
        self.mel_config = mel_config
        self.mel_l1 = MelL1Loss(mel_config).to(device)
        self.mrstft = MultiResolutionSTFTLoss().to(device)
        self.samples = samples

    def __call__(self, synthesize: Callable[[Tensor], Tensor], batches: Iterable[Tensor]) -> Validation:
        """synthesize: mel (B, n_mels, frames) -> wave (B, T'); batches: held-out waves (B, T)."""
        from melwave.train.recipe import Validation

        result = Validation()
        mel_l1, mrstft, count = 0.0, 0.0, 0
        for i, wave in enumerate(batches):
            mel = self.mel_l1.extractor(wave)
            fake = synthesize(mel)[..., : wave.shape[-1]].float()
            mel_l1 += float(self.mel_l1(fake, wave))
            mrstft += float(self.mrstft(fake, wave))
            count += 1
            if i < self.samples:
                result.audio[f"sample_{i}/generated"] = (fake[0].cpu(), self.mel_config.sample_rate)
                result.audio[f"sample_{i}/real"] = (wave[0].cpu(), self.mel_config.sample_rate)
                fake_mel = self.mel_l1.extractor(fake)[0][:, : mel.shape[-1]]
                result.images[f"sample_{i}/mel_real_top_generated_bottom"] = np.concatenate(
                    [mel_image(mel[0]), mel_image(fake_mel)], axis=0)
        if count:
            result.scalars = {"mel_l1": mel_l1 / count, "mrstft": mrstft / count}
        return result

