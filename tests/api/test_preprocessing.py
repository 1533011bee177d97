"""minmax_scale, standardize and normalize, and their two-phase (statistics,
apply) API in fastact.preprocessing.

References: mpmath (50 digits) for accuracy in ULP, exact rational sums for
the moments of offset data, scikit-learn (``minmax_scale``, ``scale``,
``normalize``) and torch (``nn.functional.normalize``) for agreement.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastact
from fastact import preprocessing as pp

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = [F32, F64]

# name -> (one-shot function, statistics function, apply function, stats class)
FUNCS = {
    "minmax_scale": (fastact.minmax_scale, pp.minmax_stats, pp.minmax_apply, pp.MinMax),
    "standardize": (fastact.standardize, pp.moment_stats, pp.standardize_apply, pp.Moments),
    "normalize": (fastact.normalize, pp.norm_stats, pp.normalize_apply, pp.PNorm),
}
NAMES = list(FUNCS)


def one_shot(name, x, axis, **kw):
    return FUNCS[name][0](x, axis=axis, **kw)


def stats_of(name, x, axis, **kw):
    p = kw.get("p")
    return FUNCS[name][1](x, p=p, axis=axis) if p is not None else FUNCS[name][1](x, axis=axis)


def apply_kw(kw):
    return {k: v for k, v in kw.items() if k != "p"}


def two_phase(name, x, axis, **kw):
    return FUNCS[name][2](x, stats_of(name, x, axis, **kw), **apply_kw(kw))


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes))


def per_slice(f, x, axis):
    """Apply f (1-D array of float64 -> 1-D array of mpf or float) to each
    slice of x along `axis`; returns a float64 array of x's shape."""
    axes = _axes(axis, x.ndim)
    keep = [i for i in range(x.ndim) if i not in axes]
    xt = np.transpose(x.astype(F64), keep + list(axes))
    rows = xt.reshape(-1, math.prod(x.shape[a] for a in axes) if axes else 1)
    res = np.array([[float(v) for v in f(r)] for r in rows]).reshape(xt.shape)
    return np.transpose(res, np.argsort(keep + list(axes)))


def mp_reference(name, x, axis, **kw):
    """High-precision result of `name` (what the float output should round from)."""
    import mpmath

    mp = mpmath.mp
    mp.dps = 50

    def minmax(r):
        a, b = kw.get("feature_range", (0, 1))
        vals = [v for v in r if not math.isnan(v)]
        lo, hi = min(vals), max(vals)
        return [
            math.nan
            if math.isnan(v)
            else (
                mp.mpf(a)
                if hi == lo
                else mp.mpf(a) + (mp.mpf(v) - lo) / (mp.mpf(hi) - lo) * (mp.mpf(b) - a)
            )
            for v in r
        ]

    def standardize(r):
        ddof, eps = kw.get("ddof", 0), kw.get("eps", 0.0)
        vals = [mp.mpf(v) for v in r if not math.isnan(v)]
        mean = mp.fsum(vals) / len(vals)
        den = mp.sqrt(mp.fsum((v - mean) ** 2 for v in vals) / (len(vals) - ddof) + eps)
        return [
            math.nan if math.isnan(v) else (0 if den == 0 else (mp.mpf(v) - mean) / den) for v in r
        ]

    def normalize(r):
        p, eps = kw.get("p", 2), kw.get("eps", 1e-12)
        if p == math.inf:
            norm = max(abs(mp.mpf(v)) for v in r)
        else:
            norm = mp.fsum(abs(mp.mpf(v)) ** p for v in r) ** (mp.mpf(1) / p)
        return [mp.mpf(v) / max(norm, eps) for v in r]

    return per_slice(
        {"minmax_scale": minmax, "standardize": standardize, "normalize": normalize}[name], x, axis
    )


def ulp_error(y, ref, dtype, floor):
    """|y - ref| in units of the spacing of `dtype` at max(|ref|, floor)."""
    scale = np.maximum(np.abs(ref), floor)
    return np.max(
        np.abs(y.astype(F64) - ref) / np.spacing(scale.astype(dtype)).astype(F64), initial=0.0
    )


