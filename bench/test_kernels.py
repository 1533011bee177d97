"""One benchmark per (kernel, direction, size, dtype, library), generated from
fastact.bench.cases.CASES (itself generated from the registry).  Each call
is the one ``fastact bench`` times (fastact.bench.cpu.calls): the same
input, outputs preallocated at the same page offsets."""

from __future__ import annotations

import pytest

from fastact.bench.cases import CASES
from fastact.bench.cpu import calls, case_input, placed_sample

LIBRARIES = ["fastact", "numpy", "torch"]
_NAMES = {"numpy": "NumPy", "torch": "torch"}


def _call(case, library, size, dtype, request, backward):
    """`library`'s call of `case`; skips where it has none."""
    if backward and not case.saved:
        pytest.skip(f"{case.id}: its backward takes indices, not an array like x")
    torch = request.getfixturevalue("torch") if library == "torch" else None
    x = case_input(case, placed_sample(size, dtype))
    fns, kind = calls(case, x, torch, backward)
    if library not in fns:
        pytest.skip(f"no {_NAMES[library]} baseline for {case.id}")
    return fns[library], kind


def _run(benchmark, fn):
    fn()  # compile / allocate outside the timing (numba compiles on first use)
    benchmark(fn)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward(benchmark, case, library, size, dtype, request):
    if case.saved == "y=":
        pytest.skip(f"{case.id}: a backward-only row (its forward is {case.name}'s)")
    benchmark.group = f"{case.id} forward {size} {dtype}"
    fn, _ = _call(case, library, size, dtype, request, False)
    _run(benchmark, fn)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backward(benchmark, case, library, size, dtype, request):
    benchmark.group = f"{case.id} backward {size} {dtype}"
    fn, kind = _call(case, library, size, dtype, request, True)
    if library == "torch":
        benchmark.extra_info["torch baseline"] = kind
    _run(benchmark, fn)
