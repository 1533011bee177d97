"""Derive the polynomial coefficients used by fastact/core/vmath.

Weighted minimax (Remez exchange) fits done in mpmath at high precision, then
rounded to the target precision.  Run:

    python tools/fit_vmath.py            # all fits
    python tools/fit_vmath.py exp erfc   # some of them

and paste the printed tables into fastact/core/vmath/fits.py.  Each fit also
reports the weighted error of the *rounded* coefficients (evaluated exactly),
which is the approximation part of the error budget; arithmetic rounding comes
on top of it.
"""

from __future__ import annotations

import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 60


def remez(f, w, nterms, basis, a, b, iters=30, grid=3000):
    """Coefficients c minimising max |w(x) (f(x) - sum c_j basis(j, x))| on [a, b]."""
    a, b = mp.mpf(a), mp.mpf(b)
    m = nterms
    # Chebyshev extrema as the initial reference.
    ref = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (m)) for i in range(m + 1)]
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (grid - 1)) for i in range(grid)]
    fx = [f(x) for x in xs]
    wx = [w(x) for x in xs]
    bx = [[basis(j, x) for j in range(m)] for x in xs]
    fcache = dict(zip(xs, fx))
    c = None
    E = emax = None
    for _ in range(iters):
        A = mp.matrix(m + 1, m + 1)
        rhs = mp.matrix(m + 1, 1)
        for i, x in enumerate(ref):
            for j in range(m):
                A[i, j] = basis(j, x)
            A[i, m] = (-1) ** i / w(x)
            rhs[i] = fcache[x] if x in fcache else f(x)
        sol = mp.lu_solve(A, rhs)
        c = [sol[j] for j in range(m)]
        E = sol[m]
        err = [wx[k] * (fx[k] - mp.fsum(c[j] * bx[k][j] for j in range(m))) for k in range(grid)]
        # local extrema of the error on the grid, endpoints included
        ext = []
        for k in range(grid):
            left = err[k - 1] if k > 0 else None
            right = err[k + 1] if k < grid - 1 else None
            e = err[k]
            if (left is None or abs(e) >= abs(left)) and (right is None or abs(e) >= abs(right)):
                ext.append(k)
        # merge runs of the same sign, keep the largest
        merged = []
        for k in ext:
            if merged and mp.sign(err[merged[-1]]) == mp.sign(err[k]):
                if abs(err[k]) > abs(err[merged[-1]]):
                    merged[-1] = k
            else:
                merged.append(k)
        while len(merged) > m + 1:
            # drop the smaller end
            if abs(err[merged[0]]) < abs(err[merged[-1]]):
                merged.pop(0)
            else:
                merged.pop()
        emax = max(abs(e) for e in err)
        if len(merged) < m + 1:
            break
        ref = [xs[k] for k in merged]
        if emax <= abs(E) * (1 + mp.mpf("1e-6")):
            break
    return c, emax


def memo(f):
    cache = {}

    def g(x):
        v = cache.get(x)
        if v is None:
            v = cache[x] = f(x)
        return v

    return g


def fit(name, f, w, n, a, b, dtype, grid=3000, fixed=(), order="up"):
    """Fit, rounding the coefficients to `dtype` one at a time and refitting
    the others after each, so that they absorb most of its rounding error.
    order="up" rounds from c0 upwards, which works on [0, b] intervals (only
    c0 acts at 0, and the refits on the basis x^k, x^(k+1), ... stay
    well-posed there); order="down" rounds from the top and suits intervals
    around 0.  `fixed` gives leading coefficients as exact values that the
    kernel represents some other way (as hi + lo pairs)."""
    f, w = memo(f), memo(w)
    lo = [mp.mpf(v) for v in fixed]
    nf = len(lo)
    rounded = {}
    e0 = None
    for step in range(n - nf):
        if order == "up":
            free = list(range(nf + step, n))
        else:
            free = list(range(nf, n - step))

        def g(x, known=dict(rounded)):  # noqa: B006 (a snapshot of this step's rounded terms)
            return f(x) - mp.fsum(c * x**j for j, c in list(known.items()) + list(enumerate(lo)))

        c, e = remez(g, w, len(free), pw(free[0]), a, b, grid=grid)
        if e0 is None:
            e0 = e
        j, cj = (free[0], c[0]) if order == "up" else (free[-1], c[-1])
        rounded[j] = mp.mpf(float(dtype(float(cj))))
    done = lo + [rounded[j] for j in range(nf, n)]
    cr = done
    xs = [a + (b - a) * mp.mpf(i) / 4000 for i in range(4001)]
    e = max(abs(w(x) * (f(x) - mp.fsum(cr[j] * x**j for j in range(n)))) for x in xs)
    eps = float(np.finfo(dtype).eps)
    nm = np.dtype(dtype).name
    print(
        f"# {name} {nm}: minimax weighted error {float(e0) / eps:.3g} eps,"
        f" {float(e) / eps:.3g} eps with the rounded coefficients"
    )
    print(f"{name.upper()}_{'F' if dtype == np.float32 else 'D'} = (")
    for x in cr[len(fixed) :]:
        print(f"    {float(x)!r},")
    print(")", flush=True)


