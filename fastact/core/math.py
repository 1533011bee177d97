"""Scalar math shared by every kernel, written once for float32 and float64.

The elementary functions are those of ``core.vmath`` (polynomials, no libm
calls), so a ufunc loop calling a kernel vectorizes.  Kernels and helpers are
compiled per loop type by ``core.typed.retype``: plain literals become constants
of that type, and ``per_type(f32, f64)`` marks the constants whose value must
differ (underflow and saturation thresholds, low parts of split constants,
root fits).  A float32 loop therefore computes in float32 throughout.

Every argument of exp here is bounded above (mostly -|x|), so the kernels
call ``exp_below``, the exp without overflow handling (half the scaling work).

For vectorization the hot helpers have no data-dependent branches: both sides
are computed (inputs clamped first so that neither side overflows where the
result is finite) and the result is chosen with ``select``.  Special values
(NaN, +-inf, signed zeros) are restored by selects at the end.

Besides the elementary functions there are a few error-free transformations
(``two_prod`` through an FMA, exact in any precision): where a kernel feeds a
rounded product such as ``beta * x`` into exp, the rounding error of the
product is amplified by the size of the exponent (|z| ULP for exp(z)), so
those kernels carry the low part of the product.

Where a derivative has a real root, every direct formula for it cancels near
the root (its relative error grows like 1/|x - x0|): there the kernels switch
to a polynomial in x - x0 (``near_root``/``poly_at_root``) whose coefficients
``tools/gen_coeffs.py`` fits with mpmath into ``core.coefficients``.

Where exp(z) is subnormal (z < exp_split()) but x * exp(z) is still a normal
number, exp(z) has lost bits: the kernels compute (x * h) * h with
h = exp(z / 2) instead, through the same single call of exp (``exp_or_half``),
or, where the product underflows soon enough, (x * e) * 2^-K with e = e^z 2^K
rounded once (``exp_or_scaled``: the squared h costs twice exp's error).
"""

import math
from fractions import Fraction

import numpy as np
from numba import njit

from fastact.core import coefficients as C
from fastact.core.typed import per_type

# the registry's kernels call these through this module (m.exp, m.tanh ...)
from fastact.core.vmath import (  # noqa: F401 (exp, expm1, log, log1p, tanh: for m.NAME)
    dgelu_tanh_f32,
    exp,
    exp_below,
    exp_below_2k,
    exp_normal,
    exp_within,
    expm1,
    float_as_int,
    fma,
    gelu_tanh_f32,
    horner,
    horner_select,
    log,
    log1p,
    log1p_unit,
    on_cpu,
    or_sign,
    over_pow2_rint,
    pow2,
    pow2_rint,
    select,
    tanh,
)
from fastact.core.vmath.exponential import (
    exp_below_short,
    exp_below_short_x4,
    exp_neg_abs_dd,
    exp_normal_short,
    exp_short_2k,
)
from fastact.core.vmath.fits import EXPP_D, EXPP_F, TANHSR_F
from fastact.core.vmath.hyperbolic import TANH32_MAX, tanhshrink_f32
from fastact.core.vmath.intrinsics import constants as _vconstants

_jit = njit(cache=False, nogil=True, error_model="numpy")


def _lo32(hi, lo=0.0):
    """Low part of the constant hi + lo (hi a double) as split for float32:
    hi + lo - float32(hi); hi - float32(hi) is exact in float64."""
    return (hi - float(np.float32(hi))) + lo


SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2/pi), as torch's kBeta
INV_SQRT_2 = 0.7071067811865476  # 1/sqrt(2), high part
INV_SQRT_2_LO = -4.833646656726457e-17  # 1/sqrt(2) - INV_SQRT_2
INV_SQRT_2_LO32 = _lo32(INV_SQRT_2, INV_SQRT_2_LO)
TWO_OVER_SQRT_PI = 1.1283791670955126  # 2/sqrt(pi)
INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2*pi), high part
INV_SQRT_2PI_LO = -2.49232720227773e-17  # 1/sqrt(2*pi) - INV_SQRT_2PI
INV_SQRT_2PI_LO32 = _lo32(INV_SQRT_2PI, INV_SQRT_2PI_LO)
INF = math.inf
# exp's reduction (core.vmath) for gauss_exp: ln 2 split per type, and
# c exp(-r/2) as a polynomial in r from exp's (exp(u) = 1 + u (1 + u P(u))),
# times a power of two (exact scalings)
LOG2E = 1.4426950408889634
LN2HI_32, LN2LO_32 = (
    float(v) for v in (_vconstants(np.float32).LN2HI, _vconstants(np.float32).LN2LO)
)
LN2HI_64, LN2LO_64 = (
    float(v) for v in (_vconstants(np.float64).LN2HI, _vconstants(np.float64).LN2LO)
)
# 2^(n + GAUSS_EXP_K32 / _K64) stays normal down to the smallest n of gauss_exp
# (h up to 226 in float32, 1600 in float64)
GAUSS_EXP_K32, GAUSS_EXP_K64 = 40.0, 140.0
# fma(h, c, magic) rounds h c to the integer n and holds n + K + bias in its
# low bits (between 1 and 2 bias over gauss_exp's range of h): pow2_rint
# makes 2^(n + K) of it with one shift, no rounding or conversion to int
GAUSS_EXP_MAGIC32 = float(_vconstants(np.float32).POW2_MAGIC) + GAUSS_EXP_K32
GAUSS_EXP_MAGIC64 = float(_vconstants(np.float64).POW2_MAGIC) + GAUSS_EXP_K64
# float32 gelu never forms e: it divides S's denominator by 2^(n + K) on
# its exponent field (over_pow2_rint).  K = 64 keeps that denominator
# (0.79 to 2^16) and S 2^(n + K) normal for every n (down to -162)
GELU32_K = 64.0
GELU32_MAGIC = 1.5 * 2.0**23 + GELU32_K


def _gauss_exp_poly(scale, coeffs):
    c = scale * INV_SQRT_2PI
    return (c, -0.5 * c) + tuple(c * v * (-0.5) ** (k + 2) for k, v in enumerate(coeffs))


# GAUSS_EXP_Ej_*: the polynomial for e 2^j, per type
GELU32_EXP = _gauss_exp_poly(2.0**-GELU32_K, EXPP_F)
GAUSS_EXP_E0_D = _gauss_exp_poly(2.0**-GAUSS_EXP_K64, EXPP_D)
GAUSS_EXP_E32_F = _gauss_exp_poly(2.0 ** (32 - GAUSS_EXP_K32), EXPP_F)
GAUSS_EXP_E32_D = _gauss_exp_poly(2.0 ** (32 - GAUSS_EXP_K64), EXPP_D)
F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)


