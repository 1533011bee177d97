"""Generate fastact/core/coefficients.py: the polynomial coefficients the kernels use.

    python tools/gen_coeffs.py            # rewrites fastact/core/coefficients.py

Two kinds of tables, all computed with mpmath from the mathematical
definitions (written out below, independently of the kernels):

- Polynomials for a derivative f'(x) around its real root x0.  Near x0
  every direct formula for f' subtracts two nearly equal terms, so its
  relative error grows like 1/|x - x0|.  Around x0 the kernels instead
  evaluate f'(x) = sum_k c_k d^k (k >= 1) with d = (x - x0_hi) - x0_lo, x0
  stored as a double-double: no cancellation, and f'(x0) = 0 exactly.  The
  c_k are a near-minimax fit (mpmath.chebyfit) of f'(x0 + d) / d over the
  interval of d where the kernel's direct formula would lose more than an
  ULP or so (measured against mpmath); on a short interval they are close
  to the Taylor coefficients f^(k+1)(x0) / k!, but the fit needs fewer terms
  for the same error on a long one.  The degree is the smallest whose error
  stays below 2**-(TARGET_BITS + 3) relative everywhere in the interval;
  rounding the coefficients to double adds up to half an ULP of c_1
  (reported in the generated file).

- tanhshrink: x - tanh(x) = x^3 R(x^2) for |x| <= 1, R a near-minimax
  polynomial (mpmath.chebyfit) of the smallest degree meeting the same bound.

- float32 gelu: the Mills ratio R(a) = Phi(-a) / phi(a) as 1/R(a) = a + P/Q,
  P, Q of degrees 4 and 5 in a over [0, 15], near-minimax relative to a + P/Q
  (Loeb's linearization inside Lawson's iteration, numpy least squares on
  mpmath values); then Q is rounded to float32 and P refitted to it, so that
  only P's rounding counts.  The kernel (fastact/core/math.py: gelu)
  computes S = c a R(a) = c a Q / (a Q + P), in which the rounding errors of
  P and Q shrink by P / (a Q + P), and gelu(x) = max(x, 0) - e S(|x|),
  e = exp(-x^2/2): one exp, one division, no cancellation.  Its derivative is
  gelu'(x) = [x >= 0] - sign(x) e c D(a) with D(a) = R(a) - a, which has a
  root at a0 = 0.7518: D = -(a - a0)(1 + W), W = (R(a0) - R(a)) / (a - a0)
  fitted as P/Q the same way (error relative to 1 + W), so there is no
  cancellation at the root and W's rounding shrinks by W / (1 + W).

- float64 gelu and gelu': the same two rationals to float64's precision, in
  two pieces split at a = GAUSS64_SPLIT (one piece would need degrees near
  (18, 19)), each of degrees (7, 8) in d = a - (the piece's lower end), the
  kernel picking each coefficient per lane.  Fitted in Chebyshev bases with
  long double least squares (_fit_ratio64).

The other coefficients target float64 (TARGET_BITS = 53); the root fits also
come in a shorter float32 version (NAME_POLY_F32, relative error below
2**-28), and float32 kernels use the rest rounded to float32 (more terms
than float32 needs, but exact enough).
Each root is also written split for float32, NAME_ROOT_F32 = (hi, lo) with
hi, lo float32 values: the kernels pick the split of their loop type
(``per_type`` in fastact/core/typed.py), since d = (x - hi) - lo needs a hi that
is a float of that type for f'(root) = 0 to be exact.
Roots in FLOAT_ROOT (gelu (tanh)', whose float32 kernel is in
fastact/core/vmath) get instead f'(r) + d P(d), d = x - r, r = hi the float32
nearest the root (NAME_AT_F32 = f'(r)): d is exact near r, so the kernel needs
neither lo nor the subtraction of it, and P, of the lowest degree within
FLOAT_ROOT's bound, is one term shorter than the bound 2**-28 would give.
"""

from __future__ import annotations

import os
import sys

import mpmath as mp

TARGET_BITS = 53
TOL = mp.mpf(2) ** -(TARGET_BITS + 3)  # relative truncation error allowed (1/8 ULP)
TOL_F32 = mp.mpf(2) ** -(24 + 4)  # the root fits' float32 versions
N_CHECK = 400  # verification points per table

OUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fastact",
    "core",
    "coefficients.py",
)

# torch's constants of the tanh-approximated GELU, as the doubles the kernels use
GELU_K = mp.mpf(0.7978845608028654)
GELU_C = mp.mpf(0.044715)