def pw(k):
    return lambda j, x: x ** (j + k)


TINY = mp.mpf("1e-20")


def nz(x):
    # The fitted quotients are 0/0 at 0; mp.cos leaves ~1e-61 there, which
    # cancels every digit, so points that close to 0 are moved to 1e-20.
    return x if abs(x) > TINY else TINY


LN2H = mp.log(2) / 2 * mp.mpf("1.002")


def fit_exp():
    # expm1(r) = r + r^2 Q(r), |r| <= ln2/2 (+ slack for the rounded
    # reduction).  Weighted for relative error of expm1, which is the
    # stricter of the exp / expm1 requirements, so both share Q.
    f = lambda r: (mp.expm1(nz(r)) - nz(r)) / nz(r) ** 2
    # (|r| + 0.05) instead of |r|: a weight that vanishes at 0 breaks the
    # alternation, and Q is harmless there anyway.
    w = lambda r: (abs(r) + mp.mpf("0.05")) * nz(r) / mp.expm1(nz(r))
    for dt, n in ((np.float32, 6), (np.float64, 11)):
        fit("expq", f, w, n, -LN2H, LN2H, dt, order="down")
    # exp(r) = 1 + r + r^2 P(r) alone (exp, exp_below, tanh) needs only
    # relative accuracy of exp: one term fewer than expq, with errors of
    # 0.03 eps.
    f = lambda r: (mp.exp(nz(r)) - 1 - nz(r)) / nz(r) ** 2
    w = lambda r: (abs(r) + mp.mpf("0.05")) * abs(nz(r)) / mp.exp(r)
    for dt, n in ((np.float32, 5), (np.float64, 10)):
        fit("expp", f, w, n, -LN2H, LN2H, dt, order="down")
    # 2^f = 1 + f Q(f), |f| <= 1/2 (gelu's tanh form, float32): exp's
    # polynomial in base 2, Q's constant ln 2, so that no product by ln 2
    # rounds before it
    s = mp.mpf("0.5") * mp.mpf("1.002")
    f = lambda x: (mp.power(2, nz(x)) - 1) / nz(x)
    w = lambda x: (abs(x) + mp.mpf("0.02")) / mp.power(2, x)
    fit("exp2q", f, w, 6, -s, s, np.float32, order="down")


def lawson(A, b, w, iters=300):
    """c minimising max w |A c - b| (Lawson's iteratively reweighted least
    squares, float64) and that maximum."""
    lw, best = np.ones_like(b), None
    for _ in range(iters):
        W = np.sqrt(lw) * w
        c, *_ = np.linalg.lstsq(A * W[:, None], b * W, rcond=None)
        err = np.abs(A @ c - b) * w
        if best is None or err.max() < best[0]:
            best = (err.max(), c)
        lw = lw * err + 1e-300
        lw /= lw.sum()
    return best[1], best[0]


def fit_exp5():
    # float32 exp(r) = 1 + r + r^2 P(r), P of degree 3 (exp of degree 5; one
    # fma fewer than expp) for sigmoid and sigmoid' alone, relative error of
    # exp on |r| <= ln2/2 (+ slack), in units of 2^-24; the coefficients
    # rounded from c0 upwards, the higher ones refitted after each.  Lawson
    # on a dense grid: the relative weight r^2 e^-r of f = (e^r - 1 - r)/r^2
    # vanishes at 0, which fit()'s exchange does not take.
    r = np.linspace(-float(LN2H), float(LN2H), 20001)
    e = np.array([float(mp.exp(mp.mpf(float(v)))) for v in r])
    w = 2**24 / e
    done = []
    for j in range(4):
        A = np.vstack([r ** (2 + k) for k in range(j, 4)]).T
        b = e - 1 - r - sum(c * r ** (2 + k) for k, c in enumerate(done))
        c, err = lawson(A, b, w)
        if j == 0:
            e0 = err
        done.append(float(np.float32(c[0])))
    er = np.max(np.abs(1 + r + sum(c * r ** (2 + k) for k, c in enumerate(done)) - e) * w)
    print(
        f"# expp5 float32: relative error {e0:.3g} x 2^-24, {er:.3g} with the rounded coefficients"
    )
    print("EXPP5_F = (")
    for v in done:
        print(f"    {v!r},")
    print(")", flush=True)


