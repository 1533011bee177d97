"""fastact.core.vmath: accuracy (float32 vs a float64 reference on a dense sample of
bit patterns, float64 vs mpmath), exact special values, the pure-Python path,
and vectorization of a plain loop.  The exhaustive float32 check is
tools/sweep_f32.py (docs/accuracy-core.md)."""

from __future__ import annotations

import math
import re

import mpmath as mp
import numpy as np
import pytest
from numba import njit

import fastact.core.vmath as vm
from fastact.core.vmath import intrinsics

# name -> (mpmath reference, float64 libm reference for float32 results)
FUNCS = {
    "exp": (mp.exp, math.exp),
    "expm1": (mp.expm1, math.expm1),
    "log": (mp.log, math.log),
    "log1p": (mp.log1p, math.log1p),
    "tanh": (mp.tanh, math.tanh),
    "erf": (mp.erf, math.erf),
    "erfc": (mp.erfc, math.erfc),
}
NAMES = list(FUNCS)
MAX_ULP = 2.0  # normal results
# float32 tanh is one rational form over the whole range (vmath.hyperbolic):
# its roundings near P(0) at small |x| and its fit cost up to 3.65 ulp
# (every float32)
MAX_ULP32 = {"tanh": 3.7}
# float64 tanh is u / (u + 2), u = expm1(2|x|): u's rounding, the sum's and
# the division's reach 2.06 ulp at x = 0.0311888... (tools/sample_f64.py
# found 2.12 over 400K points; the kernel's comment says within 2.2)
MAX_ULP64 = {"tanh": 2.2}
MAX_SUB = 1.0  # subnormal results, in units of the smallest subnormal

# Points around which each function changes regime (thresholds of the
# kernels, overflow / underflow / saturation edges); the samples take a few
# neighbours of each, of both signs.
EDGES = {
    "exp": [
        88.72283,
        88.7,
        87.33654,
        103.97208,
        103.27893,
        709.782712893384,
        708.3964,
        745.1332191019412,
        744.44,
        0.34657,
        1e-8,
    ],
    "expm1": [
        0.34657,
        0.5,
        1e-4,
        1e-8,
        17.0,
        17.4,
        30.0,
        40.0,
        88.72283,
        709.782712893384,
        88.3762626647949,
        709.089565712824,
    ],
    "log": [1.0, 0.70710677, 1.4142135, 0.5, 2.0],
    "log1p": [1.0, 0.41421357, 0.29289323, 1e-4, 1e-8, 2.0**-25, 2.0**-54],
    "tanh": [0.5493, 2.0**-12, 1e-4, 0.00385434, 9.0, 9.011, 9.2, 9.5, 19.06, 20.0, 1.0],
    "erf": [0.75, 0.47, 0.46, 1.0, 3.9, 5.9, 2.0],
    "erfc": [0.75, 0.47, 0.46, 2.0, 4.0, 9.19, 9.2, 10.05, 10.1, 26.5, 26.55, 27.2, 27.3],
}


def _loop(name):
    ns = {"njit": njit, "vm": vm}
    exec(
        f"""
@njit
def loop(x, out):
    for i in range(x.size):
        out[i] = vm.{name}(x[i])
""",
        ns,
    )
    return ns["loop"]


def _ref_loop(name):
    ns = {"njit": njit, "math": math, "np": np}
    exec(
        f"""
@njit
def loop(x, out):
    for i in range(x.size):
        out[i] = math.{name}(np.float64(x[i]))
""",
        ns,
    )
    return ns["loop"]


_LOOPS: dict = {}


def loop(name):
    if name not in _LOOPS:
        _LOOPS[name] = _loop(name)
    return _LOOPS[name]


def apply(name, x):
    out = np.empty_like(x)
    loop(name)(x, out)
    return out


def around(vals, dtype, k=3):
    """vals, their negatives and k neighbours on each side, as dtype."""
    out = []
    with np.errstate(over="ignore"):
        _around(vals, dtype, k, out)
    return np.array(out, dtype=dtype)


def _around(vals, dtype, k, out):
    for v in vals:
        for s in (1, -1):
            c = dtype(s * v)
            for _ in range(k):
                c = np.nextafter(c, dtype(-np.inf))
            for _ in range(2 * k + 1):
                out.append(c)
                c = np.nextafter(c, dtype(np.inf))


def generic_edges(dtype):
    fi = np.finfo(dtype)
    v = [
        0.0,
        fi.smallest_subnormal,
        2 * fi.smallest_subnormal,
        fi.tiny,
        fi.tiny * 0.75,
        fi.max,
        fi.max / 2,
        1.0,
        0.5,
        2.0,
        np.inf,
        fi.eps,
        fi.eps / 4,
    ]
    out = around([x for x in v if np.isfinite(x)], dtype, k=2)
    return np.concatenate([out, np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype)])


# ---------------------------------------------------------------------------
# float32: strided sweep of the bit patterns + edges, float64 libm reference


def f32_sample(name):
    bits = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    return np.concatenate([x, generic_edges(np.float32), around(EDGES[name], np.float32)])


def ulp_errors32(y, r):
    """(errors in ulps where the rounded reference is normal, errors in units
    of 2**-149 where it is subnormal or zero) for finite expected results."""
    r32 = r.astype(np.float32)
    fin = np.isfinite(r32) & np.isfinite(r)
    normal = fin & (np.abs(r32) >= np.finfo(np.float32).tiny)
    sub = fin & ~normal
    err = np.abs(y.astype(np.float64) - r)
    e_norm = err[normal] / np.spacing(np.abs(r32[normal])).astype(np.float64)
    e_sub = err[sub] / 2.0**-149
    return e_norm, e_sub, normal, sub


