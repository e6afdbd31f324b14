"""Audio segments: any format/rate in, deterministic split, bad files skipped, resumable sharded sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from melwave.data.audio_segments import AudioSegments, ResumableBatchSampler, ValidationClips, find_audio_files, split_files
from melwave.errors import AudioError


def test_folder_is_read_recursively_resampled_and_bad_files_skipped(audio_dir, caplog):
    files = find_audio_files(audio_dir)
    assert {p.name for p in files} == {"a.wav", "b.flac", "c.ogg", "d.wav", "broken.wav"}
    dataset = AudioSegments(files, 22050, 2048)
    assert {p.name for p in dataset.files} == {p.name for p in files} - {"broken.wav"}
    assert len(dataset.problems) == 1 and "broken.wav" in dataset.problems[0]
    assert "broken.wav" in caplog.text
    assert abs(dataset.total_seconds - 4.0) < 0.01          # four 1 s files, all at 22.05 kHz now
    item = dataset[(3, 12345)]
    assert item.shape == (2048,) and item.dtype == torch.float32
    assert torch.equal(item, dataset[(3, 12345)])            # the crop is a function of the key
    assert not torch.equal(item, dataset[(3, 54321)])


def test_split_is_deterministic_and_stable_under_additions(audio_dir):
    files = find_audio_files(audio_dir)
    train, val = split_files(files, audio_dir, 2, seed=0)
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(files)
    assert split_files(list(reversed(files)), audio_dir, 2, seed=0) == (train, val)
    (audio_dir / "new.wav").write_bytes((audio_dir / "a.wav").read_bytes())
    train2, val2 = split_files(find_audio_files(audio_dir), audio_dir, 2, seed=0)
    assert set(val2) <= set(val) | {audio_dir / "new.wav"}   # no old file moved into validation
    assert split_files(files[:1], audio_dir, 4, seed=0) == (files[:1], [])  # one file always trains


def test_validation_clips_are_whole_hops(audio_dir):
    clips = ValidationClips([audio_dir / "a.wav"], 22050, 0.3, 256, 512)
    assert len(clips) == 1 and clips[0].shape[0] % 256 == 0 and clips[0].shape[0] <= int(0.3 * 22050)


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AudioError, match="no audio files"):
        find_audio_files(tmp_path)


def _take(sampler, n):
    it = iter(sampler)
    return [next(it) for _ in range(n)]


def test_sampler_resumes_exactly_and_shards_disjointly():
    full = _take(ResumableBatchSampler(10, 3, seed=5, keyed=True), 8)
    resumed = _take(ResumableBatchSampler(10, 3, seed=5, keyed=True, start_batch=5), 3)
    assert resumed == full[5:]
    # An epoch of one rank covers its share without repeats; ranks are disjoint.
    r0 = [i for b in _take(ResumableBatchSampler(10, 5, seed=1, rank=0, world_size=2), 1) for i in b]
    r1 = [i for b in _take(ResumableBatchSampler(10, 5, seed=1, rank=1, world_size=2), 1) for i in b]
    assert len(set(r0)) == 5 and len(set(r1)) == 5 and not set(r0) & set(r1)
    # Later epochs are reshuffled.
    stream = [i for b in _take(ResumableBatchSampler(10, 10, seed=1), 3) for i in b]
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]
