"""Accuracy harness: the registry's cases, sample points and ULP error vs mpmath.

Used by the tests, and runnable to print the ULP table for the docs:

    python tests/accuracy.py [N]      # N points per case and dtype (default 4000)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import fastact
from fastact.core.registry import REGISTRY, Elementwise

# registry kernels reached through another public name
_EXPOSED = {"gelu_tanh": ("gelu", {"approximate": "tanh"})}
_INTERNAL = {"prelu_weight_grad", "noisy_relu_train"}


@dataclass(frozen=True)
class Case:
    """One public call: a registry entry with one parameter set."""

    entry: Elementwise
    public: str
    kwargs: dict  # keyword arguments of the public call
    params: tuple  # the entry's parameter values, in order

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.public}({extra})" if extra else self.public

    def forward(self, x, **kw):
        return getattr(fastact, self.public)(x, **self.kwargs, **kw)

    def backward(self, g, x, **kw):
        r = getattr(fastact, self.public + "_backward")(g, x, **self.kwargs, **kw)
        return r[0] if self.public == "prelu" else r  # prelu also returns grad_weight

    def loop_params(self, dtype) -> tuple:
        """The parameter values a `dtype` loop computes with: the ufunc loops
        round parameters to the loop type (as torch rounds a scalar to the
        tensor's type), so a float32 kernel computes f(x; float32(beta)), and
        that is the function its ULP error is measured against (beta * x
        feeds exp, where beta's rounding alone would be |beta x| ULP)."""
        return tuple(float(dtype(p)) for p in self.params)

    def reference(self, mp, x, dtype=np.float64):
        return self.entry.reference(mp, x, *self.loop_params(dtype))

    def dreference(self, mp, x, dtype=np.float64):
        return self.entry.dreference(mp, x, *self.loop_params(dtype))


def _cases() -> list[Case]:
    out = []
    for e in REGISTRY.values():
        if e.name in _INTERNAL:
            continue
        public, fixed = _EXPOSED.get(e.name, (e.name, {}))
        defaults = {p.name: p.default for p in e.params}
        sets = [defaults] if None not in defaults.values() else []
        sets += [{**defaults, **tp} for tp in e.test_params]
        for ps in sets:
            out.append(Case(e, public, {**fixed, **ps}, tuple(ps[p.name] for p in e.params)))
    return out


CASES = _cases()
FLOATS = (np.float32, np.float64)


def sample(dtype, n: int, seed: int = 1234) -> np.ndarray:
    """Finite test points: the bulk, the whole exponent range, small values,
    the overflow edges of exp, and every registry parameter's neighbourhood."""
    rng = np.random.default_rng(seed)
    fi = np.finfo(dtype)
    k = max(n // 8, 1)
    sign = lambda m: rng.choice([-1.0, 1.0], m)  # noqa: E731
    edge = 750.0 if dtype == np.float64 else 105.0
    # exp(-under) is the smallest normal number: near x = -under, exp(x) is
    # subnormal while x * exp(x) is not; near sqrt(2 under) the same happens
    # to the Gaussian tail exp(-x^2/2)
    under = -math.log(float(fi.smallest_normal))
    # magnitudes spread over binades by ldexp (exact), not 10 ** uniform:
    # NumPy's power and log round differently on different CPUs (SIMD paths),
    # and the points would depend on the machine
    binades = lambda m, e0, e1: np.ldexp(rng.uniform(1.0, 2.0, m), rng.integers(e0, e1, m))  # noqa: E731
    pts = [
        rng.standard_normal(2 * k) * 3,
        rng.uniform(-12, 12, 2 * k),
        sign(k) * binades(k, fi.minexp, fi.maxexp),  # the whole normal range
        sign(k) * binades(k, -30, 4),  # 1e-9 to 10
        sign(k) * rng.uniform(edge * 0.6, edge * 1.05, k),
        rng.uniform(-4.0, 0.0, k),  # where derivatives have roots
        sign(k // 2) * under * rng.uniform(0.97, 1.03, k // 2),
        sign(k // 2) * np.sqrt(2 * under) * rng.uniform(0.97, 1.03, k // 2),
        np.array([0.5, 1.0, 1.5, 3.0, 6.0, -0.5, -1.0, -1.5, -3.0, -6.0]),
    ]
    x = np.concatenate(pts)
    x = x[np.abs(x) <= fi.max].astype(dtype)
    near = np.concatenate([np.nextafter(x[-10:], np.inf), np.nextafter(x[-10:], -np.inf)])
    return np.unique(np.concatenate([x, near.astype(dtype)]))


def ulp_errors(case: Case, which: str, dtype, x: np.ndarray, prec: int = 320):
    """(errors in ULP, x) at the points where the true result is a normal number."""
    import mpmath

    mp = mpmath.mp
    if which == "forward":
        y = case.forward(x)
        ref = case.reference
    else:
        y = case.backward(np.ones_like(x), x)
        ref = case.dreference
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    tiny, big = mpmath.mpf(float(fi.smallest_normal)), mpmath.mpf(float(fi.max))
    errs, keep = [], []
    with mpmath.workprec(prec):
        for xi, yi in zip(x.tolist(), y.tolist()):
            r = ref(mp, mpmath.mpf(xi), dtype)
            ar = abs(r)
            if not (tiny <= ar <= big):
                continue
            ulp = mpmath.ldexp(1, mpmath.frexp(ar)[1] - p)
            e = float(abs(mpmath.mpf(yi) - r) / ulp) if np.isfinite(yi) else np.inf
            errs.append(e)
            keep.append(xi)
    return np.array(errs), np.array(keep)


def call(case: Case, which: str, x: np.ndarray, kwargs: dict) -> np.ndarray:
    """The public forward, or backward with grad_output = 1, with `kwargs`."""
    name = case.public + ("_backward" if which == "backward" else "")
    f = getattr(fastact, name)
    if which == "forward":
        return f(x, **kwargs)
    r = f(np.ones_like(x), x, **kwargs)
    return r[0] if case.public == "prelu" else r


def f32_against_f64(case: Case, which: str, x: np.ndarray) -> dict:
    """The float32 loop on float32 `x` against the float64 loop on the same
    points (parameters rounded to float32 on both sides, as the float32 loop
    computes with them).  The float64 loops are checked against mpmath
    (test_ulp_error) to a few float64 ulps, 2**-29 of a float32 ulp, so the
    difference is the float32 loop's error; being vectorized, it covers
    millions of points where mpmath covers thousands.

    Returns the largest error in float32 ulps where the reference rounds to
    a normal number (and its x), the largest in units of 2**-149 where it
    rounds to a subnormal or zero (and its x), and the number of points
    whose reference rounds to +-inf or NaN and the result differs.
    """
    f64 = {k: float(np.float32(v)) if isinstance(v, float) else v for k, v in case.kwargs.items()}
    with np.errstate(all="ignore"):
        r = call(case, which, x.astype(np.float64), f64)
        y = call(case, which, x, case.kwargs)
        rf = r.astype(np.float32)
    fin = np.isfinite(rf)
    special = int(np.sum(~fin & ~((y == rf) | (np.isnan(y) & np.isnan(rf)))))
    norm = fin & (np.abs(rf) >= np.finfo(np.float32).tiny)
    out = dict(max_ulp=0.0, x_ulp=None, max_sub=0.0, x_sub=None, n_special=special)
    e = np.abs(y[norm].astype(np.float64) - r[norm]) / np.spacing(np.abs(rf[norm])).astype(
        np.float64
    )
    if e.size:
        i = int(e.argmax())
        out.update(max_ulp=float(e[i]), x_ulp=float(x[norm][i]))
    sub = fin & ~norm
    es = np.abs(y[sub].astype(np.float64) - r[sub]) / 2.0**-149
    if es.size:
        i = int(es.argmax())
        out.update(max_sub=float(es[i]), x_sub=float(x[sub][i]))
    return out


def bf16_ulps(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Distance in bfloat16 ULPs between bfloat16 arrays (not NaN): the
    difference of their bit patterns read as sign and magnitude, so that the
    largest finite value is one ULP from inf and +0 is -0."""
    a, b = (v.view(np.uint16).astype(np.int64) for v in (y, ref))
    a, b = (np.where(v & 0x8000, -(v & 0x7FFF), v) for v in (a, b))
    return np.abs(a - b)


def bf16_against_f64(case: Case, which: str, x: np.ndarray) -> dict:
    """The public call on bfloat16 `x` (the backward with grad_output = 1)
    against the correctly rounded bfloat16 of the float64 loop's result on
    the same points, with the parameters rounded to float32 as the float32
    loop that bfloat16 computes in uses them (see f32_against_f64).

    Returns the largest error in bfloat16 ULPs where the reference is not NaN
    (and its x), and the number of points where exactly one side is NaN.
    """
    f64 = {k: float(np.float32(v)) if isinstance(v, float) else v for k, v in case.kwargs.items()}
    with np.errstate(all="ignore"):
        ref = call(case, which, x.astype(np.float64), f64).astype(x.dtype)
        y = call(case, which, x, case.kwargs)
    yn, rn = np.isnan(y.astype(np.float32)), np.isnan(ref.astype(np.float32))
    e = bf16_ulps(y[~rn & ~yn], ref[~rn & ~yn])
    out = dict(max_ulp=0, x_ulp=None, n_nan=int(np.sum(yn != rn)))
    if e.size:
        i = int(e.argmax())
        out.update(max_ulp=int(e[i]), x_ulp=float(x[~rn & ~yn][i].astype(np.float32)))
    return out


def float32_patterns(start: int, stop: int, stride: int) -> np.ndarray:
    """The finite float32 numbers with bit patterns start, start + stride, ... < stop."""
    x = np.arange(start, stop, stride, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return x[np.isfinite(x)]


def table(n: int = 4000) -> str:
    rows = [
        "| function | fwd float32 | bwd float32 | fwd float64 | bwd float64 |",
        "|---|---|---|---|---|",
    ]
    for c in CASES:
        cells = []
        for dt in FLOATS:
            x = sample(dt, n)
            for which in ("forward", "backward"):
                e, _ = ulp_errors(c, which, dt, x)
                cells.append(f"{e.max():.2f}" if e.size else "-")
        rows.append(f"| {c.id} | " + " | ".join([cells[0], cells[1], cells[2], cells[3]]) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="max ULP error of every kernel against mpmath")
    ap.add_argument("n", type=int, nargs="?", default=4000, help="sample points per dtype")
    ap.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write the table into FILE between the accuracy-table markers",
    )
    args = ap.parse_args()
    text = table(args.n)
    print(text)
    if args.markdown:
        from fastact.bench.table import write_between_markers

        write_between_markers(
            args.markdown,
            f"Max ULP error over {args.n} sample points per "
            f"dtype (`python tests/accuracy.py {args.n} --markdown README.md`):"
            f"\n\n{text}",
            tag="fastact accuracy table",
        )