def check_special(y, r_rounded, x):
    """Inputs +-0/+-inf/NaN and non-finite expected results must match
    exactly, zeros with their sign."""
    special = ~np.isfinite(x) | (x == 0) | ~np.isfinite(r_rounded)
    ys, rs = y[special], r_rounded[special]
    same = (ys == rs) & (np.signbit(ys) == np.signbit(rs))
    same |= np.isnan(ys) & np.isnan(rs)
    assert same.all(), list(zip(x[special][~same][:5], ys[~same][:5], rs[~same][:5]))


@pytest.mark.parametrize("name", NAMES)
def test_float32_accuracy(name):
    x = f32_sample(name)
    y = apply(name, x)
    r = np.empty(x.size, np.float64)
    with np.errstate(all="ignore"):
        _ref_loop(name)(x, r)
        r32 = r.astype(np.float32)
    check_special(y, r32, x)
    ok = np.isfinite(r32) & np.isfinite(x) & (x != 0)
    e_norm, e_sub, normal, _ = ulp_errors32(y[ok], r[ok])
    bound = MAX_ULP32.get(name, MAX_ULP)
    assert e_norm.max() <= bound, (e_norm.max(), x[ok][normal][np.argmax(e_norm)])
    if e_sub.size:
        assert e_sub.max() <= MAX_SUB, e_sub.max()


# ---------------------------------------------------------------------------
# float64: random bit patterns, random values in the interesting range and
# edges, against mpmath

DOMAINS = {
    "exp": (-750, 712),
    "expm1": (-45, 712),
    "log": (0, 10),
    "log1p": (-1, 10),
    "tanh": (-25, 25),
    "erf": (-7, 7),
    "erfc": (-7, 28),
}


def f64_sample(name, n=2500):
    rng = np.random.default_rng(sum(map(ord, name)))
    bits = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    x1 = bits.view(np.float64)
    x1 = x1[np.isfinite(x1)]
    lo, hi = DOMAINS[name]
    x2 = rng.uniform(lo, hi, n)
    # log-uniform magnitudes built exactly (ldexp of a uniform mantissa): np.exp
    # of a uniform sample rounds differently on different CPUs (its SIMD
    # paths), which made the sample, and the worst point found, CPU-dependent
    m = n // 4
    x3 = np.ldexp(rng.uniform(1.0, 2.0, m), rng.integers(-58, 5, m)) * rng.choice([-1, 1], m)
    return np.concatenate([x1, x2, x3, generic_edges(np.float64), around(EDGES[name], np.float64)])


def mp_ref(name, x):
    """Correctly rounded float64 of the reference and the exact value."""
    f = FUNCS[name][0]
    if x == 0 and name in ("expm1", "log1p", "tanh", "erf"):
        return float(x), None  # odd: signed zero
    xm = mp.mpf(float(x))
    if name in ("log", "log1p") and (xm < (0 if name == "log" else -1)):
        return math.nan, None
    if name == "log" and xm == 0 or name == "log1p" and xm == -1:
        return -math.inf, None
    if name in ("erf", "erfc") and abs(xm) > 40:  # mpmath overflows there
        return {"erf": math.copysign(1.0, x), "erfc": 0.0 if x > 0 else 2.0}[name], None
    v = f(xm)
    if abs(v) > mp.mpf(np.finfo(np.float64).max) * (1 + mp.mpf(2) ** -54):
        return math.copysign(math.inf, v), None
    return float(v), v


def test_float64_accuracy_vs_mpmath():
    mp.mp.dps = 40
    failures = {}
    for name in NAMES:
        x = f64_sample(name)
        x = x[np.isfinite(x)]
        y = apply(name, x)
        worst = (0.0, None)
        worst_sub = 0.0
        for xi, yi in zip(x, y):
            r, v = mp_ref(name, xi)
            if v is None or not math.isfinite(r) or xi == 0:
                ok = (yi == r and math.copysign(1, yi) == math.copysign(1, r)) or (
                    math.isnan(yi) and math.isnan(r)
                )
                if not ok:
                    failures.setdefault(name, []).append((xi, yi, r))
                continue
            if abs(r) >= np.finfo(np.float64).tiny:
                e = float(abs(mp.mpf(float(yi)) - v) / math.ulp(abs(r)))
                if e > worst[0]:
                    worst = (e, xi)
            else:
                worst_sub = max(worst_sub, float(abs(mp.mpf(float(yi)) - v) / 2.0**-1074))
        if worst[0] > MAX_ULP64.get(name, MAX_ULP) or worst_sub > MAX_SUB:
            failures.setdefault(name, []).append(("max ulp", worst, worst_sub))
    assert not failures, failures


# ---------------------------------------------------------------------------
# special values, exactly, for both dtypes, compiled and pure Python