def fit_log():
    # log1p(f) = f - f^2/2 + s (f^2/2 + R(z)), s = f / (2 + f), z = s^2,
    # R(z) = 2 atanh(s)/s - 2 = z (c1 + c2 z + ...).  The result is ~2s, so an
    # absolute error in R of d is a relative error of d/2: weight 1/2.
    smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1) * mp.mpf("1.001")
    zmax = smax**2
    f = lambda z: (2 * mp.atanh(mp.sqrt(nz(z))) / mp.sqrt(nz(z)) - 2) / nz(z)
    w = lambda z: (z + zmax / 20) / 2
    for dt, n in ((np.float32, 4), (np.float64, 8)):
        fit("logr", f, w, n, 0, zmax, dt)


def _unit_points(samples):
    """Points of [0, 1]: uniform and Chebyshev-clustered at the ends."""
    return np.unique(
        np.concatenate(
            [np.linspace(0, 1, samples), (1 - np.cos(np.linspace(0, np.pi, samples))) / 2]
        )
    )


def _loeb_lawson(A, rhs, fa, wa, PQ, Q, iters):
    """(max error, c): the coefficients c of A c = rhs near-minimax in
    wa |P/Q - fa| with (P, Q) = PQ(c), by Loeb's linearized least squares
    (weights wa/Q from the previous step, starting from Q) and Lawson's
    reweighting by the error."""
    lw, best = np.ones_like(fa), None
    for it in range(iters):
        W = lw * wa / Q
        c, *_ = np.linalg.lstsq(A * W[:, None], rhs * W, rcond=None)
        P, Q = PQ(c)
        err = np.abs(P / Q - fa) * wa
        if best is None or err.max() < best[0]:
            best = (err.max(), c)
        if it > 5:
            lw = lw * np.sqrt(err) + 1e-300
            lw /= lw.sum()
    return best


def rational(f, w, m, n, lo, hi, samples=12000, iters=100, one=False):
    """(p, q, err), q[0] = 1: P(a)/Q(a) of degrees m, n near-minimax in the
    weighted error w |P/Q - f| on [lo, hi] (_loeb_lawson).  one=True also
    fixes p[0] = 1 (f(0) = 1 exactly).  float64 arithmetic on a scaled
    variable is plenty for a float32 fit; f's and w's values come from
    mpmath."""
    av = lo + (hi - lo) * _unit_points(samples)
    u = av / hi
    fu = np.array([float(f(mp.mpf(float(v)))) for v in av])
    wu = np.array([float(w(mp.mpf(float(v)))) for v in av])
    k0 = 1 if one else 0
    Ap = np.vstack([u**k for k in range(k0, m + 1)]).T
    Aq = np.vstack([u**k for k in range(1, n + 1)]).T
    np_ = Ap.shape[1]
    e, c = _loeb_lawson(
        np.hstack([Ap, -fu[:, None] * Aq]),
        fu - k0,
        fu,
        wu,
        lambda c: (k0 + Ap @ c[:np_], 1 + Aq @ c[np_:]),
        np.ones_like(u),
        iters,
    )
    p = [1.0] * k0 + [c[k - k0] * float(hi) ** -k for k in range(k0, m + 1)]
    q = [1.0] + [c[m + 1 - k0 + k - 1] * float(hi) ** -k for k in range(1, n + 1)]
    return p, q, e


