"""Check fastact.core.vmath on every float32 input against a float64 reference.

    python tools/sweep_f32.py                  # all functions, all 2**32 inputs
    python tools/sweep_f32.py exp tanh         # some functions
    python tools/sweep_f32.py --stride 997     # every 997th bit pattern (quick)
    python tools/sweep_f32.py --write          # also write docs/accuracy-core.md

The reference is the float64 libm function (math.* compiled by numba; glibc's
float64 functions are accurate to well under a float64 ulp, far below the
half float32 ulp that matters here).  Per function it reports

  * the largest error in float32 ulps where the rounded reference is a normal
    number, and the input where it occurs,
  * the largest error where the rounded reference is subnormal or zero, in
    units of the smallest subnormal (2**-149),
  * how many results exceed 0.5 / 1 ulp (normal range),
  * special-value mismatches: inputs that are +-0, +-inf or NaN, and results
    whose rounded reference is +-inf or NaN, must match exactly (NaN for NaN,
    and for zeros the sign too).

The work is split into chunks of 2**24 inputs, each chunk into segments run
by numba's prange.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from _report import write_report  # noqa: E402

import fastact.core.vmath as vm  # noqa: E402

FUNCS = ("exp", "expm1", "log", "log1p", "tanh", "erf", "erfc")
CHUNK = 1 << 24
NSEG = 64

_SRC = """
@njit(parallel=True, error_model="numpy")
def sweep(start, count, stride, nseg):
    # stats per segment: max ulp (normal), its input bits, max error in
    # subnormal units, its bits, #special mismatches, first one's bits,
    # #(> 0.5 ulp), #(> 1 ulp), #checked
    fst = np.zeros((nseg, 4))
    ist = np.zeros((nseg, 6), dtype=np.int64)
    per = (count + nseg - 1) // nseg
    for s in prange(nseg):
        lo = s * per
        hi = min(count, lo + per)
        mu = 0.0; mub = -1; ms = 0.0; msb = -1
        nspec = 0; spb = -1; n05 = 0; n1 = 0; n = 0
        for j in range(lo, hi):
            b = np.uint32((start + j * stride) & 0xFFFFFFFF)
            x = vm.int_as_float(np.int32(b))
            y = vm.{name}(x)
            r = math.{name}(np.float64(x))
            r32 = np.float32(r)
            n += 1
            xa = abs(x)
            special = (x != x) or (xa == np.float32(np.inf)) or (x == 0) \\
                or (r32 != r32) or (abs(r32) == np.float32(np.inf))
            if special:
                ok = (y == r32 and (vm.float_as_int(y) < 0) == (vm.float_as_int(r32) < 0)) \\
                    or (y != y and r32 != r32)
                if not ok:
                    if spb < 0:
                        spb = np.int64(b)
                    nspec += 1
                continue
            if y != y or abs(y) == np.float32(np.inf):
                if spb < 0:
                    spb = np.int64(b)
                nspec += 1
                continue
            ar = abs(r32)
            if ar >= np.float32(1.1754943508222875e-38):
                eb = vm.float_as_int(ar) & 0x7F800000
                ulp = np.float64(vm.int_as_float(np.int32(eb))) * 2.0 ** -23
                e = abs(np.float64(y) - r) / ulp
                if e > 0.5:
                    n05 += 1
                if e > 1.0:
                    n1 += 1
                if e > mu:
                    mu = e; mub = np.int64(b)
            else:
                e = abs(np.float64(y) - r) / 2.0 ** -149
                if e > ms:
                    ms = e; msb = np.int64(b)
        fst[s, 0] = mu; fst[s, 1] = ms
        ist[s, 0] = mub; ist[s, 1] = msb; ist[s, 2] = nspec; ist[s, 3] = spb
        ist[s, 4] = n05 * 1 + 0; ist[s, 5] = n1
        fst[s, 2] = n
    return fst, ist
