"""Datasets: audio folders cut into training segments, and the resumable sampler the loop uses."""

from melwave.data.audio_segments import AudioSegments, ResumableBatchSampler, ValidationClips, find_audio_files, split_files

__all__ = ["AudioSegments", "ResumableBatchSampler", "ValidationClips", "find_audio_files", "split_files"]
