"""The ``fastact`` command: ``fastact bench`` times every elementwise kernel
against NumPy and torch on this machine and prints a table."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from ._registry import REGISTRY

# The idiomatic NumPy formula for each kernel (what a user would write by hand).
NUMPY = {
    "identity": lambda x: x.copy(),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "celu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0, x),
    "logsigmoid": lambda x: -np.logaddexp(0, -x),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "hardtanh": lambda x: np.clip(x, -1, 1),
    "relu6": lambda x: np.clip(x, 0, 6),
    "hardsigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hardswish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "tanhshrink": lambda x: x - np.tanh(x),
    "softshrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
    "hardshrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
}
# kernels benchmarked (public forward calls with default parameters)
FUNCTIONS = [e.name for e in REGISTRY.values() if e.public and e.name not in ("threshold",)]
SIZES = {"1K": 1 << 10, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}


def _median_time(fn, min_time: float = 0.02, rounds: int = 7) -> float:
    fn()                                           # warm-up (and first-call compile)
    n, t = 1, 0.0
    while True:                                    # calls per round so a round is >= min_time
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time or n >= 1 << 20:
            break
        n *= 2
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - t0) / n)
    return statistics.median(times)


def _torch_call(name: str, torch_mod):
    e = REGISTRY[name]
    if e.torch is None:
        return None
    params = [p.default for p in e.params]
    F = torch_mod.nn.functional
    return lambda t: e.torch(F, t, *params)


def bench(functions, sizes, dtype, threads: int) -> list[dict]:
    import fastact
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    rows = []
    for sname in sizes:
        x = (rng.standard_normal(SIZES[sname]) * 3).astype(dtype)
        out = np.empty_like(x)
        copy = _median_time(lambda: np.copyto(out, x))
        for name in functions:
            f = getattr(fastact, name)
            kw = {p.name: p.default for p in REGISTRY[name].params}
            row = {"function": name, "size": sname, "dtype": np.dtype(dtype).name,
                   "fastact": _median_time(lambda: f(x, **kw, out=out)), "copy": copy}
            if name in NUMPY:
                row["numpy"] = _median_time(lambda: NUMPY[name](x))
            if torch is not None and (tf := _torch_call(name, torch)) is not None:
                t = torch.from_numpy(x)
                row["torch"] = _median_time(lambda: tf(t))
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def _format_row(r: dict) -> str:
    us = lambda k: f"{r[k] * 1e6:10.1f}" if k in r else f"{'-':>10}"  # noqa: E731
    ratio = lambda k: f"{r[k] / r['fastact']:7.2f}x" if k in r else f"{'-':>8}"  # noqa: E731
    nbytes = 2 * SIZES[r["size"]] * np.dtype(r["dtype"]).itemsize
    gbs = nbytes / r["fastact"] / 1e9
    return (f"{r['function']:<12} {r['size']:>4} {us('fastact')} {us('numpy')} {us('torch')} "
            f"{ratio('numpy')} {ratio('torch')} {gbs:7.2f}")


HEADER = (f"{'function':<12} {'size':>4} {'fastact us':>10} {'numpy us':>10} {'torch us':>10} "
          f"{'vs numpy':>8} {'vs torch':>8} {'GB/s':>7}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fastact", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time the kernels against NumPy and torch")
    b.add_argument("--functions", default=",".join(FUNCTIONS),
                   help="comma-separated kernel names (default: all elementwise)")
    b.add_argument("--sizes", default="1K,64K,1M", help=f"comma-separated, from {list(SIZES)}")
    b.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    b.add_argument("--threads", type=int, default=1,
                   help="torch threads (fastact's elementwise kernels run on one thread for now)")
    args = ap.parse_args(argv)
    funcs = [f for f in args.functions.split(",") if f]
    bad = [f for f in funcs if f not in FUNCTIONS]
    sizes = [s for s in args.sizes.split(",") if s]
    bad += [s for s in sizes if s not in SIZES]
    if bad:
        print(f"fastact bench: unknown function or size: {', '.join(bad)}", file=sys.stderr)
        return 2
    print(f"fastact bench: {args.dtype}, median of 7 rounds, ratios = baseline time / fastact time "
          f"(>1: fastact faster); GB/s = bytes read+written / fastact time; {os.cpu_count()} CPUs")
    print(HEADER)
    bench(funcs, sizes, np.dtype(args.dtype).type, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
