"""bfloat16 versions of the elementwise ufuncs.

A bfloat16 ufunc runs its float32 ufunc's own loop on blocks widened to
float32 in L1 and rounds each result once to bfloat16 (cpu/ufunc.pyx,
cpu/src/bf16.h): the result is bit for bit the float32 result cast to
bfloat16, with a third of the memory traffic of casting whole arrays.
ml_dtypes, which defines the dtype, is optional: the caller passes the dtype
it found on the array.
"""

from __future__ import annotations

import threading

import numpy as np

from fastact.cpu.ufunc import make_bf16_ufunc

_cache: dict[np.ufunc, np.ufunc] = {}
_lock = threading.Lock()


def ufunc_for(uf: np.ufunc, dtype: np.dtype, n_arrays: int) -> np.ufunc:
    """The bfloat16 ufunc of `uf` (made by cpu.activations): its first
    `n_arrays` inputs and its output have `dtype`, its parameters are float64."""
    b = _cache.get(uf)
    if b is None:
        with _lock:
            b = _cache.get(uf)
            if b is None:
                b = _cache[uf] = make_bf16_ufunc(uf, dtype.num, n_arrays)
    return b
