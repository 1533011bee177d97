"""The backward from the forward's output: ``NAME_backward(grad_output, y=y)``.

Parametrized over the registry entries that declare a ``from_y`` kernel:
its ULP error against the derivative as a function of y (mpmath, and the
float64 loop densely), torch's backward-from-result op, the argument rules,
``out=``, dtypes, layouts and special values.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import fastact
from fastact.core.registry import REGISTRY
from tests.accuracy import CASES, FLOATS, sample

Y_CASES = [c for c in CASES if c.entry.from_y is not None]
IDS = [c.id for c in Y_CASES]
NO_Y = sorted(
    n
    for n in fastact.functions()
    if n.endswith("_backward")
    and n.removesuffix("_backward") in REGISTRY
    and REGISTRY[n.removesuffix("_backward")].from_y is None
    and "y" in inspect.signature(getattr(fastact, n)).parameters
)
# the entries whose derivative is piecewise constant: from y it must equal
# the derivative from x bit for bit (y tells the branch exactly)
PIECEWISE = {"identity", "relu", "leaky_relu", "hardtanh", "relu6", "softshrink", "hardshrink"}


def from_y(case, g, y, **kw):
    return getattr(fastact, case.public + "_backward")(g, y=y, **case.kwargs, **kw)


def outputs(case, dtype, n: int) -> np.ndarray:
    """Forward outputs at the accuracy sample points (NaN-free), the
    breakpoints' neighbourhoods, and points spread over the forward's range."""
    x = sample(dtype, n)
    if case.entry.breakpoints is not None:
        b = np.array(case.entry.breakpoints(*case.params), dtype)
        x = np.concatenate([x, b, np.nextafter(b, dtype(np.inf)), np.nextafter(b, -dtype(np.inf))])
    with np.errstate(all="ignore"):
        y = case.forward(x.astype(dtype))
    return np.unique(y[~np.isnan(y)])


def test_the_from_y_entries():
    """The entries the docs list as taking y=, and no others."""
    assert {c.entry.name for c in Y_CASES} == {
        "identity",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "softsign",
        "hardtanh",
        "relu6",
        "softshrink",
        "hardshrink",
    }
    assert PIECEWISE <= {c.entry.name for c in Y_CASES}


# ---------------------------------------------------------------- accuracy


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", Y_CASES, ids=IDS)
def test_ulp_error_against_the_formula_at_y(case, dtype):
    """<= 4 ULP from the derivative as a function of the given y, evaluated
    in high precision, where that is a normal number; exact where it is 0."""
    import mpmath

    y = outputs(case, dtype, 3000)
    y = np.concatenate([y, np.linspace(-2, 2, 101).astype(dtype)])  # out of range too
    got = from_y(case, np.ones_like(y), y)
    assert got.dtype == dtype
    fi = np.finfo(dtype)
    tiny, p = mpmath.mpf(float(fi.smallest_normal)), fi.nmant + 1
    params = case.loop_params(dtype)
    worst = (0.0, 0.0)
    with mpmath.workprec(200):
        for yi, ri in zip(y.tolist(), got.tolist()):
            ref = case.entry.from_y.dreference(mpmath.mp, mpmath.mpf(yi), *params)
            if ref == 0:
                assert ri == 0, (yi, ri)
                continue
            if abs(ref) < tiny or abs(ref) > fi.max:
                continue
            ulp = mpmath.ldexp(1, mpmath.frexp(abs(ref))[1] - p)
            e = float(abs(mpmath.mpf(ri) - ref) / ulp)
            worst = max(worst, (e, yi))
    assert worst[0] <= 4.0, f"{worst[0]:.2f} ULP at y = {worst[1]!r}"


@pytest.mark.parametrize("case", Y_CASES, ids=IDS)
def test_float32_dense_against_float64(case):
    """The float32 kernel on 2**20 outputs against the float64 kernel on the
    same y (itself pinned to mpmath above): <= 4 float32 ULP where normal."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(1 << 19) * 6, rng.uniform(-30, 30, 1 << 19)])
    y = case.forward(x.astype(np.float32))
    r64 = from_y(case, np.ones(y.size), y.astype(np.float64), **{})
    r32 = from_y(case, np.ones_like(y), y)
    rf = r64.astype(np.float32)
    norm = np.isfinite(rf) & (np.abs(rf) >= np.finfo(np.float32).tiny)
    err = np.abs(r32[norm].astype(np.float64) - r64[norm]) / np.spacing(np.abs(rf[norm]))
    assert err.max(initial=0) <= 4.0, y[norm][err.argmax()]
    np.testing.assert_array_equal(r32[~norm & (rf == 0)], 0)