@_jit
def exp_split():
    """Below this, exp(z) is within a factor ~e^8 of the subnormals: products
    y * exp(z) go through exp(z / 2) twice."""
    return per_type(-80.0, -700.0)


@_jit
def clamp(x, lo, hi):
    """x limited to [lo, hi]; NaN gives hi (callers restore NaN themselves)."""
    x = select(x > lo, x, lo)
    return select(x < hi, x, hi)


@_jit
def two_prod(a, b):
    """(p, e) with p = fl(a*b) and p + e == a*b exactly (FMA, any precision).

    Where p overflows e would be -+inf: it is 0 there, no caller needs it.
    """
    p = a * b
    e = fma(a, b, -p)
    return p, select(abs(p) < INF, e, 0.0)


@_jit
def two_diff(a, b):
    """(s, err): s = fl(a - b), s + err == a - b exactly (TwoSum; the CUDA
    softmax's sums, backends/cuda/_axis.py, and dsilu64_fast's d)."""
    s = a - b
    bb = s - a
    return s, (a - (s - bb)) - (b + bb)


@_jit
def div_dd(a, b):
    """(q, r) with q = fl(a/b) and q + r = a/b to about twice the precision."""
    q = a / b
    r = fma(-q, b, a) / b
    return q, select(abs(q) < INF, r, 0.0)


@_jit
def exp_dd(zh, zl):
    """exp(zh + zl) for |zl| << 1 and zh <= 64 (exp_below): e + e zl rounds
    once, where e (1 + zl) would first round 1 + zl to the coarse grid just
    above 1."""
    e = exp_below(zh)
    return fma(e, zl, e)


@_jit
def exp_or_half(zh, zl, wh, wl):
    """(split, e) for the products y * exp(z), z = zh + zl, of the kernels.

    Normally e = exp(wh + wl) (the kernel's own argument, often -|z|); where
    z < exp_split() exp(z) has lost bits, and then split is true and
    e = exp(z / 2): the caller forms (y e) e.  One exp either way.
    """
    split = zh < exp_split()
    return split, exp_dd(select(split, 0.5 * zh, wh), select(split, 0.5 * zl, wl))


@_jit
def exp_or_scaled(zh, zl):
    """(split, e) for products p * exp(z), z = zh + zl < 0 below the split:
    e = exp(-|z|) (zl to first order), and where z < exp_split() e^z scaled
    by 2^K before it rounds (normal where e^z has lost bits; the caller
    forms (p e) * split_down()).  Only for products that underflow before
    z reaches exp_below_2k's range (z > -126 float32, -790 float64), e.g.
    (1 + z) e^z; one exp either way."""
    split = zh < exp_split()
    e = exp_below_2k(-abs(zh), select(split, split_k(), 0.0))
    return split, fma(e, select(zh >= 0.0, -zl, zl), e)


@_jit
def deep_split():
    """Below this even e^z 2^K of exp_or_scaled is subnormal."""
    return per_type(-109.0, -750.0)


@_jit
def exp_for_product(zh, zl):
    """(split, deep, e) for products x * exp(z) that stay normal far below
    where exp(z) does (|x| large): e = exp(-|z|) (zl to first order); below
    the split e^z 2^K (one rounding, as exp_or_scaled; the caller forms
    (x e) * split_down()); below deep_split() exp(z / 2), for (x e) e."""
    split = zh < exp_split()
    deep = zh < deep_split()
    k = select(deep, 0.0, select(split, split_k(), 0.0))
    e = exp_below_2k(select(deep, 0.5 * zh, -abs(zh)), k)
    wl = select(deep, 0.5 * zl, select(zh >= 0.0, -zl, zl))
    return split, deep, fma(e, wl, e)


@_jit
def split_k():
    """K of exp_or_scaled: e^z 2^K stays normal down to deep_split()."""
    return per_type(32.0, 64.0)


@_jit
def split_down():
    """2^-K of exp_or_scaled (split_k)."""
    return per_type(2.0**-32, 2.0**-64)


@_jit
def sigmoid_of(x, e):
    """sigmoid(x) from e = exp(-|x|): 1/(1+e) or e/(1+e), one division."""
    return select(x >= 0.0, 1.0, e) / (1.0 + e)


@_jit
def sigmoid(x):
    # Never evaluates exp of a positive argument: no overflow, no inf/inf.
    return sigmoid_of(x, exp_below(-abs(x)))


@_jit
def sign_set(x):
    """Whether x's sign bit is set: x < 0 or x = -0 (or a negative NaN).  A
    select on it needs no compare: the blend takes its mask from x's sign
    bit.  The fast kernels use it where -0 gives the bits of +0 either way."""
    return float_as_int(x) < float_as_int(0.0)


@_jit
def sigmoid_short(x):
    """The sigmoid kernel's: sigmoid with float32's shorter exp (one fma and
    a sum fewer, up to 0.9 ulp more error); float64's is sigmoid's.
    (logsigmoid' keeps sigmoid.)

    float32 computes 1 / (1 + e^-x) for every x, as sigmoid_fast does: where
    e^-x would leave the normal range (x < -80) numerator and denominator
    are scaled by 2^-64 (E = e^-x 2^-64 rounded once), so that the one
    division also rounds the subnormal results; -x is clamped to [-80, 110],
    beyond which sigmoid rounds to 1 or 0."""
    if per_type(1.0, 0.0) > 0.5:
        z = clamp(-x, -80.0, 110.0)
        big = z > 80.0
        num = select(big, 5.421010862427522e-20, 1.0)  # 2^-64
        res = num / (num + exp_short_2k(z, select(big, -64.0, 0.0)))
        return select(x == x, res, x)
    return sigmoid_of(x, exp_below_short(-abs(x)))


@_jit
def sigmoid_fast(x):
    """sigmoid_short for |x| <= -exp_split() (no NaN), bit-equal to it there
    (the ufunc loops call it for calls or blocks whose inputs all lie there:
    the registry's fast_range).  float32: 1 / (1 + e^-x) on the whole range
    (e^80 is finite), with no |x| and no select on the sign, which the loop
    pays for in its pipes more than for the longer dependency chain; within
    3.51 ulp (every float32 there; e^-|x| and a select on the sign: 3.43).
    float64: e^-|x| is normal, so exp_normal_short serves, without the
    clamp, NaN select and two scalings."""
    if per_type(1.0, 0.0) > 0.5:
        return 1.0 / (1.0 + exp_normal_short(-x))
    e = exp_normal_short(-abs(x))
    # x = -0: e = 1 on either side
    return select(sign_set(x), e, 1.0) / (1.0 + e)


