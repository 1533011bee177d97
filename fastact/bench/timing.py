"""How the benchmarks time: the libraries take turns within every round, and
every array starts at a fixed offset into its memory page."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def _no_sync() -> None:
    pass


def calls_per_round(fn, min_time: float, sync=_no_sync) -> int:
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
    fns: dict,
    min_time: float = 0.02,
    rounds: int = 7,
    sync=_no_sync,
    calls: dict | None = None,
    probes: dict[str, Callable[[], int]] | None = None,
    counts: dict[str, list[int]] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each function, round by round, the functions taking
    turns within every round: a slow spell of a shared machine then hits all
    of them in the same round, and per-round ratios cancel it.  `sync` ends
    every batch of calls (GPU work is asynchronous: torch.cuda.synchronize).
    `calls`: the calls per round of each function, where already known (a
    warm-up call is made all the same); those found are added to it.
    `probes`: a counter read before and after every timed batch of the
    function of the same key (outside the timed span); the differences go
    round by round into `counts` (a diagnostic: how many calls ran on the
    thread pool)."""
    known = {} if calls is None else calls
    for k, f in fns.items():
        if k in known:
            f()
            sync()
        else:
            known[k] = calls_per_round(f, min_time, sync)
    calls = known
    probes = probes or {}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            n, probe = calls[k], probes.get(k)
            c0 = probe() if probe else 0
            t0 = time.perf_counter()
            for _ in range(n):
                f()
            sync()
            times[k].append((time.perf_counter() - t0) / n)
            if probe and counts is not None:
                counts.setdefault(k, []).append(probe() - c0)
    return times


# Where an array starts within its 4 KiB page can change a timing many times
# over: a copy whose destination starts a few bytes past its source (modulo
# the page) can take the slow path of the C library's memcpy, and input and
# output at the same page offset compete for the same cache sets.  NumPy's
# and torch's large allocations all start at the same offset into a page,
# and which case a run hits varies from run to run.  The benchmarks
# therefore place every array themselves: slot k starts k * 1088 bytes
# (mod 4096) past a page boundary, so any two differ by at least 256 bytes
# there, in every run.
_PAGE, _SLOT = 4096, 1088


def placed(shape, dtype, slot: int) -> np.ndarray:
    """An uninitialized C-contiguous array starting at offset `slot` * 1088
    (mod 4096) into a page: benchmark arrays, laid out alike in every run."""
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    raw = np.empty(nbytes + 2 * _PAGE, np.uint8)
    start = (-raw.ctypes.data) % _PAGE + (slot * _SLOT) % _PAGE
    return raw[start : start + nbytes].view(dt).reshape(shape)


def placed_like(a: np.ndarray, slot: int) -> np.ndarray:
    """A placed copy of `a` (see placed)."""
    out = placed(a.shape, a.dtype, slot)
    np.copyto(out, a)
    return out


def placed_empty(torch, slot: int) -> Callable:
    """empty(like) for cases.torch_forward_call / torch_backward_call: torch's
    result in a placed array (the slot of fastact's `out`, so that both
    libraries write at the same page offset)."""

    def empty(like):
        dtype = torch.empty(0, dtype=like.dtype).numpy().dtype
        return torch.from_numpy(placed(tuple(like.shape), dtype, slot))

    return empty
