"""softmax, log_softmax and softmin along an axis, with their backward passes.

The Python side only validates and arranges memory: a C-contiguous array is
viewed as (outer, n, inner) around the working axis, so the Cython loops in
``cpu/axis.pyx`` (row math in ``cpu/src/rows.h``) handle any axis without a
transposed copy and run over rows or column blocks on fastact's thread pool.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fastact import _validate
from fastact._dispatch import array_function
from fastact.cpu import axis as kernels
from fastact.cpu import bf16
from fastact.cpu.threads import threads_for
from fastact.cpu.ufunc import streams as streamed

# What the row kernels compute for each function of the family, on the CPU
# (cpu/axis.pyx) and on the GPU (backends/cuda) alike: (negate x, mode).  A
# new member that is one of these rows needs only its entry here, its public
# pair below and its test and benchmark rows.
ROWS = {
    "softmax": (False, kernels.SOFTMAX),
    "log_softmax": (False, kernels.LOG_SOFTMAX),
    "softmin": (True, kernels.SOFTMAX),
}

_BWD_ROWS = {name + "_backward": rows for name, rows in ROWS.items()}

__all__ = [
    "softmax",
    "log_softmax",
    "softmin",
    "softmax_backward",
    "log_softmax_backward",
    "softmin_backward",
]


def _run(
    kernel, arrays: list, shape: tuple, ax: int, rdt, cdt, out, extra: tuple, streams: bool = False
):
    """kernel(*arrays as (outer, n, inner), dst, *extra, nthreads[, stream]), result
    delivered (`streams`: the kernel takes the stream flag).

    C-contiguous inputs are used in place whatever the axis; anything else is
    copied once to C order (the kernels read columns, never a transpose)."""
    blk = _validate.blocks(shape, ax)
    ins = [bf16.contiguous(a, cdt).reshape(blk) for a in arrays]
    dst = None
    if out is not None and rdt == cdt and out.flags.c_contiguous:
        dst = out.reshape(blk)
        if any(np.may_share_memory(dst, i) and dst.ctypes.data != i.ctypes.data for i in ins):
            # the loops are safe when out is an input, not for a partial overlap
            ins = [i.copy() for i in ins]
    if dst is not None:
        work = dst
    elif _validate.is_bf16(arrays[0].dtype):
        # the first input was widened into a new float32 array: the kernels
        # may write over their first input, which saves the result's
        # allocation and a pass over memory
        work = ins[0]
    else:
        work = np.empty(blk, cdt)
    if work.size:
        nt = _threads(blk, work.itemsize)
        if streams:
            # each thread's share of a large result is streamed out, as the
            # elementwise loops do
            kernel(*ins, work, *extra, nt, streamed(work.nbytes // nt))
        else:
            kernel(*ins, work, *extra, nt)
    if dst is not None:
        return out
    res = work.reshape(shape)
    if out is None:
        return res if rdt == cdt else bf16.astype(res, rdt)
    return bf16.astype(res, rdt, out)


def _threads(blk: tuple, itemsize: int) -> int:
    return threads_for(blk[0] * blk[1], kernels.tasks(*blk, itemsize), openmp=True)


def _forward(x, axis, out, fname: str):
    if type(axis) is int and type(x) is np.ndarray and (axis == -1 or axis == x.ndim - 1):
        # the common call, checked and run in C (None: not that call)
        work = kernels.forward_last(x, out, *ROWS[fname])
        if work is not None:
            return work
    a, rdt, cdt = _validate.float_array(x, fname)
    ax = _validate.axis_of(a, axis, fname)
    if out is not None:
        _validate.check_out(out, a.shape, rdt, fname)
    return _run(kernels.forward, [a], a.shape, ax, rdt, cdt, out, ROWS[fname], streams=True)


def _backward(grad_output, y, axis, out, fname: str):
    if type(axis) is int and type(y) is np.ndarray and (axis == -1 or axis == y.ndim - 1):
        # the common call, checked and run in C (None: not that call)
        work = kernels.backward_last(grad_output, y, out, *_BWD_ROWS[fname])
        if work is not None:
            return work
    gt = _validate.float_array(grad_output, fname, "grad_output")
    yt = _validate.float_array(y, fname, "y")
    _validate.same_shape(fname, gt[0], yt[0], "grad_output", "y")
    rdt, cdt = _validate.common_dtypes(fname, gt, yt)
    ax = _validate.axis_of(yt[0], axis, fname)
    if out is not None:
        _validate.check_out(out, yt[0].shape, rdt, fname)
    extra = ROWS[fname.removesuffix("_backward")]
    return _run(
        kernels.backward, [gt[0], yt[0]], yt[0].shape, ax, rdt, cdt, out, extra, streams=True
    )


@array_function("axis")
def softmax(x: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Softmax along `axis`: ``exp(x - max) / sum(exp(x - max))``.

    The row maximum is subtracted first, so no input overflows.  A slice of
    all ``-inf`` gives NaN (as torch), ``+inf`` anywhere gives NaN, ``-inf``
    entries give 0, and NaN spreads to its whole slice.

    Parameters
    ----------
    x : array_like
        Input of any shape (0-d counts as one element).  float16 and
        bfloat16 are computed in float32 and returned in their own type;
        integer and bool input is promoted to float64.
    axis : int, default -1
        The axis to normalize over.
    out : ndarray, optional
        Output array with ``x``'s shape and the result dtype; may be ``x``.

    Returns
    -------
    ndarray
        Non-negative values summing to 1 along `axis`.

    See Also
    --------
    softmax_backward, log_softmax, softmin

    Examples
    --------
    >>> import fastact
    >>> fastact.softmax([1.0, 2.0, 3.0])
    array([0.09003057, 0.24472847, 0.66524096])
    >>> fastact.softmax([[0.0, 0.0], [1000.0, 0.0]], axis=1)
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    return _forward(x, axis, out, "softmax")


@array_function("axis")
def softmin(x: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Softmin along `axis`: ``softmax(-x)``, without materializing ``-x``.

    Parameters
    ----------
    x : array_like
        Input of any shape; dtype rules as :func:`softmax`.
    axis : int, default -1
        The axis to normalize over.
    out : ndarray, optional
        Output array with ``x``'s shape and the result dtype; may be ``x``.

    Returns
    -------
    ndarray
        Non-negative values summing to 1 along `axis`, largest where x is smallest.

    Examples
    --------
    >>> import fastact
    >>> fastact.softmin([1.0, 2.0, 3.0])
    array([0.66524096, 0.24472847, 0.09003057])
    """
    return _forward(x, axis, out, "softmin")