def _sig(x):
    return 1 / (1 + mp.exp(-x))


def dsilu(z):
    """silu'(z) = s(z) (1 + z s(-z)); swish'(x; b) = silu'(b x)."""
    return _sig(z) * (1 + z * _sig(-z))


def dgelu_tanh(x):
    u = GELU_K * (x + GELU_C * x**3)
    du = GELU_K * (1 + 3 * GELU_C * x**2)
    return _sig(2 * u) * (1 + 2 * x * _sig(-2 * u) * du)


def dmish(x):
    sp = mp.log1p(mp.exp(x))
    return mp.tanh(sp) + x * _sig(x) * mp.sech(sp) ** 2


def tanhshrink_r(t):
    """(x - tanh x) / x^3 at x = sqrt(t)."""
    if t == 0:
        return mp.mpf(1) / 3
    x = mp.sqrt(t)
    return (x - mp.tanh(x)) / x**3


# name: (f', starting guess for the root, interval of d = x - root).
# The intervals are where the kernel's direct formula (fastact/core/math.py) is
# worse than about 2.5 ULP against mpmath.  (gelu' needs no root fit: its
# rationals, fit_dgauss32 and fit_dgauss64, carry the root themselves.)
ROOTS = {
    "DSILU": (dsilu, -1.28, (-0.3, 0.45)),
    "DGELU_TANH": (dgelu_tanh, -0.75, (-0.15, 0.15)),
    "DMISH": (dmish, -1.19, (-0.25, 0.45)),
}

# The fast kernels' float32 root fit (fastact/core/math.py: dsilu_fast_of):
# NAME_FAST32_ZONE and NAME_FAST32_POLY, over a narrower interval than ROOTS
# gives: outside it silu''s float32 direct formula is within 3.52 ULP over
# every float32 (swish''s no worse than with ROOTS' interval), and the fit
# needs one term fewer than the float32 fit over that interval would.
FAST32_ZONES = {"DSILU": (-0.15, 0.26)}

# Derivatives that need only their root from here (and FAST32_ZONES' fit):
# float64 silu' writes 1 + z + e^z as d + e0 expm1(d), d = z - root, with no
# fit (dsilu64_fast), and float32 silu' takes its fast kernel's result
# wherever the root is (dsilu_dd keeps it over the common range).
ROOT_ONLY = {"DSILU"}

# R is fitted for |x| <= TANHSHRINK_X_MAX; beyond, the kernel's
# (|x| - 1) + 2 / (e^(2|x|) + 1) has no cancellation
TANHSHRINK_X_MAX = 1.0


def _dd(v):
    hi = float(v)
    return hi, float(v - hi)


def _ff(v):
    """v as float32 hi + lo (returned as the doubles holding those float32s)."""
    import numpy as np

    hi = float(np.float32(float(v)))
    return hi, float(np.float32(float(v - hi)))


def fit_at_root(f, guess, dlo, dhi, tol=TOL):
    """(root as (hi, lo), root as float32 (hi, lo), c_1..c_N as doubles, worst relative error of the
    fit, worst relative error with the coefficients rounded to double), the
    polynomial approximating f."""
    x0 = mp.findroot(f, mp.mpf(guess))
    hi, lo = _dd(x0)
    # the expansion point the kernel uses is hi + lo, not x0 itself
    xr = mp.mpf(hi) + mp.mpf(lo)
    slope = mp.diff(f, xr)

    def q(d):
        return f(xr + d) / d if d != 0 else slope

    pts = [dlo + (dhi - dlo) * mp.mpf(i) / (N_CHECK - 1) for i in range(N_CHECK)]
    pts = [d for d in pts if d != 0]
    ref = [f(xr + d) for d in pts]
    for n in range(2, 40):
        poly = mp.chebyfit(q, [dlo, dhi], n)
        c = list(reversed(poly))  # c[k-1]: coefficient of d^k
        fit = max(abs(_horner(c, d) - r) / abs(r) for d, r in zip(pts, ref))
        if fit < tol:
            c = [float(v) for v in c]
            err = max(abs(_horner(c, d) - r) / abs(r) for d, r in zip(pts, ref))
            return (hi, lo), _ff(x0), c, fit, err
    raise RuntimeError(f"no degree below 40 meets the tolerance on [{dlo}, {dhi}]")


