"""ULP error of every kernel against mpmath, float32 and float64, forward and backward."""
import numpy as np
import pytest

from accuracy import CASES, FLOATS, sample, ulp_errors

pytest.importorskip("mpmath", reason="mpmath (the high-precision reference) is not installed")

MAX_ULP = 4.0     # shared/spec/functions.md: at most 4 ULP where the result is normal
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
        f"{case.id} {which} {np.dtype(dtype).name}: {err[worst]:.2f} ULP at x={xs[worst]!r}")
