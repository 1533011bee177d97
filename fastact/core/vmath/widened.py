"""Functions whose float32 kernels compute part of their work in float64.

gelu's tanh form is x sigmoid(2u), 2u = 2 sqrt(2/pi) (x + 0.044715 x^3).
In float32 the rounding of 2u costs |2u| ULP through exp (up to ~100), so a
float32 kernel must carry 2u as a double-float and exp with a low part,
and handle subnormal results with a scaled exp: ~110 instructions per
vector.  In float64, 2u and 1 + e are exact to far below a float32 ULP, the
reduction of exp is exact to the same, and only exp's polynomial on the
reduced argument (|r| <= ln2/2, where float32 is accurate to 1 ULP) needs
float32 precision; the product x sigmoid(2u) is rounded to float32 once,
subnormal results included.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.intrinsics import JIT, call, constants, ldexp_kernels, register, select

# the definition's constants (torch's), as doubles
GELU_TANH_K2 = 2.0 * math.sqrt(2.0 / math.pi)
GELU_TANH_C = 0.044715
# below it x sigmoid(2u) < 2^-150: the result is -0
GELU_TANH_ZERO = -11.0


@functools.cache
def kernels(ft) -> dict:
    """gelu_tanh_wide for float type `ft` (float32 is the one the loops use;
    float64 runs the same steps and returns float64)."""
    F32, F64 = np.float32, np.float64
    c64 = constants(F64)
    exp_reduce = exponential.reduction(F64)["exp_reduce"]
    exp_poly32 = exponential.reduction(F32)["exp_poly"]
    pow2 = ldexp_kernels(F64)["pow2"]
    K2, C, ZERO_AT = F64(GELU_TANH_K2), F64(GELU_TANH_C), F64(GELU_TANH_ZERO)
    ONE, A_MAX, NZERO = F64(1.0), F64(700.0), c64.NZERO

    @register_jitable(**JIT)
    def exp_neg(a):
        # e^-a for 0 <= a <= A_MAX, to float32 accuracy: float64 reduction
        # (exact to ~2^-53 |r|), float32 polynomial, float64 power of two
        r, n = exp_reduce(-a, NZERO)
        return F64(exp_poly32(F32(r))) * pow2(n)

    @register_jitable(**JIT)
    def gelu_tanh_wide(x):
        xd = F64(x)
        z = K2 * xd * (ONE + C * (xd * xd))  # 2u; inf for x = inf
        a = abs(z)
        e = exp_neg(select(a < A_MAX, a, A_MAX))  # e^-|z|; NaN -> A_MAX, fixed below
        # sigmoid(z) = 1 / (1 + e) for z >= 0, e / (1 + e) below
        y = ft(xd * (select(z >= 0.0, ONE, e) / (ONE + e)))
        y = select(xd < ZERO_AT, ft(-0.0), y)
        return select(x == x, y, x)

    return dict(gelu_tanh_wide=gelu_tanh_wide)


def gelu_tanh_wide(x):
    """gelu's tanh form, x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)), its
    argument and sigmoid in float64 (the module docstring)."""
    return call(kernels, "gelu_tanh_wide", x)


register(gelu_tanh_wide, kernels)
