"""GPU benchmarks: fastact on torch CUDA tensors against torch and CuPy.

    pytest bench/test_cuda.py --benchmark-only [--sizes 64K,16M] [--dtypes float32]
    pytest bench/test_cuda.py --benchmark-only -k figure     # fastact bench's GPU figures only

Every library gets the same CUDA tensor memory (CuPy sees the torch tensor
through ``__cuda_array_interface__``, zero-copy) and a preallocated output
where it takes one (torch's elementwise calls are ``fastact bench``'s
baselines, ``fastact.bench.cases``: aten's out= overloads).  A timed call
ends with ``torch.cuda.synchronize()``, so each round is the kernel's whole
time on the device plus its launch (what a caller waiting on the result
sees); pytest-benchmark takes many rounds after
a warm-up (which also compiles fastact's kernels).  Each group has a
``copy`` row: torch ``out.copy_(x)`` of the same array, the device's memory
bandwidth floor; ``extra_info`` holds GB/s (bytes read + written / median).

The ``figure`` tests are the figures of ``fastact bench``'s GPU table
(fastact.bench.gpu), at its ``--full`` sizes: relu, sigmoid and gelu at 256M
float32 elements against the copy, softmax on 65536 x 1024 float32 against
torch, and the per-call overhead at 1K elements (a round is a batch of calls
ended by one synchronize, so the launch cost is not hidden behind a
synchronize per call).  ``fastact bench`` measures
the same figures in interleaved rounds.  Skipped without a GPU.
"""

from __future__ import annotations

import pytest

import fastact
from fastact.bench.cases import BY_ID, torch_forward_call
from fastact.bench.config import SIZES
from fastact.bench.gpu import FULL_ELEMENTS, OVERHEAD_ELEMENTS, SOFTMAX_SHAPE

torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[bench]')")
pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install '.[cuda]')")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU (or a CPU-only torch build)", allow_module_level=True)

LIBRARIES = ["fastact", "torch", "cupy", "copy"]
OVERHEAD_CALLS = 100


def _cupy():
    return pytest.importorskip("cupy", reason="CuPy not installed")


def _sigmoid_cp(cp, x, out):
    return cp.divide(1, 1 + cp.exp(-x), out=out)


# name: the CuPy call (cp, x, out), or None where CuPy has no such function
ELEMENTWISE = {
    "relu": lambda cp, x, o: cp.maximum(x, 0, out=o),
    "sigmoid": _sigmoid_cp,
    "tanh": lambda cp, x, o: cp.tanh(x, out=o),
    "gelu": None,
    "silu": None,
    "softplus": None,
}


def _softmax_cp(cp, x, o, axis):
    from cupyx.scipy.special import softmax

    return softmax(x, axis=axis)


def _log_softmax_cp(cp, x, o, axis):
    from cupyx.scipy.special import log_softmax

    return log_softmax(x, axis=axis)


AXIS = {
    "softmax": (
        lambda x, o, a: fastact.softmax(x, axis=a, out=o),
        lambda x, o, a: torch.softmax(x, a, out=o),
        _softmax_cp,
    ),
    "log_softmax": (
        lambda x, o, a: fastact.log_softmax(x, axis=a, out=o),
        lambda x, o, a: torch.log_softmax(x, a, out=o),
        _log_softmax_cp,
    ),
}


def _data(size: str, dtype: str):
    g = torch.Generator(device="cuda").manual_seed(0)
    return torch.randn(SIZES[size], generator=g, device="cuda", dtype=getattr(torch, dtype)) * 3


def _time(benchmark, fn, nbytes: int = 0, calls: int = 1):
    """Time `calls` calls of fn and one synchronize per round; GB/s of
    `nbytes` moved per call, and microseconds per call, into extra_info."""
    fn()  # warm-up: compiles fastact's kernels
    torch.cuda.synchronize()

    def step():
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()

    benchmark(step)
    if benchmark.stats is not None:  # None under --benchmark-disable
        per_call = benchmark.stats.stats.median / calls
        benchmark.extra_info["us per call"] = round(per_call * 1e6, 2)
        if nbytes:
            benchmark.extra_info["GB/s"] = round(nbytes / per_call / 1e9, 1)


