# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fused-type (float32/float64) softmax-family loops along an axis, on
fastact's thread pool (src/pool.h) over independent rows or column blocks.

The Python layer (``fastact/axis.py``) hands over C-contiguous (outer, n, inner)
blocks: the axis of length n sits between `outer` and `inner`, so the last
axis is inner == 1 and a middle axis needs no transposed copy.  The row math
lives in ``src/rows.h`` (C, so that gcc vectorizes its exp); these loops only
cut the work into tasks -- one per (outer index, block of columns)
-- and run them without the GIL.  A block is sized so that its n x block
elements stay in L2 through the three passes.
"""
cimport numpy as cnp

from fastact.cpu import isa as _isa
from fastact.cpu import threads as _threads
from fastact.cpu import ufunc as _ufunc

cnp.import_array()

from fastact.cpu.pool_api cimport fa_cost, fa_grab, fa_pool_import, fa_run, fa_task_fn

fa_pool_import()

cdef extern from "rows.h" nogil:
    const int FA_BLOCK
    void fa_set_isa(int level)
    int fa_isa_level()
    void fa_stream_fence()
    void fa_forward_f(const float* x, float* y, Py_ssize_t n, Py_ssize_t width,
                      Py_ssize_t stride, int negate, int mode, int stream)
    void fa_forward_d(const double* x, double* y, Py_ssize_t n, Py_ssize_t width,
                      Py_ssize_t stride, int negate, int mode, int stream)
    void fa_forward_rows_f(const float* x, float* y, Py_ssize_t rows, Py_ssize_t n, int negate,
                           int mode, int stream)
    void fa_backward_rows_f(const float* g, const float* y, float* out, Py_ssize_t rows,
                            Py_ssize_t n, int negate, int mode, int stream)
    void fa_forward_rows_d(const double* x, double* y, Py_ssize_t rows, Py_ssize_t n, int negate,
                           int mode, int stream)
    void fa_backward_rows_d(const double* g, const double* y, double* out, Py_ssize_t rows,
                            Py_ssize_t n, int negate, int mode, int stream)
    void fa_backward_f(const float* g, const float* y, float* out, Py_ssize_t n,
                       Py_ssize_t width, Py_ssize_t stride, int negate, int mode, int stream)
    void fa_backward_d(const double* g, const double* y, double* out, Py_ssize_t n,
                       Py_ssize_t width, Py_ssize_t stride, int negate, int mode, int stream)

SOFTMAX, LOG_SOFTMAX = 0, 1

# the instruction-set path of the row kernels, chosen once (cpu/isa.py)
fa_set_isa(_isa.level())


def isa_path():
    """The instruction-set path this extension's kernels run: 'avx512',
    'avx2', 'baseline', or 'default' (a build with one plain copy)."""
    return _isa.PATH_NAMES.get(fa_isa_level(), "default")


# A task's columns (n x block elements) are read in two or three passes.
# Their runs along each row must be long enough to stream: 32 columns
# (128 B runs, the task within L2) were far slower than 128 (512 B runs, the
# task in L3) along axis 0 of a tall float32 array, with 64 and 256 in
# between.  With the rows prefetched (src/rows.h, FA_COL_AHEAD) 256 gained
# little forward and lost as much backward: kept at 128.
cdef Py_ssize_t TASK_BYTES = 1 << 19


cdef inline Py_ssize_t _block(Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    cdef Py_ssize_t b = TASK_BYTES // (n * itemsize) // 8 * 8
    return max(<Py_ssize_t>8, min(<Py_ssize_t>FA_BLOCK, b))


def tasks(Py_ssize_t outer, Py_ssize_t n, Py_ssize_t inner, Py_ssize_t itemsize):
    """How many independent tasks a (outer, n, inner) call splits into."""
    if inner == 1:
        return outer
    cdef Py_ssize_t b = _block(n, itemsize)
    return outer * ((inner + b - 1) // b)


cdef void _task(int kind, char* a, char* b, char* c, Py_ssize_t n, Py_ssize_t w,
                Py_ssize_t inner, int negate, int mode, int stream) noexcept nogil:
    if kind == 0:
        fa_forward_f(<const float*>a, <float*>c, n, w, inner, negate, mode, stream)
    elif kind == 1:
        fa_forward_d(<const double*>a, <double*>c, n, w, inner, negate, mode, stream)
    elif kind == 2:
        fa_backward_f(<const float*>a, <const float*>b, <float*>c, n, w, inner, negate, mode,
                      stream)
    else:
        fa_backward_d(<const double*>a, <const double*>b, <double*>c, n, w, inner, negate, mode,
                      stream)


cdef int _kind(cnp.ndarray out, arrays) except -1:
    # plain array checks instead of typed memoryviews: acquiring those cost
    # ~1 us each, a third of a 1K call; a bad array must still not crash
    cdef int t = cnp.PyArray_TYPE(out)
    cdef cnp.ndarray a
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"fastact.cpu.axis: dtype {out.dtype} is not float32 or float64")
    shape = (<object>out).shape
    for a in arrays + [out]:
        if (cnp.PyArray_TYPE(a) != t or cnp.PyArray_NDIM(a) != 3
                or (<object>a).shape != shape or not cnp.PyArray_IS_C_CONTIGUOUS(a)):
            raise ValueError("fastact.cpu.axis: arrays must be C-contiguous (outer, n, inner) blocks "
                             "of one shape and dtype")
    if not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError("fastact.cpu.axis: out is read-only")
    return 0 if t == cnp.NPY_FLOAT32 else 1


ctypedef struct Job:
    int kind, negate, mode, stream
    char* a
    char* b
    char* c
    Py_ssize_t n, inner, blk, nb, size


cdef void _tasks(void* ctx, Py_ssize_t t0, Py_ssize_t t1) noexcept nogil:
    cdef Job* j = <Job*>ctx
    cdef Py_ssize_t k, c0, off
    if j.inner == 1:
        # rows: one call for the range (the float32 forward overlaps each
        # row's max pass with the previous row's last pass)
        off = t0 * j.n * j.size
        if j.kind == 0:
            fa_forward_rows_f(<const float*>(j.a + off), <float*>(j.c + off), t1 - t0, j.n,
                              j.negate, j.mode, j.stream)
        elif j.kind == 1:
            fa_forward_rows_d(<const double*>(j.a + off), <double*>(j.c + off), t1 - t0, j.n,
                              j.negate, j.mode, j.stream)
        elif j.kind == 2:
            fa_backward_rows_f(<const float*>(j.a + off), <const float*>(j.b + off),
                               <float*>(j.c + off), t1 - t0, j.n, j.negate, j.mode, j.stream)
        else:
            fa_backward_rows_d(<const double*>(j.a + off), <const double*>(j.b + off),
                               <double*>(j.c + off), t1 - t0, j.n, j.negate, j.mode, j.stream)
        if j.stream:
            fa_stream_fence()
        return
    for k in range(t0, t1):
        c0 = (k % j.nb) * j.blk
        off = ((k // j.nb) * j.n * j.inner + c0) * j.size
        _task(j.kind, j.a + off, j.b + off, j.c + off, j.n, min(j.blk, j.inner - c0), j.inner,
              j.negate, j.mode, j.stream)
    if j.stream:
        # once per range: its streaming stores are visible before the pool
        # hands the results back
        fa_stream_fence()


# the cost model's measured ns per element, per kernel (forward/backward x
# dtype x mode)
cdef fa_cost _costs[8]


cdef _run(int kind, cnp.ndarray a, cnp.ndarray b, cnp.ndarray out, bint negate, int mode,
          int nthreads, bint stream):
    _run_blocks(kind, a, b, out, out.shape[0], out.shape[1], out.shape[2], negate, mode,
                nthreads, stream)


cdef _run_blocks(int kind, cnp.ndarray a, cnp.ndarray b, cnp.ndarray out, Py_ssize_t outer,
                 Py_ssize_t n, Py_ssize_t inner, bint negate, int mode, int nthreads,
                 bint stream):
    # (the arrays: C-contiguous, of one dtype, `outer` blocks of n x inner)
    cdef Job j
    j.n, j.inner = n, inner
    if outer == 0 or j.n == 0 or j.inner == 0:
        return
    j.kind, j.negate, j.mode, j.stream = kind, negate, mode, stream
    j.size = cnp.PyArray_ITEMSIZE(out)
    j.a = <char*>cnp.PyArray_DATA(a)
    j.b = <char*>cnp.PyArray_DATA(b)
    j.c = <char*>cnp.PyArray_DATA(out)
    j.blk = _block(j.n, j.size)
    j.nb = (j.inner + j.blk - 1) // j.blk
    cdef Py_ssize_t ntasks = outer * j.nb
    cdef Py_ssize_t grab = fa_grab(j.n * min(j.blk, j.inner) * j.size, ntasks, nthreads)
    with nogil:
        fa_run(&_costs[kind * 2 + (mode & 1)], <double>(outer * j.n * j.inner), _tasks, &j,
               ntasks, grab, nthreads)


def forward(cnp.ndarray x, cnp.ndarray out, bint negate, int mode, int nthreads,
            bint stream=False):
    """out = softmax (mode 0) or log_softmax (mode 1) of x along axis 1; may alias.
    `stream`: write rows along the last axis with streaming stores (for
    outputs that will not stay in cache)."""
    _run(_kind(out, [x]), x, x, out, negate, mode, nthreads, stream)


def backward(cnp.ndarray g, cnp.ndarray y, cnp.ndarray out, bint negate, int mode,
             int nthreads, bint stream=False):
    """out = y*(g - sum(g*y)) (mode 0, negated for softmin) or g - exp(y)*sum(g) (mode 1).
    `stream`: write rows along the last axis with streaming stores (for
    outputs that will not stay in cache)."""
    _run(2 + _kind(out, [g, y]), g, y, out, negate, mode, nthreads, stream)


# ---------------------------------------------------------------- last axis
# The public layer's common call (fastact/axis.py), checked here in C: the
# general path's checks in Python (flags objects, np.may_share_memory, the
# reshapes to blocks, the thread and stream look-ups) cost a few
# microseconds, a tenth of a 64K call.

cdef bint _plain(object a, int t) noexcept:
    """a is an ndarray (not a subclass) of type t, native byte order, C-contiguous."""
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == t
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a)
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


cdef bint _apart(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Two C-contiguous arrays of one size are the same memory, or share none."""
    cdef char* p = <char*>cnp.PyArray_DATA(a)
    cdef char* q = <char*>cnp.PyArray_DATA(b)
    cdef Py_ssize_t nb = cnp.PyArray_NBYTES(a)
    return p == q or p + nb <= q or q + nb <= p


