"""tanh.

float32 on CPUs: x P(t) / Q(t), t = x^2, one rational function of degrees
4/4 in t on |x| <= 9.2 (tanh rounds to +-1 from 9.011 on; x is clamped
there), computed in float64 and rounded once: 8 fmas, a division and three
conversions per element, where the exp-based formula below needs exp's
reduction, polynomial, a compensated division and the small-|x| polynomial.
In float32 the roundings of P and Q (each Horner step weighs nearly fully
where t is large) reach 5.4 ULP next to 1, and a float32 quotient of P and Q
rounded from float64 still 2.8 ULP and results past +-1; rounded once, the
result is within 1.2 ULP (tools/sweep_f32.py) and |tanh| <= 1 (the rational
stays below 1 + 2^-25).  NaN passes both clamps; -0 and subnormal x come back
as themselves (x * 1 / 1).  GPUs, whose float64 units are slow, keep the
exp-based formula in float32 (``on_cpu``).

float64 (and float32 on GPUs): x + x^3 P(x^2) below atanh(1/2),
1 - 2/(e**2|x| + 1) above (e**2|x| by exp's reduction and polynomial), with
the roundings of the sum and the quotient put back.
"""

from __future__ import annotations

import functools

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.fits import TANHP_D, TANHP_F, TANHR_P_F, TANHR_Q_F
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    coefficients,
    constants,
    fma,
    horner,
    ldexp_kernels,
    on_cpu,
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

    if not cst.f32:
        return dict(tanh=tanh_)
    rational = _rational_f32()

    @register_jitable(**JIT)
    def tanh_f32(x):
        if on_cpu():
            return rational(x)
        return tanh_(x)

    return dict(tanh=tanh_f32)


def _rational_f32():
    """float32 tanh (the module docstring); coefficients: tools/fit_vmath.py tanh."""
    XMAX = np.float32(9.2)
    P = coefficients(np.float64, (), TANHR_P_F)
    Q = coefficients(np.float64, (), TANHR_Q_F)
    F32, F64 = np.float32, np.float64

    @register_jitable(**JIT)
    def tanh_r(x):
        # NaN fails both compares and stays NaN
        xc = F64(select(x < -XMAX, -XMAX, select(x > XMAX, XMAX, x)))
        t = xc * xc
        return F32(xc * horner(t, P) / horner(t, Q))

    return tanh_r


def tanh(x):
    """Hyperbolic tangent."""
    return call(kernels, "tanh", x)


register(tanh, kernels)
