"""Normalization: min-max scaling, standardization (z-score) and p-norm normalization.

Each transform is split in two phases so that it also runs chunk by chunk
(over a file, a dask array, a stream):

* a *statistics* phase, ``minmax_stats``, ``moment_stats``, ``norm_stats``,
  which reduces `x` along the chosen axes into float64 statistics kept with
  ``keepdims=True`` shape, and whose results *merge*: the statistics of two
  chunks of an array, merged, are those of the whole (up to rounding);
* an *apply* phase, ``minmax_apply``, ``standardize_apply``,
  ``normalize_apply``, which transforms `x` -- or any chunk of the array the
  statistics came from -- broadcasting the statistics against it.

The one-shot functions are exactly ``NAME_apply(x, NAME_stats(x, axis), ...)``.

Missing values and infinities
-----------------------------
``minmax_scale`` and ``standardize`` treat NaN as a missing value, as
scikit-learn's ``minmax_scale`` and ``scale`` do: NaN is left out of the
statistics and stays NaN in the output.  An infinity is not a value these
transforms can place (every other entry would collapse onto one end), so a
slice holding one raises ``ValueError``, as scikit-learn does.
``normalize`` follows ``torch.nn.functional.normalize``: a NaN makes the
whole slice NaN, an infinite entry makes the norm infinite (finite entries
give 0, the infinite one NaN).

Accuracy
--------
Statistics are accumulated in float64 whatever the input dtype (compensated
sums for float64 input), relative to a value of each slice, so offsets
cancel exactly (``1e8 + noise``) and a constant slice has ``m2 = 0``
exactly; p-norms neither overflow nor underflow.  Measured against a
50-digit reference (tests/api/test_preprocessing.py): float32 results within 1
ULP, float64 within 4 ULP of max(1, |result|) -- for z-scores, of
max(1, |mean| / std), since the mean itself is a float64.  Results do not
depend on the thread count.  Merged chunk statistics equal the one-shot
ones up to the rounding of the merges, except that a float64 mean keeps
about ``log10(std / ulp(mean))`` digits of the deviations between chunks:
for float64 data with ``|mean| >> std``, compute the statistics in as few
pieces as memory allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from fastact import _validate
from fastact._dispatch import array_function
from fastact.cpu import bf16
from fastact.cpu import preprocessing as kernels  # type: ignore[attr-defined]  # Cython, no stub
from fastact.cpu.threads import threads_for

__all__ = [
    "minmax_scale",
    "standardize",
    "normalize",
    "MinMax",
    "Moments",
    "PNorm",
    "minmax_stats",
    "moment_stats",
    "norm_stats",
    "minmax_apply",
    "standardize_apply",
    "normalize_apply",
]

F64 = np.dtype(np.float64)


# ------------------------------------------------------------- statistics


@dataclass(frozen=True, eq=False)
class MinMax:
    """Minimum and maximum of each slice, NaN left out (float64, keepdims shape).

    A slice with no value (empty, or all NaN) has ``lo = +inf`` and
    ``hi = -inf``, the identity of :meth:`merge`.
    """

    lo: np.ndarray
    hi: np.ndarray

    def merge(self, other: MinMax) -> MinMax:
        """The statistics of the union of the two slices' values."""
        _same_kind(self, other)
        return MinMax(np.fmin(self.lo, other.lo), np.fmax(self.hi, other.hi))


@dataclass(frozen=True, eq=False)
class Moments:
    """Count, mean and sum of squared deviations of each slice, NaN left out.

    ``m2 = sum((x - mean)**2)``; the variance is ``m2 / (count - ddof)``.
    All three are float64 arrays of keepdims shape; an empty slice has
    ``count = mean = m2 = 0``.
    """

    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    def merge(self, other: Moments) -> Moments:
        """Chan et al.'s pairwise update: stable, and exact for constant slices
        (equal means give ``delta = 0``)."""
        _same_kind(self, other)
        n, mean, m2 = _elementwise(
            kernels.merge_moments,
            3,
            self.count,
            self.mean,
            self.m2,
            other.count,
            other.mean,
            other.m2,
        )
        return Moments(n, mean, m2)

    def var(self, ddof: float = 0) -> np.ndarray:
        """``m2 / (count - ddof)``; NaN (without a warning) where ``count <= ddof``."""
        ddof = _ddof(ddof, "Moments.var")
        dof = self.count - ddof
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(dof > 0, self.m2 / np.where(dof > 0, dof, 1.0), np.nan)