cdef object _last_axis(int kind, object g, object x, object out, bint negate, int mode):
    # the result array, or None where the call is not the common one: float32
    # or float64 native C-contiguous ndarrays of one shape with at least one
    # element, out absent or writeable and either an input itself (out may
    # be x; for the backward, y or grad_output) or apart from both
    cdef cnp.ndarray a, b, o
    cdef int t
    if type(x) is not cnp.ndarray:
        return None
    t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64) or not _plain(x, t):
        return None
    a = <cnp.ndarray>x
    if cnp.PyArray_NDIM(a) == 0 or cnp.PyArray_SIZE(a) == 0:
        return None
    b = a
    if kind >= 2:
        if not _plain(g, t) or not cnp.PyArray_SAMESHAPE(<cnp.ndarray>g, a):
            return None
        b = <cnp.ndarray>g
    if out is None:
        o = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(a), cnp.PyArray_DIMS(a), t, 0)
    else:
        if (not _plain(out, t) or not cnp.PyArray_SAMESHAPE(<cnp.ndarray>out, a)
                or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            return None
        o = <cnp.ndarray>out
        if not _apart(o, a) or not _apart(o, b):
            return None
    cdef Py_ssize_t n = cnp.PyArray_DIM(a, cnp.PyArray_NDIM(a) - 1)
    cdef Py_ssize_t rows = cnp.PyArray_SIZE(a) // n
    cdef int nt = max(1, min(<int>_threads._num_threads, rows))  # threads.threads_for
    cdef bint stream = _ufunc.streams(cnp.PyArray_NBYTES(o) // nt)
    if kind >= 2:
        _run_blocks(kind + (t == cnp.NPY_FLOAT64), b, a, o, rows, n, 1, negate, mode, nt,
                    stream)
    else:
        _run_blocks(kind + (t == cnp.NPY_FLOAT64), a, a, o, rows, n, 1, negate, mode, nt,
                    stream)
    return o


def forward_last(x, out, bint negate, int mode):
    """softmax (mode 0, negated: softmin) or log_softmax (mode 1) of x along its
    last axis, into out (None: a new array), which is returned; None, with
    nothing done, where the arrays are not the common case (see _last_axis)
    and the caller must take its general path."""
    return _last_axis(0, None, x, out, negate, mode)


def backward_last(g, y, out, bint negate, int mode):
    """backward (as `backward`) of grad_output g and output y along their
    last axis, into out (None: a new array), which is returned; None, with
    nothing done, where the arrays are not the common case."""
    return _last_axis(2, g, y, out, negate, mode)
