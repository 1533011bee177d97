"""Arrays of other CPU libraries in, the same type out (fastact.backends.interop).

Every public array function, for every array library installed here (torch
CPU tensors, JAX CPU arrays, array-api-strict arrays): the result is the
input's type, its values are bit for bit the NumPy call's on the same data,
nothing is copied on the way in or out (JAX: see test_no_copy_out), out= is
written in place, and bad input raises what the NumPy call raises.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastact
from fastact import _dispatch
from fastact._dispatch import SPECS
from fastact.backends import interop

# a JAX built with GPU support would hand out GPU arrays, which take the GPU path
os.environ.setdefault("JAX_PLATFORMS", "cpu")

NAMES = sorted(SPECS)
RNG = np.random.default_rng(20)
X = (RNG.standard_normal((4, 6)) * 3).astype(np.float32)
G = RNG.standard_normal((4, 6)).astype(np.float32)
W = np.linspace(0.05, 0.3, 6, dtype=np.float32)


def _torch():
    import torch

    return torch, lambda a: torch.from_numpy(np.array(a))


def _jax():
    import jax.numpy as jnp

    return jnp.ndarray, jnp.asarray


def _strict():
    import array_api_strict as xp

    return xp.asarray(0).__class__, lambda a: xp.asarray(np.array(a))


_LIBS = {
    "torch": (_torch, "torch not installed (pip install '.[test]')"),
    "jax": (_jax, "JAX not installed (pip install '.[jax]')"),
    "array_api_strict": (_strict, "array-api-strict not installed (pip install '.[interop]')"),
}


def _installed(lib: str) -> bool:
    try:
        _LIBS[lib][0]()
    except ImportError:
        return False
    return True


KINDS = [
    pytest.param(lib, marks=pytest.mark.skipif(not _installed(lib), reason=_LIBS[lib][1]))
    for lib in _LIBS
]


@pytest.fixture(params=KINDS)
def lib(request):
    """(name, constructor from a NumPy array)."""
    name = request.param
    if name == "torch":
        torch, make = _torch()
        return name, make
    return name, _LIBS[name][0]()[1]


def _case(name: str) -> tuple[dict, dict]:
    """(array arguments as NumPy arrays, other keyword arguments) of a representative call."""
    kind = SPECS[name].kind
    kw = {"threshold": 0.5, "value": -9.0} if name.startswith("threshold") else {}
    if kind in ("elementwise", "random", "axis", "reduce", "glu"):
        return {"x": X}, kw
    if kind in ("elementwise_backward", "random_backward"):
        return {"grad_output": G, "x": X}, kw
    if kind == "prelu":
        return {"x": X, "weight": W}, kw
    if kind == "prelu_backward":
        return {"grad_output": G, "x": X, "weight": W}, kw
    if kind == "axis_backward":
        return {"grad_output": G, "y": fastact.softmax(X)}, kw
    if kind == "glu_backward":
        return {"grad_output": G[:, :3].copy(), "x": X}, kw
    if kind == "maxout":
        return {"x": X}, {"k": 2, "return_indices": True}
    if kind == "maxout_backward":
        _, idx = fastact.maxout(X, 2, return_indices=True)
        return {"grad_output": G[:, :3].copy(), "indices": idx}, {"n": 6}
    raise AssertionError(f"no test case for {name} (kind {kind})")


def _foreign_call(name: str, make):
    """(result of the call on foreign arrays, the same call on NumPy views of them)."""
    arrays, kw = _case(name)
    foreign = {k: make(v) for k, v in arrays.items()}
    views = {k: np.from_dlpack(v) for k, v in foreign.items()}
    f = getattr(fastact, name)
    return f(**foreign, **kw), f(**views, **kw), foreign


def _items(r):
    return r if isinstance(r, tuple) else (r,)


def _expected_dtype(libname: str, dt: np.dtype) -> np.dtype:
    if libname == "jax":
        import jax

        # JAX without jax_enable_x64 holds 64-bit results as 32-bit ones
        return np.dtype(jax.dtypes.canonicalize_dtype(dt))
    return dt


@pytest.mark.parametrize("name", NAMES)
def test_same_type_and_values(lib, name):
    libname, make = lib
    res, ref, foreign = _foreign_call(name, make)
    kind = type(next(iter(foreign.values())))
    assert isinstance(res, tuple) == isinstance(ref, tuple)
    for r, want in zip(_items(res), _items(ref)):
        assert type(r) is kind
        got = np.from_dlpack(r)
        assert got.dtype == _expected_dtype(libname, want.dtype)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want.astype(got.dtype), strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_no_copy_in(lib, name, monkeypatch):
    seen = []
    real = interop._to_numpy

    def spy(v, fname, argname):
        view = real(v, fname, argname)
        seen.append((v, view))
        return view

    monkeypatch.setattr(interop, "_to_numpy", spy)
    _foreign_call(name, lib[1])
    assert seen
    for v, view in seen:
        # another DLPack view of the caller's array: the same memory
        assert np.shares_memory(view, np.from_dlpack(v))
        assert view.ctypes.data == np.from_dlpack(v).ctypes.data


# the kinds whose results fastact allocates 64-byte aligned, so that JAX takes them as they are
JAX_VIEWS = interop._SAME_SHAPE


@pytest.mark.parametrize("name", NAMES)
def test_no_copy_out(lib, name, monkeypatch):
    libname = lib[0]
    handed = []
    real = interop._converter

    def spy(kind, fname):
        back = real(kind, fname)

        def convert(a):
            r = back(a)
            handed.append((a, r))
            return r

        return convert

    monkeypatch.setattr(interop, "_converter", spy)
    _foreign_call(name, lib[1])
    assert handed
    for a, r in handed:
        if libname == "jax" and (
            SPECS[name].kind not in JAX_VIEWS or _expected_dtype(libname, a.dtype) != a.dtype
        ):
            # JAX copies a buffer that is not 64-byte aligned or that it holds
            # in another dtype: only the results allocated aligned are views
            continue
        assert np.shares_memory(np.from_dlpack(r), a), f"{name}: the result was copied"


@pytest.mark.parametrize("name", NAMES)
def test_int_input_takes_numpy_dtype_rules(name):
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    arrays, kw = _case(name)
    ints = {k: (v * 4).astype(np.int32) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    f = getattr(fastact, name)
    res = f(**{k: torch.from_numpy(v) for k, v in ints.items()}, **kw)
    ref = f(**ints, **kw)
    for r, want in zip(_items(res), _items(ref)):
        np.testing.assert_array_equal(r.numpy(), want, strict=True)


@pytest.mark.parametrize("name", NAMES)
def test_out_in_place_on_torch(name):
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    arrays, kw = _case(name)
    f = getattr(fastact, name)
    kw.pop("return_indices", None)
    ref = _items(f(**arrays, **kw))[0]
    foreign = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    out = torch.full(ref.shape, -7, dtype=getattr(torch, str(ref.dtype)))
    res = _items(f(**foreign, **kw, out=out))[0]
    assert res is out
    np.testing.assert_array_equal(out.numpy(), ref, strict=True)
    first = next(iter(foreign))
    if tuple(foreign[first].shape) == ref.shape:
        # the input itself as out
        t = foreign[first]
        assert _items(f(**foreign, **kw, out=t))[0] is t
        np.testing.assert_array_equal(t.numpy(), ref, strict=True)


def test_maxout_tuple_out_on_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    v, i = fastact.maxout(X, 3, return_indices=True)
    vo, io = torch.empty(v.shape), torch.empty(i.shape, dtype=torch.int64)
    # NumPy x, torch outs: the call still takes the DLPack path
    for x in (X, torch.from_numpy(X.copy())):
        rv, ri = fastact.maxout(x, 3, return_indices=True, out=(vo, io))
        assert rv is vo and ri is io
        np.testing.assert_array_equal(vo.numpy(), v)
        np.testing.assert_array_equal(io.numpy(), i)
    rv, ri = fastact.maxout(torch.from_numpy(X.copy()), 3, return_indices=True, out=(None, io))
    assert ri is io and type(rv) is torch.Tensor


def test_mixed_numpy_and_torch():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    t = torch.from_numpy(X.copy())
    o = np.empty_like(X)
    assert fastact.sigmoid(t, out=o) is o
    ot = torch.empty(X.shape)
    assert fastact.sigmoid(X, out=ot) is ot
    r = fastact.relu_backward(G, t)
    assert type(r) is torch.Tensor
    np.testing.assert_array_equal(r.numpy(), fastact.relu_backward(G, X))


@pytest.mark.parametrize("name", NAMES)
def test_jax_out_raises_type_error(name):
    jnp = pytest.importorskip("jax.numpy", reason="JAX not installed (pip install '.[jax]')")
    arrays, kw = _case(name)
    kw.pop("return_indices", None)
    f = getattr(fastact, name)
    ref = _items(f(**arrays, **kw))[0]
    out = jnp.zeros(ref.shape, ref.dtype)
    for given in (arrays, {k: jnp.asarray(v) for k, v in arrays.items()}):
        with pytest.raises(TypeError, match=r"out cannot be a jax\S*: JAX arrays are immutable"):
            f(**given, **kw, out=out)


class _ReadOnly:
    """A DLPack exporter of a read-only NumPy array, with a namespace to come back to."""

    def __init__(self, a):
        self._a = a
        self._a.flags.writeable = False

    def __dlpack__(self, **kw):
        return self._a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()

    def __array_namespace__(self, api_version=None):
        return np


def test_read_only_export_as_out_raises_type_error():
    x = X.copy()
    out = _ReadOnly(np.zeros_like(X))
    with pytest.raises(TypeError, match="out is a .*_ReadOnly whose DLPack export is read-only"):
        fastact.sigmoid(x, out=out)
    np.testing.assert_array_equal(out._a, 0)
    # as input it is read, and comes back through its namespace (NumPy here)
    np.testing.assert_array_equal(fastact.sigmoid(_ReadOnly(x.copy())), fastact.sigmoid(x))


def _bad_calls(name: str, make):
    """(description, NumPy arguments, foreign arguments, keywords) of calls that must fail."""
    arrays, kw = _case(name)
    first = next(iter(arrays))
    bad = {**arrays, first: arrays[first].astype(np.complex64)}
    yield "complex dtype", bad, {k: make(v) for k, v in bad.items()}, kw
    if len(SPECS[name].arrays) == 2:
        short = {**arrays, first: arrays[first][:1]}
        yield "shape mismatch", short, {k: make(v) for k, v in short.items()}, kw
    if "axis" in SPECS[name].signature.parameters:
        yield (
            "axis out of range",
            arrays,
            {k: make(v) for k, v in arrays.items()},
            {**kw, "axis": 5},
        )
    if name.startswith("threshold"):
        nan = {**kw, "value": float("nan")}
        yield "NaN parameter", arrays, {k: make(v) for k, v in arrays.items()}, nan


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_as_numpy(lib, name):
    f = getattr(fastact, name)
    for what, npargs, fargs, kw in _bad_calls(name, lib[1]):
        with pytest.raises(Exception) as want:
            f(**npargs, **kw)
        with pytest.raises(want.type) as got:
            f(**fargs, **kw)
        assert str(got.value) == str(want.value), what


def test_unreadable_dtype_raises_type_error():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    t = torch.ones(3, dtype=torch.bfloat16)
    with pytest.raises(
        TypeError, match=r"fastact.sigmoid: x \(a torch.Tensor of dtype torch.bfloat16"
    ):
        fastact.sigmoid(t)


def test_requires_grad():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    t = torch.from_numpy(X.copy()).requires_grad_(True)
    r = fastact.tanh(t)
    # computed on the detached data; the result is outside the autograd graph
    assert not r.requires_grad and r.grad_fn is None
    np.testing.assert_array_equal(r.numpy(), fastact.tanh(X))
    with pytest.raises(TypeError, match="out is a torch.Tensor that requires grad"):
        fastact.tanh(X, out=torch.zeros(X.shape, requires_grad=True))


def test_torch_views_and_0d():
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    t = torch.from_numpy(X.copy())
    for v in (t.T, t[:, ::2], t[1, 2]):
        r = fastact.softplus(v)
        assert type(r) is torch.Tensor and tuple(r.shape) == tuple(v.shape)
        np.testing.assert_array_equal(r.numpy(), fastact.softplus(v.numpy()))


def test_numpy_input_stays_numpy():
    for x in (X, X.tolist(), np.float32(1.5)):
        assert type(fastact.sigmoid(x)) is np.ndarray
    m = np.ma.masked_array(X)
    assert _dispatch._owner(m) is None  # ndarray subclasses are NumPy's


def test_gpu_and_dask_arrays_keep_their_backends(monkeypatch):
    class FakeGPU:
        __cuda_array_interface__ = {}

        def __dlpack__(self, **kw):
            raise AssertionError

    class FakeDask:
        __module__ = "dask.array.core"

        def __dlpack__(self, **kw):
            raise AssertionError

    assert _dispatch._owner(FakeGPU())[1] == "fastact.backends.cuda"
    assert _dispatch._owner(FakeDask())[1] == "fastact.backends.dask"

    class Sentinel(Exception):
        pass

    def module(entry, spec, x):
        raise Sentinel(entry[1])

    # a GPU array with a CPU array of another library: the GPU backend decides
    torch = pytest.importorskip("torch", reason="torch not installed (pip install '.[test]')")
    spec = SPECS["sigmoid"]
    monkeypatch.setattr(_dispatch, "_backend_module", module)
    with pytest.raises(Sentinel, match="cuda"):
        _dispatch.foreign_call(spec, (torch.ones(3),), {"out": FakeGPU()})
    with pytest.raises(Sentinel, match="cuda"):
        _dispatch.foreign_call(spec, (FakeGPU(),), {"out": torch.ones(3)})


class _NamespaceOnly:
    """An array API object without DLPack: read with np.asarray (which may copy)."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a

    def __array_namespace__(self, api_version=None):
        return np


def test_namespace_without_dlpack():
    r = fastact.elu(_NamespaceOnly(X))
    assert type(r) is np.ndarray  # what its namespace's from_dlpack returns
    np.testing.assert_array_equal(r, fastact.elu(X), strict=True)
    with pytest.raises(TypeError, match="out is a .*_NamespaceOnly, which has no __dlpack__"):
        fastact.elu(X, out=_NamespaceOnly(np.empty_like(X)))
