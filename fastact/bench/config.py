"""What every benchmark shares: the array sizes, the row length of the axis
functions, the input data, and the OpenMP wait policy."""

from __future__ import annotations

import os
import sys

import numpy as np

SIZES = {"1K": 1 << 10, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}
QUICK_SIZES = "1K,1M"  # fastact bench's default
FULL_SIZES = "1K,64K,16M"  # fastact bench --full, and the pytest suite's default
DTYPES = ("float32", "float64")
ROW = 1024  # axis functions run over rows of this length


def sample(size: str, dtype, seed: int = 0) -> np.ndarray:
    """Inputs of `size` (a key of SIZES) spread over the interesting range of
    every activation: standard normal times 3."""
    return (np.random.default_rng(seed).standard_normal(SIZES[size]) * 3).astype(dtype)


# Every library's OpenMP threads (torch's bundled libgomp, and the one
# fastact's Cython kernels use) by default spin for a while after each
# parallel region.  When libraries take turns, those spinning threads hold
# the cores the next library is being timed on and slow it down, while a
# library timed alone runs as fast with passive waiting.  So benchmarks run
# with OMP_WAIT_POLICY=PASSIVE unless the caller set a policy.
WAIT = "OMP_WAIT_POLICY"


def wait_policy() -> str:
    """The policy this process runs under, for captions ("unset" if none)."""
    return os.environ.get(WAIT, "unset")


def require_passive_waits() -> None:
    """Re-execute this process with OMP_WAIT_POLICY=PASSIVE unless a policy is
    set (then return at once).

    libgomp reads the policy once, when it is loaded, and importing fastact
    has already loaded it: hence a new process, before anything is timed.
    It repeats the interpreter's own command line (``sys.orig_argv``), so the
    new process imports fastact from where this one did (``python -m`` would
    put the working directory first on the path, and in a source checkout
    that is the unbuilt package)."""
    if WAIT in os.environ:
        return
    os.environ[WAIT] = "PASSIVE"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
