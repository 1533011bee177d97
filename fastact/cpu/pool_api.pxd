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
