"""An entry's ``same_as``: at the declared parameter values its kernels give
the other entry's bits, so the public functions may run the other's.

swish at beta = 1 is silu, whose kernels skip the product beta x and its
low part; a call with beta given as a Python 1.0 runs silu's ufunc, any
other spelling of 1 (a NumPy scalar) swish's own: the results
must not depend on which.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastact
from fastact.core.registry import REGISTRY
from fastact.cpu import activations
from fastact.cpu.activations import LOOP_DTYPES
from tests.full_kernel import full

CASES = [
    (name, which) for name, e in REGISTRY.items() if e.same_as for which in ("forward", "backward")
]


def test_swish_declares_silu():
    # the case the mechanism exists for: without it the sweep below is empty
    assert REGISTRY["swish"].same_as == ("silu", {"beta": 1.0})


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_declaration_names_a_parameterless_entry_and_own_params(name):
    other, values = REGISTRY[name].same_as
    assert other in REGISTRY and not REGISTRY[other].params
    assert set(values) == {p.name for p in REGISTRY[name].params}


def _inputs(dtype):
    """Every 251st float32 bit pattern (all exponents, both signs, NaNs,
    infinities, subnormals) or random float64 bit patterns, plus 30 randn."""
    rng = np.random.default_rng(11)
    if np.dtype(dtype) == np.float32:
        bits = np.arange(0, 1 << 32, 251, dtype=np.uint64).astype(np.uint32).view(np.float32)
    else:
        bits = rng.integers(0, 1 << 64, 1 << 20, dtype=np.uint64).view(np.float64)
    x = np.concatenate([bits, (30 * rng.standard_normal(1 << 16)).astype(dtype)])
    g = rng.standard_normal(x.size).astype(dtype)
    g[::5] = 1.0
    return x, g


def _strided(a):
    s = np.zeros(2 * a.size, a.dtype)[::2]
    s[...] = a
    return s


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, which", CASES, ids=lambda v: str(v))
def test_kernels_give_the_other_entrys_bits(name, which, dtype):
    other, values = REGISTRY[name].same_as
    pv = [values[p.name] for p in REGISTRY[name].params]
    x, g = _inputs(dtype)
    arrays = [x] if which == "forward" else [g, x]
    u = f"u{x.itemsize}"
    mine, theirs = activations.get(name, which), activations.get(other, which)
    np.testing.assert_array_equal(mine(*arrays, *pv).view(u), theirs(*arrays).view(u))
    # the full kernels too, where the ufuncs ran the fast ones
    np.testing.assert_array_equal(
        full(name, which, arrays, pv).view(u), full(other, which, arrays).view(u)
    )
    strided = [_strided(a) for a in arrays]
    np.testing.assert_array_equal(mine(*strided, *pv).view(u), theirs(*strided).view(u))


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_public_swish_is_the_same_whichever_kernels_run(dtype):
    x, g = _inputs(dtype)
    u = f"u{x.itemsize}"
    via_silu = fastact.swish(x)  # a Python 1.0: silu's ufunc
    own = fastact.swish(x, np.float64(1.0))  # a NumPy scalar: swish's
    np.testing.assert_array_equal(via_silu.view(u), own.view(u))
    np.testing.assert_array_equal(via_silu.view(u), fastact.silu(x).view(u))
    d_silu = fastact.swish_backward(g, x, beta=1)
    d_own = fastact.swish_backward(g, x, np.float32(1.0))
    np.testing.assert_array_equal(d_silu.view(u), d_own.view(u))
    out = np.empty_like(x)
    assert fastact.swish(x, 1.0, out=out) is out
    np.testing.assert_array_equal(out.view(u), own.view(u))
