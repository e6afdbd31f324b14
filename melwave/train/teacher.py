"""A pretrained vocoder's output for every training file, computed once and cached on disk: the
targets a student vocoder is distilled to (`recipe.name: distill`).

A teacher such as `hifigan-universal` is a deterministic function of the mel, phase included,
so its waveform is a regression target with no phase ambiguity: the student needs no
discriminator. The teacher is slow (HiFi-GAN V1: 0.3-0.6 s of this 2-core CPU per audio second),
so each file's target is computed once, from the whole file's mel (chunked, as `melwave resynth`
vocodes long files), and stored as `CACHE/<key>.npy` (float16, the file's length). The key hashes
the teacher (name, config, weights), the mel config and the audio samples, so a cache folder can
be shared by runs and is never read for a different teacher, mel or file. Files are written
atomically (temporary name, then rename): an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from melwave.audio.config import MelConfig
from melwave.errors import ConfigError
from melwave.utils.fileio import atomic_write

log = logging.getLogger(__name__)

CHUNK_SECONDS = 10.0   # teacher chunk: bounded memory for hour-long files
WAIT_SECONDS = 6 * 3600  # how long a rank waits for another rank's share of the targets


def teacher_key(teacher: torch.nn.Module, spec: str, mel_config: MelConfig) -> str:
    """A hash of what determines the teacher's output besides the audio: its weights, config, mel."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"teacher": spec, "family": getattr(teacher, "family", type(teacher).__name__),
                              "config": getattr(teacher, "config_dict", dict)(), "mel": repr(mel_config)},
                             sort_keys=True, default=str).encode())
    for name, tensor in sorted(teacher.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _load_target(path: Path, length: int) -> np.ndarray | None:
    """The cached target, or None when absent or not a (length,) float16 array (then recomputed)."""
    if not path.is_file():
        return None
    try:
        target = np.load(path, allow_pickle=False)  # never executes code from the file
    except (OSError, ValueError) as err:
        log.warning("%s: unreadable cached target (%s); recomputing it", path, err)
        return None
    if target.dtype != np.float16 or target.shape != (length,):
        log.warning("%s: cached target is %s %s, expected float16 (%d,); recomputing it",
                    path, target.dtype, target.shape, length)
        return None
    return target


def _save_atomic(path: Path, target: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.save on a path would append ".npy"
            np.save(handle, target.astype(np.float16), allow_pickle=False)

    # overwrite: a damaged cache file is replaced by its recomputed target.
    atomic_write(path, write, overwrite=True)


class TeacherTargets:
    """teacher(whole-file mel) for each training wave, from the cache or computed into it."""

    def __init__(self, spec: str, mel_config: MelConfig, cache_dir: str | Path, device: torch.device):
        from melwave.audio.features import MelExtractor
        from melwave.models.io.load import load_vocoder

        try:
            self.teacher = load_vocoder(spec, device=device, mel_config=mel_config).eval()
        except ConfigError as err:
            raise ConfigError(f"recipe.teacher={spec!r}: {err}") from None
        self.spec, self.mel_config, self.device = spec, mel_config, device
        self.extractor = MelExtractor(mel_config).to(device)
        self.key = teacher_key(self.teacher, spec, mel_config)
        self.cache_dir = Path(cache_dir).expanduser()
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def path(self, wave: np.ndarray) -> Path:
        digest = hashlib.sha256(self.key.encode())
        digest.update(np.ascontiguousarray(wave, dtype=np.float32).tobytes())
        return self.cache_dir / f"{digest.hexdigest()[:40]}.npy"

    @torch.no_grad()
    def compute(self, wave: np.ndarray) -> np.ndarray:
        """(T,) audio -> (T,) float16 teacher output for its mel."""
        from melwave.models.chunking import synthesize_chunked

        audio = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)).to(self.device)[None]
        mel = self.extractor(audio)
        chunk = max(1, int(CHUNK_SECONDS * self.mel_config.sample_rate / self.mel_config.hop_length))
        out = synthesize_chunked(self.teacher, mel, chunk_frames=chunk)[0].float().cpu().numpy()
        target = np.zeros(len(wave), dtype=np.float16)  # the mel's frames may end a part-hop early
        target[: min(len(out), len(wave))] = out[: len(wave)]
        return target

    def targets(self, waves: list[np.ndarray], files: list[Path], *, rank: int = 0, world_size: int = 1) -> list[np.ndarray]:
        """Every wave's target. Rank r computes the missing files i with i % world_size == r, then
        waits for the other ranks' share (they write the same cache folder)."""
        paths = [self.path(w) for w in waves]
        found = [_load_target(p, len(w)) for p, w in zip(paths, waves)]
        todo = [i for i, t in enumerate(found) if t is None and i % world_size == rank]
        if todo:
            seconds = sum(len(waves[i]) for i in todo) / self.mel_config.sample_rate
            log.info("teacher %s: computing targets for %d of %d files (%.0f s of audio) into %s",
                     self.spec, len(todo), len(waves), seconds, self.cache_dir)
        started, done_seconds, last_log = time.monotonic(), 0.0, time.monotonic()
        for n, i in enumerate(todo, 1):
            found[i] = self.compute(waves[i])
            _save_atomic(paths[i], found[i])
            done_seconds += len(waves[i]) / self.mel_config.sample_rate
            now = time.monotonic()
            if now - last_log > 30 or n == len(todo):
                rate = done_seconds / max(now - started, 1e-9)
                left = (seconds - done_seconds) / max(rate, 1e-9)
                log.info("teacher targets: %d/%d files, %.0f/%.0f audio s, %.2f× real time, ETA %.0f s (%s)",
                         n, len(todo), done_seconds, seconds, rate, left, files[i].name)
                last_log = now
        deadline = time.monotonic() + WAIT_SECONDS
        for i, target in enumerate(found):
            while target is None:  # another rank's share
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{files[i]}: no teacher target appeared in {paths[i]} within {WAIT_SECONDS} s")
                time.sleep(2.0)
                target = _load_target(paths[i], len(waves[i]))
            found[i] = target
        return found
