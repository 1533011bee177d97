"""How many threads a kernel call may use.

The default is the number of CPUs this process may run on
(``os.sched_getaffinity``), or ``NUMBA_NUM_THREADS`` / ``OMP_NUM_THREADS``
when set, so that fastact shares a machine the way the rest of the
scientific stack is told to.  The count is a ceiling: how many threads a
call actually wakes is the thread pool's cost model's choice
(``src/pool.h``), from measurements made in this process.
"""

from __future__ import annotations

import os

from fastact.cpu import ufunc

# The Python-level splitter (cpu/pool.py, for calls NumPy cuts into many
# rows) never splits fewer elements than this: below it one Python-level
# hand-off costs more than any kernel's work.  The generated functions'
# small-call fast path uses it too.
PARALLEL_MIN_SIZE = 1 << 15


def _default() -> int:
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_num_threads = _default()
ufunc.set_max_threads(_num_threads)


def get_num_threads() -> int:
    """The number of threads fastact's kernels use for large arrays.

    >>> import fastact
    >>> fastact.get_num_threads() >= 1
    True
    """
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use at most `n` threads (n >= 1) for large arrays.

    With 1, no thread is ever started.

    >>> import fastact
    >>> old = fastact.get_num_threads()
    >>> fastact.set_num_threads(1)
    >>> fastact.get_num_threads()
    1
    >>> fastact.set_num_threads(old)
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"fastact.set_num_threads: n must be an integer >= 1, got {n!r}")
    _num_threads = n
    ufunc.set_max_threads(n)


def threads_for(size: int, rows: int, openmp: bool = False) -> int:
    """The most threads a call over `size` elements in `rows` independent
    rows may use; the pool's cost model picks how many of them it wakes.
    (`openmp` is accepted for old callers and ignored: there is no OpenMP.)"""
    del size, openmp
    return max(1, min(_num_threads, rows))
