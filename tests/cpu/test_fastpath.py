"""The fast path of the ufunc loops gives the full kernel's bits.

An entry with ``fast_range`` and ``fast_forward`` / ``fast_backward`` has its
contiguous loop run the fast kernel when all of the call's x lie in the
range (and a strided call's block when all of the block's x do).  That
keeps results independent of how a call is split (chunks, threads, blocks)
only if the fast kernel equals the full one bit for bit there: the loops,
contiguous and strided, are compared with the full kernel in a plain loop
(tests/full_kernel.py) on inputs all in the range (the fast kernel runs)
and on the same inputs with a few special values (the full kernel runs
for the call, or for the blocks holding them).
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.core.typed import retype
from fastact.cpu import activations
from fastact.cpu.activations import LOOP_DTYPES
from tests.full_kernel import full

CASES = [
    (name, which, params, dtype)
    for name, e in REGISTRY.items()
    if e.fast_range is not None
    for which in ("forward", "backward")
    if getattr(e, f"fast_{which}") is not None
    for params in ({p.name: p.default for p in e.params}, *e.test_params)
    for dtype in LOOP_DTYPES
    if np.dtype(dtype).name in e.fast_types
]


def test_some_entry_has_a_fast_path():
    assert CASES, "no registry entry declares a fast path: the blocked loop is untested"


def _inputs(dtype, kind: str, lo, hi):
    """3 randn (in any sensible fast range), with or without special values
    (NaN, +-inf, huge and tiny x) at random places; or ("edges") points
    spread over the whole range [lo, hi], its ends included."""
    rng = np.random.default_rng(7)
    if kind == "edges":
        lo, hi = max(lo, -1e30), min(hi, 1e30)
        return np.clip(np.linspace(lo, hi, 10_037).astype(dtype), lo, hi)
    x = (3 * rng.standard_normal(10_037)).astype(dtype)
    if kind == "specials":
        info = np.finfo(dtype)
        vals = [np.nan, np.inf, -np.inf, info.max, -info.max, 1e4, -1e4, info.tiny / 4]
        x[rng.choice(x.size, len(vals), replace=False)] = vals
    return x


def _strided(a):
    s = np.zeros(2 * a.size, a.dtype)[::2]
    s[...] = a
    return s


@pytest.mark.parametrize("kind", ["in-range", "specials", "edges"])
@pytest.mark.parametrize("name, which, params, dtype", CASES, ids=lambda v: str(v))
def test_fast_path_equals_the_full_kernel(name, which, params, dtype, kind):
    uf = activations.get(name, which)
    pv = list(params.values())
    lo, hi = (float(v) for v in _range(name, pv, dtype))
    x = _inputs(dtype, kind, lo, hi)
    g = np.random.default_rng(3).standard_normal(x.size).astype(dtype)
    arrays = [x] if which == "forward" else [g, x]
    want = full(name, which, arrays, pv).view(f"u{x.itemsize}")
    np.testing.assert_array_equal(uf(*arrays, *pv).view(f"u{x.itemsize}"), want)
    out = _strided(np.empty_like(x))
    uf(*[_strided(a) for a in arrays], *pv, out=out)
    np.testing.assert_array_equal(out.view(f"u{x.itemsize}"), want)
    # the sample exercises the path it is meant for
    assert bool(((x >= lo) & (x <= hi)).all()) is (kind != "specials")


def _range(name, pv, dtype):
    return retype(REGISTRY[name].fast_range, np.dtype(dtype).name)(
        *[np.dtype(dtype).type(v) for v in pv]
    )


FUSED = [c for c in CASES if REGISTRY[c[0]].fast_fused]


@pytest.mark.parametrize("inplace", [False, True], ids=["out", "in-place"])
@pytest.mark.parametrize("specials", [False, True], ids=["in-range", "specials"])
@pytest.mark.parametrize("name, which, params, dtype", FUSED, ids=lambda v: str(v))
def test_fused_check_equals_the_full_kernel(name, which, params, dtype, specials, inplace):
    """A call long enough for the check inside the fast loop (fast_fused):
    the blocks holding special values are repaired by the full kernel, and
    an in-place call (whose fast results would overwrite its input) checks
    ahead instead; either way the full kernel's bits."""
    uf = activations.get(name, which)
    n = activations.FUSED_MIN + 4099
    rng = np.random.default_rng(11)
    x = (3 * rng.standard_normal(n)).astype(dtype)
    if specials:
        x[[5, n // 2, n - 1]] = [np.nan, np.inf, -1e30]
    g = rng.standard_normal(n).astype(dtype)
    arrays = [x] if which == "forward" else [g, x]
    pv = list(params.values())
    want = full(name, which, arrays, pv)
    if inplace:
        got = [a.copy() for a in arrays]
        uf(*got, *pv, out=got[-1])
        got = got[-1]
    else:
        got = uf(*arrays, *pv)
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))


def test_some_entry_checks_in_its_fast_loop():
    assert FUSED, "no registry entry sets fast_fused: the fused check is untested"
