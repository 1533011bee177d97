"""Scalar math shared by every kernel (CPU loops now, CUDA device code later).

All scalar math of the kernels goes through this module, so that a faster
math core (vectorizable polynomials instead of libm calls) can replace these
bodies without touching a kernel.  Kernels compute in float64; the loop
generator in ``_ufuncs`` widens float32 inputs and rounds the result once.

Besides the libm wrappers there are a few error-free transformations
(``two_prod``, ``div_dd``): where a kernel feeds a rounded product such as
``beta * x`` into exp, the rounding error of the product is amplified by the
size of the exponent (|z| ULP for exp(z)), so those kernels carry the low part
of the product and apply a first-order correction.

Where a derivative has a real root, every direct formula for it cancels near
the root (its relative error grows like 1/|x - x0|): there the kernels switch
to a polynomial in x - x0 (``near_root``/``poly_at_root``) whose coefficients
``tools/gen_coeffs.py`` fits with mpmath into ``_coeffs``.

Where exp(z) is subnormal (z < EXP_SPLIT) but x * exp(z) is still a normal
number, exp(z) has lost bits: the kernels compute (x * h) * h with
h = exp(z / 2) instead.
"""
import math

from numba import njit

from . import _coeffs as C

_jit = njit(cache=False, nogil=True)

SQRT_2_OVER_PI = 0.7978845608028654        # sqrt(2/pi), as torch's kBeta
INV_SQRT_2 = 0.7071067811865476            # 1/sqrt(2), high part
INV_SQRT_2_LO = -4.833646656726457e-17     # 1/sqrt(2) - INV_SQRT_2
TWO_OVER_SQRT_PI = 1.1283791670955126      # 2/sqrt(pi)
INV_SQRT_2PI = 0.3989422804014327          # 1/sqrt(2*pi), high part
INV_SQRT_2PI_LO = -2.49232720227773e-17    # 1/sqrt(2*pi) - INV_SQRT_2PI
_SPLIT = 134217729.0                       # 2**27 + 1, Veltkamp splitter
INF = math.inf
# below this, exp(z) is within a factor e^8.4 of the subnormals (float64):
# products x * exp(z) go through exp(z / 2) twice
EXP_SPLIT = -700.0


@_jit
def exp(x):
    return math.exp(x)


@_jit
def expm1(x):
    return math.expm1(x)


@_jit
def log1p(x):
    return math.log1p(x)


@_jit
def log(x):
    return math.log(x)


@_jit
def tanh(x):
    return math.tanh(x)


@_jit
def erfc(x):
    return math.erfc(x)


@_jit
def isnan(x):
    return x != x


@_jit
def two_prod(a, b):
    """(p, e) with p = fl(a*b) and p + e == a*b exactly (Dekker, no FMA)."""
    p = a * b
    # the splitter would overflow near the top of the range, where no caller
    # needs the error term anyway
    if not (abs(a) < 1e290 and abs(b) < 1e290 and math.isfinite(p)):
        return p, 0.0
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@_jit
def div_dd(a, b):
    """(q, r) with q = fl(a/b) and q + r close to a/b to about 2**-100."""
    q = a / b
    if not math.isfinite(q) or q == 0.0:
        return q, 0.0
    p, e = two_prod(q, b)
    return q, ((a - p) - e) / b


@_jit
def sigmoid(x):
    # Never evaluates exp of a positive argument: no overflow, no inf/inf.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@_jit
def sigmoid_dd(hi, lo):
    """sigmoid(hi + lo) for |lo| << |hi|: sigmoid' = s * (1 - s)."""
    s = sigmoid(hi)
    return s + lo * s * sigmoid(-hi)


@_jit
def dsigmoid(x):
    """sigmoid'(x) = e / (1 + e)**2 with e = exp(-|x|): no 1 - s cancellation."""
    e = math.exp(-abs(x))
    d = 1.0 + e
    return e / (d * d)


@_jit
def softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|)."""
    if x != x:
        return x
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@_jit
def softplus_dd(hi, lo):
    """softplus(hi + lo): softplus' = sigmoid."""
    return softplus(hi) + lo * sigmoid(hi)


