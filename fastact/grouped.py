"""glu and maxout along an axis, with their backward passes.

Both functions change the length of their axis (glu halves it, maxout divides
it by k).  The Python side validates and arranges memory; a C-contiguous
array is viewed as (outer, n, inner) around the working axis, so the loops in
``cpu/grouped.pyx`` handle any axis without a transposed copy, on fastact's
thread pool with the GIL released.  Any other layout is copied once to C order.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike

from fastact import _validate
from fastact._dispatch import array_function
from fastact.cpu import bf16
from fastact.cpu import grouped as kernels
from fastact.cpu.threads import threads_for

__all__ = ["glu", "glu_backward", "maxout", "maxout_backward"]

I64 = np.dtype(np.int64)


def with_len(shape: tuple, ax: int, n: int) -> tuple:
    """`shape` with axis `ax` of length n (a 0-d shape stays 0-d: n is then 1)."""
    if not shape:
        return ()
    return shape[:ax] + (n,) + shape[ax + 1 :]


def int_param(value, name: str, fname: str) -> int:
    # bool is an int to Python but never a meaningful group size or length
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"fastact.{fname}: {name} must be an integer, got {value!r}")
    return int(value)


def _inputs(arrays: list, blk: tuple, cdt) -> list:
    """The inputs as C-contiguous (outer, n, inner) arrays of the compute dtype."""
    return [bf16.contiguous(a, cdt).reshape(blk) for a in arrays]


def _target(out, blk: tuple, cdt, ins: list):
    """(buffer the kernel writes, whether it is `out` itself).

    `out` is written directly when it has the compute dtype and is
    C-contiguous; otherwise into a scratch array copied over afterwards.
    Callers have already checked `out`'s shape and dtype."""
    if out is not None and out.dtype == cdt and out.flags.c_contiguous:
        dst = out.reshape(blk)
        return dst, True
    return np.empty(blk, cdt), False


def _separate(dst: np.ndarray, ins: list, allow_same: bool) -> list:
    """Inputs that overlap `dst` only partially (or at all, unless the kernel
    supports exactly dst == input) are copied first: the loops read an
    element before writing the same element, nothing more."""
    res = []
    for i in ins:
        if np.may_share_memory(dst, i) and not (
            allow_same and dst.ctypes.data == i.ctypes.data and dst.shape == i.shape
        ):
            i = i.copy()
        res.append(i)
    return res


def _deliver(work: np.ndarray, direct: bool, out, shape: tuple, rdt):
    if direct:
        return out
    res = work.reshape(shape)
    if out is None:
        return res if res.dtype == rdt else bf16.astype(res, rdt)
    return bf16.astype(res, rdt, out)


# ------------------------------------------------------------------- glu


def _glu_split(x, axis, fname: str, argname: str = "x"):
    a, rdt, cdt = _validate.float_array(x, fname, argname)
    ax = _validate.axis_of(a, axis, fname)
    blk = _validate.blocks(a.shape, ax)
    n = blk[1]
    if n % 2:
        raise ValueError(
            f"fastact.{fname}: glu splits axis {axis} in halves, but its length {n} is odd"
        )
    return a, rdt, cdt, ax, blk


