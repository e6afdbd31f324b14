"""melwave's error types. Everything a user can cause raises one of these, with a message
that names the file or field and what was expected; the CLI prints it as one line."""

from __future__ import annotations

from typing import Any


class MelwaveError(Exception):
    """Base of every error melwave raises on purpose."""


class ConfigError(MelwaveError, ValueError):
    """A config (YAML, dict, CLI override) is malformed or has unknown/invalid fields."""


class AudioError(MelwaveError):
    """An audio file is missing, empty, corrupt or not audio."""


class AudioTooShortError(AudioError, ValueError):
    """A waveform is shorter than the mel configuration needs for one frame. Also a ValueError,
    which is what the extractor raised before this type existed."""


class MelFileError(MelwaveError):
    """A saved mel is unreadable, from an unsupported format version, or has bad values."""


class CheckpointError(MelwaveError):
    """A model/checkpoint file is missing, unsafe, or does not match the architecture."""


class UnsafeFileError(CheckpointError):
    """A file would need code execution (full unpickling) to load."""


class UnsafeMelFileError(MelFileError, UnsafeFileError):
    """A mel file that would need code execution to load (a MelFileError and an UnsafeFileError)."""


class OutputExistsError(MelwaveError):
    """Refusing to overwrite an existing output without --overwrite."""


class OutputError(MelwaveError):
    """An output file could not be written (a read-only folder, a full disk); nothing was left."""


class MelConfigMismatch(MelwaveError):
    """A mel made with one MelConfig met a model that expects another."""

    def __init__(self, differences: dict[str, tuple[Any, Any]], *, what: str = "mel", expected_by: str = "model",
                 hint: str | None = None):
        self.differences = differences
        parts = ", ".join(f"{k}: {a!r} (expected {b!r})" for k, (a, b) in differences.items())
        # The hint says what fixes it where the caller knows (a flag, an argument to leave out).
        super().__init__(f"{what} was made with a different mel configuration than the {expected_by} expects: {parts}"
                         + (f"; {hint}" if hint else ""))