def refit_numerator(f, w, p, q, lo, hi, dtype, samples=6000, iters=300):
    """p[1:] refitted to the rounded q (q and p[0] kept), rounded to `dtype`
    one at a time from the lowest, the remaining ones refitted after each
    (the error of P/Q is linear in P for a fixed Q: Lawson's weighted least
    squares).  Takes most of the error that rounding Q's coefficients adds."""
    a = lo + (hi - lo) * _unit_points(samples)
    fa = np.array([float(f(mp.mpf(float(v)))) for v in a])
    qa = np.polyval([float(v) for v in q[::-1]], a)
    wa = np.array([float(w(mp.mpf(float(v)))) for v in a]) / qa
    done = [float(p[0])]
    for j in range(1, len(p)):
        A = np.vstack([a**i for i in range(j, len(p))]).T
        b = fa * qa - sum(c * a**i for i, c in enumerate(done))
        lw, best = np.ones_like(b), None
        for _ in range(iters):
            W = np.sqrt(lw) * wa
            c, *_ = np.linalg.lstsq(A * W[:, None], b * W, rcond=None)
            err = np.abs(A @ c - b) * wa
            if best is None or err.max() < best[0]:
                best = (err.max(), c)
            lw = lw * err + 1e-300
            lw /= lw.sum()
        done.append(float(dtype(best[1][0])))
    return done


def rational_monic(f, w, m, n, lo, hi, c0, samples=6000, iters=200):
    """(p, q, err): P(a)/Q(a) of degrees m, n with P(0) = Q(0) = c0 and Q
    monic (q[n] = 1: Horner's first step an add), near-minimax in w |P/Q - f|
    on [lo, hi] (f(0) = 1), as `rational` with the two constraints taken out
    of the unknowns."""
    a = lo + (hi - lo) * _unit_points(samples)
    u = a / hi
    fa = np.array([float(f(mp.mpf(float(v)))) for v in a])
    wa = np.array([float(w(mp.mpf(float(v)))) for v in a])
    Ap = np.vstack([u**k for k in range(1, m + 1)]).T
    Aq = np.vstack([u**k for k in range(1, n)]).T
    top = a**n
    e, c = _loeb_lawson(
        np.hstack([Ap, -fa[:, None] * Aq]),
        fa * (c0 + top) - c0,  # P - f Q = 0 with the known parts moved right
        fa,
        wa,
        lambda c: (c0 + Ap @ c[:m], c0 + Aq @ c[m:] + top),
        c0 + top,
        iters,
    )
    p = [c0] + [c[k - 1] * float(hi) ** -k for k in range(1, m + 1)]
    q = [c0] + [c[m + k - 1] * float(hi) ** -k for k in range(1, n)] + [1.0]
    return p, q, e


TANHK_X = 9.2  # float32 tanh rounds to 1 from 9.011 on
TANHK_FIT_X = 9.5  # tanh's P/Q: fitted past the clamp (fit_tanh)
TANHK_C0 = 1776.0  # tanh's P(0) = Q(0) (fit_tanh)


def fit_tanh():
    # (float64 tanh is expm1's: fastact/core/vmath/hyperbolic.py)
    # float32: tanh(a) = a Q / (a Q + P) on [0, TANHK_X], P/Q (degrees 5/6)
    # fitting k(a) = a coth(a) - a = 2a / expm1(2a), so tanh = a / (a + k) and
    # 1 - tanh = k / (a + k).  An error d in k moves tanh by d a / (a + k)^2,
    # a relative error of d / (a + k): the weight, in units of 2^-24.  Next to
    # 1 the roundings of P and Q shrink with 1 - tanh instead of passing on in
    # full as in x P(x^2) / Q(x^2).  Q monic, so that its Horner starts with
    # an add (off the FMA pipes that bound the loop), and P(0) = Q(0) =
    # TANHK_C0 (k(0) = 1): next to 0, P, Q and a Q + P all start at TANHK_C0,
    # whose mantissa (1.73) makes their roundings a small relative error.
    # Unconstrained, the monic fit's own P(0) is 2115 (0.75 units of fit
    # error, but 4.5 ulp after rounding: a mantissa of 1.03); with P(0) fixed
    # the fit error rises (1.16 units at 1776), and the exhaustive sweep
    # (tools/sweep_f32.py tanh, every float32) picks among the constants:
    # 1696 3.89, 1712 3.82, 1728 3.79, 1744 3.77, 1760 3.71, 1768 3.72, 1776
    # 3.65, 1784 3.71, 1792 4.10, 1800 4.05 ulp.  Degrees 5/6
    # are the fewest FMAs for the accuracy: 4/6 and 5/5 have 3.7 and 4.8
    # units of fit error, 4/7 0.68 at the same count; Q even in a (a Q(a^2)
    # + P(a), Q of degree 3 in a^2: 535 units with P of degree 5) fits
    # badly.  Fitted on [0, TANHK_FIT_X], past the clamp, so that P > 0 up
    # to it (|tanh| <= 1 after rounding).
    k = lambda a: 2 * a / mp.expm1(2 * a) if a else mp.mpf(1)
    w = lambda a: 2**24 / (a + k(a))
    p, q, e = rational_monic(k, w, 5, 6, 0, TANHK_FIT_X, TANHK_C0)
    q = [float(np.float32(v)) for v in q]
    p = refit_numerator(k, w, [float(np.float32(v)) for v in p], q, 0, TANHK_FIT_X, np.float32)
    er = _rounded_error(k, w, p, q)
    print(f"# tanhk: error {e:.3g} ulp (relative), {er:.3g} with the rounded coefficients")
    _print_pair("TANHK", ("P", [float(np.float32(v)) for v in p]), ("Q", q))
    fit_tanhshrink(k)
    # float32 tanhshrink' (tanh^2, core.math.dtanhshrink): x - tanh(x) = x^3
    # P(x^2) for |x| <= 1, relative error (core.math.tanhshrink_poly; float64
    # keeps core.coefficients' degree 16)
    f = lambda t: (mp.sqrt(nz(t)) - mp.tanh(mp.sqrt(nz(t)))) / mp.sqrt(nz(t)) ** 3
    fit("tanhsr", f, lambda t: 1 / f(t), 8, 0, mp.mpf("1.001"), np.float32)


