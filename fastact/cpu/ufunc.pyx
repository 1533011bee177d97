# cython: language_level=3
"""Make a NumPy ufunc from C loop pointers (numba cfuncs, cached on disk).

numba's @vectorize rebuilds its ufunc wrapper with LLVM in every process
(~50 ms a ufunc on this machine) even when the kernel itself is cached; a
cfunc loop is cached whole, so a warm first call only loads object code.
"""
cimport cython
from cpython.pycapsule cimport PyCapsule_New
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
cimport numpy as cnp
from numpy cimport (PyUFuncGenericFunction, PyUFunc_FromFuncAndData, PyUFunc_None,
                   PyUFunc_RegisterLoopForType)

cnp.import_array()
cnp.import_ufunc()

cdef extern from "<fenv.h>" nogil:
    int feclearexcept(int excepts)
    int fetestexcept(int excepts)
    int FE_INVALID
    int FE_OVERFLOW
    int FE_UNDERFLOW
    int FE_DIVBYZERO

ctypedef void (*loop_t)(char**, cnp.npy_intp*, cnp.npy_intp*, void*) noexcept nogil

# this module owns the process's thread pool (src/pool.h); the other
# extensions reach it through the _pool_api capsule
cdef extern from *:
    """
    #define FA_POOL_IMPL
    static inline void fa_atomic_inc(long *p) { __atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }
    static inline long fa_atomic_next(long *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
    """
    void fa_atomic_inc(long* p) nogil
    long fa_atomic_next(long* p) nogil

cdef extern from "pool.h" nogil:
    ctypedef void (*fa_task_fn)(void* ctx, Py_ssize_t begin, Py_ssize_t end) noexcept nogil
    ctypedef struct fa_cost:
        double ns
        int samples
        double units
    ctypedef struct fa_pool_api:
        pass
    const fa_pool_api* fa_pool_ptr
    int fa_max_threads
    int fa_force_split
    void fa_parallel_for(fa_task_fn fn, void* ctx, Py_ssize_t n_tasks, Py_ssize_t grain,
                         int n_threads)
    int fa_threads_for_impl(fa_cost* cost, double units, int max_threads)
    int fa_worth_timing(const fa_cost* cost, double units)
    double fa_now_ns_impl()
    void fa_record_impl(fa_cost* cost, double units, double ns)
    void fa_record_split_impl(fa_cost* cost, double units, int k, double ns)
    double fa_task_ns_impl()
    double fa_get_rt()
    void fa_note_rt_as(double rt, int measured)
    void fa_learn(int warm, int joined, double join_ns, double took)
    struct fa_pool_state_s:
        int n_workers
        double rt_best
        double rt_age
        long jobs
        long worker_tasks
        long calibrations
        long lonely
        double join_ns
    fa_pool_state_s fa_pool_state


cdef extern from "stream.h" nogil:
    int FA_HAVE_STREAM
    void fa_stream_copy(char* dst, const char* src, size_t nbytes)
    void fa_stream_fence()


ctypedef struct LoopInfo:
    loop_t fn           # the numba loop
    int nargs           # inputs + the output
    int itemsize        # of the output
    int stream          # large outputs are streamed (_streamed, set_streaming)
    fa_cost cost        # measured single-thread ns per element (the pool's cost model)
    int n_arrays        # array inputs (the ones after them are parameters)
    int two             # strided calls have two ways through the loop (_calibrate)
    signed char elements[2]  # the way a strided call takes, by whether its
                             # output is strided: 1 the element loop, 0 the
                             # blocks, -1 not measured yet


# Calls writing at least this many bytes (the whole call, not a thread's
# chunk) have their loops write with streaming stores (cpu/nontemporal.py).
# The default (16 MiB, a large share of a common L3) leaves alone anything
# whose result may still be read from cache.  Tests lower it to reach the
# path.
cdef Py_ssize_t _stream_min_bytes = 16 << 20
cdef enum:
    MAX_ARGS = 16
    ALIGN = 16                      # split calls are cut every ALIGN elements


def set_stream_threshold(Py_ssize_t nbytes):
    """Use streaming stores for loop calls writing at least `nbytes`
    (returns the old value; -1 turns them off)."""
    global _stream_min_bytes
    old = _stream_min_bytes
    _stream_min_bytes = nbytes
    return old


def stream_threshold():
    return _stream_min_bytes


def streams(Py_ssize_t nbytes):
    """Whether a call writing `nbytes` (one thread's share, where the call
    is split by rows) streams its output: the elementwise loops' rule, for
    the kernels outside them."""
    return 0 <= _stream_min_bytes <= nbytes


def set_streaming(cnp.ufunc uf, bint on):
    """Let the loops of `uf` (made by make_ufunc) stream large outputs (on
    for every ufunc make_ufunc makes; off for tests and comparisons)."""
    cdef int i
    for i in range(uf.ntypes):
        if uf.functions[i] != <PyUFuncGenericFunction>_quiet_loop:
            raise ValueError(f"{uf.__name__} was not made by make_ufunc")
    for i in range(uf.ntypes):
        (<LoopInfo*>uf.data[i]).stream = on


