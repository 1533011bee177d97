"""In-place calls of the ufunc loops give the out-of-place bits.

An in-place call (the output is one of the inputs) has a loop branch of its
own (cpu/activations.py, ``_loop_source``): the input's array object is the
output, so that LLVM vectorizes it (through a second array object on the
same address its overlap check fails and the scalar loop runs).  Here every
loop runs in place on arrays long enough for the vector body, with and
without values outside the fast ranges, against its out-of-place result.
Off the avx512 path the piecewise entries' in-place calls go through a
stack buffer instead (masked stores): those loops are checked on every
other path this CPU runs, in a subprocess with FASTACT_ISA forced.
bench/test_speed_goals.py times the two.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations
from fastact.cpu.activations import LOOP_DTYPES

ENTRIES = [
    (name, which, target)
    for name, e in REGISTRY.items()
    for which in ("forward", "backward") + (("backward_y",) if e.from_y else ())
    for target in ((0,) if which == "forward" else (0, 1))
]


def params_of(e) -> list:
    """The defaults, or the first test set where a parameter has none."""
    if any(p.default is None for p in e.params):
        return list(e.test_params[0].values())
    return [p.default for p in e.params]


def _x(dtype, specials: bool) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal(4099)).astype(dtype)
    if specials:
        x[[7, 2048, 4098]] = [np.nan, np.inf, -1e30]
    return x


@pytest.mark.parametrize("specials", [False, True], ids=["finite", "specials"])
@pytest.mark.parametrize("dtype", LOOP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    "name, which, target", ENTRIES, ids=[f"{n}-{w}-out={t}" for n, w, t in ENTRIES]
)
def test_in_place_equals_out_of_place(name, which, target, dtype, specials):
    e = REGISTRY[name]
    uf = activations.get(name, which)
    x = _x(dtype, specials)
    if which == "backward_y":
        # y in the forward's range, so that every branch of the kernel runs
        x = activations.get(name, "forward")(x, *params_of(e))
    arrays = (
        [x]
        if which == "forward"
        else [np.random.default_rng(6).standard_normal(x.size).astype(dtype), x]
    )
    params = params_of(e)
    want = uf(*arrays, *params)
    got = [a.copy() for a in arrays]
    before = [a.copy() for a in got]
    r = uf(*got, *params, out=got[target])
    assert r is got[target]
    bits = f"u{x.itemsize}"
    np.testing.assert_array_equal(got[target].view(bits), want.view(bits))
    # the other input is untouched
    for k, (a, b) in enumerate(zip(got, before)):
        if k != target:
            np.testing.assert_array_equal(a.view(bits), b.view(bits))


# The other ISA paths (avx2 and baseline: in place through a stack buffer)
# are checked in place against out of place by tests/cpu/test_isa.py, in the
# child that runs each path.
