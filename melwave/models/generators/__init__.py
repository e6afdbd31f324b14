"""Mel generators. Importing this package registers the `cwgan` family (deep and strips) and the
`mel-classifier` family that measures whether generated mels follow their conditions."""

from melwave.models import classifier  # noqa: F401
from melwave.models.generators import cwgan  # noqa: F401
