"""Base classes stating the shape contracts every melwave model keeps.

MelModel:     what every family shares: a frozen-dataclass `config` + its `MelConfig`, rebuilt
              from a saved file by `from_config`, written back by `config_dict`.
Vocoder:      mel (B, n_mels, frames) -> waveform (B, frames * hop_length)
MelGenerator: labels (B, K) long indices + noise (B, z_dim) -> mel (B, n_mels, frames)

Every model owns its `MelConfig`: `prepare_melspectrogram` uses it, and `synthesize` refuses
mels whose config differs.
"""

from __future__ import annotations

import dataclasses
import types
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.errors import ConfigError, MelFileError
from melwave.utils.dataclass_config import parse_dataclass

if TYPE_CHECKING:
    from melwave.models.streaming import VocoderStream


# What converts a mel made under another config (said at the end of a mismatch error).
RESAMPLE_HINT = ("convert it with --resample-mel (melwave synthesize; in Python melwave.audio.mel_convert.convert_mel), "
                 "or use -m griffinlim, which works under any mel config")


def as_wave_tensor(wave: Tensor | np.ndarray) -> Tensor:
    if isinstance(wave, np.ndarray):
        wave = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    return wave.float()


class MelModel(nn.Module):
    """A registered model family: `config` (an instance of `config_class`) + `mel_config`.

    Subclasses set `family` (the registry name), `config_class` (the frozen dataclass of their
    architecture) and `named_configs` (presets, `model.preset` in run configs), and take
    `(config, mel_config)` in their constructor; a family whose constructor differs overrides
    `build`. Saved files hold `config_dict()` and the MelConfig; `from_config` rebuilds from them.
    """

    family: ClassVar[str] = "model"
    config_class: ClassVar[type | None] = None
    named_configs: ClassVar[Mapping[str, Any]] = types.MappingProxyType({})  # read-only: shared by families without presets
    config: Any = None
    mel_config: MelConfig

    def __init__(self, config: Any, mel_config: MelConfig):
        # Every model takes (config, mel_config); a MelConfig first is the old Griffin-Lim order,
        # which would otherwise fail far from here (or not at all, for a family without a config).
        if isinstance(config, MelConfig):
            raise TypeError(f"{type(self).__name__}: got a MelConfig as `config`; models take (config, mel_config): "
                            f"pass it as mel_config=...")
        super().__init__()
        self.config = config
        self.mel_config = mel_config

    @classmethod
    def from_config(cls, model_config: Mapping[str, Any] | None, mel_config: MelConfig, *,
                    path: str = "model_config") -> "MelModel":
        """Rebuild from a plain dict (a saved header, a resolved run config) and a MelConfig.

        Errors name the offending key under `path` (a saved file's header key by default)."""
        if cls.config_class is None:
            raise ConfigError(f"{cls.family}: this family has no config to rebuild it from")
        return cls.build(parse_dataclass(cls.config_class, model_config, path), mel_config)

    @classmethod
    def build(cls, config: Any, mel_config: MelConfig) -> "MelModel":
        return cls(config, mel_config)

    def config_dict(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        return dataclasses.asdict(self.config)

    @property
    def device(self) -> torch.device:
        for tensor in list(self.parameters()) + list(self.buffers()):
            return tensor.device
        return torch.device("cpu")

    @property
    def name(self) -> str:
        return getattr(self, "_name", None) or self.family

    @name.setter
    def name(self, value: str) -> None:
        self._name = value


class Vocoder(MelModel):
    """mel (B, n_mels, frames) -> waveform (B, frames * hop_length), at mel_config.sample_rate.

    Subclasses implement `forward`; long mels go through `synthesize(chunk_frames=...)`, which
    vocodes overlapping chunks of `receptive_frames` context (see melwave.models.chunking), and
    mels that arrive frame by frame through `stream()` (see melwave.models.streaming).
    """

    family: ClassVar[str] = "vocoder"

    def __init__(self, config: Any = None, *, mel_config: MelConfig):
        # `config` may be None (a vocoder from outside melwave, with no architecture config):
        # `mel_config` is then named, so the two can never be swapped silently.
        super().__init__(config, mel_config)
        self._extractor = MelExtractor(mel_config)

    # --- the API users call ---------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.mel_config.hop_length

    @torch.no_grad()
    def prepare_melspectrogram(self, wave: Tensor | np.ndarray, sample_rate: int | None = None) -> Tensor:
        """(T,) or (B, T) waveform -> (n_mels, frames) or (B, n_mels, frames).

        `sample_rate`: the rate `wave` was recorded at; it is resampled (soxr, high quality) to
        `self.sample_rate` when they differ. Left out, `wave` is taken to be at `self.sample_rate`
        already (a 16 kHz array analysed as 22.05 kHz would come out pitched and wrong: pass it)."""
        if sample_rate is not None and sample_rate != self.sample_rate:
            if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
                raise ConfigError(f"prepare_melspectrogram: sample_rate={sample_rate!r}: expected a positive integer (Hz)")
            from melwave.audio.io import resample

            array = wave.detach().cpu().numpy() if isinstance(wave, Tensor) else np.asarray(wave)
            if array.ndim not in (1, 2):
                raise ConfigError(f"prepare_melspectrogram: expected (T,) or (B, T) audio, got shape {array.shape}")
            # soxr takes (T,) or (T, channels): a batch resamples as channels.
            array = resample(array.astype(np.float32).T, sample_rate, self.sample_rate).T
            wave = np.ascontiguousarray(array)
        wave = as_wave_tensor(wave).to(self.device)
        return self._extractor.to(self.device)(wave)

    def check_mel(self, mel: Tensor, mel_config: MelConfig | None = None, *, source: str = "mel") -> Tensor:
        """Validate a mel for this vocoder and return it as (B, n_mels, frames) float32."""
        if mel_config is not None:
            mel_config.require_same(self.mel_config, what=source, expected_by=f"vocoder '{self.name}'",
                                    hint=RESAMPLE_HINT)
        if mel.ndim == 2:
            mel = mel.unsqueeze(0)
        if mel.ndim != 3:
            raise MelFileError(f"{source}: expected (n_mels, frames) or (B, n_mels, frames), got shape {tuple(mel.shape)}")
        if mel.shape[1] != self.mel_config.n_mels:
            raise MelFileError(f"{source}: has {mel.shape[1]} mel bins, vocoder '{self.name}' expects {self.mel_config.n_mels}")
        if mel.shape[2] == 0:
            raise MelFileError(f"{source}: has zero frames")
        if not torch.isfinite(mel).all():
            raise MelFileError(f"{source}: contains NaN or infinite values")
        return mel.float()

    @torch.no_grad()
    def synthesize(self, mel: Tensor, mel_config: MelConfig | None = None, *, chunk_frames: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Tensor:
        """Checked inference: (n_mels, frames) -> (T,), or (B, n_mels, frames) -> (B, T).

        With `chunk_frames`, long mels are vocoded in overlapping chunks (bounded memory), and
        `progress(done_frames, total_frames)` is called after each chunk.
        """
        squeeze = mel.ndim == 2
        mel = self.check_mel(mel.to(self.device), mel_config)
        if chunk_frames is not None and mel.shape[-1] > chunk_frames:
            from melwave.models.chunking import synthesize_chunked

            wave = synthesize_chunked(self, mel, chunk_frames=chunk_frames, progress=progress)
        else:
            wave = self(mel)
        return wave[0] if squeeze else wave

    @property
    def receptive_frames(self) -> int:
        """Mel frames of context either side a chunk needs to match whole-file output closely."""
        return 32

    # --- streaming (melwave.models.streaming) ----------------------------------------------
    # True where every output sample is a fixed function of the mel frames (and noise samples)
    # within a bounded distance of it, so vocoding a bounded window reproduces offline output.
    feed_forward: ClassVar[bool] = False

    def streaming_refusal(self) -> str | None:
        """None when `stream()` can reproduce offline output exactly, else one line saying why not."""
        if self.feed_forward:
            return None
        return f"family '{self.family}' is not declared feed-forward (output a local function of the mel)"

    def stream(self, *, seed: int = 0) -> "VocoderStream":
        """A streamer for one utterance at a time: `push(mel)` -> the samples now final, `flush()`
        -> the rest; their concatenation is `self(mel)`. `seed`: noise of noise-driven families."""
        from melwave.models.streaming import VocoderStream

        return VocoderStream(self, seed=seed)


class MelGenerator(MelModel):
    """generate(labels, z) -> mel (B, n_mels, frames) in `mel_config` units.

    z:      noise (B, z_dim) float; `z_dim` is the family's (a GAN's latent size, or a flow's
            starting noise n_mels · frames, flattened). Same z and labels, same mel.
    labels: (B, K) long, one value index per condition, in the order of `vocabulary.names`
            (`labels_for({name: value})` builds it from value names).

    `generate(labels, z=None, *, generator=None, **sampling)` checks the labels and returns mels
    playable by any vocoder of that MelConfig. `sampling` takes only the keywords named in the
    family's `sampling_options` (e.g. an iterative sampler's `steps`); a family with none samples
    in one pass, and callers refuse options it does not take rather than dropping them.
    """

    family: ClassVar[str] = "generator"
    sampling_options: ClassVar[tuple[str, ...]] = ()
    vocabulary: Any  # melwave.models.vocabulary.Vocabulary, set by each family from its config
    # The {condition: value} combinations its training data left out on purpose (`recipe.data.holdout`),
    # () if none. Not architecture, so not in the family's config dataclass: it travels as the key
    # `held_out` of the saved model_config, read and written here for every generator family.
    held_out: tuple[dict[str, str], ...] = ()
    HELD_OUT_KEY: ClassVar[str] = "held_out"

    @classmethod
    def from_config(cls, model_config: Mapping[str, Any] | None, mel_config: MelConfig, *,
                    path: str = "model_config") -> "MelGenerator":
        config = dict(model_config or {})
        held_out = config.pop(cls.HELD_OUT_KEY, None)
        model = super().from_config(config, mel_config, path=path)
        if held_out:
            model.held_out = model.vocabulary.parse_combinations(held_out, source=f"{path}.{cls.HELD_OUT_KEY}")
        return model

    def config_dict(self) -> dict[str, Any]:
        config = super().config_dict()
        if self.held_out:
            config[self.HELD_OUT_KEY] = [dict(c) for c in self.held_out]
        return config

    @property
    def z_dim(self) -> int:
        """Size of one sample's noise vector (`generate`'s z is (B, z_dim))."""
        return int(self.config.z_dim)

    def sampling_settings(self, **options: Any) -> dict[str, Any]:
        """The sampler settings `generate` uses given `options` (those in `sampling_options`; None =
        the model's stored default), checked with one-line errors before anything is generated."""
        return {}

    def check_labels(self, labels: Tensor) -> Tensor:
        """(B, K) indices within this model's vocabulary, as long; otherwise a one-line error."""
        sizes = torch.tensor(self.vocabulary.sizes, device=labels.device)
        if labels.ndim != 2 or labels.shape[1] != len(sizes):
            raise ConfigError(f"labels: expected (B, {len(sizes)}) indices for {list(self.vocabulary.names)}, "
                              f"got shape {tuple(labels.shape)}")
        if (labels < 0).any() or (labels >= sizes).any():
            raise ConfigError(f"labels out of range for {self.vocabulary.describe()}")
        return labels.long()

    def labels_for(self, conditions: Mapping[str, str], batch: int = 1) -> Tensor:
        """{name: value} (all conditions) -> (batch, K) indices; unknown names/values list the valid ones."""
        return torch.tensor([self.vocabulary.encode(dict(conditions), source="conditions")] * batch, dtype=torch.long)
