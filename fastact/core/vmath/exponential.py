"""exp and its relatives: exp, exp_below, exp_below_2k (bounded arguments, no
overflow handling) and expm1.

exp(x) = 2**n exp(r) with n = rint(x log2(e)) and r = x - n ln2 (ln2 split in
two, the first product exact by FMA), exp(r) a polynomial, and 2**n built from
its bits.  The reduction and the polynomial (``reduction(ft)``) also serve
tanh and erfc.
"""

from __future__ import annotations

import functools

import numpy as np
from numba.extending import register_jitable

from fastact.core.vmath.fits import EXPP5_F, EXPP_D, EXPP_F, EXPQ_D, EXPQ_F
from fastact.core.vmath.intrinsics import (
    JIT,
    call,
    call_scaled,
    coefficients,
    constants,
    float_as_int,
    fma,
    horner,
    int_as_float,
    ldexp_kernels,
    register,
    register_scaled,
    select,
)


def limits(ft):
    """(EXP_LO, EXP_HI): below EXP_LO e**x is 0 (after rounding), above
    EXP_HI inf; clamping there keeps n inside what ldexp takes."""
    return (ft(-104), ft(89)) if ft == np.float32 else (ft(-746), ft(710))


@functools.cache
def reduction(ft) -> dict:
    """exp_reduce (x + lo = n ln2 + r) and exp_poly (exp(r)) for float type `ft`."""
    cst = constants(ft)
    ONE, LOG2E, LN2HI, LN2LO, poly = cst.ONE, cst.LOG2E, cst.LN2HI, cst.LN2LO, cst.poly
    EXPP = coefficients(ft, EXPP_F, EXPP_D)

    @register_jitable(**JIT)
    def exp_reduce(x, lo):
        # x + lo = n ln2 + r, |r| <= ln2/2 (+ rounding).  fma(n, -LN2HI, x)
        # is exact: its result is a multiple of min(ulp(x), ulp(LN2HI)) below
        # 1/2 in magnitude.
        n = np.rint(x * LOG2E)
        r = fma(n, -LN2HI, x)
        return fma(n, -LN2LO, r) + lo, n

    @register_jitable(**JIT)
    def exp_poly(r):
        # exp(r) = 1 + r (1 + r P(r))
        return fma(fma(poly(r, EXPP), r, ONE), r, ONE)

    return dict(exp_reduce=exp_reduce, exp_poly=exp_poly)


