"""Every kernel against torch: forward, autograd backward, and special values."""

import numpy as np
import pytest

from tests.accuracy import CASES

torch = pytest.importorskip("torch", reason="torch baseline not installed (pip install '.[test]')")
F = torch.nn.functional

TORCH_CASES = [c for c in CASES if c.entry.torch is not None]
# torch itself loses digits where fastact does not (e.g. 1 + erf(x) cancels in its gelu
# tail): the exact accuracy is pinned against mpmath in test_accuracy.py; against torch
# an absolute floor of a few ULP of 1 is enough to pin the semantics.
TOL = {np.float32: dict(rtol=2e-6, atol=5e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
# torch's float64 hardsigmoid backward multiplies by a float32 1/6 (3e-8 off)
BACKWARD_TOL = {("hardsigmoid", np.float64): dict(rtol=1e-7, atol=1e-13)}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0]


def _breakpoints(case, dtype):
    """The entry's breakpoints (where its definition switches branch) and the
    floats one ULP either side, in `dtype`."""
    if case.entry.breakpoints is None:
        return np.array([], dtype)
    b = np.array(case.entry.breakpoints(*case.params), dtype)
    inf = np.array(np.inf, dtype)
    return np.concatenate([b, np.nextafter(b, inf), np.nextafter(b, -inf)])


def _inputs(case, dtype):
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            rng.standard_normal(2000) * 4,
            np.linspace(-12, 12, 481),
            [-3.0, -1.5, -1.0, -0.5, 0.5, 1.0, 1.5, 3.0, 6.0],
        ]
    )
    return np.concatenate([x.astype(dtype), _breakpoints(case, dtype)])


def _torch_forward(case, x):
    return case.entry.torch(F, torch.from_numpy(x), *case.params)


def _torch_backward(case, g, x):
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    y = case.entry.torch(F, t, *case.params)
    (gx,) = torch.autograd.grad(y, t, torch.from_numpy(g))
    return gx.numpy()


def _torch_scalar(case, x):
    """torch's forward and derivative at each point, one-element tensors each.

    On special values torch's vectorized CPU paths disagree with its scalar
    path, and which one runs depends on the tensor's length: gelu(-0.0) in
    float32 is -0.0 alone but +0.0 in a tensor of 5; softshrink(-lambd) and
    the derivative at NaN of the clamps change the same way.  One element at
    a time gives the scalar path, torch's formula as written, the same for
    every dtype.
    """
    ys, gs = [], []
    for xi in x:
        xi = np.array([xi], x.dtype)
        ys.append(_torch_forward(case, xi).detach().numpy())
        gs.append(_torch_backward(case, np.ones_like(xi), xi))
    return np.concatenate(ys), np.concatenate(gs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_forward_matches_torch(case, dtype):
    x = _inputs(case, dtype)
    np.testing.assert_allclose(case.forward(x), _torch_forward(case, x).numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_backward_matches_autograd(case, dtype):
    x = _inputs(case, dtype)
    g = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    tol = BACKWARD_TOL.get((case.public, dtype), TOL[dtype])
    np.testing.assert_allclose(case.backward(g, x), _torch_backward(case, g, x), **tol)


def _same(a, b):
    """Same NaNs, infinities and signed zeros; other values close (their last
    digits are pinned by the accuracy tests, not here)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (
        np.array_equal(np.isnan(a), np.isnan(b))
        and np.array_equal(a == 0, b == 0)
        and np.array_equal(np.signbit(a[a == 0]), np.signbit(b[b == 0]))
        and np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_special_values_match_torch(case, dtype):
    """NaN, +-inf, +-0 give torch's results, sign of zero included, except where torch
    gives NaN for a non-NaN input (e.g. silu(-inf) = -inf * 0): there the spec asks for
    the mathematical limit, which we take from the reference at +-1e30."""
    import mpmath

    x = np.array(SPECIAL, dtype)
    g = np.ones_like(x)
    ty, tg = _torch_scalar(case, x)
    for which, ours, theirs, ref in (
        ("forward", case.forward(x), ty, case.reference),
        ("backward", case.backward(g, x), tg, case.dreference),
    ):
        assert np.isnan(ours[0]) or which == "backward", f"{which}(nan) = {ours[0]}"
        torch_nan = np.isnan(theirs) & ~np.isnan(x)
        ok = ~torch_nan
        assert _same(ours[ok], theirs[ok]), (
            f"{which} at {x[ok]}: fastact {ours[ok]}, torch {theirs[ok]}"
        )
        for xi, yi in zip(x[torch_nan], ours[torch_nan]):
            with mpmath.workprec(200):
                limit = float(ref(mpmath.mp, mpmath.mpf(float(np.sign(xi)) * 1e30)))
            assert not np.isnan(yi), f"{which}({xi}) is NaN; the limit is {limit}"
            assert abs(yi - limit) <= 1e-6 * abs(limit) + 1e-20, (which, xi, yi, limit)


BREAKPOINT_CASES = [c for c in TORCH_CASES if c.entry.breakpoints is not None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", BREAKPOINT_CASES, ids=lambda c: c.id)
def test_breakpoints_match_torch(case, dtype):
    """At each breakpoint and one ULP either side, forward and derivative take
    torch's branch: same zeros (sign included), values within rounding."""
    x = _breakpoints(case, dtype)
    ty, tg = _torch_scalar(case, x)
    ours_y, ours_g = case.forward(x), case.backward(np.ones_like(x), x)
    assert _same(ours_y, ty), f"forward at {x}: fastact {ours_y}, torch {ty}"
    assert _same(ours_g, tg), f"backward at {x}: fastact {ours_g}, torch {tg}"


def test_piecewise_entries_declare_breakpoints():
    """The clamp and shrink family must list their breakpoints, or the test
    above would silently skip them."""
    names = {
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "hardtanh",
        "relu6",
        "hardsigmoid",
        "hardswish",
        "softshrink",
        "hardshrink",
        "threshold",
    }
    missing = sorted(
        n for n in names if {c.entry.name: c for c in TORCH_CASES}[n].entry.breakpoints is None
    )
    assert not missing, missing


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5, 4)])
def test_prelu_channels_match_torch(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    w = rng.uniform(-0.5, 0.5, shape[1])
    g = rng.standard_normal(shape)
    import fastact

    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    ty = F.prelu(tx, tw)
    gx, gw = torch.autograd.grad(ty, (tx, tw), torch.from_numpy(g))
    np.testing.assert_allclose(fastact.prelu(x, w), ty.detach().numpy(), rtol=1e-14)
    ours_gx, ours_gw = fastact.prelu_backward(g, x, w)
    np.testing.assert_allclose(ours_gx, gx.numpy(), rtol=1e-14)
    np.testing.assert_allclose(ours_gw, gw.numpy(), rtol=1e-12)
