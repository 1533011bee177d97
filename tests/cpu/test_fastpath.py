"""The fast path of the ufunc loops gives the full kernel's bits.

An entry with ``fast_range`` and ``fast_forward`` / ``fast_backward`` has its
contiguous loop run in blocks, each through the fast kernel when all its x
lie in the range.  That keeps results independent of how a call is split
(blocks, threads) only if the fast kernel equals the full one bit for bit
there: the contiguous loop (fast blocks, and full blocks where a block holds
a value outside the range) is compared with the strided loop, which always
runs the full kernel, on the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations
from fastact.cpu.activations import FAST_BLOCK, LOOP_DTYPES

CASES = [
    (name, which, params)
    for name, e in REGISTRY.items()
    if e.fast_range is not None
    for which in ("forward", "backward")
    if getattr(e, f"fast_{which}") is not None
    for params in ({p.name: p.default for p in e.params}, *e.test_params)
]


def test_some_entry_has_a_fast_path():
    assert CASES, "no registry entry declares a fast path: the blocked loop is untested"


def _inputs(dtype, n_blocks=40):
    """Blocks of 3 randn (all in any sensible fast range), some with one
    special value (NaN, +-inf, a huge or tiny x) at a random place."""
    rng = np.random.default_rng(7)
    n = n_blocks * FAST_BLOCK + 37  # a partial last block too
    x = (3 * rng.standard_normal(n)).astype(dtype)
    info = np.finfo(dtype)
    specials = [np.nan, np.inf, -np.inf, info.max, -info.max, 1e4, -1e4, info.tiny / 4]
    for k, v in zip(range(1, n_blocks, 3), specials * 5):
        x[k * FAST_BLOCK + int(rng.integers(FAST_BLOCK))] = v
    return x


def _strided(a):
    s = np.zeros(2 * a.size, a.dtype)[::2]
    s[...] = a
    return s


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, which, params", CASES, ids=lambda v: str(v))
def test_fast_blocks_equal_the_full_kernel(name, which, params, dtype):
    uf = activations.get(name, which)
    x = _inputs(dtype)
    g = np.random.default_rng(3).standard_normal(x.size).astype(dtype)
    arrays = [x] if which == "forward" else [g, x]
    pv = list(params.values())
    contiguous = uf(*arrays, *pv)
    out = _strided(np.empty_like(x))
    uf(*[_strided(a) for a in arrays], *pv, out=out)
    np.testing.assert_array_equal(contiguous.view(f"u{x.itemsize}"), out.view(f"u{x.itemsize}"))
    # the sample must exercise both kinds of block
    lo, hi = (float(v) for v in _range(name, pv, dtype))
    inside = (x >= lo) & (x <= hi)
    blocks = [inside[i : i + FAST_BLOCK].all() for i in range(0, x.size, FAST_BLOCK)]
    assert any(blocks) and not all(blocks)


def _range(name, pv, dtype):
    from fastact.core.typed import retype

    return retype(REGISTRY[name].fast_range, np.dtype(dtype).name)(
        *[np.dtype(dtype).type(v) for v in pv]
    )