def fit_at_float_root(f, guess, dlo, dhi, tol):
    """For a float32 kernel: f'(x) = f(r) + d P(d), d = x - r with r the
    float32 nearest the root (so d is exact near it, and no low part of
    the root is needed), f(r) the constant (rounded to float32: about
    -5e-9 for gelu (tanh)', which fixes the sign and size of f' between
    the float32 neighbours of the root).  Returns (r, f(r), c as doubles
    (c[k]: coefficient of d^k in P), worst relative error of the fit, the
    same with c and f(r) rounded to float32)."""
    import numpy as np

    x0 = mp.findroot(f, mp.mpf(guess))
    r = mp.mpf(float(np.float32(float(x0))))
    at = f(r)
    slope = mp.diff(f, r)

    def q(d):
        return (f(r + d) - at) / d if d != 0 else slope

    pts = [dlo + (dhi - dlo) * mp.mpf(i) / (N_CHECK - 1) for i in range(N_CHECK)]
    pts = [d for d in pts if d != 0]
    ref = [f(r + d) for d in pts]

    def worst(c, c0):
        return max(
            abs(mp.polyval(list(reversed(c)), d) * d + c0 - v) / abs(v) for d, v in zip(pts, ref)
        )

    for n in range(2, 40):
        c = list(reversed(mp.chebyfit(q, [dlo, dhi], n)))  # c[k]: coefficient of d^k
        fit = worst(c, at)
        if fit < tol:
            f32 = [mp.mpf(float(np.float32(float(v)))) for v in [*c, at]]
            return (
                float(r),
                float(f32[-1]),
                [float(v) for v in f32[:-1]],
                fit,
                worst(f32[:-1], f32[-1]),
            )
    raise RuntimeError(f"no degree below 40 meets the tolerance on [{dlo}, {dhi}]")


def _horner(c, d):
    """sum c[k-1] d^k, k = 1..len(c), exactly (mpmath)."""
    p = mp.mpf(0)
    for ck in reversed(c):
        p = p * d + ck
    return p * d


def fit_tanhshrink():
    t_max = mp.mpf(TANHSHRINK_X_MAX) ** 2
    pts = [t_max * i / (N_CHECK - 1) for i in range(N_CHECK)]
    ref = [tanhshrink_r(t) for t in pts]
    for n in range(4, 40):
        poly, _ = mp.chebyfit(tanhshrink_r, [0, t_max], n + 1, error=True)
        trunc = max(abs(mp.polyval(poly, t) - r) / r for t, r in zip(pts, ref))
        if trunc < TOL:
            c = [float(v) for v in reversed(poly)]  # c[k]: coefficient of t^k
            err = max(abs(mp.polyval(list(reversed(c)), t) - r) / r for t, r in zip(pts, ref))
            return c, trunc, err
    raise RuntimeError("no degree below 40 meets the tolerance")


GAUSS32_MAX = 15.0  # a beyond: x Phi(x) rounds to -0 (x < 0) or x (x > 0) in float32
N_RAT = 4000  # fitting points of the float32 gelu rationals (Chebyshev nodes on [0, MAX])
RAT_ITERS = 400
GAUSS32_R_DEG = (4, 5)  # degrees of P and Q
DGAUSS32_R_DEG = (4, 5)
DGAUSS32_Q0 = 2.98


def _mills(a):
    """R(a) = Phi(-a) / phi(a) = sqrt(pi/2) erfc(a / sqrt(2)) exp(a^2/2)."""
    return mp.sqrt(mp.pi / 2) * mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2)


def _lawson(cols, target, scale, iters=RAT_ITERS):
    """Near-minimax weighted linear fit: min max |cols @ x - target| / scale
    (Lawson's iteration: least squares with weights multiplied by the error).
    Returns (x, max weighted error)."""
    import numpy as np

    w = np.ones(len(target))
    best = None
    for _ in range(iters):
        sw = np.sqrt(w) / scale
        x, *_ = np.linalg.lstsq(cols * sw[:, None], target * sw, rcond=None)
        err = np.abs(cols @ x - target) / scale
        if best is None or err.max() < best[1]:
            best = (x, err.max())
        w = np.maximum(w * err / (w * err).sum(), 1e-300)
    return best


