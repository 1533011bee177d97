"""pytest-benchmark suite: every public kernel against NumPy, torch, ONNX
Runtime and JAX.

    pytest bench/ --benchmark-only                    # everything
    pytest bench/ --benchmark-only --sizes 64K        # a quicker subset
    pytest bench/ --benchmark-only -k "sigmoid and float32"
    pytest bench/test_table.py --markdown README.md

Every library gets the same thread count (``--threads``, default fastact's);
each benchmark group is one case (function, direction, size, dtype), so
pytest-benchmark's table compares the libraries side by side.  The cases,
sizes, input data and page placement are the harness's in fastact.bench,
the ones ``fastact bench`` uses, and nothing is forced on the environment.
The benchmark protocol times each library in a process of its own, which
``--libraries`` gives the suite (one pytest run per library, saved and
compared with pytest-benchmark's own tools); run with several, the suite
times each library's benchmarks as one block, one library after the other.
test_table.py runs ``fastact bench``'s own table (a worker process per
library).
"""

from __future__ import annotations

import pytest

import fastact
from fastact.bench.config import DTYPES, FULL_SIZES, SIZES
from fastact.bench.worker import LIBRARIES


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
        help="threads for every library",
    )
    g.addoption(
        "--libraries",
        default=",".join(LIBRARIES),
        help="test_kernels.py: the libraries timed, comma-separated (one a run: "
        "each in a process of its own)",
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
    if "lib" in metafunc.fixturenames:
        metafunc.parametrize("lib", [x for x in opt("--libraries").split(",") if x])


def pytest_collection_modifyitems(items):
    """Each library's benchmarks in one block (a stable sort by library):
    another library's threads, idle since its block ended, then cost nothing."""
    order = {lib: i for i, lib in enumerate(LIBRARIES)}

    def key(item):
        spec = getattr(item, "callspec", None)
        return order.get(spec.params.get("lib"), -1) if spec else -1

    items.sort(key=key)


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
