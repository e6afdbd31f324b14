"""Datasets: audio folders cut into training segments, and the resumable sampler the loop uses."""


__all__ = ["AudioSegments", "ResumableBatchSampler", "ValidationClips", "find_audio_files", "split_files"]


# Imported on first use (PEP 562), so `melwave.data.notes` (which the CLI's parser needs) does not import torch.
def __getattr__(name: str):
    if name in __all__:
        from melwave.data import audio_segments

        return getattr(audio_segments, name)
    raise AttributeError(f"module 'melwave.data' has no attribute {name!r}")