def _constant_pair(f0, q0):
    """(q0', p0): float32 numbers with q0' within 2^-8 relative of q0 and
    p0 / q0' closest to f0, so that P/Q is right at a = 0 with both
    constant terms exact (their rounding was most of the float32 error)."""
    import numpy as np

    b = np.float32(q0).view(np.int32)
    q = np.arange(b - (1 << 15), b + (1 << 15), dtype=np.int32).view(np.float32)
    qd = q.astype(float)
    p = (float(f0) * qd).astype(np.float32).astype(float)
    i = int(np.argmin(np.abs(p / qd - float(f0))))
    return float(qd[i]), float(p[i])


def _fit_ratio(f, h, m, n, plus_a=False, q0=1.0):
    """P/Q (deg m, n, Q(0) = 1) near-minimax for f with error relative to h,
    on [0, GAUSS32_MAX]: Loeb's linearization (P - f Q scaled by the last Q)
    inside Lawson's iteration, in the variable s = a / MAX (conditioning), then
    Q rounded to float32 and P refitted (linear) to f Q, then rounded too: the
    rounding of Q no longer counts.  Q is scaled to Q(0) = q0 first (P/Q
    unchanged): a value just below a power of 2 rounds with the smallest
    relative error.  With plus_a, the P returned (and refitted
    and rounded) is P + a.  Returns (P, Q) as float32 values in a (doubles),
    the error of the fit and the error with those coefficients."""
    import numpy as np

    top = GAUSS32_MAX
    k = np.arange(N_RAT)
    a = top * (1 - np.cos(np.pi * (k + 0.5) / N_RAT)) / 2
    fv = np.array([float(f(mp.mpf(v))) for v in a])
    hv = np.array([float(h(mp.mpf(v))) for v in a])
    s = a / top
    w, qprev, best = np.ones(N_RAT), np.ones(N_RAT), None
    for _ in range(RAT_ITERS):
        cols = np.array([s**j for j in range(m + 1)] + [-fv * s**j for j in range(1, n + 1)]).T
        sw = np.sqrt(w) / (hv * qprev)
        x, *_ = np.linalg.lstsq(cols * sw[:, None], fv * sw, rcond=None)
        p, q = x[: m + 1], np.concatenate([[1.0], x[m + 1 :]])
        qprev = np.polyval(q[::-1], s)
        err = np.abs(np.polyval(p[::-1], s) / qprev - fv) / hv
        if best is None or err.max() < best[0]:
            best = (err.max(), q)
        w = np.maximum(w * err / (w * err).sum(), 1e-300)
    fit, q = best
    q0, p0 = _constant_pair(f(mp.mpf(0)), q0)
    q32 = (q0 * q / top ** np.arange(n + 1)).astype(np.float32).astype(float)
    qv = np.polyval(q32[::-1], a)
    shift = a if plus_a else 0 * a
    # P's coefficients rounded one at a time, the higher ones refitted to
    # what the rounded ones leave
    p32 = [p0]
    for j in range(1, m + 1):
        cols = np.array([a**i for i in range(j, m + 1)]).T
        rest = fv * qv + shift - np.polyval(np.array(p32)[::-1], a)
        p, _ = _lawson(cols, rest, hv * qv)
        p32.append(float(np.float32(p[0])))
    p32 = np.array(p32)
    err = np.abs((np.polyval(p32[::-1], a) - shift) / qv - fv) / hv
    return [float(v) for v in p32], [float(v) for v in q32], fit, err.max()


def fit_gauss32():
    """float32 gelu: 1/R(a) = a + P/Q, with the constant factor of gelu's
    e (c rounded to float32, c32) folded in: S(a) = c a R(a) is computed as
    c32 a Q / (a Q + P), so P/Q fits c32 / (c R(a)) - a; the error is
    relative to a + P/Q.  P is returned as P + a (the kernel's denominator is
    a (Q - 1) a + (P + a))."""
    import numpy as np

    c = 1 / mp.sqrt(2 * mp.pi)
    c32 = mp.mpf(float(np.float32(float(c))))
    m, n = GAUSS32_R_DEG
    return _fit_ratio(
        lambda a: c32 / (c * _mills(a)) - a, lambda a: c32 / (c * _mills(a)), m, n, plus_a=True
    )


