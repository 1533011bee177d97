# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) loops along the last axis of a 2-D C-contiguous
array, OpenMP-parallel over rows.

The Python layer (``_softmax.py``) moves the working axis last, makes the
input C-contiguous and hands over (rows, n) views; these loops never see
strides, dtypes other than float/double, or Python objects, so they run
without the GIL.  ``nthreads`` is chosen by the caller (1 for small inputs:
waking the OpenMP team costs more than it saves there).
"""
from cython.parallel cimport prange
from libc.math cimport INFINITY, exp, expf, log

ctypedef fused real:
    float
    double


cdef inline real _exp(real v) noexcept nogil:
    if real is float:
        return expf(v)
    else:
        return exp(v)


cdef inline double _row_max(const real[:, ::1] x, Py_ssize_t i, bint negate) noexcept nogil:
    # NaN is skipped here on purpose: it reaches every output of its row
    # through the sum below, which is what torch gives.
    cdef Py_ssize_t j, n = x.shape[1]
    cdef double m = -INFINITY, v
    for j in range(n):
        v = -x[i, j] if negate else x[i, j]
        if v > m:
            m = v
    return m


cdef inline double _row_sumexp(const real[:, ::1] x, real[:, ::1] out, Py_ssize_t i,
                               bint negate, real m, bint store) noexcept nogil:
    # The sum is kept in double for both dtypes so that a float32 row of
    # 10^5 terms still sums to within an ULP or two.
    cdef Py_ssize_t j, n = x.shape[1]
    cdef double s = 0.0
    cdef real e
    for j in range(n):
        e = _exp((-x[i, j] if negate else x[i, j]) - m)
        if store:
            out[i, j] = e
        s += e
    return s


def softmax(const real[:, ::1] x, real[:, ::1] out, bint negate, int nthreads):
    """out[i] = softmax(x[i]) (or softmin with negate); the rows may alias."""
    cdef Py_ssize_t i, j, rows = x.shape[0], n = x.shape[1]
    cdef real m
    cdef double inv
    for i in prange(rows, nogil=True, schedule="static", num_threads=nthreads):
        m = <real>_row_max(x, i, negate)
        inv = 1.0 / _row_sumexp(x, out, i, negate, m, True)
        for j in range(n):
            out[i, j] = <real>(out[i, j] * inv)


def log_softmax(const real[:, ::1] x, real[:, ::1] out, bint negate, int nthreads):
    """out[i] = x[i] - max - log(sum exp(x[i] - max)); never log(softmax)."""
    cdef Py_ssize_t i, j, rows = x.shape[0], n = x.shape[1]
    cdef real m, lse
    for i in prange(rows, nogil=True, schedule="static", num_threads=nthreads):
        m = <real>_row_max(x, i, negate)
        lse = <real>log(_row_sumexp(x, out, i, negate, m, False))
        for j in range(n):
            out[i, j] = ((-x[i, j] if negate else x[i, j]) - m) - lse


def softmax_backward(const real[:, ::1] g, const real[:, ::1] y, real[:, ::1] out,
                     bint negate, int nthreads):
    """out[i] = y*(g - sum(g*y)), negated for softmin (d(-x)/dx = -1)."""
    cdef Py_ssize_t i, j, rows = g.shape[0], n = g.shape[1]
    cdef double s
    cdef real sg
    for i in prange(rows, nogil=True, schedule="static", num_threads=nthreads):
        s = 0.0
        for j in range(n):
            s = s + <double>g[i, j] * y[i, j]
        sg = <real>s
        for j in range(n):
            out[i, j] = -(y[i, j] * (g[i, j] - sg)) if negate else y[i, j] * (g[i, j] - sg)


def log_softmax_backward(const real[:, ::1] g, const real[:, ::1] y, real[:, ::1] out,
                         int nthreads):
    """out[i] = g - exp(y)*sum(g), y the log_softmax output."""
    cdef Py_ssize_t i, j, rows = g.shape[0], n = g.shape[1]
    cdef double s
    cdef real sg
    for i in prange(rows, nogil=True, schedule="static", num_threads=nthreads):
        s = 0.0
        for j in range(n):
            s = s + g[i, j]
        sg = <real>s
        for j in range(n):
            out[i, j] = g[i, j] - _exp(y[i, j]) * sg