@array_function("axis")
def log_softmax(x: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Log-softmax along `axis`: ``x - max - log(sum(exp(x - max)))``.

    Computed directly, never as ``log(softmax(x))``, so tiny probabilities keep
    their digits (``log_softmax([0, -1000])[1]`` is -1000, not -inf).

    Parameters
    ----------
    x : array_like
        Input of any shape; dtype rules as :func:`softmax`.
    axis : int, default -1
        The axis to normalize over.
    out : ndarray, optional
        Output array with ``x``'s shape and the result dtype; may be ``x``.

    Returns
    -------
    ndarray
        Log-probabilities along `axis`.

    Examples
    --------
    >>> import fastact
    >>> fastact.log_softmax([0.0, -1000.0])
    array([    0., -1000.])
    """
    return _forward(x, axis, out, "log_softmax")


@array_function("axis_backward", ("grad_output", "y"))
def softmax_backward(
    grad_output: ArrayLike, y: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
    return _backward(grad_output, y, axis, out, "softmax_backward")


@array_function("axis_backward", ("grad_output", "y"))
def softmin_backward(
    grad_output: ArrayLike, y: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
    return _backward(grad_output, y, axis, out, "softmin_backward")


@array_function("axis_backward", ("grad_output", "y"))
def log_softmax_backward(
    grad_output: ArrayLike, y: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
    return _backward(grad_output, y, axis, out, "log_softmax_backward")


_BACKWARD_DOC = """Gradient of :func:`{name}` from its output y: ``{formula}``.

Parameters
----------
grad_output : array_like
    Gradient with respect to the {name} output, same shape as `y`.
y : array_like
    The forward output ``{name}(x, axis)``.
axis : int, default -1
    The axis the forward normalized over.
out : ndarray, optional
    Output array with `y`'s shape and the result dtype; may be `grad_output` or `y`.

Returns
-------
ndarray
    The gradient with respect to x.

Examples
--------
>>> import fastact
>>> y = fastact.{name}([0.0, 0.0])
>>> fastact.{name}_backward([1.0, 0.0], y)
{example}
"""

for _f, _formula, _example in (
    (softmax_backward, "y * (g - sum(g * y))", "array([ 0.25, -0.25])"),
    (softmin_backward, "-y * (g - sum(g * y))", "array([-0.25,  0.25])"),
    (log_softmax_backward, "g - exp(y) * sum(g)", "array([ 0.5, -0.5])"),
):
    _f.__doc__ = _BACKWARD_DOC.format(
        name=_f.__name__[: -len("_backward")], formula=_formula, example=_example
    )
