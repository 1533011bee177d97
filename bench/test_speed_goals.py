"""Speed goals the unit tests check only as behaviour (tests/ holds no timing):

- the loops that stream their large outputs are the cheap, memory-bound ones
  (tests/cpu/test_stream.py checks the choice on a clock of its own);
- a fresh process loads its loops from the disk cache in well under a second
  and a half (tests/cpu/test_threads.py checks that nothing is compiled);
- ``fastact bench --compare`` passes the same code on real timings, its
  libraries in worker processes of their own (tests/cli/test_cli.py checks
  the gate on a clock of its own).

Each goal here times fastact alone, or fastact in a fresh process: no
ratio between libraries is taken in one process.

    pytest bench/test_speed_goals.py --benchmark-only
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fastact
from fastact import cli
from fastact.cpu import activations, ufunc

N = 1 << 15  # as activations._memory_bound measures: float32, data in L2


@pytest.mark.parametrize(
    "name, which, cheap", [("relu", "backward", True), ("gelu", "forward", False)]
)
def test_streamed_loops_are_the_memory_bound_ones(benchmark, name, which, cheap):
    uf = activations.get(name, which)
    x = np.linspace(-4.0, 4.0, N, dtype=np.float32)
    out = np.empty_like(x)
    args = [x] * (1 if which == "forward" else 2)
    old = fastact.get_num_threads()
    fastact.set_num_threads(1)
    try:
        benchmark.group = "streaming choice"
        benchmark.pedantic(lambda: uf(*args, out=out), rounds=50, iterations=10)
    finally:
        fastact.set_num_threads(old)
    ns = benchmark.stats.stats.min / N * 1e9
    # far from the threshold either way, so that noise cannot move a kernel across it
    assert (ns <= activations.STREAM_MAX_NS) is cheap, f"{name} {which}: {ns:.3f} ns an element"
    assert ufunc.streaming(uf) is cheap


def test_first_call_in_a_fresh_process(benchmark):
    code = "import numpy as np, fastact; fastact.gelu(np.ones(10, np.float32))"
    subprocess.run([sys.executable, "-c", code], check=True)  # warm the disk cache
    benchmark.pedantic(
        lambda: subprocess.run([sys.executable, "-c", code], check=True), rounds=5, iterations=1
    )
    # compiling gelu from scratch takes seconds, a cached load well under one
    assert benchmark.stats.stats.min < 1.5


def test_regression_gate_passes_the_same_code(benchmark, tmp_path):
    quick = ["bench", "--functions", "relu,softmax", "--sizes", "1K", "--min-time", "0.001"]
    quick += ["--libraries", "fastact,torch", "--no-gpu"]
    store = ["--store", str(tmp_path), "--repeat", "3"]
    assert cli.main(quick + store + ["--save", "base"]) == 0
    status = benchmark.pedantic(
        lambda: cli.main(quick + store + ["--compare", "base", "--fail-above", "300%"]),
        rounds=1,
        iterations=1,
    )
    assert status == 0
