# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) loops for glu and maxout and their backward
passes, OpenMP over independent tasks with the GIL released.

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
from cython.parallel cimport prange

from fastact.cpu import isa as _isa
from libc.stdint cimport int64_t

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
    Py_ssize_t fg_check_idx(const int64_t* ix, Py_ssize_t ng, Py_ssize_t k, Py_ssize_t w,
                            Py_ssize_t stride, int64_t base) nogil

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


cdef void _glu_tasks(const real[:, ::1] g, const real[:, ::1] x, real[:, ::1] out,
                     Py_ssize_t L, bint backward, int nthreads) noexcept:
    """The task loop of both directions: chunks of FG_GLU_CHUNK elements of
    each half-row pair, OpenMP-parallel without the GIL."""
    cdef Py_ssize_t outer = x.shape[0]
    cdef Py_ssize_t nc = (L + FG_GLU_CHUNK - 1) // FG_GLU_CHUNK, k, o, i0, w
    if outer == 0 or L == 0:
        return
    for k in prange(outer * nc, nogil=True, schedule="static", num_threads=nthreads):
        o = k // nc
        i0 = (k % nc) * FG_GLU_CHUNK
        w = min(<Py_ssize_t>FG_GLU_CHUNK, L - i0)
        if backward:
            if real is float:
                fg_glu_bwd_f(&g[o, i0], &x[o, i0], &x[o, L + i0], &out[o, i0], &out[o, L + i0], w)
            else:
                fg_glu_bwd_d(&g[o, i0], &x[o, i0], &x[o, L + i0], &out[o, i0], &out[o, L + i0], w)
        elif real is float:
            fg_glu_f(&x[o, i0], &x[o, L + i0], &out[o, i0], w)
        else:
            fg_glu_d(&x[o, i0], &x[o, L + i0], &out[o, i0], w)


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


def maxout(const real[:, :, ::1] x, real[:, :, ::1] y, int64_t[:, :, ::1] idx,
           Py_ssize_t k, int nthreads):
    """y[o, g, t] = max_j x[o, g*k + j, t] (NaN wins, first on ties); idx (may be
    None) the argmax as a position along axis 1 of x."""
    cdef Py_ssize_t outer = y.shape[0], m = y.shape[1], inner = y.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, ng, t0, w
    cdef int64_t* ip
    cdef int with_idx = idx is not None
    if outer == 0 or m == 0 or inner == 0:
        return
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    for task in prange(outer * ngc * ncc, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        ng = min(G, m - g0)
        t0 = ci * cw
        w = min(cw, inner - t0)
        ip = &idx[o, g0, t0] if with_idx else NULL
        if inner == 1:
            if real is float:
                fg_max_row_f(&x[o, g0 * k, 0], &y[o, g0, 0], ip, ng, k, g0 * k)
            else:
                fg_max_row_d(&x[o, g0 * k, 0], &y[o, g0, 0], ip, ng, k, g0 * k)
        else:
            if real is float:
                fg_max_cols_f(&x[o, g0 * k, t0], &y[o, g0, t0], ip, ng, k, w, inner, g0 * k)
            else:
                fg_max_cols_d(&x[o, g0 * k, t0], &y[o, g0, t0], ip, ng, k, w, inner, g0 * k)


cdef Py_ssize_t[::1] _filled(Py_ssize_t n):
    import numpy as np
    return np.full(n, -1, dtype=np.intp)


def maxout_check_indices(const int64_t[:, :, ::1] idx, Py_ssize_t k, int nthreads):
    """The first (o, g, t) whose index is not in [g*k, g*k + k), or None."""
    cdef Py_ssize_t outer = idx.shape[0], m = idx.shape[1], inner = idx.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, t0, p, ntasks
    if outer == 0 or m == 0 or inner == 0:
        return None
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    ntasks = outer * ngc * ncc
    # one slot per task; the first bad task in order gives the first bad index
    cdef Py_ssize_t[::1] first = _filled(ntasks)
    for task in prange(ntasks, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        t0 = ci * cw
        first[task] = fg_check_idx(&idx[o, g0, t0], min(G, m - g0), k, min(cw, inner - t0),
                                   inner, g0 * k)
    for task in range(ntasks):
        p = first[task]
        if p >= 0:
            o = task // (ngc * ncc)
            r = task % (ngc * ncc)
            return (o, (r // ncc) * G + p // inner, (r % ncc) * cw + p % inner)
    return None


def maxout_backward(const real[:, :, ::1] go, const int64_t[:, :, ::1] idx,
                    real[:, :, ::1] out, Py_ssize_t k, int nthreads):
    """out[o, i, t] = go[o, i // k, t] if idx[o, i // k, t] == i else 0."""
    cdef Py_ssize_t outer = go.shape[0], m = go.shape[1], inner = go.shape[2]
    cdef Py_ssize_t G, ngc, cw, ncc, task, o, r, gi, ci, g0, t0
    if outer == 0 or m == 0 or inner == 0:
        return
    _plan(m, k, inner, &G, &ngc, &cw, &ncc)
    for task in prange(outer * ngc * ncc, nogil=True, schedule="static", num_threads=nthreads):
        o = task // (ngc * ncc)
        r = task % (ngc * ncc)
        gi = r // ncc
        ci = r % ncc
        g0 = gi * G
        t0 = ci * cw
        if real is float:
            fg_max_bwd_f(&go[o, g0, t0], &idx[o, g0, t0], &out[o, g0 * k, t0], min(G, m - g0),
                         k, min(cw, inner - t0), inner, g0 * k)
        else:
            fg_max_bwd_d(&go[o, g0, t0], &idx[o, g0, t0], &out[o, g0 * k, t0], min(G, m - g0),
                         k, min(cw, inner - t0), inner, g0 * k)
