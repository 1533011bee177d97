"""Random fills for fastact.init: streams, blocks, threads, and the samplers.

Reproducibility does not depend on the thread count.  An array is filled in
C order; up to STREAM elements come from the caller's generator itself, a
larger array is cut into runs of STREAM elements, each drawn from its own
child generator (PCG64 seeded by ``SeedSequence(entropy).spawn``, the entropy
drawn from the caller's generator).  The runs are handed to fastact's thread
pool (``random_raw``, the numba kernels of cpu/init_kernels.py and NumPy's
ufuncs release the GIL), but which numbers land where depends only on the
seed and the array's size.

Within a run, numbers are drawn BLOCK elements at a time, so that a block's
random words, its float draws and the transform over them stay in cache.
float32 and float64 are drawn in their own type straight into the array; a
float16 array is drawn in float32 one run at a time and cast.  Arrays that
are not C-contiguous native floats are drawn into a C-ordered array of the
compute type and copied in.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np

from fastact.cpu import threads
from fastact.cpu.pool import _get_pool

STREAM = 1 << 20  # elements per child generator (16 for a 4096 x 4096 array)
BLOCK = 1 << 14  # elements per draw within a stream (64 KiB of float32)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# draw(dst, gen): fill contiguous 1-D `dst` (float32 or float64, at most
# STREAM elements: one run) from `gen`
Draw = Callable[[np.ndarray, np.random.Generator], None]


def compute_dtype(dt: np.dtype) -> np.dtype:
    """The native type a float16/32/64 array is drawn in (float16: float32)."""
    return F32 if dt.itemsize <= 4 else F64


def fill(out: np.ndarray, gen: np.random.Generator, draw: Draw) -> np.ndarray:
    """Fill float16/32/64 array `out` (any layout) with `draw`; returns out."""
    cdt = compute_dtype(out.dtype)
    if out.flags.c_contiguous and out.dtype.isnative:
        _fill_flat(out.reshape(-1), gen, draw, cdt)
    else:
        tmp = np.empty(out.shape, cdt)
        _fill_flat(tmp.reshape(-1), gen, draw, cdt)
        np.copyto(out, tmp, casting="unsafe")
    return out


def _fill_flat(flat: np.ndarray, gen: np.random.Generator, draw: Draw, cdt: np.dtype) -> None:
    n = flat.size
    if n <= STREAM:
        _stream(flat, gen, draw, cdt)
        return
    runs = -(-n // STREAM)
    seeds = np.random.SeedSequence(gen.integers(0, 1 << 63, size=2)).spawn(runs)

    def run(i: int) -> None:
        # the child generator is built here: its seeding runs in parallel too
        child = np.random.Generator(np.random.PCG64(seeds[i]))
        _stream(flat[i * STREAM : (i + 1) * STREAM], child, draw, cdt)

    parallel(runs, run)


def parallel(runs: int, run: Callable[[int], None]) -> None:
    """run(0), ..., run(runs - 1) on up to fastact.get_num_threads() threads.

    A run goes to whichever thread is free next: callers make each run's
    result independent of the thread that computes it."""
    workers = min(threads.get_num_threads(), runs)
    if workers <= 1:
        for i in range(runs):
            run(i)
        return
    lock, counter = threading.Lock(), iter(range(runs))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            run(i)

    pool = _get_pool(workers - 1)
    futures = [pool.submit(worker) for _ in range(workers - 1)]
    try:
        worker()
    finally:
        for f in futures:
            f.result()


def constant(out: np.ndarray, value: float) -> np.ndarray:
    """out[...] = value; a large C-contiguous array is filled in STREAM runs
    on the thread pool (one thread does not saturate memory bandwidth)."""
    # rounded here, once: np.errstate does not reach the pool's threads
    with np.errstate(over="ignore"):  # 1e5 is inf in float16, as torch's fill_
        value = out.dtype.type(value)
    if out.flags.c_contiguous and out.size > STREAM:
        flat = out.reshape(-1)
        parallel(-(-flat.size // STREAM), lambda i: flat[i * STREAM : (i + 1) * STREAM].fill(value))
    else:
        out.fill(value)
    return out


def _stream(flat: np.ndarray, gen: np.random.Generator, draw: Draw, cdt: np.dtype) -> None:
    if flat.dtype == cdt:
        draw(flat, gen)
    else:  # float16: drawn in float32, cast once per run
        tmp = np.empty(flat.size, cdt)
        draw(tmp, gen)
        flat[...] = tmp


# --------------------------------------------------------------------------
# samplers: each returns a Draw


def _blockwise(fill_block: Draw) -> Draw:
    def draw(dst, gen):
        for s in range(0, dst.size, BLOCK):
            fill_block(dst[s : s + BLOCK], gen)

    return draw


def _kernels():
    """cpu/init_kernels.py, imported on the first draw: it loads (or compiles) numba code."""
    from fastact.cpu import init_kernels

    return init_kernels


def uniform(low: float, high: float) -> Draw:
    """U(low, high), computed as u * (high - low) + low in the array's type (as torch)."""
    return _blockwise(lambda dst, gen: _kernels().uniform(dst, gen, low, high))


