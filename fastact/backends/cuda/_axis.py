"""numba.cuda kernels for the functions over an axis: softmax, log_softmax,
softmin, glu and maxout, forward and backward.

Every kernel takes C-contiguous (outer, n, inner) views, as the CPU loops
do: the working axis of length n sits in the middle, so any axis is handled
without a transposed copy (``inner == 1`` is the last axis).

Softmax family.  A row is reduced once, online: each thread keeps the
running maximum m and the sum s of exp(x - m) over its elements (rescaling s
when m grows), and the per-thread states are combined pairwise.  Which
threads share a row depends on its shape:

- ``inner > 1`` with many rows: one thread per row (column), so that the
  threads of a warp read adjacent columns (coalesced);
- rows up to ``WARP_ROW_MAX`` long: one warp per row, combined by a
  butterfly of warp shuffles;
- longer rows: one block per row, warps first, then across warps through
  shared memory.

The semantics are the CPU functions' (``cpu/src/rows.h``): the max ignores
NaN, a row holding NaN or +inf, or only -inf, is all NaN, and -inf entries
give 0.
The sum is kept in float64 for both dtypes; float32 rows take exp in float32
with the rounding error of x - max put back to first order (exp would
amplify it by |x - max|), log_softmax forms (x - max) - log(sum) in float64.

glu and maxout are elementwise over their output: one thread per element.
The math is the package's core (``core.vmath`` exp and log, ``core.math``
helpers, compiled per dtype by ``core.typed.retype``), so the CUDA kernels
agree with the CPU ones to a few ULP.

numba-cuda's simulator has no warp shuffles: under it the butterfly goes
through shared memory with ``syncthreads`` (the kernels keep every thread of
a block on the same path through the reductions, which both need).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import cuda, float64, int64

from fastact.backends.cuda._arrays import grid, per_element
from fastact.backends.cuda._compat import SIMULATOR
from fastact.core import math as m
from fastact.core.typed import retype
from fastact.core.vmath import exp, log, select
from fastact.cpu.axis import SOFTMAX  # the mode numbers the CPU row kernels use

WARP = 32
# rows up to this long get one warp, longer ones a block (not tuned on a GPU)
WARP_ROW_MAX = 1024
ROW_WARPS = 8  # warps (rows) per block of the warp kernels
ROW_THREADS = 512  # threads per block of the block kernels (multiple of 32)
# with inner > 1, at least this many rows run one thread per row
COLS_MIN_ROWS = 2048
_MAX_WARPS = 32  # of a block: 1024 threads
_SIM_BUF = 1024 if SIMULATOR else 1
_FULL = 0xFFFFFFFF

if SIMULATOR:

    @cuda.jit(device=True)
    def _xor(v, off, buf):
        t = cuda.threadIdx.x
        buf[t] = v
        cuda.syncthreads()
        r = buf[t ^ off]
        cuda.syncthreads()
        return r
else:

    @cuda.jit(device=True)
    def _xor(v, off, buf):
        return cuda.shfl_xor_sync(_FULL, v, off)


# ------------------------------------------------------- softmax family

_softmax_kernels: dict = {}


def softmax_kernels(dtype):
    """The softmax-family kernels for float32 or float64 arrays:
    {layout: (forward, backward)} for the layouts of ``layout``."""
    key = np.dtype(dtype).name
    k = _softmax_kernels.get(key)
    if k is None:
        T = np.dtype(dtype).type
        f = _row_functions(T, *_online_state(T))
        k = _softmax_kernels[key] = {
            "cols": _cols_kernels(f),
            "warp": _warp_kernels(T, f),
            "block": _block_kernels(T, f),
        }
    return k


def diff_exp(a, b):
    """exp(a - b) for a <= b as a float64, the rounding error of a - b (core's
    TwoSum) applied to first order: exp would amplify it by |a - b|.  Compiled
    per dtype by ``retype``.

    Kept apart from core's ``exp_dd`` (fma(e, lo, e), e = exp_below(hi)) on
    purpose: NVVM contracts e + e lo into that fma but the CPU code that the
    simulator runs rounds twice, as ``cpu/src/rows.h`` does, and exp_below is
    exp without its overflow handling, other instructions on the GPU;
    swapping them needs a GPU to show that no result changes."""
    hi, lo = m.two_diff(a, b)
    lo = select(hi - hi == 0.0, lo, 0.0)  # inf/NaN: no error term
    e = exp(hi)
    return float64(e + e * lo)


class _RowFunctions(NamedTuple):
    """The device functions the softmax-family kernels are made of."""

    combine: object
    finish: object
    row_state: object
    row_sum: object
    write_forward: object
    write_backward: object


def _online_state(T):
    """(diff_exp, push, combine, finish) for dtype T: the online reduction of a
    row to (max m, sum s of exp(x - m)), s in float64.  core has no scalar
    version of this recurrence (the CPU's is the C of ``cpu/src/rows.h``)."""
    NEG_INF, POS_INF = T(-np.inf), T(np.inf)
    NAN64, ONE64 = float64(np.nan), float64(1.0)
    dexp = retype(diff_exp, np.dtype(T).name)

    @cuda.jit(device=True)
    def push(mx, s, v):
        """The state (max, sum of exp(x - max)) with element v added."""
        if v > mx:
            s = s * dexp(mx, v) + ONE64
            mx = v
        elif v != NEG_INF:  # -inf adds 0 (a row of only -inf: see finish)
            s += dexp(v, mx)
        return mx, s

    @cuda.jit(device=True)
    def combine(m1, s1, m2, s2):
        mx = select(m2 > m1, m2, m1)
        if mx == NEG_INF:
            return mx, s1 + s2
        return mx, s1 * dexp(m1, mx) + s2 * dexp(m2, mx)

    @cuda.jit(device=True)
    def finish(mx, s):
        # as the CPU: max = +-inf makes x - max NaN somewhere in the row
        return select(mx == POS_INF or mx == NEG_INF, NAN64, s)

    return dexp, push, combine, finish


def _row_functions(T, dexp, push, combine, finish) -> _RowFunctions:
    """The passes over one row of (outer, n, inner) -- row o, column t -- that
    a thread makes, over the elements j0, j0 + step, ...: the state or the sum
    (``row_state``, ``row_sum``), then the outputs (``write_forward``,
    ``write_backward``)."""
    NEG_INF = T(-np.inf)
    ZERO64, ONE64 = float64(0.0), float64(1.0)
    f32 = T is np.float32

    @cuda.jit(device=True)
    def row_state(x, o, t, j0, step, sg):
        mx, s = NEG_INF, ZERO64
        for j in range(j0, x.shape[1], step):
            mx, s = push(mx, s, sg * x[o, j, t])
        return mx, s

    @cuda.jit(device=True)
    def row_sum(g, y, o, t, j0, step, mode):
        s = ZERO64
        for j in range(j0, g.shape[1], step):
            gv = float64(g[o, j, t])
            s += gv * float64(y[o, j, t]) if mode == SOFTMAX else gv
        return s

    @cuda.jit(device=True)
    def write_forward(x, y, o, t, j0, step, sg, mx, s, mode):
        inv = ONE64 / s
        ls = log(s)
        for j in range(j0, x.shape[1], step):
            v = sg * x[o, j, t]
            if mode == SOFTMAX:
                y[o, j, t] = T(dexp(v, mx) * inv)
            elif f32:
                y[o, j, t] = T((float64(v) - float64(mx)) - ls)
            else:
                y[o, j, t] = (v - mx) - ls

    @cuda.jit(device=True)
    def write_backward(g, y, out, o, t, j0, step, sg, tot64, mode):
        tot = T(tot64)
        for j in range(j0, g.shape[1], step):
            gv, yv = g[o, j, t], y[o, j, t]
            if mode == SOFTMAX:
                out[o, j, t] = sg * (yv * (gv - tot))
            else:
                out[o, j, t] = gv - exp(yv) * tot

    return _RowFunctions(combine, finish, row_state, row_sum, write_forward, write_backward)


def _warp_reductions(T, combine):
    """(warp_state, warp_sum): a butterfly over the 32 lanes of a warp, every
    lane of which must take part."""

    @cuda.jit(device=True)
    def warp_state(mx, s, buf):
        off = 16
        while off > 0:
            m2 = T(_xor(mx, off, buf))
            s2 = _xor(s, off, buf)
            mx, s = combine(mx, s, m2, s2)
            off //= 2
        return mx, s

    @cuda.jit(device=True)
    def warp_sum(s, buf):
        off = 16
        while off > 0:
            s += _xor(s, off, buf)
            off //= 2
        return s

    return warp_state, warp_sum


def _cols_kernels(f: _RowFunctions):
    """(forward, backward) with one thread per row: columns of (outer, n,
    inner), inner > 1, so that the threads of a warp read adjacent columns."""
    finish, row_state, row_sum = f.finish, f.row_state, f.row_sum
    write_forward, write_backward = f.write_forward, f.write_backward

    @cuda.jit
    def fwd_cols(x, y, sg, mode):
        r = cuda.grid(1)
        inner = x.shape[2]
        if r < x.shape[0] * inner:
            o, t = r // inner, r % inner
            mx, s = row_state(x, o, t, 0, 1, sg)
            write_forward(x, y, o, t, 0, 1, sg, mx, finish(mx, s), mode)

    @cuda.jit
    def bwd_cols(g, y, out, sg, mode):
        r = cuda.grid(1)
        inner = g.shape[2]
        if r < g.shape[0] * inner:
            o, t = r // inner, r % inner
            write_backward(g, y, out, o, t, 0, 1, sg, row_sum(g, y, o, t, 0, 1, mode), mode)

    return fwd_cols, bwd_cols


def _warp_kernels(T, f: _RowFunctions):
    """(forward, backward) with one warp per row."""
    NEG_INF, ZERO64 = T(-np.inf), float64(0.0)
    finish, row_state, row_sum = f.finish, f.row_state, f.row_sum
    write_forward, write_backward = f.write_forward, f.write_backward
    warp_state, warp_sum = _warp_reductions(T, f.combine)

    @cuda.jit
    def fwd_warp(x, y, sg, mode):
        buf = cuda.shared.array(_SIM_BUF, float64)
        r = cuda.grid(1) // WARP
        lane = cuda.threadIdx.x % WARP
        inner = x.shape[2]
        live = r < x.shape[0] * inner
        o, t = r // inner, r % inner
        mx, s = NEG_INF, ZERO64
        if live:
            mx, s = row_state(x, o, t, lane, WARP, sg)
        mx, s = warp_state(mx, s, buf)  # every lane of the warp takes part
        if live:
            write_forward(x, y, o, t, lane, WARP, sg, mx, finish(mx, s), mode)

    @cuda.jit
    def bwd_warp(g, y, out, sg, mode):
        buf = cuda.shared.array(_SIM_BUF, float64)
        r = cuda.grid(1) // WARP
        lane = cuda.threadIdx.x % WARP
        inner = g.shape[2]
        live = r < g.shape[0] * inner
        o, t = r // inner, r % inner
        s = ZERO64
        if live:
            s = row_sum(g, y, o, t, lane, WARP, mode)
        s = warp_sum(s, buf)
        if live:
            write_backward(g, y, out, o, t, lane, WARP, sg, s, mode)

    return fwd_warp, bwd_warp


def _block_kernels(T, f: _RowFunctions):
    """(forward, backward) with one block per row: warps first, then across
    warps through shared memory."""
    combine, finish, row_state, row_sum = f.combine, f.finish, f.row_state, f.row_sum
    write_forward, write_backward = f.write_forward, f.write_backward
    warp_state, warp_sum = _warp_reductions(T, combine)

    @cuda.jit
    def fwd_block(x, y, sg, mode):
        buf = cuda.shared.array(_SIM_BUF, float64)
        sm = cuda.shared.array(_MAX_WARPS, float64)
        ss = cuda.shared.array(_MAX_WARPS, float64)
        inner = x.shape[2]
        o, t = cuda.blockIdx.x // inner, cuda.blockIdx.x % inner
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        mx, s = row_state(x, o, t, tid, nt, sg)
        mx, s = warp_state(mx, s, buf)
        if tid % WARP == 0:
            sm[tid // WARP] = mx
            ss[tid // WARP] = s
        cuda.syncthreads()
        mx, s = T(sm[0]), ss[0]
        for w in range(1, nt // WARP):
            mx, s = combine(mx, s, T(sm[w]), ss[w])
        write_forward(x, y, o, t, tid, nt, sg, mx, finish(mx, s), mode)

    @cuda.jit
    def bwd_block(g, y, out, sg, mode):
        buf = cuda.shared.array(_SIM_BUF, float64)
        ss = cuda.shared.array(_MAX_WARPS, float64)
        inner = g.shape[2]
        o, t = cuda.blockIdx.x // inner, cuda.blockIdx.x % inner
        tid, nt = cuda.threadIdx.x, cuda.blockDim.x
        s = warp_sum(row_sum(g, y, o, t, tid, nt, mode), buf)
        if tid % WARP == 0:
            ss[tid // WARP] = s
        cuda.syncthreads()
        s = ss[0]
        for w in range(1, nt // WARP):
            s += ss[w]
        write_backward(g, y, out, o, t, tid, nt, sg, s, mode)

    return fwd_block, bwd_block


def layout(outer: int, n: int, inner: int) -> str:
    """Which threads share a row of (outer, n, inner): 'cols', 'warp' or 'block'."""
    if inner > 1 and outer * inner >= COLS_MIN_ROWS:
        return "cols"
    return "warp" if n <= WARP_ROW_MAX else "block"


def _launch(kind: str, rows: int):
    if kind == "cols":
        return grid(rows)
    if kind == "warp":
        return math.ceil(rows / ROW_WARPS), ROW_WARPS * WARP
    return rows, ROW_THREADS


def softmax_forward(x, y, negate: bool, mode: int, stream) -> None:
    """y = softmax (mode 0; of -x if negate) or log_softmax (mode 1) along axis 1."""
    outer, n, inner = x.shape
    kind = layout(outer, n, inner)
    grid, threads = _launch(kind, outer * inner)
    kernel = softmax_kernels(x.dtype)[kind][0]
    kernel[grid, threads, stream](x, y, x.dtype.type(-1 if negate else 1), mode)


def softmax_backward(g, y, out, negate: bool, mode: int, stream) -> None:
    """out = sign y (g - sum(g y)) (mode 0) or g - exp(y) sum(g) (mode 1) along axis 1."""
    outer, n, inner = g.shape
    kind = layout(outer, n, inner)
    grid, threads = _launch(kind, outer * inner)
    kernel = softmax_kernels(g.dtype)[kind][1]
    kernel[grid, threads, stream](g, y, out, g.dtype.type(-1 if negate else 1), mode)


# ----------------------------------------------------------------- glu


def mul_sigmoid(a, b):
    """a * sigmoid(b).  Where sigmoid(b) is subnormal (b < exp_split) it is
    e^b (1 + O(e^b)), taken as (a h) h with h = exp(b / 2) so that a large a
    keeps the digits; a = inf with b = -inf is NaN, as the CPU glu (torch).

    Not core's ``mul_sigmoid_dd`` (swish's): that one gives inf sigmoid(-inf)
    as a zero, and divides a (or a e) by 1 + e where glu multiplies a by the
    rounded sigmoid(b): other roundings."""
    split, e = m.exp_or_half(b, 0.0, -abs(b), 0.0)
    return m.select(split, (a * e) * e, a * m.sigmoid_of(b, e))


def mul_dsigmoid(c, b):
    """c * sigmoid'(b), sigmoid' = e / (1 + e)^2 with e = exp(-|b|) (no 1 - s
    cancellation); (c h) h with h = exp(-|b| / 2) where e is subnormal.

    Not core's ``dsigmoid``: that one has no split for the product (c times a
    subnormal sigmoid' loses c's digits) and forms (1 + e)^2 with an fma, so
    its results can differ from these in the last bit."""
    split, e = m.exp_or_half(-abs(b), 0.0, -abs(b), 0.0)
    q = 1.0 + e
    return m.select(split, (c * e) * e, c * (e / (q * q)))


_glu_kernels: dict = {}


def glu_kernels(dtype):
    key = np.dtype(dtype).name
    k = _glu_kernels.get(key)
    if k is None:
        fwd, bwd = retype(mul_sigmoid, key), retype(mul_dsigmoid, key)

        @cuda.jit
        def glu_fwd(x, y):
            # x: (outer, 2h), y: (outer, h); a = x[:, :h], b = x[:, h:]
            i = cuda.grid(1)
            h = y.shape[1]
            if i < y.shape[0] * h:
                o, j = i // h, i % h
                y[o, j] = fwd(x[o, j], x[o, h + j])

        @cuda.jit
        def glu_bwd(g, x, out):
            # out may be x itself: a and b are read before either is written
            i = cuda.grid(1)
            h = g.shape[1]
            if i < g.shape[0] * h:
                o, j = i // h, i % h
                gv, a, b = g[o, j], x[o, j], x[o, h + j]
                out[o, j] = fwd(gv, b)
                out[o, h + j] = bwd(gv * a, b)

        k = _glu_kernels[key] = (glu_fwd, glu_bwd)
    return k


def glu_forward(x, y, stream) -> None:
    if y.size:
        glu_kernels(x.dtype)[0][per_element(y.size, stream)](x, y)


def glu_backward(g, x, out, stream) -> None:
    if g.size:
        glu_kernels(x.dtype)[1][per_element(g.size, stream)](g, x, out)


# -------------------------------------------------------------- maxout


@cuda.jit
def _maxout_fwd(x, y, idx, k, want):
    # x: (outer, m k, inner), y and idx: (outer, m, inner); the first maximum
    # of each group, or its first NaN (as torch.max); -0.0 before +0.0
    i = cuda.grid(1)
    ng, inner = y.shape[1], y.shape[2]
    if i < y.shape[0] * ng * inner:
        o, r = i // (ng * inner), i % (ng * inner)
        gi, t = r // inner, r % inner
        base = gi * k
        best = x[o, base, t]
        bj = 0
        for j in range(1, k):
            v = x[o, base + j, t]
            if v > best or (v != v and best == best):
                best = v
                bj = j
        y[o, gi, t] = best
        if want:
            idx[o, gi, t] = base + bj


@cuda.jit
def _maxout_check(idx, k, bad):
    # bad[0] = the smallest flat position of an index outside its group
    i = cuda.grid(1)
    ng, inner = idx.shape[1], idx.shape[2]
    if i < idx.shape[0] * ng * inner:
        o, r = i // (ng * inner), i % (ng * inner)
        gi, t = r // inner, r % inner
        v = idx[o, gi, t]
        if v < gi * k or v >= gi * k + k:
            cuda.atomic.min(bad, 0, int64(i))


@cuda.jit
def _maxout_bwd(g, idx, out, k):
    # every element of out is written: the gradient at the argmax, 0 elsewhere
    i = cuda.grid(1)
    n, inner = out.shape[1], out.shape[2]
    if i < out.shape[0] * n * inner:
        o, r = i // (n * inner), i % (n * inner)
        j, t = r // inner, r % inner
        gi = j // k
        out[o, j, t] = g[o, gi, t] if idx[o, gi, t] == j else 0


def maxout_forward(x, y, idx, k: int, stream) -> None:
    """y (and idx, unless None) over (outer, m, inner) from x (outer, m k, inner)."""
    if y.size:
        want = idx is not None
        dummy = idx if want else cuda.device_array((1, 1, 1), np.int64, stream=stream)
        _maxout_fwd[per_element(y.size, stream)](x, y, dummy, k, want)


def maxout_first_bad(idx, k: int, stream) -> int | None:
    """The flat position of the first index outside its group, or None.
    Reads one integer back from the device (a synchronization)."""
    if idx.size == 0:
        return None
    sentinel = np.iinfo(np.int64).max
    bad = cuda.to_device(np.array([sentinel], np.int64), stream=stream)
    _maxout_check[per_element(idx.size, stream)](idx, k, bad)
    v = int(bad.copy_to_host(stream=stream)[0])
    stream.synchronize()
    return None if v == sentinel else v


def maxout_backward(g, idx, out, k: int, stream) -> None:
    if out.size:
        _maxout_bwd[per_element(out.size, stream)](g, idx, out, k)