def splits_itself(cnp.ufunc uf):
    """Whether `uf`'s loops split a long call over the C pool themselves
    (ufuncs made by make_ufunc; not the bfloat16 companions)."""
    return uf.ntypes > 0 and uf.functions[0] == <PyUFuncGenericFunction>_quiet_loop


def streaming(cnp.ufunc uf):
    """Whether set_streaming turned streaming on for `uf`."""
    return bool((<LoopInfo*>uf.data[0]).stream)


# A loop's `data` points to an int of flags (cpu/loopflags.py, the same
# numbers); _FLAGS[f] holds f
cdef enum:
    STREAM = 1
    ELEMENTS = 2
cdef int _FLAGS[4]
_FLAGS[0], _FLAGS[1], _FLAGS[2], _FLAGS[3] = 0, 1, 2, 3
LOOP_FLAGS = {"STREAM": STREAM, "ELEMENTS": ELEMENTS}


@cython.cdivision(True)
cdef void _streamed(LoopInfo* info, char** args, cnp.npy_intp n, cnp.npy_intp* steps) noexcept nogil:
    """The loop with streaming stores from the output's first 64-byte
    boundary on (the loop streams only from such a boundary)."""
    cdef char* a[MAX_ARGS]
    cdef int k, no = info.nargs - 1
    cdef cnp.npy_intp m = (<cnp.npy_intp>((-<size_t>args[no]) & 63)) // info.itemsize
    if m > n:
        m = n
    if m:
        info.fn(args, &m, steps, NULL)
    m = n - m
    if m:
        for k in range(info.nargs):
            a[k] = args[k] + (n - m) * steps[k]
        info.fn(a, &m, steps, <void*>&_FLAGS[STREAM])
    fa_stream_fence()


cdef inline bint _streams(LoopInfo* info, char** args, cnp.npy_intp n,
                          cnp.npy_intp* steps) noexcept nogil:
    # decided on the whole call, so that the split does not change it
    return (FA_HAVE_STREAM and info.stream and _stream_min_bytes >= 0
            and n * info.itemsize >= _stream_min_bytes
            and steps[info.nargs - 1] == info.itemsize
            and (<size_t>args[info.nargs - 1]) % info.itemsize == 0)


cdef inline void _run(LoopInfo* info, char** args, cnp.npy_intp n, cnp.npy_intp* steps,
                      int flags) noexcept nogil:
    if flags & STREAM:
        _streamed(info, args, n, steps)
    else:
        info.fn(args, &n, steps, <void*>&_FLAGS[flags])


cdef inline int _strided_case(LoopInfo* info, cnp.npy_intp* steps) noexcept nogil:
    """For a call with scalar parameters and some array or the output
    strided: 1 if the output is, else 0; otherwise -1 (contiguous, or with a
    parameter array, which takes the element loop anyway)."""
    cdef int k, out = info.nargs - 1
    cdef bint strided = steps[out] != info.itemsize
    for k in range(info.n_arrays, out):
        if steps[k] != 0:
            return -1
    for k in range(info.n_arrays):
        strided |= steps[k] != info.itemsize
    return (1 if steps[out] != info.itemsize else 0) if strided else -1


cdef enum:
    CAL_N = 4096        # elements of a calibration call (in L1/L2 on the CPUs seen)
    CAL_ROUNDS = 5      # the faster way's best of these


cdef void _calibrate(LoopInfo* info, int case) noexcept nogil:
    """Time both ways of a strided call through the loop (the element loop
    and the blocks, cpu/activations.py _strided) on CAL_N elements with
    every array input at a step of two (and the output too where `case` is
    1), the best of CAL_ROUNDS interleaved rounds each, and keep the faster
    for the loop's strided calls.  Both give the same bits, so the choice
    is one of speed only; it is made once per loop and process, on the
    first strided call (0.03 ms for relu, 0.5 for float64 mish' on Zen 4)."""
    cdef int k, m, r, out = info.nargs - 1
    cdef Py_ssize_t j, isz = info.itemsize
    cdef cnp.npy_intp n = CAL_N
    cdef char* args[MAX_ARGS]
    cdef cnp.npy_intp steps[MAX_ARGS]
    cdef double best[2]
    cdef double t0, t, v
    cdef double one = 1.0
    cdef char* buf = <char*>malloc((info.n_arrays + 1) * 2 * CAL_N * isz)
    if buf == NULL:
        info.elements[case] = 0
        return
    cdef unsigned long long h = 0x9E3779B97F4A7C15ULL
    for k in range(info.n_arrays):
        args[k] = buf + k * 2 * CAL_N * isz
        steps[k] = 2 * isz
        for j in range(2 * CAL_N):
            # uniform in [-4, 4] (the kernels' busy range), from xorshift64:
            # a scalar loop's branches must not find a pattern here that a
            # user's data would not have
            h ^= h << 13
            h ^= h >> 7
            h ^= h << 17
            v = <double>(h >> 11) * (8.0 / 9007199254740992.0) - 4.0
            if isz == 4:
                (<float*>args[k])[j] = <float>v
            else:
                (<double*>args[k])[j] = v
    for k in range(info.n_arrays, out):
        args[k] = <char*>&one
        steps[k] = 0
    args[out] = buf + info.n_arrays * 2 * CAL_N * isz
    steps[out] = (2 if case else 1) * isz
    best[0] = best[1] = 1e300
    for r in range(CAL_ROUNDS):
        for m in range(2):
            t0 = fa_now_ns_impl()
            info.fn(args, &n, steps, <void*>&_FLAGS[ELEMENTS if m else 0])
            t = fa_now_ns_impl() - t0
            if t < best[m]:
                best[m] = t
    free(buf)
    info.elements[case] = 1 if best[1] < best[0] else 0


