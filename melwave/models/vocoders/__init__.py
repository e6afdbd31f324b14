"""Vocoder architectures. Nothing is imported here: the registry (`melwave.models.io.registry`)
imports a family's module the first time that family or one of its named vocoders is used."""
