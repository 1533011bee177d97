"""bfloat16 versions of the elementwise ufuncs, and fast casts to and from it.

A bfloat16 ufunc runs its float32 ufunc's own loop on blocks widened to
float32 in L1 and rounds each result once to bfloat16 (cpu/ufunc.pyx,
cpu/src/bf16.h): the result is bit for bit the float32 result cast to
bfloat16, with a third of the memory traffic of casting whole arrays.
The kernels over an axis compute in float32 arrays; `contiguous` and
`astype` convert for them,
bit for bit as ml_dtypes' own casts but vectorized and on the thread pool.
ml_dtypes, which defines the dtype, is optional: the caller passes the dtype
it found on the array.
"""

from __future__ import annotations

import threading

import numpy as np

from fastact.cpu import pool
from fastact.cpu.ufunc import make_bf16_casts, make_bf16_ufunc

_F32 = np.dtype(np.float32)
_cache: dict[np.ufunc, np.ufunc] = {}
_casts: dict[np.dtype, tuple[np.ufunc, np.ufunc]] = {}
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


def _cast_ufunc(src: np.dtype, dtype: np.dtype) -> np.ufunc | None:
    """The conversion ufunc from src to dtype, None unless one is bfloat16
    (a user dtype) and the other float32."""
    bf = dtype if src == _F32 else src if dtype == _F32 else None
    if bf is None or bf.num < 256 or getattr(bf.type, "__name__", "") != "bfloat16":
        return None
    casts = _casts.get(bf)
    if casts is None:
        casts = _casts[bf] = make_bf16_casts(bf.num)
    return casts[0] if src == bf else casts[1]


def contiguous(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """np.ascontiguousarray(a, dtype=dtype), on the conversion loops for
    bfloat16 <-> float32."""
    uf = _cast_ufunc(a.dtype, dtype)
    if uf is None:
        return np.ascontiguousarray(a, dtype=dtype)
    out = np.empty(a.shape, dtype)
    pool.call(uf, [a], (), out)
    return out


def astype(a: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """a.astype(dtype) (the same memory order), or a copied into `out` with
    same_kind casting, on the conversion loops for bfloat16 <-> float32."""
    uf = _cast_ufunc(a.dtype, dtype)
    if uf is None:
        if out is None:
            return a.astype(dtype)
        np.copyto(out, a, casting="same_kind")
        return out
    if out is None:
        out = np.empty_like(a, dtype=dtype)
    pool.call(uf, [a], (), out)
    return out