INF, NAN = math.inf, math.nan
SPECIAL = {
    "exp": [(-INF, 0.0), (INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (1e4, INF), (-1e4, 0.0)],
    "expm1": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (-INF, -1.0),
        (INF, INF),
        (NAN, NAN),
        (1e4, INF),
        (-1e4, -1.0),
    ],
    "log": [
        (0.0, -INF),
        (-0.0, -INF),
        (-1.0, NAN),
        (-INF, NAN),
        (INF, INF),
        (1.0, 0.0),
        (NAN, NAN),
    ],
    "log1p": [
        (-1.0, -INF),
        (-2.0, NAN),
        (-INF, NAN),
        (0.0, 0.0),
        (-0.0, -0.0),
        (INF, INF),
        (NAN, NAN),
    ],
    "tanh": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (INF, 1.0),
        (-INF, -1.0),
        (30.0, 1.0),
        (-30.0, -1.0),
        (1e30, 1.0),
        (-1e30, -1.0),
        (NAN, NAN),
        (2.0**-30, 2.0**-30),
        (-(2.0**-40), -(2.0**-40)),
    ],
    "erf": [
        (0.0, 0.0),
        (-0.0, -0.0),
        (INF, 1.0),
        (-INF, -1.0),
        (10.0, 1.0),
        (-10.0, -1.0),
        (NAN, NAN),
    ],
    "erfc": [
        (0.0, 1.0),
        (-0.0, 1.0),
        (INF, 0.0),
        (-INF, 2.0),
        (30.0, 0.0),
        (-30.0, 2.0),
        (1e30, 0.0),
        (-1e30, 2.0),
        (NAN, NAN),
    ],
}


def _same(a, b):
    return (a == b and np.signbit(a) == np.signbit(b)) or (np.isnan(a) and np.isnan(b))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(name, dtype):
    x = np.array([p[0] for p in SPECIAL[name]], dtype)
    want = np.array([p[1] for p in SPECIAL[name]], dtype)
    y = apply(name, x)
    py = [getattr(vm, name)(v) for v in x]
    for xi, yi, pi, wi in zip(x, y, py, want):
        assert _same(yi, wi), (name, xi, yi, wi)
        assert _same(pi, wi), (name, "python", xi, pi, wi)
        assert type(pi) is dtype


# ---------------------------------------------------------------------------
# the pure-Python path runs the same algorithm: same bits as the compiled one


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_path_matches_compiled(dtype):
    rng = np.random.default_rng(7)
    for name in NAMES:
        lo, hi = DOMAINS[name]
        x = np.concatenate(
            [
                rng.uniform(lo, hi, 40),
                rng.uniform(-1, 1, 20),
                around(EDGES[name][:3], np.float64, k=1),
            ]
        ).astype(dtype)
        y = apply(name, x)
        py = vm.__dict__[name](x)
        assert py.dtype == dtype
        np.testing.assert_array_equal(py.view(np.uint8), y.view(np.uint8), err_msg=name)


# ---------------------------------------------------------------------------
# building blocks


def test_bitcasts_and_fma():
    @njit
    def f(x, y, z):
        return vm.int_as_float(vm.float_as_int(x)), vm.float_as_int(x), vm.fma(x, y, z)

    for dt, it in ((np.float32, np.int32), (np.float64, np.int64)):
        x, y = dt(1.0) + np.finfo(dt).eps, dt(1.0) - np.finfo(dt).eps
        z = dt(-1.0)
        back, bits, fm = f(x, y, z)
        bits = it(bits)
        assert back == x and bits == np.array(x).view(it)
        assert vm.float_as_int(x) == bits and vm.int_as_float(bits) == x
        # x*y - 1 = -eps^2 exactly, lost without fusion
        assert fm == -(np.finfo(dt).eps ** 2) and vm.fma(x, y, z) == fm


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_or_sign_is_copysign_where_r_is_zero_or_has_xs_sign(dt):
    """or_sign(r, x) keeps r's width compiled (numba widens int32 bit
    operations to int64, which gave a float64 denormal in float32 code) and
    equals copysign(r, x) for r = +0 or r of x's sign, from Python and
    compiled; a NaN r stays NaN."""

    @njit
    def f(r, x):
        return vm.or_sign(r, x)

    x = np.array([-np.inf, -3.5, -np.finfo(dt).smallest_subnormal, -0.0, 0.0, 2.0, np.inf], dt)
    for xi in x:
        for r in (dt(0.0), np.copysign(dt(1.5), xi), np.copysign(dt(np.inf), xi)):
            want = np.copysign(r, xi)
            assert type(vm.or_sign(r, xi)) is dt
            for got in (dt(f(r, xi)), vm.or_sign(r, xi)):
                bits = np.array([got, want]).view(f"u{x.itemsize}")
                assert bits[0] == bits[1], (r, xi, got)
        assert np.isnan(f(dt(np.nan), xi)) and np.isnan(vm.or_sign(dt(np.nan), xi))


def _assert_same_bits(f, g, x):
    """f and g (vmath functions) compiled give the same bits on every x."""

    @njit
    def both(x):
        a, b = np.empty_like(x), np.empty_like(x)
        for i in range(x.size):
            a[i] = f(x[i])
            b[i] = g(x[i])
        return a, b

    a, b = both(x)
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


@pytest.mark.parametrize("dt, lo, hi", [(np.float32, -104.0, 64.0), (np.float64, -746.0, 640.0)])
def test_exp_within_is_exp_below_in_its_range(dt, lo, hi):
    """exp_within skips exp_below's range handling: the same bits inside the
    range (the ufunc loops' fast blocks rely on it)."""

    x = np.linspace(lo, hi, 200_001).astype(dt)
    _assert_same_bits(
        vm.exp_within, vm.exp_below, np.concatenate([x, np.array([lo, hi, 0.0, -0.0], dt)])
    )