def fit_dgauss32():
    """float32 gelu': R(a) - a = -(a - a0)(1 + W(a)), W = P/Q with the error
    relative to 1 + W; a0 (the root of R(a) - a) split as float32 hi + lo,
    W fitted for the root as the kernel carries it."""
    a0 = mp.findroot(lambda a: _mills(a) - a, mp.mpf(0.75))
    a0h, a0l = _ff(a0)
    ar = mp.mpf(a0h) + mp.mpf(a0l)
    m, n = DGAUSS32_R_DEG

    def one_w(a):
        return (a - _mills(a)) / (a - ar)

    # P(0) = W(0) q0 = 1.99: P and Q near 0 round by at most 0.5 and 0.67
    # of an ulp (q0 = 2.98) instead of 0.75 and 1 (q0 = 1)
    p, q, fit, err = _fit_ratio(lambda a: one_w(a) - 1, one_w, m, n, q0=DGAUSS32_Q0)
    return (a0h, a0l), p, q, fit, err


# float64 gelu and gelu': the same rationals to float64's precision.  One
# rational over [0, GAUSS64_MAX] would need degrees near (18, 19) for an
# error of 2e-17 (measured: (12, 13) reaches 9e-15), two pieces split at
# GAUSS64_SPLIT need (7, 8) each (split at 5 the upper piece is at 9e-17); the kernels pick each coefficient per lane
# (horner_select), which costs a blend per coefficient and no fma.  The fits
# run in Chebyshev bases (conditioning) with long double least squares
# (numpy's float64 lstsq stops near 1e-15), and are checked in mpmath with
# the float64 coefficients.
GAUSS64_MAX = 40.0  # a beyond: x Phi(x) rounds to -0 (x < 0) or x (x > 0) in float64
GAUSS64_SPLIT = 5.5
GAUSS64_R_DEG = (7, 8)
DGAUSS64_R_DEG = (7, 8)
N_RAT64 = 600
N_CHECK64 = 3000
RAT_ITERS64 = 300


def _lstsq_ld(a, b):
    """Least squares min |a x - b| by Householder QR in long double."""
    import numpy as np

    a = a.astype(np.longdouble)
    b = b.astype(np.longdouble)
    k = a.shape[1]
    for j in range(k):
        v = a[j:, j].copy()
        nv = np.sqrt(np.sum(v * v))
        v[0] += nv if v[0] >= 0 else -nv
        vv = np.sum(v * v)
        if vv == 0:
            continue
        a[j:, j:] -= np.outer(v, (2 / vv) * (v @ a[j:, j:]))
        b[j:] -= v * ((2 / vv) * (v @ b[j:]))
    x = np.zeros(k, dtype=np.longdouble)
    for i in range(k - 1, -1, -1):
        x[i] = (b[i] - a[i, i + 1 : k] @ x[i + 1 :]) / a[i, i]
    return x


def _cheb_rows(s, n):
    """T_0..T_n at the points s (long double), one row per degree."""
    import numpy as np

    t = [np.ones_like(s), s]
    for _ in range(2, n + 1):
        t.append(2 * s * t[-1] - t[-2])
    return np.array(t[: n + 1])


def _cheb_to_monomial(c, lo, hi):
    """Coefficients (mpf, by degree in d = a - lo) of sum c_j T_j(s),
    s = (2a - lo - hi) / (hi - lo)."""
    n = len(c)
    ts = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for _ in range(2, n):
        t = [mp.mpf(0)] + [2 * v for v in ts[-1]]
        for i, v in enumerate(ts[-2]):
            t[i] -= v
        ts.append(t)
    ps = [mp.mpf(0)] * n
    for j, cj in enumerate(c):
        for i, v in enumerate(ts[j]):
            ps[i] += mp.mpf(str(cj)) * v
    al, be = 2 / (mp.mpf(hi) - lo), mp.mpf(-1)
    out = [mp.mpf(0)] * n
    for i, v in enumerate(ps):
        for k in range(i + 1):
            out[k] += v * mp.binomial(i, k) * al**k * be ** (i - k)
    return out