@_jit
def dtanh(x):
    """1 - tanh(x)**2 as 4e / (1 + e)**2, e = exp(-2|x|): exact for large |x|."""
    e = math.exp(-2.0 * abs(x))
    d = 1.0 + e
    return 4.0 * e / (d * d)


@_jit
def ndtr_and_pdf(x):
    """(Phi(x), phi(x)) of the standard normal, accurate in both tails.

    Phi(x) = erfc(-x/sqrt2)/2 with the rounding of -x/sqrt2 corrected to
    first order (erfc's relative condition number grows like 2 z**2), and
    phi from exp(-x*x/2) with x*x split exactly.
    """
    zh, zl = two_prod(-x, INV_SQRT_2)
    zl += -x * INV_SQRT_2_LO
    ez = math.exp(-zh * zh)
    cdf = 0.5 * (math.erfc(zh) - zl * TWO_OVER_SQRT_PI * ez)
    sh, sl = two_prod(x, x)
    pdf = INV_SQRT_2PI * math.exp(-0.5 * sh) * (1.0 - 0.5 * sl)
    return cdf, pdf


@_jit
def tanhshrink(x):
    """x - tanh(x) without the cancellation of the subtraction for |x| < ~2."""
    ax = abs(x)
    if ax <= C.TANHSHRINK_X_MAX:
        # x^3 R(x^2), R fitted by tools/gen_coeffs.py.  "+ 0.0" turns the -0
        # of x = -0 (or of an underflowing x^3) into the +0 that x - tanh(x)
        # gives, as torch does.
        t = x * x
        return x * t * polyval(C.TANHSHRINK_R, t) + 0.0
    if ax < 20.0:
        # x - tanh x = sign(x) ((|x| - 1) + 2 / (e^(2|x|) + 1)): two
        # non-negative terms, |x| - 1 exact
        return math.copysign((ax - 1.0) + 2.0 / (math.exp(2.0 * ax) + 1.0), x)
    # 2 / (e^(2|x|) + 1) < 1e-17 is below half an ULP of |x| - 1 >= 19, and
    # exp would overflow further out; NaN falls through to here
    return math.copysign(ax - 1.0, x)


@_jit
def dtanhshrink(x):
    """tanh(x)^2, the derivative of x - tanh(x).

    libm's tanh is off by up to ~2 ULP, doubled by the square: for |x| <= 1
    tanh x = x - tanhshrink(x), the subtrahend at most 0.24 |x| and accurate;
    beyond, 1 - sech^2 x with sech^2 = dtanh small and accurate.
    """
    if abs(x) <= C.TANHSHRINK_X_MAX:
        v = x - tanhshrink(x)
        return v * v
    return 1.0 - dtanh(x)


@_jit
def polyval(c, t):
    """sum c[k] t^k (Horner), c a tuple in increasing degree."""
    n = len(c)
    p = c[n - 1]
    for i in range(n - 2, -1, -1):
        p = p * t + c[i]
    return p


@_jit
def near_root(xh, root, zone):
    """Whether xh - root lies in zone = (lo, hi), the interval of a root fit."""
    dz = xh - root[0]
    return zone[0] <= dz <= zone[1]


@_jit
def poly_at_root(xh, xl, root, c):
    """f'(x) = sum_k c[k-1] d^k (k >= 1) near a root of f', d = (xh + xl) - root.

    `root` is a double-double (hi, lo) and `c` the coefficients from _coeffs.
    xh - root_hi is exact (Sterbenz) for xh within a factor 2 of the root, so
    d carries no cancellation error and f'(root) = 0 exactly (further out it
    rounds once, harmless where d is no longer small); xl is the low part of
    an argument computed as a product (swish: b * x).
    """
    d = ((xh - root[0]) - root[1]) + xl
    return polyval(c, d) * d


@_jit
def exp_dd(zh, zl):
    """exp(zh + zl) for |zl| << 1: e + e zl rounds once, where e (1 + zl)
    would first round 1 + zl to the coarse grid of doubles just above 1."""
    e = math.exp(zh)
    return e + e * zl


@_jit
def mul_exp_dd(y, zh, zl):
    """y * exp(zh + zl) for zl << zh; also where exp(z) alone is subnormal.

    Below EXP_SPLIT exp(z) has lost bits (or underflowed) while y * exp(z)
    may still be a normal number: there it is (y * h) * h, h = exp(z / 2).
    """
    if zh < EXP_SPLIT:
        h = exp_dd(0.5 * zh, 0.5 * zl)
        return (y * h) * h
    return y * exp_dd(zh, zl)


