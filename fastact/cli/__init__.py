"""The ``fastact`` command: ``fastact bench`` times every kernel against NumPy
and torch on this machine and prints a table (baselines: fastact.bench.cases)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from fastact.bench.cases import (
    CASES,
    placed,
    placed_empty,
    placed_like,
    torch_backward_call,
    torch_forward_call,
)

ROW = 1024  # axis functions run over rows of this length
SIZES = {"1K": 1 << 10, "64K": 1 << 16, "1M": 1 << 20, "16M": 1 << 24}
_BY_ID = {c.id: c for c in CASES}
FUNCTIONS = list(_BY_ID)


def _no_sync() -> None:
    pass


def _calls_per_round(fn, min_time: float, sync=_no_sync) -> int:
    """Calls that make a round last at least `min_time` (after a warm-up call,
    which also pays any first-call compile)."""
    fn()
    sync()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        if time.perf_counter() - t0 >= min_time or n >= 1 << 20:
            return n
        n *= 2


def interleaved(
    fns: dict, min_time: float = 0.02, rounds: int = 7, sync=_no_sync
) -> dict[str, list[float]]:
    """Seconds per call of each function, round by round, the functions taking
    turns within every round: a slow spell of a shared machine then hits all
    of them in the same round, and per-round ratios cancel it.  `sync` ends
    every batch of calls (GPU work is asynchronous: torch.cuda.synchronize)."""
    calls = {k: _calls_per_round(f, min_time, sync) for k, f in fns.items()}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            n = calls[k]
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            sync()
            times[k].append((time.perf_counter() - t0) / n)
    return times


def bench(
    functions,
    sizes,
    dtype,
    threads: int,
    echo=print,
    min_time: float = 0.02,
    sink: list | None = None,
    backward: bool = False,
) -> list[dict]:
    """Time each function at each size; every library gets `threads` threads.
    Rows are also appended to `sink` as they come (for a progress count)."""
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
            x = placed_like((rng.standard_normal(SIZES[sname]) * 3).astype(dtype), 0)
            for name in functions:
                todo = [False] + ([True] if backward and _BY_ID[name].saved else [])
                for bwd in todo:
                    row = _bench_one(fastact, torch, name, sname, x, min_time, bwd)
                    echo(_format_row(row))
                    rows.append(row)
                    if sink is not None:
                        sink.append(row)
    finally:
        fastact.set_num_threads(old)
    return rows


def _bench_one(
    fastact, torch, name: str, sname: str, x, min_time: float = 0.02, backward: bool = False
) -> dict:
    """One row: the case's forward, or (`backward`) its backward, against the
    baselines and a copy of the same array, in interleaved rounds."""
    case = _BY_ID[name]
    f = getattr(fastact, case.name)
    if case.axis:
        x = x.reshape(-1, ROW)
    # every array at its own offset into a page, the outputs of both libraries
    # at the same one (see _baselines.placed)
    y = placed_like(f(x, **case.kwargs), 1)
    out = placed(y.shape, y.dtype, 2)  # glu and maxout shorten the axis
    xc = placed(x.shape, x.dtype, 3)
    empty = placed_empty(torch, 2) if torch is not None else None
    fns = {"fastact": lambda: f(x, **case.kwargs, out=out), "copy": lambda: np.copyto(xc, x)}
    if not backward:
        if case.numpy_forward is not None:
            fns["numpy"] = lambda: case.numpy_forward(x)
        if torch is not None and case.torch_forward is not None:
            fns["torch"] = torch_forward_call(case, torch, torch.from_numpy(x), empty)
    else:
        g = placed(y.shape, y.dtype, 5)
        g[...] = 1
        saved = y if case.saved == "y" else x  # softmax family: the forward's output
        fb, gx = getattr(fastact, case.name + "_backward"), placed(x.shape, x.dtype, 2)
        fns["fastact"] = lambda: fb(g, saved, **case.kwargs, out=gx)
        if case.numpy_backward is not None:
            fns["numpy"] = lambda: case.numpy_backward(g, saved)
        if torch is not None and case.torch_forward is not None:
            fns["torch"] = torch_backward_call(
                case, torch, torch.from_numpy(g), torch.from_numpy(x), empty
            )[0]
    times = interleaved(fns, min_time)
    row = {
        "function": name + (" bwd" if backward else ""),
        "size": sname,
        "dtype": x.dtype.name,
        "arrays": 3 if backward else 2,
    }
    row.update({k: statistics.median(v) for k, v in times.items()})
    row["fastact_best"], row["copy_best"] = min(times["fastact"]), min(times["copy"])
    # the regression gate's figure: fastact over copy, round by round (see _regress)
    row["per_copy"] = statistics.median(a / b for a, b in zip(times["fastact"], times["copy"]))
    if "torch" in times:
        row["per_torch"] = statistics.median(
            a / b for a, b in zip(times["fastact"], times["torch"])
        )
    return row


def _cells(r: dict) -> list[str]:
    us = lambda k: f"{r[k] * 1e6:.1f}" if k in r else "-"  # noqa: E731
    ratio = lambda k: f"{r[k] / r['fastact']:.2f}x" if k in r else "-"  # noqa: E731
    # bytes moved: x read and the result written (backward: grad_output too);
    # the copy column is a copy of x, 2 arrays
    itemsize = np.dtype(r["dtype"]).itemsize
    nbytes = r.get("arrays", 2) * SIZES[r["size"]] * itemsize
    copy_bytes = 2 * SIZES[r["size"]] * itemsize
    return [
        r["function"],
        r["size"],
        us("fastact"),
        us("numpy"),
        us("torch"),
        ratio("numpy"),
        ratio("torch"),
        f"{nbytes / r['fastact'] / 1e9:.2f}",
        f"{copy_bytes / r['copy'] / 1e9:.2f}",
    ]


COLUMNS = [
    "function",
    "size",
    "fastact us",
    "numpy us",
    "torch us",
    "vs numpy",
    "vs torch",
    "GB/s",
    "copy GB/s",
]
_WIDTHS = [12, 4, 10, 10, 10, 8, 8, 7, 9]


def _format_row(r: dict) -> str:
    return " ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(_cells(r), _WIDTHS))
    )


HEADER = " ".join(
    c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(COLUMNS, _WIDTHS))
)
BENCH_TAG = "fastact bench table"


def markdown(rows: list[dict], caption: str) -> str:
    """The rows as a markdown table under a one-line caption."""
    lines = [
        caption,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
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


QUICK_SIZES = "1K,1M"
FULL_SIZES = "1K,64K,16M"


def _percent(text: str) -> float:
    v = float(text.rstrip("%")) / 100.0
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"--fail-above must be a percentage >= 0, got {text!r}")
    return v


# Every library's OpenMP threads (torch's bundled libgomp, and the one fastact's
# Cython kernels use) by default spin for a while after each parallel region.
# In interleaved rounds those spinning threads take the cores the next
# library is being timed on: measured here, leaky_relu at 16M float32 took
# 9.8 ms right after a torch call and 7.4 ms otherwise, while torch timed
# alone ran as fast with passive waiting as without.  So benchmarks run with
# OMP_WAIT_POLICY=PASSIVE unless the caller set a policy.  libgomp reads it
# once, when it is loaded, and importing fastact has already loaded it: hence
# the re-exec, before anything is timed.  It repeats the interpreter's own
# command line (sys.orig_argv), so the new process imports fastact from where
# this one did (`python -m` would put the working directory first on the
# path, and in a source checkout that is the unbuilt package).
_WAIT = "OMP_WAIT_POLICY"


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["bench"] and _WAIT not in os.environ:
        os.environ[_WAIT] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["apply"]:
        from fastact.cli.apply import main as apply_main  # its own parser: fastact apply --help

        return apply_main(argv[1:])
    from fastact import get_num_threads
    from fastact.bench import gpu as _gpubench
    from fastact.bench import plot as _plot
    from fastact.bench import regress as _regress

    ap = argparse.ArgumentParser(prog="fastact", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser(
        "apply", help="stream a .npy file through fastact functions (see fastact apply --help)"
    )
    b = sub.add_parser("bench", help="time the kernels against NumPy and torch")
    b.add_argument(
        "--functions",
        default=",".join(FUNCTIONS),
        help="comma-separated kernel names (default: all)",
    )
    b.add_argument(
        "--sizes",
        default=None,
        help=f"comma-separated, from {list(SIZES)} (default {QUICK_SIZES}; --full: {FULL_SIZES})",
    )
    b.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "float64"],
        help="default float32; --full: both",
    )
    b.add_argument(
        "--full", action="store_true", help=f"sizes {FULL_SIZES}, both dtypes, backward rows too"
    )
    b.add_argument(
        "--backward",
        action="store_true",
        help="also time each backward (against torch's aten backward op, or "
        "autograd where there is none)",
    )
    b.add_argument(
        "--threads",
        type=int,
        default=get_num_threads(),
        help="threads for fastact and torch alike (default: fastact's default)",
    )
    b.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write the table into FILE between the bench-table markers",
    )
    b.add_argument(
        "--output",
        metavar="DIR",
        help="write bench.md, bench.json and (with matplotlib: the plot extra) "
        "one PNG chart of throughput vs size per function into DIR",
    )
    b.add_argument("--save", metavar="NAME", help="save this run for a later --compare")
    b.add_argument(
        "--compare",
        metavar="NAME",
        help="compare with a saved run (normalized by a copy and by torch, timed "
        "in the same rounds)",
    )
    # 20%: two runs of unchanged code on this 2-CPU VM moved one kernel by
    # +12.8% in all its rows (see _regress); a planted +30% measured +31.5%
    b.add_argument(
        "--fail-above",
        type=_percent,
        default=0.20,
        metavar="PCT",
        help="with --compare: exit 1 if a kernel got slower by more in all its rows (default 20%%)",
    )
    b.add_argument(
        "--store",
        default=".fastact-bench",
        metavar="DIR",
        help="where --save and --compare keep runs (default .fastact-bench)",
    )
    b.add_argument(
        "--normalize",
        choices=list(_regress.REFS),
        default="both",
        help="--compare's reference: np.copyto of the same array, torch on the "
        "same case, timed in interleaved rounds, or both (default: a row "
        "fails only if slower against each)",
    )
    b.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run everything N times and keep each row's best (for --save/--compare)",
    )
    b.add_argument(
        "--gpu",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the CPU table, a GPU table against torch CUDA: elementwise GB/s "
        "vs a device copy (16M elements; --full: 256M), softmax 65536x1024, "
        "1K per-call overhead (default: when a CUDA GPU, numba-cuda and torch "
        "CUDA are there; --gpu says why there are no rows)",
    )
    b.add_argument("--min-time", type=float, default=0.02, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    funcs = [f for f in args.functions.split(",") if f]
    bad = [f for f in funcs if f not in FUNCTIONS]
    sizes = [s for s in (args.sizes or (FULL_SIZES if args.full else QUICK_SIZES)).split(",") if s]
    bad += [s for s in sizes if s not in SIZES]
    if bad:
        print(f"fastact bench: unknown function or size: {', '.join(bad)}", file=sys.stderr)
        return 2
    if args.threads < 1 or args.repeat < 1:
        print(
            f"fastact bench: --threads and --repeat must be >= 1, got {args.threads} and "
            f"{args.repeat}",
            file=sys.stderr,
        )
        return 2
    dtypes = [args.dtype] if args.dtype else (["float32", "float64"] if args.full else ["float32"])
    backward = args.backward or args.full
    per_size = len(funcs) + (sum(1 for f in funcs if _BY_ID[f].saved) if backward else 0)
    total = per_size * len(sizes) * len(dtypes) * args.repeat
    done: list[dict] = []
    best: dict[tuple, dict] = {}
    t0 = time.perf_counter()
    for rep in range(args.repeat):
        for dt in dtypes:
            caption = (
                f"{dt}, {args.threads} thread(s) for every library, median of 7 rounds; "
                "ratio = baseline time / fastact time (>1: fastact faster); GB/s = bytes "
                f"read + written / time; axis functions over rows of {ROW}; "
                f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}"
                f"{_torch_version()}, {_WAIT}={os.environ.get(_WAIT, 'unset')}"
            )
            print("fastact bench:", caption)
            print(f"{'':8}{HEADER}")

            def echo(line: str) -> None:
                print(f"[{len(done) + 1:>3}/{total}] {line}", flush=True)

            part = bench(
                funcs,
                sizes,
                np.dtype(dt).type,
                args.threads,
                echo=echo,
                min_time=args.min_time,
                sink=done,
                backward=backward,
            )
            # with --repeat, each row keeps its best repetition: a burst of
            # noise only ever slows a run down
            for r in part:
                k = (r["function"], r["size"], r["dtype"])
                r["threads"] = args.threads
                best[k] = _regress.best_of(best[k], r) if k in best else r
            if args.markdown and dt == dtypes[0] and rep == args.repeat - 1:
                write_between_markers(args.markdown, markdown(part, caption))
    rows = list(best.values())
    print(f"fastact bench: {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
    gpu = _gpubench.section(args.gpu, args.full, args.min_time)
    meta = {
        "threads": args.threads,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "torch": _torch_version().lstrip(", "),
    }
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        with open(os.path.join(args.output, "bench.md"), "w", encoding="utf-8") as f:
            f.write(
                markdown(rows, f"{args.threads} thread(s); {meta['machine']}, {meta['cpus']} CPUs")
                + "\n"
            )
            if gpu is not None:
                f.write("\n" + _gpubench.markdown(gpu) + "\n")
        with open(os.path.join(args.output, "bench.json"), "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows, **({"gpu": gpu} if gpu else {})}, f, indent=1)
        try:
            paths = _plot.charts(rows, args.output, SIZES)
            print(f"fastact bench: {len(paths)} chart(s) in {args.output}")
        except ImportError:
            print("fastact bench: no charts (pip install 'fastact[plot]' for matplotlib)")
    status = 0
    if args.compare:
        saved = _regress.load(args.compare, args.store)
        lines, failed = _regress.compare(saved["rows"], rows, args.fail_above, args.normalize)
        print(
            f"fastact bench: against {args.compare!r} (saved {saved['saved']}): change of "
            f"fastact's time over {' and over '.join(_regress.REFS[args.normalize])} in the "
            f"same rounds, relative to its group; fail above {args.fail_above:+.0%}"
            + (" against both" if args.normalize == "both" else "")
        )
        print("\n".join(lines))
        status = 1 if failed else 0
    if args.save:
        print("fastact bench: saved", _regress.save(rows, args.save, args.store, meta))
    return status


def _torch_version() -> str:
    try:
        import torch
    except ImportError:
        return ", torch not installed"
    return f", torch {torch.__version__}"


if __name__ == "__main__":
    sys.exit(main())
