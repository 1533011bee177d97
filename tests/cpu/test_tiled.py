"""2-D calls whose operands are laid out in both orders give the bits of the
contiguous call.

``fastact.sigmoid(x.T, out=o)`` with a C-ordered ``o`` (or a backward with
g C-ordered and x transposed) would reach the loop row by row with the
transposed operand read a column at a time; cpu/pool.py sends such calls to
ufunc.tiled, which gathers each transposed operand's tiles into a buffer
and runs the contiguous loop on every row of a tile.  Every entry, each way
and dtype, on shapes with partial tiles both ways, special values
included, on one thread and split over the pool.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastact
from fastact.core.registry import REGISTRY
from fastact.cpu import activations, pool, ufunc
from fastact.cpu.activations import LOOP_DTYPES
from tests.cpu.test_inplace import params_of
from tests.cpu.test_strided import ENTRIES

# rows: two whole row blocks of float32 (16 rows) and a part; columns: two
# whole tiles and a part
SHAPE = (37, 2 * ufunc.TILE_COLUMNS + 6)


def _arrays(name: str, which: str, dtype, shape) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    flat = x.reshape(-1)
    at = np.array([5, 700, 1400, 2100, 2800, 3000]) % flat.size
    flat[at] = [np.nan, np.inf, -np.inf, -1e30, 0.0, np.finfo(dtype).smallest_subnormal]
    if which == "forward":
        return [x]
    if which == "backward_y":
        x = activations.get(name, "forward")(x, *params_of(REGISTRY[name]))
    return [rng.standard_normal(shape).astype(dtype), x]


# layout: (the arrays as the call gets them, its out), from C-ordered arrays;
# each mixes the two orders
LAYOUTS = {
    "inputs F, out C": lambda arrays: ([np.asfortranarray(a) for a in arrays], "C"),
    "inputs C, out F": lambda arrays: (list(arrays), "F"),
    "x F, the rest and out C": lambda arrays: ([*arrays[:-1], np.asfortranarray(arrays[-1])], "C"),
    "x C, the rest F, out F": lambda arrays: (
        [*[np.asfortranarray(a) for a in arrays[:-1]], arrays[-1]],
        "F",
    ),
}


@pytest.fixture(params=[False, True], ids=["serial", "split"])
def split(request):
    old = ufunc.set_force_split(request.param)
    yield request.param
    ufunc.set_force_split(old)


# a forward has one array: the first two layouts are all it has
CASES = [
    (name, which, layout)
    for name, which in ENTRIES
    for layout in LAYOUTS
    if which != "forward" or not layout.startswith("x ")
]


@pytest.mark.parametrize("shape", [SHAPE, (5, 3)], ids=["37x1030", "5x3"])
@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, which, layout", CASES, ids=["-".join(c) for c in CASES])
def test_mixed_orders_give_the_contiguous_bits(
    name, which, layout, dtype, shape, split, monkeypatch
):
    uf = activations.get(name, which)
    params = params_of(REGISTRY[name])
    arrays = _arrays(name, which, dtype, shape)
    want = uf(*arrays, *params)
    ins, order = LAYOUTS[layout](arrays)
    kept = [a.copy(order="K") for a in ins]
    out = np.full(shape, -7.0, dtype, order=order)
    calls = []
    tiled = ufunc.tiled
    monkeypatch.setattr(ufunc, "tiled", lambda *a: calls.append(1) or tiled(*a))
    pool.call(uf, ins, params, out)
    assert calls, "the call did not go through ufunc.tiled"
    bits = f"u{np.dtype(dtype).itemsize}"
    np.testing.assert_array_equal(out.view(bits), want.view(bits))
    for a, b in zip(ins, kept):
        np.testing.assert_array_equal(a.view(bits), b.view(bits))


def test_not_tiled_when_out_overlaps_an_input():
    # in place on a transposed view of its own input: NumPy's buffering
    # orders it, the tiles would read what they wrote
    a = (3 * np.random.default_rng(2).standard_normal((64, 64))).astype(np.float32)
    want = fastact.sigmoid(a).T.copy()
    fastact.sigmoid(a, out=a.T)
    np.testing.assert_array_equal(a, want)


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_result_follows_the_input_layout(dtype):
    """As NumPy's order='K': a transposed x gives an F-ordered result,
    computed in one contiguous pass."""
    a = np.random.default_rng(3).standard_normal((40, 30)).astype(dtype)
    for x in (a, a.T):
        r = fastact.sigmoid(x)
        assert r.flags.c_contiguous == x.flags.c_contiguous
        assert r.flags.f_contiguous == x.flags.f_contiguous
        np.testing.assert_array_equal(r, fastact.sigmoid(np.ascontiguousarray(x)))
    g = np.ones_like(a.T)
    r = fastact.sigmoid_backward(g, a.T)
    assert r.flags.f_contiguous  # x's layout, not g's
    np.testing.assert_array_equal(r, fastact.sigmoid_backward(g, a.T.copy()))


def test_tiled_rejects_what_it_cannot_run():
    uf = activations.get("relu", "forward")
    x = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="arrays must match out"):
        ufunc.tiled(uf, [np.zeros((5, 4), np.float32).T[:3]], (), x)
    with pytest.raises(ValueError, match="contiguous rows"):
        ufunc.tiled(uf, [x], (), np.zeros((5, 4), np.float32).T)
    with pytest.raises(ValueError, match="contiguous rows or columns"):
        ufunc.tiled(uf, [np.zeros((8, 10), np.float32)[::2, ::2]], (), x)
