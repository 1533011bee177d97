"""API contract tests: dtypes, shapes, ``out=``, parameters and errors.

What is checked here is the contract of docs/spec.md (section 1, "Rules
every array function follows"), for every public function at once: the
cases are generated from ``fastact.functions()`` and the registry, so a new
entry is covered without touching this file.  Accuracy and agreement with
torch live in tests/core/test_accuracy.py and tests/api/test_torch.py.

Run as a script to print the table of bad inputs and what they raise:

    python tests/api/test_api.py
"""

from __future__ import annotations

import doctest
import inspect
import io
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, from_dtype

import fastact
from fastact.core.registry import REGISTRY

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
_X = np.linspace(-2.0, 2.0, 4)
_X23 = np.linspace(-2.0, 2.0, 6).reshape(2, 3)


def _read_only(shape, dtype=F64):
    a = np.zeros(shape, dtype)
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------
# bad inputs: (description, call, exception type, substring of the message)
#
# One row per class of error; the generated tests further down repeat each
# class over every public function.  `python tests/api/test_api.py` prints this
# table with what each row actually raises.

BAD_INPUTS = [
    # dtypes
    ("complex128 x", lambda: fastact.sigmoid(np.array([1 + 2j])), TypeError, "complex128"),
    (
        "complex64 grad_output",
        lambda: fastact.tanh_backward(np.ones(1, np.complex64), [1.0]),
        TypeError,
        "grad_output has unsupported dtype complex64",
    ),
    ("object array x", lambda: fastact.relu(np.array([1.0], dtype=object)), TypeError, "object"),
    ("None as x", lambda: fastact.relu(None), TypeError, "object"),
    ("str array x", lambda: fastact.elu(np.array(["1.0"])), TypeError, "<U3"),
    ("list of str x", lambda: fastact.elu(["a", "b"]), TypeError, "<U1"),
    ("bytes array x", lambda: fastact.selu(np.array([b"ab"])), TypeError, "S2"),
    (
        "datetime64 x",
        lambda: fastact.mish(np.array(["2024-01-01"], dtype="M8[D]")),
        TypeError,
        "datetime64[D]",
    ),
    (
        "timedelta64 x",
        lambda: fastact.mish(np.array([3], dtype="m8[s]")),
        TypeError,
        "timedelta64[s]",
    ),
    (
        "longdouble x",
        lambda: fastact.softsign(np.ones(2, np.longdouble)),
        TypeError,
        str(np.dtype(np.longdouble)),
    ),
    ("ragged list x", lambda: fastact.relu([[1.0], [1.0, 2.0]]), ValueError, "inhomogeneous"),
    # out=
    (
        "out of the wrong shape (same size)",
        lambda: fastact.sigmoid(_X23, out=np.zeros((3, 2))),
        ValueError,
        "out has shape (3, 2), expected (2, 3)",
    ),
    (
        "out broadcastable but not x's shape",
        lambda: fastact.sigmoid(_X23[:1], out=np.zeros((2, 3))),
        ValueError,
        "expected (1, 3)",
    ),
    (
        "out float32 for float64 x",
        lambda: fastact.sigmoid(_X, out=np.zeros(4, F32)),
        TypeError,
        "out has dtype float32, expected float64",
    ),
    (
        "out=x for int x (result is float64)",
        lambda: (lambda i: fastact.relu(i, out=i))(np.arange(4)),
        TypeError,
        "expected float64",
    ),
    (
        "out float32 for float16 x",
        lambda: fastact.tanh(_X.astype(F16), out=np.zeros(4, F32)),
        TypeError,
        "expected float16",
    ),
    (
        "out is a list",
        lambda: fastact.sigmoid(_X, out=[0.0] * 4),
        TypeError,
        "must be a numpy.ndarray, got list",
    ),
    (
        "out read-only",
        lambda: fastact.sigmoid(_X, out=_read_only(4)),
        ValueError,
        "out is read-only",
    ),
    # scalar parameters
    (
        "NaN parameter",
        lambda: fastact.leaky_relu(_X, float("nan")),
        ValueError,
        "negative_slope must not be NaN, got nan",
    ),
    (
        "inf where finite",
        lambda: fastact.elu(_X, alpha=math.inf),
        ValueError,
        "alpha must be finite, got inf",
    ),
    (
        "int beyond float64 range",
        lambda: fastact.elu(_X, alpha=10**400),
        ValueError,
        "alpha must be finite, got an integer of 401 digits",
    ),
    (
        "0 where nonzero",
        lambda: fastact.celu(_X, alpha=0),
        ValueError,
        "alpha must be != 0, got 0.0",
    ),
    (
        "negative where nonneg",
        lambda: fastact.softshrink(_X, lambd=-0.5),
        ValueError,
        "lambd must be >= 0, got -0.5",
    ),
    (
        "negative std",
        lambda: fastact.noisy_relu(_X, std=-1.0, training=True, rng=0),
        ValueError,
        "std must be >= 0",
    ),
    (
        "string parameter",
        lambda: fastact.leaky_relu(_X, "0.1"),
        TypeError,
        "negative_slope must be a real number, got '0.1'",
    ),
    (
        "None for a required parameter",
        lambda: fastact.threshold(_X, None, 0.0),
        TypeError,
        "threshold must be a real number, got None",
    ),
    (
        "complex parameter",
        lambda: fastact.softplus(_X, beta=1j),
        TypeError,
        "beta must be a real number, got 1j",
    ),
    (
        "bool parameter",
        lambda: fastact.softplus(_X, beta=True),
        TypeError,
        "beta must be a real number, got True",
    ),
    (
        "array of 2 as a scalar parameter",
        lambda: fastact.hardshrink(_X, np.array([0.5, 1.0])),
        TypeError,
        "lambd must be a real number, got array([0.5, 1. ])",
    ),
    ("out passed positionally", lambda: fastact.sigmoid(_X, np.zeros(4)), TypeError, "positional"),
    ("missing required parameter", lambda: fastact.threshold(_X, 0.5), TypeError, "value"),
    (
        "hardtanh min_val > max_val",
        lambda: fastact.hardtanh(_X, 2.0, -1.5),
        ValueError,
        "min_val (2.0) must not be greater than max_val (-1.5)",
    ),
    (
        "rrelu lower > upper",
        lambda: fastact.rrelu_backward(_X, _X, lower=0.5, upper=0.25),
        ValueError,
        "lower (0.5) must not be greater than upper (0.25)",
    ),
    (
        "gelu approximate unknown",
        lambda: fastact.gelu(_X, approximate="fast"),
        ValueError,
        "got 'fast'",
    ),
    # backward
    (
        "grad_output and x shapes differ",
        lambda: fastact.sigmoid_backward(np.ones(3), _X),
        ValueError,
        "grad_output has shape (3,) but x has shape (4,)",
    ),
    (
        "grad_output broadcastable to x",
        lambda: fastact.sigmoid_backward(np.ones((1, 3)), _X23),
        ValueError,
        "grad_output has shape (1, 3) but x has shape (2, 3)",
    ),
    # prelu
    (
        "prelu weight length != channels",
        lambda: fastact.prelu(np.ones((2, 3, 4)), [0.1, 0.2]),
        ValueError,
        "weight has 2 values; expected 1 or the number of channels (x of shape (2, 3, 4) has 3 channels on axis 1)",
    ),
    (
        "prelu 2-d weight",
        lambda: fastact.prelu(_X23, np.ones((3, 1))),
        ValueError,
        "weight must be 0-d or 1-d, got shape (3, 1)",
    ),
    (
        "prelu NaN weight",
        lambda: fastact.prelu(_X, [0.25, np.nan, 0.1, 0.1]),
        ValueError,
        "weight must be finite, got nan",
    ),
    (
        "prelu complex weight",
        lambda: fastact.prelu(_X, 0.25j),
        TypeError,
        "weight has unsupported dtype complex128",
    ),
    # random functions
    (
        "backward in training without noise",
        lambda: fastact.rrelu_backward(_X, _X, training=True),
        ValueError,
        "training=True needs the forward's draw: pass noise=",
    ),
    (
        "noise of the wrong shape",
        lambda: fastact.noisy_relu_backward(_X, _X, training=True, noise=np.zeros(3)),
        ValueError,
        "noise has shape (3,) but x has shape (4,)",
    ),
    (
        "return_noise in evaluation mode",
        lambda: fastact.rrelu(_X, return_noise=True),
        ValueError,
        "return_noise=True needs training=True",
    ),
    (
        "noise= in evaluation mode",
        lambda: fastact.rrelu_backward(_X, _X, noise=np.ones(4)),
        ValueError,
        "noise= is only used with training=True",
    ),
    (
        "training not a bool",
        lambda: fastact.noisy_relu(_X, training=1),
        TypeError,
        "training must be a bool, got 1",
    ),
    (
        "rng of the wrong type",
        lambda: fastact.rrelu(_X, training=True, rng="seed"),
        TypeError,
        "rng must be None, an int seed or a numpy.random.Generator, got str",
    ),
    (
        "negative rng seed",
        lambda: fastact.rrelu(_X, training=True, rng=-1),
        ValueError,
        "rng seed -1 is invalid",
    ),
]


