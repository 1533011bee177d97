"""pytest-benchmark suite: every public kernel against NumPy and torch.

    pytest bench/ --benchmark-only                    # everything
    pytest bench/ --benchmark-only --sizes 1K,64K     # a quicker subset
    pytest bench/ --benchmark-only -k "sigmoid and float32"

Every library gets the same thread count (``--threads``, default fastact's);
each benchmark group is one case (function, direction, size, dtype), so
pytest-benchmark's table compares the libraries side by side.
"""

from __future__ import annotations

import os

# idle OpenMP threads must not spin on the cores the next library is timed
# on; set before numpy, fastact or torch load an OpenMP runtime (see the
# same setting in fastact/cli.py for the measurement)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastact  # noqa: E402

SIZES = {"1K": 1 << 10, "64K": 1 << 16, "16M": 1 << 24}
DTYPES = ("float32", "float64")


def pytest_addoption(parser):
    g = parser.getgroup("fastact")
    g.addoption("--sizes", default=",".join(SIZES), help=f"comma-separated, from {list(SIZES)}")
    g.addoption("--dtypes", default=",".join(DTYPES), help="comma-separated float32,float64")
    g.addoption(
        "--threads",
        type=int,
        default=fastact.get_num_threads(),
        help="threads for fastact and torch alike",
    )


def pytest_generate_tests(metafunc):
    opt = metafunc.config.getoption
    if "size" in metafunc.fixturenames:
        metafunc.parametrize("size", [s for s in opt("--sizes").split(",") if s])
    if "dtype" in metafunc.fixturenames:
        metafunc.parametrize("dtype", [d for d in opt("--dtypes").split(",") if d])


@pytest.fixture(scope="session", autouse=True)
def threads(request):
    n = request.config.getoption("--threads")
    old = fastact.get_num_threads()
    fastact.set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    yield n
    fastact.set_num_threads(old)


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip(
        "torch", reason="torch baseline not installed (pip install '.[bench]')"
    )


def data(size: str, dtype: str, seed: int = 0) -> np.ndarray:
    """Inputs spread over the interesting range of every activation."""
    return (np.random.default_rng(seed).standard_normal(SIZES[size]) * 3).astype(dtype)