def fit_tanhshrink(k):
    # float32 tanhshrink (vmath.hyperbolic.tanhshrink_f32): x - tanh(x) =
    # x u / (u + D), u = a^2 N(a), N/D (degrees 5/5) fitting m(a) = (a coth(a)
    # - 1) / a^2 on [0, TANHK_X].  An error in N/D reaches the result shrunk
    # by 1 - tanh(a) / a = 1 / (a + k): weight 1 / (m (a + k)), relative, in
    # units of 2^-24.  N(0) = 1 and D(0) = 3 exactly (the kernel adds them
    # last, so that next to 0 the roundings are those of u and 3 + ...); D
    # rounded, N refitted to it.
    m = lambda a: (a * mp.coth(a) - 1) / a**2 if a > mp.mpf("1e-6") else 1 / mp.mpf(3) - a**2 / 45
    w = lambda a: 2**24 / (m(a) * (a + k(a)))
    p, q, e = rational(m, w, 5, 5, 0, TANHK_X, samples=4000)
    s = 3 / q[0]
    p = [1.0] + [v * s for v in p[1:]]
    q = [float(np.float32(v * s)) for v in q]
    p = [float(np.float32(v)) for v in refit_numerator(m, w, p, q, 0, TANHK_X, np.float32)]
    er = _rounded_error(m, w, p, q)
    print(f"# tanhshr: error {e:.3g} (x 2^-24, relative to tanhshrink), {er:.3g} rounded")
    _print_pair("TANHSHR", ("N", p), ("D", q))


def _rounded_error(f, w, p, q):
    """The weighted error of P/Q (coefficients as given) against f on 4001
    points of [0, TANHK_X]."""
    a = np.linspace(0, TANHK_X, 4001)
    fa = np.array([float(f(mp.mpf(float(v)))) for v in a])
    wa = np.array([float(w(mp.mpf(float(v)))) for v in a])
    return np.max(np.abs(np.polyval(p[::-1], a) / np.polyval(q[::-1], a) - fa) * wa)


def _print_pair(name, *pairs):
    """Print {name}_{tag}_F tuples for (tag, coefficients) pairs."""
    for tag, c in pairs:
        print(f"{name}_{tag}_F = (")
        for v in c:
            print(f"    {v!r},")
        print(")", flush=True)


ERF_T = mp.mpf("0.75") * mp.mpf("1.001")


def fit_erf():
    # erf(x) = x P(x^2) for |x| <= 0.75, relative error.
    f = lambda t: mp.erf(mp.sqrt(nz(t))) / mp.sqrt(nz(t))
    w = lambda t: mp.sqrt(nz(t)) / mp.erf(mp.sqrt(nz(t)))
    # The kernel holds c0 = 2/sqrt(pi) as hi + lo (float32 rounds it by 0.44
    # ulp, all of which would show at small x), so c0 stays exact here.
    for dt, n in ((np.float32, 7), (np.float64, 13)):
        fit("erfp", f, w, n, 0, ERF_T**2, dt, fixed=(2 / mp.sqrt(mp.pi),))


