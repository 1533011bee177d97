"""One benchmark per (kernel, direction, size, dtype, library), generated from
fastact.bench.cases.CASES (itself generated from the registry)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import data

import fastact
from fastact.bench.cases import (
    CASES,
    placed,
    placed_empty,
    placed_like,
    torch_backward_call,
    torch_forward_call,
)

ROW = 1024  # axis functions run over rows of this length
LIBRARIES = ["fastact", "numpy", "torch"]


def _arrays(case, size, dtype):
    # each at its own offset into a page, as in `fastact bench` (see
    # fastact.bench.cases.placed: the offsets between arrays move timings)
    x, g = placed_like(data(size, dtype, 0), 0), placed_like(data(size, dtype, 1), 5)
    if case.axis:
        x, g = x.reshape(-1, ROW), g.reshape(-1, ROW)
    return x, g


def _out(like: np.ndarray) -> np.ndarray:
    """fastact's result array, at the page offset of torch's (placed_empty)."""
    return placed(like.shape, like.dtype, 2)


def _skip_missing(fn, lib, case):
    if fn is None:
        pytest.skip(f"no {lib} baseline for {case.id}")


def _run(benchmark, fn):
    fn()  # compile / allocate outside the timing (numba compiles on first use)
    benchmark(fn)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward(benchmark, case, library, size, dtype, request):
    benchmark.group = f"{case.id} forward {size} {dtype}"
    x, _ = _arrays(case, size, dtype)
    if library == "fastact":
        f = getattr(fastact, case.name)
        out = _out(f(x, **case.kwargs))
        _run(benchmark, lambda: f(x, **case.kwargs, out=out))
    elif library == "numpy":
        _skip_missing(case.numpy_forward, "NumPy", case)
        _run(benchmark, lambda: case.numpy_forward(x))
    else:
        torch = request.getfixturevalue("torch")
        _skip_missing(case.torch_forward, "torch", case)
        call = torch_forward_call(case, torch, torch.from_numpy(x), placed_empty(torch, 2))
        _run(benchmark, call)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_backward(benchmark, case, library, size, dtype, request):
    benchmark.group = f"{case.id} backward {size} {dtype}"
    if not case.saved:
        pytest.skip(f"{case.id}: its backward takes indices, not an array like x")
    x, g = _arrays(case, size, dtype)
    if case.name == "glu":
        g = g[..., : g.shape[-1] // 2]  # the gradient has the output's shape
    # softmax-family backward takes the forward output
    saved = getattr(fastact, case.name)(x, **case.kwargs) if case.saved == "y" else x
    if library == "fastact":
        f, out = getattr(fastact, case.name + "_backward"), _out(x)
        _run(benchmark, lambda: f(g, saved, **case.kwargs, out=out))
    elif library == "numpy":
        _skip_missing(case.numpy_backward, "NumPy", case)
        _run(benchmark, lambda: case.numpy_backward(g, saved))
    else:
        torch = request.getfixturevalue("torch")
        _skip_missing(case.torch_forward, "torch", case)
        call, kind = torch_backward_call(
            case, torch, torch.from_numpy(g), torch.from_numpy(x), placed_empty(torch, 2)
        )
        benchmark.extra_info["torch baseline"] = kind
        _run(benchmark, call)
