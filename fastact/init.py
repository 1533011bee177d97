"""Parameter initializers with torch.nn.init's names, parameters and values, for NumPy.

Each ``NAME_`` either fills a writable float16/float32/float64 ndarray in
place (any layout) and returns that same array, or, given a shape (an int or
a tuple of ints), returns a new array of ``dtype`` (default float32).  The
bounds and standard deviations are torch's (fan_in = size(1) * receptive
field, fan_out = size(0) * receptive field, the receptive field being the
product of the trailing dimensions of a conv kernel).  torch's ``generator``
is ``rng``: None (fresh entropy), an int seed, a ``numpy.random.SeedSequence``
or a ``numpy.random.Generator`` (which the call advances).  The same seed
gives the same array whatever ``fastact.set_num_threads`` says.

Examples
--------
>>> import numpy as np
>>> from fastact import init
>>> w = init.kaiming_uniform_((64, 32, 3, 3), nonlinearity="relu", rng=0)
>>> w.shape, w.dtype
((64, 32, 3, 3), dtype('float32'))
>>> bound = init.calculate_gain("relu") * np.sqrt(3 / (32 * 3 * 3))
>>> bool(np.abs(w).max() <= bound)
True
>>> b = np.empty(64)
>>> init.zeros_(b) is b
True
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import DTypeLike

from fastact import _validate
from fastact.activations import _generator
from fastact.cpu import init as fills

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
]

# what the first argument of every initializer may be: an array to fill or a shape
Tensor = np.ndarray | int | tuple[int, ...]

# --------------------------------------------------------------------------
# the target array, the generator, fans and gains


def _name(fname: str) -> str:
    return f"init.{fname}"


def _float_dtype(dt: np.dtype, what: str, fname: str) -> np.dtype:
    if dt.kind != "f" or dt.itemsize not in (2, 4, 8):
        raise TypeError(
            f"fastact.init.{fname}: {what} has unsupported dtype {dt}; "
            "expected float16, float32 or float64"
        )
    return dt


def _shape(shape, fname: str) -> tuple[int, ...]:
    dims = shape if isinstance(shape, tuple) else (shape,)
    try:
        if any(isinstance(n, (bool, np.bool_)) for n in dims):
            raise TypeError
        dims = tuple(operator.index(n) for n in dims)
    except TypeError:
        raise TypeError(
            f"fastact.init.{fname}: the first argument must be a numpy.ndarray to "
            f"fill or a shape (an int or a tuple of ints), got {shape!r}"
        ) from None
    if any(n < 0 for n in dims):
        raise ValueError(f"fastact.init.{fname}: negative dimension in shape {dims}")
    return dims


def _dtype_arg(dtype, fname: str) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"fastact.init.{fname}: dtype {dtype!r} is not a numpy dtype") from None


def _target(tensor, dtype: DTypeLike | None, fname: str) -> np.ndarray:
    """The array to fill: `tensor` itself, or a new one of shape `tensor`."""
    if isinstance(tensor, np.ndarray):
        dt = _float_dtype(tensor.dtype, "tensor", fname)
        if not tensor.flags.writeable:
            raise ValueError(f"fastact.init.{fname}: tensor is read-only")
        if dtype is not None and _dtype_arg(dtype, fname) != dt:
            raise ValueError(
                f"fastact.init.{fname}: dtype={np.dtype(dtype)} is for a new array "
                f"(a shape); the tensor given has dtype {dt}"
            )
        return tensor
    shape = _shape(tensor, fname)
    dt = _dtype_arg(np.float32 if dtype is None else dtype, fname)
    return np.empty(shape, _float_dtype(dt, "dtype", fname))


def _rng(rng, fname: str) -> np.random.Generator:
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    return _generator(rng, _name(fname))


def _fill(arr: np.ndarray, rng, fname: str, draw) -> np.ndarray:
    gen = _rng(rng, fname)
    return fills.fill(arr, gen, draw) if arr.size else arr


def _fans(shape: tuple, fname: str) -> tuple[int, int]:
    """(fan_in, fan_out) as torch: size(1) and size(0) times the receptive field."""
    if len(shape) < 2:
        raise ValueError(
            f"fastact.init.{fname}: Fan in and fan out can not be computed for "
            f"tensor with fewer than 2 dimensions (shape {shape})"
        )
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


def _fan(shape: tuple, mode, fname: str) -> int:
    if not isinstance(mode, str):
        raise TypeError(f"fastact.init.{fname}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    m = mode.lower()  # as torch, which lowers the mode before checking it
    if m not in ("fan_in", "fan_out"):
        raise ValueError(
            f"fastact.init.{fname}: Mode {m} not supported, please use one of ['fan_in', 'fan_out']"
        )
    fan_in, fan_out = _fans(shape, fname)
    return fan_in if m == "fan_in" else fan_out


_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
_GAIN = dict.fromkeys(_LINEAR, 1.0) | {"tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 3.0 / 4}


def _gain(nonlinearity, param, fname: str) -> float:
    if isinstance(nonlinearity, str) and nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (bool, np.bool_)) or not isinstance(param, numbers.Real):
            # ValueError, as torch raises for a slope that is not a number
            raise ValueError(f"fastact.init.{fname}: negative_slope {param!r} not a valid number")
        else:
            slope = _validate.real_param(param, "negative_slope", _name(fname), "any")
        return math.sqrt(2.0 / (1 + slope * slope))
    if isinstance(nonlinearity, str) and nonlinearity in _GAIN:
        return _GAIN[nonlinearity]
    raise ValueError(
        f"fastact.init.{fname}: Unsupported nonlinearity {nonlinearity!r}; expected "
        f"one of {sorted(_GAIN) + ['leaky_relu']}"
    )


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as ``torch.nn.init.calculate_gain``.

    ======================================================  =====================================
    nonlinearity                                            gain
    ======================================================  =====================================
    linear, conv{1,2,3}d, conv_transpose{1,2,3}d, sigmoid   1
    tanh                                                    5/3
    relu                                                    sqrt(2)
    leaky_relu                                              sqrt(2 / (1 + negative_slope^2))
    selu                                                    3/4
    ======================================================  =====================================

    Parameters
    ----------
    nonlinearity : str
        The ``torch.nn.functional`` name of the nonlinearity.
    param : float, optional
        leaky_relu's negative_slope (default 0.01); ignored by the others.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        An unknown nonlinearity, or a negative_slope that is not a real
        number (a bool, a string) or is NaN.

    Examples
    --------
    >>> from fastact import init
    >>> init.calculate_gain("tanh")
    1.6666666666666667
    >>> round(init.calculate_gain("leaky_relu", 0.2), 6)
    1.38675
    """
    return _gain(nonlinearity, param, "calculate_gain")


