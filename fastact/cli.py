"""The ``fastact`` command: ``fastact bench`` times every kernel against NumPy
and torch on this machine and prints a table (baselines: fastact._baselines)."""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

from ._baselines import CASES, torch_forward_call

ROW = 1024          # axis functions run over rows of this length
SIZES = {"1K": 1 << 10, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}
_BY_ID = {c.id: c for c in CASES}
FUNCTIONS = list(_BY_ID)


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


def bench(functions, sizes, dtype, threads: int, echo=print) -> list[dict]:
    """Time each function at each size; every library gets `threads` threads."""
    import fastact
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    old = fastact.get_num_threads()
    fastact.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = []
    try:
        for sname in sizes:
            x = (rng.standard_normal(SIZES[sname]) * 3).astype(dtype)
            out = np.empty_like(x)
            copy = _median_time(lambda: np.copyto(out, x))
            for name in functions:
                row = _bench_one(fastact, torch, name, sname, x, out, copy)
                rows.append(row)
                echo(_format_row(row))
    finally:
        fastact.set_num_threads(old)
    return rows


def _bench_one(fastact, torch, name: str, sname: str, x, out, copy: float) -> dict:
    case = _BY_ID[name]
    f = getattr(fastact, case.name)
    if case.axis:
        x = x.reshape(-1, ROW)
        out = np.empty_like(f(x, **case.kwargs))     # glu and maxout shorten the axis
    row = {"function": name, "size": sname, "dtype": x.dtype.name,
           "fastact": _median_time(lambda: f(x, **case.kwargs, out=out)), "copy": copy}
    if case.numpy_forward is not None:
        row["numpy"] = _median_time(lambda: case.numpy_forward(x))
    if torch is not None and case.torch_forward is not None:
        row["torch"] = _median_time(torch_forward_call(case, torch, torch.from_numpy(x)))
    return row


def _cells(r: dict) -> list[str]:
    us = lambda k: f"{r[k] * 1e6:.1f}" if k in r else "-"  # noqa: E731
    ratio = lambda k: f"{r[k] / r['fastact']:.2f}x" if k in r else "-"  # noqa: E731
    nbytes = 2 * SIZES[r["size"]] * np.dtype(r["dtype"]).itemsize
    return [r["function"], r["size"], us("fastact"), us("numpy"), us("torch"),
            ratio("numpy"), ratio("torch"), f"{nbytes / r['fastact'] / 1e9:.2f}",
            f"{nbytes / r['copy'] / 1e9:.2f}"]


COLUMNS = ["function", "size", "fastact us", "numpy us", "torch us", "vs numpy", "vs torch",
           "GB/s", "copy GB/s"]
_WIDTHS = [12, 4, 10, 10, 10, 8, 8, 7, 9]


def _format_row(r: dict) -> str:
    return " ".join(c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(_cells(r), _WIDTHS)))


HEADER = " ".join(c.ljust(w) if i == 0 else c.rjust(w)
                  for i, (c, w) in enumerate(zip(COLUMNS, _WIDTHS)))
BENCH_TAG = "fastact bench table"


def markdown(rows: list[dict], caption: str) -> str:
    """The rows as a markdown table under a one-line caption."""
    lines = [caption, "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|"]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_between_markers(path: str, text: str, tag: str = BENCH_TAG) -> None:
    """Replace the block between ``<!-- tag: begin -->`` and ``<!-- tag: end -->``
    in `path` with `text` (generated tables in the README)."""
    begin, end = f"<!-- {tag}: begin -->", f"<!-- {tag}: end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    try:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise SystemExit(f"{path} has no '{begin}' ... '{end}' block") from None
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    from . import get_num_threads

    ap = argparse.ArgumentParser(prog="fastact", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time the kernels against NumPy and torch")
    b.add_argument("--functions", default=",".join(FUNCTIONS),
                   help="comma-separated kernel names (default: all)")
    b.add_argument("--sizes", default="1K,64K,1M", help=f"comma-separated, from {list(SIZES)}")
    b.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    b.add_argument("--threads", type=int, default=get_num_threads(),
                   help="threads for fastact and torch alike (default: fastact's default)")
    b.add_argument("--markdown", metavar="FILE",
                   help="also write the table into FILE between the bench-table markers")
    args = ap.parse_args(argv)
    funcs = [f for f in args.functions.split(",") if f]
    bad = [f for f in funcs if f not in FUNCTIONS]
    sizes = [s for s in args.sizes.split(",") if s]
    bad += [s for s in sizes if s not in SIZES]
    if bad:
        print(f"fastact bench: unknown function or size: {', '.join(bad)}", file=sys.stderr)
        return 2
    if args.threads < 1:
        print(f"fastact bench: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        return 2
    caption = (f"{args.dtype}, {args.threads} thread(s) for every library, median of 7 rounds; "
               "ratio = baseline time / fastact time (>1: fastact faster); GB/s = bytes read + "
               f"written / time; axis functions over rows of {ROW}; {platform.machine()}, "
               f"{os.cpu_count()} CPUs, numpy {np.__version__}{_torch_version()}")
    print("fastact bench:", caption)
    print(HEADER)
    rows = bench(funcs, sizes, np.dtype(args.dtype).type, args.threads,
                 echo=lambda line: print(line, flush=True))
    if args.markdown:
        write_between_markers(args.markdown, markdown(rows, caption))
    return 0


def _torch_version() -> str:
    try:
        import torch
    except ImportError:
        return ", torch not installed"
    return f", torch {torch.__version__}"


if __name__ == "__main__":
    sys.exit(main())