def fit_erfc(lo=0.46, K=2, plan=((np.float32, 10.1, 11), (np.float64, 27.3, 24))):
    # erfc(x) = exp(-x^2) / (1 + 2x) * S(t), t = (x - K)/(x + K), with
    # S = (1 + 2x) erfcx(x) in Shepherd and Laframboise's variable t.  S is
    # flat (|S'/S| < 0.3 on the interval), so the rounding of t costs little;
    # an earlier form erfcx(x) (x + K)/2K made the rounding of t cost ~2 ulp.
    # K = 2 was picked from K in {2, 3, 4} for convergence and flatness.
    # In u = t - t0, t0 = t(lo) rounded to dtype, the interval is [0, L]; the
    # kernel computes u = fma(x - K, 1/(x + K), -t0).  c0 = S(t0) is held as
    # hi + lo by the kernel: rounding it would leave an error at u = 0 that no
    # higher term can absorb, and the upward refits break down when that
    # error exceeds the minimax error.
    K = mp.mpf(K)

    def S(t):
        x = K * (1 + t) / (1 - t)
        return mp.erfc(x) * mp.exp(x * x) * (1 + 2 * x)

    w = lambda t: 1 / S(t)
    for dt, hi, n in plan:
        t0 = mp.mpf(float(dt(float((mp.mpf(lo) - K) / (mp.mpf(lo) + K)))))
        t1 = (mp.mpf(hi) - K) / (mp.mpf(hi) + K)
        c0 = S(t0)
        fit(
            "erfcf",
            lambda u, t0=t0: S(u + t0),
            lambda u, t0=t0: w(u + t0),
            n,
            0,
            t1 - t0,
            dt,
            grid=1500,
            fixed=(c0,),
        )
        print(f"# t0 = {float(t0)!r}")
        print(f"# c0 = {mp.nstr(c0, 40)}")
        print(f"# K = {int(K)}, x in [{lo}, {hi}]", flush=True)


def recenter(c0: str, c, t0: float, t1: float, dtype=np.float64):
    """The erfc tail fit S = c0 + u (c[0] + c[1] u + ...), u = t - t0 on
    [0, t1 - t0], re-expanded exactly (rationals) around the interval's
    middle tm: (tm, d0 as a 40-digit string, [d1, d2, ...] rounded to dtype)
    for v = t - tm.  On float64's [0, 1.5] Horner's rule meets terms up to
    1.5^23 |c23| that cancel, which cost erfc 2.76 ulp near x = 26.5; on
    [-0.75, 0.75] they shrink instead."""
    from fractions import Fraction
    from math import comb

    tm = float(dtype((t0 + t1) / 2))
    shift = Fraction(tm) - Fraction(float(dtype(t0)))
    full = [Fraction(c0)] + [Fraction(float(dtype(v))) for v in c]
    d = [
        sum(full[j] * comb(j, k) * shift ** (j - k) for j in range(k, len(full)))
        for k in range(len(full))
    ]
    d0 = mp.nstr(mp.mpf(d[0].numerator) / d[0].denominator, 40)
    return tm, d0, [float(dtype(float(v))) for v in d[1:]]


def center_erfc():
    # float64's tail fit (fit_erfc, as stored in fastact/core/vmath/fits.py)
    # re-expanded around its middle; float32's interval is shorter and its
    # exhaustive sweep within target, so it keeps the fit as it is
    sys.path.insert(0, __file__.rsplit("/tools/", 1)[0])
    import fastact.core.vmath as vm

    tm, d0, d = recenter(vm.ERFC_C0_D, vm.ERFCF_D, vm.ERFC_T0_D, 25.3 / 29.3)
    print(f"ERFC_TC_D = {tm!r}")
    print(f'ERFC_C0C_D = "{d0}"')
    print("ERFCF_DC = (")
    for v in d:
        print(f"    {v!r},")
    print(")")


FITS = {
    "exp": fit_exp,
    "exp5": fit_exp5,
    "log": fit_log,
    "tanh": fit_tanh,
    "erf": fit_erf,
    "erfc": fit_erfc,
    "erfc_center": center_erfc,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or FITS:
        FITS[name]()
