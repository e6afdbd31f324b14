"""Progress within one long file: seconds of audio, a line at least every LOG_EVERY seconds off a
terminal (counted with a fake clock, never by waiting), silent when disabled."""

from __future__ import annotations

import io

import torch

from melwave.audio.config import PRESETS
from melwave.inference import progress as progress_module
from melwave.inference.pipeline import vocode
from melwave.inference.progress import AudioProgress
from melwave.models.vocoders.griffinlim import GriffinLim, GriffinLimConfig


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(report: AudioProgress, clock: FakeClock, chunks: int, seconds_per_chunk: float) -> None:
    for k in range(1, chunks + 1):
        clock.now += seconds_per_chunk
        report(k * 100, chunks * 100)


def test_lines_come_every_interval_with_rate_and_time_left():
    clock, out = FakeClock(), io.StringIO()
    report = AudioProgress("talk.flac", 600.0, stream=out, clock=clock, every=10.0)
    feed(report, clock, chunks=30, seconds_per_chunk=4.0)   # 120 s of work for 600 s of audio
    lines = out.getvalue().splitlines()
    # Due at 12, 24, ..., 108 s (each once 10 s have passed since the last); none for the last chunk.
    assert len(lines) == 9 == report.lines
    first = lines[0]
    assert first.startswith("melwave: talk.flac: 60/600 s of audio (10%)")
    assert "5.0x real time" in first and "1m48s left" in first   # 540 s of audio at 5x: 108 s


def test_each_gap_is_at_least_the_interval_and_at_most_one_chunk_more():
    clock, out = FakeClock(), io.StringIO()
    stamps = []
    report = AudioProgress("x.wav", 1000.0, stream=out, clock=clock, every=10.0)
    for k in range(1, 101):
        clock.now += 3.7
        before = report.lines
        report(k, 100)
        if report.lines > before:
            stamps.append(clock.now)
    gaps = [b - a for a, b in zip([0.0] + stamps, stamps)]
    assert gaps and all(10.0 <= gap < 10.0 + 3.7 for gap in gaps)


def test_disabled_is_silent_and_a_short_file_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    feed(AudioProgress("a.wav", 600.0, enabled=False, stream=out, clock=clock), clock, chunks=30, seconds_per_chunk=4.0)
    feed(AudioProgress("b.wav", 6.0, stream=out, clock=clock), clock, chunks=2, seconds_per_chunk=1.0)
    assert out.getvalue() == ""


def test_vocoding_a_long_mel_reports_each_chunk_in_order():
    cfg = PRESETS["hifigan-22k"]
    vocoder = GriffinLim(mel_config=cfg, config=GriffinLimConfig(iterations=2, nnls_iterations=2))
    mel = torch.full((1, cfg.n_mels, 300), -6.0)
    calls = []
    wave = vocoder.synthesize(mel, cfg, chunk_frames=64, progress=lambda done, total: calls.append((done, total)))
    assert wave.shape[-1] == 300 * cfg.hop_length
    assert [done for done, _ in calls] == [64, 128, 192, 256, 300] and {total for _, total in calls} == {300}


def test_pipeline_vocode_logs_progress_off_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)   # a line at every chunk boundary but the last
    cfg = PRESETS["hifigan-22k"]
    vocoder = GriffinLim(mel_config=cfg, config=GriffinLimConfig(iterations=2, nnls_iterations=2))
    mel = torch.full((cfg.n_mels, 40 * cfg.sample_rate // cfg.hop_length), -6.0)   # 40 s of audio
    vocode(vocoder, mel, cfg, source="/data/long.flac", chunk_seconds=10.0)
    lines = [line for line in capsys.readouterr().err.splitlines() if "s of audio" in line]
    assert len(lines) == 3   # 862-frame chunks end near 10, 20, 30 s and at the end (no line there)
    assert lines[0].startswith("melwave: long.flac: 10/40 s of audio (25%)")
    vocode(vocoder, mel, cfg, source="/data/long.flac", chunk_seconds=10.0, progress=False)
    assert "s of audio" not in capsys.readouterr().err


def test_cli_synthesis_of_a_long_mel_shows_progress_unless_told_not_to(tmp_path, monkeypatch, capsys):
    from melwave.audio.melfile import MelFile, save_mel
    from melwave.cli import main

    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)
    cfg = PRESETS["hifigan-22k"]
    save_mel(tmp_path / "long.pt", MelFile(mel=torch.full((cfg.n_mels, 30 * 87), -6.0), config=cfg))
    args = ["synthesize", "-i", str(tmp_path / "long.pt"), "-m", "griffinlim", "--chunk-seconds", "10"]
    assert main(args + ["-o", str(tmp_path / "a.wav")]) == 0
    assert "long.pt: 10/30 s of audio" in capsys.readouterr().err
    assert main(args + ["-o", str(tmp_path / "b.wav"), "--no-progress"]) == 0
    assert "s of audio" not in capsys.readouterr().err


def test_a_terminal_gets_a_bar_in_seconds_of_audio():
    clock, out = FakeClock(), io.StringIO()
    with AudioProgress("talk.flac", 600.0, enabled=True, stream=out, clock=clock, delay=0.0) as report:
        feed(report, clock, chunks=4, seconds_per_chunk=1.0)
        assert report.bar is not None and report.bar.n == 600
    assert report.bar is None and "s of audio" in out.getvalue() and report.lines == 0
