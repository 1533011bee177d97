# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) softmax-family loops along an axis, OpenMP
over independent rows or column blocks.

The Python layer (``_softmax.py``) hands over C-contiguous (outer, n, inner)
blocks: the axis of length n sits between `outer` and `inner`, so the last
axis is inner == 1 and a middle axis needs no transposed copy.  The row math
lives in ``_rows.h`` (C, so that gcc vectorizes its exp); these loops only
cut the work into tasks -- one per (outer index, block of columns)
-- and run them without the GIL.  A block is sized so that its n x block
elements stay in L2 through the three passes.
"""
from cython.parallel cimport prange

cdef extern from "_rows.h" nogil:
    const int FA_BLOCK
    void fa_forward_f(const float* x, float* y, Py_ssize_t n, Py_ssize_t width,
                      Py_ssize_t stride, int negate, int mode)
    void fa_forward_d(const double* x, double* y, Py_ssize_t n, Py_ssize_t width,
                      Py_ssize_t stride, int negate, int mode)
    void fa_backward_f(const float* g, const float* y, float* out, Py_ssize_t n,
                       Py_ssize_t width, Py_ssize_t stride, int negate, int mode)
    void fa_backward_d(const double* g, const double* y, double* out, Py_ssize_t n,
                       Py_ssize_t width, Py_ssize_t stride, int negate, int mode)

ctypedef fused real:
    float
    double

SOFTMAX, LOG_SOFTMAX = 0, 1


# a task's columns (n x block elements) should stay in L2 across the passes
cdef Py_ssize_t TASK_BYTES = 1 << 17


cdef inline Py_ssize_t _block(Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    cdef Py_ssize_t b = TASK_BYTES // (n * itemsize) // 8 * 8
    return max(<Py_ssize_t>8, min(<Py_ssize_t>FA_BLOCK, b))


def tasks(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    """How many independent tasks a (outer, n, inner) call splits into."""
    if inner == 1:
        return outer
    cdef Py_ssize_t b = _block(n, itemsize)
    return outer * ((inner + b - 1) // b)


def forward(const real[:, :, ::1] x, real[:, :, ::1] out, bint negate, int mode, int nthreads):
    """out = softmax (mode 0) or log_softmax (mode 1) of x along axis 1; may alias."""
    cdef Py_ssize_t outer = x.shape[0], n = x.shape[1], inner = x.shape[2]
    if outer == 0 or n == 0 or inner == 0:
        return
    cdef Py_ssize_t blk = _block(n, sizeof(real)), nb = (inner + blk - 1) // blk, k, o, t0, w
    for k in prange(outer * nb, nogil=True, schedule="static", num_threads=nthreads):
        o = k // nb
        t0 = (k % nb) * blk
        w = min(blk, inner - t0)
        if real is float:
            fa_forward_f(&x[o, 0, t0], &out[o, 0, t0], n, w, inner, negate, mode)
        else:
            fa_forward_d(&x[o, 0, t0], &out[o, 0, t0], n, w, inner, negate, mode)


def backward(const real[:, :, ::1] g, const real[:, :, ::1] y, real[:, :, ::1] out,
             bint negate, int mode, int nthreads):
    """out = y*(g - sum(g*y)) (mode 0, negated for softmin) or g - exp(y)*sum(g) (mode 1)."""
    cdef Py_ssize_t outer = g.shape[0], n = g.shape[1], inner = g.shape[2]
    if outer == 0 or n == 0 or inner == 0:
        return
    cdef Py_ssize_t blk = _block(n, sizeof(real)), nb = (inner + blk - 1) // blk, k, o, t0, w
    for k in prange(outer * nb, nogil=True, schedule="static", num_threads=nthreads):
        o = k // nb
        t0 = (k % nb) * blk
        w = min(blk, inner - t0)
        if real is float:
            fa_backward_f(&g[o, 0, t0], &y[o, 0, t0], &out[o, 0, t0], n, w, inner, negate, mode)
        else:
            fa_backward_d(&g[o, 0, t0], &y[o, 0, t0], &out[o, 0, t0], n, w, inner, negate, mode)
