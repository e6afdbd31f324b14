"""`synthesize` / `resynth` over a group of files with one batched vocoder pass (`--batch-size`).

`batched_jobs` decides how a batch is vocoded: in groups through `BatchedVocoding` when batching
was asked for and is exact for the vocoder (`batching.batch_refusal`), else one file at a time.

`BatchedVocoding(pairs)` does for each (input, output) what `pipeline.synthesize_file` or
`pipeline.resynth_file` does (their first halves, `pipeline.prepare_*`, read and check the mel),
but vocodes the mels that fit in one chunk together (`batching.vocode_batch`,
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
from melwave.errors import MelwaveError
from melwave.inference.batching import batch_refusal, vocode_batch
from melwave.inference.pipeline import OutputRate, chunk_frames_for, vocode, write_wave
from melwave.inference.runner import Jobs
from melwave.models.base import Vocoder

# (input, output) -> (vocoder, (n_mels, frames) mel, its config, notes, the input's audio rate or None)
Prepare = Callable[[Path, Path], tuple[Vocoder, Tensor, MelConfig, list[str], "int | None"]]

# A group of this many times --batch-size files is read, sorted by length and vocoded B at a time:
# sorting a larger group wastes less on padding, and the group's mels are held in memory.
GROUP_BATCHES = 8


@dataclass(frozen=True)
class Done:
    """One file written: its notes, seconds of audio, and seconds taken (its share of a batch)."""

    notes: tuple[str, ...] = ()
    audio_seconds: float | None = None
    seconds: float | None = None


@dataclass
class _Pending:
    index: int
    mel: Tensor
    notes: list[str]
    seconds: float
    input_rate: int | None = None


class BatchedVocoding:
    """A group job for `melwave.inference.runner.run_batch`: pairs -> [Done | Exception] in order."""

    def __init__(self, vocoder: Vocoder, prepare: Prepare, *, batch_size: int, chunk_seconds: float | None,
                 overwrite: bool, output_rate: OutputRate = OutputRate(), progress: bool | None = None):
        self.vocoder, self.prepare, self.batch_size, self.progress = vocoder, prepare, batch_size, progress
        self.chunk_seconds, self.overwrite, self.output_rate = chunk_seconds, overwrite, output_rate
        self.chunk_frames = chunk_frames_for(vocoder.mel_config, chunk_seconds)

    def _write(self, source: Path, target: Path, wave: Tensor, input_rate: int | None, notes: list[str]) -> float:
        wave = wave.detach().float().cpu()
        if not torch.isfinite(wave).all():  # as `pipeline.vocode` refuses it
            raise MelwaveError(f"{source}: vocoder '{self.vocoder.name}' produced NaN/Inf samples")
        notes += write_wave(target, wave, self.vocoder.sample_rate, output_rate=self.output_rate, input_rate=input_rate,
                            overwrite=self.overwrite)
        return len(wave) / self.vocoder.sample_rate

    def __call__(self, pairs: Sequence[tuple[Path, Path]]) -> list[Done | Exception]:
        results: list[Done | Exception | None] = [None] * len(pairs)
        pending: list[_Pending] = []
        for index, (source, target) in enumerate(pairs):
            start = time.perf_counter()
            try:
                vocoder, mel, config, notes, input_rate = self.prepare(source, target)
                mel = vocoder.check_mel(mel.to(vocoder.device), config, source=str(source))[0]
                if vocoder is self.vocoder and (self.chunk_frames is None or mel.shape[-1] <= self.chunk_frames):
                    pending.append(_Pending(index, mel, notes, time.perf_counter() - start, input_rate))
                    continue
                wave = vocode(vocoder, mel, config, source=str(source), chunk_seconds=self.chunk_seconds,
                              progress=self.progress)
                seconds = self._write(source, target, wave, input_rate, notes)
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
                seconds = self._write(source, target, wave, item.input_rate, item.notes)
            except Exception as err:  # noqa: BLE001
                results[item.index] = err
                continue
            share = elapsed * item.mel.shape[-1] / total
            results[item.index] = Done(tuple(item.notes), seconds, item.seconds + share + time.perf_counter() - begin)


def batched_jobs(job: Callable[[Path, Path], list[str]], vocoder: Vocoder, prepare: Prepare, *, batch_size: int,
                 chunk_seconds: float | None, overwrite: bool, output_rate: OutputRate = OutputRate(),
                 progress: bool | None = None) -> Jobs:
    """`job` one file at a time, or with `batch_size` > 1 also as a group job of BatchedVocoding;
    when the vocoder cannot batch exactly, one file at a time with a note saying why. `progress`:
    a long file's own progress (`inference.progress`; False = none)."""
    if batch_size == 1:
        return Jobs(job)
    reason = batch_refusal(vocoder)
    if reason is not None:
        return Jobs(job, notes=(f"--batch-size {batch_size}: vocoder '{vocoder.name}' cannot batch exactly ({reason}); "
                                f"vocoding one file at a time",))
    group = BatchedVocoding(vocoder, prepare, batch_size=batch_size, chunk_seconds=chunk_seconds, overwrite=overwrite,
                            output_rate=output_rate, progress=progress)
    return Jobs(job, group, batch_size * GROUP_BATCHES)
