"""fastact on a real CUDA GPU: the public functions on numba device arrays,
CuPy arrays and torch CUDA tensors, against the CPU results.

Skipped without a GPU (and under the simulator, which tests/backends/test_cuda.py
covers).  Here the arrays reach fastact.backends.cuda through the public functions,
as a user's do (``__cuda_array_interface__``), and the CUDA ufuncs built by
``numba.cuda.vectorize`` run (the simulator cannot run those).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastact
from fastact.core.registry import REGISTRY

pytest.importorskip("numba_cuda", reason="numba-cuda not installed (pip install '.[cuda]')")
from numba import config, cuda  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        bool(config.ENABLE_CUDASIM),
        reason="real-GPU tests; the simulator runs tests/backends/test_cuda.py",
    ),
    pytest.mark.skipif(
        not config.ENABLE_CUDASIM and not cuda.is_available(),
        reason="no CUDA GPU (numba.cuda.is_available() is False)",
    ),
]

DTYPES = ("float32", "float64")
PUBLIC = [e for e in REGISTRY.values() if e.public and e.name not in ("gelu_tanh",)]


def data(dtype, shape=(64, 33), seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 5
    x.flat[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 100.0]
    return x.astype(dtype)


def assert_ulp(got, want, ulps=1):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    m = ~np.isnan(want)
    tol = ulps * np.spacing(np.maximum(np.abs(got[m]), np.abs(want[m])).astype(want.dtype))
    assert np.all((got[m] == want[m]) | (np.abs(got[m].astype(np.float64) - want[m]) <= tol))


def _args(e):
    kw = e.test_params[0] if any(p.default is None for p in e.params) else {}
    return [kw.get(p.name, p.default) for p in e.params]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("e", PUBLIC, ids=lambda e: e.name)
def test_elementwise_cuda_ufuncs(e, dtype):
    """Every public elementwise function and gradient on numba device arrays:
    the CUDA ufunc gives the CPU ufunc's result (the GPU's FMA and
    libdevice's rint are exact, so at most 1 ULP)."""
    x, g = data(dtype), data(dtype, seed=1)
    args = _args(e)
    dx, dg = cuda.to_device(x), cuda.to_device(g)
    y = getattr(fastact, e.name)(dx, *args)
    assert isinstance(y, type(dx))
    assert_ulp(y.copy_to_host(), getattr(fastact, e.name)(x, *args))
    gx = getattr(fastact, e.name + "_backward")(dg, dx, *args)
    assert_ulp(gx.copy_to_host(), getattr(fastact, e.name + "_backward")(g, x, *args))
    if e.from_y is not None:  # from the forward's output, routed by y alone
        gy = getattr(fastact, e.name + "_backward")(dg, None, *args, y=y)
        assert isinstance(gy, type(dx))
        want = getattr(fastact, e.name + "_backward")(g, None, *args, y=y.copy_to_host())
        assert_ulp(gy.copy_to_host(), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape,axis",
    [((64, 33), -1), ((64, 33), 0), ((3, 2000, 5), 1), ((8, 5000), -1), ((4096, 3), 0)],
)
def test_axis_functions(shape, axis, dtype):
    x = data(dtype, shape)
    dx = cuda.to_device(x)
    eps = np.finfo(dtype).eps
    for name in ("softmax", "log_softmax", "softmin"):
        want = getattr(fastact, name)(x, axis=axis)
        np.testing.assert_allclose(
            getattr(fastact, name)(dx, axis=axis).copy_to_host(), want, rtol=8 * eps, atol=8 * eps
        )
        g = data(dtype, shape, seed=2)
        np.testing.assert_allclose(
            getattr(fastact, name + "_backward")(
                cuda.to_device(g), cuda.to_device(want), axis=axis
            ).copy_to_host(),
            getattr(fastact, name + "_backward")(g, want, axis=axis),
            rtol=64 * eps,
            atol=64 * eps * np.nanmax(np.abs(g[np.isfinite(g)])),
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_glu_maxout(dtype):
    x = data(dtype, (16, 24))
    dx = cuda.to_device(x)
    assert_ulp(fastact.glu(dx).copy_to_host(), fastact.glu(x), 4)
    v, i = fastact.maxout(dx, 4, return_indices=True)
    cv, ci = fastact.maxout(x, 4, return_indices=True)
    np.testing.assert_array_equal(v.copy_to_host(), cv)
    np.testing.assert_array_equal(i.copy_to_host(), ci)
    np.testing.assert_array_equal(
        fastact.maxout_backward(v, i, 24).copy_to_host(), fastact.maxout_backward(cv, ci, 24)
    )


def test_torch_tensors_zero_copy_on_the_current_stream():
    torch = pytest.importorskip("torch", reason="torch not installed")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA build or no GPU here")
    x = torch.randn(256, 100, device="cuda")
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y = fastact.softmax(x, axis=-1)
        z = fastact.gelu(x)
        out = torch.empty_like(x)
        r = fastact.sigmoid(x, out=out)
    s.synchronize()
    assert isinstance(y, torch.Tensor) and y.device == x.device and r is out
    torch.testing.assert_close(y, torch.softmax(x, -1), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(z, torch.nn.functional.gelu(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out, torch.sigmoid(x), rtol=1e-6, atol=1e-7)
    xd = x.clone()
    fastact.relu(xd, out=xd)  # in place, same memory
    assert torch.equal(xd, torch.relu(x))


def test_cupy_arrays():
    cupy = pytest.importorskip("cupy", reason="CuPy not installed")
    x = cupy.asarray(data("float32", (128, 40)))
    y = fastact.log_softmax(x, axis=0)
    assert isinstance(y, cupy.ndarray)
    np.testing.assert_allclose(
        cupy.asnumpy(y), fastact.log_softmax(cupy.asnumpy(x), axis=0), rtol=1e-6, atol=1e-6
    )
    y = fastact.tanh(x[:, ::3])  # strided: copied on the device
    np.testing.assert_allclose(cupy.asnumpy(y), fastact.tanh(cupy.asnumpy(x)[:, ::3]), rtol=2e-7)


def test_numpy_out_for_gpu_input_is_refused():
    dx = cuda.to_device(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="out must be a GPU array"):
        fastact.sigmoid(dx, out=np.empty(4, np.float32))