@_jit
def fast_range():
    """(lo, hi): the x where the *_fast kernels of sigmoid, silu and silu'
    hold, |x| <= -exp_split() (e^-|x| normal)."""
    return exp_split(), -exp_split()


@_jit
def sigmoid_dd(hi, lo):
    """sigmoid(hi + lo), |lo| << |hi|: the low part goes into exp."""
    return sigmoid_of(hi, exp_dd(-abs(hi), select(hi >= 0.0, -lo, lo)))


@_jit
def dsigmoid(x):
    """sigmoid'(x) = e / (1 + e)**2 with e = exp(-|x|): no 1 - s cancellation.
    (1 + e)**2 as 1 + e (2 + e), one fma: rounding 1 + e and then its square
    would cost up to 1.5 ULP (as much as exp), and carrying 1 + e's rounding
    error lengthens the dependency chain, which is what limits these loops.
    float32 takes the shorter exp (exp_below_short), as sigmoid_short."""
    e = exp_below_short(-abs(x))
    return e / fma(e, 2.0 + e, 1.0)


@_jit
def dsigmoid_fast(x):
    """dsigmoid for x in fast_range() (no NaN), bit-equal to it there."""
    e = exp_normal_short(-abs(x))
    return e / fma(e, 2.0 + e, 1.0)


@_jit
def softplus_dd(hi, lo):
    """softplus(hi + lo) = max(z, 0) + log1p(e^-|z|), plus lo sigmoid(hi)
    (softplus' = sigmoid), both from one exp.  NaN propagates through log1p."""
    e = exp_below(-abs(hi))
    return (select(hi > 0.0, hi, 0.0) + log1p_unit(e)) + lo * sigmoid_of(hi, e)


@_jit
def dtanh(x):
    """1 - tanh(x)**2 as 4e / (1 + e)**2, e = exp(-2|x|): exact for large |x|.
    (1 + e)**2 as one fma, as in dsigmoid."""
    e = exp_below(-2.0 * abs(x))
    return 4.0 * e / fma(e, 2.0 + e, 1.0)


@_jit
def dtanh_short(x):
    """The tanh kernel's tanh' from x: dtanh with float32's shorter exp
    (as sigmoid'), 4e rounded once (exp_below_short_x4: 4e is normal down to
    |x| = 44.7 where e is not, and a subnormal e would cost 2 ulp of it);
    float64's is dtanh's.  (tanhshrink' keeps dtanh.)"""
    z = -2.0 * abs(x)
    if per_type(1.0, 0.0) > 0.5:
        e4 = exp_below_short_x4(z)
        e = 0.25 * e4
    else:
        e = exp_below(z)
        e4 = 4.0 * e
    return e4 / fma(e, 2.0 + e, 1.0)


@_jit
def dtanh_fast(x):
    """dtanh_short for x in dtanh_fast_range() (no NaN), bit-equal to it
    there: e^-2|x| is normal, so exp_normal_short serves."""
    e = exp_normal_short(-2.0 * abs(x))
    return 4.0 * e / fma(e, 2.0 + e, 1.0)


@_jit
def dtanh_fast_range():
    """(lo, hi): the x where dtanh_fast holds, e^-2|x| normal."""
    return per_type(-43.0, -353.0), per_type(43.0, 353.0)


@_jit
def tanhshrink_poly(x):
    """x - tanh(x) = x^3 R(x^2) for |x| <= TANHSHRINK_X_MAX (any x: finite or
    inf/NaN garbage, for a select to discard).  float32 takes its own fit
    (vmath.fits.TANHSR_F, 8 terms where float64's R has 17)."""
    t = x * x
    if per_type(1.0, 0.0) > 0.5:
        return x * t * horner(t, TANHSR_F)
    return x * t * horner(t, C.TANHSHRINK_R)


@_jit
def tanhshrink(x):
    """x - tanh(x) without the cancellation of the subtraction for |x| < ~2."""
    ax = abs(x)
    if per_type(1.0, 0.0) > 0.5:
        # one rational form below TANH32_MAX (vmath.hyperbolic.tanhshrink_f32);
        # beyond, 1 - tanh(|x|) < 2e-8 is under 0.03 ULP of |x| - 1.  NaN
        # fails the comparison and stays NaN; "+ 0.0" as below.
        return select(ax < TANH32_MAX, tanhshrink_f32(x) + 0.0, x - math.copysign(1.0, x))
    # x - tanh x = sign(x) ((|x| - 1) + 2 / (e^(2|x|) + 1)): two non-negative
    # terms, |x| - 1 exact.  Beyond |x| = 20 the second term (< 1e-17) is below
    # half an ULP of |x| - 1: clamping there keeps exp finite.  NaN stays NaN
    # through ax - 1.
    c = 2.0 / (exp_below(2.0 * select(ax < 20.0, ax, 20.0)) + 1.0)
    big = math.copysign((ax - 1.0) + c, x)
    # "+ 0.0" turns the -0 of x = -0 (or of an underflowing x^3) into the +0
    # that x - tanh(x) gives, as torch does.
    return select(ax <= C.TANHSHRINK_X_MAX, tanhshrink_poly(x) + 0.0, big)


@_jit
def dtanhshrink(x):
    """tanh(x)^2, the derivative of x - tanh(x).

    Squaring an rounded tanh doubles its error: for |x| <= 1 tanh x =
    x - tanhshrink(x), the subtrahend at most 0.24 |x| and accurate; beyond,
    1 - sech^2 x with sech^2 = dtanh small and accurate.
    """
    v = x - tanhshrink_poly(x)
    return select(abs(x) <= C.TANHSHRINK_X_MAX, v * v, 1.0 - dtanh(x))


@_jit
def near_root(xh, root, zone):
    """Whether xh - root lies in zone = (lo, hi), the interval of a root fit."""
    dz = xh - root[0]
    return (dz >= zone[0]) & (dz <= zone[1])


@_jit
def poly_at_root(xh, xl, root, c):
    """f'(x) = sum_k c[k-1] d^k (k >= 1) near a root of f', d = (xh + xl) - root.

    `root` is split (hi, lo) in the loop's type and `c` the coefficients from
    core.coefficients.  xh - root_hi is exact (Sterbenz) for xh within a
    factor 2 of the root, so d carries no cancellation error and f'(root) = 0
    exactly; xl is the low part of an argument computed as a product (swish:
    b * x).
    """
    d = ((xh - root[0]) - root[1]) + xl
    return horner(d, c) * d