def _fit_ratio64(f, h, m, n, lo, hi, plus_a=False):
    """P/Q near-minimax for f on [lo, hi] with error relative to h, P and Q
    polynomials (degrees m, n, Q = 1 at lo) in d = a - lo, for float64
    kernels: Loeb's linearization in Lawson's iteration (as _fit_ratio) in
    Chebyshev polynomials of s, long double least squares; Q converted to
    monomials in d and rounded to float64, P refitted (linear, Lawson) to
    f Q with that Q, converted and rounded.  Monomials in d rather than a
    keep the upper piece's coefficients positive, so that Horner's scheme
    does not cancel.  With plus_a the P returned is P + a (in d: lo and 1
    added to the first two coefficients before rounding).  Returns (P, Q)
    as floats, the error of the fit and the error with the rounded
    coefficients (mpmath, at N_CHECK64 points)."""
    import numpy as np

    ld = np.longdouble
    k = np.arange(N_RAT64)
    am = [
        mp.mpf(lo) + (mp.mpf(hi) - lo) * (1 - mp.cos(mp.pi * (j + mp.mpf(1) / 2) / N_RAT64)) / 2
        for j in k
    ]
    a = np.array([ld(mp.nstr(v, 30)) for v in am])
    fv = np.array([ld(mp.nstr(f(v), 30)) for v in am])
    hv = np.array([ld(mp.nstr(h(v), 30)) for v in am])
    t = _cheb_rows((2 * a - ld(lo) - ld(hi)) / (ld(hi) - ld(lo)), max(m, n))
    w, qprev, best = np.ones(N_RAT64, dtype=ld), np.ones(N_RAT64, dtype=ld), None
    for _ in range(RAT_ITERS64):
        cols = np.concatenate([t[: m + 1], -fv * t[1 : n + 1]]).T
        sw = np.sqrt(w) / (hv * np.abs(qprev))
        x = _lstsq_ld(cols * sw[:, None], fv * sw)
        p, q = x[: m + 1], np.concatenate([[ld(1)], x[m + 1 :]])
        qprev = q @ t[: n + 1]
        err = np.abs((p @ t[: m + 1]) / qprev - fv) / hv
        if best is None or err.max() < best[0]:
            best = (err.max(), q)
        w = np.maximum(w * err / np.sum(w * err), ld(1e-300))
    fit, q = best
    qm = _cheb_to_monomial(q, lo, hi)
    q64 = [float(v / qm[0]) for v in qm]
    qv = np.polyval(np.array(q64, dtype=ld)[::-1], a - ld(lo))
    w, best = np.ones(N_RAT64, dtype=ld), None
    for _ in range(RAT_ITERS64):
        sw = np.sqrt(w) / (hv * qv)
        p = _lstsq_ld(t[: m + 1].T * sw[:, None], fv * qv * sw)
        err = np.abs(p @ t[: m + 1] - fv * qv) / (hv * qv)
        if best is None or err.max() < best[0]:
            best = (err.max(), p)
        w = np.maximum(w * err / np.sum(w * err), ld(1e-300))
    pm = _cheb_to_monomial(best[1], lo, hi)
    if plus_a:
        pm[0] += lo
        pm[1] += 1
    p64 = [float(v) for v in pm]
    worst = mp.mpf(0)
    for j in range(N_CHECK64):
        v = mp.mpf(lo) + (mp.mpf(hi) - lo) * j / (N_CHECK64 - 1)
        pv = mp.polyval([mp.mpf(c) for c in reversed(p64)], v - lo) - (v if plus_a else 0)
        qv_ = mp.polyval([mp.mpf(c) for c in reversed(q64)], v - lo)
        worst = max(worst, abs(pv / qv_ - f(v)) / h(v))
    return p64, q64, mp.mpf(float(fit)), worst


def fit_gauss64():
    """float64 gelu: fit_gauss32's rational (c64 = c rounded to float64 folded
    in) in two pieces, [0, SPLIT] and [SPLIT, MAX], each in d = a - its
    lower end.  Returns a list of (P + a, Q, fit error, error with float64
    coefficients) per piece."""
    c = 1 / mp.sqrt(2 * mp.pi)
    c64 = mp.mpf(float(c))
    m, n = GAUSS64_R_DEG
    return [
        _fit_ratio64(
            lambda a: c64 / (c * _mills(a)) - a,
            lambda a: c64 / (c * _mills(a)),
            m,
            n,
            lo,
            hi,
            plus_a=True,
        )
        for lo, hi in ((0.0, GAUSS64_SPLIT), (GAUSS64_SPLIT, GAUSS64_MAX))
    ]


def fit_dgauss64():
    """float64 gelu': fit_dgauss32's W = P/Q in fit_gauss64's two pieces, the
    root split as a double-double.  Returns ((a0 hi, lo), [(P, Q, fit
    error, error with float64 coefficients) per piece])."""
    a0 = mp.findroot(lambda a: _mills(a) - a, mp.mpf(0.75))
    a0h, a0l = _dd(a0)
    ar = mp.mpf(a0h) + mp.mpf(a0l)
    m, n = DGAUSS64_R_DEG
    slope = 1 - mp.diff(_mills, ar)

    def one_w(a):
        return (a - _mills(a)) / (a - ar) if a != ar else slope

    pieces = [
        _fit_ratio64(lambda a: one_w(a) - 1, one_w, m, n, lo, hi)
        for lo, hi in ((0.0, GAUSS64_SPLIT), (GAUSS64_SPLIT, GAUSS64_MAX))
    ]
    return (a0h, a0l), pieces