@pytest.mark.parametrize("dt, lo", [(np.float32, -86.0), (np.float64, -707.0)])
def test_exp_normal_is_exp_within_in_its_range(dt, lo):
    """exp_normal puts n into the exponent field instead of exp_within's two
    scalings: the same bits where e**x is normal (the fast kernels of
    sigmoid and silu rely on it), from numba and from Python."""

    x = np.linspace(lo, 0.0, 400_001).astype(dt)
    if dt == np.float32:
        # every 97th float32 in the range, and the ends
        hi_bits = np.array(-lo, dt).view(np.uint32)
        x = np.concatenate([x, np.arange(0, hi_bits, 97, dtype=np.uint32).view(dt) * -1])
    x = np.concatenate([x, np.array([lo, 0.0, -0.0, -np.finfo(dt).tiny], dt)])
    _assert_same_bits(vm.exp_normal, vm.exp_within, x)
    for v in x[::40_001]:
        assert vm.exp_normal(v) == vm.exp_within(v)


@pytest.mark.parametrize("dt, lo", [(np.float32, -86.0), (np.float64, -707.0)])
def test_exp_neg_abs_dd(dt, lo):
    """exp_neg_abs_dd(zh, zl) = e**-|zh + zl| (swish''s fast kernel): with
    zl = +-0 exp_normal(-|zh|)'s bits (swish at beta = 1 gives silu's), and
    with zl the low part of an exact product within exp_normal's error of
    e**-|z| (float32: every z = b x of a dense sample, both signs)."""
    from fastact.core.vmath.exponential import exp_neg_abs_dd

    @njit
    def run(zh, zl):
        a, b = np.empty_like(zh), np.empty_like(zh)
        for i in range(zh.size):
            a[i] = exp_neg_abs_dd(zh[i], zl[i])
            b[i] = vm.exp_normal(-abs(zh[i]))
        return a, b

    x = np.linspace(lo, -lo, 400_001).astype(dt)
    for zero in (0.0, -0.0):
        a, b = run(x, np.full_like(x, zero))
        np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))
    if dt == np.float32:
        xb = np.linspace(-80.0 / 1.702, 80.0 / 1.702, 400_001).astype(dt)
        zh = xb * dt(1.702)
        zl = (xb.astype(np.float64) * np.float64(dt(1.702)) - zh).astype(dt)  # exact
        a, b = run(zh, zl)
        z = zh.astype(np.float64)
        ulp = np.spacing(np.exp(-np.abs(z)).astype(dt)).astype(np.float64)
        err = np.abs(a - np.exp(-np.abs(z + zl))) / ulp
        own = np.abs(b - np.exp(-np.abs(z))) / ulp  # exp_normal at zh
        # exp_normal's own error, and the rounding of its reduced argument
        # plus lo (half an ulp of r, |r| <= ln2 / 2: a quarter ulp of e**r);
        # fma(e, lo, e) after exp_normal would round e again, half an ulp
        assert err.max() <= own.max() + 0.25, f"{err.max():.3f} ulp at z = {zh[err.argmax()]!r}"


@pytest.mark.parametrize("dt, lo", [(np.float32, -86.0), (np.float64, -707.0)])
def test_exp_normal_short_is_exp_below_short_in_its_range(dt, lo):
    """exp_normal_short and exp_below_short (sigmoid's fast and full kernels
    rely on it): the same bits where e**x is normal, compiled and from
    Python, and 4 exp_normal_short the bits of exp_below_short_x4 (tanh''s);
    float64's are exp_normal and exp_below themselves."""
    from numba.extending import register_jitable

    from fastact.core.vmath.exponential import (
        exp_below_short,
        exp_below_short_x4,
        exp_normal_short,
    )

    x = np.linspace(lo, 0.0, 400_001).astype(dt)
    if dt == np.float32:
        hi_bits = np.array(-lo, dt).view(np.uint32)
        x = np.concatenate([x, np.arange(0, hi_bits, 97, dtype=np.uint32).view(dt) * -1])
    x = np.concatenate([x, np.array([lo, 0.0, -0.0, -np.finfo(dt).tiny], dt)])
    _assert_same_bits(exp_normal_short, exp_below_short, x)
    # tanh''s pair: 4 e**x rounded once is 4 exp_normal_short there
    four = lambda v: dt(4) * exp_normal_short(v)  # noqa: E731
    _assert_same_bits(register_jitable(four), exp_below_short_x4, x)
    if dt == np.float64:
        _assert_same_bits(exp_below_short, vm.exp_below, x)
    for v in x[::40_001]:
        assert exp_normal_short(v) == exp_below_short(v)


def test_exp_short_2k_float32():
    """float32 exp_short_2k(x, 0) has exp_normal_short's bits on [-86, 88]
    (sigmoid's fast kernel takes e^-x there, its full kernel exp_short_2k),
    and with k < 0 the same value scaled exactly by 2^k, compiled and from
    Python."""
    from numba.extending import register_jitable

    from fastact.core.vmath.exponential import exp_normal_short, exp_short_2k

    f = np.float32
    hi_bits = np.array(88.0, f).view(np.uint32)
    mag = np.arange(0, hi_bits, 89, dtype=np.uint32).view(f)
    x = np.concatenate([mag, -mag[mag <= 86.0], np.array([88.0, -86.0, 0.0, -0.0], f)])
    _assert_same_bits(register_jitable(lambda v: exp_short_2k(v, f(0))), exp_normal_short, x)
    scaled = register_jitable(lambda v: exp_short_2k(v, f(-64)) * f(2.0**64))
    _assert_same_bits(scaled, exp_normal_short, x[x >= -40.0])  # 2^(n - 64) normal
    for v in x[::20_011]:
        assert exp_short_2k(v, 0) == exp_normal_short(v)
    # beyond e^88: finite once scaled
    big = exp_short_2k(f(110.0), -64)
    assert np.isfinite(big) and abs(big / np.exp(110.0 - 64 * np.log(2.0)) - 1) < 1e-6