@_jit
def one_plus_dd(e):
    """(qh, ql) with qh = fl(1 + e) and qh + ql == 1 + e exactly, 0 <= e <= 1."""
    qh = 1.0 + e
    return qh, e - (qh - 1.0)


@_jit
def mul_sigmoid_dd(x, zh, zl):
    """x * sigmoid(zh + zl): swish's forward (z = b x; silu: mul_sigmoid).

    (x e) / (1 + e) for z < 0 and x / (1 + e) otherwise, e = exp(-|z|); below
    the split (x e 2^K) 2^-K, far below ((x h) h), h = exp(z / 2) (1 + e is 1
    in both; see exp_for_product).  x is clamped to the finite numbers where
    it meets a vanishing e (z -> -inf), so that x = +-inf gives the limit, a
    zero of x's sign, and not inf * 0.
    """
    split, deep, e = exp_for_product(zh, zl)
    xe = clamp_finite(x) * e
    r = x_sigmoid_of(x, zh, split, select(deep, xe * e, xe * split_down()), xe, e)
    if per_type(1.0, 0.0) > 0.5:
        # float32's fast kernel puts zl into exp's reduced argument: the
        # common range takes its result, so that a block of the ufunc loop
        # that runs it alone gives the same bits
        lo, hi = fast_range()
        r = select((zh >= lo) & (zh <= hi), mul_sigmoid_dd_fast(x, zh, zl), r)
    return r


@_jit
def mul_sigmoid(x):
    """x * sigmoid(x), silu: mul_sigmoid_dd without its deep branch, which
    only serves an x far larger than e^-z (swish): below deep_split() x e^x
    is far below the subnormals in both types.  Bit-equal to
    mul_sigmoid_dd(x, x, 0) on every float32 and on 1.2M float64 points
    down to -800; in cache, one thread, float32 1.03 -> 0.87 ns/el, float64
    2.49 -> 2.40."""
    split, e = exp_or_scaled(x, 0.0)
    xe = clamp_finite(x) * e
    return x_sigmoid_of(x, x, split, xe * split_down(), xe, e)


@_jit
def mul_sigmoid_fast(x):
    """mul_sigmoid for x in fast_range() (no NaN), bit-equal to it there:
    no split (e^-|x| is normal), no clamp of x, no NaN select."""
    e = exp_normal(-abs(x))
    # x = -0: x e = x
    return select(sign_set(x), x * e, x) / (1.0 + e)


@_jit
def mul_sigmoid_dd_fast(x, zh, zl):
    """mul_sigmoid_dd for zh in fast_range() (no NaN), bit-equal to it there."""
    # zh = -0: e = 1 and x e = x (zl = 0)
    neg = sign_set(zh)
    if per_type(1.0, 0.0) > 0.5:
        # zl inside exp's reduced argument: e rounded twice (fma(e, zl, e)
        # after exp) took the result to 3.9 ULP where it nears a power of 2
        # in magnitude (z near -6.13 at beta 1.702); zl = 0 leaves silu's
        # bits
        e = exp_neg_abs_dd(zh, zl)
    else:
        e = exp_normal(-abs(zh))
        e = fma(e, select(neg, zl, -zl), e)
    return select(neg, x * e, x) / (1.0 + e)


@_jit
def clamp_finite(x):
    """x clamped to the finite numbers: an infinite x meeting a vanishing e
    gives the limit, a zero of x's sign, and not inf * 0."""
    return clamp(x, -per_type(F32_MAX, F64_MAX), per_type(F32_MAX, F64_MAX))


@_jit
def x_sigmoid_of(x, zh, split, low, xe, e):
    """The last step of x sigmoid(z) from e = exp(-|z|): x / (1 + e) for
    z >= 0, else x e (`xe`), or `low` (its scaled form) below the split."""
    r = select(zh >= 0.0, x, select(split, low, xe)) / (1.0 + e)
    # a NaN x as itself (see dsilu_dd; a NaN z with a number x stays NaN)
    return select(x == x, r, x)


@_jit
def dsilu_fast(zh, zl):
    """silu'(z) at z = zh + zl for |zh| <= -exp_split() (no NaN), where
    dsilu_dd takes its result: n / q^2 with q = 1 + e, e = exp(-|z|),
    n = 1 + e (1 + z) (z >= 0) or e (1 + z) + e zl + e^2, q^2 = 1 + e (2 + e), each
    rounded plainly (dsilu_dd's double-word q and split exp are for the
    tails), and the root fit where n cancels.  The ufunc loops call it
    alone for blocks whose inputs all lie there (the registry's
    fast_range), which skips dsilu_dd's tail handling.  float64 takes
    dsilu64_fast instead (no root fit)."""
    if per_type(1.0, 0.0) < 0.5:
        return dsilu64_fast(zh, zl)
    # zh = -0: e = 1 and n = 2, as for +0 (zl = 0)
    neg = sign_set(zh)
    # zl inside exp's reduced argument and e zl + e^2 in one rounding: e
    # rounded twice (fma(e, zl, e) after exp) and zl + e rounded took the
    # result to 4.1 ULP where it nears a power of 2 in magnitude (z near
    # -0.54, -0.84, -4.79); zl = 0 leaves silu''s bits
    e = exp_neg_abs_dd(zh, zl)
    dz = zh - per_type(C.DSILU_ROOT_F32, C.DSILU_ROOT)[0]
    # poly_at_root's argument
    d = (dz - per_type(C.DSILU_ROOT_F32, C.DSILU_ROOT)[1]) + zl
    return dsilu_fast_of(neg, e, fma(e, e, e * zl), zh, dz, d)


# dsilu64_fast's fma(d, log2 e, magic): n = rint(d log2 e) and n + 1023 in
# its low bits (d from -707 to 1.3)
DSILU64_MAGIC = float(_vconstants(np.float64).POW2_MAGIC)


# e0 = e^z0 at silu''s root z0 (1 + z0 + e0 = 0, so e0 = -1 - z0; -1 - z0_hi
# is exact), high part
DSILU_E0 = (-1.0 - C.DSILU_ROOT[0]) - C.DSILU_ROOT[1]


