"""Metric functions, pure and small: Fréchet distances (FID on mel images and raw mels, FAD with
pluggable embeddings), KID, speech and spectral metrics, pitch, NDB and condition scores, novelty.
The workflows that run them over folders and write reports are `melwave.evaluation`."""
