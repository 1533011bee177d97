"""gelu's tanh form in float32: x sigmoid(z), z = 2u = x (A + B x^2).

A = 2 sqrt(2/pi), B = 0.044715 A (torch's constants, as doubles).  With
E = e^-z the result is x / (1 + E).  For x >= 0, E <= 1 and its errors
reach the result damped by E / (1 + E).  For x < 0 the result is about
x / E, whose relative error is that of E: every absolute error of z shows
in full, so z (up to 112 in magnitude where the result is not 0) must be
right to about 2^-27, far below its own float32 ulp.  z is never rounded:
E = 2^w, w = -z log2(e) = -x m with m = log2(e) (A + B x^2) carried as
mh + ml (mh = fl(A2_hi + B2 x^2), A2_hi a multiple of 2^-20 so that
A2_hi - mh is exact for mh < 16; ml collects that rounding and the low
parts of x^2 and of the constants).  n = rint(-x mh) comes from an fma
that adds 1.5 2^23 (its low bits hold n), and f = (-x mh - n) - x ml, the
first difference exact before its one rounding near 0.  2^f is a
polynomial of its own in f (EXP2Q, Q's constant ln 2), so no product by
ln 2 rounds.  The derivative forms E = 2^n 2^f by an integer addition to
the exponent field; the forward never forms E: its denominator 1 + E is
fma(2^n f, Q(f), 1 + 2^n), 1 + 2^n exact for |n| <= 24, so one rounding
where there were two (2^f, then 1 + E), and one fma fewer in the chain.
Beyond n = 100 (x below about -9.4; E reaches 2^162) numerator and
denominator are scaled by 2^-(n - 100): (x 2^-k) / (2^-k + E 2^-k), every
factor built and applied by integer arithmetic on exponent fields (exact:
all stay normal), the quotient rounded once (into the subnormals too).
x is clamped to [-11, 9]: below -11 the result rounds to -0, above 9
E < 2^-95 and the result is x (inf too).  NaN passes the lower clamp into
the numerator and comes back as itself (quieted); the upper clamp sends
it to 9, so that the integer arithmetic on n never sees it.  All float32,
about 30 operations per element; within 3 ulp over every float32
(tools/sweep_kernels.py).

The derivative is [x >= 0] - sign(x) e w / (1 + e)^2 with e = e^-|z| (the
same exp argument, from a = |x| clamped to 11, as es = e 2^40 to stay
normal there) and w = 1 + e - b, b = a z'(a) = a (A + 3B a^2).  For
x >= 0 the term is a correction of at most 0.13 to 1; for x < 0 it is the
result, and w cancels at a = 0.7525 (gelu's minimum).  b is carried as
bh + bl, scaled by 2^40 like e (z' = A3_hi + 3B a^2 as qh + ql, A3_hi on
a 2^-19 grid like A2_hi; bh's rounding by an fma; B3 times a^2's
rounding, under 2^-25 of b, left out), 2^40 - bh is exact near the root
(Sterbenz) and 2^80 e w = es (2^40 - bh) + es (es - bl) rounds once in
its large term; divided by 2^80 (1 + e)^2 = fma(es, 2^41 + es, 2^80) it
is the result itself, rounded once into the subnormals too.  From 0.08
below the root to 0.14 above it, where e's rounding would show as e / |w|
ulps (more on the side towards 0), the float32 root fit of
core.coefficients takes over: f(r) + d P(d), P of degree 4, d = x - r
exact there, r the float32 nearest the root and f(r) (about -5e-9) a
constant, so no low part of the root is needed.  Beyond -30 the
derivative is +0, beyond 30 it is 1, as in float64; within 4 ulp over
every float32.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba.extending import register_jitable

from fastact.core.coefficients import (
    DGELU_TANH_AT_F32,
    DGELU_TANH_NEAR_F32,
    DGELU_TANH_ROOT_F32,
    DGELU_TANH_ZONE_F32,
)
from fastact.core.vmath.fits import EXP2Q_F
from fastact.core.vmath.intrinsics import JIT, LN2, float_as_int, fma, horner, int_as_float, select

# the definition's constants (torch's), as doubles
GELU_TANH_K2 = 2.0 * math.sqrt(2.0 / math.pi)
GELU_TANH_C = 0.044715
# below it x sigmoid(z) rounds to -0
GELU_TANH_ZERO = -11.0

# A2 + B2 x^2 = log2(e) (A + B x^2), A2 split on a 2^-20 grid, B2 as hi + lo
_A2 = Fraction(GELU_TANH_K2) / LN2
_B2 = _A2 * Fraction(GELU_TANH_C)
_A2_HI = Fraction(round(_A2 * 2**20), 2**20)
A2_HI, A2_LO = np.float32(_A2_HI), np.float32(float(_A2 - _A2_HI))
B2_HI = np.float32(float(_B2))
B2_LO = np.float32(float(_B2 - Fraction(float(B2_HI))))
GELU_K = 40
# fma(-x, mh, MAGIC) rounds to an integer: n + MAGIC, n in its low bits
MAGIC = np.float32(1.5 * 2.0**23)
# clamps
X_LO, X_HI = np.float32(GELU_TANH_ZERO), np.float32(9.0)
ONE = np.float32(1.0)
MANT = np.int32(23)
ONE_BITS = np.int32(0x3F800000)
# the forward scales by 2^-(n - N_MAX) beyond n = N_MAX (n <= 162, so every
# scaled value stays normal; below it 1 + E cannot overflow), in the
# exponent field's units
N_MAX_SH = np.int32(100 << 23)
EXP2Q = tuple(np.float32(c) for c in EXP2Q_F)
# the derivative: b = x z' = x (A + 3B x^2) (A3_hi on a 2^-19 grid: z' < 32)
_A = Fraction(GELU_TANH_K2)
_B3 = 3 * _A * Fraction(GELU_TANH_C)
_A3_HI = Fraction(round(_A * 2**19), 2**19)
A3_HI, A3_LO = np.float32(_A3_HI), np.float32(float(_A - _A3_HI))
# B3's own rounding (2^-25 relative) reaches b damped by 3B a^2 / z' and
# stays below 0.1 ulp of w
B3_HI = np.float32(float(_B3))
# the derivative works in units of 2^-K: b's constants and 1 scaled by 2^K
# (exactly), and (1 + e)^2 by 2^2K, so that its quotient is the result itself
TWO_K, TWO_K1, TWO_2K = (np.float32(2.0**k) for k in (GELU_K, GELU_K + 1, 2 * GELU_K))
A3_HI_K, A3_LO_K, B3_HI_K = (np.float32(float(c) * 2.0**GELU_K) for c in (A3_HI, A3_LO, B3_HI))
# e^-|z| 2^K: MAGIC_PK holds n + K
MAGIC_PK = np.float32(1.5 * 2.0**23 + GELU_K)
D_MAX, D_ZERO = np.float32(-GELU_TANH_ZERO), np.float32(-30.0)
ZERO = np.float32(0.0)
ROOT_HI = np.float32(DGELU_TANH_ROOT_F32[0])
ROOT_AT = np.float32(DGELU_TANH_AT_F32)
ROOT_POLY = tuple(np.float32(c) for c in DGELU_TANH_NEAR_F32)
# the zone lo <= x - ROOT_HI <= hi (asymmetric: the direct formula holds
# closer to the root below it than above) as (x - mid)^2 - half^2 < 0
_ZLO, _ZHI = DGELU_TANH_ZONE_F32
ROOT_MID = np.float32(float(ROOT_HI) + 0.5 * (_ZLO + _ZHI))
ROOT_HALF2 = np.float32((0.5 * (_ZHI - _ZLO)) ** 2)


@register_jitable(**JIT)
def exp2_q(f):
    """Q(f) of 2^f = 1 + f Q(f), |f| <= 1/2, in Estrin's order."""
    f2 = f * f
    q = fma(fma(EXP2Q[5], f, EXP2Q[4]), f2, fma(EXP2Q[3], f, EXP2Q[2]))
    return fma(q, f2, fma(EXP2Q[1], f, EXP2Q[0]))


