"""Strided calls of the ufunc loops give the contiguous call's bits.

A call whose arrays are not all contiguous (x[::2], x[::-1], a strided
`out`, an input broadcast with step 0) takes the loop's strided branches
(cpu/activations.py, ``_strided``): with scalar parameters, blocks of
STRIDED_BLOCK elements copied into stack buffers and run through the
contiguous kernels (the fast kernel per block where the entry has one), or,
for the entries without a fast path, the element loop when the wrapper's
measurement chose it (cpu/ufunc.pyx, ``_calibrate``).  Every way, on every
layout, must give the bits of the contiguous call, special values included.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations, loopflags, ufunc
from fastact.cpu.activations import LOOP_DTYPES, STRIDED_BLOCK
from tests.cpu.test_inplace import params_of

ENTRIES = [
    (name, which)
    for name, e in REGISTRY.items()
    for which in ("forward", "backward") + (("backward_y",) if e.from_y else ())
]
N = 2 * STRIDED_BLOCK + 277  # two whole blocks and a tail


def _arrays(name: str, which: str, dtype) -> list[np.ndarray]:
    """x (3 randn; special values in the second block only, so that the
    others may take a fast kernel) or (g, x), or (g, y) with y = forward(x)."""
    rng = np.random.default_rng(9)
    x = (3 * rng.standard_normal(N)).astype(dtype)
    b = STRIDED_BLOCK
    x[[b + 3, b + 100, b + 200, b + 300]] = [np.nan, np.inf, -np.inf, -1e30]
    x[b + 400] = np.finfo(dtype).smallest_subnormal
    if which == "forward":
        return [x]
    if which == "backward_y":
        x = activations.get(name, "forward")(x, *params_of(REGISTRY[name]))
    return [rng.standard_normal(N).astype(dtype), x]


def _spread(a: np.ndarray, step: int) -> np.ndarray:
    """A view of a's values at `step` elements apart (negative: reversed memory)."""
    buf = np.full(abs(step) * a.size, -7.0, a.dtype)
    v = buf[::step] if step > 0 else buf[::step][: a.size]
    v[...] = a
    return v


# layout: (the arrays as the call gets them, the output or None) from the
# contiguous arrays; every one leaves some array strided
LAYOUTS = {
    "inputs [::2]": lambda arrays: ([_spread(a, 2) for a in arrays], None),
    "inputs [::-1]": lambda arrays: ([_spread(a, -1) for a in arrays], None),
    "out [::2]": lambda arrays: (list(arrays), _spread(np.empty_like(arrays[-1]), 2)),
    "all [::3]": lambda arrays: (
        [_spread(a, 3) for a in arrays],
        _spread(np.empty_like(arrays[-1]), 3),
    ),
    "last input [::2], contiguous rest": lambda arrays: (
        [*arrays[:-1], _spread(arrays[-1], 2)],
        None,
    ),
}


def _ways(uf) -> list[str]:
    two = ufunc.strided_ways(uf)[0] is not None
    return ["blocks", "elements"] if two else ["blocks"]


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, which", ENTRIES, ids=[f"{n}-{w}" for n, w in ENTRIES])
def test_strided_calls_equal_the_contiguous_call(name, which, dtype):
    uf = activations.get(name, which)
    params = params_of(REGISTRY[name])
    arrays = _arrays(name, which, dtype)
    bits = f"u{arrays[-1].itemsize}"
    want = uf(*arrays, *params).view(bits)
    try:
        for way in _ways(uf):
            ufunc.set_strided_way(uf, way)
            for layout, make in LAYOUTS.items():
                ins, out = make(arrays)
                before = [a.copy() for a in ins]
                got = uf(*ins, *params) if out is None else uf(*ins, *params, out=out)
                np.testing.assert_array_equal(got.view(bits), want, f"{way}, {layout}")
                for a, b in zip(ins, before):
                    np.testing.assert_array_equal(a.view(bits), b.view(bits))
            # in place on a strided input: the output is the input's own memory
            for target in range(len(arrays)):
                ins = [_spread(a, 2) for a in arrays]
                uf(*ins, *params, out=ins[target])
                np.testing.assert_array_equal(ins[target].view(bits), want, f"{way}, out={target}")
            if which != "forward":
                # g strided, the output x's own contiguous memory
                ins = [_spread(arrays[0], 2), arrays[1].copy()]
                uf(*ins, *params, out=ins[1])
                np.testing.assert_array_equal(ins[1].view(bits), want, f"{way}, g[::2], out=x")
                # g broadcast: a step of 0
                g = np.broadcast_to(arrays[0][:1], arrays[0].shape)
                np.testing.assert_array_equal(
                    uf(g, arrays[1], *params).view(bits),
                    uf(np.ascontiguousarray(g), arrays[1], *params).view(bits),
                    f"{way}, g broadcast",
                )
    finally:
        ufunc.set_strided_way(uf, None)


@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_parameter_arrays_take_the_element_loop(dtype):
    # a parameter array (step not 0) goes through the element loop with the
    # parameters loaded per element, whatever the way: leaky_relu's slope
    uf = activations.get("leaky_relu", "forward")
    x = _arrays("leaky_relu", "forward", dtype)[0]
    slopes = np.resize(np.array([0.01, 0.5, 2.0]), x.size)
    got = uf(_spread(x, 2), slopes)
    want = np.concatenate([uf(x[i : i + 1], s) for i, s in enumerate(slopes)])
    np.testing.assert_array_equal(got.view(f"u{x.itemsize}"), want.view(f"u{x.itemsize}"))


def test_loops_with_a_fast_path_have_one_way():
    seen = set()
    for name, which in ENTRIES:
        e = REGISTRY[name]
        ways = ufunc.strided_ways(activations.get(name, which))
        for dt, way in zip(LOOP_DTYPES, ways):
            fast = (
                e.fast_range is not None
                and getattr(e, f"fast_{which}", None) is not None
                and np.dtype(dt).name in e.fast_types
            )
            assert (way is None) is fast, (name, which, dt)
            seen.add(fast)
    assert seen == {False, True}


@pytest.mark.parametrize("out_strided", [False, True], ids=["out contiguous", "out strided"])
def test_the_first_strided_call_measures_the_way(out_strided):
    uf = activations.get("relu", "forward")
    ufunc.set_strided_way(uf, None)
    assert ufunc.strided_ways(uf)[0] == (None, None)
    x = _spread(np.linspace(-3, 3, N, dtype=np.float32), 2)
    out = _spread(np.empty(N, np.float32), 2) if out_strided else np.empty(N, np.float32)
    uf(x, out=out)
    ways = ufunc.strided_ways(uf)[0]
    assert ways[out_strided] in ("blocks", "elements")
    assert ways[not out_strided] is None  # the other case is measured on its own call
    # contiguous calls measure nothing
    ufunc.set_strided_way(uf, None)
    uf(np.ascontiguousarray(x))
    assert ufunc.strided_ways(uf)[0] == (None, None)


def test_the_wrapper_and_the_loops_agree_on_the_flags():
    assert ufunc.LOOP_FLAGS == {"STREAM": loopflags.STREAM, "ELEMENTS": loopflags.ELEMENTS}
