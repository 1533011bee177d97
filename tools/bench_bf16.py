"""Time fastact on bfloat16 arrays against torch's bfloat16 CPU kernels.

    python tools/bench_bf16.py                      # 16M elements, 2 threads
    python tools/bench_bf16.py --size 1M --naive    # also the astype round trip
    python tools/bench_bf16.py --accuracy           # max ULP per function instead
    python tools/bench_bf16.py --overhead           # what a bfloat16 loop adds, in cache

Every side writes into a preallocated output (torch through its out=
overloads, fastact through out=), the sides run alternately, round after
round, and each cell is the median over the rounds of the best of a few
calls, so that noise on a shared machine hits every side alike.  The ratio
column is torch's time over fastact's (> 1: fastact is faster).  ``--naive``
adds what a user could write without native bfloat16 loops: the input cast
to float32, fastact's float32 kernel, the result cast back (ml_dtypes'
casts), which is the reference the native loops must match bit for bit.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time

import ml_dtypes
import numpy as np
import torch

import fastact

BF16 = np.dtype(ml_dtypes.bfloat16)
ROW = 1024  # softmax rows


def _aten(name):
    return getattr(torch.ops.aten, name)


# (label, fastact call(ins, out), torch call(tins, tout), inputs: "x" | "gx", axis)
def _cases():
    a = torch.ops.aten

    def fwd(name, tname=None, **kw):
        t = _aten(tname or name).out
        return (
            name,
            lambda i, o: getattr(fastact, name)(i[0], out=o, **kw),
            lambda i, o: t(i[0], out=o),
            "x",
        )

    def bwd(name, tcall):
        return (
            name + "_backward",
            lambda i, o: getattr(fastact, name + "_backward")(i[0], i[1], out=o),
            tcall,
            "gx",
        )

    return [
        fwd("relu", "relu"),
        fwd("sigmoid"),
        fwd("tanh"),
        fwd("silu"),
        ("gelu", lambda i, o: fastact.gelu(i[0], out=o), lambda i, o: a.gelu.out(i[0], out=o), "x"),
        (
            "gelu[tanh]",
            lambda i, o: fastact.gelu(i[0], "tanh", out=o),
            lambda i, o: a.gelu.out(i[0], approximate="tanh", out=o),
            "x",
        ),
        (
            "elu",
            lambda i, o: fastact.elu(i[0], out=o),
            lambda i, o: a.elu.out(i[0], 1.0, 1.0, 1.0, out=o),
            "x",
        ),
        (
            "softplus",
            lambda i, o: fastact.softplus(i[0], out=o),
            lambda i, o: a.softplus.out(i[0], 1.0, 20.0, out=o),
            "x",
        ),
        fwd("mish"),
        bwd("relu", lambda i, o: a.threshold_backward.grad_input(i[0], i[1], 0, grad_input=o)),
        bwd("sigmoid", lambda i, o: a.sigmoid_backward.grad_input(i[0], i[1], grad_input=o)),
        bwd("silu", lambda i, o: a.silu_backward.grad_input(i[0], i[1], grad_input=o)),
        bwd("gelu", lambda i, o: a.gelu_backward.grad_input(i[0], i[1], grad_input=o)),
        (
            "softmax",
            lambda i, o: fastact.softmax(i[0], out=o),
            lambda i, o: a._softmax.out(i[0], -1, False, out=o),
            "x",
        ),
        (
            "log_softmax",
            lambda i, o: fastact.log_softmax(i[0], out=o),
            lambda i, o: a._log_softmax.out(i[0], -1, False, out=o),
            "x",
        ),
    ]


def _naive(fcall):
    """fastact's float32 kernel between ml_dtypes casts (buffers preallocated)."""
    state = {}

    def call(ins, out):
        f32 = [np.asarray(x, np.float32) for x in ins]
        buf = state.setdefault("buf", np.empty(out.shape, np.float32))
        fcall(f32, buf)
        out[...] = buf

    return call


