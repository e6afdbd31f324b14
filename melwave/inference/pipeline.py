"""Per-file analysis (audio -> mel file), synthesis (mel file -> audio) and resynthesis
(audio -> audio). The CLI maps these over batches; each returns notes for the user."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.audio.io import AUDIO_EXTENSIONS, load_audio, save_audio
from melwave.audio.melfile import MEL_EXTENSIONS, MelFile, load_mel, save_mel
from melwave.errors import AudioError, MelwaveError
from melwave.models.base import Vocoder

# Vocode in chunks of this many seconds: HiFi-GAN V1 peaks at ~0.8 GB RSS with 5 s chunks (benchmarks/memory.py),
# about half of what 10 s chunks need, for ~11% more compute (the overlapping context).
DEFAULT_CHUNK_SECONDS = 5.0


def chunk_frames_for(cfg: MelConfig, seconds: float | None) -> int | None:
    return None if not seconds else max(16, math.ceil(seconds * cfg.frame_rate))


def mel_of_file(path: Path, cfg: MelConfig, device: str | torch.device = "cpu") -> tuple[torch.Tensor, float, list[str]]:
    """Decode, down-mix, resample and analyse one file. Returns ((n_mels, frames) mel, seconds, notes)."""
    audio = load_audio(path, cfg.sample_rate)
    if len(audio.wave) < cfg.min_samples():
        raise AudioError(f"{path}: audio is {len(audio.wave)} samples ({audio.duration * 1000:.1f} ms) at {cfg.sample_rate} Hz, "
                         f"shorter than the {cfg.min_samples()} this mel config needs")
    wave = torch.from_numpy(audio.wave).to(device)
    mel = MelExtractor(cfg).to(device)(wave)
    return mel, audio.duration, audio.notes


class VocoderFor:
    """Gives the vocoder to use for a mel of a given config.

    Trained vocoders have one config and reject others (loudly, naming the fields). Griffin-Lim
    has no weights, so it adapts to each file's config instead.
    """

    def __init__(self, vocoder: Vocoder):
        self.vocoder = vocoder
        self._adapted: dict[MelConfig, Vocoder] = {}

    def __call__(self, cfg: MelConfig) -> Vocoder:
        # Only melwave's own Griffin-Lim adapts: an exported (ONNX) one is a graph fixed to the
        # mel config it was exported with, so a different config is a mismatch, said as one.
        if self.vocoder.family != "griffinlim" or cfg == self.vocoder.mel_config or \
                getattr(self.vocoder, "backend", "torch") != "torch":
            return self.vocoder
        if cfg not in self._adapted:
            from melwave.models.vocoders.griffinlim import GriffinLim

            adapted = GriffinLim(cfg, self.vocoder.config).to(self.vocoder.device)
            adapted.name = self.vocoder.name
            self._adapted[cfg] = adapted
        return self._adapted[cfg]


def vocode(vocoder: Vocoder, mel: torch.Tensor, cfg: MelConfig, *, source: str, chunk_seconds: float | None) -> torch.Tensor:
    """(n_mels, frames) -> (T,) on CPU, checked against the vocoder's config, chunked if long."""
    mel = vocoder.check_mel(mel, cfg, source=source)
    wave = vocoder.synthesize(mel, cfg, chunk_frames=chunk_frames_for(cfg, chunk_seconds))
    wave = wave[0].detach().float().cpu()
    if not torch.isfinite(wave).all():
        raise MelwaveError(f"{source}: vocoder '{vocoder.name}' produced NaN/Inf samples")
    return wave


def analyze_file(source: Path, target: Path, cfg: MelConfig, *, device: str = "cpu", overwrite: bool = False) -> list[str]:
    if target.suffix not in MEL_EXTENSIONS:
        raise MelwaveError(f"{target}: analysis writes {' or '.join(MEL_EXTENSIONS)} files")
    mel, seconds, notes = mel_of_file(source, cfg, device)
    save_mel(target, MelFile(mel=mel.cpu(), config=cfg, source=str(source), duration=seconds), overwrite=overwrite)
    return notes


def synthesize_file(source: Path, target: Path, vocoders: VocoderFor, *, npy_config: MelConfig | None = None,
                    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS, overwrite: bool = False,
                    trust_file: bool = False, resample_mel: bool = False) -> list[str]:
    if source.suffix not in MEL_EXTENSIONS:
        raise MelwaveError(f"{source}: synthesis reads {' or '.join(MEL_EXTENSIONS)} mel files, not {source.suffix or 'extensionless'} files")
    melfile = load_mel(source, npy_config if source.suffix == ".npy" else None, trust_file=trust_file)
    vocoder = vocoders(melfile.config)
    mel, config, notes = melfile.mel, melfile.config, []
    if resample_mel and config != vocoder.mel_config:
        from melwave.audio.mel_convert import convert_mel, same_framing

        how = "re-projected its filterbank" if same_framing(config, vocoder.mel_config) else "re-analysed a Griffin-Lim rendering"
        notes.append(f"converted the mel to the vocoder's config ({how}; differing: {', '.join(config.diff(vocoder.mel_config))})")
        mel, config = convert_mel(mel.to(vocoder.device), config, vocoder.mel_config), vocoder.mel_config
    wave = vocode(vocoder, mel, config, source=str(source), chunk_seconds=chunk_seconds)
    save_audio(target, wave.numpy(), vocoder.sample_rate, overwrite=overwrite)
    return notes


def resynth_file(source: Path, target: Path, vocoder: Vocoder, *, device: str = "cpu",
                 chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS, overwrite: bool = False) -> list[str]:
    if target.suffix.lower() not in (".wav", ".flac"):
        raise MelwaveError(f"{target}: resynthesis writes .wav or .flac files")
    mel, _, notes = mel_of_file(source, vocoder.mel_config, device)
    wave = vocode(vocoder, mel, vocoder.mel_config, source=str(source), chunk_seconds=chunk_seconds)
    save_audio(target, wave.numpy(), vocoder.sample_rate, overwrite=overwrite)
    return notes


def mode_for(inputs: list[Path], outputs: list[Path]) -> str:
    """GOMIN's extension rule: audio->audio resynth, audio->mel analyze, mel->audio synthesize."""
    def kind(path: Path) -> str:
        suffix = path.suffix.lower()
        if suffix in MEL_EXTENSIONS:
            return "mel"
        if suffix in AUDIO_EXTENSIONS:
            return "audio"
        return "other"

    kinds = {(kind(i), kind(o)) for i, o in zip(inputs, outputs)}
    table = {("audio", "audio"): "resynth", ("audio", "mel"): "analyze", ("mel", "audio"): "synthesize"}
    modes = {table.get(k) for k in kinds}
    if None in modes or len(modes) != 1:
        raise MelwaveError(f"cannot tell the mode from the extensions {sorted(kinds)}: use audio->audio (resynth), "
                           f"audio->.pt/.npy (analyze) or .pt/.npy->audio (synthesize), the same for every pair")
    return modes.pop()
