"""Vocoder architectures. Importing this package registers every family and named vocoder."""

from melwave.models.vocoders import griffinlim, hifigan  # noqa: F401
from melwave.models.vocoders import melgan  # noqa: F401
from melwave.models.vocoders import vocos  # noqa: F401
from melwave.models.vocoders import gomin  # noqa: F401
from melwave.models.vocoders import diffwave  # noqa: F401
from melwave.models.vocoders import shipped  # noqa: F401  (after the families it loads)
