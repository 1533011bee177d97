"""erf, erfc and erfc_dd_scaled (erfc of a double-length argument, scaled to
stay normal).

Below a threshold erf(x) = x (c0 + x^2 P(x^2)) (and erfc = 1 - erf where
erfc >= 1/2, so the subtraction loses nothing); above it the erfcx form
erfc(a) = exp(-a^2) / (1 + 2a) * S(u), S a polynomial (flat) in
u = (a - 2)/(a + 2) less a centre, and erf = 1 - erfc.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath import exponential
from fastact.core.vmath.fits import (
    ERFC_C0_F,
    ERFC_C0C_D,
    ERFC_T0_F,
    ERFC_TC_D,
    ERFCF_DC,
    ERFCF_F,
    ERFP_D,
    ERFP_F,
    EXPQ_D,
    EXPQ_F,
)
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    call_scaled,
    coefficients,
    constants,
    fma,
    ldexp_kernels,
    register,
    register_scaled,
    select,
    split,
)

TWO_OVER_SQRTPI = Fraction("1.128379167095512573896158903121545171688101258657997713688171443421")


def thresholds(ft):
    """(ERF_T, ERFC_T, TAIL_LO, TAIL_HI) in float type `ft`: the polynomial
    for |x| < ERF_T (erf) / ERFC_T (erfc, where erfc >= 1/2 so 1 - erf loses
    nothing), the erfcx form in [TAIL_LO, TAIL_HI]; erfc(TAIL_HI) rounds to 0."""
    return ft(0.75), ft(0.47), ft(0.46), (ft(10.1) if ft == np.float32 else ft(27.3))


def tail_center(ft):
    """(ERFC_TC, EC0HI, EC0LO): the t the tail polynomial is expanded around
    and its value there (hi + lo).  float64's fit is re-expanded around the
    middle of its interval (tools/fit_vmath.py erfc_center: Horner's terms
    cancelled on [0, 1.5], 2.76 ulp near x = 26.5)."""
    f32 = ft == np.float32
    EC0HI, EC0LO = split(ft, Fraction(ERFC_C0_F if f32 else ERFC_C0C_D))
    return ft(ERFC_T0_F if f32 else ERFC_TC_D), EC0HI, EC0LO


@functools.cache
def helpers(ft) -> dict:
    """erf_poly (erf(x) for small |x|) and tail_arg (|x| clamped to the
    tail's interval) for float type `ft`."""
    C0HI, C0LO = split(ft, TWO_OVER_SQRTPI)
    ERFP = coefficients(ft, ERFP_F, ERFP_D)
    TAIL_LO, TAIL_HI = thresholds(ft)[2:]
    poly = constants(ft).poly

    @register_jitable(**JIT)
    def erf_poly(x):
        # erf(x) = x (c0 + t P(t)), t = x^2, with c0 = C0HI + C0LO
        t = x * x
        return fma(x, C0HI, x * fma(t, poly(t, ERFP), C0LO))

    @register_jitable(**JIT)
    def tail_arg(a):
        # |x| clamped to the tail form's interval (NaN -> TAIL_HI)
        at = select(a > TAIL_LO, a, TAIL_LO)
        return select(at < TAIL_HI, at, TAIL_HI)

    return dict(erf_poly=erf_poly, tail_arg=tail_arg)


@functools.cache
def tail_kernels(ft) -> dict:
    """erfc_tail(a) = erfc(a) and erfc_tail_parts (its unscaled parts) for a
    in [TAIL_LO, TAIL_HI], for float type `ft`."""
    cst = constants(ft)
    ONE, poly, pieces = cst.ONE, cst.poly, cst.pieces
    EK = ft(2)  # K of the erfc fit
    ERFC_TC, EC0HI, EC0LO = tail_center(ft)
    ERFCF = coefficients(ft, ERFCF_F, ERFCF_DC)
    EXPQ = coefficients(ft, EXPQ_F, EXPQ_D)
    exp_reduce = exponential.reduction(ft)["exp_reduce"]
    scale = ldexp_kernels(ft)["ldexp"]

    @register_jitable(**JIT)
    def erfc_tail_parts(a):
        # erfc(a) = exp(-a^2) / (1 + 2a) * S(u), u = (a - K)/(a + K) - T0,
        # for a in [TAIL_LO, TAIL_HI].  S is flat in u, so the rounding of u
        # hardly shows.  The other small relative errors are gathered into
        # the reduced argument of exp, where they cost one rounding of an
        # O(1/2) number: a^2 = h + l exactly (rounding a^2 alone would cost
        # a^2 * 2**-precision), and 1/(1 + 2a) = e (1 + c).
        h = a * a
        l = fma(a, a, -h)  # noqa: E741 (h + l: the high and low parts)
        u = fma(a - EK, ONE / (a + EK), -ERFC_TC)
        # float64 in two Horner pieces: Estrin's order was as accurate in the
        # normal range once the fit was centered (1.42 against 1.46 ulp on
        # tools/sample_f64.py's 100K points) and 10% faster in gelu, but
        # reached 1.01 units of 2**-1074 in the subnormal results (0.96)
        slo = fma(u, pieces(u, ERFCF), EC0LO)  # S - EC0HI
        a2 = a + a
        b = a2 + ONE
        bb = b - a2
        berr = (a2 - (b - bb)) + (ONE - bb)  # 2Sum: b + berr = 1 + 2a
        e = ONE / b
        c = fma(-b, e, ONE) - berr * e  # exact remainder, then 1 + 2a's error
        r, n = exp_reduce(-h, c - l)
        # S, e S and exp(r) e S are O(1) numbers, S just above 1 where a
        # rounding costs a whole 2**-24: keep them as m1 + m2 (m1 = e EC0HI,
        # m2 its exact error plus e slo) so only the last addition rounds a
        # full-size number.
        m1 = e * EC0HI
        m2 = fma(e, slo, fma(e, EC0HI, -m1))
        g = fma(poly(r, EXPQ), r, ONE)  # exp(r) = 1 + r g
        v = fma(m2, r, m1 * r)  # e S r
        # erfc(a) = (m1 + v g + m2) 2**n; 1 + 2a and S for erfc_dd_scaled
        return m1 + fma(v, g, m2), n, b, slo

    @register_jitable(**JIT)
    def erfc_tail(a):
        y, n, b, slo = erfc_tail_parts(a)
        return scale(y, n)

    return dict(erfc_tail_parts=erfc_tail_parts, erfc_tail=erfc_tail)


@functools.cache
def kernels(ft) -> dict:
    """erf and erfc for float type `ft`."""
    cst = constants(ft)
    ZERO, ONE, TWO = cst.ZERO, cst.ONE, cst.TWO
    ERF_T, ERFC_T = thresholds(ft)[:2]
    erf_poly, tail_arg = helpers(ft)["erf_poly"], helpers(ft)["tail_arg"]
    erfc_tail = tail_kernels(ft)["erfc_tail"]

    @register_jitable(**JIT)
    def erf_(x):
        a = abs(x)
        small = a < ERF_T
        ps = erf_poly(select(small, x, ZERO))
        at = tail_arg(a)  # NaN -> TAIL_HI, fixed below
        pl = ONE - erfc_tail(at)
        res = select(small, ps, select(x < ZERO, -pl, pl))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    @register_jitable(**JIT)
    def erfc_(x):
        a = abs(x)
        small = a < ERFC_T
        ps = ONE - erf_poly(select(small, x, ZERO))
        at = tail_arg(a)
        tail = erfc_tail(at)
        res = select(small, ps, select(x < ZERO, TWO - tail, tail))
        return select(x == x, res, x)

    return dict(erf=erf_, erfc=erfc_)


@functools.cache
def dd_kernels(ft) -> dict:
    """erfc_dd_scaled for float type `ft`."""
    cst = constants(ft)
    ZERO, ONE, TWO, HALF = cst.ZERO, cst.ONE, cst.TWO, cst.HALF
    NSIXTH = ft(-1 / 6)
    SAT2 = ft(-60)
    C0HI = split(ft, TWO_OVER_SQRTPI)[0]
    EC0HI = tail_center(ft)[1]
    ERFC_T = thresholds(ft)[1]
    erf_poly, tail_arg = helpers(ft)["erf_poly"], helpers(ft)["tail_arg"]
    erfc_tail_parts = tail_kernels(ft)["erfc_tail_parts"]
    pow2 = ldexp_kernels(ft)["pow2"]

    @register_jitable(**JIT)
    def erfc_dd_scaled_(zh, zl):
        # (m, n): erfc(zh + zl) = m 2**n to first order in zl (|zl| << |zh|,
        # the low part of an argument such as -x/sqrt(2)), m normal where
        # erfc itself is subnormal, so that a product y erfc rounds once.
        # erfc' = -(2/sqrt(pi)) exp(-z^2), and the tail holds exp(-a^2) as
        # erfc(a) (1 + 2a) / S: the correction costs a division, not an exp.
        a = abs(zh)
        small = a < ERFC_T
        neg = zh < ZERO
        xs = select(small, zh, ZERO)
        t = xs * xs
        # exp(-t) to 1e-4 for t < ERFC_T^2: the correction is below an ulp
        gs = fma(fma(fma(t, NSIXTH, HALF), t, -ONE), t, ONE)
        ps = (ONE - erf_poly(xs)) - zl * (C0HI * gs)
        at = tail_arg(a)  # NaN -> TAIL_HI, fixed below
        y, n, b, slo = erfc_tail_parts(at)
        al = select(neg, -zl, zl)  # the low part of |z|
        # 1/S = 1/(EC0HI (1 + w)), |w| < 0.08, to 4e-5 by its series: the
        # correction is at most ~1e-13 relative, and a division would be the
        # third in this function (one divider, 4 lanes per 4.5 cycles here)
        w = slo * (ONE / EC0HI)
        inv_s = fma(fma(fma(w, -ONE, ONE), w, -ONE), w, ONE) * (ONE / EC0HI)
        y = fma(y, -al * (C0HI * b * inv_s), y)
        # beyond 2**-60 the tail is below half an ulp of 2
        m = select(small, ps, select(neg, TWO - y * pow2(select(n > SAT2, n, SAT2)), y))
        k = select(small, ZERO, select(neg, ZERO, n))
        return select(zh == zh, m, zh), k

    return dict(erfc_dd_scaled=erfc_dd_scaled_)


def erf(x):
    """Error function."""
    return call(kernels, "erf", x)


def erfc(x):
    """Complementary error function, relatively accurate in the right tail."""
    return call(kernels, "erfc", x)


def erfc_dd_scaled(zh, zl):
    """(m, n) with erfc(zh + zl) = m * 2**n to first order in zl, |zl| <<
    |zh| (a double-length argument such as -x/sqrt(2) split in two), m
    normal down to erfc's underflow, so that y * erfc(z) can be formed as
    ldexp(y * m, n) with one rounding even where erfc(z) is subnormal."""
    return call_scaled(dd_kernels, "erfc_dd_scaled", zh, zl)


register(erf, kernels)
register(erfc, kernels)
register_scaled(erfc_dd_scaled, dd_kernels)
