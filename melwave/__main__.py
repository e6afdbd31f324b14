"""`python -m melwave ...`: the same as the `melwave` command (so `torchrun -m melwave train ...` works)."""

import sys

from melwave.cli import main

if __name__ == "__main__":
    sys.exit(main())
