"""ULP error of every kernel against mpmath, float32 and float64, forward and backward."""

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
