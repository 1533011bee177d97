"""The CPU rows of ``fastact bench``: every case against its NumPy and torch
baselines and a copy of the same array, in interleaved rounds.  The calls
timed are the pytest-benchmark suite's too (``bench/test_kernels.py``)."""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np

from fastact.bench.cases import BY_ID, BenchCase, torch_backward_call, torch_forward_call
from fastact.bench.config import ROW, sample
from fastact.bench.table import format_row
from fastact.bench.timing import interleaved, placed, placed_empty, placed_like


def placed_sample(size: str, dtype) -> np.ndarray:
    """config.sample's data placed at slot 0: the input of every case."""
    return placed_like(sample(size, dtype), 0)


def case_input(case: BenchCase, x: np.ndarray) -> np.ndarray:
    """x as `case` takes it: the axis functions work over rows of ROW."""
    return x.reshape(-1, ROW) if case.axis else x


def calls(
    case: BenchCase, x: np.ndarray, torch=None, backward: bool = False
) -> tuple[dict[str, Callable[[], object]], str | None]:
    """Each library's zero-argument call of `case` on x ('fastact', and
    'numpy' and 'torch' where there is a baseline; torch None: no torch
    call), every output preallocated and placed; and, for `backward`, what
    torch's call measures (the aten op alone, or autograd)."""
    import fastact

    f = getattr(fastact, case.name)
    # every array at its own offset into a page, the outputs of both
    # libraries at the same one (see timing.placed)
    y = placed_like(f(x, **case.kwargs), 1)
    empty = placed_empty(torch, 2) if torch is not None else None
    has_torch = torch is not None and case.torch_forward is not None
    if not backward:
        out = placed(y.shape, y.dtype, 2)  # glu and maxout shorten the axis
        fns = {"fastact": lambda: f(x, **case.kwargs, out=out)}
        if case.numpy_forward is not None:
            fns["numpy"] = lambda: case.numpy_forward(x)
        if has_torch:
            fns["torch"] = torch_forward_call(case, torch, torch.from_numpy(x), empty)
        return fns, None
    g = placed(y.shape, y.dtype, 5)
    g[...] = 1
    saved = y if case.saved == "y" else x  # softmax family: the forward's output
    fb, gx = getattr(fastact, case.name + "_backward"), placed(x.shape, x.dtype, 2)
    fns = {"fastact": lambda: fb(g, saved, **case.kwargs, out=gx)}
    if case.saved == "y=":  # from the forward's output, by keyword
        fns = {"fastact": lambda: fb(g, y=y, **case.kwargs, out=gx)}
    if case.numpy_backward is not None:
        fns["numpy"] = lambda: case.numpy_backward(g, saved)
    kind = None
    if has_torch:
        fns["torch"], kind = torch_backward_call(
            case, torch, torch.from_numpy(g), torch.from_numpy(x), empty
        )
    return fns, kind


def bench_one(
    case: BenchCase, size: str, x: np.ndarray, torch=None, min_time=0.02, backward=False
) -> dict:
    """One row: the case's forward, or (`backward`) its backward, on x (the
    placed sample of `size`) against the baselines and a copy of the same
    array, in interleaved rounds."""
    x = case_input(case, x)
    fns, _ = calls(case, x, torch, backward)
    xc = placed(x.shape, x.dtype, 3)
    # the order in which they take turns: fastact, copy, numpy, torch
    fns = {"fastact": fns.pop("fastact"), "copy": lambda: np.copyto(xc, x), **fns}
    times = interleaved(fns, min_time)
    row = {
        "function": case.id + (" bwd" if backward else ""),
        "size": size,
        "dtype": x.dtype.name,
        "arrays": 3 if backward else 2,
    }
    row.update({k: statistics.median(v) for k, v in times.items()})
    row["fastact_best"], row["copy_best"] = min(times["fastact"]), min(times["copy"])
    # the regression gate's figure: fastact over copy, round by round (see regress)
    row["per_copy"] = statistics.median(a / b for a, b in zip(times["fastact"], times["copy"]))
    if "torch" in times:
        row["per_torch"] = statistics.median(
            a / b for a, b in zip(times["fastact"], times["torch"])
        )
    return row


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
    """Time each function (a case id) at each size (a key of config.SIZES);
    every library gets `threads` threads.  Rows are echoed by `echo` (as
    lines of the text table) and appended to `sink` as they come (for a progress count)."""
    import fastact

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    old = fastact.get_num_threads()
    fastact.set_num_threads(threads)
    rows = []
    try:
        for size in sizes:
            x = placed_sample(size, dtype)
            for name in functions:
                saved = BY_ID[name].saved
                todo = ([] if saved == "y=" else [False]) + ([True] if backward and saved else [])
                for bwd in todo:
                    row = bench_one(BY_ID[name], size, x, torch, min_time, bwd)
                    echo(format_row(row))
                    rows.append(row)
                    if sink is not None:
                        sink.append(row)
    finally:
        fastact.set_num_threads(old)
    return rows
