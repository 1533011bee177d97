# The thread pool's C interface (src/pool.h), declared once for the Cython
# kernels (axis, grouped, preprocessing); ufunc.pyx owns the pool itself.
cdef extern from "pool.h" nogil:
    ctypedef void (*fa_task_fn)(void* ctx, Py_ssize_t begin, Py_ssize_t end) noexcept nogil
    ctypedef struct fa_cost:
        double ns
        int samples
    int fa_pool_import() except -1
    void fa_run(fa_cost* cost, double units, fa_task_fn fn, void* ctx, Py_ssize_t n_tasks,
                Py_ssize_t grain, int max_threads)


# Tasks per grab from the pool's shared counter: about GRAB_BYTES of work
# each, and at least eight grabs per thread (a late thread's share is taken
# by the others).  One short task per grab put an atomic add on a cache
# line that both threads write, once per task: a 16384-row maxout index
# check, one 2 KiB row a task, ran 2.5x slower on two threads than on one.
# Which task writes which output is fixed by the shape, so the grab changes
# no result.
cdef enum:
    GRAB_BYTES = 1 << 16

cdef inline Py_ssize_t fa_grab(Py_ssize_t task_bytes, Py_ssize_t n_tasks,
                               int n_threads) noexcept nogil:
    cdef Py_ssize_t by_size = GRAB_BYTES // (task_bytes if task_bytes > 0 else 1)
    cdef Py_ssize_t by_count = n_tasks // (8 * (n_threads if n_threads > 1 else 1))
    cdef Py_ssize_t g = by_size if by_size < by_count else by_count
    return g if g > 1 else 1
