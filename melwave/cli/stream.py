"""`melwave stream`: mel frames in, raw PCM out, each sample written as soon as it is final.

Input, stdin (the default): raw little-endian float32, frame-major: frame after frame, each frame
n_mels consecutive floats (mel bin 0 first) in the vocoder's mel units, i.e. the columns of the
(n_mels, frames) mels `melwave analyze` writes. A frame is pushed as soon as its last byte
arrives; a trailing partial frame at end of input is an error. `--mel FILE` streams a saved mel
file (.pt with its config, or .npy in the vocoder's config) `--chunk-frames` frames at a time.

Output, stdout: raw mono PCM at the vocoder's sample rate, little-endian float32 (`--pcm f32`,
the default) or signed 16-bit (`--pcm s16`), written and flushed after every push that made
samples final, and the rest at end of input. One line on stderr gives the format and latency.

    tts-frontend | melwave stream -m hifigan-universal --pcm s16 | aplay -f S16_LE -r 22050 -c 1
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

from melwave.cli.options import trust_file_option
from melwave.cli.synthesis import DEFAULT_MODEL, resolve_device
from melwave.errors import MelwaveError

if TYPE_CHECKING:
    import torch

# numpy, torch and the models are imported inside the command: `melwave --help` builds this parser.

log = logging.getLogger(__name__)
READ_SIZE = 1 << 16  # bytes asked of stdin per read; a read returns whatever the pipe holds


def stdin_frames(source: BinaryIO, n_mels: int) -> Iterator["torch.Tensor"]:
    """(n_mels, k) float32 tensors of the whole frames each read completes, as they arrive."""
    import numpy as np
    import torch

    frame_bytes = 4 * n_mels
    pending = bytearray()
    # read1 returns what is available (one system call) instead of waiting for READ_SIZE bytes.
    read = getattr(source, "read1", source.read)
    while data := read(READ_SIZE):
        pending += data
        whole = len(pending) // frame_bytes
        if whole:
            frames = np.frombuffer(bytes(pending[: whole * frame_bytes]), dtype="<f4").reshape(whole, n_mels)
            del pending[: whole * frame_bytes]
            yield torch.from_numpy(frames.T.astype(np.float32))
    if pending:
        raise MelwaveError(f"stdin ended inside a frame: {len(pending)} bytes left over "
                           f"(a frame is {n_mels} float32 = {frame_bytes} bytes)")


def file_frames(path: Path, vocoder, chunk_frames: int, *, trust_file: bool) -> Iterator["torch.Tensor"]:
    """A saved mel file's frames, `chunk_frames` at a time, checked against the vocoder's config."""
    from melwave.audio.melfile import load_mel

    # A .npy carries no config: it is read as the vocoder's. A .pt's own config must be the vocoder's.
    melfile = load_mel(path, vocoder.mel_config if path.suffix == ".npy" else None, trust_file=trust_file)
    mel = vocoder.check_mel(melfile.mel, melfile.config, source=str(path))[0]
    for start in range(0, mel.shape[-1], chunk_frames):
        yield mel[:, start : start + chunk_frames]


def pcm_bytes(wave, pcm: str) -> bytes:
    """(T,) samples in [-1, 1] -> little-endian float32, or s16 (clipped, scaled by 32767, rounded)."""
    import numpy as np

    samples = wave.detach().float().cpu().numpy()
    if pcm == "s16":
        return np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return samples.astype("<f4").tobytes()


def _stream(args: argparse.Namespace) -> int:
    from melwave.models.io.load import load_vocoder

    if args.chunk_frames < 1:
        raise MelwaveError(f"--chunk-frames {args.chunk_frames}: expected a positive number of frames")
    vocoder = load_vocoder(args.model, device=resolve_device(args.device), trust_file=args.trust_file)
    stream = vocoder.stream(seed=args.seed)
    n_mels, rate = vocoder.mel_config.n_mels, vocoder.sample_rate
    log.info(f"melwave stream: {vocoder.name}: in {n_mels} float32 LE per frame, out {rate} Hz mono "
             f"{'float32 LE' if args.pcm == 'f32' else 's16 LE'}; lookahead {stream.lookahead_frames} frames "
             f"({1000 * stream.lookahead_frames * vocoder.hop_length / rate:.0f} ms)")
    if args.mel is not None:
        frames = file_frames(args.mel, vocoder, args.chunk_frames, trust_file=args.trust_file)
    else:
        frames = stdin_frames(sys.stdin.buffer, n_mels)
    out = sys.stdout.buffer
    try:
        for mel in frames:
            wave = stream.push(mel)
            if wave.numel():
                out.write(pcm_bytes(wave, args.pcm))
                out.flush()
        out.write(pcm_bytes(stream.flush(), args.pcm))
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head -c N`): stop quietly, as Unix filters do, and keep Python
        # from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stream", help="mel frames (stdin or --mel FILE) -> raw PCM on stdout, as samples become final",
                                 description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=f"a feed-forward vocoder: name or model path (default {DEFAULT_MODEL}); "
                             f"Griffin-Lim, DiffWave and Vocos with a prior cannot stream")
    parser.add_argument("--mel", type=Path, metavar="FILE", help="stream this mel file (.pt, or .npy in the model's config) instead of stdin")
    parser.add_argument("--chunk-frames", type=int, default=16, metavar="K", help="frames per push with --mel (default 16)")
    parser.add_argument("--pcm", choices=("f32", "s16"), default="f32", help="output samples: float32 (default) or signed 16-bit, little-endian")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of noise-driven vocoders (Parallel WaveGAN)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    trust_file_option(parser)
    parser.set_defaults(func=_stream)