def _best(f, reps):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(size: int, rounds: int, naive: bool, only: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    shape = (size // ROW, ROW)
    x = (rng.standard_normal(shape, np.float32) * 3).astype(BF16)
    g = rng.standard_normal(shape, np.float32).astype(BF16)
    tx, tg = (torch.from_numpy(v.view(np.uint16)).view(torch.bfloat16) for v in (x, g))
    out = np.empty(shape, BF16)
    tout = torch.from_numpy(out.view(np.uint16)).view(torch.bfloat16)
    rows = []
    for label, fcall, tcall, kind in _cases():
        if only and label not in only:
            continue
        ins, tins = ((x,), (tx,)) if kind == "x" else ((g, x), (tg, tx))
        sides = {
            "torch": functools.partial(tcall, tins, tout),
            "fastact": functools.partial(fcall, ins, out),
        }
        if naive:
            sides["naive"] = functools.partial(_naive(fcall), ins, out)
        for k, f in list(sides.items()):  # warm-up: first calls load loops, size pools
            try:
                f()
                f()
            except TypeError:  # a fastact without bfloat16 support
                del sides[k]
        times = {k: [] for k in sides}
        for r in range(rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for k in order:
                times[k].append(_best(sides[k], 3))
        med = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
        med.setdefault("fastact", float("nan"))
        rows.append({"case": label, **med})
    return rows


def accuracy() -> None:
    """The largest error in bfloat16 ULPs of every elementwise forward and
    backward over all 65536 bfloat16 inputs (tests/accuracy.py's
    bf16_against_f64: against the float64 loop's result correctly rounded)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from accuracy import CASES, bf16_against_f64

    x = np.arange(1 << 16, dtype=np.uint16).view(BF16)
    print("bfloat16: max error in ULPs over all 65536 inputs (NaN mismatches)")
    print(f"{'case':<42}{'forward':>10}{'backward':>10}")
    worst = 0
    for case in CASES:
        r = [bf16_against_f64(case, w, x) for w in ("forward", "backward")]
        worst = max(worst, *(v["max_ulp"] for v in r))
        cells = "".join(f"{v['max_ulp']:>7} ({v['n_nan']})" for v in r)
        print(f"{case.id:<42}{cells}")
    print(f"largest: {worst} ULP")


def overhead(n: int = 1 << 15) -> None:
    """What the bfloat16 loop (widen, float32 loop, round) adds to the float32
    loop per element: both ufuncs called directly on data in cache, one
    thread, timed in thread CPU time (what other processes do not inflate)."""
    from fastact.cpu import bf16
    from fastact.cpu.activations import get

    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    xb = x.astype(BF16)
    o, ob = np.empty_like(x), np.empty_like(xb)
    print(f"in cache, one thread, {n} elements, thread CPU time (best of 200 x 10 calls)")
    print(f"{'kernel':<20}{'float32 ns':>12}{'bfloat16 ns':>12}{'added':>8}")
    for name, which in [(k, "forward") for k in ("relu", "sigmoid", "silu", "gelu")] + [
        (k, "backward") for k in ("relu", "silu")
    ]:
        uf = get(name, which)
        na = 1 if which == "forward" else 2
        bu = bf16.ufunc_for(uf, BF16, na)
        best = {}
        for _ in range(200):
            for k, f, args, out in (("f32", uf, [x] * na, o), ("bf16", bu, [xb] * na, ob)):
                t = time.thread_time_ns()
                for _ in range(10):
                    f(*args, out=out)
                best[k] = min(best.get(k, float("inf")), (time.thread_time_ns() - t) / 10 / n)
        a, b = best["f32"], best["bf16"]
        print(f"{name + '_' + which:<20}{a:>12.3f}{b:>12.3f}{b - a:>8.3f}")


def _size(text: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20}
    return int(text[:-1]) * mult[text[-1]] if text[-1] in mult else int(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="16M", help="elements, e.g. 1M or 16M (default 16M)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--naive", action="store_true", help="also time the astype round trip")
    ap.add_argument("--accuracy", action="store_true", help="print max ULP per function")
    ap.add_argument("--overhead", action="store_true", help="print the bfloat16 loops' cost")
    ap.add_argument("cases", nargs="*", help="case labels (default: all)")
    args = ap.parse_args(argv)
    if args.accuracy:
        accuracy()
        return 0
    if args.overhead:
        overhead()
        return 0
    size = _size(args.size)
    torch.set_num_threads(args.threads)
    fastact.set_num_threads(args.threads)
    rows = measure(size, args.rounds, args.naive, args.cases)
    cols = ["torch", "fastact"] + (["naive"] if args.naive else [])
    print(
        f"bfloat16, {size} elements ({size // ROW} rows of {ROW}), {args.threads} threads, "
        f"median of {args.rounds} alternating rounds (best of 3 calls each); ms"
    )
    head = f"{'case':<18}" + "".join(f"{c:>10}" for c in cols) + f"{'torch/fa':>10}"
    if args.naive:
        head += f"{'naive/fa':>10}"
    print(head)
    for r in rows:
        line = f"{r['case']:<18}" + "".join(f"{r[c] * 1e3:>10.2f}" for c in cols)
        line += f"{r['torch'] / r['fastact']:>10.2f}"
        if args.naive:
            line += f"{r['naive'] / r['fastact']:>10.2f}"
        print(line)
    ratios = [r["torch"] / r["fastact"] for r in rows]
    print(f"geometric mean torch/fastact: {statistics.geometric_mean(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