def _real(value, name: str, fname: str, check: str = "finite") -> float:
    return _validate.real_param(value, name, _name(fname), check)


def _uniform_bounds(low: float, high: float, dt: np.dtype, fname: str) -> tuple[float, float]:
    """(low, high) checked as torch checks them: ordered, and within the dtype's range."""
    if low > high:
        raise ValueError(
            f"fastact.init.{fname}: expects a <= b (the range [a, b)), got a={low} > b={high}"
        )
    big = float(np.finfo(dt).max)
    if max(-low, high) > big or high - low > big:
        raise ValueError(
            f"fastact.init.{fname}: the range [{low}, {high}) exceeds what {dt} holds (max {big})"
        )
    return low, high


# --------------------------------------------------------------------------
# docstring pieces every initializer shares

_TENSOR_DOC = """tensor : ndarray or int or tuple of ints
    A writable float16/float32/float64 array to fill in place (any layout),
    or the shape of a new array."""
_KW_DOC = """dtype : dtype, optional
    The new array's dtype (float16, float32 or float64; default float32).
    Only with a shape.
rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
    Source of the draws (torch's ``generator``); an int or SeedSequence
    seeds a new Generator."""
_RETURNS_DOC = """Returns
-------
ndarray
    ``tensor`` itself when an array was given, else the new array."""
