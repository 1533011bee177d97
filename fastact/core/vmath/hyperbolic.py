"""tanh.

float32: x Q(a) / (a Q(a) + P(a)), a = |x|, with x clamped to +-TANHK_MAX
(9.19995: tanh rounds to +-1 from 9.011 on, and this formula gives exactly
1 there).  P/Q (degrees 5/6, Horner in a, P(0) = Q(0)) fits k(a) =
a coth(a) - a = 2a/(e^2a - 1) on [0, 9.5], so tanh(a) = a / (a + k) and
1 - tanh(a) = k / (a + k): next to +-1 the roundings of P and Q reach the
result shrunk by 1 - tanh(a), where x P(x^2)/Q(x^2) in float32 loses most
(5.4 ulp).  Q is monic, so that its Horner starts with an add (off the FMA
pipes that bound the loop), and P(0) = Q(0) = 1776 (1.73 * 2^10): next to 0,
P, Q and a Q + P all start there, where a rounding is a small relative error
(the smallest maximum error of the constants tried; the monic fit's own
scale, 2115 = 1.03 * 2^11, gave 4.5 ulp).  One formula, no
selects: 10 fmas and an add for P and Q, one fma for a Q + P, a product and
a division per element, within 3.65 ulp (tools/sweep_f32.py).  P > 0 on
[0, 9.2] (the fit runs past the clamp to keep it so), so |x Q| <= a Q + P
and, rounding being monotonic, |tanh| <= 1.
NaN passes the clamp; -0 and subnormal x come back as themselves (x P(0) /
P(0) rounds back to x there), tiny normal x within 1 ulp of itself.

float64: x + x^3 P(x^2) below atanh(1/2), 1 - 2/(e**2|x| + 1) above (e**2|x|
by exp's reduction and polynomial), with the roundings of the sum and the
quotient put back.
"""

from __future__ import annotations

import functools

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.fits import (
    TANHK_P_F,
    TANHK_Q_F,
    TANHP_D,
    TANHSHR_D_F,
    TANHSHR_N_F,
)
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
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


# float32: P/Q fits k on [0, TANH32_MAX], past which 1 - tanh(a) < 2.1e-8 is
# under half of 1's lower ulp (tanh's own clamp, TANHK_MAX, is just below)
TANH32_MAX = np.float32(9.2)
_TANHK_P = tuple(np.float32(c) for c in TANHK_P_F)
# tanh's clamp: the largest float32 up to TANH32_MAX where the formula gives
# exactly 1 (found by running the loop on every float32 in [9.011, 9.2];
# at 9.2 itself it gives 1 - 2^-24)
TANHK_MAX = np.float32(9.199952125549316)
# Q is monic (TANHK_Q_F[-1] = 1): its Horner starts with a + Q5, an add
_TANHK_Q_LOW = tuple(np.float32(c) for c in TANHK_Q_F[:-2])
_TANHK_Q5 = np.float32(TANHK_Q_F[-2])
_TANHSHR_N1 = tuple(np.float32(c) for c in TANHSHR_N_F[1:])  # N(0) = 1 is added last
_TANHSHR_D1 = tuple(np.float32(c) for c in TANHSHR_D_F[1:])  # D(0) = 3 is added last
_TANHSHR_D0 = np.float32(TANHSHR_D_F[0])


@register_jitable(**JIT)
def tanhshrink_f32(x):
    """float32 x - tanh(x) for |x| < TANH32_MAX (beyond, a value for a select
    to discard; NaN for x = +-inf): x - tanh x = x h / (h + 1), h = a coth(a)
    - 1 = a^2 N(a) / D(a), a = |x|, N/D (fits TANHSHR_N_F, TANHSHR_D_F,
    degrees 5/5, N(0) = 1, D(0) = 3) fitting (a coth(a) - 1) / a^2 on
    [0, TANH32_MAX].  No cancellation: u = a^2 N and D are positive, and a
    relative error in either reaches the result shrunk by D / (u + D) =
    1 - tanh(a) / a, so one formula holds from 0 (x^3 / 3) to the clamp.  a
    is clamped so that the polynomials stay finite for large x.  Within 3.32
    ulp (tools/sweep_kernels.py, every float32).  Any other float type is
    converted (core.math's
    generic kernels type it in their float64 loops too, in a branch that
    float64 never takes)."""
    x = np.float32(x)
    a = abs(x)
    a = select(a < TANH32_MAX, a, TANH32_MAX)
    t = a * a
    u = fma(t * a, horner(a, _TANHSHR_N1), t)
    # the numerator takes back the rounding of t (exact: fma(a, a, -t)),
    # which the denominator's u passes on only in part (tanh(a) / a of it)
    xu = fma(x, u, x * fma(a, a, -t))
    return xu / (fma(a, horner(a, _TANHSHR_D1), u) + _TANHSHR_D0)


def _tanh_f32():
    """float32 tanh (the module docstring); coefficients: tools/fit_vmath.py tanh."""

    @register_jitable(**JIT)
    def tanh_k(x):
        # clamping x (not |x|) keeps its sign in the numerator: no bit
        # operations to put it back
        xc = select(x > TANHK_MAX, TANHK_MAX, x)  # NaN stays NaN
        xc = select(xc < -TANHK_MAX, -TANHK_MAX, xc)
        a = abs(xc)
        q = horner(a, _TANHK_Q_LOW + (a + _TANHK_Q5,))
        return (xc * q) / fma(a, q, horner(a, _TANHK_P))

    return tanh_k


def tanh(x):
    """Hyperbolic tangent."""
    return call(kernels, "tanh", x)


register(tanh, kernels)