@functools.cache
def kernels(ft) -> dict:
    """exp, exp_below and exp_below_2k for float type `ft`."""
    cst = constants(ft)
    NZERO, LN2HI, LN2LO, LOG2E = cst.NZERO, cst.LN2HI, cst.LN2LO, cst.LOG2E
    IT, MANT = cst.IT, cst.MANT
    f32 = cst.f32
    # exp_normal: t + RINT_MAGIC rounds t to an integer (ulp 1 there) in the
    # float's low bits, for |t| < 2**22 (float32) / 2**51 (float64)
    RINT_MAGIC = ft(1.5 * 2.0 ** (23 if f32 else 52))
    EXP_LO, EXP_HI = limits(ft)
    # exp_below: n + EXPB_K >= -E for n >= EXP_LO * log2(e), and
    # n + EXPB_K <= BIAS for x <= 64 (float32) or 640 (float64), less k for
    # exp_below_2k
    EXPB_K = ft(26 if f32 else 56)
    EXPB_SCALE = ft(2.0 ** -(26 if f32 else 56))
    exp_reduce, exp_poly = reduction(ft)["exp_reduce"], reduction(ft)["exp_poly"]
    pow2, scale = ldexp_kernels(ft)["pow2"], ldexp_kernels(ft)["ldexp"]

    @register_jitable(**JIT)
    def exp_(x):
        xc = select(x < EXP_HI, x, EXP_HI)  # NaN -> EXP_HI, fixed below
        xc = select(xc > EXP_LO, xc, EXP_LO)
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, scale(exp_poly(r), n), x)

    @register_jitable(**JIT)
    def exp_below_(x):
        # exp for x <= EXPB_HI (the caller's guarantee): no overflow to
        # handle, so 2**n is one power, 2**(n + EXPB_K) (normal for every n
        # down to EXP_LO) times 2**-EXPB_K, which rounds a subnormal result
        # once.  Half the work of exp_'s two-factor scale.
        xc = select(x > EXP_LO, x, EXP_LO)  # NaN -> EXP_LO, fixed below
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, (exp_poly(r) * pow2(n + EXPB_K)) * EXPB_SCALE, x)

    @register_jitable(**JIT)
    def exp_below_2k_(x, k):
        # e**x * 2**k (k integral, 0 <= k <= 64): exp_below scaled before it
        # rounds, so a kernel can keep e**x normal where it is subnormal.  The
        # clamp moves down with k (2**(n + k + EXPB_K) stays normal): e**x 2**k
        # is right down to where it rounds to 0.
        xlo = fma(k, -LN2HI, EXP_LO)
        xc = select(x > xlo, x, xlo)
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, (exp_poly(r) * pow2(n + (k + EXPB_K))) * EXPB_SCALE, x)

    @register_jitable(**JIT)
    def exp_within_(x):
        # exp_below for EXP_LO <= x <= EXPB_HI only (no NaN): the same
        # operations without the clamp and the NaN select, so bit-equal to
        # exp_below (and to exp_below_2k with k = 0) there.  For the fast
        # blocks of the ufunc loops, whose inputs are checked to lie there.
        r, n = exp_reduce(x, NZERO)
        return (exp_poly(r) * pow2(n + EXPB_K)) * EXPB_SCALE

    @register_jitable(**JIT)
    def exp_normal_(x):
        # exp_within where e**x is normal, x in [EXPN_LO, 0]: 2**n p is
        # exact there, so adding n to p's exponent field gives exp_within's
        # bits without its two products.  n = rint(x log2 e) as the product
        # plus RINT_MAGIC (the same rounding to even as np.rint: the product
        # rounds first, then the sum to an integer), whose low bits hold n:
        # shifted into the exponent field they are n << MANT.
        t, r = normal_reduce(x)
        return normal_scale(exp_poly(r), t)

    @register_jitable(**JIT)
    def normal_reduce(x):
        # (t, r): t = x log2 e + RINT_MAGIC, whose low bits hold n, and
        # r = x - n ln 2 in two fmas
        t = x * LOG2E + RINT_MAGIC
        n = t - RINT_MAGIC
        return t, fma(n, -LN2LO, fma(n, -LN2HI, x))

    @register_jitable(**JIT)
    def normal_scale(p, t):
        # p 2**n with n in t's low bits, by the exponent field
        return int_as_float(IT(float_as_int(p) + IT(float_as_int(t) << MANT)))

    @register_jitable(**JIT)
    def exp_normal_dd_(x, lo):
        # exp_normal(x + lo), |lo| <= ulp(x) / 2: lo joins the reduced argument
        # (one sum, rounded to r's finer grid), so that e**(x + lo) rounds
        # once, where e + e lo after exp_normal would round e twice.  lo = 0
        # gives exp_normal's bits.
        t, r = normal_reduce(x)
        return normal_scale(exp_poly(r + lo), t)

    @register_jitable(**JIT)
    def exp_neg_abs_dd_(zh, zl):
        # e**-|zh + zl|: |z|'s low part is zl with zh's sign bit xor-ed in
        # (an and and a xor; its negation folds into the sum: a select on
        # the sign compiled to a compare and a blend here)
        sign = IT(float_as_int(zh) & float_as_int(NZERO))
        return exp_normal_dd_(-abs(zh), -int_as_float(IT(float_as_int(zl) ^ sign)))

    return dict(
        exp=exp_,
        exp_below=exp_below_,
        exp_below_2k=exp_below_2k_,
        exp_within=exp_within_,
        exp_normal=exp_normal_,
        exp_normal_dd=exp_normal_dd_,
        exp_neg_abs_dd=exp_neg_abs_dd_,
    )


