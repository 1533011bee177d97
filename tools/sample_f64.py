"""Check fastact.core.vmath's float64 functions against mpmath on a large sample.

    python tools/sample_f64.py                 # all functions, 100K points each
    python tools/sample_f64.py erfc -n 400000  # one function, more points
    python tools/sample_f64.py --write         # also write docs/accuracy-core-f64.md

float64 has too many inputs to sweep, so each function is sampled: uniformly
over its domain, log-uniformly in magnitude (small arguments and the tails),
and densely over the stretches where its algorithm switches or its result
nears the subnormals (EDGES).  The reference is mpmath at 120 bits.  Per
function it reports the largest error in ulps of the reference where that is
a normal number (and the input), the 99.99th percentile, and the largest
error where the reference is subnormal, in units of 2**-1074.  tqdm shows
progress; the work is split over the CPUs this process may use.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import mpmath as mp
import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _report import write_report  # noqa: E402

import fastact.core.vmath as vm  # noqa: E402

TINY = np.finfo(np.float64).tiny
REFS = {
    "exp": mp.exp,
    "expm1": mp.expm1,
    "log": mp.log,
    "log1p": mp.log1p,
    "tanh": mp.tanh,
    "erf": mp.erf,
    "erfc": mp.erfc,
}
# (uniform domain, log-uniform magnitude range (log e), sign of those, dense stretches)
PLAN = {
    "exp": ((-745.2, 709.7), (-40, 6.56), 0, [(-745.2, -700), (700, 709.7), (-0.4, 0.4)]),
    "expm1": ((-40, 709.7), (-40, 6.56), 0, [(-0.4, 0.4), (0.3, 0.4), (700, 709.7)]),
    "log": ((0.0, 4), (-744, 709), 1, [(0.69, 0.72), (1.40, 1.43), (0.95, 1.05)]),
    "log1p": ((-0.999, 4), (-744, 709), 1, [(-0.3, 0.42), (0.40, 0.43), (-0.31, -0.28)]),
    "tanh": ((-25, 25), (-40, 3.2), 0, [(0.5, 0.6), (-0.6, -0.5), (18, 20)]),
    "erf": ((-6, 6), (-40, 1.8), 0, [(0.7, 0.8), (0.44, 0.48), (3.5, 6)]),
    "erfc": ((-6, 27.3), (-40, 3.31), 0, [(0.44, 0.5), (20, 27.3), (26.4, 26.6), (-0.5, 0.5)]),
}


def sample(name: str, n: int, seed: int = 0) -> np.ndarray:
    (lo, hi), (elo, ehi), sign, dense = PLAN[name]
    rng = np.random.default_rng(seed)
    k = n // 4
    mag = np.exp(rng.uniform(elo, ehi, k))
    if sign == 0:
        mag *= rng.choice([-1.0, 1.0], k)
    parts = [rng.uniform(lo, hi, k), mag]
    for a, b in dense:
        parts.append(rng.uniform(a, b, (n - 2 * k) // len(dense)))
    x = np.concatenate(parts)
    return x[x > lo] if name in ("log", "log1p") else x  # log's domain: x > 0, x > -1


def _errors(args):
    name, x, y = args
    mp.mp.prec = 120
    ulp, sub = np.zeros(len(x)), np.zeros(len(x))
    for i, (xi, yi) in enumerate(zip(x, y)):
        r = REFS[name](mp.mpf(float(xi)))
        if not mp.isfinite(r) or r == 0:
            continue
        d = abs(mp.mpf(float(yi)) - r)
        if abs(r) >= TINY:
            ulp[i] = float(d / math.ulp(float(abs(r))))
        else:
            sub[i] = float(d / mp.mpf(2) ** -1074)
    return ulp, sub


def run(name: str, n: int, workers: int) -> dict:
    x = sample(name, n)
    y = getattr(vm, name)(x)  # the pure-Python path: the compiled loop's bits
    chunks = np.array_split(np.arange(len(x)), max(1, 8 * workers))
    ulp, sub = np.zeros(len(x)), np.zeros(len(x))
    with ProcessPoolExecutor(workers) as ex:
        jobs = [(name, x[c], y[c]) for c in chunks]
        for c, (u, s) in zip(
            chunks, tqdm(ex.map(_errors, jobs), total=len(jobs), desc=name, leave=False)
        ):
            ulp[c], sub[c] = u, s
    i, j = int(ulp.argmax()), int(sub.argmax())
    return {
        "name": name,
        "n": len(x),
        "max": ulp[i],
        "x": x[i],
        "p9999": float(np.quantile(ulp, 0.9999)),
        "max_sub": sub[j],
        "x_sub": x[j] if sub[j] > 0 else None,
    }


def table(results) -> str:
    lines = [
        "| function | max ulp (normal results) | at x | 99.99th percentile | "
        "max err, subnormal results (units of 2^-1074) | at x | points |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        xs = "-" if r["x_sub"] is None else repr(float(r["x_sub"]))
        lines.append(
            f"| {r['name']} | {r['max']:.3f} | {float(r['x'])!r} | {r['p9999']:.3f} | "
            f"{r['max_sub']:.3f} | {xs} | {r['n']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("funcs", nargs="*", default=list(PLAN))
    ap.add_argument("-n", type=int, default=100_000, help="points per function")
    ap.add_argument(
        "--write", action="store_true", help="write the results to docs/accuracy-core-f64.md"
    )
    a = ap.parse_args(argv)
    workers = len(os.sched_getaffinity(0))
    results = []
    for name in a.funcs:
        r = run(name, a.n, workers)
        results.append(r)
        print(
            f"{name:6s} max {r['max']:.3f} ulp at {float(r['x'])!r}; p99.99 {r['p9999']:.3f}; "
            f"subnormal max {r['max_sub']:.3f} ({r['n']} points)",
            flush=True,
        )
    tab = table(results)
    print(tab)
    if a.write:
        write_report(
            "accuracy-core-f64.md",
            "Accuracy of fastact.core.vmath, float64, sampled",
            "sample_f64.py",
            argv,
            f"mpmath {mp.__version__} at 120 bits, NumPy {np.__version__}",
            f"""Each function is sampled uniformly over its domain, log-uniformly in
magnitude, and densely where its algorithm switches or its result nears the
subnormals (`PLAN` in the script).  "ulp" is the spacing of float64 numbers
at the reference; results whose reference is subnormal are measured in units
of the smallest subnormal.  The float32 functions are checked on every input
instead: `docs/accuracy-core.md`.

{tab}""",
        )


if __name__ == "__main__":
    main()
