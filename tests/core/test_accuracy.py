"""ULP error of every kernel against mpmath, float32 and float64, forward and backward."""

from dataclasses import replace

import numpy as np
import pytest

from tests.accuracy import CASES, FLOATS, f32_against_f64, float32_patterns, sample, ulp_errors

pytest.importorskip("mpmath", reason="mpmath (the high-precision reference) is not installed")

MAX_ULP = 4.0  # docs/spec.md: at most 4 ULP where the result is normal
N_POINTS = 1000


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("which", ["forward", "backward"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_ulp_error(case, which, dtype):
    x = sample(dtype, N_POINTS)
    err, xs = ulp_errors(case, which, dtype, x)
    assert err.size > 0, "no sample point had a normal result"
    worst = int(err.argmax())
    assert err[worst] <= MAX_ULP, (
        f"{case.id} {which} {np.dtype(dtype).name}: {err[worst]:.2f} ULP at x={xs[worst]!r}"
    )


# every 65537th float32 bit pattern (a prime stride: all exponents, signs and
# mantissa bits vary): 65.5K points per kernel, where the mpmath test above
# has 1000.  tools/sweep_kernels.py runs the same check over (a stride of)
# all 2**32 patterns; docs/accuracy-kernels.md has its results.
DENSE_STRIDE = 65537
MAX_SUBNORMAL_ERR = 4.0  # units of 2**-149, where the result is subnormal or 0


@pytest.mark.parametrize("which", ["forward", "backward"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_float32_dense_against_float64(case, which):
    x = float32_patterns(0, 1 << 32, DENSE_STRIDE)
    r = f32_against_f64(case, which, x)
    assert r["max_ulp"] <= MAX_ULP, f"{case.id} {which}: {r['max_ulp']:.2f} ULP at x={r['x_ulp']!r}"
    assert r["max_sub"] <= MAX_SUBNORMAL_ERR, (
        f"{case.id} {which}: subnormal result off by {r['max_sub']:.2f} x 2**-149 at x={r['x_sub']!r}"
    )
    assert r["n_special"] == 0, f"{case.id} {which}: {r['n_special']} inf/NaN results differ"


# swish' float32 where its result nears a power of 2 from below in
# magnitude (1/4 and 1/8 at z = beta x near -0.54 and -0.84, -1/32 near
# -4.79; far from the root fit's zone): an ULP is the smallest fraction of
# the result there, and a z between the float32 numbers met an e that
# rounded twice (exp, then its low-part correction).  The kernel was
# 4.0-4.1 ULP at these (beta, x) (every float32 x, beta in 0.25-10); each
# test takes every float32 within 4096 ULPs of the point.
SWISH_GRAD_PINNED = [
    (1.1, -0.4999401),
    (1.1, -0.47810215),
    (1.3, -0.6492407),
    (1.3, -3.6876082),
    (1.5, -0.38463837),
    (1.5, -0.56235355),
    (1.702, -0.3372724),
    (3.0, -0.19231918),
    (5.0, -0.1078117),
    (10.0, -0.05390585),
]


def _swish_case(beta):
    base = next(c for c in CASES if c.public == "swish")
    return replace(base, kwargs={"beta": beta}, params=(beta,))


@pytest.mark.parametrize("beta, x0", SWISH_GRAD_PINNED)
def test_swish_backward_float32_near_a_power_of_two(beta, x0):
    bits = int(np.array(x0, np.float32).view(np.uint32))
    x = np.arange(bits - 4096, bits + 4097, dtype=np.uint32).view(np.float32)
    r = f32_against_f64(_swish_case(beta), "backward", x)
    assert r["max_ulp"] <= MAX_ULP, f"beta={beta}: {r['max_ulp']:.2f} ULP at x={r['x_ulp']!r}"


@pytest.mark.parametrize("beta", [0.7, 1.1, 1.3, 1.702, 10.0])
def test_swish_backward_float32_result_binade_below_a_quarter(beta):
    """Every 5th float32 x with z = beta x in [-0.86, -0.52], where
    swish'(x) = silu'(z) runs through [1/8, 1/4)."""
    b = float(np.float32(beta))
    lo, hi = (np.array([-0.52 / b, -0.86 / b], np.float32).view(np.uint32)).tolist()
    x = np.arange(lo, hi, 5, dtype=np.uint32).view(np.float32)
    r = f32_against_f64(_swish_case(beta), "backward", x)
    assert r["max_ulp"] <= MAX_ULP, f"beta={beta}: {r['max_ulp']:.2f} ULP at x={r['x_ulp']!r}"


# swish float32 where its result nears -1/128 from below in magnitude
# (z = beta x near -4.80): e = exp(-|z|) rounded twice (exp, then its
# low-part correction) took the kernel to 4.0-4.13 ULP at these (beta, x)
# (every float32 x with z in [-90, 10], beta 0.7-10; 3.92 at beta 1.702,
# z = -6.13, near -1/128 too).  Each test takes every float32 within 4096
# ULPs of the point, through the fast kernel (contiguous) and the full one
# (strided).
SWISH_PINNED = [
    (5.0, -0.96080297),
    (5.0, -0.9627231),
    (10.0, -0.4804015),
]


@pytest.mark.parametrize("strided", [False, True], ids=["fast", "full"])
@pytest.mark.parametrize("beta, x0", SWISH_PINNED)
def test_swish_forward_float32_near_a_power_of_two(beta, x0, strided):
    bits = int(np.array(x0, np.float32).view(np.uint32))
    x = np.arange(bits - 4096, bits + 4097, dtype=np.uint32).view(np.float32)
    if strided:
        x = np.repeat(x, 2)[::2]
    r = f32_against_f64(_swish_case(beta), "forward", x)
    assert r["max_ulp"] <= MAX_ULP, f"beta={beta}: {r['max_ulp']:.2f} ULP at x={r['x_ulp']!r}"


# float64 silu' and swish' write 1 + z + e for z < 0 as d + e0 expm1(d), d the
# distance to the root z0 (core.math.dsilu64_fast): the points that test it
# are d from 1e-17 to 0.5 on both sides of the root, around d = +-ln2/2
# (where exp's reduction steps from n = 0 to +-1, and expm1(d) = s p + s - 1
# starts to carry s - 1), and z far out (|z| up to 707, where d needs its
# low part).
_HALF_LN2 = 0.34657359027997264  # ln(2) / 2


def _dsilu64_points(beta: float) -> np.ndarray:
    from fastact.core.coefficients import DSILU_ROOT

    rng = np.random.default_rng(7)
    z0 = DSILU_ROOT[0]
    side = rng.choice([-1.0, 1.0], 600)
    # magnitudes spread over binades with ldexp (exact), not np.exp of a
    # uniform: NumPy's exp rounds differently on different CPUs (its SIMD
    # paths), and the points would depend on the machine
    z = np.concatenate(
        [
            z0 + side * np.ldexp(rng.uniform(0.5, 1.0, 600), rng.integers(-55, 0, 600)),
            z0 + _HALF_LN2 * side[:200] + rng.uniform(-1e-3, 1e-3, 200),
            -np.ldexp(rng.uniform(0.5, 1.0, 200), rng.integers(1, 10, 200)),
            -rng.uniform(512.0, 707.0, 20),
            rng.uniform(-0.7, 0.0, 100),
        ]
    )
    return z / beta


@pytest.mark.parametrize("beta", [None, 0.37, 1.702, 5.0])
def test_silu_swish_backward_float64_around_the_root(beta):
    case = next(c for c in CASES if c.public == "silu") if beta is None else _swish_case(beta)
    err, xs = ulp_errors(case, "backward", np.float64, _dsilu64_points(beta or 1.0))
    worst = int(err.argmax())
    assert err[worst] <= MAX_ULP, f"beta={beta}: {err[worst]:.2f} ULP at x={xs[worst]!r}"