# root fits whose float32 kernel (fastact/core/vmath) evaluates f(r) + d P(d),
# d = x - r (fit_at_float_root): their interval of d and relative error bound.
# The float32 kernel's direct formula stays within about 3.2 ULP down to
# 0.08 below the root and 0.14 above it (e's rounding, amplified by
# e / |w| as w cancels, grows faster on the side towards 0), so the zone is
# that and not the float64 one; a fit to 2^-24 (degree 4) keeps the zone
# within 3 ULP with its own float32 roundings
FLOAT_ROOT = {"DGELU_TANH": ((-0.08, 0.14), mp.mpf(2) ** -24)}


def _fast32_lines(name, f, guess):
    """NAME_FAST32_ZONE and NAME_FAST32_POLY, where FAST32_ZONES has NAME."""
    if name not in FAST32_ZONES:
        return []
    xlo, xhi = FAST32_ZONES[name]
    _, _, cx, fitx, _ = fit_at_root(f, guess, xlo, xhi, TOL_F32)
    return [
        f"# the fast kernels' float32 fit (see FAST32_ZONES) for {xlo} <= x - root <= {xhi}:",
        f"# degree {len(cx)}, relative error {float(fitx):.2e} (fit)",
        f"{name}_FAST32_ZONE = ({xlo!r}, {xhi!r})",
        f"{name}_FAST32_POLY = (",
        *[f"    {v!r}," for v in cx],
        ")",
        "",
    ]


def _float_root_lines(name, f, guess):
    (dlo, dhi), tol = FLOAT_ROOT[name]
    r, at, c, fit, err = fit_at_float_root(f, guess, mp.mpf(dlo), mp.mpf(dhi), tol)
    return [
        f"# the same for float32 (vmath): f(r) + d P(d) for {dlo} <= d <= {dhi}, d = x - r,",
        f"# r = {name}_ROOT_F32[0]; P of degree {len(c) - 1}, relative error {float(fit):.2e}",
        f"# (fit), {float(err):.2e} (float32 coefficients)",
        f"{name}_ZONE_F32 = ({dlo!r}, {dhi!r})",
        f"{name}_AT_F32 = {at!r}",
        f"{name}_NEAR_F32 = (",
        *[f"    {v!r}," for v in c],
        ")",
        "",
    ]


def _piece_lines(prefix, pieces, q_from):
    """PREFIX_RP_LO / _RQ_LO and _HI tuples of a two-piece fit (_fit_ratio64's
    results), Q from its coefficient q_from on."""
    lines = []
    for name, (rp, rq, _, _) in zip(("LO", "HI"), pieces):
        for table, values in (("RP", rp), ("RQ", rq[q_from:])):
            lines += [f"{prefix}_{table}_{name} = (", *[f"    {v!r}," for v in values], ")"]
    return lines