def _copy(x, out):
    return lambda: out.copy_(x)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_gpu_elementwise(benchmark, name, library, size, dtype):
    benchmark.group = f"gpu {name} {size} {dtype}"
    x = _data(size, dtype)
    out = torch.empty_like(x)
    _elementwise(benchmark, name, library, x, out)


def _elementwise(benchmark, name, library, x, out, calls=1):
    f, cf = getattr(fastact, name), ELEMENTWISE[name]
    nbytes = 2 * x.numel() * x.element_size()
    if library == "fastact":
        _time(benchmark, lambda: f(x, out=out), nbytes, calls)
    elif library == "torch":
        _time(benchmark, torch_forward_call(BY_ID[name], torch, x), nbytes, calls)
    elif library == "copy":
        _time(benchmark, _copy(x, out), nbytes, calls)
    else:
        cp = _cupy()
        if cf is None:
            pytest.skip(f"CuPy has no {name}")
        cx, co = cp.asarray(x), cp.asarray(out)
        _time(benchmark, lambda: cf(cp, cx, co), nbytes, calls)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("shape", [(16384, 1024), (1024, 16384)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", list(AXIS))
def test_gpu_axis(benchmark, name, axis, shape, library, dtype):
    benchmark.group = f"gpu {name} {shape[0]}x{shape[1]} axis={axis} {dtype}"
    x = torch.randn(shape, device="cuda", dtype=getattr(torch, dtype))
    _axis(benchmark, name, library, x, axis)


def _axis(benchmark, name, library, x, axis):
    out = torch.empty_like(x)
    nbytes = 2 * x.numel() * x.element_size()
    fa, tf, cf = AXIS[name]
    if library == "fastact":
        _time(benchmark, lambda: fa(x, out, axis), nbytes)
    elif library == "torch":
        _time(benchmark, lambda: tf(x, out, axis), nbytes)
    elif library == "copy":
        _time(benchmark, _copy(x, out), nbytes)
    else:
        cp = _cupy()
        cx, co = cp.asarray(x), cp.asarray(out)
        _time(benchmark, lambda: cf(cp, cx, co, axis), nbytes)


# ------------------------------------------- fastact bench's GPU figures


@pytest.mark.parametrize("library", ["fastact", "torch", "copy"])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu"])
def test_figure_elementwise_256M(benchmark, name, library):
    """GB/s at 256M float32 elements against the copy of the same array
    (the goal: fastact at least 85% of the copy)."""
    benchmark.group = f"figure: gpu {name} 256M float32"
    x = torch.randn(FULL_ELEMENTS, device="cuda") * 3
    _elementwise(benchmark, name, library, x, torch.empty_like(x))


@pytest.mark.parametrize("library", ["fastact", "torch", "copy"])
def test_figure_softmax_65536x1024(benchmark, library):
    """Softmax over the last axis against torch (goal: at least 1.0x); torch
    writes into a preallocated output (aten's _softmax.out, where it has one)."""
    benchmark.group = "figure: gpu softmax 65536x1024 float32"
    x = torch.randn(SOFTMAX_SHAPE, device="cuda")
    if library == "torch":  # fastact bench's baseline: torch._softmax, out=
        _time(benchmark, torch_forward_call(BY_ID["softmax"], torch, x), 2 * x.numel() * 4)
    else:
        _axis(benchmark, "softmax", library, x, -1)


@pytest.mark.parametrize("library", ["fastact", "torch"])
@pytest.mark.parametrize("name", ["sigmoid", "relu"])
def test_figure_overhead_1K(benchmark, name, library):
    """Per-call overhead at 1K elements: a round is 100 calls and one
    synchronize; extra_info's 'us per call' is the figure."""
    benchmark.group = f"figure: gpu {name} 1K float32, {OVERHEAD_CALLS} calls + 1 synchronize"
    x = torch.randn(OVERHEAD_ELEMENTS, device="cuda")
    _elementwise(benchmark, name, library, x, torch.empty_like(x), calls=OVERHEAD_CALLS)