@array_function("glu")
def glu(x: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None) -> np.ndarray:
    """Gated linear unit: ``a * sigmoid(b)``, a and b the halves of `axis`.

    As ``torch.nn.functional.glu``: the first half of `axis` is gated by the
    sigmoid of the second.  sigmoid never evaluates ``exp`` of a positive
    argument, so no input overflows; ``sigmoid(-inf) = 0`` (and so
    ``inf * sigmoid(-inf)`` is NaN, as in torch); NaN propagates.

    Parameters
    ----------
    x : array_like
        Input whose `axis` has even length.  float16 and bfloat16 are
        computed in float32 and returned in their own type; integer and
        bool input is promoted to float64.
    axis : int, default -1
        The axis to split.
    out : ndarray, optional
        Output array of the result shape (`axis` halved) and dtype.

    Returns
    -------
    ndarray
        ``x``'s shape with `axis` halved.

    Raises
    ------
    ValueError
        If `axis` has odd length.

    See Also
    --------
    glu_backward

    Examples
    --------
    >>> import fastact
    >>> fastact.glu([1.0, 2.0, 0.0, 1000.0])
    array([0.5, 2. ])
    >>> fastact.glu([[1.0, 2.0], [3.0, -1000.0]], axis=0)
    array([[0.95257413, 0.        ]])
    """
    if type(axis) is int and type(x) is np.ndarray and (axis == -1 or axis == x.ndim - 1):
        # the common call, checked and run in C (None: not that call)
        res = kernels.glu_last(x, out)
        if res is not None:
            return res
    fname = "glu"
    a, rdt, cdt, ax, blk = _glu_split(x, axis, fname)
    oshape = with_len(a.shape, ax, blk[1] // 2)
    if out is not None:
        _validate.check_out(out, oshape, rdt, fname)
    oblk = (blk[0], blk[1] // 2 * blk[2])
    (xin,) = _inputs([a], (blk[0], blk[1] * blk[2]), cdt)
    dst, direct = _target(out, oblk, cdt, [xin])
    (xin,) = _separate(dst, [xin], allow_same=False)
    if dst.size:
        nt = threads_for(dst.size, kernels.glu_tasks(oblk[0], oblk[1]), openmp=True)
        kernels.glu(xin, dst, nt)
    return _deliver(dst, direct, out, oshape, rdt)


@array_function("glu_backward", ("grad_output", "x"))
def glu_backward(
    grad_output: ArrayLike, x: ArrayLike, axis: int = -1, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of :func:`glu` with respect to x (both halves).

    For ``y = a * sigmoid(b)``: ``grad_a = g * sigmoid(b)`` and
    ``grad_b = g * a * sigmoid'(b)``, with ``sigmoid'(b)`` computed as
    ``e / (1 + e)**2``, ``e = exp(-|b|)``, which has no ``1 - s``
    cancellation for large ``|b|``.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the glu output: x's shape with `axis` halved.
    x : array_like
        The forward input.
    axis : int, default -1
        The axis the forward split.
    out : ndarray, optional
        Output array with x's shape and the result dtype; may be `x` itself.

    Returns
    -------
    ndarray
        The gradient with respect to x, x's shape.

    Examples
    --------
    >>> import fastact
    >>> fastact.glu_backward([1.0], [3.0, 0.0])
    array([0.5 , 0.75])
    """
    if type(axis) is int and type(x) is np.ndarray and (axis == -1 or axis == x.ndim - 1):
        # the common call, checked and run in C (None: not that call)
        res = kernels.glu_backward_last(grad_output, x, out)
        if res is not None:
            return res
    fname = "glu_backward"
    a, _, _, ax, blk = _glu_split(x, axis, fname)
    gt = _validate.float_array(grad_output, fname, "grad_output")
    want = with_len(a.shape, ax, blk[1] // 2)
    if gt[0].shape != want:
        raise ValueError(
            f"fastact.{fname}: grad_output has shape {gt[0].shape}, expected "
            f"{want} (x's shape {a.shape} with axis {axis} halved)"
        )
    rdt, cdt = _validate.common_dtypes(fname, gt, _validate.float_array(a, fname))
    if out is not None:
        _validate.check_out(out, a.shape, rdt, fname)
    xblk = (blk[0], blk[1] * blk[2])
    gin, xin = _inputs([gt[0]], (blk[0], blk[1] // 2 * blk[2]), cdt) + _inputs([a], xblk, cdt)
    dst, direct = _target(out, xblk, cdt, [gin, xin])
    # element i of each half is read before it is written: out may be x itself
    gin, xin = _separate(dst, [gin, xin], allow_same=True)
    if dst.size:
        nt = threads_for(dst.size, kernels.glu_tasks(xblk[0], xblk[1] // 2), openmp=True)
        kernels.glu_backward(gin, xin, dst, nt)
    return _deliver(dst, direct, out, a.shape, rdt)


# ---------------------------------------------------------------- maxout


def group_size(k, n: int, axis, fname: str) -> int:
    k = int_param(k, "k", fname)
    if k < 1:
        raise ValueError(
            f"fastact.{fname}: k must be >= 1, got k={k} (axis {axis} has length n={n})"
        )
    if n % k:
        raise ValueError(f"fastact.{fname}: axis {axis} of length n={n} is not divisible by k={k}")
    return k


def split_maxout_out(out, return_indices: bool, fname: str, what: str = "an ndarray"):
    """(values out, indices out) from maxout's `out` argument (either may be
    None); `what` names the array type in the error (the GPU path shares this)."""
    if return_indices:
        if out is None:
            return None, None
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(
                f"fastact.{fname}: with return_indices, out must be a "
                f"tuple (values_out, indices_out), got {type(out).__name__}"
            )
        return out
    if isinstance(out, tuple):
        raise TypeError(f"fastact.{fname}: out must be {what} without return_indices, got a tuple")
    return out, None


def _check_index_out(out, shape: tuple, fname: str) -> None:
    if type(out) is not np.ndarray and not isinstance(out, np.ndarray):
        raise TypeError(
            f"fastact.{fname}: the indices out must be a numpy.ndarray, got {type(out).__name__}"
        )
    if out.shape != shape:
        raise ValueError(
            f"fastact.{fname}: the indices out has shape {out.shape}, expected {shape}"
        )
    if out.dtype != I64:
        raise TypeError(f"fastact.{fname}: the indices out has dtype {out.dtype}, expected int64")
    if not out.flags.writeable:
        raise ValueError(f"fastact.{fname}: the indices out is read-only")


@array_function("maxout")
def maxout(
    x: ArrayLike,
    k: int,
    axis: int = -1,
    *,
    return_indices: bool = False,
    out: np.ndarray | tuple | None = None,
):
    """Maxout: the maximum of each group of `k` consecutive entries along `axis`.

    The axis of length n becomes n // k long: ``y[..., g] = max(x[..., g*k:(g+1)*k])``.
    As ``torch.max`` over the group: NaN in a group gives NaN (its index is
    the first NaN's), ties give the first maximum (so ``max(-0.0, 0.0)`` is
    ``-0.0``), a group of all ``-inf`` gives ``-inf``.

    Parameters
    ----------
    x : array_like
        Input.  float16 and bfloat16 are computed in float32 and returned
        in their own type; integer and bool input is promoted to float64.
    k : int
        Group size, >= 1, dividing the length of `axis`.
    axis : int, default -1
        The axis to group.
    return_indices : bool, default False
        Also return the argmax of each group as an int64 position along
        `axis` of the *input* (what :func:`maxout_backward` takes).
    out : ndarray or tuple of two, optional
        Output for the values (result shape and dtype); with
        `return_indices`, a tuple ``(values_out, indices_out)`` whose items
        may be None, the indices out being int64.

    Returns
    -------
    values : ndarray
        ``x``'s shape with `axis` of length n // k.
    indices : ndarray of int64
        Only with `return_indices`: the same shape as `values`.

    Raises
    ------
    ValueError
        If ``k < 1`` or k does not divide the length of `axis`.
    TypeError
        If `k` is not an integer (bool included).

    See Also
    --------
    maxout_backward

    Examples
    --------
    >>> import fastact
    >>> fastact.maxout([1.0, 5.0, 3.0, 2.0, 0.0, 4.0], 3)
    array([5., 4.])
    >>> v, i = fastact.maxout([[1.0, 7.0], [2.0, 7.0]], 2, axis=0, return_indices=True)
    >>> v, i
    (array([[2., 7.]]), array([[1, 0]]))
    """
    if (
        not return_indices
        and type(k) is int
        and type(axis) is int
        and type(x) is np.ndarray
        and (axis == -1 or axis == x.ndim - 1)
    ):
        # the common call, checked and run in C (None: not that call)
        res = kernels.maxout_last(x, k, out)
        if res is not None:
            return res
    fname = "maxout"
    a, rdt, cdt = _validate.float_array(x, fname)
    ax = _validate.axis_of(a, axis, fname)
    blk = _validate.blocks(a.shape, ax)
    k = group_size(k, blk[1], axis, fname)
    m = blk[1] // k
    oshape = with_len(a.shape, ax, m)
    vout, iout = _maxout_outs(out, return_indices, oshape, rdt, fname)
    oblk = (blk[0], m, blk[2])
    (xin,) = _inputs([a], blk, cdt)
    dst, direct = _target(vout, oblk, cdt, [xin])
    idst, idirect = _index_target(iout, oblk) if return_indices else (None, None)
    # with k == 1 the values out may be x itself (each element is read, then
    # written in place); anything else overlapping is read from a copy
    (xin,) = _separate(dst, [xin], allow_same=True)
    if idst is not None:
        (xin,) = _separate(idst, [xin], allow_same=False)
    if dst.size:
        nt = threads_for(xin.size, kernels.maxout_tasks(*oblk[:2], k, oblk[2]), openmp=True)
        kernels.maxout(xin, dst, idst, k, nt)
    vals = _deliver(dst, direct, vout, oshape, rdt)
    if not return_indices:
        return vals
    return vals, _deliver(idst, idirect, iout, oshape, I64)


def _maxout_outs(out, return_indices: bool, oshape: tuple, rdt, fname: str) -> tuple:
    """maxout's (values out, indices out), each None or checked."""
    vout, iout = split_maxout_out(out, return_indices, fname)
    if vout is not None:
        _validate.check_out(vout, oshape, rdt, fname)
    if iout is not None:
        _check_index_out(iout, oshape, fname)
    return vout, iout


def _index_target(iout, oblk: tuple) -> tuple[np.ndarray, bool]:
    """Where the kernel writes the indices, and whether that is `iout` itself."""
    if iout is not None and iout.flags.c_contiguous:
        return iout.reshape(oblk), True
    return np.empty(oblk, I64), False


def _backward_group(n, m: int, g: np.ndarray, axis, fname: str) -> int:
    """k, the group size: n (the forward axis length) over m (grad_output's)."""
    if n < m or (m == 0 and n != 0) or (m > 0 and n % m) or (not g.shape and n != 1):
        raise ValueError(
            f"fastact.{fname}: n={n} is not a multiple of the length {m} of "
            f"grad_output's axis {axis}" + (" (0-d grad_output needs n=1)" if not g.shape else "")
        )
    return n // m if m else 1


def _index_array(indices, g: np.ndarray, fname: str) -> np.ndarray:
    idx = indices if type(indices) is np.ndarray else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"fastact.{fname}: indices must have an integer dtype, got {idx.dtype}")
    if idx.shape != g.shape:
        raise ValueError(
            f"fastact.{fname}: indices has shape {idx.shape} but grad_output has shape {g.shape}"
        )
    return idx


def _indices_in_groups(idx, g: np.ndarray, gblk: tuple, k: int, n: int, fname: str):
    """`idx` as int64 blocks, every index checked to lie in its own group."""
    if idx.dtype == np.uint64 and idx.size and idx.max() > np.iinfo(np.int64).max:
        raise ValueError(
            f"fastact.{fname}: index {idx.max()} is out of range for an axis of length n={n}"
        )
    iin = np.ascontiguousarray(idx, dtype=I64).reshape(gblk)
    bad = kernels.maxout_check_indices(iin, k, threads_for(iin.size, gblk[0], openmp=True))
    if bad is not None:
        pos = (
            bad
            if g.ndim == 3
            else np.unravel_index(np.ravel_multi_index(bad, gblk), g.shape or (1,))
        )
        o, gi, _ = bad
        v = int(iin[bad])
        raise ValueError(
            f"fastact.{fname}: indices[{', '.join(map(str, map(int, pos)))}] = "
            f"{v} is not in its group [{gi * k}, {gi * k + k}) of an axis of "
            f"length n={n} (k={k}); indices must come from "
            "maxout(..., return_indices=True)"
        )
    return iin


@array_function("maxout_backward", ("grad_output", "indices"))
def maxout_backward(
    grad_output: ArrayLike,
    indices: ArrayLike,
    n: int,
    axis: int = -1,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`maxout`: `grad_output` scattered to the argmax positions.

    The result has `grad_output`'s shape with `axis` of length n; each group
    of k = n // m positions (m the length of `axis` in `grad_output`) gets
    its gradient at ``indices`` and zeros elsewhere.

    Parameters
    ----------
    grad_output : array_like
        Gradient with respect to the maxout values.
    indices : array_like of int
        The argmax positions from ``maxout(..., return_indices=True)``:
        same shape as `grad_output`, each a position along `axis` of the
        input lying inside its own group ``[g*k, (g+1)*k)``.  Checked before
        anything is written.
    n : int
        Length of `axis` in the forward input (a multiple of m).
    axis : int, default -1
        The axis the forward grouped.
    out : ndarray, optional
        Output array with the input's shape and the result dtype.

    Returns
    -------
    ndarray
        The gradient with respect to the maxout input.

    Raises
    ------
    ValueError
        If n is not a multiple of m, `indices` has the wrong shape, or an
        index lies outside its group (the message names the index).
    TypeError
        If `indices` is not of an integer dtype or `n` is not an integer.

    Examples
    --------
    >>> import fastact
    >>> x = [1.0, 5.0, 3.0, 2.0, 0.0, 4.0]
    >>> v, i = fastact.maxout(x, 3, return_indices=True)
    >>> fastact.maxout_backward([10.0, 20.0], i, 6)
    array([ 0., 10.,  0.,  0.,  0., 20.])
    """
    fname = "maxout_backward"
    g, rdt, cdt = _validate.float_array(grad_output, fname, "grad_output")
    ax = _validate.axis_of(g, axis, fname)
    n = int_param(n, "n", fname)
    gblk = _validate.blocks(g.shape, ax)
    m = gblk[1]
    k = _backward_group(n, m, g, axis, fname)
    idx = _index_array(indices, g, fname)
    shape = with_len(g.shape, ax, n)
    if out is not None:
        _validate.check_out(out, shape, rdt, fname)
    iin = _indices_in_groups(idx, g, gblk, k, n, fname)
    (gin,) = _inputs([g], gblk, cdt)
    blk = (gblk[0], n, gblk[2])
    dst, direct = _target(out, blk, cdt, [gin, iin])
    # with k == 1 out may be grad_output itself (element read, then written)
    gin, iin = _separate(dst, [gin, iin], allow_same=True)
    if dst.size:
        nt = threads_for(dst.size, kernels.maxout_tasks(gblk[0], m, k, gblk[2]), openmp=True)
        kernels.maxout_backward(gin, iin, dst, k, nt)
    return _deliver(dst, direct, out, shape, rdt)
