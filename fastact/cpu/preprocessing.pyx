# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Loops behind fastact.preprocessing: per-slice statistics (min/max, moments,
p-norms), their merges, and the affine transform that applies them.

Layout: the Python layer hands over C-contiguous (outer, n, inner) blocks,
the reduced axes (length n) between `outer` and `inner`, so every axis is
reduced without a transposed copy:

* inner == 1: each slice is a contiguous run, cut into chunks of
  FN_CHUNK_BYTES; a chunk is read as rows of FN_LANES elements, so its
  FN_LANES lanes are independent accumulators (what vectorizes) merged at
  the end of the chunk;
* inner > 1: a task takes a block of up to FN_COLS columns and the rows of
  one chunk, one accumulator per column, vectorized across the columns.

A task writes its partial statistics to slot (o, chunk, column) of a
partial array; the chunks of a slice are then merged in a fixed pairwise
order, so the result does not depend on the thread count.  The chunk size
depends only on the shape and dtype.

Numerics.  Everything accumulates in double.  Moments: deviations are
taken from one value of each slice's data (its first non-NaN, K), so a
constant slice gives exactly mean = K and m2 = 0, and an offset such as 1e8
cancels exactly.  For float32 input one pass suffices: with K a data value,
|K - mean| <= sqrt(k) * std over k values, so Q - S^2/k loses at most
log2(k) of double's 53 bits.  float64 input gets a second pass over the
chunk (still in cache) around the first-pass mean, with the
Kahan-compensated sum of squares and Bjorck's correction term.  The lanes
of a chunk share K and are summed; chunks merge by Chan et al.'s update on
means taken relative to K.
p-norms: sums of |x|^p in double (Kahan-compensated for float64 input);
where that sum could have overflowed or lost its terms to underflow (float64
input with p = 2, any input with p not in {1, 2, inf}) the chunk is redone
scaled by a power of two near its largest magnitude.

