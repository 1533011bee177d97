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
from cython.parallel cimport prange

from fastact.cpu import isa as _isa

import numpy as np

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
    # Tasks are handed out dynamically (a thread preempted on a shared
    # machine does not hold up the others), about a chunk's worth per grab.
    # Which task writes which slot is fixed, so the result is not affected.
    return max(<Py_ssize_t>1, FN_CHUNK_BYTES // (max(<Py_ssize_t>1, min(R, n)) * W * itemsize))


ctypedef struct Task:
    Py_ssize_t o, ci, r0, j0      # outer slot, chunk, its first row and first column


cdef inline Task _task(Py_ssize_t task, Py_ssize_t nch, Py_ssize_t ncb, Py_ssize_t R,
                       Py_ssize_t W) noexcept nogil:
    # returned, not written through pointers: a variable assigned in a prange
    # body is what Cython makes thread-private
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

def minmax_stats(const real[:, :, ::1] x, double[:, :, ::1] lo, double[:, :, ::1] hi,
                 int nthreads):
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_mm_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, &lo[o, ci, 0],
                      &hi[o, ci, 0])
        else:
            fn_mm_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                       isf, &lo[o, ci, j0], &hi[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_mm_merge(&lo[o, 0, 0], &hi[o, 0, 0], nch, inner)


def moment_stats(const real[:, :, ::1] x, double[:, ::1] shift, double[:, :, ::1] cnt,
                 double[:, :, ::1] mu, double[:, :, ::1] m2, int nthreads):
    """Counts, means relative to `shift` and m2, with `shift` (outer, inner)
    set here to each slice's first non-NaN value (NaN if it has none)."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    with nogil:     # usually one element or one row per slice: serial
        for o in range(outer):
            fn_first_valid(<const void*>&x[o, 0, 0], n, inner, isf, &shift[o, 0])
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_mom_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, shift[o, 0],
                       &cnt[o, ci, 0], &mu[o, ci, 0], &m2[o, ci, 0])
        else:
            fn_mom_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                        isf, &shift[o, j0], &cnt[o, ci, j0], &mu[o, ci, j0], &m2[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_mom_merge(&cnt[o, 0, 0], &mu[o, 0, 0], &m2[o, 0, 0], nch, inner)


def norm_stats(const real[:, :, ::1] x, double p, double[:, :, ::1] acc, int nthreads):
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs
    cdef Task t
    cdef int isf = real is float
    if outer == 0 or n == 0 or inner == 0:
        return
    _grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    for task in prange(outer * nch * ncb, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        t = _task(task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_nrm_run(<const void*>&x[o, r0, 0], min(R, n - r0), isf, p, &acc[o, ci, 0])
        else:
            fn_nrm_cols(<const void*>&x[o, r0, j0], min(R, n - r0), min(W, inner - j0), inner,
                        isf, p, &acc[o, ci, j0])
    if nch > 1:
        # serial: a few merges per slice, and a second parallel region would
        # cost a thread wake-up (milliseconds on a loaded machine)
        with nogil:
            for o in range(outer):
                fn_nrm_merge(&acc[o, 0, 0], nch, inner, p)


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


def apply(const real[:, :, ::1] x, real[:, :, ::1] y, const double[:, ::1] c,
          const double[:, ::1] den, double lo, double hi, bint lerp, int nthreads):
    """y = t or lerp(lo, hi, t), t = (x - c) / den, c and den per (outer, inner) slot."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    cdef Py_ssize_t R, nch, W, ncb, task, o, ci, r0, j0, cs, ntasks
    cdef Task t
    cdef int isf = real is float
    cdef double[::1] recips
    cdef const double* dp = &den[0, 0] if den.shape[0] * den.shape[1] else NULL
    if outer == 0 or n == 0 or inner == 0:
        return
    if real is float:
        # float32 multiplies by 1/den (see fn_ap)
        recips = np.empty(outer * inner)
        fn_recips(dp, outer * inner, &recips[0])
        dp = &recips[0]
    # streamed stores for an output much larger than the caches that is not
    # the input itself (in place, the lines are in cache already)
    cdef int stream = (outer * n * inner * <Py_ssize_t>sizeof(real) >= STREAM_BYTES
                       and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    _apply_grid(n, inner, sizeof(real), &R, &nch, &W, &ncb)
    cs = _per_grab(n, R, W, sizeof(real))
    ntasks = outer * nch * ncb
    for task in prange(ntasks, nogil=True, schedule="dynamic", chunksize=cs,
                       num_threads=nthreads):
        # last chunk first: the statistics pass that came before ended there,
        # so the first tasks here find their input still in cache
        t = _task(ntasks - 1 - task, nch, ncb, R, W)
        o, ci, r0, j0 = t.o, t.ci, t.r0, t.j0
        if inner == 1:
            fn_apply(<const void*>&x[o, r0, 0], <void*>&y[o, r0, 0], 1, min(R, n - r0), 0,
                     &c[o, 0], dp + o, 0, lo, hi, lerp, isf, stream)
        else:
            fn_apply(<const void*>&x[o, r0, j0], <void*>&y[o, r0, j0], min(R, n - r0),
                     min(W, inner - j0), inner, &c[o, j0], dp + o * inner + j0, 1, lo, hi,
                     lerp, isf, stream)


def row_limit(Py_ssize_t itemsize):
    """The longest slice that normalize_rows takes: one task, one chunk."""
    return FN_CHUNK_BYTES // itemsize


def normalize_rows(const real[:, :, ::1] x, real[:, :, ::1] y, double p, double eps,
                   int nthreads):
    """y = normalize_apply(x, norm_stats(x)) for (outer, n, 1) blocks with
    n <= row_limit: per row, the same norm (fn_nrm_run over one chunk, no
    merge), coefficient and apply calls as the two-phase path, while the row
    is in cache."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], o
    cdef int isf = real is float
    cdef double acc, c, den, d
    cdef int stream = (outer * n * <Py_ssize_t>sizeof(real) >= STREAM_BYTES
                       and <const void*>&x[0, 0, 0] != <void*>&y[0, 0, 0])
    if outer == 0 or n == 0:
        return
    for o in prange(outer, nogil=True, schedule="dynamic",
                    chunksize=max(<Py_ssize_t>1, FN_CHUNK_BYTES // (n * <Py_ssize_t>sizeof(real))),
                    num_threads=nthreads):
        # assigned here so that Cython makes them thread-private (the calls
        # below write them through pointers)
        acc = 0.0
        c = 0.0
        den = 0.0
        fn_nrm_run(<const void*>&x[o, 0, 0], n, isf, p, &acc)
        fn_coef_norm(&acc, 1, eps, &c, &den)
        d = den
        if real is float:
            fn_recips(&den, 1, &d)
        fn_apply(<const void*>&x[o, 0, 0], <void*>&y[o, 0, 0], 1, n, 0, &c, &d, 0, 0.0, 1.0,
                 0, isf, stream)