def floor(name, x, axis, **kw):
    """The scale at which an output's error is measured.

    [0, 1] is measured at 1 (absolute error).  A z-score (x - mean) / std is
    measured at max(1, |mean| / std): the mean is held in float64, so its
    rounding, up to half an ULP of the mean, is an error of that size in
    x - mean.  normalize's output is a quotient, accurate relative to itself."""
    if name == "normalize":
        return 1e-300
    if name == "minmax_scale":
        return 1.0
    s = pp.moment_stats(x, axis)
    std = np.sqrt(s.var(kw.get("ddof", 0)) + kw.get("eps", 0.0))
    return np.maximum(1.0, np.abs(s.mean) / np.where(std > 0, std, np.inf))


def assert_close_ulp(y, want, n):
    """Within n ULP of max(|want|, 1) (NaN where want is NaN)."""
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    err = np.abs(y[ok].astype(F64) - want[ok]) / np.spacing(np.maximum(np.abs(want[ok]), 1))
    assert np.all(err <= n), np.max(err)


def sample(shape, dtype, seed=0, offset=0.0, spread=3.0):
    rng = np.random.default_rng(seed)
    return (offset + spread * rng.standard_normal(shape)).astype(dtype)


# --------------------------------------------------------------------------
# accuracy against a 50-digit reference