@dataclass(frozen=True, eq=False)
class PNorm:
    """The p-norm of each slice (float64, keepdims shape).

    `acc` holds the norm itself, not a sum of powers: it cannot overflow or
    underflow where the norm does not, and two norms merge as
    ``m * ((a/m)**p + (b/m)**p)**(1/p)``, ``m = max(a, b)`` (``max`` for
    ``p = inf``).  NaN in a slice makes its norm NaN.
    """

    p: float
    acc: np.ndarray

    def merge(self, other: PNorm) -> PNorm:
        """The norm of the concatenation of the two slices."""
        _same_kind(self, other)
        if self.p != other.p:
            raise ValueError(
                f"fastact.PNorm.merge: cannot merge a {self.p}-norm with a {other.p}-norm"
            )
        (acc,) = _elementwise(
            lambda a, b, o: kernels.merge_norms(self.p, a, b, o), 1, self.acc, other.acc
        )
        return PNorm(self.p, acc)

    def norm(self) -> np.ndarray:
        """``||x||_p`` of each slice."""
        return self.acc


def _same_kind(a, b) -> None:
    if type(b) is not type(a):
        raise TypeError(
            f"fastact.{type(a).__name__}.merge: other must be a "
            f"{type(a).__name__}, got {type(b).__name__}"
        )


def _elementwise(kernel, nout: int, *arrays) -> list[np.ndarray]:
    """kernel(*flat float64 inputs, *flat outputs) over the broadcast of `arrays`."""
    ins = np.broadcast_arrays(*[np.asarray(a, dtype=F64) for a in arrays])
    shape = ins[0].shape
    flat = [np.ascontiguousarray(a).reshape(-1) for a in ins]
    outs = [np.empty(flat[0].size) for _ in range(nout)]
    if flat[0].size:
        kernel(*flat, *outs)
    return [o.reshape(shape) for o in outs]


# ------------------------------------------------------------- arguments


def _axes(a: np.ndarray, axis, fname: str) -> tuple[int, ...]:
    """`axis` (None, int or tuple of ints) as a sorted tuple of distinct axes.

    A 0-d array accepts axis 0 and -1, as torch does; it has nothing to reduce."""
    nd = max(a.ndim, 1)
    if axis is None:
        axes = tuple(range(nd))
    elif isinstance(axis, tuple):
        axes = tuple(_validate.normalize_axis(ax, nd, fname) for ax in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"fastact.{fname}: axis {axis} repeats an axis")
    else:
        axes = (_validate.normalize_axis(axis, nd, fname),)
    return tuple(sorted(axes)) if a.ndim else ()


def _layout(a: np.ndarray, red: list) -> tuple[list, tuple]:
    """(perm, (outer, n, inner)): ``a.transpose(perm)`` read in C order as
    (outer, n, inner) with the axes flagged in `red` (reduced, or along which
    the statistics broadcast) making up n.

    The order of the axes is a's own memory order when a is a (possibly
    transposed) contiguous array, so F-ordered input is read in place; the
    flagged axes must then be adjacent in that order, otherwise they are
    moved last (and the caller's ascontiguousarray makes the one copy).
    Length-1 axes go last: they change no index."""
    big = [i for i in range(a.ndim) if a.shape[i] != 1]
    ones = [i for i in range(a.ndim) if a.shape[i] == 1]
    order = sorted(big, key=lambda i: -a.strides[i])
    if not a.transpose(order + ones).flags.c_contiguous:
        order = big
    flags = [red[i] for i in order]
    if True in flags:
        first = flags.index(True)
        last = len(flags) - flags[::-1].index(True)
        if not all(flags[first:last]):
            order = [i for i in order if not red[i]] + [i for i in order if red[i]]
            first, last = len(order) - sum(flags), len(order)
    else:
        first = last = len(order)
    sizes = [a.shape[i] for i in order]
    return order + ones, (
        math.prod(sizes[:first]),
        math.prod(sizes[first:last]),
        math.prod(sizes[last:]),
    )


def _ddof(ddof, fname: str) -> float:
    return _validate.real_param(ddof, "ddof", fname, "nonneg")