@functools.cache
def short_kernels(ft) -> dict:
    """exp_below_short and exp_normal_short for float type `ft`: float32's
    have a shorter exp, float64's are exp_below and exp_normal themselves."""
    cst = constants(ft)
    if ft != np.float32:
        k = kernels(ft)
        below, b2k = k["exp_below"], k["exp_below_2k"]

        @register_jitable(**JIT)
        def exp_below_short_x4_(x):
            return b2k(x, ft(2))

        exp_reduce, exp_poly = reduction(ft)["exp_reduce"], reduction(ft)["exp_poly"]
        scale, NZ = ldexp_kernels(ft)["ldexp"], cst.NZERO

        @register_jitable(**JIT)
        def exp_short_2k_(x, k):
            r, n = exp_reduce(x, NZ)
            return scale(exp_poly(r), n + k)

        return dict(
            exp_below_short=below,
            exp_normal_short=k["exp_normal"],
            exp_below_short_x4=exp_below_short_x4_,
            exp_short_2k=exp_short_2k_,
        )
    ONE, LOG2E, LN2HI, LN2LO, MANT = cst.ONE, cst.LOG2E, cst.LN2HI, cst.LN2LO, cst.MANT
    RINT_MAGIC = ft(1.5 * 2.0**23)
    EXP_LO = limits(ft)[0]
    EXP_LO_X4 = ft(-106)
    EXPB_K, EXPB_SCALE = ft(26), ft(2.0**-26)
    P5 = tuple(ft(c) for c in EXPP5_F)
    pow2 = ldexp_kernels(ft)["pow2"]

    @register_jitable(**JIT)
    def reduce_poly(x):
        # n = rint(x log2 e) of the exact product (one fma with RINT_MAGIC,
        # whose low bits hold n), r = x - n ln2 in two parts, e^r by a
        # degree-5 polynomial: 8 fmas where exp_normal has 9 and a sum, for
        # up to 1.78 x 2^-24 more relative error
        t = fma(x, LOG2E, RINT_MAGIC)
        n = t - RINT_MAGIC
        r = fma(n, -LN2LO, fma(n, -LN2HI, x))
        return fma(fma(horner(r, P5), r, ONE), r, ONE), n, t

    @register_jitable(**JIT)
    def exp_below_short_(x):
        # exp_below's range handling around reduce_poly
        xc = select(x > EXP_LO, x, EXP_LO)  # NaN -> EXP_LO, fixed below
        p, n, _ = reduce_poly(xc)
        return select(x == x, (p * pow2(n + EXPB_K)) * EXPB_SCALE, x)

    @register_jitable(**JIT)
    def exp_below_short_x4_(x):
        # 4 e**x rounded once (e**x subnormal, 4 e**x not: x in [-89.5,
        # -87.3]), 4 exp_normal_short(x) exactly where e**x is normal.  The
        # clamp sits lower than exp_below's (4 e**x rounds to 0 from -105.4)
        xc = select(x > EXP_LO_X4, x, EXP_LO_X4)  # NaN -> EXP_LO_X4, fixed below
        p, n, _ = reduce_poly(xc)
        return select(x == x, (p * pow2(n + (EXPB_K + ft(2)))) * EXPB_SCALE, x)

    @register_jitable(**JIT)
    def exp_normal_short_(x):
        # e**x where it is normal, x in [-86, 88]: bit-equal there to
        # exp_below_short (x <= 0) and exp_short_2k(x, 0), since 2^n p is
        # exact: n goes into p's exponent field
        p, _, t = reduce_poly(x)
        return int_as_float(np.int32(float_as_int(p) + np.int32(float_as_int(t) << MANT)))

    @register_jitable(**JIT)
    def exp_short_2k_(x, k):
        # e**x 2**k (k integral) where it and 2**(n + k) are normal: the
        # product by the power is exact, so k = 0 gives exp_normal_short's
        # bits, and a kernel can scale an e**x that would overflow
        p, n, _ = reduce_poly(x)
        return p * pow2(n + k)

    return dict(
        exp_below_short=exp_below_short_,
        exp_normal_short=exp_normal_short_,
        exp_below_short_x4=exp_below_short_x4_,
        exp_short_2k=exp_short_2k_,
    )


def normal_range(ft) -> tuple:
    """(lo, hi) of exp_normal: e**x normal (p 2**n with p >= 2**-0.5 and
    n >= -E + 1) and no overflow."""
    return (ft(-86), ft(0)) if ft == np.float32 else (ft(-707), ft(0))


@functools.cache
def expm1_kernels(ft) -> dict:
    """expm1 for float type `ft`."""
    cst = constants(ft)
    ZERO, ONE, LOG2E, LN2HI, LN2LO = cst.ZERO, cst.ONE, cst.LOG2E, cst.LN2HI, cst.LN2LO
    EXP_HI = limits(ft)[1]
    # expm1 is -1 (rounded) below EXPM1_LO, so 2**n stays normal.
    EXPM1_LO = ft(-30) if cst.f32 else ft(-40)
    BIASF = ft(cst.BIAS)
    EXPQ = coefficients(ft, EXPQ_F, EXPQ_D)
    pow2 = ldexp_kernels(ft)["pow2"]

    @register_jitable(**JIT)
    def expm1_(x):
        xc = select(x < EXP_HI, x, EXP_HI)
        xc = select(xc > EXPM1_LO, xc, EXPM1_LO)
        n = np.rint(xc * LOG2E)
        # The reduced argument stays split, rhi (exact) + rlo: rounding it
        # would cost up to 0.7 ulp where n = 1.
        rhi = fma(n, -LN2HI, xc)
        rlo = n * -LN2LO
        r = rhi + rlo
        elo = fma(r * r, horner(r, EXPQ), rlo)  # expm1(r) - rhi
        # expm1(x) = t (rhi + elo) + (t - 1), t = 2**n.  n = BIAS + 1 has no
        # float 2**n: use 2**BIAS and double at the end (exact or overflowing).
        nn = select(n < BIASF, n, BIASF)
        t = pow2(nn)
        tm1 = t - ONE
        # t - 1 is inexact for n > precision: t e + (t - 1) = t (e - c) + tm1
        # with c = (tm1 - t + 1) / t, exact (0 or +-1 times a power of 2).
        elo = elo - ((tm1 - t) + ONE) * pow2(-nn)
        # w + werr = t rhi + tm1 exactly (tm1 - w is exact by Sterbenz, and
        # the error of w is a float), so the sum rounds about once.
        w = fma(t, rhi, tm1)
        werr = fma(t, rhi, tm1 - w)
        res = (w + fma(t, elo, werr)) * (ONE + (n - nn))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    return dict(expm1=expm1_)


