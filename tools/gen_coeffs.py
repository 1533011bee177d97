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

- float32 gelu: the Mills ratio R(a) = Phi(-a) / phi(a), as c R(a) in
  a - 0.75 for 0 <= a < 1.5 and as S = c a R(a) in t = 1 / (1 + a/2) for
  1.5 <= a <= 15 (c = 1/sqrt(2 pi)), each of the smallest degree whose
  relative error is below 2**-28 (measured result: at most 3.4 ULP).  With
  e = exp(-a^2/2), gelu(x) = max(x, 0) - e S(|x|) for every x: one exp, one
  division, no cancellation (see fastact/core/math.py: gelu_f32).  Both variables are centred on their interval, so
  that Horner's rule in float32 does not cancel, and the constant terms of
  the polynomials in a (NAME_A0) are split as float32 hi + lo: rounding them
  to float32 was most of those polynomials' error.  Its derivative is
  gelu'(x) = [x >= 0] + sign(x) e c D(a) with D(a) = R(a) - a, which has a
  root at a0 = 0.7518: D is fitted as (a - a0) c Q(a) for a < 2.5 (no
  cancellation at the root) and c R(a) / t in t beyond (DGAUSS32_*).

The other coefficients target float64 (TARGET_BITS = 53); the root fits also
come in a shorter float32 version (NAME_POLY_F32, relative error below
2**-28), and float32 kernels use the rest rounded to float32 (more terms
than float32 needs, but exact enough).
Each root is also written split for float32, NAME_ROOT_F32 = (hi, lo) with
hi, lo float32 values: the kernels pick the split of their loop type
(``per_type`` in fastact/core/typed.py), since d = (x - hi) - lo needs a hi that
is a float of that type for f'(root) = 0 to be exact.
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


def dgelu(x):
    return mp.ncdf(x) + x * mp.npdf(x)


def dgelu_tanh(x):
    u = GELU_K * (x + GELU_C * x**3)
    du = GELU_K * (1 + 3 * GELU_C * x**2)
    return _sig(2 * u) * (1 + 2 * x * _sig(-2 * u) * du)


def gauss(x):
    """phi(x), the factor the gelu' fit divides out."""
    return mp.npdf(x)


def dmish(x):
    sp = mp.log1p(mp.exp(x))
    return mp.tanh(sp) + x * _sig(x) * mp.sech(sp) ** 2


def tanhshrink_r(t):
    """(x - tanh x) / x^3 at x = sqrt(t)."""
    if t == 0:
        return mp.mpf(1) / 3
    x = mp.sqrt(t)
    return (x - mp.tanh(x)) / x**3


# name: (f', starting guess for the root, interval of d = x - root, weight).
# The intervals are where the kernel's direct formula (fastact/core/math.py) is
# worse than about 2.5 ULP against mpmath.  With a weight w the polynomial
# fits f'/w, and the kernel multiplies by w: gelu' = phi(x) (R(-x) + x), R
# the Mills ratio, and R(-x) + x is close to linear over the long interval
# that gelu' needs (erfc's own error spoils the direct formula there), where
# a fit of gelu' itself would cancel in its own terms.
ROOTS = {
    "DSILU": (dsilu, -1.28, (-0.3, 0.45), None),
    "DGELU": (dgelu, -0.75, (-0.85, 0.45), gauss),
    "DGELU_TANH": (dgelu_tanh, -0.75, (-0.15, 0.15), None),
    "DMISH": (dmish, -1.19, (-0.25, 0.45), None),
}

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


def fit_at_root(f, guess, dlo, dhi, weight=None, tol=TOL):
    """(root as (hi, lo), root as float32 (hi, lo), c_1..c_N as doubles, worst relative error of the
    fit, worst relative error with the coefficients rounded to double), the
    polynomial approximating f / weight."""
    x0 = mp.findroot(f, mp.mpf(guess))
    if weight is not None:
        f = (lambda g: lambda x: g(x) / weight(x))(f)
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


GAUSS32_SPLIT = 1.5  # a below: c R(a) in a - GAUSS32_A_MID; above: S(t)
GAUSS32_A_MID = 0.75
GAUSS32_B_P = 0.5  # t = 1 / (1 + GAUSS32_B_P a), a power of 2: P a is exact
GAUSS32_MAX = 15.0  # a beyond: x Phi(x) rounds to -0 (x < 0) or x (x > 0) in float32
TOL32 = mp.mpf(2) ** -28
# gelu': c R(a) - c a cancels by up to R / (R - a), 1.5 at a = 1.5 but 1.2 at
# 2.5; the near-root form has no cancellation, so it reaches further
DGAUSS32_SPLIT = 2.5
DGAUSS32_A_MID = 1.25


def _mills(a):
    """R(a) = Phi(-a) / phi(a) = sqrt(pi/2) erfcx(a / sqrt(2))."""
    return mp.sqrt(mp.pi / 2) * mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2)


def _fit_rel(f, lo, hi):
    """Coefficients (c[k] of u^k) of the lowest-degree chebyfit of f on [lo, hi]
    with relative error below TOL32 there, and that error."""
    pts = [lo + (hi - lo) * mp.mpf(i) / (N_CHECK - 1) for i in range(N_CHECK)]
    ref = [f(u) for u in pts]
    for n in range(3, 30):
        poly = mp.chebyfit(f, [lo, hi], n + 1)
        err = max(abs(mp.polyval(poly, u) - r) / abs(r) for u, r in zip(pts, ref))
        if err < TOL32:
            return [float(v) for v in reversed(poly)], err
    raise RuntimeError("no degree below 30 meets the float32 tolerance")