@pytest.mark.parametrize("desc, call_, exc, text", BAD_INPUTS, ids=[r[0] for r in BAD_INPUTS])
def test_bad_input_table(desc, call_, exc, text):
    with pytest.raises(exc) as info:
        call_()
    assert text in str(info.value)


# --------------------------------------------------------------------------
# the public functions as test data


def _base(name: str) -> str:
    return name[: -len("_backward")] if name.endswith("_backward") else name


# Functions over an axis (softmax, ...) have their own tests; everything here
# assumes the elementwise contract, which the registry entries share.
ELEMENTWISE = [n for n in fastact.functions() if _base(n) in REGISTRY]
FORWARD = [n for n in ELEMENTWISE if not n.endswith("_backward")]
BACKWARD = [n for n in ELEMENTWISE if n.endswith("_backward")]
WITH_PARAMS = [n for n in ELEMENTWISE if REGISTRY[_base(n)].params]
FLOATS = [F16, F32, F64]
INTS = [
    np.dtype(t)
    for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")
]


def entry(name: str):
    return REGISTRY[_base(name)]


def required_kw(name: str) -> dict:
    """Values for the parameters without a default (threshold's, prelu's weight), from the example."""
    example = entry(name).example[1]
    sig = inspect.signature(getattr(fastact, name)).parameters.values()
    return {
        p.name: example[p.name]
        for p in sig
        if p.default is p.empty and p.name not in ("x", "grad_output")
    }


def call(name: str, x, g=None, **kw):
    """fastact.name on x (a backward also gets grad_output g); prelu_backward's grad_input only."""
    f = getattr(fastact, name)
    kw = {**required_kw(name), **kw}
    if name.endswith("_backward"):
        r = f(g, x, **kw)
        return r[0] if name == "prelu_backward" else r
    return f(x, **kw)


def sample(shape, dtype, seed=0) -> np.ndarray:
    """Every kink of the registry's defaults (0, -0, +-0.5, +-1, +-3, +-6) and a spread around them."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(0 if dt.kind == "u" else -6, 7, size=shape).astype(dt)
    v = rng.standard_normal(shape) * 3
    flat = v.reshape(-1)
    kinks = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0]
    flat[: min(flat.size, len(kinks))] = kinks[: flat.size]
    return flat.reshape(np.shape(v)).astype(dt)


def inputs(name, shape, dtype, seed=0):
    """(x, g): g is None for a forward."""
    return sample(shape, dtype, seed), (
        sample(shape, dtype, seed + 1) if name.endswith("_backward") else None
    )


def assert_same(actual, expected, what=""):
    """Same type, dtype, shape and values (NaN equal to NaN, and the sign of zeros)."""
    assert isinstance(actual, np.ndarray), what
    assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), what
    np.testing.assert_array_equal(actual, expected, err_msg=what)
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected), err_msg=what)


def snapshot(*arrays):
    return [None if a is None else np.array(a, copy=True) for a in arrays]


def assert_unchanged(arrays, copies, what=""):
    for a, c in zip(arrays, copies):
        if a is not None:
            np.testing.assert_array_equal(a, c, err_msg=f"input modified {what}")


def result_dtype(dt) -> np.dtype:
    """The spec's dtype rule for one input."""
    dt = np.dtype(dt)
    return dt if dt in FLOATS else F64