@_jit
def dsilu64_fast(zh, zl):
    """float64 dsilu_fast without a root fit: for z < 0, with d = z - z0
    (z0 the root, e0 = e^z0 = -1 - z0), e = e0 e^d and
    1 + z + e = d + e0 expm1(d), two terms of one sign.  e^d and expm1(d)
    come from one reduction and one polynomial (p = e^r - 1, e^d = s (1 + p),
    expm1(d) = s p + (s - 1), s = 2^n), so every lane pays for one exp and
    no root polynomial: 22 fma-pipe operations and a division per vector of
    8, where the direct formula with its degree-15 root fit took 36.  For
    z >= 0 the same reduction serves e = e^-z, n = 1 + e (1 + z)."""
    neg = zh < 0.0
    # d = (zh - z0_hi) + (zl - z0_lo): the first difference exactly, as a
    # sum and its error (TwoSum; only adds), since exp(d) needs d to the
    # last bits of |d| up to 707
    sh, se = two_diff(zh, C.DSILU_ROOT[0])
    dh = select(neg, sh, -zh)
    dl = select(neg, se + (zl - C.DSILU_ROOT[1]), -zl)
    # d = n ln2 + rh + rl, rh exact; p = e^r - 1 = rh + (rl + r^2 P(r)) with
    # one rounding of note: expm1(d) is p itself where n = 0, and rounding r
    # first would cost half an ULP of it
    # n = rint(d log2 e) of the exact product, from an fma whose addend puts
    # n + 1023 in t's low bits: 2^n is one shift of them (pow2_rint).  rint,
    # a conversion to int and its widening took 8 operations per vector, this
    # takes 3 (silu' in L2, one thread, Ice Lake: 1.52-1.55 -> 1.43-1.46 ns
    # an element; the same bits on 6M samples, n differing only where d
    # log2 e lies within an ulp of a half-integer)
    t = fma(dh, LOG2E, DSILU64_MAGIC)
    n = t - DSILU64_MAGIC
    rh = fma(n, -LN2HI_64, dh)
    rl = fma(n, -LN2LO_64, dl)
    r = rh + rl
    p = rh + fma(r * r, horner(r, EXPP_D), rl)
    s = pow2_rint(t)
    # e0 s is exact (a power of two times e0, normal for d >= -707)
    c = select(neg, DSILU_E0, 1.0) * s
    e = fma(c, p, c)
    # z < 0: e dh + e (dl + e0 expm1(d)), one rounding of note (the second
    # term's weighs up to 0.36 of the sum); z >= 0: 1 + e (1 + z)
    t = e * fma(DSILU_E0, fma(s, p, s - 1.0), dl)
    nn = fma(e, select(neg, dh, 1.0 + zh), select(neg, t, 1.0))
    return nn / fma(e, 2.0 + e, 1.0)


@_jit
def dsilu_fast_x(x):
    """dsilu_fast(x, 0) without the terms of zl (silu'): the same bits (e,
    e (0 + e) and the root fit's argument are unchanged by a zero zl; that
    argument is never 0, the root's low part being below its ulp)."""
    if per_type(1.0, 0.0) < 0.5:
        return dsilu64_fast(x, 0.0)
    e = exp_normal(-abs(x))
    root = per_type(C.DSILU_ROOT_F32, C.DSILU_ROOT)
    dz = x - root[0]
    return dsilu_fast_of(sign_set(x), e, e * e, x, dz, dz - root[1])


@_jit
def dsilu_fast_of(neg, e, ee, zh, dz, d):
    """dsilu_fast's last step from e = exp(-|z|), ee = e zl + e^2, zh,
    dz = zh - root_hi and the root fit's argument d (float32 only: float64
    takes dsilu64_fast).

    n = 1 + e (1 + z) for z >= 0 (q + z e, with 1 + z rounded where q = 1 + e
    was) and e (1 + z) + e (zl + e) below: one fma for both signs.  The
    root fit's zone is checked by one compare, |dz - mid| <= half; it is
    narrower than tools/gen_coeffs.py's ROOTS zone (DSILU_FAST32_*: 7 terms,
    where a float32 fit over that zone has 8): measured over every float32, silu''s
    direct formula is within 3.52 ULP outside it, swish''s no worse than
    before.  (A zone of -0.08 <= d <= 0.26 or 0.14, 6 or 5 terms, would
    hold for silu' alone: swish''s z = b x reaches points between the
    float32 numbers where the formula is 5.2 ULP off at d = -0.1, and swish
    at b = 1 must give silu's bits.)"""
    n = fma(e, 1.0 + zh, select(neg, ee, 1.0))
    # q^2 as 1 + e (2 + e) in one fma (as dsigmoid): squaring the rounded
    # q would double its rounding
    r = n / fma(e, 2.0 + e, 1.0)
    lo, hi = C.DSILU_FAST32_ZONE
    poly = C.DSILU_FAST32_POLY
    near = abs(dz - 0.5 * (lo + hi)) <= 0.5 * (hi - lo)
    return select(near, horner(d, poly) * d, r)


@_jit
def dsilu_fast_range():
    """(lo, hi): the z where dsilu_fast holds, |z| <= -exp_split()."""
    return fast_range()


@_jit
def swish_fast_range(beta):
    """(lo, hi): x in it gives |beta x| below dsilu_fast_range()'s bound (the
    rounded product too: its bound is a little smaller)."""
    b = (-exp_split() - 1.0) / abs(beta)
    b = select(b < per_type(F32_MAX, F64_MAX), b, per_type(F32_MAX, F64_MAX))
    return -b, b


@_jit
def dsilu_dd(zh, zl):
    """silu'(z) = s(z) (1 + z s(-z)) at z = zh + zl; swish'(x; b) = silu'(b x).

    With e = exp(-|z|) and q = 1 + e = qh + ql (exactly): n / q^2 with
    n = 1 + e + z e for z >= 0 (no cancellation) and n = e (1 + z + e) for
    z < 0 (its cancellation at the root is no concern here: the root lies in
    the common range, |z| <= -exp_split(), where dsilu_fast's result is
    taken, as the ufunc loops' fast blocks take it).  One division:
    q^2 = qh^2 + 2 qh ql (+ ql^2, below the rounding) rounded once, which
    keeps ql (the rounding of 1 + e, up to a whole ULP of the result twice
    over) out of the error.  Below the split the result is (1 + z) e^z with
    e^z scaled by 2^K before it rounds (normal where e^z is not; 1 + e is
    still 1) and scaled back after the product.
    """
    pos = zh >= 0.0
    split, e = exp_or_scaled(zh, zl)
    qh, ql = one_plus_dd(e)
    den = fma(qh, qh, 2.0 * (qh * ql))
    # z = +inf meets e = 0 (inf * 0): zc is z clamped to finite numbers,
    # which gives the limits 1 (z -> inf) and 0 (z -> -inf; the lower clamp
    # lies where (1 + z) e^z has long underflowed)
    zc = clamp(zh, per_type(-200.0, -2000.0), per_type(F32_MAX, F64_MAX))
    n_pos = fma(zc, e, qh) + fma(zl, e, ql)
    # e (1 + z) in one rounding; the rest, e (zl + e), is small beside it
    # far out, where this result is taken
    n_neg = fma(e, 1.0 + zc, e * (zl + e))
    # below the split z e and its sum with e in one rounding
    r_split = fma(zl, e, fma(zc, e, e)) * split_down()
    r = select(split, r_split, select(pos, n_pos, n_neg) / den)
    # the common range takes dsilu_fast's result, so that a block of the
    # ufunc loop that runs dsilu_fast alone gives the same bits
    lo, hi = dsilu_fast_range()
    r = select((zh >= lo) & (zh <= hi), dsilu_fast(zh, zl), r)
    # a NaN z as itself: which NaN the arithmetic yields (-|z| flips its
    # sign) depends on instruction order, which differs between the vector
    # body and the scalar remainder of a loop
    return select(zh == zh, r, zh)