ctypedef struct Split:
    LoopInfo* info
    char** args
    cnp.npy_intp* steps
    cnp.npy_intp n, chunk
    int flags


@cython.cdivision(True)
cdef void _chunks(void* ctx, Py_ssize_t b, Py_ssize_t e) noexcept nogil:
    """Tasks b..e of a split call: chunk t is elements [t*chunk, (t+1)*chunk)."""
    cdef Split* s = <Split*>ctx
    cdef char* a[MAX_ARGS]
    cdef cnp.npy_intp i0, m
    cdef Py_ssize_t t
    cdef int k
    for t in range(b, e):
        i0 = t * s.chunk
        m = min(s.chunk, s.n - i0)
        for k in range(s.info.nargs):
            a[k] = s.args[k] + i0 * s.steps[k]
        _run(s.info, a, m, s.steps, s.flags)


@cython.cdivision(True)
cdef void _split(LoopInfo* info, char** args, cnp.npy_intp n, cnp.npy_intp* steps,
                 int k, int flags) noexcept nogil:
    """The call on k threads, in chunks that start ALIGN elements apart (64-byte
    boundaries of a contiguous array: every element is computed by the same
    code at the same alignment whatever the split, and no cache line is
    written by two threads)."""
    cdef Split s
    cdef double per = info.cost.ns if info.cost.samples else 0.0
    # chunks of about fa_task_ns of work each, at least one per thread
    cdef cnp.npy_intp tasks = <cnp.npy_intp>(n * per / fa_task_ns_impl()) if per > 0 else k
    tasks = max(<cnp.npy_intp>k, min(tasks, <cnp.npy_intp>16 * k))
    s.info, s.args, s.steps, s.n, s.flags = info, args, steps, n, flags
    s.chunk = (n + tasks - 1) // tasks
    s.chunk = (s.chunk + ALIGN - 1) // ALIGN * ALIGN
    fa_parallel_for(_chunks, &s, (n + s.chunk - 1) // s.chunk, 1, k)


cdef void _quiet_loop(char** args, cnp.npy_intp* dims, cnp.npy_intp* steps, void* data) noexcept nogil:
    """Run the numba loop in `data`, on the thread pool when the cost model
    says so, without leaving floating-point flags behind.

    The kernels are branch-free: both sides of a select are computed and one
    is kept, so the discarded side may overflow, underflow or compare a NaN
    (LLVM's `x <= y` can be a signalling compare).  NumPy would turn those
    flags into spurious RuntimeWarnings.  The flags carry no information
    about the result (NaN only comes from NaN input, +-inf only where the
    true value is beyond the float range, as in torch), so the ones this loop
    raised are dropped; flags set before the loop are left alone (workers'
    flags stay in the workers).

    NumPy hands a contiguous (or 1-D strided) call over in one piece, so the
    split happens here, without the GIL; calls NumPy cuts into many rows
    (strided 2-D views) are split by cpu/pool.py instead.
    """
    cdef int mask = FE_INVALID | FE_OVERFLOW | FE_UNDERFLOW | FE_DIVBYZERO
    cdef int before = fetestexcept(mask)
    cdef LoopInfo* info = <LoopInfo*>data
    cdef cnp.npy_intp n = dims[0]
    cdef int flags = STREAM if _streams(info, args, n, steps) else 0
    cdef int case = _strided_case(info, steps) if info.two else -1
    if case >= 0:  # (a strided call never streams: only the contiguous path can)
        if info.elements[case] < 0:
            _calibrate(info, case)
        flags = ELEMENTS if info.elements[case] > 0 else 0
    cdef int k = 1
    cdef double t0
    if fa_max_threads > 1 and n >= 2 * ALIGN:
        k = fa_threads_for_impl(&info.cost, <double>n, fa_max_threads)
    if k > 1:
        t0 = fa_now_ns_impl()
        _split(info, args, n, steps, k, flags)
        fa_record_split_impl(&info.cost, <double>n, k, fa_now_ns_impl() - t0)
    elif fa_worth_timing(&info.cost, <double>n):
        t0 = fa_now_ns_impl()
        _run(info, args, n, steps, flags)
        fa_record_impl(&info.cost, <double>n, fa_now_ns_impl() - t0)
    else:
        _run(info, args, n, steps, flags)
    feclearexcept(mask & ~before)


# --------------------------------------------------------------------------
# 2-D calls whose operands are laid out in both orders (x.T into a C-ordered
# out): NumPy would hand the loop one row at a time, reading the transposed
# operand a column at a time, one element per cache line and page.  Here the
# call runs in tiles of R rows by TILE_C columns: a transposed operand's tile
# is gathered into a buffer row by row of its own array (R elements of one
# line each), and the loop runs on each of the tile's rows, contiguous on
# every side.  The same loop computes every element, so the bits are those of
# any other call.

cdef enum:
    TILE_C = 512        # columns of a tile: a float64 tile's gathered rows stay in L1
TILE_COLUMNS = TILE_C


ctypedef struct Tiled:
    LoopInfo* info
    char* base[MAX_ARGS]        # element (i, j) of argument k: base + i si + j sj
    cnp.npy_intp si[MAX_ARGS]   # (parameters: base points at a double)
    cnp.npy_intp sj[MAX_ARGS]
    cnp.npy_intp rows, cols, R
    int n_gather


cdef extern from "transpose.h" nogil:
    void fa_gather_f32(float* dst, const char* src, Py_ssize_t sj, Py_ssize_t nr,
                       Py_ssize_t m, Py_ssize_t ldd)
    void fa_gather_f64(double* dst, const char* src, Py_ssize_t sj, Py_ssize_t nr,
                       Py_ssize_t m, Py_ssize_t ldd)


cdef void _gather(char* dst, const char* src, cnp.npy_intp sj, cnp.npy_intp nr,
                  cnp.npy_intp m, int isz) noexcept nogil:
    """dst[r, c] = the element at src + r isz + c sj for a tile of nr rows and
    m columns (dst rows TILE_C apart): src's columns are the rows of a
    transposed operand's own C-ordered array."""
    if isz == 4:
        fa_gather_f32(<float*>dst, src, sj, nr, m, TILE_C)
    else:
        fa_gather_f64(<double*>dst, src, sj, nr, m, TILE_C)


@cython.cdivision(True)
cdef void _tiled_rows(void* ctx, Py_ssize_t b, Py_ssize_t e) noexcept nogil:
    """Row blocks b..e of a tiled call (R rows each)."""
    cdef Tiled* t = <Tiled*>ctx
    cdef LoopInfo* info = t.info
    cdef int k, g, nargs = info.nargs, isz = info.itemsize, na = info.n_arrays
    cdef char* a[MAX_ARGS]
    cdef cnp.npy_intp steps[MAX_ARGS]
    cdef cnp.npy_intp i0, r, nr, c0, m
    cdef Py_ssize_t blk
    cdef char* buf = <char*>malloc(t.n_gather * t.R * TILE_C * isz + 1)
    for k in range(nargs):
        steps[k] = isz if k < na or k == nargs - 1 else 0
    for blk in range(b, e):
        i0 = blk * t.R
        nr = min(t.R, t.rows - i0)
        c0 = 0
        while c0 < t.cols:
            m = min(<cnp.npy_intp>TILE_C, t.cols - c0)
            if buf == NULL:
                # no buffer: each row through the loop's own strided path
                for r in range(nr):
                    for k in range(nargs):
                        a[k] = t.base[k] + (i0 + r) * t.si[k] + c0 * t.sj[k]
                        if k < na:
                            steps[k] = t.sj[k]
                    info.fn(a, &m, steps, <void*>&_FLAGS[0])
                c0 += m
                continue
            g = 0
            for k in range(na):
                if t.sj[k] != isz:
                    _gather(buf + g * t.R * TILE_C * isz, t.base[k] + i0 * t.si[k] + c0 * t.sj[k],
                            t.sj[k], nr, m, isz)
                    g += 1
            for r in range(nr):
                g = 0
                for k in range(nargs):
                    if k < na and t.sj[k] != isz:
                        a[k] = buf + (g * t.R + r) * TILE_C * isz
                        g += 1
                    elif k < na or k == nargs - 1:
                        a[k] = t.base[k] + (i0 + r) * t.si[k] + c0 * isz
                    else:
                        a[k] = t.base[k]
                info.fn(a, &m, steps, <void*>&_FLAGS[0])
            c0 += m
    free(buf)


def tiled(cnp.ufunc uf, list arrays, tuple params, cnp.ndarray out):
    """uf(*arrays, *params, out=out) for 2-D operands of out's shape and
    dtype, out's rows contiguous, each array's rows or columns contiguous
    (cpu/pool.py picks the calls), scalar float parameters; on the pool's
    threads as the cost model says."""
    cdef int i, k, nt, na = len(arrays)
    cdef LoopInfo* info = NULL
    cdef Tiled t
    cdef double pv[MAX_ARGS]
    cdef int mask = FE_INVALID | FE_OVERFLOW | FE_UNDERFLOW | FE_DIVBYZERO
    cdef int before
    cdef cnp.ndarray arr
    for i in range(_infos(uf)):
        if (<LoopInfo*>uf.data[i]).itemsize == out.itemsize:
            info = <LoopInfo*>uf.data[i]
    if info == NULL or out.ndim != 2 or na != info.n_arrays or na + len(params) + 1 != info.nargs:
        raise ValueError(f"fastact: no tiled {uf.__name__} loop for this call")
    if out.strides[1] != out.itemsize:
        raise ValueError("fastact: a tiled call's out must have contiguous rows")
    t.info = info
    t.rows, t.cols = out.shape[0], out.shape[1]
    t.R = max(1, 64 // out.itemsize)
    t.n_gather = 0
    for k in range(na):
        arr = arrays[k]
        if arr.ndim != 2 or arr.shape[0] != t.rows or arr.shape[1] != t.cols or arr.itemsize != out.itemsize:
            raise ValueError("fastact: a tiled call's arrays must match out")
        t.base[k] = <char*>cnp.PyArray_DATA(arr)
        t.si[k], t.sj[k] = arr.strides[0], arr.strides[1]
        if t.sj[k] != out.itemsize and t.si[k] != out.itemsize:
            raise ValueError("fastact: a tiled call's arrays need contiguous rows or columns")
        t.n_gather += t.sj[k] != out.itemsize
    for k in range(len(params)):
        pv[k] = float(params[k])
        t.base[na + k] = <char*>&pv[k]
        t.si[na + k] = t.sj[na + k] = 0
    t.base[info.nargs - 1] = <char*>cnp.PyArray_DATA(out)
    t.si[info.nargs - 1], t.sj[info.nargs - 1] = out.strides[0], out.strides[1]
    if t.rows == 0 or t.cols == 0:
        return
    nt = 1
    if fa_max_threads > 1:
        nt = fa_threads_for_impl(&info.cost, <double>(t.rows * t.cols), fa_max_threads)
    with nogil:
        before = fetestexcept(mask)
        fa_parallel_for(_tiled_rows, &t, (t.rows + t.R - 1) // t.R, 1, nt)
        feclearexcept(mask & ~before)


# the pool's functions, for the other extensions (src/pool.h, fa_pool_import)
_pool_api = PyCapsule_New(<void*>fa_pool_ptr, "fastact.cpu.ufunc._pool_api", NULL)


def set_max_threads(int n):
    """Threads a ufunc call may use (threads.set_num_threads keeps it in step)."""
    global fa_max_threads
    if n < 1:
        raise ValueError(f"set_max_threads: n must be >= 1, got {n}")
    fa_max_threads = n


def set_force_split(bint on):
    """Split every call that can be split, on all allowed threads, whatever the
    cost model says (for tests); returns the old setting."""
    global fa_force_split
    old = bool(fa_force_split)
    fa_force_split = on
    return old


def pool_info():
    """The pool's state: workers started, the round trip (ns, 0 if not
    measured yet), the best measured and how long the last is trusted, jobs
    run in parallel and tasks run by workers so far (calibrations not
    counted), calibrations, jobs no worker joined, and the last job's time
    from publishing to a worker's join (0: none joined)."""
    return {
        "workers": fa_pool_state.n_workers,
        "round_trip_ns": fa_get_rt(),
        "jobs": fa_pool_state.jobs,
        "worker_tasks": fa_pool_state.worker_tasks,
        "calibrations": fa_pool_state.calibrations,
        "lonely": fa_pool_state.lonely,
        "join_ns": fa_pool_state.join_ns,
        "best_ns": fa_pool_state.rt_best,
        "trusted_ns": fa_pool_state.rt_age,
    }


def note_round_trip(double ns, bint measured=True):
    """Record `ns` as a measured round trip, as a calibration does (for tests:
    the policy of how long a measurement is trusted; `measured` False: the
    price of a calibration no worker joined, never the best); returns
    {"round_trip_ns", "best_ns", "trusted_ns"} after it."""
    fa_note_rt_as(ns, measured)
    return {"round_trip_ns": fa_get_rt(), "best_ns": fa_pool_state.rt_best,
            "trusted_ns": fa_pool_state.rt_age}


def note_job(bint warm, bint joined, double join_ns, double took):
    """Tell the pool what a parallel job showed, as the job itself does (for
    tests): whether its worker was polling when it was published, whether it
    joined and after how long, how long the job took; returns
    {"round_trip_ns", "trusted_ns"} after it."""
    fa_learn(warm, joined, join_ns, took)
    return {"round_trip_ns": fa_get_rt(), "trusted_ns": fa_pool_state.rt_age}


def threads_for(double ns, double units, int max_threads):
    """The threads the cost model gives `units` of work at `ns` each (a
    measured cost; for tests)."""
    cdef fa_cost c
    c.ns, c.samples, c.units = ns, 3, units
    return fa_threads_for_impl(&c, units, max_threads)


def cost_after(list records):
    """(ns per unit, units, samples) of a fresh cost model after `records`,
    each ("serial", units, ns) or ("split", units, threads, ns) (for tests)."""
    cdef fa_cost c
    c.ns, c.samples, c.units = 0.0, 0, 0.0
    for r in records:
        if r[0] == "serial":
            fa_record_impl(&c, r[1], r[2])
        else:
            fa_record_split_impl(&c, r[1], r[2], r[3])
    return c.ns, c.units, c.samples


def _infos(cnp.ufunc uf):
    if not splits_itself(uf):
        raise ValueError(f"{uf.__name__} was not made by make_ufunc")
    return uf.ntypes


def strided_ways(cnp.ufunc uf):
    """For each loop of `uf`: None if it has one way through strided calls,
    else the way _calibrate chose for a contiguous and for a strided output
    ("elements", "blocks", or None before the first such call)."""
    cdef LoopInfo* info
    names = {-1: None, 0: "blocks", 1: "elements"}
    ways = []
    for i in range(_infos(uf)):
        info = <LoopInfo*>uf.data[i]
        ways.append((names[info.elements[0]], names[info.elements[1]]) if info.two else None)
    return ways


def set_strided_way(cnp.ufunc uf, way):
    """Send the strided calls of `uf`'s loops that have two ways through
    "elements" or "blocks", or measure again on the next one (None); for
    tests and comparisons."""
    cdef signed char w = {None: -1, "blocks": 0, "elements": 1}[way]
    for i in range(_infos(uf)):
        (<LoopInfo*>uf.data[i]).elements[0] = w
        (<LoopInfo*>uf.data[i]).elements[1] = w


def loop_cost(cnp.ufunc uf):
    """(ns per element, samples) the cost model holds for each loop of `uf`."""
    return [((<LoopInfo*>uf.data[i]).cost.ns, (<LoopInfo*>uf.data[i]).cost.samples)
            for i in range(uf.ntypes)]


cdef extern from "<pthread.h>" nogil:
    unsigned long pthread_self()


ctypedef struct SelfTest:
    long* hits
    int nested
    long* started      # NULL, or per task: 1 + its place in the order tasks started
    long* by_worker    # per task: 1 if a thread other than the caller ran it
    long clock         # atomic: tasks started so far
    unsigned long caller


cdef void _inner_task(void* ctx, Py_ssize_t b, Py_ssize_t e) noexcept nogil:
    cdef long* slot = <long*>ctx
    for _ in range(b, e):
        fa_atomic_inc(slot)


cdef void _test_task(void* ctx, Py_ssize_t b, Py_ssize_t e) noexcept nogil:
    cdef SelfTest* st = <SelfTest*>ctx
    for t in range(b, e):
        if st.started != NULL:
            st.started[t] = fa_atomic_next(&st.clock)
            st.by_worker[t] = pthread_self() != st.caller
        fa_atomic_inc(&st.hits[t])
        if st.nested:
            fa_parallel_for(_inner_task, &st.hits[t], 8, 1, 2)


def _pool_selftest(long[::1] hits, Py_ssize_t grain, int n_threads, bint nested):
    """Run a job of len(hits) tasks on the pool, without the GIL: task t adds 1
    to hits[t], and (nested) runs a job of 8 tasks each adding 1 to it."""
    cdef SelfTest st
    st.hits = &hits[0]
    st.nested = nested
    st.started = NULL
    with nogil:
        fa_parallel_for(_test_task, &st, hits.shape[0], grain, n_threads)


def _pool_order(long[::1] started, long[::1] by_worker, long[::1] hits, Py_ssize_t grain,
                int n_threads):
    """Run a job of len(started) tasks on the pool: task t adds 1 to hits[t],
    sets started[t] to 1 + its place in the order the tasks started, and
    by_worker[t] to 1 if a thread other than the caller ran it."""
    cdef SelfTest st
    st.hits = &hits[0]
    st.nested = 0
    st.started = &started[0]
    st.by_worker = &by_worker[0]
    st.clock = 0
    st.caller = pthread_self()
    with nogil:
        fa_parallel_for(_test_task, &st, started.shape[0], grain, n_threads)


# The ufunc keeps raw pointers to its name and doc: keep the bytes alive.
_keepalive = []


def make_ufunc(str name, str doc, int nin, int nout, list loops, int n_arrays=-1,
               two_ways=None):
    """Return a ufunc; `loops` is a list of (type numbers, cfunc address).
    The first `n_arrays` inputs are arrays, the rest parameters (-1: all
    arrays); `two_ways[i]`: loop i takes a strided call through the element
    loop when asked (ELEMENTS), which _calibrate decides (None: no loop)."""
    cdef int ntypes = len(loops)
    cdef int nargs = nin + nout
    if ntypes == 0:
        raise ValueError("make_ufunc needs at least one loop")
    if nargs > MAX_ARGS:
        raise ValueError(f"make_ufunc: at most {MAX_ARGS} arguments, got {nargs}")
    # Never freed: a ufunc lives as long as the process and points into these.
    cdef PyUFuncGenericFunction* funcs = <PyUFuncGenericFunction*>malloc(ntypes * sizeof(PyUFuncGenericFunction))
    cdef char* types = <char*>malloc(ntypes * nargs)
    cdef void** data = <void**>malloc(ntypes * sizeof(void*))
    cdef LoopInfo* infos = <LoopInfo*>malloc(ntypes * sizeof(LoopInfo))
    if funcs == NULL or types == NULL or data == NULL or infos == NULL:
        raise MemoryError()
    cdef Py_ssize_t i, j
    for i, (tys, addr) in enumerate(loops):
        if len(tys) != nargs:
            raise ValueError(f"loop {i} has {len(tys)} types, expected {nargs}")
        funcs[i] = <PyUFuncGenericFunction>_quiet_loop
        infos[i].fn = <loop_t><size_t>addr
        infos[i].nargs = nargs
        infos[i].itemsize = cnp.PyArray_DescrFromType(tys[nargs - 1]).itemsize
        infos[i].stream = 1
        infos[i].cost.ns = 0.0
        infos[i].cost.samples = 0
        infos[i].n_arrays = nin if n_arrays < 0 else n_arrays
        infos[i].two = bool(two_ways[i]) if two_ways is not None else 0
        infos[i].elements[0] = infos[i].elements[1] = -1
        data[i] = <void*>&infos[i]
        for j in range(nargs):
            types[i * nargs + j] = <char>tys[j]
    bname = name.encode()
    bdoc = doc.encode()
    _keepalive.append((bname, bdoc))
    return PyUFunc_FromFuncAndData(funcs, data, types, ntypes, nin, nout,
                                   PyUFunc_None, bname, bdoc, 0)


# --------------------------------------------------------------------------
# bfloat16: a ufunc whose loop runs a float32 loop block by block

cdef extern from "bf16.h" nogil:
    void fa_bf16_widen(const char* src, cnp.npy_intp step, unsigned int* dst, cnp.npy_intp n)
    void fa_bf16_narrow(const unsigned int* src, char* dst, cnp.npy_intp step, cnp.npy_intp n)


ctypedef struct BF16Info:
    loop_t fn           # the float32 loop (a numba loop of make_ufunc)
    int nargs           # inputs + the output
    int narrays         # leading inputs that are bfloat16 arrays; the rest are float64
    int stream          # the float32 ufunc streams its large outputs (set_streaming)


cdef enum:
    # elements per block: the widened inputs and the float32 result of a
    # block (4 KiB each at most) stay in L1 between the three passes
    BF16_BLOCK = 1024
    BF16_MAX_ARRAYS = 3
    # rows of the block buffer are BF16_BLOCK + this many floats apart: rows
    # exactly 4 KiB apart would put an input element and the result element
    # the loop stores beside it at the same address modulo 4 KiB, which the
    # CPU's store-to-load disambiguation takes for a conflict (4K aliasing)
    BF16_PAD = 16


cdef void _bf16_loop(char** args, cnp.npy_intp* dims, cnp.npy_intp* steps, void* data) noexcept nogil:
    """Widen a block of each bfloat16 input to float32, run the float32 loop
    on the block, round its result to bfloat16; float64 inputs (parameters)
    go to the float32 loop as they are.  Every element is computed by the
    float32 loop exactly as in a float32 call, then rounded once.  A large
    contiguous output of a ufunc marked by set_streaming is written with
    streaming stores, as _streamed does."""
    cdef unsigned int buf[BF16_MAX_ARRAYS + 1][BF16_BLOCK + BF16_PAD]
    cdef unsigned short out16[BF16_BLOCK]
    cdef char* a[MAX_ARGS]
    cdef cnp.npy_intp st[MAX_ARGS]
    cdef BF16Info* info = <BF16Info*>data
    cdef int k, na = info.narrays, no = info.nargs - 1
    cdef cnp.npy_intp n = dims[0], i = 0, m, head = 0
    cdef char* out = args[no]
    cdef int mask = FE_INVALID | FE_OVERFLOW | FE_UNDERFLOW | FE_DIVBYZERO
    cdef int before = fetestexcept(mask)
    cdef bint stream = (FA_HAVE_STREAM and info.stream and _stream_min_bytes >= 0
                        and n * 2 >= _stream_min_bytes and steps[no] == 2
                        and (<size_t>out) % 2 == 0)
    if stream:
        # blocks are stored from the first 16-byte boundary of the output on
        head = (<cnp.npy_intp>((-<size_t>out) & 15)) // 2
    for k in range(na):
        a[k] = <char*>buf[k]
        st[k] = 4
    for k in range(na, no):
        st[k] = steps[k]
    a[no] = <char*>buf[BF16_MAX_ARRAYS]
    st[no] = 4
    while i < n:
        m = n - i
        if m > BF16_BLOCK:
            m = BF16_BLOCK
        if i < head and m > head - i:
            m = head - i
        for k in range(na):
            fa_bf16_widen(args[k] + i * steps[k], steps[k], buf[k], m)
        for k in range(na, no):
            a[k] = args[k] + i * steps[k]
        info.fn(a, &m, st, NULL)
        if stream and i >= head:
            fa_bf16_narrow(buf[BF16_MAX_ARRAYS], <char*>out16, 2, m)
            fa_stream_copy(out + i * 2, <char*>out16, m * 2)
        else:
            fa_bf16_narrow(buf[BF16_MAX_ARRAYS], out + i * steps[no], steps[no], m)
        i += m
    if stream:
        fa_stream_fence()
    feclearexcept(mask & ~before)


def make_bf16_ufunc(cnp.ufunc uf, int bf16_num, int narrays):
    """A ufunc on bfloat16 (NumPy type number `bf16_num`, a user dtype) for
    `uf`, a ufunc made by make_ufunc: its first `narrays` inputs and its
    output are bfloat16, the other inputs float64, and it computes with
    uf's float32 loop (and streams large outputs if uf does, as set by
    set_streaming before this call)."""
    cdef int nargs = uf.nin + uf.nout, i, j, found = -1
    cdef int want
    if uf.nout != 1 or not 0 < narrays <= min(uf.nin, BF16_MAX_ARRAYS):
        raise ValueError(f"make_bf16_ufunc: unsupported arguments for {uf.__name__}")
    for i in range(uf.ntypes):
        if uf.functions[i] != <PyUFuncGenericFunction>_quiet_loop:
            raise ValueError(f"{uf.__name__} was not made by make_ufunc")
        for j in range(nargs):
            want = cnp.NPY_FLOAT if j < narrays or j == nargs - 1 else cnp.NPY_DOUBLE
            if <int>uf.types[i * nargs + j] != want:
                break
        else:
            found = i
    if found < 0:
        raise ValueError(f"{uf.__name__} has no float32 loop with float64 parameters")
    # Never freed, as in make_ufunc.
    cdef BF16Info* info = <BF16Info*>malloc(sizeof(BF16Info))
    cdef int* types = <int*>malloc(nargs * sizeof(int))
    if info == NULL or types == NULL:
        raise MemoryError()
    info.fn = (<LoopInfo*>uf.data[found]).fn
    info.stream = (<LoopInfo*>uf.data[found]).stream
    info.nargs = nargs
    info.narrays = narrays
    for j in range(nargs):
        types[j] = bf16_num if j < narrays or j == nargs - 1 else cnp.NPY_DOUBLE
    bname = (uf.__name__ + "_bfloat16").encode()
    bdoc = (uf.__doc__ or "").encode()
    _keepalive.append((bname, bdoc))
    new = PyUFunc_FromFuncAndData(NULL, NULL, NULL, 0, uf.nin, 1, PyUFunc_None, bname, bdoc, 0)
    PyUFunc_RegisterLoopForType(<cnp.ufunc>new, bf16_num, <PyUFuncGenericFunction>_bf16_loop,
                                types, info)
    return new


cdef void _widen_loop(char** args, cnp.npy_intp* dims, cnp.npy_intp* steps, void* data) noexcept nogil:
    """bfloat16 -> float32 (exact)."""
    cdef unsigned int buf[BF16_BLOCK]
    cdef cnp.npy_intp n = dims[0], i = 0, m, j
    if steps[1] == 4:
        fa_bf16_widen(args[0], steps[0], <unsigned int*>args[1], n)
        return
    while i < n:
        m = min(n - i, <cnp.npy_intp>BF16_BLOCK)
        fa_bf16_widen(args[0] + i * steps[0], steps[0], buf, m)
        for j in range(m):
            memcpy(args[1] + (i + j) * steps[1], &buf[j], 4)
        i += m


cdef void _narrow_loop(char** args, cnp.npy_intp* dims, cnp.npy_intp* steps, void* data) noexcept nogil:
    """float32 -> bfloat16, rounded to nearest even (NaN stays NaN)."""
    cdef unsigned int buf[BF16_BLOCK]
    cdef cnp.npy_intp n = dims[0], i = 0, m, j
    if steps[0] == 4:
        fa_bf16_narrow(<unsigned int*>args[0], args[1], steps[1], n)
        return
    while i < n:
        m = min(n - i, <cnp.npy_intp>BF16_BLOCK)
        for j in range(m):
            memcpy(&buf[j], args[0] + (i + j) * steps[0], 4)
        fa_bf16_narrow(buf, args[1] + i * steps[1], steps[1], m)
        i += m


def make_bf16_casts(int bf16_num):
    """(widen, narrow): ufuncs casting bfloat16 (NumPy type number
    `bf16_num`) to float32 and float32 to bfloat16 as ml_dtypes' casts do,
    on the vectorized conversions of the bfloat16 loops."""
    cdef int* types = <int*>malloc(4 * sizeof(int))
    if types == NULL:
        raise MemoryError()
    types[0], types[1], types[2], types[3] = bf16_num, cnp.NPY_FLOAT, cnp.NPY_FLOAT, bf16_num
    cdef PyUFuncGenericFunction loops[2]
    loops[0] = <PyUFuncGenericFunction>_widen_loop
    loops[1] = <PyUFuncGenericFunction>_narrow_loop
    cdef int k
    cdef bytes name
    res = []
    for k, name in enumerate((b"bfloat16_to_float32", b"float32_to_bfloat16")):
        _keepalive.append(name)
        uf = PyUFunc_FromFuncAndData(NULL, NULL, NULL, 0, 1, 1, PyUFunc_None, name, b"", 0)
        PyUFunc_RegisterLoopForType(<cnp.ufunc>uf, bf16_num, loops[k], types + 2 * k, NULL)
        res.append(uf)
    return tuple(res)
