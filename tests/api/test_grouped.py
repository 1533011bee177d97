"""glu and maxout (fastact/grouped.py, kernels in fastact/cpu/grouped.pyx)."""

from __future__ import annotations

import doctest

import mpmath
import numpy as np
import pytest

import fastact
from fastact import grouped as gr
from fastact.cpu import threads

torch = pytest.importorskip("torch", reason="torch is the reference for glu and maxout")

FLOATS = [np.float32, np.float64]
dtype_ids = lambda t: np.dtype(t).name  # noqa: E731


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


# ------------------------------------------------------------ references


def torch_glu(x, axis):
    """glu value and (for grad g) the gradient, by torch in float64."""
    t = _t(x.astype(np.float64)).requires_grad_(True)
    return t, torch.nn.functional.glu(t, dim=axis)


def torch_maxout(x, k, axis):
    """(values, indices as positions along the input axis) from torch.max."""
    t = _t(x)
    ax = axis % x.ndim
    n = x.shape[ax]
    v, i = t.unflatten(ax, (n // k, k)).max(ax + 1)
    start = np.arange(n // k).reshape([-1 if a == ax else 1 for a in range(x.ndim)]) * k
    return v.numpy(), i.numpy() + start


# (shape, axis) pairs: every axis of a 3-d shape, negative ones included
GLU_CASES = [((4, 6, 10), a) for a in (0, 1, 2, -1, -2, -3)] + [((12,), 0), ((3, 2, 1), 1)]


@pytest.mark.parametrize("shape,axis", GLU_CASES)
@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_glu_forward_and_backward_against_torch(dtype, shape, axis):
    rng = np.random.default_rng(10)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    t, ty = torch_glu(x, axis)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    (tg,) = torch.autograd.grad(ty, t, _t(g.astype(np.float64)))
    eps = np.finfo(dtype).eps
    # torch's float64 backward computes (1 - s) * s, whose cancellation costs
    # it about eps64 * e^|b| relative: bound the comparison by that as well
    b = np.abs(np.split(x.astype(np.float64), 2, axis=axis)[1])
    y = gr.glu(x, axis=axis)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=4 * eps, atol=0)
    gx = gr.glu_backward(g, x, axis=axis)
    assert gx.dtype == dtype and gx.shape == x.shape
    err = np.abs(gx.astype(np.float64) - tg.numpy())
    lo, hi = np.split(err, 2, axis=axis)
    tlo, thi = np.split(np.abs(tg.numpy()), 2, axis=axis)
    assert (lo <= 4 * eps * tlo).all(), "grad of the first half"
    assert (hi <= (4 * eps + np.finfo(np.float64).eps * np.exp(b)) * thi).all(), "second half"


def _assert_close(got, want, info, where):
    """got within 4 ULP of the reference want; below tiny (subnormal or
    zero) within 2 subnormals, an absolute error."""
    want = float(want)
    if abs(want) < info.tiny:
        assert abs(float(got) - want) <= 2 * info.smallest_subnormal, (where, got, want)
    else:
        assert abs(float(got) - want) <= 4 * info.eps * abs(want), (where, got, want)


def _mp_glu(a, b):
    e = mpmath.exp(-b)
    s = 1 / (1 + e)
    return a * s, s, e / (1 + e) ** 2 * a  # s' without 1 - s: exact at any precision


@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_glu_extreme_gates_against_mpmath(dtype):
    # large |b|: no overflow, and sigmoid'(b) keeps its digits where
    # torch's (1 - s) * s is 0; large and tiny a
    bs = [0.0, 1e-8, -3.5, 30.0, -30.0, 80.0, -80.0, 100.0, -100.0]
    if dtype == np.float64:
        bs += [700.0, -700.0, 740.0, -800.0, 1000.0, 1500.0]
    avals = [1.0, -2.5, 1e30, 1e-30]
    a = np.repeat(np.array(avals, dtype), len(bs))
    b = np.tile(np.array(bs, dtype), len(avals))
    x = np.concatenate([a, b])
    g = np.full(a.shape, 1.5, dtype)
    with np.errstate(all="raise"):  # no overflow/underflow warnings either
        y = gr.glu(x)
        gx = gr.glu_backward(g, x)
    info = np.finfo(dtype)
    with mpmath.workdps(60):
        for i, (ai, bi) in enumerate(zip(a, b)):
            want_y, s, ds = _mp_glu(mpmath.mpf(float(ai)), mpmath.mpf(float(bi)))
            for got, want in [(y[i], want_y), (gx[i], 1.5 * s), (gx[len(a) + i], 1.5 * ds)]:
                _assert_close(got, want, info, (ai, bi))


def _assert_glu_close(y, a, b, dtype):
    """y within 4 ULP of a * sigmoid(b) (2 subnormals where it is below tiny)."""
    info = np.finfo(dtype)
    with mpmath.workdps(40):
        for i, (ai, bi) in enumerate(zip(a, b)):
            want = _mp_glu(mpmath.mpf(float(ai)), mpmath.mpf(float(bi)))[0]
            _assert_close(y[i], want, info, (i, ai, bi))


@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_glu_blocks_on_the_short_formula_and_the_careful_one_agree(dtype):
    # The forward takes runs of 256 gates whose |b| keeps e^-|b| normal (86
    # in float32, 700 in float64) on a shorter formula (grouped.h, FG_GLU);
    # one rare gate sends its whole block to the careful loop.  Both loops
    # are held to the reference, tiny and subnormal products included, and
    # give the same bits for every normal result.
    rng = np.random.default_rng(4)
    n, block = 1024, 256
    lim, exp10 = (86.0, 30) if dtype == np.float32 else (700.0, 290)
    b = rng.uniform(-lim, lim, n).astype(dtype)
    b[:8] = [lim, -lim, 0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0]
    a = (rng.standard_normal(n) * 10.0 ** rng.uniform(-exp10, exp10, n)).astype(dtype)
    a[1] = 10.0**exp10  # a normal result from the smallest normal e^-|b|
    common = gr.glu(np.concatenate([a, b]))
    rare_b = b.copy()
    rare_b[block // 2 :: block] = [np.nan, np.inf, -np.inf, -2 * lim]
    rare = gr.glu(np.concatenate([a, rare_b]))
    normal = np.abs(common) >= np.finfo(dtype).tiny
    normal[block // 2 :: block] = False
    np.testing.assert_array_equal(common[normal], rare[normal])
    _assert_glu_close(common, a, b, dtype)
    keep = np.isfinite(rare_b)
    _assert_glu_close(rare[keep], a[keep], rare_b[keep], dtype)
    assert np.isnan(rare[block // 2]) and rare[block // 2 + block] == a[block // 2 + block]


@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_glu_special_values_match_torch(dtype):
    inf, nan = np.inf, np.nan
    a = np.array([1.0, nan, 2.0, inf, inf, -inf, 0.0, -0.0, 3.0, -1.0], dtype)
    b = np.array([nan, 0.0, inf, inf, -inf, 1.0, -inf, inf, -inf, 0.0], dtype)
    x = np.stack([a, b], axis=1)  # pairs along the last axis
    t = _t(x).requires_grad_(True)
    ty = torch.nn.functional.glu(t, dim=1)
    g = np.ones(ty.shape, dtype)
    (tg,) = torch.autograd.grad(ty, t, _t(g))
    y = gr.glu(x, axis=1)
    np.testing.assert_array_equal(y, ty.detach().numpy())  # NaN == NaN here
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty.detach().numpy()))
    np.testing.assert_array_equal(gr.glu_backward(g, x, axis=1), tg.numpy())


# --------------------------------------------------------------- maxout

# (shape, axis, k): every axis incl. negative; k = 1, the specialized
# 2, 3, 4, 8 and generic sizes; groups spanning the whole axis
MAXOUT_CASES = [
    ((5, 24), -1, 4),
    ((5, 24), 1, 3),
    ((5, 24), 1, 2),
    ((5, 24), -1, 8),
    ((5, 24), 1, 6),
    ((5, 24), 1, 24),
    ((5, 24), 1, 1),
    ((5, 24), 0, 5),
    ((6, 7, 10), 0, 3),
    ((6, 7, 10), -3, 2),
    ((6, 7, 10), 1, 7),
    ((6, 7, 10), -2, 7),
    ((6, 7, 10), 2, 5),
    ((6, 7, 10), -1, 2),
    ((40,), 0, 4),
    ((3, 2050, 2), 1, 2),
]


@pytest.mark.parametrize("shape,axis,k", MAXOUT_CASES)
@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_maxout_forward_and_backward_against_torch(dtype, shape, axis, k):
    rng = np.random.default_rng(11)
    # small integers: many ties, so "first maximum" is exercised everywhere
    x = rng.integers(-4, 5, shape).astype(dtype)
    want_v, want_i = torch_maxout(x, k, axis)
    v, i = gr.maxout(x, k, axis, return_indices=True)
    assert v.dtype == dtype and i.dtype == np.int64 and v.shape == want_v.shape
    np.testing.assert_array_equal(v, want_v)
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(gr.maxout(x, k, axis), want_v)
    # backward: autograd of torch.max over the groups
    ax = axis % x.ndim
    t = _t(x).requires_grad_(True)
    tv = t.unflatten(ax, (x.shape[ax] // k, k)).max(ax + 1).values
    g = rng.standard_normal(tv.shape).astype(dtype)
    (tg,) = torch.autograd.grad(tv, t, _t(g))
    gx = gr.maxout_backward(g, i, x.shape[ax], axis)
    assert gx.dtype == dtype and gx.shape == x.shape
    np.testing.assert_array_equal(gx, tg.numpy())


SPECIAL_GROUPS = [
    [1.0, np.nan, 3.0, np.nan],  # NaN wins: the first NaN's position
    [np.nan, 5.0, 6.0, 7.0],
    [7.0, 1.0, 2.0, np.nan],
    [np.inf, np.nan, 1.0, 1.0],
    [-np.inf, -np.inf, -np.inf, -np.inf],  # -inf, index of the first
    [-np.inf, np.inf, np.inf, 0.0],
    [2.0, 5.0, 5.0, 1.0],  # ties: the first
    [-0.0, 0.0, -1.0, -2.0],  # -0.0 first: value -0.0
    [0.0, -0.0, -1.0, -2.0],
    [-3.0, -2.0, -1.0, -0.5],
    [1e-45, -1e-300, 0.0, 5e-324],  # subnormals (float32 sees some as 0)
]


@pytest.mark.parametrize("k", [4, 2])
@pytest.mark.parametrize("dtype", FLOATS, ids=dtype_ids)
def test_maxout_special_values_match_torch(dtype, k):
    rows = np.array(SPECIAL_GROUPS, dtype)
    # the same groups along the last axis (inner == 1 kernel) and along axis
    # 0 of the transpose (column kernel); also as one long row
    for x, axis in [(rows, 1), (np.ascontiguousarray(rows.T), 0), (rows.ravel(), 0)]:
        want_v, want_i = torch_maxout(x, k, axis)
        for ret in (True, False):
            res = gr.maxout(x, k, axis, return_indices=ret)
            v = res[0] if ret else res
            np.testing.assert_array_equal(v, want_v)
            np.testing.assert_array_equal(np.signbit(v), np.signbit(want_v))
            if ret:
                np.testing.assert_array_equal(res[1], want_i)


def test_maxout_nan_in_long_generic_group():
    # generic k (not specialized), NaN late in the group, several NaNs
    x = np.arange(70.0).reshape(2, 35)
    x[0, 30] = x[0, 33] = np.nan
    x[1, 3] = np.nan
    for k in (7, 35):
        want_v, want_i = torch_maxout(x, k, 1)
        v, i = gr.maxout(x, k, 1, return_indices=True)
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(i, want_i)


# ---------------------------------------------------------------- layouts

CALLS = ["glu", "glu_backward", "maxout", "maxout_idx", "maxout_backward"]


def _call(name, x, axis, **kw):
    """Each public function on input x along axis (other inputs derived from x)."""
    if name == "glu":
        return gr.glu(x, axis, **kw)
    if name == "glu_backward":
        return gr.glu_backward(np.cos(gr.glu(x, axis)), x, axis, **kw)
    if name == "maxout":
        return gr.maxout(x, 2, axis, **kw)
    if name == "maxout_idx":
        return gr.maxout(x, 2, axis, return_indices=True, **kw)
    v, i = gr.maxout(x, 2, axis, return_indices=True)
    return gr.maxout_backward(np.cos(v), i, x.shape[axis % x.ndim], axis, **kw)


def _same(a, b):
    if isinstance(a, tuple):
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_views_and_out(name, axis):
    rng = np.random.default_rng(12)
    base = rng.standard_normal((10, 10, 8))
    x = base[::-1, 1:9, ::2]  # negative and non-unit strides
    assert not x.flags.c_contiguous
    ref = _call(name, np.ascontiguousarray(x), axis)
    _same(_call(name, x, axis), ref)
    # out=: contiguous, and a non-contiguous view, both returned as given
    if isinstance(ref, tuple):
        outs = (np.full(ref[0].shape, 7.0), np.full(ref[1].shape, -1, np.int64))
        got = _call(name, x, axis, out=outs)
        assert got[0] is outs[0] and got[1] is outs[1]
        _same(outs, ref)
        vbig = np.full(ref[0].shape + (2,), 7.0)
        got = _call(name, x, axis, out=(vbig[..., 1], None))
        assert got[0].base is vbig
        _same(got, ref)
        assert (vbig[..., 0] == 7.0).all()
    else:
        out = np.full(ref.shape, 7.0)
        assert _call(name, x, axis, out=out) is out
        _same(out, ref)
        big = np.full(ref.shape + (2,), 7.0)
        assert _call(name, x, axis, out=big[..., 1]).base is big
        _same(big[..., 1], ref)
        assert (big[..., 0] == 7.0).all()


def test_in_place_and_overlap():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((6, 8))
    g = rng.standard_normal((6, 4))
    # glu_backward into x itself
    want = gr.glu_backward(g, x)
    xc = x.copy()
    assert gr.glu_backward(g, xc, out=xc) is xc
    np.testing.assert_array_equal(xc, want)
    # ... also along a middle axis
    x3 = rng.standard_normal((3, 4, 5))
    g3 = rng.standard_normal((3, 2, 5))
    want = gr.glu_backward(g3, x3, axis=1)
    x3c = x3.copy()
    gr.glu_backward(g3, x3c, axis=1, out=x3c)
    np.testing.assert_array_equal(x3c, want)
    # maxout with k == 1 in place, and its backward into grad_output
    for axis in (0, 1):
        xc = x.copy()
        v, i = gr.maxout(x, 1, axis, return_indices=True)
        assert gr.maxout(xc, 1, axis, out=xc) is xc
        np.testing.assert_array_equal(xc, x)
        gc = g.copy()
        want = gr.maxout_backward(g, np.broadcast_to(np.arange(4), g.shape), 4)
        assert gr.maxout_backward(gc, np.arange(4).repeat(6).reshape(4, 6).T, 4, out=gc) is gc
        np.testing.assert_array_equal(gc, want)
        np.testing.assert_array_equal(i, np.indices(x.shape)[axis])
    # partial overlap of out and the input reads a copy
    buf = rng.standard_normal(40)
    want = gr.glu(buf[:20].copy())
    gr.glu(buf[:20], out=buf[5:15])
    np.testing.assert_array_equal(buf[5:15], want)
    buf = rng.standard_normal(40)
    want = gr.maxout(buf[:24].copy(), 3)
    gr.maxout(buf[:24], 3, out=buf[4:12])
    np.testing.assert_array_equal(buf[4:12], want)
    buf = rng.standard_normal(40)
    want = gr.glu_backward(buf[:10].copy(), buf[10:30].copy())
    gr.glu_backward(buf[:10], buf[10:30], out=buf[0:20])  # overlaps grad_output
    np.testing.assert_array_equal(buf[0:20], want)


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize("dtype", FLOATS)
def test_last_axis_calls_off_the_common_path(dtype):
    # glu's and maxout's last-axis call is checked in C (cpu/grouped.pyx,
    # _last_out); every array it turns down must give what the plain call gives
    rng = np.random.default_rng(14)
    x = rng.standard_normal((5, 12)).astype(dtype)
    calls = [(gr.glu, ()), (gr.maxout, (3,)), (gr.maxout, (1,))]
    for f, args in calls:
        ref = f(x, *args)
        np.testing.assert_array_equal(f(x.astype(x.dtype.newbyteorder()), *args), ref)
        np.testing.assert_array_equal(f(x.view(_Sub), *args), ref)
        np.testing.assert_array_equal(f(np.asfortranarray(x), *args), ref)
        ro = np.zeros_like(ref)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only|writeable|writable"):
            f(x, *args, out=ro)
        other = np.full(ref.shape, 5, np.float64 if dtype == np.float32 else np.float32)
        with pytest.raises(TypeError):
            f(x, *args, out=other)
        assert (other == 5).all()
        with pytest.raises(ValueError):
            f(x, *args, out=np.zeros((5, 5), dtype))
    g = rng.standard_normal((5, 6)).astype(dtype)
    ref = gr.glu_backward(g, x)
    for gv, xv in [
        (g.astype(g.dtype.newbyteorder()), x),
        (g, x.astype(x.dtype.newbyteorder())),
        (g.view(_Sub), x),
        (np.asfortranarray(g), x),
    ]:
        np.testing.assert_array_equal(gr.glu_backward(gv, xv).astype(dtype), ref)
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only|writeable|writable"):
        gr.glu_backward(g, x, out=ro)
    with pytest.raises(ValueError, match="grad_output"):
        gr.glu_backward(g[:, :5], x)
    # out over grad_output and x at once: read from copies
    buf = np.concatenate([g.ravel(), x.ravel()]).astype(dtype)
    gr.glu_backward(
        buf[:30].reshape(g.shape), buf[30:].reshape(x.shape), out=buf[:60].reshape(x.shape)
    )
    np.testing.assert_array_equal(buf[:60].reshape(x.shape), ref)
    with pytest.raises(ValueError, match="odd"):
        gr.glu(x[:, :11])
    with pytest.raises(ValueError, match="k=5"):
        gr.maxout(x, 5)
    with pytest.raises(ValueError, match="k=0"):
        gr.maxout(x, 0)


def test_shapes_and_dtypes():
    # empty axes and arrays, 0-d, float16 and integer promotion
    assert gr.glu(np.empty((0, 4))).shape == (0, 2)
    assert gr.glu(np.empty((3, 0)), axis=1).shape == (3, 0)
    assert gr.maxout(np.empty((3, 0)), 5).shape == (3, 0)
    v, i = gr.maxout(np.empty((0, 6)), 3, return_indices=True)
    assert v.shape == i.shape == (0, 2)
    assert gr.maxout_backward(np.empty((3, 0)), np.empty((3, 0), np.int64), 0).shape == (3, 0)
    assert gr.maxout(np.float64(2.5), 1) == 2.5 and gr.maxout(np.float64(2.5), 1).shape == ()
    assert gr.maxout_backward(np.float64(2.0), np.int64(0), 1).shape == ()
    with pytest.raises(ValueError, match="odd"):
        gr.glu(np.float64(1.0))
    x = np.array([[1.0, -2.0, 0.0, 3.0], [4.0, 4.0, -1.0, 0.0]])  # exact as ints
    for f in (
        lambda a: gr.glu(a),
        lambda a: gr.maxout(a, 2),
        lambda a: gr.glu_backward(a[:, :2], a),
        lambda a: gr.maxout_backward(a[:, :2], np.array([[1, 3], [0, 2]]), 4),
    ):
        h = f(x.astype(np.float16))
        assert h.dtype == np.float16
        np.testing.assert_array_equal(h, f(x.astype(np.float32)).astype(np.float16))
        i = f(x.astype(np.int32))
        assert i.dtype == np.float64
        np.testing.assert_array_equal(i, f(x))
        assert f(x > 0).dtype == np.float64
    v, i = gr.maxout(x.astype(np.float16), 2, return_indices=True)
    assert i.dtype == np.int64
    # mixed gradient dtypes promote: float32 grad, float64 x -> float64
    assert gr.glu_backward(np.ones((2, 2), np.float32), x).dtype == np.float64
    x0 = x.copy()
    gr.maxout(x, 2, 0)
    gr.glu(x, 0)
    np.testing.assert_array_equal(x, x0)  # input untouched


# ------------------------------------------------------------- bad input


def test_bad_input_messages():
    x = np.zeros((3, 7))
    with pytest.raises(ValueError, match=r"axis -1.*length 7"):
        gr.glu(x)
    with pytest.raises(ValueError, match=r"axis 0.*length 3"):
        gr.glu_backward(np.zeros((1, 7)), x, axis=0)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 3\)"):
        gr.glu_backward(np.zeros((3, 2)), np.zeros((3, 6)))
    with pytest.raises(TypeError, match="complex128"):
        gr.glu(x.astype(complex))
    with pytest.raises(np.exceptions.AxisError):
        gr.maxout(x, 1, axis=2)
    with pytest.raises(ValueError, match=r"n=7.*k=3"):
        gr.maxout(x, 3)
    with pytest.raises(ValueError, match=r"k=0.*n=7"):
        gr.maxout(x, 0)
    with pytest.raises(ValueError, match=r"k=-2"):
        gr.maxout(x, -2)
    for bad_k in (1.5, True, "2", 2.0, None):
        with pytest.raises(TypeError, match="k must be an integer"):
            gr.maxout(x, bad_k)
    assert gr.maxout(x, np.int64(7)).shape == (3, 1)  # numpy integers are fine


def test_maxout_backward_rejects_bad_indices_before_writing():
    x = np.arange(24.0).reshape(2, 12)
    v, i = gr.maxout(x, 3, return_indices=True)  # i: shape (2, 4)
    g = np.ones_like(v)
    out = np.full(x.shape, 9.0)

    def check(exc, pattern, idx=i, n=12, **kw):
        with pytest.raises(exc, match=pattern):
            gr.maxout_backward(g, idx, n, out=out, **kw)
        assert (out == 9.0).all()

    bad = i.copy()
    bad[1, 2] = 12  # out of range
    check(ValueError, r"indices\[1, 2\] = 12 .*\[6, 9\)", bad)
    bad = i.copy()
    bad[0, 3] = -1
    check(ValueError, r"indices\[0, 3\] = -1", bad)
    bad = i.copy()
    bad[1, 1] = 2  # in range, not in its group
    check(ValueError, r"indices\[1, 1\] = 2 .*\[3, 6\)", bad)
    # torch's within-group indices are not positions of the input
    check(ValueError, r"indices\[0, 1\] = 2 .*\[3, 6\)", i % 3)
    check(TypeError, "float64", i.astype(float))
    check(TypeError, "bool", np.zeros(i.shape, bool))
    check(ValueError, r"\(4, 2\).*\(2, 4\)", i.T)
    check(ValueError, r"n=13.*4", n=13)
    check(ValueError, r"n=0", n=0)
    check(TypeError, "n must be an integer", n=12.0)
    bad = i.astype(np.uint64)
    bad[0, 0] = 2**64 - 1
    check(ValueError, str(2**64 - 1), bad)
    # a middle axis names the index in the caller's coordinates
    x3 = np.zeros((2, 6, 3))
    v3, i3 = gr.maxout(x3, 2, axis=1, return_indices=True)
    i3[1, 2, 1] = 0
    with pytest.raises(ValueError, match=r"indices\[1, 2, 1\] = 0 .*\[4, 6\)"):
        gr.maxout_backward(np.ones(v3.shape), i3, 6, axis=1)


@pytest.mark.parametrize("name", CALLS)
def test_wrong_out_raises_before_writing(name):
    x = np.ones((4, 6))
    ref = _call(name, x, 1)
    shape = (ref[0] if isinstance(ref, tuple) else ref).shape
    wrong_shape = np.full((shape[0] + 1, shape[1]), 5.0)
    wrong_dtype = np.full(shape, 5, np.float32)
    if isinstance(ref, tuple):
        outs = [
            (wrong_shape, None),
            (wrong_dtype, None),
            (None, np.zeros(shape, np.int32)),
            (None, np.zeros((1, 1), np.int64)),
        ]
        excs = [ValueError, TypeError, TypeError, ValueError]
        for o, e in zip(outs, excs):
            with pytest.raises(e, match=r"shape|dtype"):
                _call(name, x, 1, out=o)
        with pytest.raises(TypeError, match="tuple"):
            _call(name, x, 1, out=np.zeros(shape))
    else:
        with pytest.raises(ValueError, match=rf"\({shape[0] + 1}, {shape[1]}\)"):
            _call(name, x, 1, out=wrong_shape)
        with pytest.raises(TypeError, match="float32"):
            _call(name, x, 1, out=wrong_dtype)
        ro = np.zeros(shape)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            _call(name, x, 1, out=ro)
    assert (wrong_shape == 5.0).all() and (wrong_dtype == 5).all()


# --------------------------------------------------------------- threads


@pytest.mark.parametrize("name", CALLS)
@pytest.mark.parametrize("axis", [0, 1])
def test_thread_count_does_not_change_bits(name, axis, monkeypatch):
    x = np.random.default_rng(14).standard_normal((512, 1024)).astype(np.float32)
    x[::7, ::5] = np.nan
    monkeypatch.setattr(threads, "_num_threads", 1)
    one = _call(name, x, axis)
    monkeypatch.setattr(threads, "_num_threads", 4)
    many = _call(name, x, axis)
    _same(one, many)


# ------------------------------------------------------------------ docs


def test_docstring_examples_run(monkeypatch):
    # the examples call fastact.NAME; the package exports these names
    for name in gr.__all__:
        monkeypatch.setattr(fastact, name, getattr(gr, name), raising=False)
    res = doctest.testmod(gr, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 8 and res.failed == 0
    for name in gr.__all__:
        doc = getattr(gr, name).__doc__
        for section in ("Parameters", "Returns", "Examples"):
            assert section in doc, (name, section)