def _feature_range(feature_range, fname: str) -> tuple[float, float]:
    try:
        lo, hi = feature_range
    except (TypeError, ValueError):
        raise TypeError(
            f"fastact.{fname}: feature_range must be a pair (min, max), got {feature_range!r}"
        ) from None
    lo = _validate.real_param(lo, "feature_range[0]", fname)
    hi = _validate.real_param(hi, "feature_range[1]", fname)
    if not lo < hi:
        raise ValueError(
            f"fastact.{fname}: feature_range min must be smaller than max, got {feature_range!r}"
        )
    return lo, hi


def _p(p, fname: str) -> float:
    v = _validate.real_param(p, "p", fname, "any")
    if not v >= 1:
        raise ValueError(f"fastact.{fname}: p must be >= 1 or inf, got {p!r}")
    return v


def _stats_against(stats, kind: type, a: np.ndarray, fname: str) -> list[np.ndarray]:
    """The float64 arrays of `stats`, checked to be a `kind` broadcasting to x's shape."""
    if type(stats) is not kind:
        raise TypeError(
            f"fastact.{fname}: stats must be a fastact.preprocessing."
            f"{kind.__name__}, got {type(stats).__name__}"
        )
    arrays = [
        np.asarray(getattr(stats, f), dtype=F64) for f in kind.__dataclass_fields__ if f != "p"
    ]
    for s in arrays:
        try:
            ok = np.broadcast_shapes(s.shape, a.shape) == a.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"fastact.{fname}: statistics of shape {s.shape} do not "
                f"broadcast to x's shape {a.shape}"
            )
    return arrays


def _reduce(
    a: np.ndarray, cdt, axis, kernel, empty: tuple, fname: str, *extra, shifted: bool = False
):
    """kernel(x as (outer, n, inner), *extra, *partials, nthreads) -> the
    statistics as float64 arrays of keepdims shape (`empty`: their values
    for a slice with no element).  `shifted`: the first result is one value
    per slice (outer, inner) that the kernel fills, not a partial array."""
    axes = _axes(a, axis, fname)
    red = [i in axes for i in range(a.ndim)]
    perm, blk = _layout(a, red)
    outer, n, inner = blk
    nch, per_outer = kernels.grid(n, inner, cdt.itemsize)
    parts = [np.full((outer, max(nch, 1), inner), e) for e in empty]
    args = [p[:, 0, :] if shifted and i == 0 else p for i, p in enumerate(parts)]
    if outer * n * inner:
        x3 = bf16.contiguous(a.transpose(perm), cdt).reshape(blk)
        kernel(x3, *extra, *args, threads_for(x3.size, outer * per_outer, openmp=True))
    keep = tuple(1 if red[i] else a.shape[i] for i in perm)
    inv = np.argsort(perm)
    # np.array, not np.ascontiguousarray, which would make a 0-d result 1-d
    return [np.array(p[:, 0, :].reshape(keep).transpose(inv), order="C") for p in parts]


_WHY = {
    1: "holds an infinite value (which has no place on a finite scale) or values "
    "whose spread overflows float64",
    2: "has a spread that overflows float64",
    3: "has {count:g} values, not more than ddof={ddof:g}: its variance is undefined",
}


