"""The generator metrics added for composition: mIS, per-class FID, pYIN pitch accuracy, the
held-out filter and the report's grid, each on inputs whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from melwave.metrics.frechet import MetricError
from melwave.metrics.generator import inception_score, modified_inception_score, per_class_frechet
from melwave.metrics.note_pitch import note_hz, pitch_accuracy


@pytest.mark.float_sensitive
def test_mis_is_one_without_diversity_and_matches_the_closed_form():
    p, q = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.3, 0.6])
    labels = np.array([0, 0, 1, 1])
    same = np.stack([p, p, q, q])
    assert modified_inception_score(same, labels) == pytest.approx(1.0)     # IS would call this set diverse
    assert inception_score(same) > 1.2
    mixed = np.stack([p, q, p, q])
    kl = lambda a, b: float(np.sum(a * np.log(a / b)))                     # noqa: E731
    # Within each class: ordered pairs (p, q) and (q, p); the mean KL is their average.
    assert modified_inception_score(mixed, labels) == pytest.approx(np.exp((kl(p, q) + kl(q, p)) / 2), rel=1e-6)
    rng = np.random.default_rng(0)
    probs, classes = rng.dirichlet(np.ones(4), size=200), rng.integers(4, size=200)
    within = np.mean([np.log(inception_score(probs[classes == c])) for c in range(4)])
    assert modified_inception_score(probs, classes) >= np.exp(within)      # KL is convex in its second argument
    assert np.isnan(modified_inception_score(probs[:3], np.arange(3)))      # no class with two items


@pytest.mark.float_sensitive
def test_per_class_fid_finds_the_shifted_class_only():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 3))
    classes = ["a"] * 20 + ["b"] * 20 + ["c"] * 20
    same = per_class_frechet(real, classes, real.copy(), classes, key=("x",), min_items=5)
    assert set(same.per_class) == {"a", "b", "c"} and same.mean == pytest.approx(0.0, abs=1e-9)
    shifted = real.copy()
    shifted[20:40] += np.array([3.0, 0, 0])
    result = per_class_frechet(real, classes, shifted, classes, key=("x",), min_items=5)
    assert result.per_class["b"] == pytest.approx(9.0, rel=1e-6)           # |Δμ|² with the same covariance
    assert result.per_class["a"] == pytest.approx(0.0, abs=1e-9) and result.sd > 4
    few = per_class_frechet(real, classes, real[:45], classes[:45], key=("x",), min_items=10)
    assert set(few.per_class) == {"a", "b"} and few.skipped == 1           # "c" has 5 generated items
    with pytest.raises(MetricError):
        per_class_frechet(real, classes, real, classes, key=("x",), min_items=1)


def harmonic_note(hz: float, rate: int = 22050, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 6)).astype(np.float32) * 0.2


def test_pitch_accuracy_hits_the_requested_note_and_misses_a_wrong_one():
    rate = 22050
    exact = [harmonic_note(note_hz(n)) for n in ("A3", "C#4", "E5")]
    result = pitch_accuracy(exact, rate, ["A3", "C#4", "E5"])
    assert result.within == 1.0 and result.median_cents < 15 and result.unvoiced == 0
    sharp = harmonic_note(note_hz("A4") * 2 ** (100 / 1200))               # a semitone high, labelled A4
    octave = harmonic_note(note_hz("A4") * 2)                              # an octave error
    wrong = pitch_accuracy([sharp, octave, np.zeros(rate // 2, np.float32)], rate, ["A4", "A4", "A4"])
    assert wrong.within == 0.0 and wrong.unvoiced == 1
    assert 85 < wrong.median_cents < 1215


@pytest.fixture(scope="module")
def note_sets(tmp_path_factory):
    from melwave.data.notes import NotesSpec, build_notes

    root = tmp_path_factory.mktemp("sets")
    spec = NotesSpec(instruments=("piano", "flute"), pitches=("C4", "G4"), velocities=("soft", "loud"), takes=3,
                     duration=0.4, hold=(0.2, 0.3), max_onset=0.01, seed=1)
    build_notes(root / "real", spec, progress=False)
    build_notes(root / "fake", NotesSpec(**{**spec.__dict__, "seed": 2}), progress=False)
    return root


def test_held_out_filter_measures_exactly_those_combinations(note_sets, tmp_path):
    from melwave.evaluation.generators import evaluate_generator
    from melwave.evaluation.report import HtmlReport

    report = HtmlReport(tmp_path / "report", "t")
    evaluation = evaluate_generator(note_sets / "real", note_sets / "fake", image_fid=False, progress=False,
                                    combinations=[{"instrument": "flute", "pitch": "G4"}], min_class_items=3, report=report)
    assert evaluation.real_items == evaluation.fake_items == 6                # 2 velocities × 3 takes of flute G4
    assert set(evaluation.per_class["raw-mel"].per_class) == {"flute/G4"}
    assert evaluation.pitch is not None and evaluation.pitch.within == 1.0    # real renders, other takes
    assert evaluation.scores["NDB/K[raw-mel]"] == evaluation.ndb.ndb / evaluation.ndb.bins
    json = evaluation.to_json()
    assert json["combinations"] == [{"instrument": "flute", "pitch": "G4"}] and json["pitch"]["items"] == 6
    assert "FID[raw-mel] per instrument×pitch mean" in evaluation.format_table()
    report.write()
    assert report.pictures and (tmp_path / "report" / report.pictures[0][1]).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(Exception, match="none of its 24 items"):
        evaluate_generator(note_sets / "real", note_sets / "fake", image_fid=False, progress=False,
                           combinations=[{"instrument": "violin", "pitch": "G4"}])


@pytest.mark.float_sensitive
def test_vocoded_fad_and_pitch_hear_the_same_vocoder(note_sets):
    from melwave.evaluation.generators import DEFAULT_MEL_CONFIG, evaluate_generator
    from melwave.models.io.load import load_vocoder

    class MeanEmbedding:   # a fixed 2-d "embedding" per 0.1 s frame: FAD of two renders is small, not NaN
        name, sample_rate, dim = "toy", 16000, 2

        def embed(self, wave):
            frames = np.asarray(wave[: len(wave) // 1600 * 1600]).reshape(-1, 1600)
            return np.stack([np.sqrt((frames ** 2).mean(1)), np.abs(np.diff(np.sign(frames), axis=1)).mean(1)], 1)

    vocoder = load_vocoder("griffinlim", mel_config=DEFAULT_MEL_CONFIG)
    evaluation = evaluate_generator(note_sets / "real", note_sets / "fake", image_fid=False, progress=False,
                                    combinations=[{"instrument": "flute"}], vocoder=vocoder, embedding=MeanEmbedding())
    fad = evaluation.scores["FAD[toy via griffinlim]"]
    same = evaluate_generator(note_sets / "real", note_sets / "real", image_fid=False, progress=False,
                              combinations=[{"instrument": "flute"}], vocoder=vocoder, embedding=MeanEmbedding())
    # The same set against itself is ~0; the generated set is measurably further.
    assert abs(same.scores["FAD[toy via griffinlim]"]) < 1e-6 < fad
    assert evaluation.pitch.within >= 0.9                                    # Griffin-Lim keeps the pitch
