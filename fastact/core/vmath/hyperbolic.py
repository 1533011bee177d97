"""tanh.

float32: for a = |x| below 0.625, a + a^3 P(a^2); above, 1 - P(a) / (a Q(a)
+ P(a)) with a clamped to 9.2 (tanh rounds to 1 from 9.011 on), the sign of x
put back last.  P/Q (degrees 5/6) fits k(a) = a coth(a) - a = 2a/(e^2a - 1),
so tanh(a) = a / (a + k) and 1 - tanh(a) = k / (a + k) = P / (a Q + P): no
cancellation, and the roundings of P, Q, a Q + P and the quotient reach the
result shrunk by 1 - tanh(a) <= 0.45, most where x P(x^2)/Q(x^2) (the
previous form, in float32) lost most (5.4 ULP next to +-1).  All float32, on
CPUs and GPUs alike: 19 fmas, a division and a few selects and bit operations
per element, within 1.6 ULP (tools/sweep_f32.py).  P > 0 on the interval, so
|tanh| <= 1.  NaN passes the clamp; -0, subnormal and tiny x come back as
themselves (a + a^3 P rounds to a, the sign is x's).

float64: x + x^3 P(x^2) below atanh(1/2), 1 - 2/(e**2|x| + 1) above (e**2|x|
by exp's reduction and polynomial), with the roundings of the sum and the
quotient put back.
"""

from __future__ import annotations

import functools

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.fits import TANHK_P_F, TANHK_Q_F, TANHP_D, TANHP_F
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    constants,
    float_as_int,
    fma,
    horner,
    int_as_float,
    ldexp_kernels,
    register,
    select,
)


@functools.cache
def kernels(ft) -> dict:
    """tanh for float type `ft`."""
    if ft == np.float32:
        return dict(tanh=_tanh_f32())
    cst = constants(ft)
    ZERO, ONE, TWO, HALF, NZERO = cst.ZERO, cst.ONE, cst.TWO, cst.HALF, cst.NZERO
    # the polynomial below atanh(1/2), 1 - 2/(exp(2a) + 1) above; the
    # latter is 1 after rounding from TANH_SAT on.
    TANH_T = ft(0.5493)
    TANH_SAT = ft(20)
    TANHP = tuple(ft(c) for c in TANHP_D)
    exp_reduce = exponential.reduction(ft)["exp_reduce"]
    exp_poly = exponential.reduction(ft)["exp_poly"]
    pow2 = ldexp_kernels(ft)["pow2"]

    @register_jitable(**JIT)
    def tanh_(x):
        a = abs(x)
        small = a < TANH_T
        xp = select(small, x, ZERO)
        t = xp * xp
        ps = fma(xp * t, horner(t, TANHP), xp)  # x + x^3 P(x^2)
        a = select(a < TANH_SAT, a, TANH_SAT)  # NaN -> TANH_SAT, fixed below
        r, n = exp_reduce(a + a, NZERO)
        e = exp_poly(r) * pow2(n)  # >= 3
        # q = 2/(e + 1) with the rounding errors of e + 1 and of the division
        # put back (they cost up to 1 ulp of the result otherwise).
        s = e + ONE
        serr = ONE - (s - e)  # Fast2Sum (e >= 1): s + serr = e + 1
        q = TWO / s
        rq = fma(-q, s, TWO)  # exact remainder
        pl = ONE - (q + (rq - q * serr) * (q * HALF))
        res = select(small, ps, select(x < ZERO, -pl, pl))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    return dict(tanh=tanh_)


# float32: the odd polynomial below TANH32_T, the k form above it up to
# TANH32_MAX, past which 1 - tanh(a) < 2.1e-8 is under half of 1's lower ulp
TANH32_T, TANH32_MAX = np.float32(0.625), np.float32(9.2)
_TANHK_P = tuple(np.float32(c) for c in TANHK_P_F)
_TANHK_Q = tuple(np.float32(c) for c in TANHK_Q_F)


@register_jitable(**JIT)
def tanh_complement_f32(a):
    """float32 1 - tanh(a) = P(a) / (a Q(a) + P(a)) for TANH32_T <= a <=
    TANH32_MAX (the caller clamps a): P/Q fits a coth(a) - a (the module
    docstring).  Its absolute error is within 0.23 ulp of 1 (2^-24) plus its
    roundings, a few ulps of the result at most.  Any other float type is
    converted (core.math's generic kernels type it in their float64 loops
    too, in a branch that float64 never takes)."""
    a = np.float32(a)
    p = horner(a, _TANHK_P)
    return p / fma(a, horner(a, _TANHK_Q), p)


def _tanh_f32():
    """float32 tanh (the module docstring); coefficients: tools/fit_vmath.py tanh."""
    ONE = np.float32(1)
    SIGN = np.int32(-(2**31))
    E = tuple(np.float32(c) for c in TANHP_F)

    @register_jitable(**JIT)
    def tanh_k(x):
        a = abs(x)
        t = a * a
        small = fma(a * t, horner(t, E), a)
        ac = select(a > TANH32_MAX, TANH32_MAX, a)  # NaN stays NaN
        r = select(a < TANH32_T, small, ONE - tanh_complement_f32(ac))
        return int_as_float(np.int32(float_as_int(r) | (float_as_int(x) & SIGN)))

    return tanh_k


def tanh(x):
    """Hyperbolic tangent."""
    return call(kernels, "tanh", x)


register(tanh, kernels)