def _transform(
    x,
    out,
    stats,
    kind: type[MinMax | Moments | PNorm],
    coef,
    lo: float,
    hi: float,
    lerp: bool,
    fname: str,
    detail=None,
):
    """y = (x - c) / den (or its lerp onto [lo, hi]) with c, den per slice from
    ``coef(*flat stats, c, den)``; every check runs before anything is written."""
    a, rdt, cdt = _validate.float_array(x, fname)
    if out is not None:
        _validate.check_out(out, a.shape, rdt, fname)
    arrays = _stats_against(stats, kind, a, fname)
    sshape = np.broadcast_shapes(*[s.shape for s in arrays])
    sshape = (1,) * (a.ndim - len(sshape)) + sshape
    red = [sshape[i] == 1 for i in range(a.ndim)]
    perm, blk = _layout(a, red)
    outer, _, inner = blk
    keep = tuple(1 if red[i] else a.shape[i] for i in range(a.ndim))
    flat = [
        np.ascontiguousarray(np.broadcast_to(s, keep).transpose(perm)).reshape(-1) for s in arrays
    ]
    c, den = np.empty(outer * inner), np.empty(outer * inner)
    if c.size:
        bad, why = coef(*flat, c, den)
        if bad >= 0:
            kshape = tuple(keep[i] for i in perm)
            pos = np.unravel_index(bad, kshape) if kshape else ()
            idx = tuple(int(pos[list(perm).index(i)]) for i in range(a.ndim))
            vals = {
                f: float(v[bad])
                for f, v in zip([f for f in kind.__dataclass_fields__ if f != "p"], flat)
            }
            shown = ", ".join(f"{f}={v:g}" for f, v in vals.items())
            raise ValueError(
                f"fastact.{fname}: the slice at statistics index {idx} ({shown}) "
                + _WHY[why].format(**vals, **(detail or {}))
            )
    x3, dst, direct = _target(a, out, perm, blk, cdt)
    if dst.size:
        kernels.apply(
            x3,
            dst,
            c.reshape(outer, inner),
            den.reshape(outer, inner),
            lo,
            hi,
            lerp,
            threads_for(dst.size, kernels.apply_tasks(*blk, cdt.itemsize), openmp=True),
        )
    return _deliver(a, out, perm, dst, direct, rdt, cdt)


def _target(a: np.ndarray, out, perm: list, blk: tuple, cdt):
    """(x as a C-contiguous (outer, n, inner) block, the block the kernel
    writes, whether that block is `out` itself)."""
    x3 = bf16.contiguous(a.transpose(perm), cdt).reshape(blk)
    direct = out is not None and out.dtype == cdt and out.transpose(perm).flags.c_contiguous
    dst = out.transpose(perm).reshape(blk) if direct else np.empty(blk, cdt)
    if direct and np.may_share_memory(dst, x3) and dst.ctypes.data != x3.ctypes.data:
        # the loops read each element before writing it: out may be x, but
        # not another view overlapping it
        x3 = x3.copy()
    return x3, dst, direct


def _deliver(a: np.ndarray, out, perm: list, dst: np.ndarray, direct: bool, rdt, cdt):
    if direct:
        return out
    res = dst.reshape([a.shape[i] for i in perm]).transpose(np.argsort(perm))
    if not a.transpose(perm).flags.c_contiguous:
        # x was copied in an order of our choosing: hand back C order, not
        # a transposed view of that copy (x's own memory order is kept)
        res = np.ascontiguousarray(res)
    if out is None:
        return res if rdt == cdt else bf16.astype(res, rdt)
    return bf16.astype(res, rdt, out)


# ----------------------------------------------------- statistics phase


def minmax_stats(x: ArrayLike, axis: int | tuple[int, ...] | None = None) -> MinMax:
    """Minimum and maximum of `x` along `axis`, NaN left out, as :class:`MinMax`.

    Parameters
    ----------
    x : array_like
        Real input (any float, integer or bool dtype).
    axis : None, int or tuple of ints, default None
        Axes to reduce; None reduces all of them.

    Returns
    -------
    MinMax
        float64 ``lo`` and ``hi`` with x's shape, reduced axes of length 1.

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import preprocessing as pp
    >>> s = pp.minmax_stats([[1.0, 5.0], [np.nan, -2.0]], axis=1)
    >>> s.lo, s.hi
    (array([[ 1.],
           [-2.]]), array([[ 5.],
           [-2.]]))
    >>> s.merge(pp.minmax_stats([[0.0], [3.0]], axis=1)).lo
    array([[ 0.],
           [-2.]])
    """
    return _minmax_stats(x, axis, "minmax_stats")


def _minmax_stats(x, axis, fname: str) -> MinMax:
    a, _, cdt = _validate.float_array(x, fname)
    return MinMax(*_reduce(a, cdt, axis, kernels.minmax_stats, (math.inf, -math.inf), fname))


