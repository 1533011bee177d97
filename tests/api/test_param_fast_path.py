"""The public functions' fast path for parameters and for the hand-written
functions whose evaluation mode is another registry kernel.

A plain Python float (or int) parameter takes the generated functions' fast
path; a NumPy scalar takes the generic path: both must give the same bits.
rrelu's and noisy_relu's evaluation mode and prelu with one weight run
leaky_relu's and relu's kernels: bit for bit their own registry kernels'.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastact
from fastact.core.registry import REGISTRY
from fastact.cpu.activations import get

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
# below and above the size from which the fast path needs contiguous arrays
SIZES = [37, 40_000]


def _x(n: int, dtype, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n) * 3
    x[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 0.5]  # specials and a breakpoint
    return x.astype(dtype)


def _param_sets(e) -> list[dict]:
    """Every parameter's value, in order: the test sets and the example's."""
    sets = list(e.test_params)
    if e.example is not None and e.example[1]:
        sets.append(e.example[1])
    return [{p.name: t.get(p.name, p.default) for p in e.params} for t in sets]


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


WITH_PARAMS = [
    n
    for n, e in REGISTRY.items()
    if e.public and e.params and n not in ("prelu", "rrelu", "noisy_relu") and _param_sets(e)
]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", WITH_PARAMS)
def test_float_parameters_same_bits_as_generic_path(name, dtype, n):
    e = REGISTRY[name]
    fwd, bwd = getattr(fastact, name), getattr(fastact, name + "_backward")
    x, g = _x(n, dtype), _x(n, dtype, 1)
    for ps in _param_sets(e):
        plain = {k: float(v) for k, v in ps.items()}
        boxed = {k: np.float64(v) for k, v in ps.items()}  # not taken by the fast path
        with np.errstate(all="ignore"):
            ref_f, ref_b = fwd(x, **boxed), bwd(g, x, **boxed)
            _same(fwd(x, **plain), ref_f)
            _same(fwd(x, **plain, out=np.empty_like(x)), ref_f)
            _same(bwd(g, x, **plain), ref_b)
            _same(bwd(g, x, **plain, out=np.empty_like(x)), ref_b)
            if e.from_y is not None and (
                e.from_y.check is None or not e.from_y.check(*plain.values())
            ):
                y = fwd(x, **boxed)
                _same(bwd(g, y=y, **plain), bwd(g, y=y, **boxed))


def test_int_parameters_on_fast_path():
    x = _x(40_000, F32)
    _same(fastact.threshold(x, 0, 1), fastact.threshold(x, 0.0, 1.0))
    _same(fastact.hardtanh(x, -2, 3), fastact.hardtanh(x, -2.0, 3.0))
    # an int beyond float64's range is left to the generic path (an infinity)
    _same(fastact.hardtanh(x, -(10**400), 10**400), fastact.hardtanh(x, -math.inf, math.inf))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(
    "name, value, exc",
    [
        ("leaky_relu", math.nan, ValueError),
        ("leaky_relu", math.inf, ValueError),
        ("leaky_relu", True, TypeError),
        ("softshrink", -0.5, ValueError),
        ("celu", 0.0, ValueError),
        ("threshold", math.nan, ValueError),
    ],
)
def test_fast_path_bad_parameters_write_nothing(name, value, exc, n):
    e = REGISTRY[name]
    p = e.params[0].name
    kw = {q.name: 0.5 for q in e.params[1:]}
    x = _x(n, F32)
    out = np.full_like(x, -7.0)
    for call in (
        lambda: getattr(fastact, name)(x, **{p: value}, **kw, out=out),
        lambda: getattr(fastact, name + "_backward")(x, x, **{p: value}, **kw, out=out),
    ):
        with pytest.raises(exc, match=p):
            call()
        assert (out == -7.0).all()


def test_fast_path_cross_parameter_rule():
    x = _x(40_000, F32)
    with pytest.raises(ValueError, match="min_val"):
        fastact.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="negative_slope"):
        fastact.leaky_relu_backward(x, y=x, negative_slope=-0.5)


# --------------------------------------------------------------------------
# evaluation modes and one weight on other entries' kernels

_BOUNDS = [
    (1.0 / 8.0, 1.0 / 3.0),
    (0.1, 0.3),
    (-0.0, 0.0),
    (-0.0, -0.0),
    (1e-45, 3e-45),
    (2e38, 3e38),
    (-0.7, 0.2),
    (1e300, 1e300),
]


def _views(x: np.ndarray):
    # contiguous (fast path) and strided (generic path)
    return [(x, slice(None)), (x[::2], slice(None, None, 2))]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_rrelu_eval_bits_of_its_kernel(dtype, n):
    x, g = _x(n, dtype), _x(n, dtype, 1)
    fk, bk = get("rrelu", "forward"), get("rrelu", "backward")
    for lo, hi in _BOUNDS:
        with np.errstate(all="ignore"):
            ref_f, ref_b = fk(x, lo, hi), bk(g, x, lo, hi)
        for v, cut in _views(x):
            _same(fastact.rrelu(v, lo, hi), ref_f[cut])
            _same(fastact.rrelu_backward(g[cut], v, lo, hi), ref_b[cut])
            out = np.empty_like(v)
            assert fastact.rrelu(v, lo, hi, out=out) is out
            _same(out, ref_f[cut])
    _same(fastact.rrelu(x), fk(x, 1.0 / 8.0, 1.0 / 3.0))


def test_rrelu_eval_float16_bits_of_float32_kernel():
    x = _x(40_000, np.float16)
    ref = get("rrelu", "forward")(x.astype(F32), 0.1, 0.3).astype(np.float16)
    _same(fastact.rrelu(x, 0.1, 0.3), ref)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_noisy_relu_eval_bits_of_its_kernel(dtype, n):
    x, g = _x(n, dtype), _x(n, dtype, 1)
    for std in (1.0, 0.0, 2.5, 3):
        ref_f = get("noisy_relu", "forward")(x, std)
        ref_b = get("noisy_relu", "backward")(g, x, std)
        for v, cut in _views(x):
            _same(fastact.noisy_relu(v, std), ref_f[cut])
            _same(fastact.noisy_relu_backward(g[cut], v, std), ref_b[cut])


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_prelu_one_weight_bits_of_its_kernel(dtype, n):
    x, g = _x(n, dtype), _x(n, dtype, 1)
    for w in (0.25, -0.3, np.array([0.2], F32), np.array(0.7), np.array([1.5])):
        wv = np.float64(np.asarray(w).reshape(()))
        ref_f = get("prelu", "forward")(x, wv)
        ref_b = get("prelu", "backward")(g, x, wv)
        for v, cut in _views(x):
            _same(fastact.prelu(v, w), ref_f[cut])
            gi, gw = fastact.prelu_backward(g[cut], v, w)
            _same(gi, ref_b[cut])
            assert gw.shape == np.shape(w)


@pytest.mark.parametrize("shape", [(37,), (40_000,), (3, 20_000)])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_prelu_backward_one_weight_same_as_generic_path(dtype, shape):
    from fastact.activations import _prelu_backward_any  # the registered, generic path

    x = _x(math.prod(shape), dtype).reshape(shape)
    g = _x(math.prod(shape), dtype, 1).reshape(shape)
    for w in (0.25, np.array([0.2], F32), np.array(0.7)):
        gi, gw = _prelu_backward_any(g, x, w)
        for mode in ("new", "out", "in grad_output", "in x"):
            gg, xx = g.copy(), x.copy()
            out = {"new": None, "out": np.empty_like(x), "in grad_output": gg, "in x": xx}[mode]
            gi2, gw2 = fastact.prelu_backward(gg, xx, w, out=out)
            assert out is None or gi2 is out, mode
            _same(gi2, gi)
            _same(gw2, gw)


@pytest.mark.parametrize(
    "call, exc, text",
    [
        (lambda x: fastact.rrelu(x, 0.5, 0.1), ValueError, "lower"),
        (lambda x: fastact.rrelu(x, math.nan), ValueError, "lower"),
        (lambda x: fastact.rrelu(x, return_noise=True), ValueError, "return_noise"),
        (lambda x: fastact.rrelu(x, training=1), TypeError, "training"),
        (lambda x: fastact.rrelu_backward(x, x, noise=x), ValueError, "noise="),
        (lambda x: fastact.noisy_relu(x, -1.0), ValueError, "std"),
        (lambda x: fastact.noisy_relu(x, math.inf), ValueError, "std"),
        (lambda x: fastact.noisy_relu_backward(x, x, noise=x), ValueError, "noise="),
        (lambda x: fastact.prelu(x, math.inf), ValueError, "weight"),
        (lambda x: fastact.prelu(x, np.array([math.nan])), ValueError, "weight"),
        (lambda x: fastact.prelu(x, np.array([[0.1]])), ValueError, "weight"),
    ],
)
def test_eval_fast_paths_refuse_bad_input(call, exc, text):
    x = _x(40_000, F32)
    with pytest.raises(exc, match=text):
        call(x)


def test_eval_modes_and_one_weight_skip_the_generic_path(monkeypatch):
    # the hand-written functions must reach the ufunc without their generic
    # (validating, dispatching) path for plain arrays and parameters
    from fastact import activations

    def generic(*args, **kwargs):
        raise AssertionError("generic path taken")

    for name in ("_random_forward", "_random_backward", "_prelu_any", "_prelu_backward_any"):
        monkeypatch.setattr(activations, name, generic)
    for dtype in (F32, F64):
        x, g = _x(40_000, dtype), _x(40_000, dtype, 1)
        out = np.empty_like(x)
        fastact.rrelu(x, out=out)
        fastact.rrelu(x, 0.1, 0.3)
        fastact.rrelu_backward(g, x, out=out)
        fastact.noisy_relu(x, 0.5, out=out)
        fastact.noisy_relu_backward(g, x)
        fastact.prelu(x, 0.25, out=out)
        fastact.prelu(x, np.array([0.25], dtype))
        fastact.prelu_backward(g, x, 0.25, out=out)
    with pytest.raises(AssertionError, match="generic"):
        fastact.rrelu(x, training=True, rng=0)
