"""Start-up cost: `import torch` alone vs `import torch, melwave; melwave.load_vocoder(NAME)`, and
`melwave --help`, each in fresh interpreters (nothing cached in-process), interleaved, median of
`--repeats` runs.

    python benchmarks/startup.py [--repeats 7] [--vocoders griffinlim hifigan-universal vocos-22k] [--strict]

Prints, per vocoder, the seconds melwave adds on top of `import torch` and that as a ratio to
`import torch` measured in the same run (the machine's load moves both alike). Target (issue 12,
section 4): griffinlim adds <= 0.5 s; `melwave --help` answers in well under a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

TORCH = "import torch"
TIMED = ("import time; t0 = time.perf_counter(); {code}; print(time.perf_counter() - t0)")


def run_timed(code: str) -> float:
    """Seconds `code` takes inside a fresh interpreter (interpreter start-up excluded)."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    result = subprocess.run([sys.executable, "-c", TIMED.format(code=code)], capture_output=True, text=True, env=env, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def run_wall(argv: list[str]) -> float:
    """Wall seconds of a whole command, interpreter start-up included (what a user waits)."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--vocoders", nargs="+", default=["griffinlim", "hifigan-universal", "vocos-22k"])
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()

    cases = {"torch": TORCH}
    cases.update({name: f"import torch, melwave; melwave.load_vocoder({name!r})" for name in args.vocoders})
    times: dict[str, list[float]] = {key: [] for key in cases}
    help_times, bare_python = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit every case alike
        for key, code in cases.items():
            times[key].append(run_timed(code))
        help_times.append(run_wall([sys.executable, "-m", "melwave", "--help"]))
        bare_python.append(run_wall([sys.executable, "-c", "pass"]))
    torch_s = statistics.median(times["torch"])
    print(f"import torch: {torch_s:.2f} s (median of {args.repeats} fresh interpreters)")
    print(f"{'case':40s} {'total':>8s} {'extra':>8s} {'extra / import torch':>22s}")
    ok = True
    for name in args.vocoders:
        total = statistics.median(times[name])
        extra = total - torch_s
        print(f"{'import melwave; load_vocoder(' + repr(name) + ')':40s} {total:7.2f}s {extra:7.2f}s {extra / torch_s:21.2f}x")
        if name == "griffinlim":
            ok &= extra <= 0.5
    help_s, python_s = statistics.median(help_times), statistics.median(bare_python)
    print(f"melwave --help (python -m melwave): {help_s:.2f} s wall, {help_s - python_s:.2f} s over a bare `python -c pass` "
          f"({help_s / torch_s:.2f}x import torch)")
    ok &= help_s < 1.0
    print("targets (griffinlim extra <= 0.5 s, --help < 1 s):", "met" if ok else "MISSED")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
