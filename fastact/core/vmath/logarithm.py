"""log, log1p and log1p_unit (log1p for arguments in [0, 1]).

x = 2**k m with m in [sqrt(1/2), sqrt(2)) read from the bits of x, then
log(m) = f - f^2/2 + s (f^2/2 + R(s^2)) with f = m - 1 and s = f / (2 + f),
and k ln2 added with ln2 in two parts.  log1p forms 1 + x with its rounding
error and adds that error's first-order effect.
"""

from __future__ import annotations

import functools

from numba.extending import register_jitable

from fastact.core.vmath.fits import LOGR_D, LOGR_F
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    coefficients,
    constants,
    float_as_int,
    fma,
    horner,
    int_as_float,
    register,
    select,
)


@functools.cache
def core(ft):
    """log_core(u, kadj, corr) = log(u * 2**kadj) + corr for float type `ft`."""
    cst = constants(ft)
    I32, IT, MANT, ONE, TWO, HALF = cst.I32, cst.IT, cst.MANT, cst.ONE, cst.TWO, cst.HALF
    LN2HI, LN2LO = cst.LN2HI, cst.LN2LO
    f32 = cst.f32
    # top bits of sqrt(1/2): reducing against it puts the mantissa m in
    # [sqrt(1/2), sqrt(2)), so f = m - 1 is exact and |f| <= 0.4143.
    SQH_HI = I32(0x3F3504F3 if f32 else 0x3FE6A09E)
    HSHIFT = IT(0 if f32 else 32)
    KSHIFT = I32(23 if f32 else 20)
    LOGR = coefficients(ft, LOGR_F, LOGR_D)

    @register_jitable(**JIT)
    def log_core(u, kadj, corr):
        # log(u * 2**kadj) + corr for positive finite normal u (inf gives a
        # finite value, replaced by the callers); corr is tiny.
        iu = float_as_int(u)
        k = I32((I32(iu >> HSHIFT) - SQH_HI) >> KSHIFT)
        m = int_as_float(IT(iu - (IT(k) << MANT)))
        f = m - ONE
        kf = ft(k) + kadj
        # log(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f): an
        # identity, so the leading f is exact and s only feeds corrections.
        s = f / (TWO + f)
        z = s * s
        R = z * horner(z, LOGR)
        hfsq = HALF * f * f
        lo = fma(s, hfsq + R, fma(kf, LN2LO, corr))
        return fma(kf, LN2HI, f - (hfsq - lo))

    return log_core


@functools.cache
def kernels(ft) -> dict:
    """log, log1p and log1p_unit for float type `ft`."""
    cst = constants(ft)
    ZERO, ONE, INF, NAN = cst.ZERO, cst.ONE, cst.INF, cst.NAN
    f32 = cst.f32
    # log: subnormals are scaled up by 2**SUBK first.
    SUBK = 24 if f32 else 54
    TINYN = ft(2.0**-cst.E)
    SUBSCALE, SUBKF = ft(2.0**SUBK), ft(SUBK)
    LOG1P_TINY = ft(2.0 ** (-25 if f32 else -54))  # log1p(x) rounds to x below
    log_core = core(ft)

    @register_jitable(**JIT)
    def log_(x):
        sub = x < TINYN
        u = select(sub, x * SUBSCALE, x)
        u = select(x > ZERO, u, ONE)  # x <= 0 and NaN: fixed below
        res = log_core(u, select(sub, -SUBKF, ZERO), ZERO)
        res = select(x == INF, x, res)
        res = select(x == ZERO, -INF, res)
        res = select(x < ZERO, NAN, res)
        return select(x == x, res, x)

    @register_jitable(**JIT)
    def log1p_(x):
        u = ONE + x
        # 2Sum: u + err = 1 + x exactly; log1p(x) = log(u) + err/u.
        bb = u - ONE
        err = (ONE - (u - bb)) + (x - bb)
        u = select(u > ZERO, u, ONE)
        u = select(u < INF, u, ONE)
        err = select(x < INF, err, ZERO)
        res = log_core(u, ZERO, err / u)
        res = select(abs(x) < LOG1P_TINY, x, res)
        res = select(x == INF, x, res)
        res = select(x == -ONE, -INF, res)
        res = select(x < -ONE, NAN, res)
        return select(x == x, res, x)

    @register_jitable(**JIT)
    def log1p_unit_(x):
        # log1p for 0 <= x <= 1 (or NaN) only, as log(1 + e^-|z|) in the
        # softplus kernels: none of log1p_'s negative, infinite or tiny cases
        # (x below 2**-25 gives u = 1 and err = x: the result is x exactly)
        u = ONE + x
        err = x - (u - ONE)  # Fast2Sum (1 >= x): u + err = 1 + x
        return select(x == x, log_core(u, ZERO, err / u), x)

    return dict(log=log_, log1p=log1p_, log1p_unit=log1p_unit_)


def log(x):
    """Natural logarithm; log(0) = -inf, log(x < 0) = nan."""
    return call(kernels, "log", x)


def log1p(x):
    """log(1 + x), accurate near 0."""
    return call(kernels, "log1p", x)


def log1p_unit(x):
    """log(1 + x) for 0 <= x <= 1 only (and NaN): log1p without the cases
    outside that range, for kernels whose argument is e**-|z|."""
    return call(kernels, "log1p_unit", x)


for _stub in (log, log1p, log1p_unit):
    register(_stub, kernels)
