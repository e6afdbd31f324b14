"""Per-file analysis (audio -> mel file), synthesis (mel file -> audio) and resynthesis
(audio -> audio). The CLI maps these over batches; each returns notes for the user."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from melwave.audio.config import MelConfig
from melwave.audio.features import MelExtractor
from melwave.audio.io import load_audio, resample, save_audio
from melwave.audio.melfile import MEL_EXTENSIONS, MelFile, load_mel, save_mel
from melwave.errors import AudioError, MelwaveError
from melwave.inference.progress import AudioProgress
from melwave.models.base import Vocoder

# Vocode in chunks of this many seconds: HiFi-GAN V1 peaks at ~0.8 GB RSS with 5 s chunks (benchmarks/memory.py),
# about half of what 10 s chunks need, for ~11% more compute (the overlapping context).
DEFAULT_CHUNK_SECONDS = 5.0


def chunk_frames_for(cfg: MelConfig, seconds: float | None) -> int | None:
    return None if not seconds else max(16, math.ceil(seconds * cfg.frame_rate))


def mel_of_file(path: Path, cfg: MelConfig, device: str | torch.device = "cpu") -> tuple[torch.Tensor, float, list[str]]:
    """Decode, down-mix, resample and analyse one file. Returns ((n_mels, frames) mel, seconds, notes)."""
    mel, audio = _analysed(path, cfg, device)
    return mel, audio.duration, audio.notes


def _analysed(path: Path, cfg: MelConfig, device: str | torch.device):
    audio = load_audio(path, cfg.sample_rate)
    if len(audio.wave) < cfg.min_samples():
        raise AudioError(f"{path}: audio is {len(audio.wave)} samples ({audio.duration * 1000:.1f} ms) at {cfg.sample_rate} Hz, "
                         f"shorter than the {cfg.min_samples()} this mel config needs")
    wave = torch.from_numpy(audio.wave).to(device)
    return MelExtractor(cfg).to(device)(wave), audio


@dataclass(frozen=True)
class OutputRate:
    """The sample rate outputs are written at: the vocoder's ("model", the default), the input
    file's ("input": resynthesis only; a mel file does not say what rate its audio had), or a
    number of Hz. Parsed from --output-rate."""

    rule: str = "model"
    hz: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> "OutputRate":
        if text in (None, "", "model"):
            return cls()
        if text == "input":
            return cls("input")
        if text.isdigit() and 1000 <= int(text) <= 768_000:
            return cls("hz", int(text))
        raise MelwaveError(f"--output-rate {text!r}: expected model, input, or a sample rate in Hz (1000-768000)")

    def rate(self, vocoder_rate: int, input_rate: int | None) -> int:
        if self.rule == "input":
            if input_rate is None:
                raise MelwaveError("--output-rate input: the input is a mel file, which does not record its audio's "
                                   "sample rate; give a rate in Hz or leave it at model")
            return input_rate
        return self.hz if self.rule == "hz" else vocoder_rate


def write_wave(target: Path, wave: torch.Tensor, vocoder_rate: int, *, output_rate: OutputRate = OutputRate(),
               input_rate: int | None = None, overwrite: bool = False) -> list[str]:
    """Save a vocoded (T,) wave at the rate `output_rate` picks (resampled with soxr when it is
    not the vocoder's); returns the notes to show."""
    rate = output_rate.rate(vocoder_rate, input_rate)
    data = wave.numpy()
    notes = []
    if rate != vocoder_rate:
        data = resample(data, vocoder_rate, rate)
        notes.append(f"output resampled {vocoder_rate} Hz -> {rate} Hz")
    save_audio(target, data, rate, overwrite=overwrite)
    return notes


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

            adapted = GriffinLim(self.vocoder.config, mel_config=cfg).to(self.vocoder.device)
            adapted.name = self.vocoder.name
            self._adapted[cfg] = adapted
        return self._adapted[cfg]


def vocode(vocoder: Vocoder, mel: torch.Tensor, cfg: MelConfig, *, source: str, chunk_seconds: float | None,
           progress: bool | None = None) -> torch.Tensor:
    """(n_mels, frames) -> (T,) on CPU, checked against the vocoder's config, chunked if long.

    A file of several chunks reports its progress in seconds of audio (`inference.progress`:
    `progress` None = a bar on a terminal, log lines otherwise; False = silent)."""
    mel = vocoder.check_mel(mel, cfg, source=source)
    seconds = mel.shape[-1] * cfg.hop_length / cfg.sample_rate
    with AudioProgress(Path(source).name, seconds, enabled=progress) as report:
        wave = vocoder.synthesize(mel, cfg, chunk_frames=chunk_frames_for(cfg, chunk_seconds), progress=report)
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


def prepare_synthesis(source: Path, vocoders: VocoderFor, *, npy_config: MelConfig | None, trust_file: bool,
                      resample_mel: bool) -> tuple[Vocoder, torch.Tensor, MelConfig, list[str], None]:
    """Synthesis up to vocoding: read the mel, pick the vocoder, convert the mel if asked. The last
    value (the input's audio rate) is None: a mel file does not record it."""
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
    return vocoder, mel, config, notes, None


def prepare_resynthesis(source: Path, target: Path, vocoder: Vocoder, *,
                        device: str) -> tuple[Vocoder, torch.Tensor, MelConfig, list[str], int]:
    """Resynthesis up to vocoding: the output type checked, the audio analysed. The last value is
    the input file's own sample rate (for --output-rate input)."""
    if target.suffix.lower() not in (".wav", ".flac"):
        raise MelwaveError(f"{target}: resynthesis writes .wav or .flac files")
    mel, audio = _analysed(source, vocoder.mel_config, device)
    return vocoder, mel, vocoder.mel_config, list(audio.notes), audio.source_rate


def synthesize_file(source: Path, target: Path, vocoders: VocoderFor, *, npy_config: MelConfig | None = None,
                    chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS, overwrite: bool = False,
                    trust_file: bool = False, resample_mel: bool = False, output_rate: OutputRate = OutputRate(),
                    progress: bool | None = None) -> list[str]:
    vocoder, mel, config, notes, _ = prepare_synthesis(source, vocoders, npy_config=npy_config, trust_file=trust_file,
                                                       resample_mel=resample_mel)
    wave = vocode(vocoder, mel, config, source=str(source), chunk_seconds=chunk_seconds, progress=progress)
    return notes + write_wave(target, wave, vocoder.sample_rate, output_rate=output_rate, overwrite=overwrite)


def resynth_file(source: Path, target: Path, vocoder: Vocoder, *, device: str = "cpu",
                 chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS, overwrite: bool = False,
                 output_rate: OutputRate = OutputRate(), progress: bool | None = None) -> list[str]:
    vocoder, mel, config, notes, input_rate = prepare_resynthesis(source, target, vocoder, device=device)
    wave = vocode(vocoder, mel, config, source=str(source), chunk_seconds=chunk_seconds, progress=progress)
    return notes + write_wave(target, wave, vocoder.sample_rate, output_rate=output_rate, input_rate=input_rate,
                              overwrite=overwrite)
