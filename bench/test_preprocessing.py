"""minmax_scale, standardize and normalize against scikit-learn and the NumPy
formula, on the whole array and along each axis of a (size/1024, 1024) array.

    pytest bench/test_preprocessing.py --benchmark-only --sizes 16M --dtypes float32

Each benchmark group is one case (function, layout, size, dtype), so
pytest-benchmark's table puts the three libraries side by side; the ratio
baseline / fastact is the speed-up.  fastact writes into a preallocated
`out`; scikit-learn and NumPy allocate their result, as their users do.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastact
from fastact.bench.config import ROW, sample

# layout -> (fastact axis, how the array is shaped)
LAYOUTS = {"whole": None, "rows": 1, "cols": 0}
FUNCS = ["minmax_scale", "standardize", "normalize"]
LIBRARIES = ["fastact", "sklearn", "numpy"]
ROUNDS = 7


def _array(size, dtype, layout):
    x = sample(size, dtype)
    return x if layout == "whole" else x.reshape(-1, min(ROW, x.size))


def _fastact(func, x, axis):
    f, out = getattr(fastact, func), np.empty_like(x)
    if func == "normalize" and axis is None:
        return lambda: f(x, axis=None, out=out)
    return lambda: f(x, axis=axis, out=out)


def _sklearn(func, x, axis):
    skp = pytest.importorskip(
        "sklearn.preprocessing",
        reason="scikit-learn baseline not installed (pip install '.[bench]')",
    )
    if func == "normalize":
        # scikit-learn's normalize takes 2-D input and names the axis along
        # which each vector lies, as fastact does
        if axis is None:
            x2 = x.reshape(1, -1)
            return lambda: skp.normalize(x2, axis=1)
        return lambda: skp.normalize(x, axis=axis)
    f = skp.minmax_scale if func == "minmax_scale" else skp.scale
    return lambda: f(x, axis=0 if axis is None else axis)


def _numpy(func, x, axis):
    def minmax():
        lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
        return (x - lo) / (hi - lo)

    def standardize():
        return (x - x.mean(axis=axis, keepdims=True)) / x.std(axis=axis, keepdims=True)

    def normalize():
        return x / np.linalg.norm(x, axis=axis, keepdims=True)

    return {"minmax_scale": minmax, "standardize": standardize, "normalize": normalize}[func]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("func", FUNCS)
def test_preprocessing(benchmark, func, layout, library, size, dtype):
    benchmark.group = f"{func} {layout} {size} {dtype}"
    x, axis = _array(size, dtype, layout), LAYOUTS[layout]
    if layout == "whole" and library == "sklearn" and func != "normalize":
        # scikit-learn scales columns: the whole array is one column
        x = x.reshape(-1, 1)
    call = {"fastact": _fastact, "sklearn": _sklearn, "numpy": _numpy}[library](func, x, axis)
    benchmark.extra_info["elements"] = x.size
    benchmark.pedantic(call, rounds=ROUNDS, iterations=1, warmup_rounds=1)
