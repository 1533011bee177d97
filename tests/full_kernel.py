"""The registry's full kernels in a plain numba loop.

The reference the ufunc loops are compared with where a loop may run an
entry's fast kernel (contiguous calls, and the blocks of strided ones): the
fast kernel must give the full kernel's bits wherever it runs.  The loop is
numba's, compiled like the ufunc loops (no fast-math, errors as NumPy's),
so it differs from theirs only in not choosing a kernel.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import njit

from fastact.core.registry import REGISTRY
from fastact.core.typed import retype


@njit(error_model="numpy")
def _one(kernel, x, out, params):
    for i in range(x.size):
        out[i] = kernel(x[i], *params)


@njit(error_model="numpy")
def _two(kernel, g, x, out, params):
    for i in range(x.size):
        out[i] = kernel(g[i], x[i], *params)


@cache
def _kernel(name: str, which: str, dtype: str):
    return retype(REGISTRY[name].kernel(which), dtype)


def full(name: str, which: str, arrays, params=()) -> np.ndarray:
    """The full kernel of entry `name` ('forward', 'backward' or 'backward_y')
    on 1-D arrays of one float dtype, parameters rounded to it."""
    dt = arrays[-1].dtype
    k = _kernel(name, which, dt.name)
    out = np.empty(arrays[-1].size, dt)
    p = tuple(dt.type(v) for v in params)
    (_one if len(arrays) == 1 else _two)(k, *[np.ascontiguousarray(a) for a in arrays], out, p)
    return out