# --------------------------------------------------------------------------
# the public function list and names


def test_functions_cover_the_registry():
    names = fastact.functions()
    expected = {
        n
        for e in REGISTRY.values()
        if e.public and e.name != "gelu_tanh"
        for n in (e.name, e.name + "_backward")
    }
    assert expected <= set(names)
    assert len(names) == len(set(names))
    assert set(names) <= set(fastact.__all__) and "functions" in fastact.__all__
    # every public name is a function, or a submodule (fastact.init)
    assert all(
        callable(getattr(fastact, n)) or inspect.ismodule(getattr(fastact, n))
        for n in fastact.__all__
    )
    names.append("not_a_function")  # a fresh list each time: the caller may mutate it
    assert "not_a_function" not in fastact.functions()


@pytest.mark.parametrize("name", fastact.functions())
def test_public_names(name):
    f = getattr(fastact, name)
    assert f.__name__ == name and f.__module__ == "fastact"


# --------------------------------------------------------------------------
# 1. dtypes


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_float32_float64_kept(name, dtype):
    x, g = inputs(name, (50,), dtype)
    r = call(name, x, g)
    assert r.dtype == dtype
    # the same inputs in float64 as a reference: within the spec's 4 ULP of it
    ref = call(name, x.astype(F64), None if g is None else g.astype(F64)).astype(dtype)
    np.testing.assert_array_max_ulp(r, ref, maxulp=4)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_float16_computed_in_float32(name):
    x, g = inputs(name, (60,), F16)
    r = call(name, x, g)
    ref = call(name, x.astype(F32), None if g is None else g.astype(F32)).astype(F16)
    assert_same(r, ref)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_integer_and_bool_promoted_to_float64(name):
    for dtype in INTS:
        x, g = inputs(name, (12,), dtype)
        ref = call(name, x.astype(F64), None if g is None else g.astype(F64))
        assert_same(call(name, x, g), ref, str(dtype))