def fit_gauss32():
    c = 1 / mp.sqrt(2 * mp.pi)
    mid, split, P, top = (
        mp.mpf(v) for v in (GAUSS32_A_MID, GAUSS32_SPLIT, GAUSS32_B_P, GAUSS32_MAX)
    )
    ca, ea = _fit_rel(lambda u: c * _mills(u + mid), -mid, split - mid)
    tlo, thi = 1 / (1 + P * top), 1 / (1 + P * split)
    tmid = float((tlo + thi) / 2)

    def s_of_u(u):
        a = (1 / (u + tmid) - 1) / P
        return c * a * _mills(a)

    cb, eb = _fit_rel(s_of_u, tlo - tmid, thi - tmid)
    return ca, ea, tmid, cb, eb


def fit_dgauss32():
    """gelu' for float32: c D(a) / (a - a0) in a - mid below the split, c R(a)
    in t - tmid above (see the module docstring); a0 split as float32 hi + lo."""
    c = 1 / mp.sqrt(2 * mp.pi)
    mid, split, P, top = (
        mp.mpf(v) for v in (DGAUSS32_A_MID, DGAUSS32_SPLIT, GAUSS32_B_P, GAUSS32_MAX)
    )
    a0 = mp.findroot(lambda a: _mills(a) - a, mp.mpf(0.75))
    a0h, a0l = _ff(a0)
    ar = mp.mpf(a0h) + mp.mpf(a0l)  # the root as the kernel carries it
    slope = mp.diff(lambda a: c * (_mills(a) - a), ar)

    def q(u):
        a = u + mid
        return c * (_mills(a) - a) / (a - ar) if a != ar else slope

    qa, ea = _fit_rel(q, -mid, split - mid)
    tlo, thi = 1 / (1 + P * top), 1 / (1 + P * split)
    tmid = float((tlo + thi) / 2)
    # c R(a) / t, not c R(a): it is flat (0.22 to 0.32), so Horner's rule in
    # float32 does not cancel (c R(a) itself cost 2.8 ULP that way)
    gb, eb = _fit_rel(
        lambda u: c * _mills((1 / (u + tmid) - 1) / P) / (u + tmid), tlo - tmid, thi - tmid
    )
    return (a0h, a0l), qa, ea, tmid, gb, eb


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
    for name, (f, guess, (dlo, dhi), weight) in ROOTS.items():
        (hi, lo), root32, c, fit, err = fit_at_root(f, guess, dlo, dhi, weight)
        what = f"{name[1:].lower()}'(x)" + (f" / {weight.__name__}(x)" if weight else "")
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
        # float32 kernels need far fewer terms (every term is an fma per element)
        _, _, c32, fit32, _ = fit_at_root(f, guess, dlo, dhi, weight, TOL_F32)
        lines += [
            f"# the same for float32: degree {len(c32)}, relative error {float(fit32):.2e} (fit)",
            f"{name}_POLY_F32 = (",
            *[f"    {v!r}," for v in c32],
            ")",
            "",
        ]
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
    ca, ea, tmid, cb, eb = fit_gauss32()
    lines += [
        "",
        "# float32 gelu (tools/gen_coeffs.py: fit_gauss32): c R(a) = sum GAUSS32_A[k] (a - mid)^k",
        f"# for a < split, degree {len(ca) - 1}, relative error {float(ea):.2e}; c a R(a) =",
        f"# sum GAUSS32_B[k] (t - tmid)^k, t = 1 / (1 + P a), degree {len(cb) - 1}, "
        f"{float(eb):.2e}",
        f"GAUSS32_SPLIT = {GAUSS32_SPLIT!r}",
        f"GAUSS32_A_MID = {GAUSS32_A_MID!r}",
        f"GAUSS32_B_P = {GAUSS32_B_P!r}",
        f"GAUSS32_B_TMID = {tmid!r}",
        f"GAUSS32_MAX = {GAUSS32_MAX!r}",
        f"GAUSS32_A0 = {_ff(ca[0])!r}",
        "GAUSS32_A = (",
        *[f"    {v!r}," for v in ca[1:]],
        ")",
        "GAUSS32_B = (",
        *[f"    {v!r}," for v in cb],
        ")",
    ]
    root, qa, ea, tmid, gb, eb = fit_dgauss32()
    lines += [
        "",
        "# float32 gelu' (fit_dgauss32): c (R(a) - a) / (a - a0) = sum DGAUSS32_A[k] (a - mid)^k",
        f"# for a < split, degree {len(qa) - 1}, relative error {float(ea):.2e}; c R(a) / t =",
        f"# sum DGAUSS32_B[k] (t - tmid)^k, degree {len(gb) - 1}, {float(eb):.2e}",
        f"DGAUSS32_SPLIT = {DGAUSS32_SPLIT!r}",
        f"DGAUSS32_A_MID = {DGAUSS32_A_MID!r}",
        f"DGAUSS32_B_TMID = {tmid!r}",
        f"DGAUSS32_ROOT = {root!r}",
        f"DGAUSS32_A0 = {_ff(qa[0])!r}",
        "DGAUSS32_A = (",
        *[f"    {v!r}," for v in qa[1:]],
        ")",
        "DGAUSS32_B = (",
        *[f"    {v!r}," for v in gb],
        ")",
    ]
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