The arithmetic is C in ``src/norm.h`` (GCC vector extensions, as in
``src/rows.h``: gcc does not vectorize floating-point reductions without
-ffast-math, whose -ffinite-math-only would break the NaN semantics), built
once per instruction-set path by src/clones.h.
"""
from fastact.cpu import isa as _isa

import numpy as np

from fastact.cpu.pool_api cimport fa_cost, fa_pool_import, fa_run, fa_task_fn

fa_pool_import()

# the cost model's measured ns per element, per kernel (minmax, moments,
# norms, apply, normalize_rows) and dtype
cdef fa_cost _costs[10]

cdef extern from "norm.h":
    void fa_set_isa(int level) nogil
    int fa_isa_level() nogil
    const int FN_COLS
    const int FN_CHUNK_BYTES
    void fn_mm_run(const void* x, Py_ssize_t n, int isf, double* lo, double* hi) nogil
    void fn_mm_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                    double* lo, double* hi) nogil
    void fn_first_valid(const void* x, Py_ssize_t n, Py_ssize_t inner, int isf, double* K) nogil
    void fn_mom_run(const void* x, Py_ssize_t n, int isf, double k0, double* c, double* m,
                    double* q) nogil
    void fn_mom_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                     const double* k0, double* c, double* m, double* q) nogil
    void fn_nrm_run(const void* x, Py_ssize_t n, int isf, double p, double* out) nogil
    void fn_nrm_cols(const void* x, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride, int isf,
                     double p, double* out) nogil
    void fn_apply(const void* x, void* y, Py_ssize_t rows, Py_ssize_t w, Py_ssize_t stride,
                  const double* c, const double* d, int percol, double lo, double hi,
                  int lerp, int isf, int stream) nogil
    Py_ssize_t fn_coef_minmax(const double* lo, const double* hi, Py_ssize_t n, double* c,
                              double* den, int* why) nogil
    Py_ssize_t fn_coef_std(const double* cnt, const double* mean, const double* m2,
                           Py_ssize_t n, double ddof, double eps, double* c, double* den,
                           int* why) nogil
    void fn_coef_norm(const double* acc, Py_ssize_t n, double eps, double* c,
                      double* den) nogil
    void fn_recips(const double* d, Py_ssize_t n, double* r) nogil
    void fn_mm_merge(double* lo, double* hi, Py_ssize_t nch, Py_ssize_t inner) nogil
    void fn_mom_merge(double* n, double* m, double* q, Py_ssize_t nch, Py_ssize_t inner) nogil
    void fn_nrm_merge(double* v, Py_ssize_t nch, Py_ssize_t inner, double p) nogil
    void fn_chan(double na, double ma, double qa, double nb, double mb, double qb,
                 double* n, double* m, double* q) nogil
    double fn_norm_merge(double a, double b, double p) nogil

cdef Py_ssize_t STREAM_BYTES = 16 << 20

ctypedef fused real:
    float
    double

# the instruction-set path of the kernels, chosen once (cpu/isa.py)
fa_set_isa(_isa.level())


def isa_path():
    """The instruction-set path this extension's kernels run: 'avx512',
    'avx2', 'baseline', or 'default' (a build with one plain copy)."""
    return _isa.PATH_NAMES.get(fa_isa_level(), "default")


# ------------------------------------------------------------ task grid
#
# A task is (outer slot o, chunk ci of the reduced axis, column block cb).
# inner == 1: a chunk is a run of R elements; inner > 1: R rows of a block of
# W <= FN_COLS columns.  Only the shape and the item size decide the grid.

cdef inline void _grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize, Py_ssize_t* R,
                       Py_ssize_t* nch, Py_ssize_t* W, Py_ssize_t* ncb) noexcept nogil:
    cdef Py_ssize_t chunk = FN_CHUNK_BYTES // itemsize
    if inner == 1:
        W[0] = 1
        R[0] = chunk
    else:
        W[0] = max(<Py_ssize_t>1, min(inner, <Py_ssize_t>FN_COLS))   # inner == 0: no task
        R[0] = max(<Py_ssize_t>1, chunk // W[0])
    ncb[0] = (inner + W[0] - 1) // W[0]
    nch[0] = (n + R[0] - 1) // R[0]


cdef inline Py_ssize_t _per_grab(Py_ssize_t n, Py_ssize_t R, Py_ssize_t W,
                                 Py_ssize_t itemsize) noexcept nogil:
    # Tasks are handed out dynamically by the pool (a thread preempted on a
    # shared machine does not hold up the others), about a chunk's worth per
    # grab.
    # Which task writes which slot is fixed, so the result is not affected.
    return max(<Py_ssize_t>1, FN_CHUNK_BYTES // (max(<Py_ssize_t>1, min(R, n)) * W * itemsize))


ctypedef struct Task:
    Py_ssize_t o, ci, r0, j0      # outer slot, chunk, its first row and first column


cdef inline Task _task(Py_ssize_t task, Py_ssize_t nch, Py_ssize_t ncb, Py_ssize_t R,
                       Py_ssize_t W) noexcept nogil:
    # returned by value: each pool task keeps its own copy
    cdef Task t
    cdef Py_ssize_t r = task % (nch * ncb)
    t.o = task // (nch * ncb)
    t.ci = r // ncb
    t.r0 = t.ci * R
    t.j0 = (r % ncb) * W
    return t


def grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    """(chunks along the reduced axis, tasks per outer slot) of a (., n, inner) block."""
    cdef Py_ssize_t R, nch, W, ncb
    _grid(n, inner, itemsize, &R, &nch, &W, &ncb)
    return nch, nch * ncb


# ------------------------------------------------------------ statistics
#
# Each takes the input as (outer, n, inner) and partial arrays
# (outer, nch, inner); on return slot [:, 0, :] holds the merged statistics.

ctypedef struct StatJob:
    int what, isf                 # what: 0 minmax, 1 moments, 2 norms
    const char* x
    double* a                     # lo / counts / norms, (outer, nch, inner)
    double* b                     # hi / means
    double* c                     # m2
    const double* shift           # (outer, inner)
    double p
    Py_ssize_t n, inner, R, nch, W, ncb, size


cdef void _stat_range(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef StatJob* j = <StatJob*>ctx
    cdef Py_ssize_t task, rows, w, po, n = j.n, inner = j.inner
    cdef Task t
    cdef const void* xp
    for task in range(t0, t1):
        t = _task(task, j.nch, j.ncb, j.R, j.W)
        rows = min(j.R, n - t.r0)
        w = min(j.W, inner - t.j0)
        xp = <const void*>(j.x + ((t.o * n + t.r0) * inner + t.j0) * j.size)
        po = (t.o * j.nch + t.ci) * inner + t.j0          # partial slot
        if j.what == 0:
            if inner == 1:
                fn_mm_run(xp, rows, j.isf, j.a + po, j.b + po)
            else:
                fn_mm_cols(xp, rows, w, inner, j.isf, j.a + po, j.b + po)
        elif j.what == 1:
            if inner == 1:
                fn_mom_run(xp, rows, j.isf, j.shift[t.o], j.a + po, j.b + po, j.c + po)
            else:
                fn_mom_cols(xp, rows, w, inner, j.isf, j.shift + t.o * inner + t.j0, j.a + po,
                            j.b + po, j.c + po)
        elif inner == 1:
            fn_nrm_run(xp, rows, j.isf, j.p, j.a + po)
        else:
            fn_nrm_cols(xp, rows, w, inner, j.isf, j.p, j.a + po)


cdef int _stats(StatJob* j, Py_ssize_t outer, int nthreads) except -1:
    """Run the statistics tasks of `j` (x, outputs and `what` set) on the pool;
    returns 0 if there was nothing to do, else 1 (the partials need merging
    when j.nch > 1)."""
    if outer == 0 or j.n == 0 or j.inner == 0:
        return 0
    _grid(j.n, j.inner, j.size, &j.R, &j.nch, &j.W, &j.ncb)
    cdef Py_ssize_t cs = _per_grab(j.n, j.R, j.W, j.size)
    with nogil:
        fa_run(&_costs[2 * j.what + j.isf], <double>(outer * j.n * j.inner), _stat_range, j,
               outer * j.nch * j.ncb, cs, nthreads)
    return 1


cdef inline void _job(StatJob* j, int what, const char* x, Py_ssize_t n, Py_ssize_t inner,
                      int isf, Py_ssize_t size) noexcept:
    j.what, j.x, j.n, j.inner, j.isf, j.size = what, x, n, inner, isf, size


def minmax_stats(const real[:, :, ::1] x, double[:, :, ::1] lo, double[:, :, ::1] hi,
                 int nthreads):
    cdef Py_ssize_t outer = x.shape[0], o
    cdef StatJob j
    if outer == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        return
    _job(&j, 0, <const char*>&x[0, 0, 0], x.shape[1], x.shape[2], real is float, sizeof(real))
    j.a, j.b = &lo[0, 0, 0], &hi[0, 0, 0]
    _stats(&j, outer, nthreads)
    if j.nch > 1:
        # serial: a few merges per slice, and a second parallel job would
        # cost a thread hand-off
        with nogil:
            for o in range(outer):
                fn_mm_merge(&lo[o, 0, 0], &hi[o, 0, 0], j.nch, j.inner)


def moment_stats(const real[:, :, ::1] x, double[:, ::1] shift, double[:, :, ::1] cnt,
                 double[:, :, ::1] mu, double[:, :, ::1] m2, int nthreads):
    """Counts, means relative to `shift` and m2, with `shift` (outer, inner)
    set here to each slice's first non-NaN value (NaN if it has none)."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2], o
    cdef int isf = real is float
    cdef StatJob j
    if outer == 0 or n == 0 or inner == 0:
        return
    with nogil:     # usually one element or one row per slice: serial
        for o in range(outer):
            fn_first_valid(<const void*>&x[o, 0, 0], n, inner, isf, &shift[o, 0])
    _job(&j, 1, <const char*>&x[0, 0, 0], n, inner, isf, sizeof(real))
    j.a, j.b, j.c, j.shift = &cnt[0, 0, 0], &mu[0, 0, 0], &m2[0, 0, 0], &shift[0, 0]
    _stats(&j, outer, nthreads)
    if j.nch > 1:
        # serial: a few merges per slice, and a second parallel job would
        # cost a thread hand-off
        with nogil:
            for o in range(outer):
                fn_mom_merge(&cnt[o, 0, 0], &mu[o, 0, 0], &m2[o, 0, 0], j.nch, inner)