_RAISES_DOC = """Raises
------
TypeError
    A non-float array or dtype, or a first argument that is neither an
    array nor a shape.
ValueError
    A read-only array, or a parameter out of its range."""


_KAIMING_DOC = """a : float
    The negative slope of the rectifier after this layer (leaky_relu only;
    None means 0.01, as in calculate_gain).
mode : {'fan_in', 'fan_out'}
    fan_in keeps the forward pass's variance, fan_out the backward's
    (case-insensitive, as torch).
nonlinearity : str
    See :func:`calculate_gain`; meant for 'relu' and 'leaky_relu'."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _doc(fn: _F) -> _F:
    """Fill the shared pieces (<tensor>, <kw>, <kaiming>, <returns>, <raises>)
    into fn's docstring, indented as the marker is."""
    doc = fn.__doc__ or ""  # None under python -OO
    for marker, text in (
        ("<tensor>", _TENSOR_DOC),
        ("<kw>", _KW_DOC),
        ("<kaiming>", _KAIMING_DOC),
        ("<returns>", _RETURNS_DOC),
        ("<raises>", _RAISES_DOC),
    ):
        doc = doc.replace(marker, text.replace("\n", "\n    "))
    fn.__doc__ = doc
    return fn


# --------------------------------------------------------------------------
# the initializers


