"""melwave: audio -> mel-spectrograms -> audio, conditional mel generation, neural vocoders.

    voc = melwave.load_vocoder("hifigan-universal")   # or "griffinlim", or a path
    mel = voc.prepare_melspectrogram(wave)             # (T,) -> (n_mels, frames)
    wave = voc(mel[None])                               # (B, n_mels, frames) -> (B, T)
    gen = melwave.load_generator()                      # the shipped conditional mel generator
"""

import importlib
from typing import TYPE_CHECKING, Any

# Public names -> the module that defines them, imported on first use: `import melwave` (and so
# `melwave --help`) costs nothing, and loading a vocoder imports only what that vocoder needs.
_LAZY = {
    "MelConfig": "melwave.audio.config", "PRESETS": "melwave.audio.config", "get_preset": "melwave.audio.config",
    "MelExtractor": "melwave.audio.features", "mel_spectrogram": "melwave.audio.features",
    "load_audio": "melwave.audio.io", "save_audio": "melwave.audio.io",
    "MelFile": "melwave.audio.melfile", "load_mel": "melwave.audio.melfile", "save_mel": "melwave.audio.melfile",
    "MelConfigMismatch": "melwave.errors", "MelwaveError": "melwave.errors",
    "available_vocoders": "melwave.models.io.registry", "load_model": "melwave.models.io.model_file",
    "load_vocoder": "melwave.models.io.load", "save_model": "melwave.models.io.model_file",
    "load_generator": "melwave.models.io.load",
}

if TYPE_CHECKING:  # pragma: no cover
    from melwave.audio.config import PRESETS, MelConfig, get_preset
    from melwave.audio.features import MelExtractor, mel_spectrogram
    from melwave.audio.io import load_audio, save_audio
    from melwave.audio.melfile import MelFile, load_mel, save_mel
    from melwave.errors import MelConfigMismatch, MelwaveError
    from melwave.models.io.load import load_generator, load_vocoder
    from melwave.models.io.model_file import load_model, save_model
    from melwave.models.io.registry import available_vocoders


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'melwave' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


from melwave._version import __version__  # noqa: E402  (one definition, importable from any layer)

__all__ = [
    "MelConfig", "PRESETS", "get_preset", "MelExtractor", "mel_spectrogram", "load_audio", "save_audio",
    "MelFile", "load_mel", "save_mel", "MelwaveError", "MelConfigMismatch", "load_vocoder", "load_model",
    "save_model", "available_vocoders", "load_generator",
]
