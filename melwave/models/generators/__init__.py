"""Mel generators. Importing this package registers the `cwgan` family (deep and strips)."""

from melwave.models.generators import cwgan  # noqa: F401