ACCURACY_CASES = [
    ("minmax_scale", {}),
    ("minmax_scale", {"feature_range": (-1, 3)}),
    ("standardize", {}),
    ("standardize", {"ddof": 1}),
    ("standardize", {"eps": 0.5}),
    ("normalize", {}),
    ("normalize", {"p": 1}),
    ("normalize", {"p": 3}),
    ("normalize", {"p": math.inf}),
    ("normalize", {"p": 2.5}),
]
# the worst error measured, with a margin, in ULP of the output dtype
ULP_BOUND = {F32: 1.0, F64: 4.0}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("name,kw", ACCURACY_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_accuracy_against_mpmath(name, kw, axis, dtype, offset):
    x = sample((6, 40), dtype, seed=1, offset=offset)
    y = one_shot(name, x, axis, **kw)
    assert y.dtype == dtype
    err = ulp_error(y, mp_reference(name, x, axis, **kw), dtype, floor(name, x, axis, **kw))
    assert err <= ULP_BOUND[dtype], f"{err} ULP"


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_long_reductions_accurate(dtype):
    """300k-element slices cross many chunks and merge: still within the bound.

    Reference in float64 with math.fsum (exact sums, one rounding) -- enough
    for a float32 output; for float64 the mean and m2 are checked exactly."""
    x = sample(300_001, dtype, seed=2, offset=10.0)
    v = [Fraction(float(t)) for t in x]
    mean = sum(v) / len(v)
    m2 = sum((t - mean) ** 2 for t in v)
    s = pp.moment_stats(x)
    assert s.count.item() == len(v)
    assert abs(Fraction(s.mean.item()) - mean) <= 2 * Fraction(np.spacing(float(mean)))
    # float32 input: one pass with exact squares but plain sums, far beyond
    # what a float32 result needs; float64: two passes, compensated
    assert abs(Fraction(s.m2.item()) / m2 - 1) < (1e-12 if dtype == F32 else 4e-15)
    n2 = math.sqrt(math.fsum(float(t) ** 2 for t in x.astype(F64)))
    assert abs(pp.norm_stats(x, axis=None).norm().item() / n2 - 1) < 4e-15
    n1 = math.fsum(abs(float(t)) for t in x.astype(F64))
    assert abs(pp.norm_stats(x, p=1, axis=None).norm().item() / n1 - 1) < 4e-15


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_offset_data_no_cancellation(dtype, axis):
    """1e8 + small noise: the textbook E[x^2] - E[x]^2 loses every digit here;
    the moments must match exact rational arithmetic."""
    rng = np.random.default_rng(3)
    noise = 100.0 if dtype == F32 else 1e-3  # float32 spacing at 1e8 is 8
    x = (1e8 + noise * rng.standard_normal((50, 41))).astype(dtype)
    s = pp.moment_stats(x, axis)
    axes = _axes(axis, 2)
    keep = [i for i in range(2) if i not in axes]
    rows = np.transpose(x, keep + list(axes)).reshape(-1, math.prod(x.shape[a] for a in axes))
    for row, mean_k, m2_k in zip(rows, s.mean.reshape(-1), s.m2.reshape(-1)):
        v = [Fraction(float(t)) for t in row]
        mean = sum(v) / len(v)
        m2 = sum((t - mean) ** 2 for t in v)
        assert abs(Fraction(float(mean_k)) - mean) <= Fraction(np.spacing(1e8))
        assert abs(Fraction(float(m2_k)) / m2 - 1) < 1e-12
    y = fastact.standardize(x, axis)
    err = ulp_error(y, mp_reference("standardize", x, axis), dtype, floor("standardize", x, axis))
    assert err <= ULP_BOUND[dtype]


def test_huge_and_tiny_norms_float64():
    """Sums of squares would overflow (1e200) or underflow (1e-200)."""
    for scale in (1e200, 1e-200, 1e-310):
        x = np.array([[3.0, 4.0], [-6.0, 8.0]]) * scale
        y = fastact.normalize(x, eps=1e-320)
        np.testing.assert_allclose(y, [[0.6, 0.8], [-0.6, 0.8]], rtol=4e-16)
        np.testing.assert_allclose(pp.norm_stats(x).norm(), [[5 * scale], [10 * scale]], rtol=4e-16)
    x = np.array([1e30, 2e30], dtype=F32)  # |x|^12 overflows float64
    a, b = (float(v) for v in x)
    np.testing.assert_allclose(
        pp.norm_stats(x, p=12).norm(), [b * (1 + (a / b) ** 12) ** (1 / 12)], rtol=1e-15
    )


# --------------------------------------------------------------------------
# agreement with scikit-learn and torch


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("axis", [0, 1])
def test_against_scikit_learn(dtype, axis):
    skp = pytest.importorskip(
        "sklearn.preprocessing", reason="scikit-learn not installed (pip install '.[test]')"
    )
    x = sample((300, 17), dtype, seed=4, offset=2.0)
    x[::7, 3] = np.nan  # scikit-learn's minmax_scale and scale skip NaN
    tol = 8 * np.finfo(dtype).eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own centering warnings
        np.testing.assert_allclose(
            fastact.minmax_scale(x, axis), skp.minmax_scale(x, axis=axis), atol=tol, rtol=0
        )
        np.testing.assert_allclose(
            fastact.minmax_scale(x, axis, feature_range=(-2, 5)),
            skp.minmax_scale(x, (-2, 5), axis=axis),
            atol=7 * tol,
            rtol=0,
        )
        np.testing.assert_allclose(
            fastact.standardize(x, axis), skp.scale(x, axis=axis), atol=4 * tol, rtol=0
        )
    xf = np.nan_to_num(x)
    # scikit-learn's normalize names the axis of each sample: axis=1 means rows
    for p, norm in [(1, "l1"), (2, "l2"), (math.inf, "max")]:
        np.testing.assert_allclose(
            fastact.normalize(xf, p=p, axis=axis),
            skp.normalize(xf, norm=norm, axis=axis),
            rtol=tol,
            atol=0,
        )


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("p", [1, 2, 3, 0.5 + 1, math.inf])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_normalize_against_torch(dtype, p, axis):
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    x = sample((5, 6, 7), dtype, seed=5)
    x[0, 0, :] = 0.0  # a zero slice: divided by eps, stays 0
    x[1, 2, 3] = np.nan  # NaN spreads over its slice
    x[2, 1, 1] = np.inf  # inf: norm inf, finite entries 0, itself NaN
    x[3, :, :] = 1e-14  # norm below eps
    want = torch.nn.functional.normalize(torch.from_numpy(x), p=p, dim=axis).numpy()
    got = fastact.normalize(x, p=p, axis=axis)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=6 * np.finfo(dtype).eps, atol=0)


# --------------------------------------------------------------------------
# semantics: constant slices, NaN, infinities


@pytest.mark.parametrize("dtype", FLOATS + [F16], ids=str)
def test_constant_slices(dtype):
    # 0.1 three times: its naive float64 mean is not 0.1, so a naive
    # (x - mean) / std would give +-1 instead of 0
    x = np.array([[0.1, 0.1, 0.1], [7.0, 7.0, 7.0], [1.0, 2.0, 3.0]], dtype=dtype)
    np.testing.assert_array_equal(fastact.minmax_scale(x, 1, feature_range=(-2, 5))[:2], -2)
    np.testing.assert_array_equal(fastact.standardize(x, 1)[:2], 0)
    np.testing.assert_array_equal(fastact.standardize(x, 1, eps=1e-3)[:2], 0)
    np.testing.assert_array_equal(fastact.normalize(np.zeros((2, 3), dtype)), 0)
    big = np.full(100_003, 0.1, dtype)  # many chunks and lanes, merged
    assert pp.moment_stats(big).m2.item() == 0
    np.testing.assert_array_equal(fastact.standardize(big), 0)
    np.testing.assert_array_equal(fastact.minmax_scale(big), 0)