"""


def make_sweep(name):
    ns = {"njit": njit, "prange": prange, "np": np, "math": math, "vm": vm}
    exec(_SRC.replace("{name}", name), ns)
    return ns["sweep"]


def f32(bits):
    return float(np.uint32(bits).view(np.float32)) if bits >= 0 else float("nan")


def run(name, stride, progress=True):
    sweep = make_sweep(name)
    total = (1 << 32) // stride + (1 if (1 << 32) % stride else 0)
    res = dict(
        name=name,
        max_ulp=0.0,
        x_ulp=None,
        max_sub=0.0,
        x_sub=None,
        n_special=0,
        x_special=None,
        n05=0,
        n1=0,
        n=0,
    )
    t0 = time.time()
    done = 0
    while done < total:
        cnt = min(CHUNK, total - done)
        fst, ist = sweep(done * stride, cnt, stride, NSEG)
        for s in range(NSEG):
            if fst[s, 0] > res["max_ulp"]:
                res["max_ulp"], res["x_ulp"] = fst[s, 0], f32(ist[s, 0])
            if fst[s, 1] > res["max_sub"]:
                res["max_sub"], res["x_sub"] = fst[s, 1], f32(ist[s, 1])
            if ist[s, 2] and res["x_special"] is None:
                res["x_special"] = f32(ist[s, 3])
        res["n_special"] += int(ist[:, 2].sum())
        res["n05"] += int(ist[:, 4].sum())
        res["n1"] += int(ist[:, 5].sum())
        res["n"] += int(fst[:, 2].sum())
        done += cnt
        if progress:
            print(
                f"\r{name}: {done / total:6.1%}  max {res['max_ulp']:.3f} ulp",
                end="",
                file=sys.stderr,
                flush=True,
            )
    res["seconds"] = time.time() - t0
    if progress:
        print(file=sys.stderr)
    return res


def fmt_x(x):
    return "-" if x is None else f"{x!r} ({np.float32(x).view(np.uint32):#010x})"


def table(results):
    lines = [
        "| function | max ulp (normal results) | at x | >0.5 ulp | >1 ulp "
        "| max err, subnormal/zero results (units of 2^-149) | at x "
        "| special-value mismatches | inputs checked | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['max_ulp']:.3f} | {fmt_x(r['x_ulp'])} | {r['n05']} | {r['n1']} "
            f"| {r['max_sub']:.3f} | {fmt_x(r['x_sub'])} | {r['n_special']}"
            f"{'' if r['x_special'] is None else ' (first at ' + fmt_x(r['x_special']) + ')'} "
            f"| {r['n']} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("funcs", nargs="*", default=list(FUNCS))
    ap.add_argument(
        "--stride", type=int, default=1, help="check every STRIDE-th bit pattern (default: all)"
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--write", action="store_true", help="write the results to docs/accuracy-core.md"
    )
    a = ap.parse_args(argv)
    if a.threads:
        numba.set_num_threads(a.threads)
    results = []
    for name in a.funcs:
        r = run(name, a.stride)
        results.append(r)
        print(
            f"{name:6s} max {r['max_ulp']:.3f} ulp at {fmt_x(r['x_ulp'])}; "
            f">0.5: {r['n05']}, >1: {r['n1']}; subnormal/zero max {r['max_sub']:.3f} "
            f"at {fmt_x(r['x_sub'])}; special mismatches {r['n_special']}"
            f" ({r['n']} inputs, {r['seconds']:.0f} s)",
            flush=True,
        )
    tab = table(results)
    print(tab)
    if a.write:
        write_report(
            "accuracy-core.md",
            "Accuracy of fastact.core.vmath, float32, every input",
            "sweep_f32.py",
            argv,
            ("all 2**32 bit patterns" if a.stride == 1 else f"every {a.stride}th bit pattern")
            + f";\nnumba {numba.__version__}, NumPy {np.__version__}, "
            f"{numba.get_num_threads()} threads",
            f"""The reference is the float64 libm function of the float32 input.  "ulp" is
the spacing of float32 numbers at the rounded reference; a correctly rounded
result is within 0.5 ulp.  Results whose rounded reference is subnormal or
zero are measured in units of the smallest subnormal instead.  Special-value
mismatches count inputs that are +-0, +-inf or NaN, and results that should be
+-inf or NaN, where the result is not exactly right (zeros with their sign).

{tab}""",
        )


if __name__ == "__main__":
    main()