def test_exp_below_short_float32():
    """float32 exp_below_short: within 2.5 ulp of e**x (exp_below's 0.89 plus
    up to 1.78 x 2^-24 relative from its shorter polynomial: 2.17 on this
    sample), subnormal results within 2 units (1.45: next to the normal
    range the polynomial's error is worth a unit), special values exact."""
    from fastact.core.vmath.exponential import exp_below_short

    x = np.concatenate(
        [
            -np.arange(0, np.array(110.0, np.float32).view(np.uint32), 1009, dtype=np.uint32).view(
                np.float32
            ),
            np.array([0.0, -0.0, -np.inf, np.nan, -87.3, -103.9, -104.0, -200.0], np.float32),
        ]
    )

    @njit
    def run(x):
        y = np.empty_like(x)
        for i in range(x.size):
            y[i] = exp_below_short(x[i])
        return y

    y = run(x)
    with np.errstate(all="ignore"):
        r = np.exp(x.astype(np.float64))
    assert np.isnan(y[-5]) and y[-6] == 0.0 and y[-8] == 1.0 and y[-7] == 1.0
    ok = np.isfinite(x)
    e_norm, e_sub, _, _ = ulp_errors32(y[ok], r[ok])
    assert e_norm.max() <= 2.5, e_norm.max()
    assert e_sub.max() <= 2.0, e_sub.max()


