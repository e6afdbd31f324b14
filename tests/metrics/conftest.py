"""Audio made on the spot for the metric tests (no files from outside the repository)."""

from __future__ import annotations

import numpy as np
import pytest
from testsignals import speechlike  # noqa: F401


@pytest.fixture
def speech16() -> np.ndarray:
    return speechlike()
