# cython: language_level=3
"""Make a NumPy ufunc from C loop pointers (numba cfuncs, cached on disk).

numba's @vectorize rebuilds its ufunc wrapper with LLVM in every process
(~50 ms a ufunc on this machine) even when the kernel itself is cached; a
cfunc loop is cached whole, so a warm first call only loads object code.
"""
from libc.stdlib cimport malloc
cimport numpy as cnp
from numpy cimport PyUFuncGenericFunction, PyUFunc_FromFuncAndData, PyUFunc_None

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


cdef void _quiet_loop(char** args, cnp.npy_intp* dims, cnp.npy_intp* steps, void* data) noexcept nogil:
    """Run the numba loop in `data` without leaving floating-point flags behind.

    The kernels are branch-free: both sides of a select are computed and one
    is kept, so the discarded side may overflow, underflow or compare a NaN
    (LLVM's `x <= y` can be a signalling compare).  NumPy would turn those
    flags into spurious RuntimeWarnings.  The flags carry no information
    about the result (NaN only comes from NaN input, +-inf only where the
    true value is beyond the float range, as in torch), so the ones this loop
    raised are dropped; flags set before the loop are left alone.
    """
    cdef int mask = FE_INVALID | FE_OVERFLOW | FE_UNDERFLOW | FE_DIVBYZERO
    cdef int before = fetestexcept(mask)
    (<loop_t>data)(args, dims, steps, NULL)
    feclearexcept(mask & ~before)

# The ufunc keeps raw pointers to its name and doc: keep the bytes alive.
_keepalive = []


def make_ufunc(str name, str doc, int nin, int nout, list loops):
    """Return a ufunc; `loops` is a list of (type numbers, cfunc address)."""
    cdef int ntypes = len(loops)
    cdef int nargs = nin + nout
    if ntypes == 0:
        raise ValueError("make_ufunc needs at least one loop")
    # Never freed: a ufunc lives as long as the process and points into these.
    cdef PyUFuncGenericFunction* funcs = <PyUFuncGenericFunction*>malloc(ntypes * sizeof(PyUFuncGenericFunction))
    cdef char* types = <char*>malloc(ntypes * nargs)
    cdef void** data = <void**>malloc(ntypes * sizeof(void*))
    if funcs == NULL or types == NULL or data == NULL:
        raise MemoryError()
    cdef Py_ssize_t i, j
    for i, (tys, addr) in enumerate(loops):
        if len(tys) != nargs:
            raise ValueError(f"loop {i} has {len(tys)} types, expected {nargs}")
        funcs[i] = <PyUFuncGenericFunction>_quiet_loop
        data[i] = <void*><size_t>addr
        for j in range(nargs):
            types[i * nargs + j] = <char>tys[j]
    bname = name.encode()
    bdoc = doc.encode()
    _keepalive.append((bname, bdoc))
    return PyUFunc_FromFuncAndData(funcs, data, types, ntypes, nin, nout,
                                   PyUFunc_None, bname, bdoc, 0)
