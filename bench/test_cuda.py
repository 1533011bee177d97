"""GPU benchmarks: fastact on torch CUDA tensors against torch and CuPy.

    pytest bench/test_cuda.py --benchmark-only [--sizes 64K,16M] [--dtypes float32]

Every library gets the same CUDA tensor memory (CuPy sees the torch tensor
through ``__cuda_array_interface__``, zero-copy) and a preallocated output
where it takes one.  A timed call ends with ``torch.cuda.synchronize()``, so
each round is the kernel's whole time on the device plus its launch (what a
caller waiting on the result sees); pytest-benchmark takes many rounds after
a warm-up (which also compiles fastact's kernels).  Skipped without a GPU.
"""
from __future__ import annotations

import pytest

import fastact

from conftest import SIZES

torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[bench]')")
pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install '.[cuda]')")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU (or a CPU-only torch build)", allow_module_level=True)

F = torch.nn.functional
ROW = 1024
LIBRARIES = ["fastact", "torch", "cupy"]


def _cupy():
    return pytest.importorskip("cupy", reason="CuPy not installed")


def _sigmoid_cp(cp, x, out):
    return cp.divide(1, 1 + cp.exp(-x), out=out)


# name: (fastact call, torch call, CuPy call or None); each takes (x, out)
ELEMENTWISE = {
    "relu": (lambda x, o: fastact.relu(x, out=o), lambda x, o: torch.relu(x, out=o),
             lambda cp, x, o: cp.maximum(x, 0, out=o)),
    "sigmoid": (lambda x, o: fastact.sigmoid(x, out=o), lambda x, o: torch.sigmoid(x, out=o),
                _sigmoid_cp),
    "tanh": (lambda x, o: fastact.tanh(x, out=o), lambda x, o: torch.tanh(x, out=o),
             lambda cp, x, o: cp.tanh(x, out=o)),
    "gelu": (lambda x, o: fastact.gelu(x, out=o), lambda x, o: o.copy_(F.gelu(x)), None),
    "silu": (lambda x, o: fastact.silu(x, out=o), lambda x, o: o.copy_(F.silu(x)), None),
    "softplus": (lambda x, o: fastact.softplus(x, out=o), lambda x, o: o.copy_(F.softplus(x)),
                 None),
}


def _softmax_cp(cp, x, o, axis):
    from cupyx.scipy.special import softmax
    return softmax(x, axis=axis)


def _log_softmax_cp(cp, x, o, axis):
    from cupyx.scipy.special import log_softmax
    return log_softmax(x, axis=axis)


AXIS = {
    "softmax": (lambda x, o, a: fastact.softmax(x, axis=a, out=o),
                lambda x, o, a: torch.softmax(x, a, out=o), _softmax_cp),
    "log_softmax": (lambda x, o, a: fastact.log_softmax(x, axis=a, out=o),
                    lambda x, o, a: torch.log_softmax(x, a, out=o), _log_softmax_cp),
}


def _data(size: str, dtype: str):
    g = torch.Generator(device="cuda").manual_seed(0)
    return torch.randn(SIZES[size], generator=g, device="cuda",
                       dtype=getattr(torch, dtype)) * 3


def _time(benchmark, fn):
    fn()                                  # warm-up: compiles fastact's kernels
    torch.cuda.synchronize()

    def step():
        fn()
        torch.cuda.synchronize()
    benchmark(step)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_gpu_elementwise(benchmark, name, library, size, dtype):
    benchmark.group = f"gpu {name} {size} {dtype}"
    x = _data(size, dtype)
    out = torch.empty_like(x)
    fa, tf, cf = ELEMENTWISE[name]
    if library == "fastact":
        _time(benchmark, lambda: fa(x, out))
    elif library == "torch":
        _time(benchmark, lambda: tf(x, out))
    else:
        cp = _cupy()
        if cf is None:
            pytest.skip(f"CuPy has no {name}")
        cx, co = cp.asarray(x), cp.asarray(out)
        _time(benchmark, lambda: cf(cp, cx, co))


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("shape", [(16384, 1024), (1024, 16384)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", list(AXIS))
def test_gpu_axis(benchmark, name, axis, shape, library, dtype):
    benchmark.group = f"gpu {name} {shape[0]}x{shape[1]} axis={axis} {dtype}"
    x = torch.randn(shape, device="cuda", dtype=getattr(torch, dtype))
    out = torch.empty_like(x)
    fa, tf, cf = AXIS[name]
    if library == "fastact":
        _time(benchmark, lambda: fa(x, out, axis))
    elif library == "torch":
        _time(benchmark, lambda: tf(x, out, axis))
    else:
        cp = _cupy()
        cx, co = cp.asarray(x), cp.asarray(out)
        _time(benchmark, lambda: cf(cp, cx, co, axis))
