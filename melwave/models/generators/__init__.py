"""Mel generators (the `cwgan` family, deep and strips). Nothing is imported here: the registry
(`melwave.models.io.registry`) imports a family's module the first time it is used; the
`mel-classifier` family that measures generated mels is `melwave.models.classifier`; `deepmel`
loads DeepMelSpectrogramGenerator checkpoints into the `cwgan` family."""