def normal(mean: float, std: float) -> Draw:
    """N(mean, std^2) by the vectorized Box-Muller of cpu/init_kernels.py."""
    return _blockwise(lambda dst, gen: _kernels().normal(dst, gen, mean, std))


def trunc_normal(mean: float, std: float, a: float, b: float) -> Draw:
    """N(mean, std^2) conditioned on [a, b] (a < b, std > 0), sampled exactly.

    The window in standard units is [alpha, beta].  Each case uses a
    proposal whose acceptance rate stays near or above 1/2 however narrow
    the window or far out in the tail (after Robert 1995, "Simulation of
    truncated normal variables"):

    - 0 inside, width >= sqrt(2 pi): normal draws, out-of-window ones redrawn
      (torch's method; acceptance = the window's mass >= 0.49);
    - 0 inside and narrower, or one-sided with beta^2 - alpha^2 <= 1:
      uniform proposal, accepted with probability exp((m^2 - z^2)/2) where m
      is the window's point nearest 0 (acceptance >= 0.49, >= e^-1/2);
    - one-sided and wider: exponential proposal from the near edge with rate
      lam = (alpha + sqrt(alpha^2 + 4))/2, truncated to the window by
      inverse CDF, accepted with probability exp(-(z - lam)^2 / 2)
      (acceptance >= e^-1/2).

    The tail cases compute in float64 relative to the near edge, so a window
    at 30 sigma (or 1e6 sigma) is sampled as exactly as one at 0.
    """
    alpha, beta = (a - mean) / std, (b - mean) / std
    if alpha == beta:
        # [a, b] is narrower than float64 resolves at this std, or at an
        # overflowing distance: the distribution sits at the edge nearer the mean
        edge = a if alpha >= 0 else b
        return lambda dst, gen: dst.fill(edge)
    if alpha <= 0 <= beta:
        if beta - alpha >= math.sqrt(2 * math.pi):
            return _rejection(_normal_proposal(mean, std, a, b))
        return _rejection(_uniform_proposal(mean, std, a, b, alpha, beta, 0.0))
    if alpha > 0:
        lo, hi, edge, sign = alpha, beta, a, 1.0
    else:  # the left tail: sample the mirror image
        lo, hi, edge, sign = -beta, -alpha, b, -1.0
    if (hi - lo) * (hi + lo) <= 1.0:
        return _rejection(_uniform_proposal(mean, std, a, b, alpha, beta, sign * lo))
    return _rejection(_exponential_proposal(std, a, b, lo, hi, edge, sign))


# A proposal propose(gen, out) writes candidates into `out` and returns the
# mask of those accepted.


def _normal_proposal(mean, std, a, b):
    def propose(gen, out):
        _kernels().normal(out, gen, mean, std)
        t = out.dtype.type  # the window as the array's type holds it (as torch)
        return (out >= t(a)) & (out <= t(b))

    return propose


def _uniform_proposal(mean, std, a, b, alpha, beta, m):
    def propose(gen, out):
        z = gen.random(out.size)
        z *= beta - alpha
        z += alpha
        ratio = np.exp(0.5 * (m - z) * (m + z))  # pdf(z) / pdf(m) <= 1
        out[...] = np.clip(mean + std * z, a, b)
        return gen.random(out.size) < ratio

    return propose


def _exponential_proposal(std, a, b, lo, hi, edge, sign):
    lam = lo + 2.0 / (math.hypot(lo, 2.0) + lo)  # (lo + sqrt(lo^2 + 4)) / 2
    mass = -math.expm1(-lam * (hi - lo))  # 1 - e^{-lam (hi - lo)}; 1 when hi = inf

    def propose(gen, out):
        e = -np.log1p(-mass * gen.random(out.size)) / lam  # Exp(lam) conditioned on [0, hi - lo]
        d = e + (lo - lam)  # z - lam, z = lo + e
        out[...] = np.clip(edge + sign * std * e, a, b)
        return gen.random(out.size) < np.exp(-0.5 * d * d)

    return propose


def _rejection(propose) -> Draw:
    """Every position drawn once (a block at a time), then the rejected ones
    of the whole run redrawn together until none is left."""

    def draw(dst, gen):
        left = [
            np.flatnonzero(~propose(gen, dst[s : s + BLOCK])) + s for s in range(0, dst.size, BLOCK)
        ]
        todo = np.concatenate(left)
        while todo.size:
            left = []
            for s in range(0, todo.size, BLOCK):
                idx = todo[s : s + BLOCK]
                cand = np.empty(idx.size, dst.dtype)
                ok = propose(gen, cand)
                dst[idx[ok]] = cand[ok]
                left.append(idx[~ok])
            todo = np.concatenate(left)

    return draw