@pytest.mark.parametrize(
    "case", [c for c in Y_CASES if c.entry.name in PIECEWISE], ids=lambda c: c.id
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_piecewise_from_y_equals_from_x(case, dtype):
    """Where the derivative is piecewise constant, y tells the branch exactly:
    from y equals from x bit for bit, breakpoints and infinities included."""
    x = sample(dtype, 20000)
    b = case.entry.breakpoints(*case.params) if case.entry.breakpoints else ()
    b = np.array(b, dtype)
    x = np.concatenate([x, b, np.nextafter(b, dtype(np.inf)), np.nextafter(b, -dtype(np.inf))])
    x = np.concatenate([x, np.array([np.inf, -np.inf, 0.0, -0.0], dtype)])
    g = np.random.default_rng(4).standard_normal(x.size).astype(dtype)
    np.testing.assert_array_equal(from_y(case, g, case.forward(x)), case.backward(g, x))


# ------------------------------------------------------------------- torch

TORCH_Y = [c for c in Y_CASES if c.entry.from_y.torch is not None]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", TORCH_Y, ids=[c.id for c in TORCH_Y])
def test_agrees_with_torch_op(case, dtype):
    """torch's backward-from-result op (sigmoid_backward, tanh_backward,
    elu_backward(is_result=True), threshold_backward, hardtanh_backward,
    leaky_relu_backward(self_is_result=True)) on the same y: to 4 ULP of the
    result plus a few roundings of terms of size |g| (torch rounds y*y before
    1 - y*y, and rounds its constants in another order: selu's scale * alpha
    in float64 is an ULP off the constant's rounding)."""
    torch = pytest.importorskip("torch", reason="torch baseline not installed")
    y = outputs(case, dtype, 4000)
    y = y[np.isfinite(y)]
    g = np.random.default_rng(5).standard_normal(y.size).astype(dtype)
    got = from_y(case, g, y)
    want = case.entry.from_y.torch(
        torch.ops.aten, torch.from_numpy(g), torch.from_numpy(y), *case.params
    ).numpy()
    assert want.dtype == got.dtype
    eps = np.finfo(dtype).eps
    tol = 4 * np.spacing(np.abs(want)) + 4 * eps * np.abs(g)
    bad = ~(np.abs(got.astype(np.float64) - want) <= tol)
    assert not bad.any(), (y[bad][:5], got[bad][:5], want[bad][:5])


@pytest.mark.parametrize("case", TORCH_Y, ids=[c.id for c in TORCH_Y])
def test_nan_gives_nan_where_torch_may_not(case):
    """y = NaN gives NaN (torch's piecewise ops return grad_output there:
    the entry says so in its torch_differs)."""
    torch = pytest.importorskip("torch", reason="torch baseline not installed")
    g, y = np.ones(4), np.full(4, np.nan)
    assert np.isnan(from_y(case, g, y)).all()
    want = case.entry.from_y.torch(
        torch.ops.aten, torch.from_numpy(g), torch.from_numpy(y), *case.params
    ).numpy()
    assert np.isnan(want).all() or case.entry.from_y.torch_differs


# ------------------------------------------------------------- the API


@pytest.mark.parametrize("case", Y_CASES, ids=IDS)
def test_special_values_and_range(case):
    y = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0, -2.0, 0.5])
    got = from_y(case, np.ones_like(y), y)
    assert np.isnan(got[0])
    # outside the forward's range: the formula's value, not an error
    import mpmath

    for yi, ri in zip(y[1:].tolist(), got[1:].tolist()):
        with mpmath.workprec(200):
            ref = case.entry.from_y.dreference(mpmath.mp, mpmath.mpf(yi), *case.params)
        if mpmath.isinf(ref):
            assert ri == float(ref), (yi, ri)
        elif mpmath.isnan(ref):
            assert np.isnan(ri), (yi, ri)
        else:
            assert ri == pytest.approx(float(ref), rel=1e-15, abs=0), (yi, ri)