def test_constant_slices_merge_exactly():
    parts = [np.full(n, 0.1) for n in (3, 10, 7)]
    s = pp.moment_stats(parts[0])
    for p in parts[1:]:
        s = s.merge(pp.moment_stats(p))
    assert s.m2.item() == 0 and s.mean.item() == 0.1 and s.count.item() == 20


@pytest.mark.parametrize("name", ["minmax_scale", "standardize"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_nan_is_missing(name, dtype):
    """As scikit-learn: NaN left out of the statistics, kept in the output."""
    x = sample((4, 9), dtype, seed=6)
    x[0, ::3] = np.nan
    x[1, :] = np.nan  # a slice with no value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning for the all-NaN slice
        y = one_shot(name, x, 1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    ok = ~np.isnan(x[0])
    np.testing.assert_allclose(
        y[0, ok], one_shot(name, x[0, ok], None), atol=2 * np.finfo(dtype).eps
    )


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "x",
    [
        np.full((3, 4), np.nan),
        np.zeros((3, 4)),
        np.empty((0, 4)),
        np.array([[np.nan, 1.0, 1e308, -1e308]]),
        np.array([[5e-324, 0.0, -5e-324, 1e-310]]),
    ],
    ids=["all-nan", "zeros", "empty", "huge", "subnormal"],
)
def test_no_floating_point_warnings(name, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for axis in (None, 0, 1):
            try:
                one_shot(name, x, axis)
            except ValueError as e:  # the spread of +-1e308 overflows
                assert "overflows" in str(e)


@pytest.mark.parametrize("name", ["minmax_scale", "standardize"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinity_raises_naming_the_slice(name, bad):
    x = sample((3, 5), F64, seed=7)
    x[2, 1] = bad
    out = np.full_like(x, 5.0)
    with pytest.raises(ValueError, match=r"index \(2, 0\).*infinite"):
        one_shot(name, x, 1, out=out)
    np.testing.assert_array_equal(out, 5.0)  # nothing written
    one_shot(name, x[:2], 1)  # the other slices are fine


def test_spread_overflow_raises():
    x = np.array([-1e308, 1e308])
    with pytest.raises(ValueError, match="overflows"):
        fastact.minmax_scale(x)


# --------------------------------------------------------------------------
# one-shot = two-phase = chunked

CASES = [
    ("minmax_scale", {}),
    ("minmax_scale", {"feature_range": (-1, 2)}),
    ("standardize", {}),
    ("standardize", {"ddof": 1, "eps": 1e-3}),
    ("normalize", {}),
    ("normalize", {"p": 1}),
    ("normalize", {"p": math.inf}),
    ("normalize", {"p": 3}),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, (0, 2), (1, 2), (0, 1)])
@pytest.mark.parametrize("name,kw", CASES, ids=str)
def test_one_shot_is_two_phase(name, kw, axis, dtype):
    x = sample((9, 70, 33), dtype, seed=8, offset=1.0)
    np.testing.assert_array_equal(one_shot(name, x, axis, **kw), two_phase(name, x, axis, **kw))


def _merged(name, chunks, axis, **kw):
    s = stats_of(name, chunks[0], axis, **kw)
    for c in chunks[1:]:
        s = s.merge(stats_of(name, c, axis, **kw))
    return s


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("name,kw", CASES, ids=str)
def test_chunked_equals_one_shot(name, kw, axis, dtype):
    """Split along axis 0 in 3 uneven chunks, merge their statistics, apply
    per chunk: the one-shot result up to the rounding of the merges."""
    x = sample((100, 37, 5), dtype, seed=9, offset=5.0)
    chunks = np.split(x, [13, 71], axis=0)
    axes = _axes(axis, 3)
    if 0 in axes:
        s = _merged(name, chunks, axis, **kw)
        got = np.concatenate([FUNCS[name][2](c, s, **apply_kw(kw)) for c in chunks])
    else:  # chunks along a kept axis: each its own statistics
        got = np.concatenate([two_phase(name, c, axis, **kw) for c in chunks])
    want = one_shot(name, x, axis, **kw)
    if name == "minmax_scale":  # min and max merge exactly
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=8 * np.finfo(dtype).eps)


@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.sampled_from(NAMES),
    st.sampled_from(FLOATS),
    st.integers(0, 2**32 - 1),
)
def test_property_merge_any_split(sizes, name, dtype, seed):
    """Statistics of any split (empty pieces included), merged in order, are
    those of the whole."""
    x = sample(sum(sizes) + 1, dtype, seed=seed % 1000, offset=seed % 7 - 3)
    pieces = np.split(x, np.cumsum(sizes))
    s, whole = _merged(name, pieces, None), stats_of(name, x, None)
    for f in type(s).__dataclass_fields__:
        a, b = np.asarray(getattr(s, f)), np.asarray(getattr(whole, f))
        assert np.all(np.abs(a - b) <= 1e-13 * (1 + np.abs(b))), (f, a, b)


@given(
    arrays(
        st.sampled_from(FLOATS),
        st.tuples(st.integers(1, 5), st.integers(1, 6)),
        elements=st.floats(-1e6, 1e6, width=32),
    ),
    st.sampled_from(NAMES),
    st.sampled_from([None, 0, 1]),
)
def test_property_layout_independent(x, name, axis):
    """C order, F order, a transposed view and a reversed view give one result
    (up to the order of the additions: an F-ordered array is read in its own
    memory order)."""
    want = one_shot(name, np.ascontiguousarray(x), axis)
    for v in (np.asfortranarray(x), x[::-1, ::-1].copy()[::-1, ::-1], x.T.copy().T):
        assert_close_ulp(one_shot(name, v, axis), want, 4)


# --------------------------------------------------------------------------
# axes, layouts, out=

AXES_3D = [None, 0, 1, 2, -1, -3, (0,), (0, 1), (1, 2), (0, 2), (2, 0), (-1, 0), (0, 1, 2), ()]


@pytest.mark.parametrize("axis", AXES_3D, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_every_axis_matches_reference(name, axis):
    x = sample((4, 6, 5), F64, seed=10, offset=1.0)
    if axis == ():
        if name == "normalize":
            want = x / np.maximum(np.abs(x), 1e-12)
        else:  # every slice holds one value: constant
            want = np.zeros_like(x)
    else:
        want = mp_reference(name, x, axis)
    np.testing.assert_allclose(one_shot(name, x, axis), want, rtol=0, atol=1e-14)
    stats = stats_of(name, x, axis)
    field = next(iter(f for f in type(stats).__dataclass_fields__ if f != "p"))
    assert getattr(stats, field).shape == np.sum(x, axis=axis, keepdims=True).shape


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_views_and_layouts(name, axis, dtype):
    base = sample((40, 60), dtype, seed=11, offset=2.0)
    for v in (base[::2, 1::3], base[::-1], base[:, ::-1], base.T, np.asfortranarray(base)):
        assert_close_ulp(one_shot(name, v, axis), one_shot(name, np.ascontiguousarray(v), axis), 4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("order", ["C", "F"])
def test_out(name, axis, order):
    x = np.asarray(sample((30, 20), F32, seed=12), order=order)
    want = one_shot(name, x, axis)
    out = np.empty_like(x)
    assert one_shot(name, x, axis, out=out) is out
    np.testing.assert_array_equal(out, want)
    strided = np.empty((30, 40), F32)[:, ::2]
    assert one_shot(name, x, axis, out=strided) is strided
    np.testing.assert_array_equal(strided, want)
    y = x.copy(order="K")
    assert one_shot(name, y, axis, out=y) is y  # in place
    np.testing.assert_array_equal(y, want)
    buf = np.asarray(sample((31, 20), F32, seed=12))  # out overlapping x, shifted
    x2, o2 = buf[1:], buf[:-1]
    want2 = one_shot(name, x2.copy(), axis)
    one_shot(name, x2, axis, out=o2)
    np.testing.assert_array_equal(o2, want2)


@pytest.mark.parametrize("name", NAMES)
def test_input_never_modified(name):
    x = sample((8, 9), F64, seed=13)
    keep = x.copy()
    one_shot(name, x, 0)
    two_phase(name, x, 1)
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("name", NAMES)
def test_threads_do_not_change_results(name):
    x = sample((700, 300), F32, seed=14, offset=3.0)
    old = fastact.get_num_threads()
    try:
        res = []
        for n in (1, 2, 3):
            fastact.set_num_threads(n)
            res.append([one_shot(name, x, axis) for axis in (None, 0, 1)])
    finally:
        fastact.set_num_threads(old)
    for r in res[1:]:
        for a, b in zip(r, res[0]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(
    "name,axis", [("normalize", None), ("standardize", 1), ("minmax_scale", 0)]
)
def test_large_output_streamed(name, axis, dtype):
    """An output of 16 MiB and more is written with streaming stores (from
    its first 16-byte boundary on): the same values as in place, where it
    is not, for an aligned and a misaligned output."""
    n = (17 << 20) // dtype.itemsize
    x = sample((n // 1024, 1024), dtype, seed=17, offset=1.0)
    inplace = x.copy()
    one_shot(name, inplace, axis, out=inplace)
    np.testing.assert_array_equal(one_shot(name, x, axis), inplace)
    buf = np.empty(x.size + 1, dtype)
    out = buf[1:].reshape(x.shape)  # one element off alignment
    one_shot(name, x, axis, out=out)
    np.testing.assert_array_equal(out, inplace)


# --------------------------------------------------------------------------
# dtypes and shapes


@pytest.mark.parametrize("name", NAMES)
def test_float16_computed_in_float32(name):
    x = sample((5, 7), F16, seed=15)
    y = one_shot(name, x, 1)
    assert y.dtype == F16
    np.testing.assert_array_equal(y, one_shot(name, x.astype(F32), 1).astype(F16))
    out = np.empty_like(x)
    assert one_shot(name, x, 1, out=out) is out
    np.testing.assert_array_equal(out, y)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16, np.bool_])
def test_integers_promoted_to_float64(name, dtype):
    x = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    y = one_shot(name, x, 1)
    assert y.dtype == F64
    np.testing.assert_array_equal(y, one_shot(name, x.astype(F64), 1))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "x", [np.array([1 + 2j]), np.array(["a"]), np.array([None])], ids=["complex", "str", "object"]
)
def test_unsupported_dtypes_raise(name, x):
    with pytest.raises(TypeError, match=str(x.dtype)):
        one_shot(name, x, None)
    with pytest.raises(TypeError, match=str(x.dtype)):
        stats_of(name, x, None)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "shape,axis",
    [
        ((), None),
        ((), 0),
        ((), -1),
        ((0,), None),
        ((0,), 0),
        ((3, 0), 0),
        ((3, 0), 1),
        ((0, 4), 1),
        ((0, 4), None),
        ((1,), None),
        ((1, 1, 1), (0, 2)),
    ],
)
def test_shapes(name, shape, axis):
    x = np.full(shape, 2.5)
    y = one_shot(name, x, axis)
    assert y.shape == shape and y.dtype == F64
    expect = {"minmax_scale": 0.0, "standardize": 0.0, "normalize": 1.0}[name]
    np.testing.assert_array_equal(y, expect)


def test_empty_statistics_are_merge_identities():
    x = np.empty((0, 3))
    mm = pp.minmax_stats(x, 0)
    np.testing.assert_array_equal(mm.lo, np.full((1, 3), np.inf))
    np.testing.assert_array_equal(mm.hi, np.full((1, 3), -np.inf))
    m = pp.moment_stats(x, 0)
    assert not m.count.any() and not m.mean.any() and not m.m2.any()
    assert not pp.norm_stats(x, axis=0).norm().any()


def test_scalars_and_lists():
    assert fastact.minmax_scale([1, 2, 3]).tolist() == [0.0, 0.5, 1.0]
    assert fastact.normalize(3.0).tolist() == 1.0
    assert fastact.standardize([[1.0, 3.0]], axis=1).tolist() == [[-1.0, 1.0]]


# --------------------------------------------------------------------------
# the statistics objects


def test_moments_var():
    m = pp.moment_stats([1.0, 2.0, 3.0, 4.0])
    assert m.var().item() == 1.25 and m.var(ddof=1).item() == 5 / 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(pp.moment_stats([1.0]).var(ddof=1)).all()
    with pytest.raises(ValueError, match="ddof"):
        m.var(ddof=-1)


def test_merge_type_checks():
    a, b = pp.minmax_stats([1.0]), pp.moment_stats([1.0])
    with pytest.raises(TypeError, match="Moments"):
        a.merge(b)
    with pytest.raises(ValueError, match="2.0-norm with a 1.0-norm"):
        pp.norm_stats([1.0]).merge(pp.norm_stats([1.0], p=1))


def test_statistics_are_float64_with_keepdims():
    x = sample((3, 4, 5), F32, seed=16)
    for s in (pp.minmax_stats(x, 1), pp.moment_stats(x, 1), pp.norm_stats(x, axis=1)):
        for f in type(s).__dataclass_fields__:
            if f != "p":
                v = getattr(s, f)
                assert v.dtype == F64 and v.shape == (3, 1, 5)


# --------------------------------------------------------------------------
# bad input: every check before anything is written

X = np.linspace(0.0, 1.0, 6).reshape(2, 3)
BAD = [
    (
        "feature_range reversed",
        lambda o: fastact.minmax_scale(X, feature_range=(1, 0), out=o),
        ValueError,
        "smaller than max",
    ),
    (
        "feature_range empty",
        lambda o: fastact.minmax_scale(X, feature_range=(2, 2), out=o),
        ValueError,
        r"\(2, 2\)",
    ),
    (
        "feature_range NaN",
        lambda o: fastact.minmax_scale(X, feature_range=(np.nan, 1), out=o),
        ValueError,
        "NaN",
    ),
    (
        "feature_range not a pair",
        lambda o: fastact.minmax_scale(X, feature_range=(0, 1, 2), out=o),
        TypeError,
        "pair",
    ),
    (
        "feature_range str",
        lambda o: fastact.minmax_scale(X, feature_range=("a", 1), out=o),
        TypeError,
        "'a'",
    ),
    ("ddof negative", lambda o: fastact.standardize(X, ddof=-1, out=o), ValueError, "-1"),
    (
        "ddof >= count",
        lambda o: fastact.standardize(X, axis=1, ddof=3, out=o),
        ValueError,
        r"\(0, 0\).*has 3 values, not more than ddof=3",
    ),
    ("ddof not a number", lambda o: fastact.standardize(X, ddof="1", out=o), TypeError, "'1'"),
    ("eps negative", lambda o: fastact.standardize(X, eps=-1e-3, out=o), ValueError, "-0.001"),
    ("normalize eps 0", lambda o: fastact.normalize(X, eps=0.0, out=o), ValueError, "eps"),
    ("p < 1", lambda o: fastact.normalize(X, p=0.5, out=o), ValueError, "0.5"),
    ("p NaN", lambda o: fastact.normalize(X, p=np.nan, out=o), ValueError, "NaN"),
    ("p str", lambda o: fastact.normalize(X, p="2", out=o), TypeError, "'2'"),
    (
        "axis out of range",
        lambda o: fastact.standardize(X, axis=2, out=o),
        np.exceptions.AxisError,
        "axis 2",
    ),
    (
        "axis in tuple out of range",
        lambda o: fastact.minmax_scale(X, axis=(0, -3), out=o),
        np.exceptions.AxisError,
        "-3",
    ),
    (
        "axis repeated",
        lambda o: fastact.minmax_scale(X, axis=(1, -1), out=o),
        ValueError,
        "repeats",
    ),
    ("axis float", lambda o: fastact.normalize(X, axis=1.0, out=o), TypeError, "1.0"),
    ("out wrong shape", lambda o: fastact.normalize(X, out=np.empty(3)), ValueError, r"\(3,\)"),
    (
        "out wrong dtype",
        lambda o: fastact.normalize(X, out=np.empty((2, 3), F32)),
        TypeError,
        "float32",
    ),
    (
        "stats of another kind",
        lambda o: pp.minmax_apply(X, pp.moment_stats(X), out=o),
        TypeError,
        "MinMax.*Moments",
    ),
    (
        "stats of another shape",
        lambda o: pp.standardize_apply(X, pp.moment_stats(X.T, 1), out=o),
        ValueError,
        r"\(3, 1\).*\(2, 3\)",
    ),
    (
        "stats not statistics",
        lambda o: pp.normalize_apply(X, np.ones(3), out=o),
        TypeError,
        "ndarray",
    ),
]


@pytest.mark.parametrize("desc,call,exc,text", BAD, ids=[b[0] for b in BAD])
def test_bad_input(desc, call, exc, text):
    out = np.full((2, 3), 7.0)
    with pytest.raises(exc, match=text):
        call(out)
    np.testing.assert_array_equal(out, 7.0)


def test_read_only_out():
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastact.standardize(X, out=out)
