"""`melwave evaluate vocoder | generator` end to end on tiny generated data."""

import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from testsignals import speechlike
from melwave.audio.config import PRESETS
from melwave.audio.features import mel_spectrogram
from melwave.audio.melfile import MelFile, save_mel
from melwave.cli import main
from melwave.evaluation.classifier_adapter import spec_from_model
from melwave.evaluation.generators import evaluate_generator, scan_set
from melwave.models.vocabulary import Condition, Vocabulary

HAS_AISFX = importlib.util.find_spec("aisfx") is not None


@pytest.fixture(scope="module")
def vocoder_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocoder-eval")
    data = root / "clips"
    (data / "sub").mkdir(parents=True)
    sf.write(data / "a.wav", speechlike(0.8, 22050), 22050)
    sf.write(data / "sub" / "b.flac", speechlike(0.7, 16000, f0=190.0, seed=2), 16000)   # another rate and format
    sf.write(data / "sub" / "tiny.wav", speechlike(0.1, 22050, seed=3), 22050)            # too short for PESQ/STOI
    out = root / "report"
    code = main(["evaluate", "vocoder", "-m", "griffinlim", "--data", str(data), "--out", str(out), "--no-progress"])
    return code, data, out


def test_vocoder_cli_writes_table_files_and_report(vocoder_run, capsys):
    code, data, out = vocoder_run
    assert code == 0
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["griffinlim"] and rows[0]["clips"] == "3"
    for metric in ("pesq", "stoi", "mcd", "mr_stft", "mel_l1", "f0_rmse_cents", "vuv_f1", "periodicity_rmse", "rtf"):
        assert metric in rows[0]
    assert 1.0 <= float(rows[0]["pesq"]) <= 4.7 and 0 < float(rows[0]["stoi"]) <= 1 and float(rows[0]["rtf"]) > 0
    with open(out / "clips.csv") as handle:
        clips = {r["clip"]: r for r in csv.DictReader(handle)}
    assert set(clips) == {"a.wav", "sub/b.flac", "sub/tiny.wav"}
    assert clips["sub/tiny.wav"]["pesq"] == "nan" and "shorter" in clips["sub/tiny.wav"]["notes"]
    results = json.loads((out / "results.json").read_text())  # strict JSON: NaN written as null
    assert results["summary"][0]["model"] == "griffinlim"
    tiny = [c for c in results["clips"] if c["clip"] == "sub/tiny.wav"][0]
    assert tiny["values"]["pesq"] is None and "pesq" in tiny["notes"]
    html = (out / "index.html").read_text()
    assert html.count("<audio") == 6  # 3 references + 3 outputs
    assert len(list((out / "audio").glob("*.wav"))) == 6 and len(list((out / "images").glob("*.png"))) == 6


