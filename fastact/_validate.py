"""Argument checking, dtype promotion and `out=` handling for every kernel.

The rules (docs/spec.md): float32 and float64 are computed
natively; float16 and bfloat16 (``ml_dtypes.bfloat16``) are computed in
float32 and returned in their own type; integer and bool input is promoted to
float64; anything else raises TypeError naming the dtype.  Every check runs
before anything is written to `out`.
"""

from __future__ import annotations

import math
import numbers
import operator
import sys

import numpy as np

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def bf16() -> np.dtype | None:
    """ml_dtypes' bfloat16 dtype, or None when ml_dtypes is not imported.

    ml_dtypes is optional and never imported here (it would cost every
    ``import fastact``): an array can only have its dtype once ml_dtypes is
    loaded, so looking in sys.modules finds it whenever it matters.
    """
    mod = sys.modules.get("ml_dtypes")
    t = getattr(mod, "bfloat16", None)
    return None if t is None else np.dtype(t)


def is_bf16(dt: np.dtype) -> bool:
    # a user dtype: its type number is past the builtin ones
    return dt.num >= 256 and dt == bf16()


def float_array(x, fname: str, argname: str = "x") -> tuple[np.ndarray, np.dtype, np.dtype]:
    """(array, result dtype, compute dtype) for a real input; TypeError otherwise."""
    a = x if type(x) is np.ndarray else np.asarray(x)
    dt = a.dtype
    if dt.kind == "f" and not dt.isnative:
        # non-native byte order (e.g. data read from a file) is still a real float array
        dt = dt.newbyteorder("=")
        a = a.astype(dt)
    if dt is F32 or dt is F64 or dt == F32 or dt == F64:
        return a, dt, dt
    if dt == F16 or is_bf16(dt):
        return a, dt, F32
    if dt.kind in "biu":
        return a, F64, F64
    raise TypeError(
        f"fastact.{fname}: {argname} has unsupported dtype {dt}; "
        "expected float16, bfloat16, float32, float64, integer or bool"
    )


def common_dtypes(fname: str, *typed) -> tuple[np.dtype, np.dtype]:
    """Result and compute dtype for several inputs already passed through float_array.

    Each input first takes its own result dtype (integer and bool -> float64,
    as for a single input), then NumPy's promotion joins them: so
    (float32, float64) -> float64, (float16, float16) -> float16 computed in
    float32, and (bool or int, float32) -> float64 -- the gradient of an
    integer input has the dtype its forward result has.  bfloat16 joins as
    ml_dtypes defines: with itself bfloat16, with float16 or float32 float32.
    """
    rdt = np.result_type(*[r for _, r, _ in typed])
    return rdt, (F32 if rdt == F16 or is_bf16(rdt) else rdt)


def same_shape(fname: str, a: np.ndarray, b: np.ndarray, aname: str, bname: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"fastact.{fname}: {aname} has shape {a.shape} but {bname} has shape {b.shape}"
        )


def check_out(out, shape: tuple, dtype: np.dtype, fname: str, argname: str = "out") -> None:
    if type(out) is not np.ndarray and not isinstance(out, np.ndarray):
        raise TypeError(
            f"fastact.{fname}: {argname} must be a numpy.ndarray, got {type(out).__name__}"
        )
    if out.shape != shape:
        raise ValueError(f"fastact.{fname}: {argname} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"fastact.{fname}: {argname} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"fastact.{fname}: {argname} is read-only")


def real_param(value, name: str, fname: str, check: str = "finite") -> float:
    """A scalar parameter as float; `check` is finite | any | positive | nonneg | nonzero."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"fastact.{fname}: {name} must be a real number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float64's range is an infinity to the kernels
        if check != "any":
            raise ValueError(
                f"fastact.{fname}: {name} must be finite, got an integer of "
                f"{len(str(abs(value)))} digits"
            ) from None
        v = math.inf if value > 0 else -math.inf
    if math.isnan(v):
        raise ValueError(f"fastact.{fname}: {name} must not be NaN, got {v}")
    if check != "any" and math.isinf(v):
        raise ValueError(f"fastact.{fname}: {name} must be finite, got {v}")
    if (
        (check == "positive" and not v > 0)
        or (check == "nonneg" and not v >= 0)
        or (check == "nonzero" and v == 0)
    ):
        rule = {"positive": "> 0", "nonneg": ">= 0", "nonzero": "!= 0"}[check]
        raise ValueError(f"fastact.{fname}: {name} must be {rule}, got {v}")
    return v


def normalize_axis(axis, ndim: int, fname: str) -> int:
    """axis as a non-negative int; numpy's AxisError when out of range."""
    try:
        ax = operator.index(axis)
    except TypeError:
        raise TypeError(f"fastact.{fname}: axis must be an integer, got {axis!r}") from None
    if not -ndim <= ax < ndim:
        raise np.exceptions.AxisError(ax, ndim, f"fastact.{fname}")
    return ax % ndim


def axis_of(a: np.ndarray, axis, fname: str) -> int:
    """`axis` of `a` for the functions over an axis; a 0-d array counts as one
    element along axis -1 or 0, as torch treats a 0-d tensor."""
    return normalize_axis(axis, max(a.ndim, 1), fname)


def blocks(shape: tuple, ax: int) -> tuple[int, int, int]:
    """(outer, n, inner): the C-order view of `shape` with axis `ax` in the middle."""
    shape = shape or (1,)
    # math.prod, not np.prod: np.prod first makes an array of the tuple, which
    # would be most of a small call's overhead
    return math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1 :])
