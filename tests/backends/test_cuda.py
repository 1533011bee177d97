"""fastact.backends.cuda without a GPU.

Three groups, by how the tests run:

- under numba-cuda's simulator (``pip install -e '.[test-cuda]'``, then
  ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/backends/test_cuda.py``):
  every registry kernel through a ``cuda.jit`` kernel against the CPU ufunc, the axis kernels (each thread layout) against
  the CPU functions, and the dispatch (dtypes, ``out=``, layouts, errors) on
  simulated device arrays;
- without the simulator, where NVVM is installed: every kernel compiled to
  PTX by numba-cuda's real CUDA compiler (no GPU needed to compile);
- always: the message a user without numba-cuda gets, and that NumPy input
  never imports the GPU backend.

The simulator runs Python, one Python thread per GPU thread, so the arrays
here are small: a few dozen elements per registry kernel (the special values
and a few random ones), and for the axis kernels a handful of rows per launch
(a launch costs about threads x syncthreads; a kernel's first call compiles
the CPU code its device functions run as, which the registry check cannot
avoid: one compile per kernel and dtype).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types as pytypes

import numpy as np
import pytest

import fastact
from fastact._dispatch import SPECS
from fastact.core.registry import REGISTRY

numba_cuda = pytest.importorskip(
    "numba_cuda", reason="numba-cuda not installed: pip install -e '.[test-cuda]' (no GPU needed)"
)

from numba import config, cuda  # noqa: E402

SIM = bool(config.ENABLE_CUDASIM)
sim_only = pytest.mark.skipif(
    not SIM,
    reason="runs under numba-cuda's simulator: "
    "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/backends/test_cuda.py",
)
DTYPES = ("float32", "float64")


@pytest.fixture(autouse=True, scope="module")
def _short_switch_interval():
    """The simulator's launching thread polls the block's threads in a busy
    loop, holding the GIL for a whole switch interval (5 ms by default)
    between hand-overs, so every syncthreads of every thread waits for it.
    A shorter interval makes the axis-kernel tests several times faster; much
    shorter ones spend the time on switching instead."""
    old = sys.getswitchinterval()
    if SIM:
        sys.setswitchinterval(5e-4)
    yield
    sys.setswitchinterval(old)


@pytest.fixture(autouse=True, scope="module")
def _shared_arrays_created_once():
    """numba-cuda's simulator (0.30) finds a block's shared array by the
    line that asks for it, and creates it on a miss without a lock
    (``FakeCUDAShared.array``: look up, ``np.empty``, store).  Two threads of
    a block can both miss; the one whose array is replaced then writes where
    the others never read.  prelu's weight gradient (a block reduction in a
    shared array) came back as 9e271 once in a CI run.  Here the look-up and
    the creation happen under one lock, keyed as the simulator keys them
    (the caller's file and line)."""
    if not SIM:
        yield
        return
    import threading

    from numba.cuda import types as nbtypes
    from numba.cuda.np import numpy_support
    from numba.cuda.simulator import kernelapi

    orig, lock = kernelapi.FakeCUDAShared.array, threading.Lock()

    def array(self, shape, dtype, alignment=None):
        if shape == 0 or alignment is not None:  # dynamic shared memory; errors
            return orig(self, shape, dtype, alignment)
        if isinstance(dtype, nbtypes.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, dtype)
        return res

    kernelapi.FakeCUDAShared.array = array
    yield
    kernelapi.FakeCUDAShared.array = orig


def gpu_call(name, *args, **kwargs):
    """Public function `name` through fastact.backends.cuda.call, as fastact._dispatch calls it.
    (The simulator's device arrays have no __cuda_array_interface__, so the
    public functions do not route them by themselves.)"""
    import fastact.backends.cuda as fc

    spec = SPECS[name]
    return fc.call(spec, spec.signature.bind(*args, **kwargs))


def host(a):
    return a.copy_to_host()


def ulp_close(got, want, ulps=1):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), (got, want)
    g, w = got[~nan], want[~nan]
    exact = g == w
    tol = ulps * np.spacing(np.maximum(np.abs(g), np.abs(w)).astype(want.dtype))
    bad = ~exact & ~(np.abs(g.astype(np.float64) - w) <= tol)
    assert not bad.any(), (g[bad][:5], w[bad][:5])


