"""How many threads a kernel call may use.

The default is the number of CPUs this process may run on
(``os.sched_getaffinity``), or ``NUMBA_NUM_THREADS`` / ``OMP_NUM_THREADS``
when set, so that fastact shares a machine the way the rest of the
scientific stack is told to.
"""

from __future__ import annotations

import os

# Below this many elements a call stays on one thread: starting the OpenMP
# team (or a pool task) costs more than the loop itself.
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
# GNU OpenMP keeps its worker team across fork() but not its threads: a forked
# child that starts a parallel region with more than one thread hangs (gcc's
# libgomp does).  The Cython loops therefore run on one thread in a forked
# child; the elementwise thread pool (cpu/pool.py) is rebuilt there instead.
_forked = False


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_num_threads() -> int:
    """The number of threads fastact's kernels use for large arrays.

    >>> import fastact
    >>> fastact.get_num_threads() >= 1
    True
    """
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use at most `n` threads (n >= 1) for large arrays.

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


def threads_for(size: int, rows: int, openmp: bool = False) -> int:
    """Threads for a call over `size` elements in `rows` independent rows
    (`openmp`: the call starts an OpenMP parallel region)."""
    if size < PARALLEL_MIN_SIZE or (openmp and _forked):
        return 1
    return max(1, min(_num_threads, rows))
