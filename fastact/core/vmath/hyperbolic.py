"""tanh: x + x^3 P(x^2) below atanh(1/2), 1 - 2/(e**2|x| + 1) above (e**2|x|
by exp's reduction and polynomial), with the roundings of the sum and the
quotient put back.
"""

from __future__ import annotations

import functools

from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.fits import TANHP_D, TANHP_F
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    coefficients,
    constants,
    fma,
    horner,
    ldexp_kernels,
    register,
    select,
)


@functools.cache
def kernels(ft) -> dict:
    """tanh for float type `ft`."""
    cst = constants(ft)
    ZERO, ONE, TWO, HALF, NZERO = cst.ZERO, cst.ONE, cst.TWO, cst.HALF, cst.NZERO
    # the polynomial below atanh(1/2), 1 - 2/(exp(2a) + 1) above; the
    # latter is 1 after rounding from TANH_SAT on.
    TANH_T = ft(0.5493)
    TANH_SAT = ft(9.5) if cst.f32 else ft(20)
    TANHP = coefficients(ft, TANHP_F, TANHP_D)
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


def tanh(x):
    """Hyperbolic tangent."""
    return call(kernels, "tanh", x)


register(tanh, kernels)
