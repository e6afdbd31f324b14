"""MelConfig: the one description of how audio becomes a mel-spectrogram.

Every model, checkpoint and saved mel carries one of these. Two mels are only
interchangeable when their configs are equal; `MelConfig.diff` names the fields
that differ so a mismatch can be reported precisely instead of producing a
silently wrong sound.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from melwave.errors import ConfigError, MelConfigMismatch
from melwave.utils.safe_config import parse_yaml, read_yaml, short_repr

PADDINGS = ("center", "symmetric", "end", "none")
PAD_MODES = ("reflect", "constant")
MEL_SCALES = ("htk", "slaney", "tensorflow")
MEL_NORMS = ("slaney", "none")
COMPRESSIONS = ("log", "log10", "db", "tfio-db", "gomin", "diffwave", "none")


# Caps on the sizes a mel config may ask for, far above any published setting (BigVGAN's 44 kHz
# model: n_fft 2048, 128 mels): a config comes from files strangers write, and n_fft 2^31 or
# 2^24 mel bands would allocate a filterbank of terabytes before anything else could object.
MAX_SIZES = {"sample_rate": 768_000, "n_fft": 65_536, "win_length": 65_536, "hop_length": 65_536, "n_mels": 2_048}


@dataclass(frozen=True)
class MelConfig:
    """How a waveform at `sample_rate` becomes a (n_mels, frames) mel-spectrogram.

    padding:
      - "center":    torch.stft(center=True): n_fft//2 samples padded on each side;
                     frames = 1 + len // hop.
      - "symmetric": (n_fft - hop)//2 samples padded each side, then no centering
                     (HiFi-GAN and the CWGAN source); frames = len // hop for len % hop == 0.
      - "end":       zero padding at the end only, as tf.signal.stft(pad_end=True).
      - "none":      no padding; frames = 1 + (len - n_fft) // hop.
    pad_mode: what "symmetric" and "center" pad with: "reflect", or "constant" (zeros; what
      torchaudio's `pad=` argument always does, whatever its `pad_mode`). "end" pads zeros.
    power: 1 for magnitude, 2 for power, applied before the mel filterbank.
    mel_scale:
      - "htk", "slaney": librosa.filters.mel(htk=...): band edges equally spaced on that mel
                         scale, triangles linear in Hz between them (torchaudio's too).
      - "tensorflow":    tf.signal.linear_to_mel_weight_matrix: HTK mels (1127·ln(1 + f/700)),
                         triangles linear in mel over the bins' mel positions, DC bin zeroed.
    compression:
      - "log":   ln(max(x, log_clamp))            (HiFi-GAN, Vocos)
      - "log10": log10(max(x, log_clamp))         (ParallelWaveGAN toolkit, log_clamp 1e-10)
      - "db":    10·log10(max(x, amin)) with top_db clipping relative to the max of each item
                 (librosa.power_to_db; 20·log10 and amplitude_to_db for power=1)
      - "tfio-db": 20·log10(max(x, 1e-10)), top_db below the max of each item: tfio.audio.dbscale,
                 which squares its input, so a power mel comes out at twice its dB value
      - "gomin": clamp((10·log10(x + 1e-10) + 100) / 100, min=0)
      - "diffwave": clamp((20·log10(max(x, 1e-5)) − 20 + 100) / 100, 0, 1)   (lmnt-com/diffwave)
      - "none":  the linear mel values
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = 8000.0
    padding: str = "symmetric"
    pad_mode: str = "reflect"
    power: float = 1.0
    normalized: bool = False
    mel_scale: str = "slaney"
    mel_norm: str = "slaney"
    compression: str = "log"
    log_clamp: float = 1e-5
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        def bad(field: str, expected: str) -> ConfigError:
            return ConfigError(f"MelConfig.{field}={short_repr(getattr(self, field))}: expected {expected}")

        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise bad(name, "a positive integer")
            if value > MAX_SIZES[name]:
                raise bad(name, f"at most {MAX_SIZES[name]:,} (MAX_SIZES)")
        # Store real-valued fields as float so that equal configs have equal fingerprints
        # (MelConfig(power=2) == MelConfig(power=2.0), and their JSON must agree too).
        for name, optional in (("fmin", False), ("fmax", True), ("power", False), ("log_clamp", False), ("top_db", True)):
            value = getattr(self, name)
            if value is None and optional:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad(name, "a number" + (" or null" if optional else ""))
            object.__setattr__(self, name, float(value))
        for name in ("fmin", "fmax", "log_clamp", "top_db"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise bad(name, "a finite number")
        if not isinstance(self.normalized, bool):
            raise bad("normalized", "true or false")
        for name in ("padding", "pad_mode", "mel_scale", "mel_norm", "compression"):
            if not isinstance(getattr(self, name), str):
                raise bad(name, "a string")
        if self.win_length > self.n_fft:
            raise bad("win_length", f"<= n_fft ({self.n_fft})")
        if self.hop_length > self.n_fft:
            # Frames would skip samples (and "symmetric" padding would become negative, i.e. a crop).
            raise bad("hop_length", f"<= n_fft ({self.n_fft})")
        if self.padding not in PADDINGS:
            raise bad("padding", f"one of {PADDINGS}")
        if self.pad_mode not in PAD_MODES:
            raise bad("pad_mode", f"one of {PAD_MODES}")
        if self.mel_scale not in MEL_SCALES:
            raise bad("mel_scale", f"one of {MEL_SCALES}")
        if self.mel_norm not in MEL_NORMS:
            raise bad("mel_norm", f"one of {MEL_NORMS}")
        if self.compression not in COMPRESSIONS:
            raise bad("compression", f"one of {COMPRESSIONS}")
        if self.power not in (1.0, 2.0):
            raise bad("power", "1 (magnitude) or 2 (power)")
        nyquist = self.sample_rate / 2
        if not 0 <= self.fmin < self.resolved_fmax:
            raise bad("fmin", f"0 <= fmin < fmax ({self.resolved_fmax})")
        if self.fmax is not None and self.fmax > nyquist:
            raise bad("fmax", f"<= sample_rate/2 ({nyquist})")
        if not self.log_clamp > 0:
            raise bad("log_clamp", "a positive number")
        if self.top_db is not None and not self.top_db > 0:
            raise bad("top_db", "a positive number or null")

    # Derived sizes are properties so they are never stored twice.
    @property
    def resolved_fmax(self) -> float:
        """The top of the filterbank in Hz: `fmax`, or Nyquist where `fmax` is None. (The field
        keeps the None: it is what saved files hold.)"""
        return self.sample_rate / 2 if self.fmax is None else float(self.fmax)

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def pad_left(self) -> int:
        """Samples padded before signal sample 0, i.e. where frame 0's window starts (at -pad_left).

        center: n_fft//2; symmetric: (n_fft - hop)//2 (and as many after); end and none: 0.
        Analysis, Griffin-Lim and the iSTFT head all place frames with this one number.
        """
        if self.padding == "center":
            return self.n_fft // 2
        if self.padding == "symmetric":
            return (self.n_fft - self.hop_length) // 2
        return 0

    def num_frames(self, num_samples: int) -> int:
        """Frames the extractor produces for `num_samples` samples."""
        if self.padding == "center":
            return 1 + num_samples // self.hop_length
        if self.padding == "symmetric":
            padded = num_samples + 2 * self.pad_left
            return max(0, 1 + (padded - self.n_fft) // self.hop_length)
        if self.padding == "end":
            return -(-num_samples // self.hop_length)
        return max(0, 1 + (num_samples - self.n_fft) // self.hop_length)

    def min_samples(self) -> int:
        """Shortest input that gives at least one frame (reflect padding needs > pad samples)."""
        if self.padding == "center":
            return self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1
        if self.padding == "symmetric":
            pad = self.pad_left
            return max(self.n_fft - 2 * pad, pad + 1 if self.pad_mode == "reflect" else 1)
        if self.padding == "end":
            return 1
        return self.n_fft

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "mel config") -> "MelConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of MelConfig fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        # Keys from YAML can be any hashable (ints, None); sort their reprs, not the keys.
        unknown = sorted((str(key) for key in data if key not in known))
        if unknown:
            raise ConfigError(f"{source}: unknown MelConfig field(s) {short_repr(unknown, 120)}; valid fields: {sorted(known)}")
        values = dict(data)
        # Hand-written YAML gives 2 for 2.0: __post_init__ stores real-valued fields as float.
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        except TypeError as err:  # pragma: no cover - defensive, dataclass signature errors
            raise ConfigError(f"{source}: {err}") from None

    @classmethod
    def parse(cls, data: Any, *, source: str = "mel config") -> "MelConfig":
        """The one reader of mel settings a person writes (CLI files, the API, training configs).

        Accepts a preset name (`"hifigan-22k"`), or a mapping of MelConfig fields that may start
        from a preset: `{preset: gomin-24k, n_mels: 80}` is gomin-24k with 80 mels. Unknown keys
        and unknown presets are errors naming `source`. Files melwave writes itself (mel files,
        model headers) store every field and are read with the stricter `from_dict`.
        """
        if isinstance(data, str):
            data = {"preset": data}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a preset name or a mapping of MelConfig fields "
                              f"(optionally with `preset:`), got {type(data).__name__}")
        values = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in values if key not in known and key != "preset")
        if unknown:
            raise ConfigError(f"{source}: unknown MelConfig field(s) {short_repr(unknown, 120)}; valid: 'preset' and {sorted(known)}")
        if "preset" in values:
            preset = values.pop("preset")
            if not isinstance(preset, str) or preset not in PRESETS:
                raise ConfigError(f"{source}: preset={short_repr(preset)} is not a mel preset; available: {sorted(PRESETS)}")
            values = {**PRESETS[preset].to_dict(), **values}
        return cls.from_dict(values, source=source)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str | bytes, *, source: str = "mel config YAML") -> "MelConfig":
        """`parse` of YAML text that may come from anyone: read by `safe_config.parse_yaml` (data
        only, capped size, nesting, aliases and numbers); every failure one ConfigError line."""
        return cls.parse(parse_yaml(text, source=source), source=source)

    @classmethod
    def load(cls, path: str | Path) -> "MelConfig":
        """Read a YAML file holding MelConfig fields, a preset name, or `preset:` plus overrides
        (`--mel-config FILE`): `safe_config.read_yaml`'s bounded read and checks, then `parse`."""
        return cls.parse(read_yaml(path, what="mel config"), source=str(path))

    def fingerprint(self) -> str:
        """Stable 12-hex-digit hash of the canonical JSON form; equal configs, equal prints."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    # --- comparison ----------------------------------------------------------------------
    def diff(self, other: "MelConfig") -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: {name: (self_value, other_value)}."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    def require_same(self, other: "MelConfig", *, what: str = "mel", expected_by: str = "model",
                     hint: str | None = None) -> None:
        """The one mel-config check: raise MelConfigMismatch naming every field where `self` (what
        came) differs from `other` (what `expected_by` needs), ending with `hint` (what fixes it),
        or return if they are equal."""
        differences = self.diff(other)
        if differences:
            raise MelConfigMismatch(differences, what=what, expected_by=expected_by, hint=hint)

    def replace(self, **changes: Any) -> "MelConfig":
        return dataclasses.replace(self, **changes)


# --- presets ---------------------------------------------------------------------------------
# Each reproduces a source system's analysis exactly (docs/sources.md; golden tests in tests/audio/test_source_mels.py).
PRESETS: dict[str, MelConfig] = {
    # The pretrained HiFi-GAN V1 (jik876): magnitude mel, Slaney filterbank, (n_fft-hop)/2
    # reflect padding without centering, natural log clamped at 1e-5.
    "hifigan-22k": MelConfig(),
    # Deep mel-spectrogram generator (CWGAN-GP source): 128 HTK mels of the power spectrum up to
    # Nyquist. The source never log-compressed; this preset says so honestly. Its torchaudio
    # MelSpectrogram(pad=(n_fft-hop)/2, center=False) pads with zeros: torchaudio applies `pad`
    # as F.pad(mode="constant") and uses `pad_mode="reflect"` only for center=True.
    "cwgan-22k": MelConfig(
        sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, n_mels=128,
        fmin=0.0, fmax=11025.0, padding="symmetric", pad_mode="constant", power=2.0,
        mel_scale="htk", mel_norm="none", compression="none",
    ),
    # Its strips configuration used hop 345.
    "cwgan-strips-22k": MelConfig(
        sample_rate=22050, n_fft=1024, win_length=1024, hop_length=345, n_mels=128,
        fmin=0.0, fmax=11025.0, padding="symmetric", pad_mode="constant", power=2.0,
        mel_scale="htk", mel_norm="none", compression="none",
    ),
    # What melwave's generator trains on: the same frames, log-compressed, and reflect-padded
    # (melwave's choice, kept: zeros darken the first and last frames, and models trained on this
    # preset expect it).
    "cwgan-22k-log": MelConfig(
        sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, n_mels=128,
        fmin=0.0, fmax=11025.0, padding="symmetric", pad_mode="reflect", power=2.0,
        mel_scale="htk", mel_norm="none", compression="log", log_clamp=1e-5,
    ),
    # GOMIN: torchaudio MelSpectrogram(center=True, pad_mode="constant", normalized=True,
    # power=2, slaney scale and norm), then clamp((10 log10(x+1e-10)+100)/100, 0).
    "gomin-24k": MelConfig(
        sample_rate=24000, n_fft=1024, win_length=1024, hop_length=256, n_mels=128,
        fmin=0.0, fmax=12000.0, padding="center", pad_mode="constant", power=2.0,
        normalized=True, mel_scale="slaney", mel_norm="slaney", compression="gomin",
    ),
    # MelGAN Keras tutorial: tf.signal.stft(pad_end=True), TF's mel filterbank 125-7600 Hz of the
    # power spectrum, tfio.audio.dbscale(top_db=80), i.e. 20·log10 of the power mel.
    "melgan-22k": MelConfig(
        sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256, n_mels=80,
        fmin=125.0, fmax=7600.0, padding="end", pad_mode="constant", power=2.0,
        mel_scale="tensorflow", mel_norm="none", compression="tfio-db", top_db=80.0,
    ),
}


def get_preset(name: str) -> MelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown mel preset {short_repr(name)}; available: {sorted(PRESETS)}") from None
