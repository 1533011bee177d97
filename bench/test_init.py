"""fastact.init against torch.nn.init: every initializer filling a 4096 x 4096
array in place (float32 and float64; --dtypes), the same thread count for
both (the session fixture in conftest.py).  One benchmark group per
(initializer, dtype), so pytest-benchmark's table puts the two side by side.

    pytest bench/test_init.py --benchmark-only
    pytest bench/test_init.py --benchmark-only -k "normal and float32"
"""

from __future__ import annotations

import numpy as np
import pytest

from fastact import init

SHAPE = (4096, 4096)
LIBRARIES = ["fastact", "torch"]
# initializer -> keyword arguments (the same for both libraries)
CASES = {
    "uniform_": {},
    "normal_": {},
    "trunc_normal_": {},
    "constant_": {"val": 0.3},
    "zeros_": {},
    "ones_": {},
    "xavier_uniform_": {},
    "xavier_normal_": {},
    "kaiming_uniform_": {},
    "kaiming_normal_": {},
    "orthogonal_": {},
}
DETERMINISTIC = ("constant_", "zeros_", "ones_")
# about a second per call (fastact's orthogonal_, torch's trunc_normal_):
# a few rounds say enough
SLOW = {"orthogonal_": 3, "trunc_normal_": 5}


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("name", list(CASES))
def test_init(benchmark, name, library, dtype, request):
    benchmark.group = f"init.{name} {SHAPE[0]}x{SHAPE[1]} {dtype}"
    kwargs = CASES[name]
    a = np.empty(SHAPE, dtype)
    if library == "fastact":
        f = getattr(init, name)
        if name not in DETERMINISTIC:
            kwargs = {**kwargs, "rng": np.random.default_rng(0)}
        call = lambda: f(a, **kwargs)  # noqa: E731
    else:
        torch = request.getfixturevalue("torch")
        t, f = torch.from_numpy(a), getattr(torch.nn.init, name)
        call = lambda: f(t, **kwargs)  # noqa: E731
    call()  # numba compiles (or loads its cache) on the first normal draw
    if name in SLOW:
        benchmark.pedantic(call, rounds=SLOW[name], iterations=1)
    else:
        benchmark(call)
