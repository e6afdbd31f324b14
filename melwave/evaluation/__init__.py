"""The evaluation workflows behind `melwave evaluate`: vocoders (reference vs output metrics over a
folder of clips, per model), generators (FID/KID/NDB, FAD, pitch, classifier accuracy and its
ceiling, novelty) and the HTML listening report. The metric functions they combine are pure and
live in `melwave.metrics`."""