@pytest.mark.parametrize("case", Y_CASES, ids=IDS)
def test_dtypes_layouts_and_out(case):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((6, 10)) * 3).astype(np.float32)
    y = case.forward(x)
    g = rng.standard_normal(x.shape).astype(np.float32)
    want = from_y(case, g, y)
    # float16: computed in float32, returned as float16
    h = from_y(case, g.astype(np.float16), y.astype(np.float16))
    assert h.dtype == np.float16
    np.testing.assert_array_equal(
        h,
        from_y(case, g.astype(np.float16).astype(np.float32), y.astype(np.float16)).astype(
            np.float16
        ),
    )
    assert from_y(case, g.astype(np.float64), y.astype(np.float64)).dtype == np.float64
    # strided, reversed and 0-d
    np.testing.assert_array_equal(from_y(case, g[:, ::3], y[:, ::3]), want[:, ::3])
    np.testing.assert_array_equal(from_y(case, g[::-1], y[::-1]), want[::-1])
    r0 = from_y(case, g[0, 0], y[0, 0])
    assert r0.shape == () and r0 == want[0, 0]
    # out=, and out=y itself (y is not read after its element is written)
    out = np.empty_like(y)
    assert from_y(case, g, y, out=out) is out
    np.testing.assert_array_equal(out, want)
    yy = y.copy()
    from_y(case, g, yy, out=yy)
    np.testing.assert_array_equal(yy, want)
    # large enough for the thread pool
    big_y = np.tile(y.ravel(), 2000)
    big_g = np.tile(g.ravel(), 2000)
    np.testing.assert_array_equal(from_y(case, big_g, big_y), np.tile(want.ravel(), 2000))
    # inputs are not modified
    y0, g0 = y.copy(), g.copy()
    from_y(case, g, y)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("case", Y_CASES, ids=IDS)
def test_argument_errors(case):
    name = case.public + "_backward"
    f = getattr(fastact, name)
    y = np.ones(4)
    out = np.full(4, 7.0)
    with pytest.raises(TypeError, match=f"fastact.{name}: pass either x .* or y= .*, not both"):
        f(y, y, y=y, out=out, **case.kwargs)
    with pytest.raises(TypeError, match=f"fastact.{name}: missing x, the forward's input"):
        f(y, out=out, **case.kwargs)
    with pytest.raises(ValueError, match=f"fastact.{name}: grad_output has shape .* but y"):
        f(np.ones(3), y=y, out=out, **case.kwargs)
    with pytest.raises(TypeError, match="y has unsupported dtype"):
        f(y, y=np.array(["a"] * 4), out=out, **case.kwargs)
    assert (out == 7).all()
    # x stays the second positional argument: existing calls are unchanged
    assert list(inspect.signature(f).parameters)[:2] == ["grad_output", "x"]


@pytest.mark.parametrize("name", NO_Y)
def test_y_where_not_supported(name):
    f = getattr(fastact, name)
    x = np.ones(4)
    with pytest.raises(TypeError, match=f"fastact.{name}: y= .* not accepted.* takes x"):
        f(x, x, y=x, **({"threshold": 0.5, "value": 0.0} if name == "threshold_backward" else {}))


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("elu_backward", {"alpha": -0.5}, "y= needs alpha >= 0, got -0.5"),
        ("leaky_relu_backward", {"negative_slope": -0.1}, "y= needs negative_slope >= 0"),
    ],
)
def test_parameters_y_cannot_serve(name, kw, match):
    f = getattr(fastact, name)
    out = np.full(3, 7.0)
    with pytest.raises(ValueError, match=f"fastact.{name}: {match}"):
        f(np.ones(3), y=np.ones(3), out=out, **kw)
    assert (out == 7).all()
    # from x these parameters are fine
    f(np.ones(3), np.ones(3), **kw)


def test_zero_parameters_are_served():
    """alpha = 0 and negative_slope = 0 keep y's sign: y <= 0 exactly where x <= 0."""
    x = np.array([-2.0, -1e-300, -0.0, 0.0, 1e-300, 3.0])
    g = np.arange(1.0, 7.0)
    for name, kw in (("elu", {"alpha": 0.0}), ("leaky_relu", {"negative_slope": 0.0})):
        y = getattr(fastact, name)(x, **kw)
        fb = getattr(fastact, name + "_backward")
        np.testing.assert_array_equal(fb(g, y=y, **kw), fb(g, x, **kw))
