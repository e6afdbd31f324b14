"""Evaluation: Fréchet distances (FID on mel images and raw mels, FAD with pluggable embeddings),
KID, vocoder reference/output metrics, generator metrics and the HTML listening report."""
