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

float64: u / (u + 2) with u = expm1(2|x|) (expm1's reduction and
polynomial), the sign of x put back; |x| clamped to 20.
"""

from __future__ import annotations

import functools

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath.fits import (
    EXPQ_D,
    TANHK_P_F,
    TANHK_Q_F,
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
    ONE, TWO = cst.ONE, cst.TWO
    LOG2E, LN2HI, LN2LO, poly = cst.LOG2E, cst.LN2HI, cst.LN2LO, cst.poly
    # u / (u + 2) rounds to 1 from a = 19.07 on: clamping there keeps 2**n
    # exact and u + 2 finite
    TANH_SAT = ft(20)
    EXPQ = tuple(ft(c) for c in EXPQ_D)
    # n = rint(y log2 e) from one fma (y <= 40: n <= 58)
    POW2_MAGIC = cst.POW2_MAGIC
    pow2_rint = ldexp_kernels(ft)["pow2_rint"]

    @register_jitable(**JIT)
    def tanh_(x):
        # tanh(a) = u / (u + 2), u = expm1(2a): one formula from 0 (u = 2a
        # to its relative accuracy; subnormal a comes back exact) to the
        # clamp, so every lane runs one exp's work and a division.  (The
        # previous kernel took a polynomial below atanh(1/2) and a
        # compensated 1 - 2/(e^2a + 1) above, both in every lane: within
        # 1.19 ulp, but 1M elements on two threads of a Zen 4 took 925 us
        # against 487, and JAX's 6-ulp tanh 500.)
        a = abs(x)
        a = select(a < TANH_SAT, a, TANH_SAT)  # NaN -> TANH_SAT, fixed below
        y = a + a
        tn = fma(y, LOG2E, POW2_MAGIC)
        n = tn - POW2_MAGIC
        # y = n ln2 + rhi + rlo; rhi exact (as expm1's reduction), kept apart
        rhi = fma(n, -LN2HI, y)
        rlo = n * -LN2LO
        r = rhi + rlo
        # n and 2**n from one fma with a magic addend (no rint, conversion
        # or widening) and Estrin's order for the polynomial (cst.poly): the
        # loop's dependency chain bounds it, not the FMA pipes.  One thread
        # in L1 on Zen 3: 1.96-2.06 -> 1.79-1.80 ns an element (Estrin alone
        # 1.97 -> 1.91; the magic alone moved nothing there or on Ice Lake)
        er = rhi + fma(r * r, poly(r, EXPQ), rlo)  # expm1(r)
        # expm1(y) = t expm1(r) + (t - 1), t = 2**n <= 2**58, t - 1 exact
        # up to 2**53 (beyond, u / (u + 2) is 1 anyway); one rounding, and
        # no cancellation to speak of: at n = 1 the sum is >= 0.41 against
        # a term of at most 0.59.
        t = pow2_rint(tn)
        u = fma(t, er, t - ONE)
        # u's error reaches the result shrunk by 2 / (u + 2); with the
        # sum's and the division's roundings within 2.2 ulp
        # (tools/sample_f64.py).  Putting the sum's rounding back (TwoSum,
        # 1 / (u + 2) = (1 - res) / 2) took it to 1.74 ulp at 1.3x the time.
        res = np.copysign(u / (u + TWO), x)  # -0 stays -0
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
