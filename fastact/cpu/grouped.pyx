# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) loops for glu and maxout and their backward
passes, on fastact's thread pool (src/pool.h) over independent tasks with the
GIL released.

Layout: the Python layer (``fastact/grouped.py``) hands over C-contiguous
(outer, n, inner) blocks -- the working axis of length n sits between
`outer` and `inner` -- so the last axis is inner == 1 and any other axis
needs no transposed copy:

* glu splits each outer row into halves that are themselves contiguous runs
  of h*inner elements (h = n/2), so the kernel is a flat elementwise loop
  ``out[i] = a[i] * sigmoid(b[i])`` over each row, whatever the axis.
* maxout reads groups of k consecutive rows of width `inner`.  For
  inner == 1 the groups sit side by side in memory and the loop runs across
  groups (k a compile-time constant for common k, so gcc vectorizes the
  strided loads); for inner > 1 the loop runs along the contiguous columns.

The arithmetic is C in ``src/grouped.h`` (not Cython expressions): gcc
vectorizes plain C loops over pointers reliably, and src/clones.h builds
each kernel once per instruction-set path, the one cpu/isa.py chose running,
so the build stays portable.
"""
cimport numpy as cnp
import numpy as np
from libc.stdint cimport int64_t

from fastact.cpu import isa as _isa
from fastact.cpu import threads as _threads

cnp.import_array()

from fastact.cpu.pool_api cimport fa_cost, fa_grab, fa_pool_import, fa_run, fa_task_fn

fa_pool_import()

# the cost model's measured ns per element, per kernel and dtype:
# glu, glu backward, maxout, maxout backward, index check, prelu backward
cdef fa_cost _costs[12]

cdef extern from "grouped.h":
    void fa_set_isa(int level) nogil
    int fa_isa_level() nogil
    const int FG_GLU_CHUNK
    const int FG_MAX_CHUNK
    const int FG_COLS
    void fg_glu_f(const float* a, const float* b, float* y, Py_ssize_t n) nogil
    void fg_glu_d(const double* a, const double* b, double* y, Py_ssize_t n) nogil
    void fg_glu_bwd_f(const float* g, const float* a, const float* b, float* ga, float* gb,
                      Py_ssize_t n) nogil
    void fg_glu_bwd_d(const double* g, const double* a, const double* b, double* ga,
                      double* gb, Py_ssize_t n) nogil
    void fg_max_row_f(const float* x, float* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                      int64_t base) nogil
    void fg_max_row_d(const double* x, double* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                      int64_t base) nogil
    void fg_max_cols_f(const float* x, float* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                       Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_cols_d(const double* x, double* y, int64_t* ix, Py_ssize_t ng, Py_ssize_t k,
                       Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_bwd_f(const float* go, const int64_t* ix, float* out, Py_ssize_t ng,
                      Py_ssize_t k, Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    void fg_max_bwd_d(const double* go, const int64_t* ix, double* out, Py_ssize_t ng,
                      Py_ssize_t k, Py_ssize_t w, Py_ssize_t stride, int64_t base) nogil
    const int FG_PRELU_CHUNK
    void fg_prelu_bwd_f(const float* g, const float* x, float* gi, float w, Py_ssize_t n,
                        int stream, double* total) nogil
    void fg_prelu_bwd_d(const double* g, const double* x, double* gi, double w, Py_ssize_t n,
                        int stream, double* total) nogil
    void fa_stream_fence() nogil
    void fg_check_idx(const int64_t* ix, Py_ssize_t ng, Py_ssize_t k, Py_ssize_t w,
                      Py_ssize_t stride, int64_t base, Py_ssize_t* first) nogil

ctypedef fused real:
    float
    double


# the instruction-set path of the kernels, chosen once (cpu/isa.py)
fa_set_isa(_isa.level())


def isa_path():
    """The instruction-set path this extension's kernels run: 'avx512',
    'avx2', 'baseline', or 'default' (a build with one plain copy)."""
    return _isa.PATH_NAMES.get(fa_isa_level(), "default")


# ------------------------------------------------------------------ glu

def glu_tasks(Py_ssize_t outer, Py_ssize_t half_len):
    """Tasks of a glu call over (outer, 2*h, inner) with half_len = h*inner."""
    return outer * ((half_len + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK)


ctypedef struct GluJob:
    int isf, backward
    char* g
    char* x
    char* out
    Py_ssize_t L, nc, size


cdef void _glu_range(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef GluJob* j = <GluJob*>ctx
    cdef Py_ssize_t k, o, i0, w, L = j.L, sz = j.size
    cdef char* x
    cdef char* g
    cdef char* y
    for k in range(t0, t1):
        o = k // j.nc
        i0 = (k % j.nc) * FG_GLU_CHUNK
        w = min(<Py_ssize_t>FG_GLU_CHUNK, L - i0)
        x = j.x + (o * 2 * L + i0) * sz       # rows of x: 2L
        if j.backward:
            g = j.g + (o * L + i0) * sz       # rows of g: L, of out: 2L
            y = j.out + (o * 2 * L + i0) * sz
            if j.isf:
                fg_glu_bwd_f(<float*>g, <float*>x, <float*>(x + L * sz), <float*>y,
                             <float*>(y + L * sz), w)
            else:
                fg_glu_bwd_d(<double*>g, <double*>x, <double*>(x + L * sz), <double*>y,
                             <double*>(y + L * sz), w)
        else:
            y = j.out + (o * L + i0) * sz     # rows of out: L
            if j.isf:
                fg_glu_f(<float*>x, <float*>(x + L * sz), <float*>y, w)
            else:
                fg_glu_d(<double*>x, <double*>(x + L * sz), <double*>y, w)


cdef void _glu_tasks(const real[:, ::1] g, const real[:, ::1] x, real[:, ::1] out,
                     Py_ssize_t L, bint backward, int nthreads) noexcept:
    """The task loop of both directions: chunks of FG_GLU_CHUNK elements of
    each half-row pair, on the pool without the GIL."""
    if x.shape[0] == 0 or L == 0:
        return
    _glu_run(<char*>&g[0, 0], <char*>&x[0, 0], <char*>&out[0, 0], x.shape[0], L,
             real is float, backward, nthreads)


cdef void _glu_run(char* g, char* x, char* out, Py_ssize_t outer, Py_ssize_t L, bint isf,
                   bint backward, int nthreads) noexcept:
    cdef GluJob j
    j.isf = isf
    j.backward = backward
    j.g = g
    j.x = x
    j.out = out
    j.L = L
    j.nc = (L + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK
    j.size = sizeof(float) if isf else sizeof(double)
    # short rows are handed out several at a time (pool_api.fa_grab)
    cdef Py_ssize_t ntasks = outer * j.nc
    cdef Py_ssize_t grab = fa_grab(min(L, <Py_ssize_t>FG_GLU_CHUNK) * j.size, ntasks, nthreads)
    with nogil:
        fa_run(&_costs[2 * backward + j.isf], <double>(outer * L), _glu_range, &j, ntasks,
               grab, nthreads)


def glu(const real[:, ::1] x, real[:, ::1] out, int nthreads):
    """out[o] = a * sigmoid(b), a = x[o, :L], b = x[o, L:], L = out.shape[1]."""
    _glu_tasks(x, x, out, out.shape[1], False, nthreads)


def glu_backward(const real[:, ::1] g, const real[:, ::1] x, real[:, ::1] out, int nthreads):
    """out[o, :L] = g*s(b), out[o, L:] = g*a*s'(b); out may be x itself."""
    _glu_tasks(g, x, out, g.shape[1], True, nthreads)