@_jit
def gauss_exp(h, hl, cp):
    """c exp(-(h + hl)/2) 2^j, c = INV_SQRT_2PI rounded to the type,
    cp = GAUSS_EXP_Ej_F / _D, for h + hl in [0, 226] (float32) / [0, 1600]
    (float64), rounded once
    (subnormal too): exp's reduction in units of 2 ln 2 (no halving of h),
    hl added to the reduced argument, and a polynomial for c 2^k exp(-r/2)
    (exp's, rescaled: c costs no rounding, nor does the scaling 2^-k)."""
    p, t = gauss_exp_parts(h, hl, cp, per_type(GAUSS_EXP_MAGIC32, GAUSS_EXP_MAGIC64))
    return p * pow2_rint(t)


@_jit
def gauss_exp_parts(h, hl, cp, magic):
    """(p, t) with gauss_exp's result p 2^(n + K): n = rint(-h log2(e) / 2)
    of the exact product (one fma adding `magic`, n = t - magic), whose low
    bits hold n + (magic's integer offset)."""
    t = fma(h, -0.5 * LOG2E, magic)
    n = t - magic
    r = fma(n, per_type(2.0 * LN2HI_32, 2.0 * LN2HI_64), h)
    r = fma(n, per_type(2.0 * LN2LO_32, 2.0 * LN2LO_64), r) + hl
    return horner(r, cp), t


# P's coefficients from a on (GAUSS32_RP is P + a; its a term minus 1 is exact)
GAUSS32_P1 = (C.GAUSS32_RP[1] - 1.0, *C.GAUSS32_RP[2:])


@_jit
def gauss32_ratio(a, h):
    """float32 S(a) = a Q / (a Q + P) (gelu's docstring) as (a Q, a Q + P),
    h = a^2 rounded: a Q = a + h (Q - 1) / a is one fma (a^2's rounding
    reaches S damped by P / (a Q + P), as every error of a Q does), and the
    denominator (a Q + (P - p0)) + p0 one more, P's constant added last:
    below a = 1 it dominates, and beyond, the first sum does (p0's
    rounding there is a second one: the far tail's 3.66 ULP, every float32).
    The last form chose by a compare where to add p0 and took a product
    t = a (Q - 1) for both sums: 3.63 ULP, for 5% more time per element
    (docs/kernels.md)."""
    aq = fma(h, horner(a, C.GAUSS32_RQ), a)
    den = fma(a, horner(a, GAUSS32_P1), aq) + C.GAUSS32_RP[0]
    return aq, den


@_jit
def gauss64_ratio(a):
    """float64 S(a) = a Q / (a Q + P) (gelu's docstring), P/Q in two pieces
    (GAUSS64_*, split at GAUSS64_SPLIT), each a polynomial in d = a - (its
    lower end): each coefficient is picked per lane, and d keeps the upper
    piece's Horner sums from cancelling.  Then as gauss32_ratio, with
    t = Q - 1 = d (Q - 1) / d."""
    up = a >= C.GAUSS64_SPLIT
    d = a - select(up, C.GAUSS64_SPLIT, 0.0)
    t = d * horner_select(d, up, C.GAUSS64_RQ_HI, C.GAUSS64_RQ_LO)
    p0 = select(up, C.GAUSS64_RP_HI[0], C.GAUSS64_RP_LO[0])
    z = select(a < 1.0, p0, 0.0)
    pa = fma(d, horner_select(d, up, C.GAUSS64_RP_HI[1:], C.GAUSS64_RP_LO[1:]), p0 - z)
    return fma(a, t, a) / (fma(a, t, pa) + z)


@_jit
def gelu(x):
    """x Phi(x) = max(x, 0) - e S(a): a = |x|, e = c exp(-a^2/2),
    c = 1/sqrt(2 pi), S(a) = a Phi(-a) / e (for x < 0 that is x Phi(x) =
    -a Phi(-a); for x >= 0, x (1 - Phi(-a))), so the whole function costs one
    exp, one division and two short polynomials, with no cancellation
    (e S <= x/2 where x > 0).  S = a R(a) with R the Mills ratio, and
    1/R(a) = a + g(a), g = P/Q fitted (``core.coefficients``, GAUSS32_R*,
    GAUSS64_*): S = a Q / (a Q + P), where the rounding errors of P and Q
    shrink by g / (a + g) (to 0.1 at a = 4) and the polynomials stay short
    (gauss32_ratio, gauss64_ratio).  a^2 is split exactly and its low part
    added to exp's reduced argument (gauss_exp).  Beyond a = GAUSS32_MAX /
    GAUSS64_MAX e S rounds to 0: x (inf too) for x > 0, -0 for x < 0.  A NaN
    x is the fma's addend, so comes out as itself (quieted).  float64 once
    took erfc of -x/sqrt2 in double-word arithmetic (erfc_dd_scaled): 94
    fma-pipe operations and two divisions per vector of 8, against 39 and
    one here (and 17 blends, horner_select's)."""
    amax = per_type(C.GAUSS32_MAX, C.GAUSS64_MAX)
    a = select(abs(x) < amax, abs(x), amax)  # NaN: MAX
    h = a * a
    hl = fma(a, a, -h)
    if per_type(1.0, 0.0) > 0.5:
        # e S = p (S 2^(n + K)), e = p 2^(n + K): the power of two divides
        # the denominator by integer arithmetic on its exponent field, where
        # it cost a product (both stay normal: GELU32_K), and e S rounds
        # once in the last fma, into the subnormals too
        p, t = gauss_exp_parts(h, hl, GELU32_EXP, GELU32_MAGIC)
        num, den = gauss32_ratio(a, h)
        e, s = p, num / over_pow2_rint(den, t)
    else:
        e = gauss_exp(h, hl, GAUSS_EXP_E0_D)
        s = gauss64_ratio(a)
    # a zero x keeps its sign, as torch's x * Phi(x)
    return fma(-e, s, select(x < 0.0, -0.0, x))


