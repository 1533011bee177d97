"""Elementwise calls that NumPy cuts into many inner-loop calls, split over
Python threads.

A contiguous (or 1-D) call reaches the ufunc loop in one piece, and the loop
itself splits it over fastact's C thread pool (cpu/ufunc.pyx, src/pool.h).
A strided or broadcast n-D call reaches the loop row by row, too finely for
that: this module cuts such a call along one axis into a few sub-calls run
on a small Python thread pool (the loops release the GIL).  Every element
is computed by the same loop whatever the cut, so results are bit-identical
for any thread count.  The pool also serves cpu/init.py's parallel fills.
"""

from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fastact.cpu import threads, ufunc

# chunks start on 64-byte boundaries of a contiguous array: no cache line is
# written by two threads
_ALIGN = 16

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old, _pool = _pool, ThreadPoolExecutor(workers, thread_name_prefix="fastact")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _forget_pool() -> None:
    # a forked child inherits the pool object but none of its threads
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()
    _rt.clear()


os.register_at_fork(after_in_child=_forget_pool)


def _flat(arrays: list[np.ndarray]) -> list[np.ndarray] | None:
    """1-D views of equally shaped arrays if they share a contiguous order."""
    for order, flag in (("C", "C_CONTIGUOUS"), ("F", "F_CONTIGUOUS")):
        if all(a.flags[flag] for a in arrays):
            return [a.reshape(-1, order=order) for a in arrays]
    return None


def _split_axis(out: np.ndarray, parts: int) -> int | None:
    """The axis to cut a non-contiguous call along: long, and outermost in memory."""
    axes = [i for i in range(out.ndim) if out.shape[i] >= parts]
    if not axes:
        return None
    return max(axes, key=lambda i: (abs(out.strides[i]), out.shape[i]))


def _ranges(n: int, parts: int, align: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    step = -(-step // align) * align
    return [(i, min(i + step, n)) for i in range(0, n, step)]


# Handing sub-calls to the pool has a fixed cost (submit, wake-up, result),
# measured once per process (_round_trip); each ufunc's single-thread cost
# per element is measured on its own serial calls.  The decision is the C
# pool's (src/pool.h): k threads take about W/k + rt*(k-1) for W of serial
# work, and a thread is added while it saves twice its hand-off.
_cost: dict[np.ufunc, float] = {}  # seconds per element, single thread, best seen
_rt: list[float] = []  # the pool's measured round trip (seconds), once known


def _round_trip() -> float:
    if not _rt:
        pool = _get_pool(1)
        best = math.inf
        for _ in range(8):
            t0 = time.perf_counter()
            pool.submit(int).result()
            best = min(best, time.perf_counter() - t0)
        _rt.append(best)
    return _rt[0]


def _threads(uf: np.ufunc, size: int) -> int:
    nt = threads.threads_for(size, size)
    cost = _cost.get(uf)
    if nt == 1 or cost is None or size < threads.PARALLEL_MIN_SIZE:
        return 1
    work, rt, k = size * cost, _round_trip(), 1
    while k < nt and work >= 2 * rt * k * (k + 1):
        k += 1
    return k


def _serial(uf, arrays, params, out) -> None:
    if out.size < 4096:
        uf(*arrays, *params, out=out)
        return
    t0 = time.perf_counter()
    uf(*arrays, *params, out=out)
    per = (time.perf_counter() - t0) / out.size
    if per < _cost.get(uf, math.inf):
        _cost[uf] = per


def _one_piece(arrays: list[np.ndarray], params: tuple, out: np.ndarray) -> bool:
    """NumPy hands the call to the loop whole: scalar parameters, and every
    array 1-D or all contiguous in one order."""
    if any(isinstance(p, np.ndarray) and p.ndim for p in params):
        return False
    ops = [*arrays, out]
    return (
        out.ndim <= 1
        or all(a.flags.c_contiguous for a in ops)
        or all(a.flags.f_contiguous for a in ops)
    )


_self_split: dict[np.ufunc, bool] = {}


def _splits_itself(uf: np.ufunc) -> bool:
    r = _self_split.get(uf)
    if r is None:
        r = _self_split[uf] = ufunc.splits_itself(uf)
    return r


def call(uf: np.ufunc, arrays: list[np.ndarray], params: tuple, out: np.ndarray) -> None:
    """uf(*arrays, *params, out=out), on several threads when that is faster.

    `arrays` have out's shape; `params` are scalars or arrays broadcastable
    to it (a per-channel weight, a per-element slope).
    """
    if _one_piece(arrays, params, out) and _splits_itself(uf):
        uf(*arrays, *params, out=out)  # the loop splits it on the C pool
        return
    if _tiles(uf, arrays, params, out):
        return
    nt = _threads(uf, out.size)
    if nt == 1 or any(_overlap(a, out) for a in arrays):
        # (numpy buffers a partial overlap of out and an input within one
        # call; chunks on several threads could read what another wrote)
        _serial(uf, arrays, params, out)
        return
    scalar = [not isinstance(p, np.ndarray) or p.ndim == 0 for p in params]
    operands = (
        list(arrays)
        + [np.broadcast_to(p, out.shape) for p, s in zip(params, scalar) if not s]
        + [out]
    )
    flat = _flat(operands)
    if flat is not None:
        cuts = [(slice(a, b),) for a, b in _ranges(out.size, nt, _ALIGN)]
        views = flat
    else:
        ax = _split_axis(out, nt)
        if ax is None:
            uf(*arrays, *params, out=out)
            return
        cuts = [(slice(None),) * ax + (slice(a, b),) for a, b in _ranges(out.shape[ax], nt, 1)]
        views = operands

    pool = _get_pool(nt - 1)
    futures = [
        pool.submit(_run_chunk, uf, views, cut, len(arrays), params, scalar) for cut in cuts[1:]
    ]
    _run_chunk(uf, views, cuts[0], len(arrays), params, scalar)
    for f in futures:
        f.result()


def _tiles(uf: np.ufunc, arrays: list[np.ndarray], params: tuple, out: np.ndarray) -> bool:
    """Run a 2-D call whose operands are each C- or F-contiguous, in both
    orders, through ufunc.tiled (x.T into a C-ordered out: row by row,
    NumPy's loop would read x a column at a time); False if it is not one."""
    if out.ndim != 2 or not _splits_itself(uf) or any(np.ndim(p) for p in params):
        return False
    ops = [*arrays, out]
    if any(a.dtype != out.dtype for a in arrays):
        return False
    if not all(a.flags.c_contiguous or a.flags.f_contiguous for a in ops):
        return False
    if any(_overlap(a, out) for a in arrays):
        return False
    if not out.flags.c_contiguous:  # the transposed call has a C-ordered out
        ops = [a.T for a in ops]
    ufunc.tiled(uf, ops[:-1], tuple(params), ops[-1])
    return True


def _overlap(a: np.ndarray, out: np.ndarray) -> bool:
    """out and a share memory other than element-for-element (in place is fine)."""
    if not np.may_share_memory(a, out):
        return False
    return not (
        a.__array_interface__["data"][0] == out.__array_interface__["data"][0]
        and a.strides == out.strides
    )


def _run_chunk(uf, views, cut, n_arrays, params, scalar) -> None:
    ins = [v[cut] for v in views[:n_arrays]]
    extra = iter(views[n_arrays:-1])
    ps = [p if s else next(extra)[cut] for p, s in zip(params, scalar)]
    uf(*ins, *ps, out=views[-1][cut])