def test_vocoder_cli_refuses_to_overwrite_a_report(vocoder_run, capsys):
    _, data, out = vocoder_run
    assert main(["evaluate", "vocoder", "-m", "griffinlim", "--data", str(data), "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_vocoder_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "vocoder", "-m", "griffinlim", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    sf.write(tmp_path / "d" / "x.wav", speechlike(0.5, 22050), 22050)
    assert main(["evaluate", "vocoder", "-m", "no-such-vocoder", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o2")]) == 2
    assert "unknown vocoder" in capsys.readouterr().err


CFG = PRESETS["cwgan-22k-log"]


def note(freq, seconds=0.5, seed=0):
    t = np.arange(int(seconds * CFG.sample_rate)) / CFG.sample_rate
    rng = np.random.default_rng(seed)
    wave = sum(0.3 / k * np.sin(2 * np.pi * k * freq * t + rng.uniform(0, 6)) for k in range(1, 5)) * np.exp(-4 * t)
    return (wave + 0.001 * rng.normal(size=len(t))).astype(np.float32)


PITCHES = {"low": 220.0, "high": 880.0}


@pytest.fixture(scope="module")
def note_sets(tmp_path_factory):
    """real/: audio with labels.csv; fake/: name=value folders of .pt mels + .wav, as `melwave generate` writes."""
    root = tmp_path_factory.mktemp("generator-eval")
    real, fake = root / "real", root / "fake"
    real.mkdir()
    lines = ["path,pitch"]
    for i in range(5):
        name = "low" if i % 2 else "high"
        sf.write(real / f"r{i}.wav", note(PITCHES[name] * (1 + 0.01 * i), seed=i), CFG.sample_rate)
        lines.append(f"r{i}.wav,{name}")
    (real / "labels.csv").write_text("\n".join(lines) + "\n")
    for i in range(4):
        name = "low" if i % 2 else "high"
        folder = fake / f"pitch={name}"
        folder.mkdir(parents=True, exist_ok=True)
        wave = note(PITCHES[name] * (1 - 0.01 * i), seed=20 + i)
        save_mel(folder / f"s{i}.pt", MelFile(mel_spectrogram(wave, CFG), CFG))
        sf.write(folder / f"s{i}.wav", wave, CFG.sample_rate)
    return real, fake


def test_scan_set_pairs_mels_with_audio_and_reads_labels(note_sets):
    real, fake = note_sets
    fake_items = scan_set(fake)
    assert len(fake_items) == 4 and all(i.mel_file and i.audio for i in fake_items)
    assert {i.labels["pitch"] for i in fake_items} == {"low", "high"}
    assert {i.labels["pitch"] for i in scan_set(real)} == {"low", "high"}


def test_generator_cli(note_sets, tmp_path, capsys):
    real, fake = note_sets
    out = tmp_path / "gen-report"
    embedding = "aisfx" if HAS_AISFX else "none"
    code = main(["evaluate", "generator", "--real", str(real), "--fake", str(fake), "--out", str(out), "--no-progress",
                 "--embedding", embedding, "--cache", str(tmp_path / "cache")])
    assert code == 0
    with open(out / "summary.csv") as handle:
        scores = {r["metric"]: r for r in csv.DictReader(handle)}
    for name in ("FID[mel-image]", "KID[mel-image]", "FID[raw-mel]", "NDB[raw-mel]"):
        assert float(scores[name]["value"]) == float(scores[name]["value"])  # not NaN
    assert float(scores["FID[mel-image]"]["value"]) > 0
    if HAS_AISFX:
        assert float(scores["FAD[aisfx]"]["value"]) > 0 and "FAD∞[aisfx]" in scores  # two different sets
        assert "5 clips" in scores["FAD[aisfx]"]["note"] and "4 clips" in scores["FAD[aisfx]"]["note"]
    printed = capsys.readouterr().out
    assert "FID[mel-image]" in printed
    html = (out / "index.html").read_text()
    assert "pitch = low" in html and "pitch = high" in html and "<audio" in html


class BandClassifier(nn.Module):
    """A fixed, tiny classifier: 'high' when the mel's energy sits in the upper mel bands."""

    def __init__(self):
        super().__init__()
        self.vocabulary = Vocabulary((Condition("pitch", ("low", "high")),))
        self.mel_config = CFG
        self.frames = 32
        self.split = nn.Parameter(torch.tensor(0.0), requires_grad=False)

    def forward(self, mels):
        peak = mels.mean(dim=-1).argmax(dim=-1).float()  # loudest band (N,)
        # 220 Hz peaks near band 10 of 128 HTK bands up to 11 kHz, 880 Hz near band 33.
        logit = (peak - 20.0 + self.split) * 2
        return {"pitch": torch.stack([-logit, logit], dim=-1)}

    def predict(self, mels):
        return {name: logits.softmax(dim=-1) for name, logits in self(mels).items()}


def test_condition_accuracy_through_the_classifier_adapter(note_sets, tmp_path):
    real, fake = note_sets
    spec = spec_from_model(BandClassifier())
    result = evaluate_generator(real, fake, classifier=spec, progress=False, image_fid=False)
    (score,) = result.conditions
    assert score.condition == "pitch" and score.items == 4
    assert score.accuracy == 1.0 and score.per_value == {"low": 1.0, "high": 1.0}
    assert result.scores["accuracy[pitch]"] == 1.0 and result.scores["IS[pitch]"] > 1.5
    assert "FID[mel-image]" not in result.scores and result.scores["FID[raw-mel]"] > 0
    # The ceiling: the classifier on the real items (it hears their pitch too).
    assert result.scores["ceiling[pitch]"] == 1.0
    # Novelty against the real set; the generated set evaluated against itself is all near-copies.
    assert 0.0 <= result.scores["near-copies"] <= 1.0
    copies = evaluate_generator(fake, fake, classifier=spec, progress=False, image_fid=False, train_dir=fake)
    assert copies.scores["near-copies"] == 1.0 and copies.scores["NN-distance ratio"] < 1e-3
    # Mislabel the generated folder: the classifier now disagrees with every request.
    swapped = tmp_path / "swapped"
    for item in scan_set(fake):
        wrong = "low" if item.labels["pitch"] == "high" else "high"
        target = swapped / f"pitch={wrong}"
        target.mkdir(parents=True, exist_ok=True)
        for path in (item.mel_file, item.audio):
            (target / path.name).write_bytes(path.read_bytes())
    assert evaluate_generator(real, swapped, classifier=spec, progress=False, image_fid=False).scores["accuracy[pitch]"] == 0.0


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium(args, tmp_path):
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=10000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium); the report is not rendered")
def test_report_renders_in_headless_chromium(vocoder_run, tmp_path):
    _, _, out = vocoder_run
    url = (out / "index.html").resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table class=\"summary\"" in dom.stdout and "griffinlim" in dom.stdout
    # The page's own check, run by the browser after loading: every image decoded, every player found its audio.
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    counts = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body))
    assert counts["images-total"] == "6" and counts["images-ok"] == "6"
    assert counts["audio-total"] == "6" and counts["audio-ok"] == "6"
    shot = tmp_path / "report.png"
    result = _chromium([f"--screenshot={shot}", "--window-size=1200,900", url], tmp_path)
    assert result.returncode == 0 and shot.is_file()
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[:2] == (900, 1200)
    assert image.reshape(-1, 3).std(axis=0).max() > 20  # not a blank page


def test_generator_cli_with_a_trained_melwave_classifier(note_sets, tmp_path, capsys):
    """`--classifier FILE` with melwave's own MelClassifier, trained here for a few steps on the real notes."""
    from melwave.audio.features import mel_spectrogram as mel_of
    from melwave.evaluation.generators import fit_frames
    from melwave.models.classifier import ClassifierConfig, MelClassifier
    from melwave.models.io.model_file import save_model

    real, fake = note_sets
    torch.manual_seed(0)
    model = MelClassifier(ClassifierConfig(conditions=({"name": "pitch", "values": ["low", "high"]},), frames=16,
                                           channels=(4, 8), dropout=0.0), CFG)
    items = scan_set(real)
    mels = torch.stack([fit_frames(mel_of(sf.read(i.audio, dtype="float32")[0], CFG), 16, CFG) for i in items])
    model.set_statistics(mels.mean(dim=(0, 2)), mels.std(dim=(0, 2)).clamp(min=1e-2))
    labels = torch.tensor([["low", "high"].index(i.labels["pitch"]) for i in items])
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(mels)["pitch"], labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    path = save_model(model.eval(), tmp_path / "classifier.safetensors")
    out = tmp_path / "with-classifier"
    code = main(["evaluate", "generator", "--real", str(real), "--fake", str(fake), "--classifier", str(path), "--out", str(out),
                 "--no-progress", "--embedding", "none", "--no-image-fid", "--train-set", str(fake)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    # The ceiling (the classifier on the real notes) and novelty against the given training set
    # (here the generated set itself: every item is a copy of one).
    printed = capsys.readouterr().out
    assert "ceiling[pitch]" in printed and "near-copies" in printed
    assert results["scores"]["near-copies"] == 1.0
    (pitch,) = results["conditions"]
    assert pitch["condition"] == "pitch" and pitch["items"] == 4 and set(pitch["per_value"]) == {"low", "high"}
    # The notes are easy to tell apart: the trained classifier gets the generated ones right.
    assert pitch["accuracy"] >= 0.75 and 1.0 <= pitch["inception_score"] <= 2.0
    assert "accuracy[pitch] per requested value" in printed
    assert "Classifier accuracy on generated items" in (out / "index.html").read_text()