# --------------------------------------------------------------- maxout
#
# A maxout task is (outer row o, a range of G groups, a block of columns).
# inner == 1: one "column", G groups of k adjacent elements; inner > 1:
# blocks of FG_COLS columns.  G makes a task about FG_MAX_CHUNK input
# elements.

cdef inline void _plan(Py_ssize_t m, Py_ssize_t k, Py_ssize_t inner, Py_ssize_t* G,
                       Py_ssize_t* ngc, Py_ssize_t* cw, Py_ssize_t* ncc) noexcept nogil:
    cw[0] = inner if inner <= FG_COLS else FG_COLS
    ncc[0] = (inner + cw[0] - 1) // cw[0]
    G[0] = max(<Py_ssize_t>1, FG_MAX_CHUNK // (k * cw[0]))
    ngc[0] = (m + G[0] - 1) // G[0]


def maxout_tasks(Py_ssize_t outer, Py_ssize_t m, Py_ssize_t k, Py_ssize_t inner):
    """Tasks of a maxout call over (outer, m*k, inner)."""
    cdef Py_ssize_t G, ngc, cw, ncc
    if m == 0 or inner == 0:
        return 0
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    return outer * ngc * ncc


ctypedef struct MaxJob:
    int isf
    char* x                 # maxout: input (outer, m*k, inner); backward: output
    char* y                 # maxout: output (outer, m, inner); backward: grad
    int64_t* ix             # (outer, m, inner), or NULL
    Py_ssize_t* first       # index check: per task, the first bad position or -1
    Py_ssize_t m, k, inner, G, ngc, cw, ncc, size


ctypedef struct Block:
    Py_ssize_t o, g0, t0     # outer slot, first group, first column of the task's block
    Py_ssize_t ng, w         # its groups and columns
    Py_ssize_t xoff, yoff    # elements into x (and its k-wide groups) and into y/ix


cdef inline Block _block(MaxJob* j, Py_ssize_t task) noexcept nogil:
    """Where task `task` works: returned by value, each pool task its own."""
    cdef Block b
    cdef Py_ssize_t r = task % (j.ngc * j.ncc)
    b.o = task // (j.ngc * j.ncc)
    b.t0 = (r % j.ncc) * j.cw
    b.g0 = (r // j.ncc) * j.G
    b.ng = min(j.G, j.m - b.g0)
    b.w = min(j.cw, j.inner - b.t0)
    b.xoff = (b.o * j.m * j.k + b.g0 * j.k) * j.inner + b.t0
    b.yoff = (b.o * j.m + b.g0) * j.inner + b.t0
    return b


cdef void _max_range(void* ctx, Py_ssize_t a, Py_ssize_t c) noexcept nogil:
    cdef MaxJob* j = <MaxJob*>ctx
    cdef Py_ssize_t task, k = j.k, inner = j.inner
    cdef Block b
    cdef char* xp
    cdef char* yp
    cdef int64_t* ip
    for task in range(a, c):
        b = _block(j, task)
        xp = j.x + b.xoff * j.size
        yp = j.y + b.yoff * j.size
        ip = j.ix + b.yoff if j.ix != NULL else NULL
        if inner == 1:
            if j.isf:
                fg_max_row_f(<float*>xp, <float*>yp, ip, b.ng, k, b.g0 * k)
            else:
                fg_max_row_d(<double*>xp, <double*>yp, ip, b.ng, k, b.g0 * k)
        elif j.isf:
            fg_max_cols_f(<float*>xp, <float*>yp, ip, b.ng, k, b.w, inner, b.g0 * k)
        else:
            fg_max_cols_d(<double*>xp, <double*>yp, ip, b.ng, k, b.w, inner, b.g0 * k)


cdef void _max_bwd_range(void* ctx, Py_ssize_t a, Py_ssize_t c) noexcept nogil:
    cdef MaxJob* j = <MaxJob*>ctx
    cdef Py_ssize_t task, k = j.k, inner = j.inner
    cdef Block b
    cdef char* op
    cdef char* gp
    for task in range(a, c):
        b = _block(j, task)
        op = j.x + b.xoff * j.size
        gp = j.y + b.yoff * j.size
        if j.isf:
            fg_max_bwd_f(<float*>gp, j.ix + b.yoff, <float*>op, b.ng, k, b.w, inner, b.g0 * k)
        else:
            fg_max_bwd_d(<double*>gp, j.ix + b.yoff, <double*>op, b.ng, k, b.w, inner, b.g0 * k)


cdef void _check_range(void* ctx, Py_ssize_t a, Py_ssize_t c) noexcept nogil:
    cdef MaxJob* j = <MaxJob*>ctx
    cdef Block b
    cdef Py_ssize_t task
    for task in range(a, c):
        b = _block(j, task)
        fg_check_idx(j.ix + b.yoff, b.ng, j.k, b.w, j.inner, b.g0 * j.k, &j.first[task])


cdef Py_ssize_t _max_job(MaxJob* j, Py_ssize_t outer, Py_ssize_t m, Py_ssize_t k,
                         Py_ssize_t inner, Py_ssize_t size) noexcept:
    """Fill the plan of `j`; returns its number of tasks."""
    j.m, j.k, j.inner, j.size = m, k, inner, size
    j.ix = NULL
    j.first = NULL
    _plan(m, k, inner, &j.G, &j.ngc, &j.cw, &j.ncc)
    return outer * j.ngc * j.ncc


cdef inline Py_ssize_t _max_grab(MaxJob* j, Py_ssize_t ntasks, int nthreads) noexcept nogil:
    """Tasks per grab: a task's input (k-wide groups) as its work."""
    cdef Py_ssize_t g = j.G if j.G < j.m else j.m
    cdef Py_ssize_t w = j.cw if j.cw < j.inner else j.inner
    return fa_grab(g * j.k * w * j.size, ntasks, nthreads)


def maxout(const real[:, :, ::1] x, real[:, :, ::1] y, int64_t[:, :, ::1] idx,
           Py_ssize_t k, int nthreads):
    """y[o, g, t] = max_j x[o, g*k + j, t] (NaN wins, first on ties); idx (may be
    None) the argmax as a position along axis 1 of x."""
    cdef Py_ssize_t outer = y.shape[0], m = y.shape[1], inner = y.shape[2]
    if outer == 0 or m == 0 or inner == 0:
        return
    _maxout_run(<char*>&x[0, 0, 0], <char*>&y[0, 0, 0],
                &idx[0, 0, 0] if idx is not None else NULL, outer, m, k, inner, real is float,
                nthreads)


cdef void _maxout_run(char* x, char* y, int64_t* ix, Py_ssize_t outer, Py_ssize_t m,
                      Py_ssize_t k, Py_ssize_t inner, bint isf, int nthreads) noexcept:
    cdef MaxJob j
    cdef Py_ssize_t ntasks = _max_job(&j, outer, m, k, inner,
                                      sizeof(float) if isf else sizeof(double))
    j.isf = isf
    j.x = x
    j.y = y
    j.ix = ix
    with nogil:
        fa_run(&_costs[4 + j.isf], <double>(outer * m * k * inner), _max_range, &j, ntasks,
               _max_grab(&j, ntasks, nthreads), nthreads)


cdef Py_ssize_t[::1] _filled(Py_ssize_t n):
    import numpy as np
    return np.full(n, -1, dtype=np.intp)


def maxout_check_indices(const int64_t[:, :, ::1] idx, Py_ssize_t k, int nthreads):
    """The first (o, g, t) whose index is not in [g*k, g*k + k), or None."""
    cdef Py_ssize_t outer = idx.shape[0], m = idx.shape[1], inner = idx.shape[2]
    cdef Py_ssize_t task, p, ntasks
    cdef MaxJob j
    cdef Block b
    if outer == 0 or m == 0 or inner == 0:
        return None
    ntasks = _max_job(&j, outer, m, k, inner, 8)
    # one slot per task; the first bad task in order gives the first bad index
    cdef Py_ssize_t[::1] first = _filled(ntasks)
    j.ix = <int64_t*>&idx[0, 0, 0]
    j.first = &first[0]
    with nogil:
        fa_run(&_costs[8], <double>(outer * m * inner), _check_range, &j, ntasks,
               _max_grab(&j, ntasks, nthreads), nthreads)
    for task in range(ntasks):
        p = first[task]
        if p >= 0:
            b = _block(&j, task)
            return (b.o, b.g0 + p // inner, b.t0 + p % inner)
    return None


def maxout_backward(const real[:, :, ::1] go, const int64_t[:, :, ::1] idx,
                    real[:, :, ::1] out, Py_ssize_t k, int nthreads):
    """out[o, i, t] = go[o, i // k, t] if idx[o, i // k, t] == i else 0."""
    cdef Py_ssize_t outer = go.shape[0], m = go.shape[1], inner = go.shape[2], ntasks
    cdef MaxJob j
    if outer == 0 or m == 0 or inner == 0:
        return
    ntasks = _max_job(&j, outer, m, k, inner, sizeof(real))
    j.isf = real is float
    j.x = <char*>&out[0, 0, 0]
    j.y = <char*>&go[0, 0, 0]
    j.ix = <int64_t*>&idx[0, 0, 0]
    with nogil:
        fa_run(&_costs[6 + j.isf], <double>(outer * m * k * inner), _max_bwd_range, &j, ntasks,
               _max_grab(&j, ntasks, nthreads), nthreads)


# ---------------------------------------------------------------- prelu
#
# prelu's backward over C-contiguous (outer, C, inner) blocks, C weights (the
# channel axis in the middle; one weight: (1, 1, n)): a task is a run of at
# most FG_PRELU_CHUNK elements of one (outer row, channel) pair, which writes
# its part of grad_input and its partial sum of the weight's terms.

ctypedef struct PreluJob:
    int isf, stream
    char* g
    char* x
    char* gi
    const double* w
    double* part
    Py_ssize_t C, inner, nch, size


cdef void _prelu_range(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef PreluJob* j = <PreluJob*>ctx
    cdef Py_ssize_t k, r, i0, off, w
    for k in range(t0, t1):
        r = k // j.nch
        i0 = (k % j.nch) * FG_PRELU_CHUNK
        w = min(<Py_ssize_t>FG_PRELU_CHUNK, j.inner - i0)
        off = (r * j.inner + i0) * j.size
        if j.isf:
            fg_prelu_bwd_f(<float*>(j.g + off), <float*>(j.x + off), <float*>(j.gi + off),
                           <float>j.w[r % j.C], w, j.stream, &j.part[k])
        else:
            fg_prelu_bwd_d(<double*>(j.g + off), <double*>(j.x + off), <double*>(j.gi + off),
                           j.w[r % j.C], w, j.stream, &j.part[k])
    if j.stream:
        # streamed stores are weakly ordered: visible before the pool hands
        # the results back
        fa_stream_fence()


def prelu_tasks(Py_ssize_t outer, Py_ssize_t C, Py_ssize_t inner):
    """Tasks of a prelu backward call over (outer, C, inner)."""
    return outer * C * ((inner + FG_PRELU_CHUNK - 1) // FG_PRELU_CHUNK)


def prelu_backward(const real[:, :, ::1] g, const real[:, :, ::1] x, real[:, :, ::1] gi,
                   const double[::1] w, int nthreads, bint stream=False):
    """gi = g where x > 0, else g w[c] (w rounded to the arrays' type, as the
    prelu ufunc's loop rounds its weight), over (outer, C, inner) blocks with
    C = w.size; returns the weight's gradient, the per-channel sums of g x
    where x <= 0 (float64, C values).  The sums are taken in an order the
    shape alone fixes (see FG_PRELU in grouped.h: runs of FG_PRELU_CHUNK,
    added run by run), so they do not depend on the thread count.  gi may be
    g or x itself.  `stream`: gi is written with streaming stores (for an
    output far larger than the caches; the results are the same)."""
    cdef Py_ssize_t outer = x.shape[0], C = x.shape[1], inner = x.shape[2], o, c, t
    cdef PreluJob j
    gw = np.zeros(C, np.float64)
    cdef double[::1] acc = gw
    if outer == 0 or C == 0 or inner == 0:
        return gw
    j.nch = (inner + FG_PRELU_CHUNK - 1) // FG_PRELU_CHUNK
    cdef Py_ssize_t ntasks = outer * C * j.nch
    part_arr = np.empty(ntasks, np.float64)
    cdef double[::1] part = part_arr
    j.isf, j.stream = real is float, stream
    j.g, j.x, j.gi = <char*>&g[0, 0, 0], <char*>&x[0, 0, 0], <char*>&gi[0, 0, 0]
    j.w, j.part = &w[0], &part[0]
    j.C, j.inner, j.size = C, inner, sizeof(real)
    with nogil:
        fa_run(&_costs[10 + j.isf], <double>(outer * C * inner), _prelu_range, &j, ntasks, 1,
               nthreads)
        for o in range(outer):
            for c in range(C):
                for t in range((o * C + c) * j.nch, (o * C + c + 1) * j.nch):
                    acc[c] += part[t]
    return gw


# ---------------------------------------------------------------- last axis
# The public layer's common forward calls (fastact/grouped.py), checked here
# in C: its general path (validation, blocks, overlap tests, thread count in
# Python) cost about ten microseconds a call, a third of a 64K glu.

cdef bint _plain(object a, int t) noexcept:
    """a is an ndarray (not a subclass) of type t, native byte order, C-contiguous."""
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == t
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a)
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


cdef object _last_out(object x, object out, Py_ssize_t div):
    """The output of a call on x's last axis that divides it by `div`: a new
    array (out None), or out where it has the right shape and dtype, is
    writeable and shares no memory with x; None where x or out is not the
    common case (a float32 or float64 native C-contiguous ndarray, at least
    one element, the last axis divisible by div)."""
    cdef cnp.ndarray a, o
    cdef int t, d, nd
    cdef cnp.npy_intp dims[64]
    if type(x) is not cnp.ndarray:
        return None
    a = <cnp.ndarray>x
    t = cnp.PyArray_TYPE(a)
    nd = cnp.PyArray_NDIM(a)
    if ((t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not _plain(a, t) or nd == 0
            or nd > 64 or cnp.PyArray_SIZE(a) == 0 or cnp.PyArray_DIM(a, nd - 1) % div):
        return None
    for d in range(nd):
        dims[d] = cnp.PyArray_DIM(a, d)
    dims[nd - 1] //= div
    if out is None:
        return cnp.PyArray_EMPTY(nd, dims, t, 0)
    if not _plain(out, t) or cnp.PyArray_NDIM(<cnp.ndarray>out) != nd:
        return None
    o = <cnp.ndarray>out
    for d in range(nd):
        if cnp.PyArray_DIM(o, d) != dims[d]:
            return None
    cdef char* p = <char*>cnp.PyArray_DATA(a)
    cdef char* q = <char*>cnp.PyArray_DATA(o)
    if not cnp.PyArray_ISWRITEABLE(o) or not (p + cnp.PyArray_NBYTES(a) <= q
                                              or q + cnp.PyArray_NBYTES(o) <= p):
        return None
    return o


def glu_last(x, out):
    """glu of x along its last axis into out (None: a new array), which is
    returned; None, with nothing done, where the call is not the common one
    (see _last_out) and the caller must take its general path."""
    o = _last_out(x, out, 2)
    if o is None:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, cnp.PyArray_NDIM(a) - 1)
    cdef Py_ssize_t outer = cnp.PyArray_SIZE(a) // n, L = n // 2
    cdef Py_ssize_t ntasks = outer * ((L + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK)
    cdef int nt = max(1, min(<int>_threads._num_threads, ntasks))   # threads.threads_for
    _glu_run(NULL, <char*>cnp.PyArray_DATA(a), <char*>cnp.PyArray_DATA(<cnp.ndarray>o), outer,
             L, cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32, False, nt)
    return o


def maxout_last(x, Py_ssize_t k, out):
    """maxout (values only) of x along its last axis in groups of k >= 1, into
    out (None: a new array), which is returned; None, with nothing done, where
    the call is not the common one (see _last_out)."""
    if k < 1:
        return None
    o = _last_out(x, out, k)
    if o is None:
        return None
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, cnp.PyArray_NDIM(a) - 1)
    cdef Py_ssize_t outer = cnp.PyArray_SIZE(a) // n, m = n // k
    cdef int nt = max(1, min(<int>_threads._num_threads, maxout_tasks(outer, m, k, 1)))
    _maxout_run(<char*>cnp.PyArray_DATA(a), <char*>cnp.PyArray_DATA(<cnp.ndarray>o), NULL,
                outer, m, k, 1, cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32, nt)
    return o


cdef bint _disjoint(cnp.ndarray a, cnp.ndarray b) noexcept:
    cdef char* p = <char*>cnp.PyArray_DATA(a)
    cdef char* q = <char*>cnp.PyArray_DATA(b)
    return p + cnp.PyArray_NBYTES(a) <= q or q + cnp.PyArray_NBYTES(b) <= p


def glu_backward_last(g, x, out):
    """glu's backward of grad_output g and input x along their last axis, into
    out (None: a new array; may be x itself), which is returned; None, with
    nothing done, where the call is not the common one (x and g as
    _last_out's x, of one dtype, g's last axis half x's; out apart from g,
    and x itself or apart from it)."""
    cdef cnp.ndarray a, b, o
    cdef int d, nd, t
    if type(x) is not cnp.ndarray or type(g) is not cnp.ndarray:
        return None
    a, b = <cnp.ndarray>x, <cnp.ndarray>g
    t = cnp.PyArray_TYPE(a)
    nd = cnp.PyArray_NDIM(a)
    if ((t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not _plain(a, t) or nd == 0
            or cnp.PyArray_SIZE(a) == 0 or cnp.PyArray_DIM(a, nd - 1) % 2
            or not _plain(b, t) or cnp.PyArray_NDIM(b) != nd):
        return None
    for d in range(nd):
        if cnp.PyArray_DIM(b, d) != cnp.PyArray_DIM(a, d) // (2 if d == nd - 1 else 1):
            return None
    if out is None:
        o = cnp.PyArray_EMPTY(nd, cnp.PyArray_DIMS(a), t, 0)
    else:
        if (not _plain(out, t) or not cnp.PyArray_SAMESHAPE(<cnp.ndarray>out, a)
                or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            return None
        o = <cnp.ndarray>out
        if not _disjoint(o, b) or not (cnp.PyArray_DATA(o) == cnp.PyArray_DATA(a)
                                       or _disjoint(o, a)):
            return None
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, nd - 1)
    cdef Py_ssize_t outer = cnp.PyArray_SIZE(a) // n, L = n // 2
    cdef Py_ssize_t ntasks = outer * ((L + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK)
    cdef int nt = max(1, min(<int>_threads._num_threads, ntasks))   # threads.threads_for
    _glu_run(<char*>cnp.PyArray_DATA(b), <char*>cnp.PyArray_DATA(a), <char*>cnp.PyArray_DATA(o),
             outer, L, t == cnp.NPY_FLOAT32, True, nt)
    return o