_TINY_SCALE = 2.0 ** -600


@_jit
def scaled_arg(b, x):
    """b * x as (zh, zl), exactly, for sigmoid(b x) and its kin.

    Where |b x| > 1024 the sigmoid has saturated and the product may
    overflow (setting the FPU flag numpy turns into a warning): there the
    result is +-inf, the limit every caller handles.  The test multiplies a
    scaled-down b, which cannot overflow.
    """
    if abs((b * _TINY_SCALE) * x) > 1024.0 * _TINY_SCALE:
        return math.copysign(INF, b) * math.copysign(1.0, x), 0.0
    return two_prod(b, x)


@_jit
def mul_sigmoid_dd(x, zh, zl):
    """x * sigmoid(zh + zl): silu (z = x) and swish (z = b x) forward."""
    if zh < EXP_SPLIT:
        if abs(x) == INF:
            # z = -inf: the limit of x * sigmoid(z) is 0 with the sign of x
            return math.copysign(0.0, x)
        # sigmoid(z) = e^z (1 + O(e^z)) and e^z ~ 1e-304 or less
        return mul_exp_dd(x, zh, zl)
    return x * sigmoid_dd(zh, zl)


@_jit
def one_plus_dd(e):
    """(qh, ql) with qh = fl(1 + e) and qh + ql == 1 + e exactly, 0 <= e <= 1."""
    qh = 1.0 + e
    return qh, e - (qh - 1.0)


@_jit
def dsilu_dd(zh, zl):
    """silu'(z) = s(z) (1 + z s(-z)) at z = zh + zl; swish'(x; b) = silu'(b x).

    With e = exp(-|z|) and q = 1 + e: (1 + z e / q) / q for z >= 0 (no
    cancellation) and e (1 + z + e) / q^2 for z < 0, where 1 + z is exact
    near the root (Sterbenz) and only the rounding of e is left to cancel; a
    fitted polynomial takes over around the root, where even that would cost
    more than an ULP.  q is kept as qh + ql: 1/q = (1/qh) (1 - ql/qh) to
    first order, so its rounding does not enter (twice) for small e.
    """
    if zh != zh:
        return zh
    if near_root(zh, C.DSILU_ROOT, C.DSILU_ZONE):
        return poly_at_root(zh, zl, C.DSILU_ROOT, C.DSILU_POLY)
    if zh >= 0.0:
        if zh == INF:
            return 1.0
        e = exp_dd(-zh, -zl)
        qh, ql = one_plus_dd(e)
        r = (1.0 + zh * e / qh) / qh
        return r - r * (ql / qh)
    if zh < EXP_SPLIT:
        if zh == -INF:
            return 0.0
        # e (1 + z): q^-2 = 1 and e is subnormal where the result is not
        return mul_exp_dd((1.0 + zh) + zl, zh, zl)
    e = exp_dd(zh, zl)
    qh, ql = one_plus_dd(e)
    r = e * ((((1.0 + zh) + e) + zl) / qh) / qh
    return r - r * (2.0 * ql / qh)


# phi(x) and Phi(x) reach the float64 subnormals near x = -37.6, x Phi(x)
# and x phi(x) a little later: below GAUSS_TAIL the kernels scale instead of
# computing Phi or phi alone
GAUSS_TAIL = -37.0


@_jit
def mills_series(x):
    """S(a) = a Phi(-a) / phi(a) = sum_n (-1)^n (2n-1)!! / a^(2n) at a = |x| >= 37.

    The asymptotic series, 9 terms: the next one is below 1e-20 there.
    """
    w = 1.0 / (x * x)
    p = 2027025.0
    p = p * -w + 135135.0
    p = p * -w + 10395.0
    p = p * -w + 945.0
    p = p * -w + 105.0
    p = p * -w + 15.0
    p = p * -w + 3.0
    p = p * -w + 1.0
    return p * -w + 1.0