@_jit
def dgauss64_w(a):
    """float64 W(a) of dgelu (DGAUSS64_*: P/Q in gauss64_ratio's pieces)."""
    up = a >= C.GAUSS64_SPLIT
    d = a - select(up, C.GAUSS64_SPLIT, 0.0)
    p = horner_select(d, up, C.DGAUSS64_RP_HI, C.DGAUSS64_RP_LO)
    return p / horner_select(d, up, C.DGAUSS64_RQ_HI, C.DGAUSS64_RQ_LO)


@_jit
def dgelu(x):
    """gelu'(x) = Phi(x) + x phi(x) = [x >= 0] - sign(x) e D(a):
    a = |x|, e = c exp(-a^2/2) (as in gelu), D(a) = R(a) - a with R the
    Mills ratio.  D has a root at a0 (gelu's minimum), so it is written
    D = -(a - a0)(1 + W(a)), W = (R(a0) - R(a)) / (a - a0) a fitted P/Q
    (DGAUSS32_R*, DGAUSS64_*): no cancellation at the root (a - a0 with a0
    split is exact there), and the rounding errors of W shrink by
    W / (1 + W) <= 0.4.  e is made 2^32 times larger before it rounds and
    a - a0 2^32 times smaller (with the sign of x): far out e is subnormal
    where e D ~ e a is not, and the product rounds once.  float64 once
    summed Phi(x) (erfc in double-word arithmetic) and x phi(x), with a
    root fit and an asymptotic tail: 2.2 times the time of this."""
    amax = per_type(C.GAUSS32_MAX, C.GAUSS64_MAX)
    a = select(abs(x) < amax, abs(x), amax)  # NaN: MAX
    h = a * a
    e = gauss_exp(h, fma(a, a, -h), per_type(GAUSS_EXP_E32_F, GAUSS_EXP_E32_D))
    pos = x >= 0.0
    # a - a0 with one rounding: a - a0_hi is exact for a in [a0/2, 2 a0], and
    # below, its error is a - (d_hi + a0_hi) (Fast2Sum: a0_hi >= a there)
    root = per_type(C.DGAUSS32_ROOT, C.DGAUSS64_ROOT)
    dh = a - root[0]
    d = dh + ((a - (dh + root[0])) - root[1])
    d = d * select(pos, 2.0**-32, -(2.0**-32))
    if per_type(1.0, 0.0) > 0.5:
        w = horner(a, C.DGAUSS32_RP) / horner(a, C.DGAUSS32_RQ)
    else:
        w = dgauss64_w(a)
    r = fma(e, fma(d, w, d), select(pos, 1.0, -0.0))
    return select(x == x, r, x)


GELU_TANH_K2 = 2.0 * SQRT_2_OVER_PI  # 2 sqrt(2/pi), exact scaling
GELU_TANH_C = 0.044715
# the doubles above are the definition (torch's constants).  The helpers
# below serve the float64 loops: float32 has its own kernels (vmath.gelu)


# gelu (tanh): z = x (A + B x^2) (gelu_tanh_arg) and, from a = |x|
# (dgelu_tanh_near), b = a z'(a) = a (A + 3B a^2), A = GELU_TANH_K2.  A_HI
# is A on a 2^-45 grid, so that A_HI - fl(A_HI + B s) is exact below 256
# (both on the grid of the larger); B = A C and 3B as hi + lo
_GT_A = Fraction(GELU_TANH_K2)
_GT_A_HI = Fraction(round(_GT_A * 2**45), 2**45)
GT_A_HI, GT_A_LO = float(_GT_A_HI), float(_GT_A - _GT_A_HI)
_GT_B = _GT_A * Fraction(GELU_TANH_C)
GT_B_HI, GT_B_LO = float(_GT_B), float(_GT_B - Fraction(float(_GT_B)))
GT_B3_HI, GT_B3_LO = float(3 * _GT_B), float(3 * _GT_B - Fraction(float(3 * _GT_B)))
# below it e^-z is normal (z(21) = 694) and no clamp is needed
GT_NEAR = 21.0


@_jit
def gelu_tanh_poly2(a, s, sl, bh, bl):
    """a (ch + cl) with c = A + B s carried as ch + cl (ch = fl(A_HI + B s)),
    as (hi, lo); s + sl = a^2 exactly, B = bh + bl."""
    ch = fma(bh, s, GT_A_HI)
    cl = fma(bh, s, GT_A_HI - ch) + fma(bh, sl, fma(bl, s, GT_A_LO))
    h = a * ch
    return h, fma(a, cl, fma(a, ch, -h))


@_jit
def gelu_tanh_inner(x):
    """1 + 0.044715 x^2 as (inner, il), exact to about twice the precision."""
    x2h, x2l = two_prod(x, x)
    ph, pl = two_prod(GELU_TANH_C, x2h)
    inner = 1.0 + ph
    return inner, ((1.0 - inner) + ph) + pl + GELU_TANH_C * x2l


@_jit
def gelu_tanh_k2x(x):
    """2 sqrt(2/pi) x as kh + kl."""
    return two_prod(GELU_TANH_K2, x)


@_jit
def gelu_tanh_arg(x):
    """2u = 2 sqrt(2/pi) (x + 0.044715 x^3) as zh + zl, for |x| <= 30.

    sigmoid(2u) = (1 + tanh u) / 2; the low part matters because exp(2u)
    turns the rounding of 2u into |2u| ULP.  x (A + B x^2) from x^2 split
    exactly (gelu_tanh_poly2): 8 fma-pipe operations where the product of
    2 sqrt(2/pi) x and 1 + 0.044715 x^2, each as hi + lo, took 11.
    """
    s = x * x
    return gelu_tanh_poly2(x, s, fma(x, x, -s), GT_B_HI, GT_B_LO)