def norm_stats(const real[:, :, ::1] x, double p, double[:, :, ::1] acc, int nthreads):
    cdef Py_ssize_t outer = x.shape[0], o
    cdef StatJob j
    if outer == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        return
    _job(&j, 2, <const char*>&x[0, 0, 0], x.shape[1], x.shape[2], real is float, sizeof(real))
    j.a, j.p = &acc[0, 0, 0], p
    _stats(&j, outer, nthreads)
    if j.nch > 1:
        # serial: a few merges per slice, and a second parallel job would
        # cost a thread hand-off
        with nogil:
            for o in range(outer):
                fn_nrm_merge(&acc[o, 0, 0], j.nch, j.inner, p)


# ------------------------------------------------------------ merges

def merge_moments(const double[::1] na, const double[::1] ma, const double[::1] qa,
                  const double[::1] nb, const double[::1] mb, const double[::1] qb,
                  double[::1] n, double[::1] m, double[::1] q):
    """Elementwise Chan merge of two flat (count, mean, m2) triples."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(n.shape[0]):
            fn_chan(na[i], ma[i], qa[i], nb[i], mb[i], qb[i], &n[i], &m[i], &q[i])


def merge_norms(double p, const double[::1] a, const double[::1] b, double[::1] out):
    """Elementwise norm of two flat arrays of partial p-norms."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(out.shape[0]):
            out[i] = fn_norm_merge(a[i], b[i], p)