def moment_stats(x: ArrayLike, axis: int | tuple[int, ...] | None = None) -> Moments:
    """Count, mean and ``m2`` of `x` along `axis`, NaN left out, as :class:`Moments`.

    Computed in float64 whatever x's dtype and numerically stable: the
    deviations are taken from a value of the data itself, so an offset such
    as ``1e8 + noise`` cancels exactly and a constant slice has ``m2 = 0``
    exactly.

    Parameters
    ----------
    x : array_like
        Real input.
    axis : None, int or tuple of ints, default None
        Axes to reduce; None reduces all of them.

    Returns
    -------
    Moments
        float64 ``count``, ``mean`` and ``m2`` of keepdims shape.

    Examples
    --------
    >>> from fastact import preprocessing as pp
    >>> m = pp.moment_stats([1.0, 2.0, 3.0, 4.0])
    >>> m.count, m.mean, m.m2, m.var(ddof=1)
    (array([4.]), array([2.5]), array([5.]), array([1.66666667]))
    >>> m.merge(pp.moment_stats([5.0])).mean
    array([3.])
    """
    return _moment_stats(x, axis, "moment_stats")


def _moment_stats(x, axis, fname: str) -> Moments:
    a, _, cdt = _validate.float_array(x, fname)
    # the kernel works relative to a per-slice shift (a value of the slice)
    shift, count, mu, m2 = _reduce(
        a, cdt, axis, kernels.moment_stats, (np.nan, 0.0, 0.0, 0.0), fname, shifted=True
    )
    return Moments(count, np.where(count > 0, shift + mu, 0.0), m2)


def norm_stats(x: ArrayLike, p: float = 2, axis: int | tuple[int, ...] | None = -1) -> PNorm:
    """The p-norm of `x` along `axis`, as :class:`PNorm`.

    Computed in float64 without overflow or underflow: slices are scaled by
    a power of two near their largest magnitude when their sum of powers
    would leave float64's range.

    Parameters
    ----------
    x : array_like
        Real input.
    p : float, default 2
        Exponent of the norm, >= 1, or ``inf`` (the largest magnitude).
    axis : None, int or tuple of ints, default -1
        Axes to reduce; None reduces all of them.

    Returns
    -------
    PNorm
        ``p`` and the float64 norms of keepdims shape.

    Examples
    --------
    >>> from fastact import preprocessing as pp
    >>> pp.norm_stats([[3.0, 4.0], [1.0, -1.0]]).norm()
    array([[5.        ],
           [1.41421356]])
    >>> pp.norm_stats([3.0, -4.0], p=1).merge(pp.norm_stats([5.0], p=1)).norm()
    array([12.])
    """
    return _norm_stats(x, p, axis, "norm_stats")


def _norm_stats(x, p, axis, fname: str) -> PNorm:
    p = _p(p, fname)
    a, _, cdt = _validate.float_array(x, fname)
    (acc,) = _reduce(a, cdt, axis, kernels.norm_stats, (0.0,), fname, p)
    return PNorm(p, acc)


# ---------------------------------------------------------- apply phase


