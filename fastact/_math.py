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
"""
import math

from numba import njit

_jit = njit(cache=False, nogil=True)

SQRT_2_OVER_PI = 0.7978845608028654        # sqrt(2/pi), as torch's kBeta
INV_SQRT_2 = 0.7071067811865476            # 1/sqrt(2), high part
INV_SQRT_2_LO = -4.833646656726457e-17     # 1/sqrt(2) - INV_SQRT_2
TWO_OVER_SQRT_PI = 1.1283791670955126      # 2/sqrt(pi)
INV_SQRT_2PI = 0.3989422804014327          # 1/sqrt(2*pi)
_SPLIT = 134217729.0                       # 2**27 + 1, Veltkamp splitter
INF = math.inf


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
    if not math.isfinite(p):
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
    """x - tanh(x); a series near 0, where the subtraction cancels."""
    ax = abs(x)
    if ax < 0.125:
        t = x * x
        # x^3 (1/3 - 2t/15 + 17t^2/315 - 62t^3/2835 + 1382t^4/155925 - ...)
        p = -21844.0 / 6081075.0
        p = p * t + 1382.0 / 155925.0
        p = p * t - 62.0 / 2835.0
        p = p * t + 17.0 / 315.0
        p = p * t - 2.0 / 15.0
        p = p * t + 1.0 / 3.0
        return x * t * p
    return x - math.tanh(x)