@register_jitable(**JIT)
def exp2_poly(f):
    """2^f = 1 + f Q(f) for |f| <= 1/2."""
    return fma(exp2_q(f), f, ONE)


@register_jitable(**JIT)
def gelu_tanh_f32(x):
    """float32 x sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) (the module
    docstring).  Any other float type is converted (core.math's generic
    kernels type it in their float64 loops too, in a branch that float64
    never takes)."""
    x = np.float32(x)
    # NaN passes the lower clamp into the numerator and comes back as itself
    # (quieted); the upper clamp sends it to 9, so that the exponent path
    # below (integer arithmetic on t) never sees it
    xl = select(x < X_LO, X_LO, x)
    xc = select(xl < X_HI, xl, X_HI)
    s = xc * xc
    sl = fma(xc, xc, -s)
    # m = log2(e) (A + B x^2) as mh + ml
    mh = fma(B2_HI, s, A2_HI)
    ml = fma(B2_HI, s, A2_HI - mh) + fma(B2_HI, sl, fma(B2_LO, s, A2_LO))
    t = fma(-xc, mh, MAGIC)
    n = t - MAGIC
    f = fma(-xc, ml, fma(-xc, mh, -n))
    # E = 2^n 2^f, t's low bits hold n: shifted they are n 2^23, the
    # exponent field.  Beyond n = N_MAX numerator and denominator are scaled
    # by 2^-k, k = n - N_MAX, by integer subtraction from the exponent
    # fields (exact: every value stays normal).  The denominator
    # 2^-k + 2^(n-k) (1 + f Q) = fma(2^(n-k) f, Q, 2^-k + 2^(n-k)) rounds
    # once, and the fma that would form 1 + f Q leaves the chain
    nsh = np.int32(float_as_int(t) << MANT)
    nm = select(nsh < N_MAX_SH, nsh, N_MAX_SH)
    ksh = np.int32(nsh - nm)
    p2 = int_as_float(np.int32(nm + ONE_BITS))
    sc = int_as_float(np.int32(ONE_BITS - ksh))
    den = fma(f * p2, exp2_q(f), sc + p2)
    return int_as_float(np.int32(float_as_int(xl) - ksh)) / den


