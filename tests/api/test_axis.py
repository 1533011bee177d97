"""The softmax family over an axis (Cython fused-type kernels in cpu/axis.pyx)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np
import pytest

from fastact import axis as sm
from fastact.cpu import axis as kernels
from fastact.cpu import threads


@dataclass(frozen=True)
class AxisCase:
    name: str
    forward: Callable
    backward: Callable
    torch_name: str
    mp_row: Callable  # exact forward of one row (list of mpf) -> list of mpf

    def __str__(self):
        return self.name


def _mp_softmax(row):
    m = max(row)
    e = [mpmath.exp(v - m) for v in row]
    s = mpmath.fsum(e)
    return [v / s for v in e]


def _mp_log_softmax(row):
    m = max(row)
    lse = m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in row))
    return [v - lse for v in row]


CASES = [
    AxisCase("softmax", sm.softmax, sm.softmax_backward, "softmax", _mp_softmax),
    AxisCase(
        "log_softmax", sm.log_softmax, sm.log_softmax_backward, "log_softmax", _mp_log_softmax
    ),
    AxisCase(
        "softmin",
        sm.softmin,
        sm.softmin_backward,
        "softmin",
        lambda row: _mp_softmax([-v for v in row]),
    ),
]
FLOATS = [np.float32, np.float64]


def _mp_reference(case, x2d):
    with mpmath.workdps(40):
        return np.array(
            [[float(v) for v in case.mp_row([mpmath.mpf(float(t)) for t in r])] for r in x2d]
        )


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_against_mpmath(case, dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((6, 37)) * 5, rng.uniform(-90, 90, (2, 37))])
    x = x.astype(dtype)
    ref = _mp_reference(case, x.astype(np.float64))
    got = case.forward(x).astype(np.float64)
    # exp(x - max) inherits the rounding of x - max, amplified by |x - max|
    # (for every implementation, torch's included), on top of a few ULP for
    # the exp, the sum and the division
    eps = np.finfo(dtype).eps
    xm = x.astype(np.float64)
    spread = (
        np.abs(xm - xm.max(axis=-1, keepdims=True))
        if not sm.ROWS[case.name][0]
        else np.abs(xm - xm.min(axis=-1, keepdims=True))
    )
    bound = eps * (4 + spread)
    if sm.ROWS[case.name][1] == kernels.LOG_SOFTMAX:  # an absolute error for log-probabilities
        err = np.abs(got - ref)
        bound = bound * np.maximum(1.0, np.abs(ref))
    else:  # relative where the true result is normal, absolute below
        tiny = np.finfo(dtype).tiny
        err = np.abs(got - ref) / np.maximum(np.abs(ref), tiny)
    worst = np.unravel_index(np.argmax(err / bound), err.shape)
    assert (err <= bound).all(), f"error {err[worst]:.3g} > {bound[worst]:.3g} at x={x[worst]}"


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_against_torch(case, dtype, axis):
    torch = pytest.importorskip("torch", reason="torch baseline not installed")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 6, 7)) * 3).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = getattr(torch.nn.functional, case.torch_name)(t, dim=axis)
    (tg,) = torch.autograd.grad(ty, t, torch.from_numpy(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    y = case.forward(x, axis=axis)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(case.backward(g, y, axis=axis), tg.numpy(), **tol)


SPECIAL_ROWS = [
    [-np.inf, -np.inf, -np.inf],  # all -inf: NaN (as torch)
    [np.inf, 0.0, 1.0],  # +inf: NaN
    [np.nan, 0.0, 1.0],  # NaN spreads over its row
    [-np.inf, 0.0, 1.0],  # -inf entries give 0 (log_softmax: -inf)
    [1000.0, 0.0, -1000.0],  # no overflow after subtracting the max
    [-0.0, 0.0, -0.0],
    [1e-45, -1e-310, 0.0],  # subnormals
    [3.0e38, 1.0e38, -3.0e38],  # near the float maximum: no overflow, exact 0s
    [1e9, 1e9 - 64, 0.0],  # a large max whose neighbours still count
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_special_values_match_torch(case, dtype):
    torch = pytest.importorskip("torch", reason="torch baseline not installed")
    rng = np.random.default_rng(5)
    short = np.array(SPECIAL_ROWS, dtype=dtype)
    # the same rows padded to 37 (vector body plus a tail) with ordinary values
    long = np.concatenate([short, rng.standard_normal((len(short), 34))], axis=1).astype(dtype)
    long = rng.permuted(long, axis=1)
    for x in (short, long):
        want = getattr(torch.nn.functional, case.torch_name)(torch.from_numpy(x), dim=-1).numpy()
        # last axis (row kernel) and the same data down axis 0 (column kernel)
        for got in (case.forward(x), case.forward(np.ascontiguousarray(x.T), axis=0).T):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_layouts_and_out(case):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((4, 9, 6))
    x = base[::-1, ::2, 1:]  # negative and non-unit strides
    ref = case.forward(np.ascontiguousarray(x), axis=1)
    np.testing.assert_array_equal(case.forward(x, axis=1), ref)
    out = np.full(x.shape, 7.0)
    assert case.forward(x, axis=1, out=out) is out
    np.testing.assert_array_equal(out, ref)
    xc = x.copy()
    assert case.forward(xc, axis=1, out=xc) is xc  # in place
    np.testing.assert_array_equal(xc, ref)
    # partial overlap of out and x reads a copy
    buf = rng.standard_normal(20)
    want = case.forward(buf[:10].copy())
    case.forward(buf[:10], out=buf[5:15])
    np.testing.assert_array_equal(buf[5:15], want)
    # backward in place into grad_output and into y
    g = rng.standard_normal(ref.shape)
    want = case.backward(g, ref, axis=1)
    g2 = g.copy()
    case.backward(g2, ref, axis=1, out=g2)
    np.testing.assert_array_equal(g2, want)
    y2 = ref.copy()
    case.backward(g, y2, axis=1, out=y2)
    np.testing.assert_array_equal(y2, want)


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_last_axis_calls_off_the_common_path(case, dtype):
    # the last-axis call is checked in C (cpu/axis.pyx, _last_axis); every
    # array it turns down must give what the plain call gives
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 33)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    ref, dref = case.forward(x), case.backward(g, case.forward(x))
    swapped = x.astype(x.dtype.newbyteorder())
    np.testing.assert_array_equal(case.forward(swapped), ref)
    np.testing.assert_array_equal(case.forward(x.view(_Sub)), ref)
    np.testing.assert_array_equal(case.backward(g.view(_Sub), ref), dref)
    np.testing.assert_array_equal(case.backward(g.astype(g.dtype.newbyteorder()), ref), dref)
    # out read-only: an error naming it, nothing written
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only|writeable|writable"):
        case.forward(x, out=ro)
    with pytest.raises(ValueError, match="read-only|writeable|writable"):
        case.backward(g, ref, out=ro)
    # out overlapping grad_output in part: the backward reads a copy
    buf = np.concatenate([g.ravel(), g.ravel()])
    gv = buf[: g.size].reshape(g.shape)
    case.backward(gv, ref, out=buf[3 : 3 + g.size].reshape(g.shape))
    np.testing.assert_array_equal(buf[3 : 3 + g.size].reshape(g.shape), dref)
    # out of another dtype: the general path's error, nothing written
    other = np.float64 if dtype == np.float32 else np.float32
    out = np.full(x.shape, 5, other)
    with pytest.raises(TypeError):
        case.forward(x, out=out)
    assert (out == 5).all()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_shapes_and_dtypes(case):
    assert case.forward(np.float64(3.0)).shape == ()
    assert case.forward(np.empty((0, 4))).shape == (0, 4)
    assert case.forward(np.empty((3, 0)), axis=0).shape == (3, 0)
    h = case.forward(np.array([1.0, 2.0], np.float16))
    assert h.dtype == np.float16
    np.testing.assert_array_equal(
        h, case.forward(np.array([1.0, 2.0], np.float32)).astype(np.float16)
    )
    i = case.forward(np.arange(5))
    assert i.dtype == np.float64
    np.testing.assert_array_equal(i, case.forward(np.arange(5.0)))
    x = np.arange(6.0).reshape(2, 3)
    x0 = x.copy()
    case.forward(x, axis=0)
    np.testing.assert_array_equal(x, x0)  # input untouched


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input(case):
    x = np.zeros((2, 3))
    with pytest.raises(np.exceptions.AxisError, match="2"):
        case.forward(x, axis=2)
    with pytest.raises(TypeError, match="axis"):
        case.forward(x, axis=1.5)
    with pytest.raises(TypeError, match="complex128"):
        case.forward(x.astype(complex))
    out = np.full((3, 2), 5.0)
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        case.forward(x, out=out)
    assert (out == 5.0).all()
    with pytest.raises(TypeError, match="float32"):
        case.forward(x, out=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        case.backward(x, x.T)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_thread_count_does_not_change_bits(case, monkeypatch):
    x = np.random.default_rng(3).standard_normal((512, 256)).astype(np.float32)
    monkeypatch.setattr(threads, "_num_threads", 1)
    one = case.forward(x)
    monkeypatch.setattr(threads, "_num_threads", 4)
    many = case.forward(x)
    np.testing.assert_array_equal(one, many)