def exp(x):
    """e**x."""
    return call(kernels, "exp", x)


def exp_below(x):
    """e**x for x <= 64 (float32) / 640 (float64) only (larger x: garbage, not
    inf): the cheaper exp for kernels whose argument is bounded, e.g. -|x|."""
    return call(kernels, "exp_below", x)


def exp_within(x):
    """exp_below for arguments known to lie in [EXP_LO, 64] (float32; float64:
    [EXP_LO, 640]) and not NaN: bit-equal to exp_below there, without its
    range handling; anything else gives garbage."""
    return call(kernels, "exp_within", x)


def exp_normal(x):
    """exp_within for x in [-86, 0] (float32; float64: [-707, 0]), where e**x
    is normal: bit-equal to exp_within there, cheaper (n goes into the
    exponent field by an integer addition); anything else gives garbage."""
    return call(kernels, "exp_normal", x)


def exp_normal_dd(x, lo):
    """exp_normal(x + lo) for x in exp_normal's range and |lo| <= ulp(x) / 2
    (the low part of an exact product): lo goes into the reduced argument,
    so e**(x + lo) rounds once; lo = 0 gives exp_normal's bits."""
    return call_scaled(kernels, "exp_normal_dd", x, lo)


def exp_neg_abs_dd(zh, zl):
    """exp_normal_dd(-|zh|, lo) with lo = -|zh + zl| - (-|zh|), zl or -zl:
    e**-|z| for z = zh + zl (an exact product) in exp_normal's range,
    rounded once."""
    return call_scaled(kernels, "exp_neg_abs_dd", zh, zl)


def exp_below_short(x):
    """exp_below with float32's shorter reduction and polynomial (up to 0.9
    ulp more error), for kernels whose error budget takes it (sigmoid,
    sigmoid').  float64: exp_below."""
    return call(short_kernels, "exp_below_short", x)


def exp_below_short_x4(x):
    """4 e**x from exp_below_short's reduction and polynomial, rounded once:
    normal where e**x is not yet (tanh' = 4e / (1 + e)^2).  float64: 4 e**x
    by exp_below_2k."""
    return call(short_kernels, "exp_below_short_x4", x)


def exp_normal_short(x):
    """e**x by exp_below_short's reduction and polynomial for x in [-86, 88]
    (float32; float64: exp_normal, [-707, 0]), where e**x is normal:
    bit-equal to exp_below_short (x <= 0) and exp_short_2k(x, 0) there,
    cheaper; anything else gives garbage."""
    return call(short_kernels, "exp_normal_short", x)


def exp_short_2k(x, k):
    """e**x 2**k (k integral) from exp_below_short's reduction and
    polynomial, where e**x 2**k is normal and |k| <= 64 (float32; float64:
    exp's, rounded once): k = 0 gives exp_normal_short's bits, a negative k
    keeps an e**x that would overflow finite."""
    return call_scaled(short_kernels, "exp_short_2k", x, k)


def exp_below_2k(x, k):
    """e**x * 2**k for integral 0 <= k <= 64 and x <= 64 - k (float32; float64:
    640 - k): e**x scaled before it rounds, normal where e**x is subnormal
    (and right, subnormal or 0, below)."""
    return call_scaled(kernels, "exp_below_2k", x, k)


def expm1(x):
    """e**x - 1, accurate near 0."""
    return call(expm1_kernels, "expm1", x)


register(exp, kernels)
register(exp_below, kernels)
register(exp_within, kernels)
register(exp_normal, kernels)
register_scaled(exp_normal_dd, kernels)
register_scaled(exp_neg_abs_dd, kernels)
register_scaled(exp_below_2k, kernels)
register(exp_below_short, short_kernels)
register(exp_normal_short, short_kernels)
register(exp_below_short_x4, short_kernels)
register_scaled(exp_short_2k, short_kernels)
register(expm1, expm1_kernels)