def specials(dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    sp = [
        np.nan,
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        fi.tiny,
        -fi.tiny,
        fi.smallest_subnormal,
        fi.max,
        -fi.max,
        1.0,
        -1.0,
        0.5,
        -0.5,
        3.0,
        -3.0,
        6.0,
        20.0,
        -20.0,
        40.0,
        -40.0,
        -88.0,
        88.0,
        -700.0,
        1e-3,
        -1e-3,
    ]
    sample = np.random.default_rng(1).standard_normal(6) * 6  # 32 elements: one warp
    return np.concatenate([np.array(sp), sample]).astype(dtype)


def _params(e):
    kw = e.test_params[0] if any(p.default is None for p in e.params) else {}
    return [kw.get(p.name, p.default) for p in e.params]


# ----------------------------------------------- registry kernels (simulator)


def kernels(name: str) -> tuple[str, ...]:
    """The kernels of registry entry `name`: from x, and from y where it has one."""
    return ("forward", "backward") + (("backward_y",) if REGISTRY[name].from_y else ())


CASES = [(n, w, dt) for n in REGISTRY for w in kernels(n) for dt in DTYPES]


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name,which,dtype", CASES, ids=["-".join(c) for c in CASES])
def test_registry_kernel_on_device_matches_cpu(name, which, dtype):
    """The retyped scalar kernel, called per element from a cuda.jit kernel,
    gives the CPU ufunc's result (same source, same algorithm)."""
    from fastact.backends.cuda._ufuncs import ufunc
    from fastact.cpu.activations import get

    e = REGISTRY[name]
    x = specials(dtype)
    g = np.random.default_rng(2).standard_normal(x.size).astype(dtype)
    params = _params(e)
    arrays = [x] if which == "forward" else [g, x]
    want = get(name, which)(*arrays, *[np.float64(p) for p in params])
    dev = [cuda.to_device(a) for a in arrays]
    dev += [cuda.to_device(np.array([p], dtype)) for p in params]
    out = cuda.device_array(x.size, dtype)
    ufunc(name, which, dtype)(*dev, out=out, stream=cuda.default_stream())
    ulp_close(host(out), want)


# ------------------------------------------------- dispatch (simulator)


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "name,args",
    [
        ("sigmoid", ()),
        ("elu", (0.5,)),
        ("gelu", ("tanh",)),
        ("softplus", (2.0, 10.0)),
        ("threshold", (0.5, -2.0)),
        ("hardtanh", (-2.0, 0.5)),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_dispatch(name, args, dtype):
    x = (np.random.default_rng(3).standard_normal((3, 4)) * 4).astype(dtype)
    g = np.random.default_rng(4).standard_normal((3, 4)).astype(dtype)
    dx, dg = cuda.to_device(x), cuda.to_device(g)
    y = gpu_call(name, dx, *args)
    assert cuda.devicearray.is_cuda_ndarray(y) and y.dtype == x.dtype
    ulp_close(host(y), getattr(fastact, name)(x, *args))
    ulp_close(
        host(gpu_call(name + "_backward", dg, dx, *args)),
        getattr(fastact, name + "_backward")(g, x, *args),
    )


FROM_Y = [n for n, e in REGISTRY.items() if e.from_y is not None]


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", FROM_Y)
def test_backward_from_y_dispatch(name):
    """y= on the GPU: the CPU's from-y result, strided and 0-d inputs, out=,
    and the CPU's argument errors (nothing written)."""
    e = REGISTRY[name]
    params = _params(e)
    x = (np.random.default_rng(8).standard_normal((3, 8)) * 4).astype(np.float32)
    g = np.random.default_rng(9).standard_normal((3, 8)).astype(np.float32)
    y = getattr(fastact, name)(x, *params)
    dg, dy = cuda.to_device(g), cuda.to_device(y)
    want = getattr(fastact, name + "_backward")(g, None, *params, y=y)
    ulp_close(host(gpu_call(name + "_backward", dg, None, *params, y=dy)), want)
    # strided views are copied on the device; 0-d
    got = gpu_call(name + "_backward", dg[:, ::2], None, *params, y=dy[:, ::2])
    ulp_close(host(got), want[:, ::2])
    y0 = cuda.to_device(np.float32(y[0, 0]))
    got0 = gpu_call(name + "_backward", cuda.to_device(np.float32(g[0, 0])), y=y0)
    assert got0.shape == ()
    ulp_close(host(got0), getattr(fastact, name + "_backward")(g[0, 0], y=y[0, 0]))
    o = cuda.to_device(np.full((3, 8), 7, np.float32))
    assert gpu_call(name + "_backward", dg, *[None, *params], y=dy, out=o) is o
    ulp_close(host(o), want)
    o = cuda.to_device(np.full((3, 8), 7, np.float32))
    with pytest.raises(TypeError, match=f"fastact.{name}_backward: pass either x"):
        gpu_call(name + "_backward", dg, dy, *params, y=dy, out=o)
    with pytest.raises(TypeError, match=f"fastact.{name}_backward: missing x"):
        gpu_call(name + "_backward", dg, None, *params, out=o)
    assert (host(o) == 7).all()


@sim_only
def test_backward_from_y_errors_on_device():
    dx = cuda.to_device(np.ones((3, 4), np.float32))
    with pytest.raises(TypeError, match="fastact.mish_backward: y= .* is not accepted"):
        gpu_call("mish_backward", dx, dx, y=dx)
    with pytest.raises(ValueError, match="fastact.elu_backward: y= needs alpha >= 0"):
        gpu_call("elu_backward", dx, None, -0.5, y=dx)
    with pytest.raises(ValueError, match="y has shape"):
        gpu_call("tanh_backward", dx, y=cuda.to_device(np.ones(3, np.float32)))


@sim_only
def test_elementwise_layouts_and_dtypes():
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(np.float32)
    dx = cuda.to_device(x)
    # non-contiguous and reversed views are copied on the device
    ulp_close(host(gpu_call("tanh", dx[:, ::2])), fastact.tanh(x[:, ::2]))
    ulp_close(host(gpu_call("tanh", dx[::-1])), fastact.tanh(x[::-1]))
    # 0-d and empty
    y = gpu_call("tanh", cuda.to_device(np.float32(0.5)))
    assert y.shape == () and host(y) == fastact.tanh(np.float32(0.5))
    assert gpu_call("tanh", cuda.to_device(np.zeros((0, 3), np.float32))).shape == (0, 3)
    # float16 computed in float32, returned float16; integers and bool to float64
    h = gpu_call("sigmoid", cuda.to_device(x.astype(np.float16)))
    assert h.dtype == np.float16
    np.testing.assert_array_equal(host(h), fastact.sigmoid(x.astype(np.float16)))
    for a in (np.arange(-3, 3), np.array([True, False])):
        r = gpu_call("sigmoid", cuda.to_device(a))
        assert r.dtype == np.float64
        ulp_close(host(r), fastact.sigmoid(a))
    # (float32, float64) arguments: float64
    r = gpu_call("relu_backward", dx, cuda.to_device(x.astype(np.float64)))
    assert r.dtype == np.float64


@sim_only
def test_elementwise_out():
    x = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    dx = cuda.to_device(x)
    o = cuda.to_device(np.zeros((3, 4), np.float32))
    assert gpu_call("tanh", dx, out=o) is o
    ulp_close(host(o), fastact.tanh(x))
    # a strided out is written through the copy kernel
    big = cuda.to_device(np.zeros((3, 8), np.float32))
    gpu_call("tanh", dx, out=big[:, ::2])
    ulp_close(host(big)[:, ::2], fastact.tanh(x))
    assert not host(big)[:, 1::2].any()
    # float16 out for float16 input
    o16 = cuda.to_device(np.zeros((3, 4), np.float16))
    gpu_call("sigmoid", cuda.to_device(x.astype(np.float16)), out=o16)
    np.testing.assert_array_equal(host(o16), fastact.sigmoid(x.astype(np.float16)))
    # in place, and out partially overlapping the input
    gpu_call("elu", dx, out=dx)
    ulp_close(host(dx), fastact.elu(x))
    v = cuda.to_device(np.arange(8, dtype=np.float32))
    gpu_call("tanh", v[:6], out=v[2:])
    np.testing.assert_array_equal(host(v)[2:], fastact.tanh(np.arange(6, dtype=np.float32)))


@sim_only
def test_errors_before_writing():
    x = np.ones((3, 4), np.float32)
    dx = cuda.to_device(x)
    o = cuda.to_device(np.full((3, 5), 7, np.float32))
    with pytest.raises(
        ValueError, match=r"fastact.tanh: out has shape \(3, 5\), expected \(3, 4\)"
    ):
        gpu_call("tanh", dx, out=o)
    o64 = cuda.to_device(np.full((3, 4), 7.0))
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        gpu_call("tanh", dx, out=o64)
    assert (host(o) == 7).all() and (host(o64) == 7).all()
    with pytest.raises(TypeError, match="out must be a GPU array .* got numpy.ndarray"):
        gpu_call("tanh", dx, out=np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="grad_output must be a GPU array .*numpy.ndarray"):
        gpu_call("tanh_backward", np.ones((3, 4), np.float32), dx)
    with pytest.raises(TypeError, match="x has unsupported dtype complex64"):
        gpu_call("tanh", cuda.to_device(np.zeros(3, np.complex64)))
    with pytest.raises(ValueError, match="alpha must be != 0"):
        gpu_call("celu", dx, 0.0)
    with pytest.raises(ValueError, match="grad_output has shape"):
        gpu_call("tanh_backward", cuda.to_device(np.ones(3, np.float32)), dx)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        gpu_call("gelu", dx, "fast")
    with pytest.raises(NotImplementedError, match="training=True"):
        gpu_call("rrelu", dx, training=True)
    with pytest.raises(ValueError, match="return_noise=True needs training=True"):
        gpu_call("rrelu", dx, return_noise=True)
    if "normalize" in SPECS:
        with pytest.raises(TypeError, match="not supported"):
            gpu_call("normalize", dx)


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_random_and_prelu():
    x = np.random.default_rng(7).standard_normal((2, 3, 4))
    dx = cuda.to_device(x)
    ulp_close(host(gpu_call("rrelu", dx, 0.1, 0.3)), fastact.rrelu(x, 0.1, 0.3))
    ulp_close(host(gpu_call("noisy_relu_backward", dx, dx)), fastact.noisy_relu_backward(x, x))
    for w in (0.25, np.array([0.1, -0.2, 0.3]), np.array([0.5])):
        ulp_close(host(gpu_call("prelu", dx, w)), fastact.prelu(x, w))
        gi, gw = gpu_call("prelu_backward", dx, dx, w)
        cgi, cgw = fastact.prelu_backward(x, x, w)
        ulp_close(host(gi), cgi)
        assert host(gw).shape == cgw.shape
        np.testing.assert_allclose(host(gw), cgw, rtol=1e-12)
    with pytest.raises(ValueError, match="weight has 2 values"):
        gpu_call("prelu", dx, np.array([1.0, 2.0]))


# ------------------------------------------- softmax family (simulator)


def _rows(dtype) -> np.ndarray:
    """Rows of 7 with the special cases: NaN, +inf, only -inf, some -inf,
    huge and tiny spreads, and an ordinary row."""
    big = np.finfo(dtype).max / 4
    return np.array(
        [
            [0.5, -1.0, 2.0, 0.0, 3.0, -2.0, 1.0],
            [0.5, np.nan, 2.0, 0.0, 3.0, -2.0, 1.0],
            [0.5, np.inf, 2.0, 0.0, 3.0, -2.0, 1.0],
            [-np.inf] * 7,
            [-np.inf, 1.0, -np.inf, 2.0, -np.inf, 3.0, -np.inf],
            [big, -big, big, 0.0, -1.0, 1.0, big],
            [1000.0, -1000.0, 0.0, 1e-30, -1e-30, 500.0, 999.0],
            [-0.0, 0.0, 1e-3, -1e-3, 2e-3, -2e-3, 0.0],
        ],
        dtype,
    )


# The three kernels of each function, in small blocks (a simulated launch
# costs about threads x syncthreads).  The rows of _rows are 7 long: warp rows
# under the real limit, and block rows just over a limit of 6
# (test_layout_at_the_real_limits checks the real limits without a launch).
# Three warps per block: 8 rows leave the last block a warp without a row.
LAYOUTS = {
    "cols": dict(COLS_MIN_ROWS=1),
    "warp": dict(COLS_MIN_ROWS=10**9, ROW_WARPS=3),
    "block": dict(COLS_MIN_ROWS=10**9, WARP_ROW_MAX=6, ROW_THREADS=32),
}


@pytest.fixture(params=list(LAYOUTS))
def layout(request, monkeypatch):
    from fastact.backends.cuda import _axis

    for k, v in LAYOUTS[request.param].items():
        monkeypatch.setattr(_axis, k, v)
    return request.param


def close(got, want, dtype, scale=1.0):
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    np.testing.assert_allclose(got, want, rtol=8 * eps, atol=max(8 * eps * scale, 4 * tiny))


def check_axis_function(name, a, axis, dtype, layout=None):
    """fastact.backends.cuda's `name` and its backward on `a` along `axis` against the
    CPU functions (the layout asserted, where given)."""
    from fastact import _validate
    from fastact.backends.cuda import _axis

    if layout is not None:
        assert _axis.layout(*_validate.blocks(a.shape, axis % a.ndim)) == layout
    want = getattr(fastact, name)(a, axis=axis)
    close(host(gpu_call(name, cuda.to_device(a), axis=axis)), want, dtype)
    g = np.random.default_rng(8).standard_normal(a.shape).astype(dtype)
    gy = host(gpu_call(name + "_backward", cuda.to_device(g), cuda.to_device(want), axis=axis))
    cw = getattr(fastact, name + "_backward")(g, want, axis=axis)
    close(gy, cw, dtype, np.nanmax(np.abs(cw[np.isfinite(cw)]), initial=1.0))


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family_special_rows(dtype, layout):
    """Every special row through the layout's forward and backward kernels,
    for softmax and log_softmax; softmin, the same kernels with the sign
    flipped, on the rows where the flip changes the case (+inf, -inf, NaN)
    and, one thread per row being cheap, on all rows in 'cols'."""
    x = _rows(dtype)
    # one thread per row needs inner > 1: the rows as columns
    a, axis = (np.ascontiguousarray(x.T), 0) if layout == "cols" else (x, -1)
    check_axis_function("softmax", a, axis, dtype, layout)
    check_axis_function("log_softmax", a, axis, dtype, layout)
    flips = a if layout == "cols" else a[[1, 2, 3, 4]]
    check_axis_function("softmin", flips, axis, dtype, layout)


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_not_the_last_axis(dtype, layout):
    """A middle axis of odd length (7 > the block layout's limit of 6) with
    rows before and after it, so every index of (outer, n, inner) is used;
    the first axis too in 'cols' (inner > 1 is what that layout takes)."""
    x = (np.random.default_rng(9).standard_normal((2, 7, 3)) * 5).astype(dtype)
    for axis in (1, 0) if layout == "cols" else (1,):
        for name in ("softmax", "log_softmax"):
            check_axis_function(name, x, axis, dtype, layout)


def test_layout_at_the_real_limits():
    from fastact.backends.cuda import _axis

    lim = _axis.WARP_ROW_MAX
    assert [_axis.layout(8, n, 1) for n in (1, lim, lim + 1)] == ["warp", "warp", "block"]
    many = _axis.COLS_MIN_ROWS
    assert _axis.layout(1, 5, many) == "cols" and _axis.layout(1, 5, many - 1) == "warp"
    assert _axis.layout(many, 5, 1) == "warp"  # inner == 1: never 'cols'


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_online_at_the_warp_limit(dtype, monkeypatch):
    """Rows at a warp limit of 160 (one warp, 5 elements a lane) and just
    over it (one block, here of two warps to combine): each thread's running
    max grows along the ramp (rescaling its sum), and the states are combined
    across lanes and warps; two warps per block in the warp kernel."""
    from fastact.backends.cuda import _axis

    for k, v in dict(WARP_ROW_MAX=160, ROW_WARPS=2, ROW_THREADS=64).items():
        monkeypatch.setattr(_axis, k, v)
    for n, kind in ((160, "warp"), (161, "block")):
        ramp = np.linspace(-30, 30, n)
        x = np.stack([ramp, np.sin(ramp) * 40]).astype(dtype)
        x[1, n // 2] = -np.inf
        check_axis_function("softmax", x, -1, dtype, kind)
        close(host(gpu_call("log_softmax", cuda.to_device(x))), fastact.log_softmax(x), dtype)


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_softmax_out_and_dtypes(monkeypatch):
    from fastact.backends.cuda import _axis

    monkeypatch.setattr(_axis, "ROW_WARPS", 1)  # no warp without a row
    x = np.random.default_rng(10).standard_normal((2, 3)).astype(np.float32)
    dx = cuda.to_device(x)
    o = cuda.to_device(np.zeros((2, 3), np.float32))
    assert gpu_call("softmax", dx, axis=0, out=o) is o
    close(host(o), fastact.softmax(x, axis=0), np.float32)
    gpu_call("log_softmax", dx, out=dx)  # in place
    close(host(dx), fastact.log_softmax(x), np.float32)
    h = gpu_call("softmax", cuda.to_device(x.astype(np.float16)))
    assert h.dtype == np.float16
    np.testing.assert_allclose(host(h), fastact.softmax(x.astype(np.float16)), rtol=1e-3)
    assert host(gpu_call("softmax", cuda.to_device(np.float64(3.0)))) == 1.0
    assert gpu_call("softmax", cuda.to_device(np.zeros((0, 4)))).shape == (0, 4)
    with pytest.raises(np.exceptions.AxisError):
        gpu_call("softmax", dx, axis=2)


# ---------------------------------------------------- glu, maxout (simulator)


@sim_only
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_glu(dtype):
    x = (np.random.default_rng(11).standard_normal((4, 6, 2)) * 4).astype(dtype)
    x[0, 0, 0], x[0, 3, 0] = np.inf, -np.inf  # inf * sigmoid(-inf): NaN
    x[1, 0, 1], x[1, 3, 1] = 2.0, -200.0  # sigmoid(b) subnormal in float32
    x[2, 1, 0] = np.nan
    dx = cuda.to_device(x)
    for axis in range(3):
        if x.shape[axis] % 2:
            continue
        want = fastact.glu(x, axis=axis)
        ulp_close(host(gpu_call("glu", dx, axis=axis)), want, 4)
        g = np.random.default_rng(12).standard_normal(want.shape).astype(dtype)
        ulp_close(
            host(gpu_call("glu_backward", cuda.to_device(g), dx, axis=axis)),
            fastact.glu_backward(g, x, axis=axis),
            4,
        )
    with pytest.raises(ValueError, match="length 3 is odd"):
        gpu_call("glu", cuda.to_device(np.ones((2, 3), dtype)))


@sim_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_maxout(dtype):
    x = np.random.default_rng(13).integers(-3, 3, (3, 6, 4)).astype(dtype)  # ties
    x[0, 1, 0] = np.nan
    x[1, 0:2, 1] = [-0.0, 0.0]
    x[2, 0:3, 2] = -np.inf
    dx = cuda.to_device(x)
    for axis, k in ((1, 3), (1, 2), (2, 4), (0, 3), (-1, 1)):
        v, i = gpu_call("maxout", dx, k, axis=axis, return_indices=True)
        cv, ci = fastact.maxout(x, k, axis=axis, return_indices=True)
        np.testing.assert_array_equal(host(v), cv)
        assert np.array_equal(np.signbit(host(v)), np.signbit(cv))
        np.testing.assert_array_equal(host(i), ci)
        g = np.arange(cv.size, dtype=dtype).reshape(cv.shape) + 1
        n = x.shape[axis]
        np.testing.assert_array_equal(
            host(gpu_call("maxout_backward", cuda.to_device(g), i, n, axis=axis)),
            fastact.maxout_backward(g, ci, n, axis=axis),
        )
    vo = cuda.device_array((3, 2, 4), dtype)
    io = cuda.device_array((3, 2, 4), np.int64)
    res = gpu_call("maxout", dx, 3, axis=1, return_indices=True, out=(vo, io))
    assert res[0] is vo and res[1] is io
    with pytest.raises(ValueError, match="not divisible by k=4"):
        gpu_call("maxout", dx, 4, axis=1)
    bad = cuda.to_device(np.zeros((3, 2, 4), np.int64))
    with pytest.raises(ValueError, match=r"indices\[0, 1, 0\] = 0 is not in its group \[3, 6\)"):
        gpu_call("maxout_backward", cuda.to_device(np.ones((3, 2, 4), dtype)), bad, 6, axis=1)


# ------------------------------------------------ PTX compilation (no GPU)


def _nvvm_available() -> bool:
    if SIM:
        return False
    try:
        from numba.cuda.cudadrv import nvvm

        nvvm.NVVM()
        return True
    except Exception:
        return False


ptx_only = pytest.mark.skipif(
    not _nvvm_available(),
    reason="needs numba-cuda's compiler "
    "(NVVM: pip install nvidia-nvvm nvidia-cuda-nvrtc) and the "
    "simulator off",
)


@pytest.fixture
def no_device(monkeypatch):
    """numba-cuda compiles a device function called from a kernel for the
    current device's compute capability, which asks the driver for a device;
    for compile-only checks the device is a stand-in of capability 8.0."""
    import numba.cuda.dispatcher as disp

    monkeypatch.setattr(
        disp, "get_current_device", lambda: pytypes.SimpleNamespace(compute_capability=(8, 0))
    )


def _ptx(fn, sig, device=False) -> str:
    ptx, _ = cuda.compile_ptx(fn, sig, device=device, cc=(8, 0))
    return ptx


def _instructions(ptx: str) -> list[str]:
    return [
        ln.strip()
        for ln in ptx.splitlines()
        if ln.strip() and not ln.strip().startswith(("//", ".", "{", "}", "$", ")"))
    ]


@ptx_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(REGISTRY))
def test_registry_kernels_compile_to_ptx(name, dtype, no_device):
    """Every kernel compiles for CUDA from the shared source, fully inlined;
    a float32 kernel has no float64 instruction."""
    from numba.core import types

    import fastact.backends.cuda  # noqa: F401  (numba-cuda compatibility: np.rint)
    from fastact.backends.cuda._ufuncs import arity, retyped

    for which in kernels(name):
        ty = getattr(types, dtype)
        ptx = _ptx(retyped(name, which, dtype), (ty,) * arity(name, which), device=True)
        body = _instructions(ptx)
        assert not [i for i in body if i.startswith("call")], "a helper was not inlined"
        if dtype == "float32":
            assert not [i for i in body if ".f64" in i], f"{name} {which} float32 uses float64"


@ptx_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_ufuncs_and_kernels_compile_to_ptx(dtype, no_device):
    """The vectorize-built CUDA ufuncs and every numba.cuda kernel of the
    package compile to PTX; the warp reductions are shuffles."""
    from numba.core import types as T

    from fastact.backends.cuda import _arrays, _axis, _calls
    from fastact.backends.cuda._ufuncs import arity, ufunc

    ty = getattr(T, dtype)
    for name, which in (("gelu", "backward"), ("softplus", "forward"), ("mish", "forward")):
        u = ufunc(name, which, dtype)
        assert type(u).__name__ == "CUDAUFuncDispatcher"
        ((_, kernel),) = u.functions.values()
        _ptx(kernel.py_func, (ty[::1],) * (arity(name, which) + 1))
    a3, a2, i3 = ty[:, :, ::1], ty[:, ::1], T.int64[:, :, ::1]
    for kind, (fwd, bwd) in _axis.softmax_kernels(dtype).items():
        ptx = _ptx(fwd.py_func, (a3, a3, ty, T.int64))
        assert ("shfl.sync.bfly" in ptx) == (kind != "cols")
        _ptx(bwd.py_func, (a3, a3, a3, ty, T.int64))
    gf, gb = _axis.glu_kernels(dtype)
    _ptx(gf.py_func, (a2, a2))
    _ptx(gb.py_func, (a2, a2, a2))
    _ptx(_axis._maxout_fwd.py_func, (a3, a3, i3, T.int64, T.boolean))
    _ptx(_axis._maxout_bwd.py_func, (a3, i3, a3, T.int64))
    _ptx(_axis._maxout_check.py_func, (i3, T.int64, T.int64[::1]))
    pf, pb, pw = _calls._prelu_kernels_for(dtype)
    _ptx(pf.py_func, (a3, ty[::1], a3))
    _ptx(pb.py_func, (a3, a3, ty[::1], a3))
    _ptx(pw.py_func, (a3, a3, T.float64[::1]))
    _ptx(_arrays._copy_kernel(3).py_func, (T.float16[:, :, :], ty[:, :, ::1]))


# ------------------------------------------------------------------ always


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_without_numba_cuda_says_what_to_install():
    r = _run("""
        import sys, importlib.abc
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "numba_cuda" or name.startswith(("numba_cuda.", "numba.cuda")):
                    raise ImportError("blocked for the test")
        sys.meta_path.insert(0, Block())
        import numpy as np, fastact
        class FakeGPU:
            __cuda_array_interface__ = {"shape": (3,), "typestr": "<f4", "data": (0, False),
                                        "version": 3}
        try:
            fastact.sigmoid(FakeGPU())
        except TypeError as e:
            print("TypeError:", e)
        print(fastact.sigmoid(np.zeros(2, np.float32)))
    """)
    assert r.returncode == 0, r.stderr
    assert "TypeError: fastact.sigmoid:" in r.stdout and "pip install numba-cuda" in r.stdout
    assert "[0.5 0.5]" in r.stdout


def test_numpy_input_never_imports_the_gpu_backend():
    r = _run("""
        import sys, numpy as np, fastact
        fastact.sigmoid(np.ones(3)); fastact.softmax(np.ones((2, 3)), axis=0)
        fastact.gelu_backward([1.0], [2.0]); fastact.maxout(np.ones(4), 2)
        print(sorted(m for m in sys.modules if m.startswith(("fastact.backends.cuda", "numba.cuda"))))
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
