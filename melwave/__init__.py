"""melwave: audio -> mel-spectrograms -> audio, conditional mel generation, neural vocoders.

    voc = melwave.load_vocoder("hifigan-universal")   # or "griffinlim", or a path
    mel = voc.prepare_melspectrogram(wave)             # (T,) -> (n_mels, frames)
    wave = voc(mel[None])                               # (B, n_mels, frames) -> (B, T)
"""

from melwave.audio.config import PRESETS, MelConfig, get_preset
from melwave.audio.features import MelExtractor, mel_spectrogram
from melwave.audio.io import load_audio, save_audio
from melwave.audio.melfile import MelFile, load_mel, save_mel
from melwave.errors import MelConfigMismatch, MelwaveError
from melwave.models.registry import available_vocoders, load_model, load_vocoder, save_model

__version__ = "0.1.0"

__all__ = [
    "MelConfig", "PRESETS", "get_preset", "MelExtractor", "mel_spectrogram", "load_audio", "save_audio",
    "MelFile", "load_mel", "save_mel", "MelwaveError", "MelConfigMismatch", "load_vocoder", "load_model",
    "save_model", "available_vocoders",
]
