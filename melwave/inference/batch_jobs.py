"""`synthesize` / `resynth` over a group of files with one batched vocoder pass (`--batch-size`).

`BatchedVocoding(pairs)` does for each (input, output) what `pipeline.synthesize_file` or
`pipeline.resynth_file` does (the `prepare_*` functions below are their first halves: read and
check the mel), but vocodes the mels that fit in one chunk together (`batching.vocode_batch`,
equal to one-by-one within float rounding). A mel longer than one chunk is vocoded alone
through `pipeline.vocode`, as one-by-one does, and written at once, so a group holds at most
its size in one-chunk mels. Each file's failure is its own: the result list holds, per pair,
its `Done` or the exception it raised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor

from melwave.audio.config import MelConfig
from melwave.audio.io import save_audio
from melwave.audio.melfile import MEL_EXTENSIONS, load_mel
from melwave.errors import MelwaveError
from melwave.inference.batching import vocode_batch
from melwave.inference.pipeline import VocoderFor, chunk_frames_for, mel_of_file, vocode
from melwave.models.base import Vocoder

# (input, output) -> (vocoder, (n_mels, frames) mel, its config, notes)
Prepare = Callable[[Path, Path], tuple[Vocoder, Tensor, MelConfig, list[str]]]


@dataclass(frozen=True)
class Done:
    """One file written: its notes, seconds of audio, and seconds taken (its share of a batch)."""

    notes: tuple[str, ...] = ()
    audio_seconds: float | None = None
    seconds: float | None = None


def prepare_synthesis(source: Path, vocoders: VocoderFor, *, npy_config: MelConfig | None, trust_file: bool,
                      resample_mel: bool) -> tuple[Vocoder, Tensor, MelConfig, list[str]]:
    """`synthesize_file` up to vocoding: read the mel, pick the vocoder, convert it if asked."""
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
    return vocoder, mel, config, notes


def prepare_resynthesis(source: Path, target: Path, vocoder: Vocoder, *, device: str) -> tuple[Vocoder, Tensor, MelConfig, list[str]]:
    """`resynth_file` up to vocoding: the output type checked, the audio analysed."""
    if target.suffix.lower() not in (".wav", ".flac"):
        raise MelwaveError(f"{target}: resynthesis writes .wav or .flac files")
    mel, _, notes = mel_of_file(source, vocoder.mel_config, device)
    return vocoder, mel, vocoder.mel_config, list(notes)


@dataclass
class _Pending:
    index: int
    mel: Tensor
    notes: list[str]
    seconds: float


class BatchedVocoding:
    """A group job for `melwave.cli.batch.run_batch`: pairs -> [Done | Exception] in order."""

    def __init__(self, vocoder: Vocoder, prepare: Prepare, *, batch_size: int, chunk_seconds: float | None,
                 overwrite: bool):
        self.vocoder, self.prepare, self.batch_size = vocoder, prepare, batch_size
        self.chunk_seconds, self.overwrite = chunk_seconds, overwrite
        self.chunk_frames = chunk_frames_for(vocoder.mel_config, chunk_seconds)

    def _write(self, source: Path, target: Path, wave: Tensor) -> float:
        wave = wave.detach().float().cpu()
        if not torch.isfinite(wave).all():  # as `pipeline.vocode` refuses it
            raise MelwaveError(f"{source}: vocoder '{self.vocoder.name}' produced NaN/Inf samples")
        save_audio(target, wave.numpy(), self.vocoder.sample_rate, overwrite=self.overwrite)
        return len(wave) / self.vocoder.sample_rate

    def __call__(self, pairs: Sequence[tuple[Path, Path]]) -> list[Done | Exception]:
        results: list[Done | Exception | None] = [None] * len(pairs)
        pending: list[_Pending] = []
        for index, (source, target) in enumerate(pairs):
            start = time.perf_counter()
            try:
                vocoder, mel, config, notes = self.prepare(source, target)
                mel = vocoder.check_mel(mel.to(vocoder.device), config, source=str(source))[0]
                if vocoder is self.vocoder and (self.chunk_frames is None or mel.shape[-1] <= self.chunk_frames):
                    pending.append(_Pending(index, mel, notes, time.perf_counter() - start))
                    continue
                wave = vocode(vocoder, mel, config, source=str(source), chunk_seconds=self.chunk_seconds)
                seconds = self._write(source, target, wave)
                results[index] = Done(tuple(notes), seconds, time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001 - this file's failure, reported on its own line
                results[index] = err
        if pending:
            self._vocode_pending(pairs, pending, results)
        return results  # type: ignore[return-value]

    def _vocode_pending(self, pairs, pending: list[_Pending], results: list) -> None:
        start = time.perf_counter()
        try:
            waves: list[Tensor | Exception] = list(vocode_batch(self.vocoder, [p.mel for p in pending], self.batch_size))
        except Exception:  # noqa: BLE001 - e.g. out of memory for the batch: each file alone, as without batching
            waves = []
            for item in pending:
                try:
                    waves.append(vocode(self.vocoder, item.mel, self.vocoder.mel_config, source=str(pairs[item.index][0]),
                                        chunk_seconds=self.chunk_seconds))
                except Exception as err:  # noqa: BLE001
                    waves.append(err)
        elapsed = time.perf_counter() - start
        total = sum(p.mel.shape[-1] for p in pending)
        for item, wave in zip(pending, waves):
            source, target = pairs[item.index]
            if isinstance(wave, Exception):
                results[item.index] = wave
                continue
            begin = time.perf_counter()
            try:
                seconds = self._write(source, target, wave)
            except Exception as err:  # noqa: BLE001
                results[item.index] = err
                continue
            share = elapsed * item.mel.shape[-1] / total
            results[item.index] = Done(tuple(item.notes), seconds, item.seconds + share + time.perf_counter() - begin)