@_doc
def uniform_(
    tensor: Tensor,
    a: float = 0.0,
    b: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with draws from the uniform distribution U(a, b).

    Computed as ``u * (b - a) + a`` in the array's type (float16 in float32),
    u uniform on [0, 1) with 24 (float32) or 53 (float64) random bits.

    Parameters
    ----------
    <tensor>
    a, b : float
        The range; finite, a <= b, and within the dtype's range.
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.uniform_((3, 5), -0.5, 0.5, rng=0)
    >>> bool(((w >= -0.5) & (w < 0.5)).all())
    True
    """
    arr = _target(tensor, dtype, "uniform_")
    low, high = _uniform_bounds(
        _real(a, "a", "uniform_"), _real(b, "b", "uniform_"), arr.dtype, "uniform_"
    )
    return _fill(arr, rng, "uniform_", fills.uniform(low, high))


@_doc
def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with draws from the normal distribution N(mean, std^2).

    A vectorized Box-Muller transform in the array's type (float16 in
    float32), as torch's CPU kernel.

    Parameters
    ----------
    <tensor>
    mean : float
    std : float
        Finite and >= 0 (0 fills ``mean``).
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.normal_(np.empty((256, 256)), std=0.02, rng=0)
    >>> bool(abs(w.std() - 0.02) < 0.001)
    True
    """
    arr = _target(tensor, dtype, "normal_")
    mu = _real(mean, "mean", "normal_")
    sigma = _real(std, "std", "normal_", "nonneg")
    return _fill(arr, rng, "normal_", fills.normal(mu, sigma))


@_doc
def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with draws from N(mean, std^2) truncated to [a, b].

    Sampled exactly (by rejection from a normal, uniform or exponential
    proposal, whichever fits the window) for any window: around the mean,
    narrow, or far out in a tail, where torch's sampler warns that "the
    distribution of values may be incorrect" and fastact's needs no warning.

    Parameters
    ----------
    <tensor>
    mean : float
    std : float
        Finite and > 0.
    a, b : float
        The window, a <= b; either may be infinite (a == b fills a).
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.trunc_normal_((1000,), std=0.02, a=-0.04, b=0.04, rng=0)
    >>> bool(((w >= -0.04) & (w <= 0.04)).all())
    True
    >>> tail = init.trunc_normal_((1000,), a=8.0, b=np.inf, rng=0, dtype=np.float64)
    >>> bool(tail.min() >= 8.0 and tail.mean() < 8.2)
    True
    """
    fname = "trunc_normal_"
    arr = _target(tensor, dtype, fname)
    mu = _real(mean, "mean", fname)
    sigma = _real(std, "std", fname, "positive")
    lo, hi = _real(a, "a", fname, "any"), _real(b, "b", fname, "any")
    if lo > hi:
        raise ValueError(f"fastact.init.{fname}: expects a <= b, got a={lo} > b={hi}")
    if lo == hi and math.isinf(lo):
        raise ValueError(f"fastact.init.{fname}: a == b == {lo} leaves no finite value to draw")
    return _fill(arr, rng, fname, fills.trunc_normal(mu, sigma, lo, hi))


def _constant(tensor, val, dtype, fname: str) -> np.ndarray:
    arr = _target(tensor, dtype, fname)
    # NaN and infinities are allowed, as torch's fill_: a constant is not a
    # parameter of a distribution
    v = (
        math.nan
        if isinstance(val, numbers.Real) and val != val
        else _real(val, "val", fname, "any")
    )
    return fills.constant(arr, v)


@_doc
def constant_(tensor: Tensor, val: float, *, dtype: DTypeLike | None = None) -> np.ndarray:
    """Fill with the value ``val``.

    Parameters
    ----------
    <tensor>
    val : float
        Any real number, NaN and infinities included.
    dtype : dtype, optional
        The new array's dtype (default float32). Only with a shape.

    <returns>

    <raises>

    Examples
    --------
    >>> from fastact import init
    >>> init.constant_((2, 3), 0.5)
    array([[0.5, 0.5, 0.5],
           [0.5, 0.5, 0.5]], dtype=float32)
    """
    return _constant(tensor, val, dtype, "constant_")


@_doc
def zeros_(tensor: Tensor, *, dtype: DTypeLike | None = None) -> np.ndarray:
    """Fill with 0.

    Parameters
    ----------
    <tensor>
    dtype : dtype, optional
        The new array's dtype (default float32). Only with a shape.

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> init.zeros_(np.ones(3))
    array([0., 0., 0.])
    """
    return _constant(tensor, 0.0, dtype, "zeros_")


@_doc
def ones_(tensor: Tensor, *, dtype: DTypeLike | None = None) -> np.ndarray:
    """Fill with 1.

    Parameters
    ----------
    <tensor>
    dtype : dtype, optional
        The new array's dtype (default float32). Only with a shape.

    <returns>

    <raises>

    Examples
    --------
    >>> from fastact import init
    >>> init.ones_(2, dtype="float64")
    array([1., 1.])
    """
    return _constant(tensor, 1.0, dtype, "ones_")


def _xavier_std(arr: np.ndarray, gain, fname: str) -> float:
    fan_in, fan_out = _fans(arr.shape, fname)
    g = _real(gain, "gain", fname, "nonneg")
    # an empty array has nothing to draw (and fan_in + fan_out may be 0)
    return g * math.sqrt(2.0 / float(fan_in + fan_out)) if arr.size else 0.0


@_doc
def xavier_uniform_(
    tensor: Tensor,
    gain: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with Glorot/Xavier uniform draws, U(-bound, bound).

    bound = gain * sqrt(6 / (fan_in + fan_out)), computed as torch does
    (sqrt(3) times the std gain * sqrt(2 / (fan_in + fan_out))).

    Parameters
    ----------
    <tensor>
        At least 2-D.
    gain : float
        Finite and >= 0 (see :func:`calculate_gain`).
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.xavier_uniform_((64, 32), rng=0)
    >>> bool(np.abs(w).max() <= np.sqrt(6 / (64 + 32)))
    True
    """
    arr = _target(tensor, dtype, "xavier_uniform_")
    bound = math.sqrt(3.0) * _xavier_std(arr, gain, "xavier_uniform_")
    low, high = _uniform_bounds(-bound, bound, arr.dtype, "xavier_uniform_")
    return _fill(arr, rng, "xavier_uniform_", fills.uniform(low, high))


@_doc
def xavier_normal_(
    tensor: Tensor,
    gain: float = 1.0,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with Glorot/Xavier normal draws, N(0, std^2).

    std = gain * sqrt(2 / (fan_in + fan_out)).

    Parameters
    ----------
    <tensor>
        At least 2-D.
    gain : float
        Finite and >= 0 (see :func:`calculate_gain`).
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.xavier_normal_(np.empty((512, 512)), rng=0)
    >>> bool(abs(w.std() - np.sqrt(2 / 1024)) < 1e-3)
    True
    """
    arr = _target(tensor, dtype, "xavier_normal_")
    std = _xavier_std(arr, gain, "xavier_normal_")
    return _fill(arr, rng, "xavier_normal_", fills.normal(0.0, std))


def _kaiming_std(arr: np.ndarray, a, mode, nonlinearity, fname: str) -> float:
    fan = _fan(arr.shape, mode, fname)
    gain = _gain(nonlinearity, a, fname)
    return gain / math.sqrt(fan) if arr.size else 0.0


@_doc
def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with He/Kaiming uniform draws, U(-bound, bound).

    bound = sqrt(3) * gain / sqrt(fan), fan = fan_in or fan_out by ``mode``,
    gain = calculate_gain(nonlinearity, a).

    Parameters
    ----------
    <tensor>
        At least 2-D.
    <kaiming>
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.kaiming_uniform_((128, 64, 3, 3), mode="fan_out", nonlinearity="relu", rng=0)
    >>> bool(np.abs(w).max() <= np.sqrt(2) * np.sqrt(3 / (128 * 9)))
    True
    """
    arr = _target(tensor, dtype, "kaiming_uniform_")
    bound = math.sqrt(3.0) * _kaiming_std(arr, a, mode, nonlinearity, "kaiming_uniform_")
    low, high = _uniform_bounds(-bound, bound, arr.dtype, "kaiming_uniform_")
    return _fill(arr, rng, "kaiming_uniform_", fills.uniform(low, high))


@_doc
def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with He/Kaiming normal draws, N(0, std^2).

    std = gain / sqrt(fan), fan = fan_in or fan_out by ``mode``,
    gain = calculate_gain(nonlinearity, a).

    Parameters
    ----------
    <tensor>
        At least 2-D.
    <kaiming>
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> w = init.kaiming_normal_(np.empty((512, 256), np.float32), nonlinearity="relu", rng=0)
    >>> bool(abs(w.std() - np.sqrt(2 / 256)) < 1e-3)
    True
    """
    arr = _target(tensor, dtype, "kaiming_normal_")
    std = _kaiming_std(arr, a, mode, nonlinearity, "kaiming_normal_")
    return _fill(arr, rng, "kaiming_normal_", fills.normal(0.0, std))


# A plain sum of squares in [2^-960, 2^1000] is exact to rounding: no square
# that matters has underflowed, none has overflowed (rows are < 2^31 long).
_SSQ_MIN, _SSQ_MAX = 2.0**-960, 2.0**1000
_REFLECT_ELEMENTS = 1 << 20  # elements per block of _reflectors' float64 temporary


def _row_norms(x: np.ndarray) -> np.ndarray:
    """The 2-norm of each row of float64 `x`, without overflow or underflow:
    a row whose plain sum of squares leaves the safe range is summed again
    divided by its largest magnitude."""
    ssq = np.einsum("ij,ij->i", x, x)
    norms = np.sqrt(ssq)
    redo = np.flatnonzero(~((ssq >= _SSQ_MIN) & (ssq <= _SSQ_MAX)))
    if redo.size:
        xs = x[redo]
        big = np.abs(xs).max(axis=1, initial=0.0)
        big[big == 0] = 1.0
        xs /= big[:, None]
        norms[redo] = np.sqrt(np.einsum("ij,ij->i", xs, xs)) * big
    return norms


def _reflectors(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn row k of `w` (n, m), n <= m, in place into the k-th Householder
    reflector as LAPACK's geqrf leaves it in column k of its matrix (here
    w.T); returns (tau, sign of R's diagonal).

    x = w[k, k:] is reflected onto beta e_1 as xLARFG does it:
    beta = -copysign(|x|, x[0]), tau = (beta - x[0]) / beta, and
    v = x[1:] / (x[0] - beta) goes to w[k, k + 1:]; where x[1:] is 0, H = I
    (tau = 0, R's diagonal is x[0]).  Norms and divisors are computed in
    float64, a block of rows at a time.  w[k, :k + 1] is left as it is
    (_accumulate does not read it) or zeroed."""
    n, m = w.shape
    tau = np.empty(n, w.dtype)
    sign = np.empty(n, w.dtype)
    step = max(1, min(n, _REFLECT_ELEMENTS // m))
    for k0 in range(0, n, step):
        k1 = min(n, k0 + step)
        alpha = np.diagonal(w[k0:k1], offset=k0).astype(np.float64)
        tail = w[k0:k1, k0 + 1 :]  # row k0 + i holds x[1:] from its column i on
        x = tail if tail.dtype == np.float64 else tail.astype(np.float64)
        tri = x[:, : k1 - k0]
        tri[...] = np.triu(tri)  # before column i: above the diagonal (ignored)
        xnorm = _row_norms(x)
        identity = xnorm == 0
        beta = np.where(identity, alpha, -np.copysign(np.hypot(alpha, xnorm), alpha))
        tau[k0:k1] = np.where(identity, 0.0, (beta - alpha) / np.where(identity, 1.0, beta))
        # |alpha - beta| = |alpha| + |beta| >= |x[j]|: no cancellation, and v
        # (in [-1, 1]) neither overflows nor loses accuracy
        x /= np.where(identity, 1.0, alpha - beta)[:, None]
        if x is not tail:
            tail[...] = x
        # torch multiplies Q by sign(diag(R)), which zeroes a column where the
        # diagonal is exactly 0 (probability 0); +1 there keeps Q orthogonal
        sign[k0:k1] = np.where(beta < 0, -1.0, 1.0)
    return tau, sign


def _wy_factor(v1t: np.ndarray, v2t: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """T of the compact WY form H_0 ... H_{b-1} = I - V T V^T (upper
    triangular) of the b reflectors whose V^T is [v1t v2t], v1t unit upper
    triangular: T^-1 = (V^T V above the diagonal) + diag(1 / tau), the UT
    transform (Joffrain et al. 2006, "Accumulating Householder
    transformations, revisited").  A reflector with tau = 0 (H = I) gets a
    zero row and column, as LAPACK's xLARFT gives it."""
    s = v2t @ v2t.T
    s += v1t @ v1t.T
    tinv = np.triu(s, 1)
    ident = np.flatnonzero(tau == 0)
    tinv[ident] = 0
    tinv[:, ident] = 0
    tinv[np.diag_indices(len(tau))] = 1 / np.where(tau == 0, 1, tau)
    t = np.linalg.inv(tinv)  # LU of a triangular matrix: no pivoting, T upper triangular
    t[ident, ident] = 0
    return t


_WY_BLOCK = 256  # reflectors applied at once: matrix products of inner size 256
_WY_PANEL = 1 << 22  # elements of the temporary of one rank-256 update


def _accumulate(w: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Q^T (n, m) of Q = H_0 ... H_{n-1} [I; 0], the reflectors as _reflectors
    leaves them in `w` (n, m), written over w; returns w.

    Blocks of _WY_BLOCK reflectors, the last first, each applied as
    I - V T V^T to the rows of Q^T formed so far, then forming its own rows.
    LAPACK's xORGQR does the same 2 n^2 (m - n/3) flops with blocks of 32
    and vector code within a block; here all but T's are products of
    matrices of inner size 256, which run near the BLAS's GEMM speed.  Row
    k of w is read as v_k before Q's column k overwrites it; what lies left
    of its diagonal is written before it is read."""
    n, m = w.shape
    for k0 in reversed(range(0, n, _WY_BLOCK)):
        k1 = min(n, k0 + _WY_BLOCK)
        v1t = np.triu(w[k0:k1, k0:k1], 1)
        np.fill_diagonal(v1t, 1)
        v2t = w[k0:k1, k1:]
        t = _wy_factor(v1t, v2t, tau[k0:k1])
        if k1 < n:
            # rows k1.. of Q^T are 0 in columns k0..k1-1: V^T's first block
            # meets zeros; those columns become -(Q^T V) T^T V1^T
            x2 = w[k1:, k1:]
            y = (x2 @ v2t.T) @ t.T
            w[k1:, k0:k1] = -y @ v1t
            rows = max(1, _WY_PANEL // (m - k1))
            for r in range(0, n - k1, rows):
                x2[r : r + rows] -= y[r : r + rows] @ v2t
        # the block's own rows: [I 0] (I - V T^T V^T) = [I - Z V1^T, -Z V2^T]
        # negated by negating the small factor: NumPy 2.4.6's in-place
        # np.negative(a, out=a) writes wrong values at some strides (float32
        # every 4th element)
        z = v1t.T @ t.T
        w[k0:k1, k1:] = -z @ v2t  # the product is formed before v2t is overwritten
        w[k0:k1, k0:k1] = np.eye(k1 - k0, dtype=w.dtype) - z @ v1t
    return w


@_doc
def orthogonal_(
    tensor: Tensor,
    gain: float = 1,
    *,
    dtype: DTypeLike | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> np.ndarray:
    """Fill with a (semi-)orthogonal matrix times ``gain``, as torch.

    The tensor is viewed as a (rows, cols) matrix, rows = size(0) and the
    trailing dimensions flattened; its rows are orthonormal when
    rows <= cols, its columns otherwise.  The matrix has torch's
    distribution: the Haar measure on the orthogonal group when square,
    the uniform distribution on orthonormal frames otherwise.

    torch factors a standard normal matrix as QR and sets the signs of Q's
    columns so that R has a positive diagonal.  The Householder reflectors
    LAPACK's geqrf builds for a normal matrix are, by the rotational
    invariance of the normal distribution, distributed as reflectors built
    from independent normal vectors of lengths m, m - 1, ... (Stewart 1980;
    Mezzadri 2007), m = max(rows, cols).  So the reflectors are built
    directly from the draws of a normal matrix (as many as ``normal_``
    makes for the array, in its type; float16 in float32), which skips the
    factorization, and Q is formed from them 256 reflectors at a time in
    matrix products (compact WY form), orthonormal to the array type's
    rounding.

    Parameters
    ----------
    <tensor>
        At least 2-D.
    gain : float
        Finite; multiplies the orthogonal matrix.
    <kw>

    <returns>

    <raises>

    Examples
    --------
    >>> import numpy as np
    >>> from fastact import init
    >>> q = init.orthogonal_((3, 5), rng=0, dtype=np.float64)
    >>> np.allclose(q @ q.T, np.eye(3))
    True
    """
    fname = "orthogonal_"
    arr = _target(tensor, dtype, fname)
    if arr.ndim < 2:
        raise ValueError(
            f"fastact.init.{fname}: Only tensors with 2 or more dimensions are "
            f"supported (shape {arr.shape})"
        )
    g = _real(gain, "gain", fname)
    gen = _rng(rng, fname)
    if arr.size == 0:
        return arr
    rows = arr.shape[0]
    cols = arr.size // rows
    cdt = fills.compute_dtype(arr.dtype)
    wide = rows <= cols
    # w (n, m), n <= m, holds the reflectors and then Q^T; when wide, Q^T
    # has the array's shape, and is formed in the array's own memory
    shape = (rows, cols) if wide else (cols, rows)
    inplace = wide and arr.flags.c_contiguous and arr.dtype == cdt
    w = arr.reshape(shape) if inplace else np.empty(shape, cdt)
    fills.fill(w, gen, fills.normal(0.0, 1.0))
    tau, sign = _reflectors(w)
    qt = _accumulate(w, tau)
    scale = sign * cdt.type(g)  # per column of Q
    q, scale = (qt, scale[:, None]) if wide else (qt.T, scale)
    if arr.flags.c_contiguous:
        np.multiply(q, scale, out=arr.reshape(rows, cols), casting="unsafe")
    else:
        np.copyto(arr, (q * scale).reshape(arr.shape), casting="unsafe")
    return arr
