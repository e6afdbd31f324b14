"""ONNX: exporting a vocoder to one `.onnx` file (export, with the export-friendly STFT in dsp and
the overlap-save convolutions in spectral_conv) and running such a file in ONNX Runtime (runtime,
which checks the file before ONNX Runtime opens it). Needs the `onnx` extra."""