@_jit
def gauss_tail_times(y, x):
    """y phi(x) for x < GAUSS_TAIL: phi(x) = c exp(-x^2/2) with x^2 split
    exactly and exp(-x^2/2) = h^2 taken as (y c h) h, since exp(-x^2/2) is
    subnormal where y phi(x) may not be."""
    sh, sl = two_prod(x, x)
    h = math.exp(-0.25 * sh)
    t = (y * INV_SQRT_2PI) * h
    t = t + t * (INV_SQRT_2PI_LO / INV_SQRT_2PI - 0.5 * sl)
    return t * h


@_jit
def gelu(x):
    """x Phi(x)."""
    if x != x:
        return x
    if x > 10.0:
        return x              # 1 - Phi(x) < 1e-23 (inf too), and x*x could overflow
    if x < GAUSS_TAIL:
        if x < -40.0:
            return -0.0       # x Phi(x) < 1e-340 (-inf too)
        # x Phi(x) = -phi(x) S(|x|): Phi alone is subnormal here
        return gauss_tail_times(-mills_series(x), x)
    cdf, pdf = ndtr_and_pdf(x)
    return x * cdf


@_jit
def dgelu(x):
    """Phi(x) + x phi(x), x not NaN.

    Both terms are computed to about an ULP: x phi(x) = x c exp(-x^2/2) with
    x c and x^2 split exactly, the low parts folded into one correction, so
    that exp is the only rounding of note.  Where the sum still cancels
    (around the root, and as far out as erfc's own error of 2-3 ULP would be
    amplified) it is phi(x) times a fitted polynomial for gelu'(x) / phi(x):
    that ratio is R(-x) + x (R the Mills ratio), nearly linear, so its fit
    neither cancels nor needs erfc.
    """
    if x > 10.0:
        return 1.0            # x phi(x) < 1e-21: gelu' rounds to 1 (inf too)
    if x < GAUSS_TAIL:
        if x < -40.0:
            return -0.0       # x phi(x) underflows (-inf too)
        # Phi(x) + x phi(x) = -phi(x) (|x| - S(|x|) / |x|), S as in gelu()
        return gauss_tail_times(x + mills_series(x) / -x, x)
    sh, sl = two_prod(x, x)
    ex = math.exp(-0.5 * sh)              # exp(-x^2/2) (1 + O(sl))
    if near_root(x, C.DGELU_ROOT, C.DGELU_ZONE):
        r = poly_at_root(x, 0.0, C.DGELU_ROOT, C.DGELU_POLY) * INV_SQRT_2PI * ex
        return r + r * (INV_SQRT_2PI_LO / INV_SQRT_2PI - 0.5 * sl)
    zh, zl = two_prod(-x, INV_SQRT_2)
    zl += -x * INV_SQRT_2_LO
    cdf = 0.5 * (math.erfc(zh) - zl * TWO_OVER_SQRT_PI * ex)
    th, tl = two_prod(x, INV_SQRT_2PI)
    tl += x * INV_SQRT_2PI_LO
    # x phi(x) = (th + tl) ex (1 - sl/2) = th ex + ex (tl - th sl / 2)
    return (cdf + ex * (tl - 0.5 * th * sl)) + th * ex


GELU_TANH_K2 = 2.0 * SQRT_2_OVER_PI       # 2 sqrt(2/pi), exact scaling
GELU_TANH_C = 0.044715


@_jit
def gelu_tanh_inner(x):
    """1 + 0.044715 x^2 as (inner, il), exact to about 2^-100."""
    x2h, x2l = two_prod(x, x)
    ph, pl = two_prod(GELU_TANH_C, x2h)
    inner = 1.0 + ph
    return inner, ((1.0 - inner) + ph) + pl + GELU_TANH_C * x2l


@_jit
def gelu_tanh_arg(x):
    """2u = 2 sqrt(2/pi) (x + 0.044715 x^3) as zh + zl, for |x| <= 30.

    sigmoid(2u) = (1 + tanh u) / 2; the low part matters because exp(2u)
    turns the rounding of 2u into |2u| ULP.
    """
    inner, il = gelu_tanh_inner(x)
    # (kh + kl) (inner + il) with 2 sqrt(2/pi) x = kh + kl exactly
    kh, kl = two_prod(GELU_TANH_K2, x)
    zh, zl = two_prod(kh, inner)
    return zh, zl + (kh * il + kl * inner)