BAD_DTYPES = {
    "complex64": lambda: np.array([1 + 1j, -2], np.complex64),
    "complex128": lambda: np.array([1 + 1j, -2]),
    "object": lambda: np.array([1.0, -2.0], dtype=object),
    "str": lambda: np.array(["1", "-2"]),
    "bytes": lambda: np.array([b"1", b"-2"]),
    "datetime64": lambda: np.array(["2024-01-01", "2024-01-02"], dtype="M8[D]"),
    "timedelta64": lambda: np.array([1, 2], dtype="m8[s]"),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_unsupported_dtype_raises_type_error_naming_it(name):
    good = np.array([1.0, -2.0])
    argnames = ["grad_output", "x"] if name.endswith("_backward") else ["x"]
    for make in BAD_DTYPES.values():
        for argname in argnames:
            a = make()
            args = {"x": good, "g": good}
            args["g" if argname == "grad_output" else "x"] = a
            with pytest.raises(TypeError) as info:
                call(name, args["x"], args["g"] if name.endswith("_backward") else None)
            msg = str(info.value)
            assert f"fastact.{name}" in msg and argname in msg and str(a.dtype) in msg, msg


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_scalars_and_lists(name):
    bwd = name.endswith("_backward")
    # a Python float or int gives a 0-d float64 ndarray (the spec: "returns an
    # ndarray of x's shape"), equal to the 0-d array call
    for s in (-0.75, 2.5, 0, 3):
        r = call(name, s, 1.5 if bwd else None)
        assert_same(r, call(name, np.array(s, F64), np.array(1.5) if bwd else None))
        assert r.shape == () and r.dtype == F64
    # a NumPy scalar keeps its dtype
    r = call(name, np.float32(-0.75), np.float32(1.5) if bwd else None)
    assert r.shape == () and r.dtype == F32
    # nested lists, as np.asarray reads them
    xs = [[-1.5, 0.0, 2.0], [3, -4, 0.5]]
    gs = [[1.0, 2.0, -1.0], [0.5, 1, 1]]
    ref = call(name, np.asarray(xs), np.asarray(gs) if bwd else None)
    assert_same(call(name, xs, gs if bwd else None), ref)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_big_endian_input(name):
    x, g = inputs(name, (20,), F64)
    swap = lambda a: None if a is None else a.astype(a.dtype.newbyteorder())
    assert_same(call(name, swap(x), swap(g)), call(name, x, g))


# The rule common_dtypes implements: each input first takes its own result
# dtype (int and bool -> float64, as alone), then NumPy promotion joins them.
# A float32 grad_output with a float64 x gives float64, as np.add would.  For
# (bool or int, float32) np.add would give float32; fastact gives float64, on
# purpose: the gradient of an integer x then has the dtype its forward had.
MIX = [F16, F32, F64, np.dtype(np.int8), np.dtype(np.int64), np.dtype(bool)]


@pytest.mark.parametrize("name", BACKWARD)
def test_backward_dtype_mixing(name):
    for gdt in MIX:
        for xdt in MIX:
            x, g = sample((9,), xdt, 1), sample((9,), gdt, 2)
            rdt = np.result_type(result_dtype(gdt), result_dtype(xdt))
            cdt = F32 if rdt == F16 else rdt
            r = call(name, x, g)
            assert r.dtype == rdt, (gdt, xdt)
            assert_same(r, call(name, x.astype(cdt), g.astype(cdt)).astype(rdt))
            if gdt == result_dtype(xdt):
                # grad_output of the forward result's dtype: gradient of that dtype too
                assert r.dtype == call(_base(name), x).dtype


# --------------------------------------------------------------------------
# 2. shapes and memory layouts

# values that overflow, underflow or are NaN somewhere inside a kernel
EXTREMES = {
    F32: [3.4e38, -3.4e38, 1e-45, -1e-45, 1e-30, 88.7, -88.7, 104.0, -104.0],
    F64: [1.7e308, -1.7e308, 5e-324, -5e-324, 1e-300, 709.8, -709.8, 745.2, -745.2],
}


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_no_floating_point_warnings(name, dtype):
    # the spec: no spurious overflow/underflow/invalid warnings.  A branch-free
    # kernel computes the side it discards too; none of that may leak out.
    x = np.array(EXTREMES[dtype] + [np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    g = np.ones_like(x) if name.endswith("_backward") else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            call(name, x, g)


SHAPES = [(), (0,), (3, 0), (0, 2, 4), (7,), (2, 3), (2, 3, 4), (2, 1, 3, 2), (1, 2, 3, 1, 2)]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_shapes(name):
    for shape in SHAPES:
        x, g = inputs(name, shape, F64)
        r = call(name, x, g)
        assert r.shape == shape, shape
        # elementwise: the same as on the flattened input
        flat = call(name, x.ravel(), None if g is None else g.ravel())
        assert_same(r, flat.reshape(shape))


def _unaligned(a):
    buf = np.empty(a.nbytes + 1, np.uint8)
    u = buf[1:].view(a.dtype).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned or a.itemsize == 1
    return u


VIEWS = {
    "steps": lambda a: a[1::2, ::3],
    "negative strides": lambda a: a[::-1, ::-2],
    "transpose": lambda a: a.transpose(2, 0, 1),
    "fortran": np.asfortranarray,
    "zero stride": lambda a: np.broadcast_to(a[:1], a.shape),
    "unaligned": _unaligned,
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder()),
}


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_views_equal_contiguous_copy(name, dtype):
    xb, gb = inputs(name, (6, 7, 3), dtype)
    contiguous = lambda a: None if a is None else np.array(a, a.dtype.newbyteorder("="), order="C")
    for view, make in VIEWS.items():
        x = make(xb)
        g = None if gb is None else make(gb)
        before = snapshot(x, g)
        assert_same(call(name, x, g), call(name, contiguous(x), contiguous(g)), view)
        assert_unchanged((x, g), before, view)


@pytest.mark.parametrize("dtype", [F16, F32, F64, np.dtype(np.int32), np.dtype(bool)], ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_inputs_never_modified(name, dtype):
    x, g = inputs(name, (4, 5), dtype)
    before = snapshot(x, g)
    call(name, x, g)
    assert_unchanged((x, g), before)


# --------------------------------------------------------------------------
# 3. out=


@pytest.mark.parametrize("dtype", [F16, F32, F64, np.dtype(np.int32)], ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_out_is_returned(name, dtype):
    x, g = inputs(name, (3, 4), dtype)
    out = np.full(x.shape, -7.0, result_dtype(dtype))
    r = call(name, x, g, out=out)
    assert r is out
    assert_same(out, call(name, x, g))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", FORWARD)
def test_out_is_x(name, dtype):
    x = sample((5, 4), dtype)
    expected = call(name, x.copy())
    assert call(name, x, out=x) is x
    assert_same(x, expected)


@pytest.mark.parametrize("target", ["grad_output", "x"])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", BACKWARD)
def test_backward_out_is_an_input(name, dtype, target):
    x, g = inputs(name, (5, 4), dtype)
    expected = call(name, x.copy(), g.copy())
    out = g if target == "grad_output" else x
    assert call(name, x, g, out=out) is out
    assert_same(out, expected)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", FORWARD)
def test_out_overlapping_x(name, dtype):
    buf = sample((12,), dtype)
    x, out = buf[:-2], buf[2:]
    expected = call(name, x.copy())
    assert call(name, x, out=out) is out
    assert_same(out, expected)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_out_strided_view(name, dtype):
    x, g = inputs(name, (4, 5), dtype)
    buf = np.full((8, 15), -7.0, dtype)
    out = buf[::2, ::-3]
    inside = np.zeros(buf.shape, bool)
    inside[::2, ::-3] = True
    outside = buf[~inside].copy()
    assert call(name, x, g, out=out) is out
    assert_same(out, call(name, x, g))
    # nothing written between the view's elements
    np.testing.assert_array_equal(buf[~inside], outside)


# (make out for x of shape (2, 3) and result dtype rdt, the exception)
OUT_ERRORS = {
    "shape transposed": (lambda rdt: np.full((3, 2), -7.0, rdt), ValueError),
    "shape broadcastable": (lambda rdt: np.full((2, 2, 3), -7.0, rdt), ValueError),
    "shape too small": (lambda rdt: np.full((1, 3), -7.0, rdt), ValueError),
    "dtype": (lambda rdt: np.full((2, 3), -7.0, F32 if rdt != F32 else F64), TypeError),
    "dtype int": (lambda rdt: np.full((2, 3), -7, np.int64), TypeError),
    "not an ndarray": (lambda rdt: [[-7.0] * 3] * 2, TypeError),
    "read-only": (lambda rdt: _read_only((2, 3), rdt), ValueError),
}


@pytest.mark.parametrize("dtype", [F16, F64, np.dtype(np.int16)], ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bad_out_raises_and_writes_nothing(name, dtype):
    x, g = inputs(name, (2, 3), dtype)
    for err, (make, exc) in OUT_ERRORS.items():
        out = make(result_dtype(dtype))
        before = snapshot(x, g, np.array(out))
        with pytest.raises(exc, match="out"):
            call(name, x, g, out=out)
        # the sentinel fill still there, inputs as they were
        assert_unchanged((x, g, np.array(out)), before, err)


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_bad_parameter_writes_nothing_to_out(name):
    x, g = inputs(name, (2, 3), F64)
    p = entry(name).params[0].name
    out = np.full(x.shape, -7.0)
    before = snapshot(x, g, out)
    bad = [0.25, np.nan, 0.1] if p == "weight" else np.nan  # prelu's weight is an array
    with pytest.raises(ValueError, match="nan"):
        call(name, x, g, out=out, **{p: bad})
    assert_unchanged((x, g, out), before)


@pytest.mark.parametrize("name", BACKWARD)
def test_backward_shape_mismatch_writes_nothing_to_out(name):
    x = sample((2, 3), F64)
    out = np.full(x.shape, -7.0)
    with pytest.raises(ValueError):
        call(name, x, np.ones((3, 2)), out=out)
    assert (out == -7.0).all()


# --------------------------------------------------------------------------
# 4. parameters

_BAD_VALUES = {  # values each check must refuse
    "finite": [math.nan, math.inf, -math.inf],
    "any": [math.nan],
    "positive": [math.nan, math.inf, 0.0, -1.0],
    "nonneg": [math.nan, math.inf, -0.5],
    "nonzero": [math.nan, -math.inf, 0.0],
}
_EDGE_VALUES = {  # values each check must accept (unless a cross-parameter rule says otherwise)
    "finite": [-1e300, 0.0, 1e300],
    "any": [-math.inf, math.inf],
    "positive": [5e-324],
    "nonneg": [0.0],
    "nonzero": [-1.0, 5e-324],
}
PARAM_CASES = [
    (n, p)
    for n in WITH_PARAMS
    for p in entry(n).params
    if p.name in inspect.signature(getattr(fastact, n)).parameters
]


def _param_id(case):
    return f"{case[0]}-{case[1].name}"


def _call_with(name, p, value):
    x, g = inputs(name, (2, 3), F64)
    if name.startswith("prelu"):
        value = [value]  # the weight is array-like
    return call(name, x, g, **{p.name: value})


@pytest.mark.parametrize("name, p", PARAM_CASES, ids=map(_param_id, PARAM_CASES))
def test_parameter_bad_values(name, p):
    for v in _BAD_VALUES[p.check]:
        with pytest.raises(ValueError) as info:
            _call_with(name, p, v)
        msg = str(info.value)
        assert p.name in msg and str(v) in msg, msg


@pytest.mark.parametrize("name, p", PARAM_CASES, ids=map(_param_id, PARAM_CASES))
def test_parameter_edge_values_accepted(name, p):
    e = entry(name)
    for v in _EDGE_VALUES[p.check]:
        vals = [
            v
            if q.name == p.name
            else (q.default if q.default is not None else e.example[1][q.name])
            for q in e.params
        ]
        if e.check is not None and e.check(*vals):
            with pytest.raises(ValueError, match=p.name):
                _call_with(name, p, v)
        else:
            # (tiny or huge parameters may overflow on the way: the accuracy tests
            # own the special values; here only acceptance counts)
            with np.errstate(over="ignore"):
                assert _call_with(name, p, v).shape == (2, 3)


@pytest.mark.parametrize("name, p", PARAM_CASES, ids=map(_param_id, PARAM_CASES))
def test_parameter_not_a_number(name, p):
    bad = ["0.5", None, 1j] + ([] if name.startswith("prelu") else [np.array([0.5, 0.5]), True])
    x, g = inputs(name, (2, 3), F64)
    for v in bad:
        with pytest.raises(TypeError) as info:
            call(name, x, g, **{p.name: v})
        msg = str(info.value)
        assert p.name in msg, msg
        # scalar parameters quote the value; prelu's array weight, the dtype it makes
        shown = str(np.asarray(v).dtype) if name.startswith("prelu") else repr(v)
        assert shown in msg, msg


@pytest.mark.parametrize(
    "name, p",
    [c for c in PARAM_CASES if not c[0].startswith("prelu")],
    ids=map(_param_id, [c for c in PARAM_CASES if not c[0].startswith("prelu")]),
)
def test_parameter_numeric_types(name, p):
    e = entry(name)
    v = p.default if p.default is not None else e.example[1][p.name]
    x, g = inputs(name, (2, 3), F64)
    kinds = [np.float64(v), np.float32(v), Fraction(v)] + (
        [int(v), np.int64(v)] if float(v).is_integer() else []
    )
    for value in kinds:
        assert_same(call(name, x, g, **{p.name: value}), call(name, x, g, **{p.name: float(value)}))


def test_parameter_huge_int_is_infinite_where_allowed():
    # hardtanh's bounds may be infinite; an int beyond float64 is that infinity
    x = sample((20,), F64)
    assert_same(fastact.hardtanh(x, -(10**400), 10**400), fastact.hardtanh(x, -math.inf, math.inf))


CROSS = [n for n in ELEMENTWISE if entry(n).check is not None]


@pytest.mark.parametrize("name", CROSS)
def test_cross_parameter_check(name):
    e = entry(name)
    assert len(e.params) == 2  # both checked rules today order two parameters
    lo, hi = (q.default for q in e.params)
    x, g = inputs(name, (3,), F64)
    # swapped (and made distinct, so that each appears on its own in the message)
    bad = (hi + 0.5, lo - 0.25)
    assert e.check(*bad)
    with pytest.raises(ValueError) as info:
        call(name, x, g, **{q.name: v for q, v in zip(e.params, bad)})
    msg = str(info.value)
    assert all(q.name in msg for q in e.params) and all(str(v) in msg for v in bad), msg
    # equal bounds are allowed
    call(name, x, g, **{q.name: 0.25 for q in e.params})


@pytest.mark.parametrize("name", BACKWARD)
def test_backward_shapes_must_match(name):
    for gs, xs in [((3,), (4,)), ((1, 3), (2, 3)), ((), (1,)), ((2, 3), (3, 2))]:
        with pytest.raises(ValueError) as info:
            call(name, np.ones(xs), np.ones(gs))
        assert str(gs) in str(info.value) and str(xs) in str(info.value)


# --------------------------------------------------------------------------
# 5. properties over random shapes, layouts and dtypes


@st.composite
def layouts(draw, shape, dtype):
    """An array of `shape` in any layout: permuted axes, steps, reversed axes, an offset."""
    ndim = len(shape)
    perm = draw(st.permutations(range(ndim)))
    steps = [draw(st.sampled_from([1, 2, 3, -1, -2])) for _ in range(ndim)]
    offs = [draw(st.integers(0, 1)) for _ in range(ndim)]
    pshape = [shape[i] for i in perm]
    bshape = tuple(n * abs(k) + 1 for n, k in zip(pshape, steps))
    if dtype.kind == "f":
        elements = st.floats(width=8 * dtype.itemsize, allow_subnormal=True)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        elements = from_dtype(dtype)
    base = draw(arrays(dtype, bshape, elements=elements))
    # a leading Ellipsis keeps a 0-d result an array (base[()] would be a scalar)
    v = base[
        (...,) + tuple(slice(o, o + n * abs(k), abs(k)) for o, n, k in zip(offs, pshape, steps))
    ]
    v = v[(...,) + tuple(slice(None, None, -1 if k < 0 else 1) for k in steps)]
    v = v.transpose(np.argsort(perm)) if ndim else v
    assert v.shape == tuple(shape)
    return v


_SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
_ALL_DTYPES = st.sampled_from(
    [F16, F32, F64, np.dtype(np.int16), np.dtype(np.uint8), np.dtype(bool)]
)


def _params_for(name):
    return st.sampled_from([{}] + [dict(tp) for tp in entry(name).test_params])


@settings(max_examples=150)
@given(data=st.data(), name=st.sampled_from(ELEMENTWISE), dtype=_ALL_DTYPES, shape=_SHAPES)
def test_property_layout_independent(data, name, dtype, shape):
    kw = data.draw(_params_for(name))
    x = data.draw(layouts(shape, dtype))
    g = data.draw(layouts(shape, dtype)) if name.endswith("_backward") else None
    before = snapshot(x, g)
    with np.errstate(over="ignore"):  # float16 results may round to inf (true overflow)
        r = call(name, x, g, **kw)
        ref = call(name, x.copy(order="C"), None if g is None else g.copy(order="C"), **kw)
    assert_same(r, ref)
    assert_unchanged((x, g), before)


@settings(max_examples=100)
@given(data=st.data(), name=st.sampled_from(FORWARD), dtype=st.sampled_from(FLOATS), shape=_SHAPES)
def test_property_in_place_forward(data, name, dtype, shape):
    kw = data.draw(_params_for(name))
    x = data.draw(layouts(shape, dtype))
    with np.errstate(over="ignore"):
        expected = call(name, x.copy(), **kw)
        assert call(name, x, out=x, **kw) is x
    assert_same(x, expected)


@settings(max_examples=100)
@given(data=st.data(), name=st.sampled_from(BACKWARD), dtype=st.sampled_from(FLOATS), shape=_SHAPES)
def test_property_in_place_backward(data, name, dtype, shape):
    kw = data.draw(_params_for(name))
    x = data.draw(layouts(shape, dtype))
    g = data.draw(layouts(shape, dtype))
    with np.errstate(over="ignore"):
        expected = call(name, x, g.copy(), **kw)
        assert call(name, x, g, out=g, **kw) is g
    assert_same(g, expected)


# --------------------------------------------------------------------------
# 6. docstrings


@pytest.mark.parametrize("name", fastact.__all__)
def test_docstring_examples_run(name):
    f = getattr(fastact, name)
    tests = [t for t in doctest.DocTestFinder(recurse=False).find(f, name, globs={}) if t.examples]
    assert tests, f"{name} has no doctest examples"
    runner = doctest.DocTestRunner()
    report = io.StringIO()
    for t in tests:
        runner.run(t, out=report.write)
    assert runner.failures == 0, report.getvalue()


@pytest.mark.parametrize("name", fastact.functions())
def test_docstring_has_examples_section(name):
    doc = getattr(fastact, name).__doc__ or ""
    assert "Examples\n--------" in doc and ">>> " in doc


# --------------------------------------------------------------------------
# 7. rrelu and noisy_relu (random in training mode); prelu (a weight per channel)

RANDOM = ["rrelu", "noisy_relu"]


def _train(name, x, rng, **kw):
    return getattr(fastact, name)(x, training=True, rng=rng, return_noise=True, **kw)


@pytest.mark.parametrize("name", RANDOM)
def test_training_seeded(name):
    x = sample((200,), F64)
    y1, n1 = _train(name, x, 7)
    y2, n2 = _train(name, x, 7)
    assert_same(y1, y2)
    assert_same(n1, n2)
    # an int seeds a fresh Generator: the same as passing default_rng(seed)
    assert_same(_train(name, x, np.random.default_rng(7))[1], n1)
    y3, n3 = _train(name, x, 8)
    assert not np.array_equal(n1, n3)
    # rng=None: fresh entropy every call
    assert not np.array_equal(_train(name, x, None)[1], _train(name, x, None)[1])


@pytest.mark.parametrize("name", RANDOM)
def test_training_generator_is_advanced(name):
    x = sample((100,), F64)
    gen = np.random.default_rng(3)
    _, n1 = _train(name, x, gen)
    _, n2 = _train(name, x, gen)
    assert not np.array_equal(n1, n2)


@pytest.mark.parametrize("name", RANDOM)
def test_training_failed_call_draws_nothing(name):
    x = sample((10,), F64)
    gen = np.random.default_rng(3)
    state = gen.bit_generator.state
    with pytest.raises(TypeError):
        _train(name, x, gen, out=np.zeros(10, F32))
    assert gen.bit_generator.state == state


@pytest.mark.parametrize("view", ["steps", "negative strides", "transpose", "fortran"])
@pytest.mark.parametrize("name", RANDOM)
def test_training_draws_independent_of_layout(name, view):
    # one draw per element in the logical (C) order of x, whatever its memory
    x = VIEWS[view](sample((6, 7, 3), F64))
    y, n = _train(name, x, 11)
    yc, nc = _train(name, x.copy(order="C"), 11)
    assert_same(y, yc)
    assert_same(n, nc)


def _rounded(exact, dtype):
    """A float64 result as the API delivers it in `dtype` (float16 by way of float32)."""
    return exact.astype(F32 if dtype == F16 else dtype).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_rrelu_training(dtype):
    lower, upper = 0.1, 0.4
    x = sample((4000,), dtype)
    y, noise = _train("rrelu", x, 5, lower=lower, upper=upper)
    neg = x <= 0
    # torch's rrelu_with_noise: a slope drawn in [lower, upper] where x <= 0, 1 elsewhere
    assert np.all((noise[neg] >= lower) & (noise[neg] <= upper))
    assert np.all(noise[~neg] == 1.0)
    assert abs(noise[neg].mean() - (lower + upper) / 2) < 0.01
    x64 = x.astype(F64)
    assert_same(y, _rounded(np.where(neg, x64 * noise, x64), dtype))
    g = sample(x.shape, dtype, 9)
    grad = fastact.rrelu_backward(g, x, lower, upper, training=True, noise=noise)
    assert_same(grad, _rounded(np.where(x64 > 0, g.astype(F64), g.astype(F64) * noise), dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_noisy_relu_training(dtype):
    std = 0.5
    x = sample((4000,), dtype)
    y, noise = _train("noisy_relu", x, 5, std=std)
    assert abs(noise.mean()) < 0.03 and abs(noise.std() / std - 1) < 0.05
    s = x.astype(F64) + noise
    assert_same(y, _rounded(np.where(s > 0, s, 0.0), dtype))
    # spec: the derivative is 1 where x + n > 0
    g = sample(x.shape, dtype, 9)
    grad = fastact.noisy_relu_backward(g, x, std, training=True, noise=noise)
    assert_same(grad, _rounded(np.where(s > 0, g.astype(F64), 0.0), dtype))


def test_noisy_relu_std_zero_is_relu():
    x = sample((50,), F64)
    np.testing.assert_array_equal(fastact.noisy_relu(x, 0.0, training=True, rng=1), fastact.relu(x))


@pytest.mark.parametrize("name", RANDOM)
def test_training_out_and_in_place(name):
    x = sample((5, 6), F64)
    expected = getattr(fastact, name)(x, training=True, rng=2)
    out = np.full(x.shape, -7.0)
    assert getattr(fastact, name)(x, training=True, rng=2, out=out) is out
    assert_same(out, expected)
    assert getattr(fastact, name)(x, training=True, rng=2, out=x) is x
    assert_same(x, expected)


@pytest.mark.parametrize("name", RANDOM)
def test_backward_training_needs_noise(name):
    # documented: "noise : ndarray, required when training"
    assert "required when training" in getattr(fastact, name + "_backward").__doc__
    x = sample((5,), F64)
    with pytest.raises(ValueError, match="noise="):
        getattr(fastact, name + "_backward")(np.ones(5), x, training=True)


def test_rrelu_eval_is_leaky_relu_with_mean_slope():
    lower, upper = 0.1, 0.35
    x, g = sample((300,), F64), sample((300,), F64, 1)
    slope = (lower + upper) / 2
    assert_same(fastact.rrelu(x, lower, upper), fastact.leaky_relu(x, slope))
    assert_same(
        fastact.rrelu_backward(g, x, lower, upper), fastact.leaky_relu_backward(g, x, slope)
    )
    torch = pytest.importorskip("torch", reason="torch is the reference for rrelu's eval mode")
    ref = torch.nn.functional.rrelu(torch.from_numpy(x), lower, upper, training=False).numpy()
    np.testing.assert_array_equal(fastact.rrelu(x, lower, upper), ref)


@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 5), (2, 3, 2, 2)])
@pytest.mark.parametrize("per_channel", [False, True])
def test_prelu(shape, per_channel):
    x, g = sample(shape, F64), sample(shape, F64, 1)
    ch = 1 if len(shape) >= 2 else 0
    c = shape[ch]
    w = np.linspace(-0.5, 0.5, c) if per_channel else 0.25
    wb = np.reshape(w, (c,) + (1,) * (len(shape) - ch - 1)) if per_channel else w
    np.testing.assert_array_equal(fastact.prelu(x, w), np.where(x > 0, x, wb * x))
    gi, gw = fastact.prelu_backward(g, x, w)
    np.testing.assert_array_equal(gi, np.where(x > 0, g, g * wb))
    terms = np.where(x > 0, 0.0, g * x)
    ref_gw = (
        terms.sum(axis=tuple(i for i in range(len(shape)) if i != ch))
        if per_channel
        else terms.sum()
    )
    assert isinstance(gw, np.ndarray) and gw.shape == np.shape(w)
    np.testing.assert_allclose(gw, ref_gw, rtol=1e-12, atol=1e-12)
    # the channel axis is found in any memory layout
    for view in (np.asfortranarray, lambda a: a[::-1, ...], lambda a: a.T.copy().T):
        xv, gv = view(x), view(g)
        assert_same(fastact.prelu(xv, w), fastact.prelu(xv.copy(order="C"), w))
        gi_v, gw_v = fastact.prelu_backward(gv, xv, w)
        gi_c, gw_c = fastact.prelu_backward(gv.copy(order="C"), xv.copy(order="C"), w)
        assert_same(gi_v, gi_c)
        np.testing.assert_allclose(gw_v, gw_c, rtol=1e-12, atol=1e-12)


def test_prelu_single_weight_array_broadcasts():
    x, g = sample((2, 3, 4), F64), sample((2, 3, 4), F64, 1)
    assert_same(fastact.prelu(x, [0.3]), fastact.prelu(x, 0.3))
    gi, gw = fastact.prelu_backward(g, x, [0.3])
    gi0, gw0 = fastact.prelu_backward(g, x, 0.3)
    assert_same(gi, gi0)
    assert gw.shape == (1,) and gw0.shape == () and gw[0] == gw0


@pytest.mark.parametrize("shape, nw", [((2, 3, 4), 4), ((5,), 3), ((), 2), ((4, 2), 4)])
def test_prelu_wrong_weight_length(shape, nw):
    with pytest.raises(ValueError) as info:
        fastact.prelu(np.ones(shape), np.full(nw, 0.1))
    msg = str(info.value)
    assert f"{nw} values" in msg
    if shape:
        ch = 1 if len(shape) >= 2 else 0
        assert f"{shape[ch]} channels" in msg


@pytest.mark.parametrize("target", ["grad_output", "x"])
def test_prelu_backward_in_place(target):
    # grad_weight must come from the inputs as they were before out was written
    x, g = sample((3, 4, 2), F64), sample((3, 4, 2), F64, 1)
    w = np.array([0.1, -0.2, 0.3, 0.05])
    gi_ref, gw_ref = fastact.prelu_backward(g.copy(), x.copy(), w)
    out = g if target == "grad_output" else x
    gi, gw = fastact.prelu_backward(g, x, w, out=out)
    assert gi is out
    assert_same(gi, gi_ref)
    assert_same(gw, gw_ref)


@pytest.fixture
def fused_prelu(monkeypatch):
    """The calls that reached prelu's one-pass backward kernel, by block shape."""
    from fastact.cpu import grouped

    seen: list[tuple] = []
    real = grouped.prelu_backward

    def counted(g, x, gi, w, *rest):
        seen.append(tuple(x.shape))
        return real(g, x, gi, w, *rest)

    monkeypatch.setattr(grouped, "prelu_backward", counted)
    return seen


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize(
    "shape, per_channel", [((300_001,), False), ((3, 5, 40_000), True), ((2, 3, 1500), True)]
)
def test_prelu_backward_one_pass(dtype, shape, per_channel, fused_prelu):
    # grad_input as the ufunc computes it, the weight's sums exact to within
    # float64 rounding, and the same bits for any thread count
    from fastact.cpu import ufunc

    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x.flat[::1009] = -0.0
    x.flat[1::1013] = np.finfo(dtype).tiny / 8
    w = np.linspace(-0.5, 0.5, shape[1]) if per_channel else 0.25
    wb = np.reshape(w, (-1,) + (1,) * (len(shape) - 2)) if per_channel else w
    terms = np.where(x > 0, 0, g * x).astype(np.float64)  # the product in x's type
    sums = terms.reshape(-1, *shape[1:2], math.prod(shape[2:])) if per_channel else terms
    exact = (
        [math.fsum(sums[:, c].ravel()) for c in range(shape[1])]
        if per_channel
        else math.fsum(terms)
    )
    old, split = fastact.get_num_threads(), ufunc.set_force_split(True)
    try:
        runs = []
        for nt in (1, 2, 3):
            fastact.set_num_threads(nt)
            runs.append(fastact.prelu_backward(g, x, w))
    finally:
        fastact.set_num_threads(old)
        ufunc.set_force_split(split)
    assert len(fused_prelu) == 3
    gi, gw = runs[0]
    assert_same(gi, np.where(x > 0, g, g * np.asarray(wb).astype(dtype)))
    np.testing.assert_allclose(gw, exact, rtol=1e-13, atol=1e-300)
    for gi2, gw2 in runs[1:]:
        assert_same(gi2, gi)
        assert_same(gw2, gw)


def test_prelu_backward_short_runs_stay_on_the_ufuncs(fused_prelu):
    # a channel axis last: one element per (row, channel) run
    x, g = sample((4000, 8), F32), sample((4000, 8), F32, 1)
    w = np.linspace(-0.5, 0.5, 8)
    gi, gw = fastact.prelu_backward(g, x, w)
    assert fused_prelu == []
    np.testing.assert_allclose(gw, np.where(x > 0, 0, g * x).astype(np.float64).sum(0), rtol=1e-12)


def test_prelu_backward_out_is_g_while_x_overlaps_it(fused_prelu):
    # out is grad_output itself, x a shifted view of the same memory: x must
    # not be read after out has overwritten it
    n = 50_000
    for shift in (1, -1):
        buf = sample((n + 1,), F64, 2)
        g = buf[:-1] if shift == 1 else buf[1:]
        x = buf[1:] if shift == 1 else buf[:-1]
        gi_ref, gw_ref = fastact.prelu_backward(g.copy(), x.copy(), 0.3)
        gi, gw = fastact.prelu_backward(g, x, 0.3, out=g)
        assert gi is g
        assert_same(gi, gi_ref)
        assert_same(gw, gw_ref)


@pytest.mark.parametrize("shift", [1, -1])
def test_prelu_backward_out_overlapping_an_input(shift, fused_prelu):
    # out a shifted view of grad_output's memory: computed aside, then copied
    n = 50_000
    buf = sample((n + 1,), F64, 1)
    g = buf[1:] if shift == 1 else buf[:-1]
    out = buf[:-1] if shift == 1 else buf[1:]
    x = sample((n,), F64)
    gi_ref, gw_ref = fastact.prelu_backward(g.copy(), x, 0.3)
    gi, gw = fastact.prelu_backward(g, x, 0.3, out=out)
    assert gi is out and fused_prelu
    assert_same(gi, gi_ref)
    assert_same(gw, gw_ref)


@pytest.mark.parametrize("wdt", [F16, F32, F64, np.dtype(np.int64)], ids=str)
def test_prelu_grad_weight_dtype(wdt):
    # grad_weight takes the weight's own result dtype (summed in float64)
    x, g = sample((3, 4), F32), sample((3, 4), F32, 1)
    w = np.array([1, 0, 2, 1], wdt)
    gi, gw = fastact.prelu_backward(g, x, w)
    assert gi.dtype == F32 and gw.dtype == result_dtype(wdt)


# --------------------------------------------------------------------------


def _markdown_table() -> str:
    lines = ["| bad input | raised |", "|---|---|"]
    for desc, f, _, _ in BAD_INPUTS:
        try:
            f()
            raised = "(nothing raised)"
        except Exception as exc:  # the table reports whatever comes out
            raised = f"{type(exc).__name__}: {exc}"
        cell = raised.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {desc} | `{cell}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_markdown_table())