def minmax_apply(
    x: ArrayLike,
    stats: MinMax,
    feature_range: tuple[float, float] = (0, 1),
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scale `x` onto `feature_range` with the given :class:`MinMax` statistics.

    ``y = a + (x - lo) / (hi - lo) * (b - a)``, ``(a, b) = feature_range``,
    written so that ``x = lo`` gives exactly ``a`` and ``x = hi`` exactly
    ``b``; a slice with ``lo == hi`` maps to ``a``.  Values outside
    ``[lo, hi]`` (a chunk scaled with another chunk's statistics) map
    outside `feature_range`, unclipped.  NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Input, or a chunk of the array the statistics came from.
    stats : MinMax
        From :func:`minmax_stats`; its arrays broadcast to x's shape.
    feature_range : (float, float), default (0, 1)
        Target interval; min < max (``ValueError`` otherwise).
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        If a slice's statistics are infinite (x held an infinity).

    Examples
    --------
    >>> from fastact import preprocessing as pp
    >>> x = [[0.0, 5.0, 10.0], [2.0, 2.0, 2.0]]
    >>> pp.minmax_apply(x, pp.minmax_stats(x, axis=1), (-1, 1))
    array([[-1.,  0.,  1.],
           [-1., -1., -1.]])
    """
    return _minmax_apply(x, stats, feature_range, out, "minmax_apply")


def _minmax_apply(x, stats, feature_range, out, fname: str):
    lo, hi = _feature_range(feature_range, fname)
    return _transform(
        x, out, stats, MinMax, kernels.coef_minmax, lo, hi, (lo, hi) != (0.0, 1.0), fname
    )


def standardize_apply(
    x: ArrayLike,
    stats: Moments,
    ddof: float = 0,
    eps: float = 0.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Standardize `x` with the given :class:`Moments`: ``(x - mean) / sqrt(var + eps)``.

    ``var = m2 / (count - ddof)``.  Where the denominator is 0 (a constant
    slice with ``eps = 0``) the result is 0.  NaN stays NaN.

    Parameters
    ----------
    x : array_like
        Input, or a chunk of the array the statistics came from.
    stats : Moments
        From :func:`moment_stats`; its arrays broadcast to x's shape.
    ddof : float, default 0
        Delta degrees of freedom, >= 0.  Every slice that holds a value must
        hold more than `ddof` of them (``ValueError`` otherwise: its variance
        is undefined).
    eps : float, default 0.0
        Added to the variance, >= 0.
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        If a slice's statistics are not finite (x held an infinity), or
        ``count <= ddof`` in a slice with values.

    Examples
    --------
    >>> from fastact import preprocessing as pp
    >>> x = [1.0, 2.0, 3.0]
    >>> pp.standardize_apply(x, pp.moment_stats(x), ddof=1)
    array([-1.,  0.,  1.])
    """
    return _standardize_apply(x, stats, ddof, eps, out, "standardize_apply")


def _standardize_apply(x, stats, ddof, eps, out, fname: str):
    ddof = _ddof(ddof, fname)
    eps = _validate.real_param(eps, "eps", fname, "nonneg")
    return _transform(
        x,
        out,
        stats,
        Moments,
        lambda n, m, q, c, den: kernels.coef_standardize(n, m, q, ddof, eps, c, den),
        0.0,
        1.0,
        False,
        fname,
        {"ddof": ddof},
    )


def normalize_apply(
    x: ArrayLike, stats: PNorm, eps: float = 1e-12, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Divide `x` by the given norms: ``x / max(norm, eps)``.

    As ``torch.nn.functional.normalize``: a NaN norm gives NaN, an infinite
    norm gives 0 for finite entries (and NaN for infinite ones).

    Parameters
    ----------
    x : array_like
        Input, or a chunk of the array the statistics came from.
    stats : PNorm
        From :func:`norm_stats`; its norms broadcast to x's shape.
    eps : float, default 1e-12
        Lower bound of the divisor, > 0.
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> from fastact import preprocessing as pp
    >>> x = [3.0, 4.0]
    >>> pp.normalize_apply(x, pp.norm_stats(x))
    array([0.6, 0.8])
    """
    return _normalize_apply(x, stats, eps, out, "normalize_apply")


def _normalize_apply(x, stats, eps, out, fname: str):
    eps = _validate.real_param(eps, "eps", fname, "positive")

    def coef(acc, c, den):
        kernels.coef_normalize(acc, eps, c, den)
        return -1, 0

    return _transform(x, out, stats, PNorm, coef, 0.0, 1.0, False, fname)


# ------------------------------------------------------ one-shot calls


@array_function("reduce")
def minmax_scale(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = None,
    feature_range: tuple[float, float] = (0, 1),
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scale each slice of `x` along `axis` linearly onto `feature_range`.

    ``minmax_apply(x, minmax_stats(x, axis), feature_range)``: the slice's
    minimum maps to ``feature_range[0]``, its maximum to
    ``feature_range[1]``, exactly; a constant slice maps to the low end
    (not NaN).  NaN is left out of the statistics and stays NaN, as in
    ``sklearn.preprocessing.minmax_scale``; a slice holding an infinity
    raises ``ValueError``.

    Parameters
    ----------
    x : array_like
        Real input.  float16 and bfloat16 are computed in float32 and
        returned in their own type; integer and bool input is promoted to
        float64.
    axis : None, int or tuple of ints, default None
        Axes whose slices are scaled together; None scales the whole array
        as one.  (scikit-learn's ``axis=0`` -- per feature -- is ``axis=0``
        here too.)
    feature_range : (float, float), default (0, 1)
        Target interval, min < max.
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray
        Same shape as `x`.

    Raises
    ------
    ValueError
        If ``feature_range[0] >= feature_range[1]`` or a slice holds an
        infinity.
    numpy.exceptions.AxisError
        If an axis is out of range.

    See Also
    --------
    minmax_stats, minmax_apply : the same in two phases, for chunked data.

    Examples
    --------
    >>> import fastact
    >>> fastact.minmax_scale([2.0, 4.0, 6.0])
    array([0. , 0.5, 1. ])
    >>> fastact.minmax_scale([[1.0, 3.0], [7.0, 7.0]], axis=1, feature_range=(-1, 1))
    array([[-1.,  1.],
           [-1., -1.]])
    """
    fname = "minmax_scale"
    _feature_range(feature_range, fname)
    return _minmax_apply(x, _minmax_stats(x, axis, fname), feature_range, out, fname)


@array_function("reduce")
def standardize(
    x: ArrayLike,
    axis: int | tuple[int, ...] | None = None,
    ddof: float = 0,
    eps: float = 0.0,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Z-score each slice of `x` along `axis`: ``(x - mean) / sqrt(var + eps)``.

    ``standardize_apply(x, moment_stats(x, axis), ddof, eps)``.  The
    statistics are float64 and numerically stable (no cancellation on
    ``1e8 + noise``); a constant slice gives 0.  NaN is left out of the
    statistics and stays NaN, as in ``sklearn.preprocessing.scale``; a slice
    holding an infinity raises ``ValueError``.

    Parameters
    ----------
    x : array_like
        Real input.  float16 and bfloat16 are computed in float32 and
        returned in their own type; integer and bool input is promoted to
        float64.
    axis : None, int or tuple of ints, default None
        Axes whose slices are standardized together; None: the whole array.
    ddof : float, default 0
        Delta degrees of freedom of the variance, ``0 <= ddof < count``.
    eps : float, default 0.0
        Added to the variance, >= 0.
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray
        Same shape as `x`.

    Raises
    ------
    ValueError
        If ``ddof < 0``, a slice has ``count <= ddof`` values, ``eps < 0``
        or a slice holds an infinity.
    numpy.exceptions.AxisError
        If an axis is out of range.

    See Also
    --------
    moment_stats, standardize_apply : the same in two phases, for chunked data.

    Examples
    --------
    >>> import fastact
    >>> fastact.standardize([1.0, 2.0, 3.0, 4.0])
    array([-1.34164079, -0.4472136 ,  0.4472136 ,  1.34164079])
    >>> fastact.standardize([[1e8, 1e8 + 2.0], [5.0, 5.0]], axis=1)
    array([[-1.,  1.],
           [ 0.,  0.]])
    """
    fname = "standardize"
    _ddof(ddof, fname)
    _validate.real_param(eps, "eps", fname, "nonneg")
    return _standardize_apply(x, _moment_stats(x, axis, fname), ddof, eps, out, fname)


@array_function("reduce")
def normalize(
    x: ArrayLike,
    p: float = 2,
    axis: int | tuple[int, ...] | None = -1,
    eps: float = 1e-12,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Divide each slice of `x` along `axis` by its p-norm: ``x / max(||x||_p, eps)``.

    As ``torch.nn.functional.normalize`` (whose default axis is 1; here -1,
    as scikit-learn's per-sample ``normalize``): NaN in a slice makes the
    slice NaN; an infinite entry makes the norm infinite.  The norm is
    computed in float64 without overflow or underflow.

    Parameters
    ----------
    x : array_like
        Real input.  float16 and bfloat16 are computed in float32 and
        returned in their own type; integer and bool input is promoted to
        float64.
    p : float, default 2
        Exponent of the norm, >= 1, or ``inf``.
    axis : None, int or tuple of ints, default -1
        Axes of each slice; None: the whole array.
    eps : float, default 1e-12
        Lower bound of the divisor, > 0.
    out : ndarray, optional
        Output of x's shape and result dtype; may be `x` itself.

    Returns
    -------
    ndarray
        Same shape as `x`.

    Raises
    ------
    ValueError
        If ``p < 1`` or ``eps <= 0``.
    numpy.exceptions.AxisError
        If an axis is out of range.

    See Also
    --------
    norm_stats, normalize_apply : the same in two phases, for chunked data.

    Examples
    --------
    >>> import fastact
    >>> fastact.normalize([[3.0, 4.0], [0.0, 0.0]])
    array([[0.6, 0.8],
           [0. , 0. ]])
    >>> fastact.normalize([1.0, -3.0], p=1)
    array([ 0.25, -0.75])
    """
    fname = "normalize"
    eps = _validate.real_param(eps, "eps", fname, "positive")
    p = _p(p, fname)
    a, rdt, cdt = _validate.float_array(x, fname)
    axes = _axes(a, axis, fname)
    perm, blk = _layout(a, [i in axes for i in range(a.ndim)])
    if blk[2] != 1 or not 0 < blk[1] <= kernels.row_limit(cdt.itemsize):
        return _normalize_apply(x, _norm_stats(a, p, axis, fname), eps, out, fname)
    # each slice a contiguous run that one task reduces whole: the norm and
    # the division in one pass over the row while it is in cache.  The
    # kernel runs the two-phase path's loops on each row, so the result is
    # identical to it.
    if out is not None:
        _validate.check_out(out, a.shape, rdt, fname)
    x3, dst, direct = _target(a, out, perm, blk, cdt)
    kernels.normalize_rows(x3, dst, p, eps, threads_for(dst.size, blk[0], openmp=True))
    return _deliver(a, out, perm, dst, direct, rdt, cdt)


# ------------------------------------------------ normalization in two phases

# name -> (statistics function, its parameters, apply function, its parameters)
_PHASES: dict[str, tuple[Callable, tuple[str, ...], Callable, tuple[str, ...]]] = {
    "minmax_scale": (minmax_stats, ("axis",), minmax_apply, ("feature_range",)),
    "standardize": (moment_stats, ("axis",), standardize_apply, ("ddof", "eps")),
    "normalize": (norm_stats, ("p", "axis"), normalize_apply, ("eps",)),
}


def two_phase(name: str, params: dict) -> tuple[Callable, Callable]:
    """A normalization split into its statistics and apply phases.

    Statistics of chunks merge with ``.merge`` into those of the whole, and
    the merged statistics apply to every chunk: what ``fastact apply`` does
    over a file and the dask backend over blocks.

    Parameters
    ----------
    name : {'minmax_scale', 'standardize', 'normalize'}
        The one-shot normalization function.
    params : dict
        Its keyword arguments (every parameter but `x` and `out`).

    Returns
    -------
    stats : callable
        ``stats(chunk)``: the chunk's statistics (``fastact.preprocessing``'s
        ``MinMax``, ``Moments`` or ``PNorm``).
    apply : callable
        ``apply(chunk, stats, out=None)``: the chunk normalized with `stats`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastact.preprocessing import two_phase
    >>> stats, apply = two_phase("standardize", {"axis": None, "ddof": 0, "eps": 0.0})
    >>> x = np.array([1.0, 2.0, 3.0, 4.0])
    >>> s = stats(x[:1]).merge(stats(x[1:]))
    >>> apply(x[:2], s)
    array([-1.34164079, -0.4472136 ])
    """
    stats, sparams, apply, aparams = _PHASES[name]
    return (
        partial(stats, **{k: params[k] for k in sparams}),
        partial(apply, **{k: params[k] for k in aparams}),
    )


def reduced_axes(axis, ndim: int, fname: str = "apply") -> tuple[int, ...]:
    """The axes a normalization's `axis` reduces, sorted.

    Parameters
    ----------
    axis : None, int or tuple of ints
        As the normalization functions take it; None reduces every axis.
    ndim : int
        Dimensions of the array (a 0-d array has nothing to reduce).
    fname : str, default 'apply'
        Function name for the error messages.

    Returns
    -------
    tuple of int

    Raises
    ------
    numpy.exceptions.AxisError
        An axis out of range.
    TypeError
        An axis that is not an integer.

    Examples
    --------
    >>> from fastact.preprocessing import reduced_axes
    >>> reduced_axes(None, 3), reduced_axes(-1, 3), reduced_axes((2, 0), 3)
    ((0, 1, 2), (2,), (0, 2))
    """
    nd = max(ndim, 1)
    if axis is None:
        axes: Iterable[int] = range(nd)
    elif isinstance(axis, tuple):
        axes = [_validate.normalize_axis(a, nd, fname) for a in axis]
    else:
        axes = [_validate.normalize_axis(axis, nd, fname)]
    return tuple(sorted(set(axes))) if ndim else ()