@_jit
def dgelu_tanh(x):
    """Derivative of x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), |x| <= 30.

    s(2u) (1 + 2x s(-2u) u'); for x < 0 (e = exp(2u), q = 1 + e) that is
    e (1 + e + 2x u') / q^2.  2x u' = 2Kx (3 (1 + Cx^2) - 2) is carried as
    bh + (low parts) with 1 + bh exact near the root (Sterbenz), so only the
    rounding of e is left to cancel; a fitted polynomial takes over around
    the root.
    """
    if near_root(x, C.DGELU_TANH_ROOT, C.DGELU_TANH_ZONE):
        return poly_at_root(x, 0.0, C.DGELU_TANH_ROOT, C.DGELU_TANH_POLY)
    zh, zl = gelu_tanh_arg(x)
    if x >= 0.0:
        # all terms positive: no cancellation
        du = 0.5 * GELU_TANH_K2 * (1.0 + 3.0 * GELU_TANH_C * x * x)
        return sigmoid_dd(zh, zl) * (1.0 + 2.0 * x * sigmoid_dd(-zh, -zl) * du)
    inner, il = gelu_tanh_inner(x)
    ah, al = two_prod(3.0, inner)
    vh = ah - 2.0
    vl = ((ah - vh) - 2.0) + (al + 3.0 * il)   # Fast2Sum error (ah >= 3) + low parts
    kh, kl = two_prod(GELU_TANH_K2, x)
    bh, bl = two_prod(kh, vh)
    rest = bl + (kh * vl + kl * vh)
    if zh < EXP_SPLIT:
        return mul_exp_dd((1.0 + bh) + rest, zh, zl)
    e = exp_dd(zh, zl)
    qh, ql = one_plus_dd(e)
    r = e * ((((1.0 + bh) + e) + rest) / qh) / qh
    return r - r * (2.0 * ql / qh)


@_jit
def mish(x):
    """x tanh(softplus(x)); tanh(log(1 + e)) = n / (n + 2), n = e (e + 2)."""
    if x == -INF:
        return -0.0
    if x > 40.0:
        return x
    if x < EXP_SPLIT:
        # tanh(softplus(x)) = e (1 + O(e)), e = exp(x) ~ 1e-304 or less
        return mul_exp_dd(x, x, 0.0)
    e = math.exp(x)
    n = e * (e + 2.0)
    return x * (n / (n + 2.0))


@_jit
def dmish(x):
    """mish'(x) = tanh(sp) + x sigmoid(x) sech^2(sp), sp = softplus(x).

    With e = exp(x), d = e^2 + 2e + 2: tanh(sp) = e (e + 2) / d and
    sech^2(sp) = 4 (1 + e)^2 / d^2, so mish' = e B / d^2 with
    B = (4 + 4x) + e ((6 + 4x) + e (4 + e)): for x < 0 that sum is where
    the cancellation is, with 4 + 4x and 6 + 4x exact (Sterbenz) near the
    root; a fitted polynomial takes over around the root.
    """
    if x != x:
        return x
    if x == -INF:
        return 0.0
    if x > 40.0:
        return 1.0
    if near_root(x, C.DMISH_ROOT, C.DMISH_ZONE):
        return poly_at_root(x, 0.0, C.DMISH_ROOT, C.DMISH_POLY)
    if x < EXP_SPLIT:
        # e B / d^2 -> e (1 + x): d^2 = 4 and e may be subnormal
        return mul_exp_dd(1.0 + x, x, 0.0)
    e = math.exp(x)
    if x < -0.5:
        # d = 1 + (1 + e)^2 carried as dh + dl (1/d^2 = (1 - 2 dl/dh) / dh^2):
        # its rounding would otherwise enter twice
        qh, ql = one_plus_dd(e)
        ph, pl = two_prod(qh, qh)
        dh = 1.0 + ph
        dl = ((1.0 - dh) + ph) + (pl + 2.0 * qh * ql)
        x4 = 4.0 * x
        b = (4.0 + x4) + e * ((6.0 + x4) + e * (4.0 + e))
        r = (e * b) / (dh * dh)
        return r - r * (2.0 * dl / dh)
    # no cancellation left for x >= -0.5: the two terms as they are
    n = e * (e + 2.0)
    d = n + 2.0
    return n / d + x * sigmoid(x) * (4.0 * (n + 1.0) / (d * d))
