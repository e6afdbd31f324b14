"""Generated/real sets read their labels.csv with the labelled datasets' own parser."""

import numpy as np
import pytest
import soundfile as sf

from melwave.data.labelled import DatasetError
from melwave.evaluation.generators import scan_set


def _folder(tmp_path, csv_text):
    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", np.zeros(2048, np.float32), 22050)
    (tmp_path / "labels.csv").write_text(csv_text)
    return tmp_path


def test_rows_with_or_without_suffix_label_the_item(tmp_path):
    items = scan_set(_folder(tmp_path, "path,pitch\na.wav,C4\nb,G4\n"))
    assert {i.key.name: i.labels for i in items} == {"a": {"pitch": "C4"}, "b": {"pitch": "G4"}}


@pytest.mark.parametrize("text, message", [
    ("path,pitch\na.wav,C4,extra\n", r"labels\.csv:2: 3 fields, the header has 2"),
    ("path,pitch\na.wav,\n", r"labels\.csv:2: empty field"),
    ("file,pitch\na.wav,C4\n", r"header .* must start with 'path'"),
])
def test_bad_files_are_refused_as_by_the_training_data(tmp_path, text, message):
    with pytest.raises(DatasetError, match=message):
        scan_set(_folder(tmp_path, text))
