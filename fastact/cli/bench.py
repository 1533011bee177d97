"""``fastact bench``: the command line of the benchmark harness
(fastact.bench.runner runs it)."""

from __future__ import annotations

import argparse
import sys

from fastact.bench.config import FULL_SIZES, QUICK_AXIS_SIZES, QUICK_SIZES, SIZES

HELP = "time the kernels against NumPy, torch, ONNX Runtime and JAX"


def _percent(text: str) -> float:
    v = float(text.rstrip("%")) / 100.0
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"--fail-above must be a percentage >= 0, got {text!r}")
    return v


def _add_selection(b: argparse.ArgumentParser, functions: list[str], threads: int) -> None:
    from fastact.bench.worker import LIBRARIES

    b.add_argument(
        "--functions",
        default=",".join(functions),
        help="comma-separated kernel names (default: all)",
    )
    b.add_argument(
        "--sizes",
        default=None,
        help=f"comma-separated, from {list(SIZES)} (default: elementwise functions at "
        f"{QUICK_SIZES}, axis functions at {QUICK_AXIS_SIZES}, i.e. 64x1024; --full: "
        f"{FULL_SIZES} for both, plus softmax down the columns of 1024x16384)",
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
        help="also time each backward (against torch's aten backward op where "
        "there is one, with its forward where that op takes the output and "
        "fastact's row x, and JAX's jit(vjp))",
    )
    b.add_argument(
        "--threads",
        type=int,
        default=threads,
        help="threads for every library (default: fastact's default)",
    )
    b.add_argument(
        "--libraries",
        default=",".join(LIBRARIES),
        help="comma-separated, each timed in a worker process of its own (default: "
        "all; a library that is not installed is a blank column: pip install "
        "'fastact[peers]' for ONNX Runtime and JAX)",
    )


def _add_outputs(b: argparse.ArgumentParser) -> None:
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
    b.add_argument(
        "--json",
        metavar="FILE",
        help="write the rows (every library's time, the best peer, the ratio) and "
        "where they were measured as JSON into FILE ('-': stdout)",
    )


def _add_regression(b: argparse.ArgumentParser, refs: list[str]) -> None:
    b.add_argument("--save", metavar="NAME", help="save this run for a later --compare")
    b.add_argument(
        "--compare",
        metavar="NAME",
        help="compare with a saved run (normalized by a copy timed in the same "
        "rounds and by torch timed in the same pass)",
    )
    # 20%: above the spread of two runs of unchanged code on a shared
    # machine, below a planted 30% slowdown (see bench/regress)
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
        choices=refs,
        default="both",
        help="--compare's reference: np.copyto of the same array, torch on the "
        "same case (timed in the other worker, pass by pass), or both (default: a row "
        "fails only if slower against each)",
    )
    b.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run everything N times and keep each row's best (for --save/--compare)",
    )


def add_parser(sub) -> None:
    """The ``bench`` subcommand, on the subparsers `sub` of ``fastact``."""
    from fastact import get_num_threads
    from fastact.bench.cases import BY_ID
    from fastact.bench.regress import REFS

    b = sub.add_parser("bench", help=HELP)
    _add_selection(b, list(BY_ID), get_num_threads())
    _add_outputs(b)
    _add_regression(b, list(REFS))
    b.add_argument(
        "--gpu",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the CPU table, a GPU table against torch CUDA: elementwise GB/s "
        "vs a device copy (16M elements; --full: 256M), softmax 65536x1024, "
        "1K per-call overhead (default: when a CUDA GPU, numba-cuda and torch "
        "CUDA are there; --gpu says why there are no rows)",
    )
    b.add_argument("--min-time", type=float, default=None, help=argparse.SUPPRESS)
    b.add_argument("--passes", type=int, default=2, help=argparse.SUPPRESS)


def _error(message: str) -> int:
    print(f"fastact bench: {message}", file=sys.stderr)
    return 2


def _sizes(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(elementwise sizes, axis sizes) of the run."""
    split = lambda text: [s for s in text.split(",") if s]  # noqa: E731
    if args.sizes:
        return split(args.sizes), split(args.sizes)
    if args.full:
        return split(FULL_SIZES), split(FULL_SIZES)
    return split(QUICK_SIZES), split(QUICK_AXIS_SIZES)


def main(args: argparse.Namespace) -> int:
    """Run ``fastact bench`` with the parsed `args`; returns the exit status
    (2: bad arguments)."""
    from fastact.bench.cases import BY_ID
    from fastact.bench.runner import Run, execute
    from fastact.bench.worker import LIBRARIES

    funcs = [f for f in args.functions.split(",") if f]
    libs = [lib for lib in args.libraries.split(",") if lib]
    sizes, axis_sizes = _sizes(args)
    bad = [f for f in funcs if f not in BY_ID]
    bad += [s for s in dict.fromkeys(sizes + axis_sizes) if s not in SIZES]
    bad += [lib for lib in libs if lib not in LIBRARIES]
    if bad:
        return _error(f"unknown function, size or library: {', '.join(bad)}")
    if args.threads < 1 or args.repeat < 1 or args.passes < 1:
        return _error(f"--threads and --repeat must be >= 1, got {args.threads} and {args.repeat}")
    dtypes = [args.dtype] if args.dtype else (["float32", "float64"] if args.full else ["float32"])
    run = Run(
        functions=funcs,
        sizes=sizes,
        axis_sizes=axis_sizes,
        dtypes=dtypes,
        threads=args.threads,
        backward=args.backward or args.full,
        full=args.full,
        repeat=args.repeat,
        # the quick run's rounds are shorter: it is a look, --full the figures
        min_time=args.min_time or (0.02 if args.full else 0.01),
        passes=args.passes,
        libraries=libs,
        markdown=args.markdown,
        output=args.output,
        json=args.json,
        gpu=args.gpu,
        save=args.save,
        compare=args.compare,
        store=args.store,
        fail_above=args.fail_above,
        normalize=args.normalize,
    )
    return execute(run)