@register_jitable(**JIT)
def dgelu_tanh_f32(x):
    """float32 derivative of x sigmoid(z): [x >= 0] - sign(x) e w / (1 + e)^2
    with e = e^-|z|, w = 1 + e - b, b = |x| z'(|x|) = |x| (A + 3B x^2) (the
    module docstring).  Any other float type is converted, as in
    gelu_tanh_f32."""
    x = np.float32(x)
    ax = abs(x)
    a = select(ax > D_MAX, D_MAX, ax)  # NaN stays NaN
    s = a * a
    sl = fma(a, a, -s)
    mh = fma(B2_HI, s, A2_HI)
    ml = fma(B2_HI, s, A2_HI - mh) + fma(B2_HI, sl, fma(B2_LO, s, A2_LO))
    t = fma(-a, mh, MAGIC_PK)
    n = t - MAGIC_PK
    f = fma(-a, ml, fma(-a, mh, -n))
    # es = e 2^K
    es = int_as_float(np.int32(float_as_int(exp2_poly(f)) + np.int32(float_as_int(t) << MANT)))
    # 2^K b = bh + bl: 2^K z' = qh + ql (A3_hi - qh exact), bl = a ql + bh's
    # rounding.  B3 times x^2's rounding is left out of ql: relative to b it
    # is at most 2^-25 3B a^2 / z' (< 2^-25), under 0.1 ulp of w outside
    # the root zone
    qh = fma(B3_HI_K, s, A3_HI_K)
    ql = fma(B3_HI_K, s, A3_HI_K - qh) + A3_LO_K
    bh = a * qh
    bl = fma(a, ql, fma(a, qh, -bh))
    # e w / (1 + e)^2 = 2^2K e w / (2^2K (1 + e)^2): 2^K - bh is exact near
    # the root (Sterbenz); es - bl and its product with es round (each by at
    # most e^2 2^-25 in the units of 2^2K, what es^2 alone would), the
    # numerator once more, the quotient once (also where it is subnormal)
    q = fma(es, TWO_K - bh, es * (es - bl)) / fma(es, TWO_K1 + es, TWO_2K)
    # near the root (x < 0 there): f(r) + d P(d), d exact there (Sterbenz).
    # The zone test is the sign of an fma, which the blend reads directly
    # (no compare, no abs); a NaN x may pass it and gives NaN either way
    d = x - ROOT_HI
    dm = x - ROOT_MID
    near = float_as_int(fma(dm, dm, -ROOT_HALF2)) < np.int32(0)
    qn = select(near, fma(horner(d, ROOT_POLY), d, ROOT_AT), q)
    r = select(float_as_int(x) < np.int32(0), qn, ONE - q)
    return select(x < D_ZERO, ZERO, r)