# ------------------------------------------------------------ apply

def coef_minmax(const double[::1] lo, const double[::1] hi, double[::1] c, double[::1] den):
    """(first bad slice or -1, why) and c, den for minmax."""
    cdef int why = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = fn_coef_minmax(&lo[0], &hi[0], lo.shape[0], &c[0], &den[0], &why)
    return bad, why


def coef_standardize(const double[::1] cnt, const double[::1] mean, const double[::1] m2,
                     double ddof, double eps, double[::1] c, double[::1] den):
    cdef int why = 0
    cdef Py_ssize_t bad
    with nogil:
        bad = fn_coef_std(&cnt[0], &mean[0], &m2[0], cnt.shape[0], ddof, eps, &c[0], &den[0],
                          &why)
    return bad, why


def coef_normalize(const double[::1] acc, double eps, double[::1] c, double[::1] den):
    with nogil:
        fn_coef_norm(&acc[0], acc.shape[0], eps, &c[0], &den[0])


cdef inline void _apply_grid(Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize,
                             Py_ssize_t* R, Py_ssize_t* nch, Py_ssize_t* W,
                             Py_ssize_t* ncb) noexcept nogil:
    # nothing to reduce: a task takes whole rows of `inner` (long contiguous
    # reads) unless a row alone exceeds a chunk
    cdef Py_ssize_t chunk = FN_CHUNK_BYTES // itemsize
    W[0] = max(<Py_ssize_t>1, min(inner, chunk))
    R[0] = max(<Py_ssize_t>1, chunk // W[0])
    ncb[0] = (inner + W[0] - 1) // W[0]
    nch[0] = (n + R[0] - 1) // R[0]


def apply_tasks(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    cdef Py_ssize_t R, nch, W, ncb
    _apply_grid(n, inner, itemsize, &R, &nch, &W, &ncb)
    return outer * nch * ncb


ctypedef struct ApplyJob:
    int isf, lerp, stream
    const char* x
    char* y
    const double* c
    const double* d
    double lo, hi, p, eps
    Py_ssize_t n, inner, R, nch, W, ncb, size, ntasks


cdef void _apply_range(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef ApplyJob* j = <ApplyJob*>ctx
    cdef Py_ssize_t task, off, n = j.n, inner = j.inner
    cdef Task t
    for task in range(t0, t1):
        # last chunk first: the statistics pass that came before ended there,
        # so the first tasks here find their input still in cache
        t = _task(j.ntasks - 1 - task, j.nch, j.ncb, j.R, j.W)
        off = ((t.o * n + t.r0) * inner + t.j0) * j.size
        if inner == 1:
            fn_apply(<const void*>(j.x + off), <void*>(j.y + off), 1, min(j.R, n - t.r0), 0,
                     j.c + t.o, j.d + t.o, 0, j.lo, j.hi, j.lerp, j.isf, j.stream)
        else:
            fn_apply(<const void*>(j.x + off), <void*>(j.y + off), min(j.R, n - t.r0),
                     min(j.W, inner - t.j0), inner, j.c + t.o * inner + t.j0,
                     j.d + t.o * inner + t.j0, 1, j.lo, j.hi, j.lerp, j.isf, j.stream)


def apply(const real[:, :, ::1] x, real[:, :, ::1] y, const double[:, ::1] c,
          const double[:, ::1] den, double lo, double hi, bint lerp, int nthreads):
    """y = t or lerp(lo, hi, t), t = (x - c) / den, c and den per (outer, inner) slot."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2], cs
    cdef ApplyJob j
    cdef double[::1] recips
    cdef const double* dp = &den[0, 0] if den.shape[0] * den.shape[1] else NULL
    if outer == 0 or n == 0 or inner == 0:
        return
    j.isf = real is float
    if real is float:
        # float32 multiplies by 1/den (see fn_ap)
        recips = np.empty(outer * inner)
        fn_recips(dp, outer * inner, &recips[0])
        dp = &recips[0]
    # streamed stores for an output much larger than the caches that is not
    # the input itself (in place, the lines are in cache already)
    j.stream = (outer * n * inner * <Py_ssize_t>sizeof(real) >= STREAM_BYTES
                and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    j.x, j.y, j.c, j.d = <const char*>&x[0, 0, 0], <char*>&y[0, 0, 0], &c[0, 0], dp
    j.lo, j.hi, j.lerp, j.n, j.inner, j.size = lo, hi, lerp, n, inner, sizeof(real)
    _apply_grid(n, inner, sizeof(real), &j.R, &j.nch, &j.W, &j.ncb)
    cs = _per_grab(n, j.R, j.W, sizeof(real))
    j.ntasks = outer * j.nch * j.ncb
    with nogil:
        fa_run(&_costs[6 + j.isf], <double>(outer * n * inner), _apply_range, &j, j.ntasks, cs,
               nthreads)


def row_limit(Py_ssize_t itemsize):
    """The longest slice that normalize_rows takes: one task, one chunk."""
    return FN_CHUNK_BYTES // itemsize


cdef void _rows_range(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef ApplyJob* j = <ApplyJob*>ctx
    cdef Py_ssize_t o, off
    cdef double acc, c, den, d
    for o in range(t0, t1):
        acc = 0.0
        c = 0.0
        den = 0.0
        off = o * j.n * j.size
        fn_nrm_run(<const void*>(j.x + off), j.n, j.isf, j.p, &acc)
        fn_coef_norm(&acc, 1, j.eps, &c, &den)
        d = den
        if j.isf:
            fn_recips(&den, 1, &d)
        fn_apply(<const void*>(j.x + off), <void*>(j.y + off), 1, j.n, 0, &c, &d, 0, 0.0, 1.0,
                 0, j.isf, j.stream)


def normalize_rows(const real[:, :, ::1] x, real[:, :, ::1] y, double p, double eps,
                   int nthreads):
    """y = normalize_apply(x, norm_stats(x)) for (outer, n, 1) blocks with
    n <= row_limit: per row, the same norm (fn_nrm_run over one chunk, no
    merge), coefficient and apply calls as the two-phase path, while the row
    is in cache."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1]
    cdef ApplyJob j
    if outer == 0 or n == 0:
        return
    j.stream = (outer * n * <Py_ssize_t>sizeof(real) >= STREAM_BYTES
                and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    j.isf, j.x, j.y, j.p, j.eps = real is float, <const char*>&x[0, 0, 0], <char*>&y[0, 0, 0], p, eps
    j.n, j.size = n, sizeof(real)
    with nogil:
        fa_run(&_costs[8 + j.isf], <double>(outer * n), _rows_range, &j, outer,
               max(<Py_ssize_t>1, FN_CHUNK_BYTES // (n * <Py_ssize_t>sizeof(real))), nthreads)
