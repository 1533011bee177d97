"""One benchmark per (kernel, direction, size, dtype, library), generated from
fastact.bench.cases.CASES (itself generated from the registry).  Each call
is the one ``fastact bench``'s worker for that library times
(fastact.bench.worker.Library): the same input, outputs preallocated at the
same page offsets.  For the benchmark protocol (each library in a process of
its own) run one library a session:

    for lib in fastact numpy torch onnxruntime jax; do
        pytest bench/test_kernels.py --benchmark-only --libraries $lib --benchmark-save $lib
    done
"""

from __future__ import annotations

import pytest

from fastact.bench.cases import CASES
from fastact.bench.worker import Library

_LOADED: dict[str, Library] = {}


def _call(case, lib, size, dtype, threads, backward):
    """`lib`'s call of `case`; skips where the library or the function is missing."""
    library = _LOADED.get(lib)
    if library is None:
        library = _LOADED[lib] = Library(lib, threads)
    if library.missing:
        pytest.skip(library.missing)
    job = {"case": case.id, "backward": backward, "size": size, "dtype": dtype}
    fns = library.calls(job)
    if fns is None:
        pytest.skip(f"{lib} has no {case.id} {'backward' if backward else 'forward'}")
    return fns[lib]


def _run(benchmark, fn):
    fn()  # compile / allocate outside the timing (numba compiles on first use)
    benchmark(fn)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward(benchmark, case, lib, size, dtype, threads):
    if case.saved == "y=":
        pytest.skip(f"{case.id}: a backward-only row (its forward is {case.name}'s)")
    benchmark.group = f"{case.id} forward {size} {dtype}"
    _run(benchmark, _call(case, lib, size, dtype, threads, False))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backward(benchmark, case, lib, size, dtype, threads):
    benchmark.group = f"{case.id} backward {size} {dtype}"
    _run(benchmark, _call(case, lib, size, dtype, threads, True))