def test_package_exports():
    """The names the other layers, the tools and the C header generator import
    from fastact.core.vmath (the package re-exports its modules' names)."""
    names = (
        "exp exp_below exp_within exp_normal exp_below_2k expm1 log log1p log1p_unit tanh erf erfc"
        " erfc_dd_scaled gelu_tanh_f32 dgelu_tanh_f32"
        " ldexp ldexp_below pow2 pow2_rint over_pow2_rint fma select horner horner_select"
        " float_as_int int_as_float or_sign on_cpu"
        " EXPQ_F EXPQ_D EXPP_F EXPP_D LOGR_F LOGR_D TANHK_P_F TANHK_Q_F TANHSHR_N_F TANHSHR_D_F ERFP_F ERFP_D"
        " ERFCF_F ERFCF_D ERFC_T0_F ERFC_T0_D ERFC_C0_F ERFC_C0_D ERFC_TC_D ERFC_C0C_D ERFCF_DC"
    ).split()
    assert [n for n in names if not hasattr(vm, n)] == []
    assert set(vm.__all__) <= set(names)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pow2_is_exact_over_its_range(dt):
    """pow2(k) is 2**k exactly for every integral k of the normal range, from
    Python and compiled."""
    lo, hi = (-126, 127) if dt == np.float32 else (-1022, 1023)
    k = np.arange(lo, hi + 1).astype(dt)

    @njit
    def run(k):
        out = np.empty_like(k)
        for i in range(k.size):
            out[i] = vm.pow2(k[i])
        return out

    want = np.ldexp(dt(1), k.astype(np.int32))
    np.testing.assert_array_equal(run(k), want)
    assert vm.pow2(dt(lo)) == want[0] and vm.pow2(dt(hi)) == want[-1]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pow2_rint_reads_the_integer_an_fma_rounded(dt):
    """t = fma(x, c, magic + bias + k) rounds x c to the integer n, and
    pow2_rint(t) is 2**(n + k) exactly; over_pow2_rint(y, t') with
    t' = magic + j divides y by 2**j exactly (both signs of j), compiled and
    from Python alike."""
    f32 = dt == np.float32
    magic, bias, lo, hi = (
        (1.5 * 2.0**23, 127, -126, 127) if f32 else (1.5 * 2.0**52, 1023, -1022, 1023)
    )
    j = np.arange(lo, hi + 1)
    t = (magic + bias + j).astype(dt)
    assert np.array_equal(t - dt(magic + bias), j.astype(dt))  # the magic is exact
    u = (magic + j).astype(dt)
    y = np.full(j.size, 1.75, dt)

    @njit
    def run(t, u, y):
        p, q = np.empty_like(t), np.empty_like(t)
        for i in range(t.size):
            p[i] = vm.pow2_rint(t[i])
            q[i] = vm.over_pow2_rint(y[i], u[i])
        return p, q

    p, q = run(t, u, y)
    np.testing.assert_array_equal(p, np.ldexp(dt(1), j.astype(np.int32)))
    ok = np.abs(j) < (100 if f32 else 1000)  # where 1.75 / 2**j stays normal
    np.testing.assert_array_equal(q[ok], np.ldexp(y, (-j).astype(np.int32))[ok])
    for i in (0, j.size // 2, j.size - 1):
        assert vm.pow2_rint(t[i]) == p[i] and vm.over_pow2_rint(y[i], u[i]) == q[i]
    # n is the exact product rounded to the nearest integer by the fma
    for x, want in ((2.4, 4.0), (2.6, 8.0), (-2.6, 0.125)):
        assert vm.pow2_rint(vm.fma(dt(x), dt(1.0), dt(magic + bias))) == want


@pytest.mark.parametrize("scheme", ["horner", "estrin", "horner_pieces"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 11, 23])
def test_polynomial_schemes(scheme, n):
    """Every evaluation order gives the polynomial to a few roundings of the
    sum of its terms' magnitudes, compiled and in Python alike."""
    rng = np.random.default_rng(n)
    c = tuple(float(v) for v in rng.standard_normal(n))
    fn = getattr(intrinsics, scheme)
    ns = {"njit": njit, "fn": fn}
    exec("@njit\ndef jitted(x, c):\n    return fn(x, c)\n", ns)
    for x in rng.uniform(-1.0, 1.0, 25):
        exact = mp.polyval([mp.mpf(v) for v in reversed(c)], mp.mpf(x))
        scale = sum(abs(v) * abs(x) ** k for k, v in enumerate(c))
        for got in (fn(float(x), c), ns["jitted"](float(x), c)):
            assert abs(got - exact) <= 4 * n * 2.0**-53 * scale, (scheme, n, x)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_horner_select_is_the_chosen_horner_bit_for_bit(dt):
    """horner_select(x, m, c1, c0) is horner(x, c1) where m and horner(x, c0)
    elsewhere, bit for bit, in a compiled loop (vectorized, both tables in
    every lane) as in Python."""
    rng = np.random.default_rng(5)
    c1 = tuple(dt(v) for v in rng.standard_normal(8))
    c0 = tuple(dt(v) for v in rng.standard_normal(8))
    x = rng.uniform(-2.0, 2.0, 1001).astype(dt)

    @njit
    def run(x, c1, c0):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = intrinsics.horner_select(x[i], x[i] > 0.25, c1, c0)
        return out

    @njit
    def want(x, c1, c0):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = intrinsics.horner(x[i], c1) if x[i] > 0.25 else intrinsics.horner(x[i], c0)
        return out

    got = run(x, c1, c0)
    np.testing.assert_array_equal(got.view(np.uint8), want(x, c1, c0).view(np.uint8))
    assert intrinsics.horner_select(x[0], bool(x[0] > 0.25), c1, c0) == got[0]


def _scaled(name, y, n):
    """vm.<name>(y[i], n[i]) over arrays, compiled; n converted to y's type."""
    ns = {"njit": njit, "vm": vm}
    exec(
        f"@njit\ndef f(y, n, out):\n    for i in range(y.size):\n"
        f"        out[i] = vm.{name}(y[i], n[i])\n",
        ns,
    )
    out = np.empty_like(y)
    ns["f"](y, n.astype(y.dtype), out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ldexp_rounds_once(dtype):
    rng = np.random.default_rng(3)
    fi = np.finfo(dtype)
    emin, emax = fi.minexp, fi.maxexp
    y = (rng.uniform(0.5, 2, 4000) * rng.choice([-1, 1], 4000)).astype(dtype)
    n = rng.integers(2 * emin - 60, 2 * emax + 10, 4000)
    n[:1000] = rng.integers(emin - fi.nmant - 3, emin + 2, 1000)  # subnormal results
    n[1000:1200] = rng.integers(emax - 2, emax + 2, 200)  # overflow edge
    out = _scaled("ldexp", y, n)
    with np.errstate(all="ignore"):
        want = np.ldexp(y, n)
    np.testing.assert_array_equal(out, want)
    assert all(_same(vm.ldexp(a, b), w) for a, b, w in zip(y[:300], n[:300], want[:300]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ldexp_below_rounds_once(dtype):
    """ldexp_below on its documented range: numpy's ldexp, subnormals too."""
    rng = np.random.default_rng(4)
    lo, hi = (-166, 40) if dtype == np.float32 else (-1086, 64)
    y = (rng.uniform(0.5, 2, 4000) * rng.choice([-1, 1], 4000)).astype(dtype)
    y[:500] *= dtype(2.0 ** (hi - 2))
    n = rng.integers(lo, hi + 1, 4000)
    n[500:1500] = rng.integers(lo, lo + 60, 1000)  # subnormal results
    out = _scaled("ldexp_below", y, n)
    np.testing.assert_array_equal(out, np.ldexp(y, n))
    assert all(
        _same(vm.ldexp_below(a, dtype(b)), w) for a, b, w in zip(y[:300], n[:300], out[:300])
    )


def test_erfc_centered_fit_is_the_fit():
    """float64's centred tail coefficients are the stored fit re-expanded
    exactly (tools/fit_vmath.py erfc_center), not a separate approximation."""
    from tools.fit_vmath import recenter

    tm, d0, d = recenter(vm.ERFC_C0_D, vm.ERFCF_D, vm.ERFC_T0_D, (27.3 - 2) / (27.3 + 2))
    assert tm == vm.ERFC_TC_D and d0 == vm.ERFC_C0C_D and tuple(d) == vm.ERFCF_DC


def test_erfc_dd_scaled_vs_mpmath():
    """erfc(zh + zl) = m 2^n (float64) within erfc's 2 ULP, the low part zl
    included (it moves the result by up to ~2 zh^2 ULP), and where erfc is
    subnormal (zh > 26.55) m stays normal and keeps that accuracy."""
    mp.mp.dps = 40

    @njit
    def f(zh, zl, m, n):
        for i in range(zh.size):
            m[i], n[i] = vm.erfc_dd_scaled(zh[i], zl[i])

    rng = np.random.default_rng(9)
    zh = np.concatenate(
        [
            rng.uniform(-6, 27.3, 3000),
            rng.uniform(26.5, 27.29, 500),
            rng.uniform(-0.5, 0.5, 500),
            -rng.uniform(0.4, 0.5, 200),
            rng.uniform(0.44, 0.5, 200),
        ]
    )
    zl = zh * rng.uniform(-1, 1, zh.size) * 2.0**-53
    m, n = np.empty_like(zh), np.empty_like(zh)
    f(zh, zl, m, n)
    worst = 0.0
    for a, b, mi, ni in zip(zh, zl, m, n):
        want = mp.erfc(mp.mpf(a) + mp.mpf(b))
        got = mp.ldexp(mp.mpf(mi), int(ni))
        ulp = math.ulp(float(want / mp.mpf(2) ** int(ni)))  # of m: normal
        assert abs(mi) >= np.finfo(np.float64).tiny or mi == 0
        worst = max(worst, float(abs(got - want) / mp.ldexp(mp.mpf(ulp), int(ni))))
    assert worst <= MAX_ULP, worst
    for i in range(0, zh.size, 97):  # the Python path: same bits
        mi, ni = vm.erfc_dd_scaled(zh[i], zl[i])
        assert _same(mi, m[i]) and ni == n[i], (zh[i], zl[i])
    for dtype in (np.float32, np.float64):
        for z, want in ((INF, 0.0), (-INF, 2.0), (0.0, 1.0), (-0.0, 1.0)):
            mz, nz = vm.erfc_dd_scaled(dtype(z), dtype(0))
            assert _same(np.ldexp(mz, int(nz)), dtype(want)), (dtype, z, mz, nz)
        mz, _ = vm.erfc_dd_scaled(dtype(NAN), dtype(0))
        assert np.isnan(mz)


# float32 kernels that evaluate in float64 on purpose, and why
FLOAT64_INSIDE: dict[str, str] = {}


@pytest.mark.parametrize("name", NAMES)
def test_float32_kernel_has_no_float64(name):
    lp = loop(name)
    lp(np.ones(4, np.float32), np.empty(4, np.float32))
    # the float32 signature by name: a float64 test in the same worker may
    # have compiled the loop first (signatures[0] then was float64's)
    sig = [s for s in lp.signatures if str(s[0].dtype) == "float32"][0]
    ir = lp.inspect_llvm(sig)
    body = [ln for ln in ir.splitlines() if "double" in ln and "declare" not in ln]
    if name in FLOAT64_INSIDE:
        # packed float64 arithmetic, and no libm call (LLVM intrinsics only)
        assert any("<4 x double>" in ln for ln in body), FLOAT64_INSIDE[name]
        calls = [ln for ln in body if "call double @" in ln and "@llvm." not in ln]
        assert not calls, calls[:5]
    else:
        assert not body, body[:5]


# ---------------------------------------------------------------------------
# vectorization: packed FMAs on ymm (or zmm) registers in a plain loop


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loop_vectorizes(name, dtype):
    lp = loop(name)
    x = np.linspace(-3, 3, 16).astype(dtype)
    lp(x, np.empty_like(x))
    sig = [s for s in lp.signatures if str(s[0].dtype) == np.dtype(dtype).name][0]
    asm = lp.inspect_asm(sig)
    suffix = "ps" if dtype == np.float32 and name not in FLOAT64_INSIDE else "pd"
    assert re.search(rf"vfn?m(add|sub)\d+{suffix}\s+[^\n]*%[yz]mm", asm), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda t: np.dtype(t).name)
def test_log1p_unit_is_log1p_on_its_domain(dtype):
    # log1p_unit drops log1p's cases outside [0, 1]; inside (and for NaN) it
    # must give log1p's very bits: the same 1 + x split and the same core
    ns = {"njit": njit, "vm": vm}
    exec(
        """
@njit
def both(x, a, b):
    for i in range(x.size):
        a[i] = vm.log1p_unit(x[i])
        b[i] = vm.log1p(x[i])
""",
        ns,
    )
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            rng.uniform(0, 1, 200_000),
            2.0 ** -rng.uniform(0, 160, 50_000),
            [0.0, 1.0, 2.0**-25, 2.0**-24, 0.41421357, np.nan],
            np.nextafter(1.0, 0.0) - np.arange(50) * 1e-7,
        ]
    ).astype(dtype)
    a, b = np.empty_like(x), np.empty_like(x)
    ns["both"](x, a, b)
    np.testing.assert_array_equal(a.view(f"u{x.itemsize}"), b.view(f"u{x.itemsize}"))


# ---------------------------------------------------------------------------
# gelu's tanh form in float32 (vmath.gelu): the kernel the float32 loops use


def _gelu_tanh_ref(x):
    """x / (1 + e^-z) in float64: z's rounding (~1e-14 absolute for |z| up to
    112) is far below a float32 ulp of the result."""
    xd = x.astype(np.float64)
    k2 = 2.0 * math.sqrt(2.0 / math.pi)
    with np.errstate(over="ignore", invalid="ignore"):
        r = xd / (1.0 + np.exp(-(xd * (k2 + k2 * 0.044715 * xd * xd))))
    return np.where(xd == -np.inf, -0.0, r)


def _dgelu_tanh_ref(x):
    """[x >= 0] - sign(x) e w / (1 + e)^2 in float64, e = e^-|z|,
    w = 1 + e - |x| z'(|x|): w's rounding (~1e-16 absolute) stays far below a
    float32 ulp of the result except within ~1e-7 of the root."""
    a = np.abs(x.astype(np.float64))
    k2 = 2.0 * math.sqrt(2.0 / math.pi)
    c = k2 * 0.044715
    e = np.exp(-(a * (k2 + c * a * a)))
    with np.errstate(invalid="ignore"):
        v = e * (1.0 + e - a * (k2 + 3.0 * c * a * a)) / (1.0 + e) ** 2
    r = np.where(np.signbit(x), v, 1.0 - v)
    # the limits beyond the clamp: 1 above 30, +0 below -30
    return np.where(x > 30, 1.0, np.where(x < -30, 0.0, r))


@njit
def _gelu_tanh_loop(x, out):
    for i in range(x.size):
        out[i] = vm.gelu_tanh_f32(x[i])


@njit
def _dgelu_tanh_loop(x, out):
    for i in range(x.size):
        out[i] = vm.dgelu_tanh_f32(x[i])


# the samples hold NaN, infinities and overflowing x on purpose: NumPy's
# floating-point warnings on them (the interpreted kernels, the casts to
# float64) say nothing about the results
_SPECIALS_WARN = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def _gelu_tanh_sample():
    bits = np.arange(0, 2**32, 257, dtype=np.uint64).astype(np.uint32)
    # the clamps, the start of the scaling, subnormal and zero results, the
    # derivative's root zone (its fit on one side, the direct formula on
    # the other: both within the gate at its ends)
    zone = [float(vm.gelu.ROOT_HI) + z for z in vm.gelu.DGELU_TANH_ZONE_F32]
    edges = around([11.0, 10.9, 10.1, 9.9, 9.0, 4.0, 0.75, 1e-30], np.float32, k=3)
    edges = np.concatenate([edges, around(zone, np.float32, k=200)])
    dense = np.linspace(-11.5, 9.5, 2_000_001, dtype=np.float32)
    return np.concatenate([bits.view(np.float32), edges, dense, generic_edges(np.float32)])


# forward and derivative: (loop, interpreted kernel, reference, ulp gate)
_GELU_TANH_F32 = {
    "forward": (_gelu_tanh_loop, vm.gelu_tanh_f32, _gelu_tanh_ref, 3.0),
    "backward": (_dgelu_tanh_loop, vm.dgelu_tanh_f32, _dgelu_tanh_ref, 4.0),
}


@_SPECIALS_WARN
@pytest.mark.parametrize("which", list(_GELU_TANH_F32))
def test_gelu_tanh_f32_accuracy(which):
    """Within 3 ulp (the derivative: 4, its root fit included) where the
    result is normal, 1.5 x 2**-149 where it is subnormal, exact at +-0,
    +-inf and NaN (every float32 input: tools/sweep_kernels.py), and the
    limits beyond the clamps."""
    loop, _, ref, gate = _GELU_TANH_F32[which]
    x = np.concatenate([_gelu_tanh_sample(), around([30.0, 0.9025, 0.6025], np.float32)])
    y = np.empty_like(x)
    loop(x, y)
    r = ref(x)
    e_norm, e_sub, normal, _ = ulp_errors32(y, r)
    assert e_norm.max() <= gate, (e_norm.max(), x[normal][e_norm.argmax()])
    assert e_sub.max() <= 1.5, e_sub.max()
    check_special(y, r.astype(np.float32), x)
    if which == "forward":  # x itself above 9, -0 below -11
        big, low = x > 9.0, x < -11.0
        np.testing.assert_array_equal(y[big], x[big])
        assert (y[low] == 0).all() and np.signbit(y[low]).all()
    else:  # 1 above 30, +0 below -30
        far = np.abs(x) > 30
        np.testing.assert_array_equal(y[far], np.where(x[far] > 0, 1.0, 0.0).astype(np.float32))
        assert not np.signbit(y[far]).any()


@_SPECIALS_WARN
@pytest.mark.parametrize("which", list(_GELU_TANH_F32))
def test_gelu_tanh_f32_python_path_matches_compiled(which):
    """The interpreted stub (numba's CUDA simulator runs it) gives the
    compiled kernel's bits; a NaN comes back as a NaN (the derivative's
    sign is |x|'s, whichever the path)."""
    loop, kernel, _, _ = _GELU_TANH_F32[which]
    x = _gelu_tanh_sample()[::20_000]
    y = np.empty_like(x)
    loop(x, y)
    py = np.array([kernel(v) for v in x], np.float32)
    nan = np.isnan(x)
    assert nan.any() and np.isnan(py[nan]).all() and np.isnan(y[nan]).all()
    np.testing.assert_array_equal(py[~nan].view(np.uint32), y[~nan].view(np.uint32))


def test_tanh_float32_saturates_at_one():
    """float32 tanh never exceeds 1 in magnitude and is exactly +-1 from the
    clamp on: every float32 in [8, 9.2] (where P/Q's P is smallest) and a
    sample from the clamp on, of both signs (P > 0 up to the clamp keeps
    x Q <= a Q + P)."""
    from fastact.core.vmath.hyperbolic import TANHK_MAX

    f = np.float32
    lo, hi = np.array([8.0, 9.2], f).view(np.uint32)
    near = np.arange(lo, hi + 1, dtype=np.uint32).view(f)
    far = np.geomspace(TANHK_MAX, 3e38, 20_001).astype(f)
    x = np.concatenate([near, far, [np.inf]]).astype(f)
    run = _loop("tanh")
    for s in (f(1), f(-1)):
        y = np.empty_like(x)
        run(s * x, y)
        y *= s
        assert y.max() == 1.0
        assert (y[near.size :] == 1.0).all()