def main() -> int:
    mp.mp.prec = 256
    lines = [
        '"""Polynomial coefficients of the kernels: GENERATED by tools/gen_coeffs.py.',
        "",
        "Do not edit by hand; change and rerun the generator instead.  See its",
        "docstring for the method (near-minimax polynomials around the roots of",
        "derivatives, and of tanhshrink near 0, fitted with mpmath).",
        '"""',
        "",
    ]
    for name, (f, guess, (dlo, dhi)) in ROOTS.items():
        (hi, lo), root32, c, fit, err = fit_at_root(f, guess, dlo, dhi)
        what = f"{name[1:].lower()}'(x)"
        if name in ROOT_ONLY:
            lines += [
                f"# {what}: its root (hi, lo), and as float32 (see ROOT_ONLY)",
                f"{name}_ROOT = ({hi!r}, {lo!r})",
                f"{name}_ROOT_F32 = {root32!r}",
                "",
            ]
            lines += _fast32_lines(name, f, guess)
            continue
        lines += [
            f"# {what} for {dlo} <= x - root <= {dhi}: degree {len(c)}, relative",
            f"# error {float(fit):.2e} (fit), {float(err):.2e} (double coefficients)",
            f"{name}_ROOT = ({hi!r}, {lo!r})",
            f"{name}_ROOT_F32 = {root32!r}",
            f"{name}_ZONE = ({dlo!r}, {dhi!r})",
            f"{name}_POLY = (",
            *[f"    {v!r}," for v in c],
            ")",
        ]
        if name in FLOAT_ROOT:
            lines += _float_root_lines(name, f, guess)
            continue
        # float32 kernels need far fewer terms (every term is an fma per element)
        _, _, c32, fit32, _ = fit_at_root(f, guess, dlo, dhi, TOL_F32)
        lines += [
            f"# the same for float32: degree {len(c32)}, relative error {float(fit32):.2e} (fit)",
            f"{name}_POLY_F32 = (",
            *[f"    {v!r}," for v in c32],
            ")",
            "",
        ]
        lines += _fast32_lines(name, f, guess)
    c, trunc, err = fit_tanhshrink()
    lines += [
        "# tanhshrink(x) = x^3 R(x^2) for |x| <= TANHSHRINK_X_MAX; R(t) = sum c_k t^k: degree",
        f"# {len(c) - 1}, relative error {float(trunc):.2e} (fit), {float(err):.2e} "
        "(double coefficients)",
        f"TANHSHRINK_X_MAX = {TANHSHRINK_X_MAX!r}",
        "TANHSHRINK_R = (",
        *[f"    {v!r}," for v in c],
        ")",
    ]
    rp, rq, fit, err = fit_gauss32()
    lines += [
        "",
        "# float32 gelu (tools/gen_coeffs.py: fit_gauss32): 1/R(a) = a + P(a)/Q(a), R the",
        f"# Mills ratio, c/c32 folded in; the relative error of a + P/Q is {float(fit):.2e} (fit),",
        f"# {float(err):.2e} (float32 coefficients).  GAUSS32_RP is P + a, GAUSS32_RQ is",
        "# (Q - 1) / a: the kernel forms t = a (Q - 1), a Q = a + a t, a Q + P = a t + (P + a)",
        f"GAUSS32_MAX = {GAUSS32_MAX!r}",
        "GAUSS32_RP = (",
        *[f"    {v!r}," for v in rp],
        ")",
        "GAUSS32_RQ = (",
        *[f"    {v!r}," for v in rq[1:]],
        ")",
    ]
    root, dp, dq, fit, err = fit_dgauss32()
    lines += [
        "",
        "# float32 gelu' (fit_dgauss32): R(a) - a = -(a - a0)(1 + P(a)/Q(a)); relative error",
        f"# of 1 + P/Q {float(fit):.2e} (fit), {float(err):.2e} (float32 coefficients)",
        f"DGAUSS32_ROOT = {root!r}",
        "DGAUSS32_RP = (",
        *[f"    {v!r}," for v in dp],
        ")",
        "DGAUSS32_RQ = (",
        *[f"    {v!r}," for v in dq],
        ")",
    ]
    pieces = fit_gauss64()
    lines += [
        "",
        "# float64 gelu (fit_gauss64): the same 1/R(a) = a + P/Q (c/c64 folded in) in two",
        "# pieces, a < GAUSS64_SPLIT and above, P and Q in d = a - (the piece's lower end);",
        "# relative error of a + P/Q "
        + ", ".join(f"{float(fit):.2e} / {float(err):.2e}" for _, _, fit, err in pieces),
        "# (fit / float64 coefficients, per piece).  As in float32 GAUSS64_RP_* is P + a and",
        "# GAUSS64_RQ_* is (Q - 1) / d (Q = 1 at d = 0)",
        f"GAUSS64_MAX = {GAUSS64_MAX!r}",
        f"GAUSS64_SPLIT = {GAUSS64_SPLIT!r}",
    ]
    lines += _piece_lines("GAUSS64", pieces, q_from=1)
    root, pieces = fit_dgauss64()
    lines += [
        "",
        "# float64 gelu' (fit_dgauss64): R(a) - a = -(a - a0)(1 + P/Q) with fit_dgauss32's",
        "# P/Q in the pieces of GAUSS64_*, in d = a - (the piece's lower end); relative error",
        "# of 1 + P/Q "
        + ", ".join(f"{float(fit):.2e} / {float(err):.2e}" for _, _, fit, err in pieces)
        + " (fit / float64 coefficients)",
        f"DGAUSS64_ROOT = {root!r}",
    ]
    lines += _piece_lines("DGAUSS64", pieces, q_from=0)
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