@_jit
def dgelu_tanh_near(x):
    """float64 gelu (tanh)' for |x| <= GT_NEAR: [x >= 0] - sign(x) t,
    t = e w / (1 + e)^2, e = e^-z, w = 1 + e - b, z = z(a) and b = a z'(a)
    at a = |x| (vmath.gelu's form of the derivative, whose float32 kernel it
    follows), each product carried as hi + lo from a^2 split exactly (no
    double-word products of double-word factors: 1 + C x^2 is never formed).
    1 - bh is exact near the root (Sterbenz), so only e's rounding cancels
    there, and the root fit takes over.  For x >= 0, t <= 0.13 and 1 - t
    has no cancellation.  52 fma-pipe operations per vector of 8; 1M
    float64 on two threads took 1174 us against dgelu_tanh_far's 1871 (which
    still serves the rest of the range and the special values)."""
    a = abs(x)
    s = a * a
    sl = fma(a, a, -s)
    # z = a (A + B s) as gelu_tanh_arg(a) computes it, b from the same split
    zh, zl = gelu_tanh_poly2(a, s, sl, GT_B_HI, GT_B_LO)
    e = exp_neg_abs_dd(zh, zl)
    bh, bl = gelu_tanh_poly2(a, s, sl, GT_B3_HI, GT_B3_LO)
    t = fma(e, 1.0 - bh, e * (e - bl)) / fma(e, 2.0 + e, 1.0)
    root = C.DGELU_TANH_ROOT
    r = select(
        near_root(x, root, C.DGELU_TANH_ZONE), poly_at_root(x, 0.0, root, C.DGELU_TANH_POLY), t
    )
    return select(x < 0.0, r, 1.0 - t)


@_jit
def dgelu_tanh(x):
    """Derivative of x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), |x| <= 30:
    dgelu_tanh_near where |x| <= GT_NEAR, else (and for the tails' scaling)
    dgelu_tanh_far.
    """
    return select(abs(x) <= GT_NEAR, dgelu_tanh_near(x), dgelu_tanh_far(x))


@_jit
def dgelu_tanh_far(x):
    """Derivative of x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), |x| <= 30.

    s(2u) (1 + 2x s(-2u) u'); with e = exp(-|2u|) and q = 1 + e that is
    (q + 2x u' e) / q^2 for x >= 0 and e (1 + e + 2x u') / q^2 for x < 0.  2x u' = 2Kx (3 (1 + Cx^2) - 2) is carried as
    bh + (low parts) with 1 + bh exact near the root (Sterbenz), so only the
    rounding of e is left to cancel; a fitted polynomial takes over around
    the root.
    """
    pos = x >= 0.0
    zh, zl = gelu_tanh_arg(x)
    split, e = exp_or_scaled(zh, zl)
    qh, ql = one_plus_dd(e)
    # one division by q^2 rounded once, as in dsilu_dd
    den = fma(qh, qh, 2.0 * (qh * ql))
    # x >= 0: n = q + 2x u' e, all terms positive, no cancellation
    x2du = x * (GELU_TANH_K2 * (1.0 + 3.0 * GELU_TANH_C * x * x))
    n_pos = fma(x2du, e, qh) + ql
    inner, il = gelu_tanh_inner(x)
    ah, al = two_prod(3.0, inner)
    vh = ah - 2.0
    vl = ((ah - vh) - 2.0) + (al + 3.0 * il)  # Fast2Sum error (ah >= 3) + low parts
    kh, kl = gelu_tanh_k2x(x)
    bh, bl = two_prod(kh, vh)
    rest = bl + (kh * vl + kl * vh)
    # e (1 + bh) in one rounding (1 + bh is exact near the root), the small
    # rest e (rest + e) added in the same fma
    n_neg = fma(e, 1.0 + bh, e * (rest + e))
    r_split = fma(e, 1.0 + bh, e * rest) * split_down()
    r = select(split, r_split, select(pos, n_pos, n_neg) / den)
    root = C.DGELU_TANH_ROOT
    return select(
        near_root(x, root, C.DGELU_TANH_ZONE),
        poly_at_root(x, 0.0, root, C.DGELU_TANH_POLY),
        r,
    )


@_jit
def mish_limits(x, r, at_inf, at_minf):
    """r with the values beyond x = 40 (where the kernels clamp: e^80 and its
    square still fit float32 and tanh(softplus) is 1), at -inf, and NaN."""
    r = select(x > 40.0, at_inf, r)
    r = select(x == -INF, at_minf, r)
    return select(x == x, r, x)


@_jit
def mish(x):
    """x tanh(softplus(x)); tanh(log(1 + e)) = n / (n + 2), n = e (e + 2)."""
    xc = select(x < 40.0, x, 40.0)
    split, e = exp_or_half(xc, 0.0, xc, 0.0)
    # n and n + 2 each rounded once (fma): mish is n / (n + 2) times x, so
    # every rounding of either shows in full
    n = fma(e, e, e + e)
    d = fma(e, e + 2.0, 2.0)
    # below the split tanh(softplus(x)) = e (1 + O(e)), e = exp(x)
    return mish_limits(x, select(split, (x * e) * e, x * (n / d)), x, -0.0)


@_jit
def dmish(x):
    """mish'(x) = tanh(sp) + x sigmoid(x) sech^2(sp), sp = softplus(x).

    With e = exp(x), d = e^2 + 2e + 2: tanh(sp) = e (e + 2) / d and
    sech^2(sp) = 4 (1 + e)^2 / d^2, so mish' = e B / d^2 with
    B = (4 + 4x) + e ((6 + 4x) + e (4 + e)): for x < 0 that sum is where
    the cancellation is, with 4 + 4x and 6 + 4x exact (Sterbenz) near the
    root; a fitted polynomial takes over around the root.
    """
    xc = select(x < 40.0, x, 40.0)
    split, e = exp_or_half(xc, 0.0, xc, 0.0)
    # x < -0.5: d = 1 + (1 + e)^2 carried as dh + dl (1/d^2 = (1 - 2 dl/dh) /
    # dh^2): its rounding would otherwise enter twice
    qh, ql = one_plus_dd(e)
    ph, pl = two_prod(qh, qh)
    dh = 1.0 + ph
    dl = ((1.0 - dh) + ph) + (pl + 2.0 * qh * ql)
    x4 = 4.0 * xc
    b = fma(e, fma(e, 4.0 + e, 6.0 + x4), 4.0 + x4)
    # d^2 = dh^2 + 2 dh dl rounded once and one division, as in dsilu_dd
    r1 = (e * b) / fma(dh, dh, 2.0 * (dh * dl))
    # no cancellation left for x >= -0.5: the two terms as they are (d * d
    # may overflow float32 near x = 40, where the second term is 0 anyway)
    n = e * (e + 2.0)
    d = n + 2.0
    r2 = n / d + xc * (e / qh) * (4.0 * (n + 1.0) / (d * d))
    # below the split e B / d^2 -> e (1 + x): d^2 = 4 and e^x subnormal or nearly
    r = select(split, ((1.0 + xc) * e) * e, select(x < -0.5, r1, r2))
    root = per_type(C.DMISH_ROOT_F32, C.DMISH_ROOT)
    poly = per_type(C.DMISH_POLY_F32, C.DMISH_POLY)
    r = select(near_root(xc, root, C.DMISH_ZONE), poly_at_root(xc, 0.0, root, poly), r)
    return mish_limits(x, r, 1.0, 0.0)
