"""pytest-benchmark suite: every public kernel against NumPy and torch.

    pytest bench/ --benchmark-only                    # everything
    pytest bench/ --benchmark-only --sizes 1K,64K     # a quicker subset
    pytest bench/ --benchmark-only -k "sigmoid and float32"
    pytest bench/test_table.py --markdown README.md --sizes 1K,1M --dtypes float32

Every library gets the same thread count (``--threads``, default fastact's);
each benchmark group is one case (function, direction, size, dtype), so
pytest-benchmark's table compares the libraries side by side.  The cases,
sizes, input data, page placement and OpenMP wait policy are the harness's in
fastact.bench, the ones ``fastact bench`` uses; test_table.py runs
``fastact bench``'s own interleaved table.
"""

from __future__ import annotations

import os

import pytest

import fastact
from fastact.bench.config import DTYPES, FULL_SIZES, SIZES, WAIT, require_passive_waits


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The whole session under the harness's wait policy: a process of its
    own when the caller set none (see config.require_passive_waits)."""
    if WAIT in os.environ:
        return
    # the new process must write to the terminal, not into this one's
    # capture files (pytest captures output while it loads conftest files)
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    require_passive_waits()


def pytest_addoption(parser):
    g = parser.getgroup("fastact")
    g.addoption(
        "--sizes",
        default=FULL_SIZES,
        help=f"comma-separated, from {list(SIZES)} (default {FULL_SIZES})",
    )
    g.addoption("--dtypes", default=",".join(DTYPES), help="comma-separated float32,float64")
    g.addoption(
        "--threads",
        type=int,
        default=fastact.get_num_threads(),
        help="threads for fastact and torch alike",
    )
    g.addoption(
        "--markdown",
        metavar="FILE",
        help="test_table.py: write fastact bench's table (first dtype) into FILE "
        "between the bench-table markers",
    )
    g.addoption("--backward", action="store_true", help="test_table.py: backward rows too")


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
