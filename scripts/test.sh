#!/usr/bin/env bash
# Set-up command 2: run the tests (default: the fast suite; pass -m slow for the slow one).
# With no arguments it runs the fast suite, then its float-sensitive part (tests comparing two
# computation paths within rounding tolerances) again under ATEN_CPU_CAPABILITY=default: torch's
# generic kernels round differently from the AVX2/AVX-512 ones, as one CPU's kernels do from
# another's, so a tolerance sized to one machine fails here rather than on someone else's.
# The HTML-report test renders pages in Debian's Chromium; install it when apt can.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
    || echo "test.sh: could not install chromium; the browser test will be skipped" >&2
fi
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest
echo "test.sh: float-sensitive tests again with ATEN_CPU_CAPABILITY=default (generic kernels)" >&2
ATEN_CPU_CAPABILITY=default .venv/bin/python -m pytest -q -m "float_sensitive and not slow"
