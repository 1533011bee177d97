"""What every benchmark shares: the array sizes, the row length of the axis
functions, and the input data."""

from __future__ import annotations

import numpy as np

SIZES = {"1K": 1 << 10, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}
# fastact bench's default: elementwise functions at QUICK_SIZES, axis
# functions at QUICK_AXIS_SIZES (64K: 64 rows of ROW), float32, forward
QUICK_SIZES = "1M"
QUICK_AXIS_SIZES = "64K"
FULL_SIZES = "64K,1M,16M"  # fastact bench --full, and the pytest suite's default
DTYPES = ("float32", "float64")
ROW = 1024  # axis functions run over rows of this length
AXIS0_SIZE = "16M"  # softmax is also timed down the columns of (ROW, this / ROW)


def sample(size: str, dtype, seed: int = 0) -> np.ndarray:
    """Inputs of `size` (a key of SIZES) spread over the interesting range of
    every activation: standard normal times 3."""
    return (np.random.default_rng(seed).standard_normal(SIZES[size]) * 3).astype(dtype)
