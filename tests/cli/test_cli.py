"""`fastact bench`: output files, saved runs and the regression gate.

The runs here time on a clock of the test's own (every reading about 2 ms after the
last): what is checked is what the command does with its timings, never how
fast anything is; real timings of the gate are bench/test_speed_goals.py's.
For the clock (and a planted slowdown) to reach them, the libraries' workers
run in this process here (fastact.bench.worker.InProcess); tests/bench
checks the real worker processes.
"""

import json
import os
import shutil
import subprocess

import pytest

import fastact
from fastact import cli
from fastact.bench import regress as _regress
from fastact.bench import runner as _runner
from fastact.bench import timing as _timing
from fastact.bench import worker as _worker
from fastact.bench.config import SIZES

QUICK = ["bench", "--functions", "relu,softmax", "--sizes", "1K", "--min-time", "0.001"]
QUICK += ["--libraries", "fastact,numpy,torch", "--no-gpu"]
TICK = 2.0**-9  # about 2 ms a reading (one call per round at --min-time 0.001), exact in binary


class _Clock:
    """time.perf_counter for fastact.bench.timing: TICK a reading, plus what a
    planted slow call adds (`spend`)."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += TICK
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    c = _Clock()
    monkeypatch.setattr(_timing, "time", c)
    monkeypatch.setattr(_runner, "Process", _worker.InProcess)
    return c


def test_fake_clock_times_every_call_alike():
    times = _timing.interleaved({"a": lambda: None, "b": lambda: None}, 0.001, rounds=3)
    assert times == {"a": [TICK] * 3, "b": [TICK] * 3}


def test_output_files(tmp_path, capsys):
    assert cli.main(QUICK + ["--output", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert [r["function"] for r in doc["rows"]] == ["relu", "softmax"]
    assert all(r["fastact"] > 0 and r["copy"] > 0 for r in doc["rows"])
    assert "| relu | 1K |" in (tmp_path / "out" / "bench.md").read_text()
    assert "[  2/2]" in capsys.readouterr().out  # the progress count


def test_backward_rows(tmp_path):
    assert cli.main(QUICK + ["--backward", "--output", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [r["function"] for r in rows] == ["relu", "relu bwd", "softmax", "softmax bwd"]
    assert all(r["fastact"] > 0 for r in rows)
    assert {r["arrays"] for r in rows} == {2, 3}  # grad_output is read too


def test_charts(tmp_path):
    pytest.importorskip("matplotlib", reason="charts need the plot extra (matplotlib)")
    from fastact.bench import plot as _plot

    assert (
        cli.main(
            [
                "bench",
                "--functions",
                "relu,softmax",
                "--sizes",
                "1K,64K",
                "--min-time",
                "0.001",
                "--libraries",
                "fastact,numpy,torch",
                "--output",
                str(tmp_path),
            ]
        )
        == 0
    )
    for name in ("relu-float32.png", "softmax-float32.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # one line per library that has a time, copy included
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    import matplotlib.pyplot as plt

    seen = []
    real = plt.Axes.plot

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("label"))
        return real(self, *args, **kwargs)

    plt.Axes.plot = spy
    try:
        _plot.charts([r for r in rows if r["function"] == "relu"], str(tmp_path / "again"), SIZES)
    finally:
        plt.Axes.plot = real
    relu = [r for r in rows if r["function"] == "relu"][0]
    libs = {k for k in ("fastact", "torch", "numpy", "onnxruntime", "jax") if k in relu}
    assert set(seen) == libs | {"np.copyto (floor)"} and "fastact" in libs


def test_compare_passes_same_code_and_catches_a_slowdown(tmp_path, monkeypatch, capsys, clock):
    store = ["--store", str(tmp_path)]
    assert cli.main(QUICK + store + ["--save", "base", "--repeat", "3"]) == 0
    # the same timings again: no margin needed
    assert cli.main(QUICK + store + ["--compare", "base", "--fail-above", "1%"]) == 0
    assert "SLOWER" not in capsys.readouterr().out
    real = fastact.relu

    def slow_relu(x, out=None):  # a planted slowdown: each call 3 ticks longer
        clock.spend(3 * TICK)
        return real(x, out=out)

    monkeypatch.setattr(fastact, "relu", slow_relu)
    assert cli.main(QUICK + store + ["--compare", "base", "--fail-above", "100%"]) == 1
    out = capsys.readouterr().out
    assert "SLOWER: relu" in out and "softmax" not in out.split("SLOWER")[-1]


def _rows(per_copy, per_torch):
    return [
        {
            "function": f"k{i}",
            "size": "1K",
            "dtype": "float32",
            "fastact": 1.0,
            "per_copy": c,
            "per_torch": t,
        }
        for i, (c, t) in enumerate(zip(per_copy, per_torch))
    ]


@pytest.mark.parametrize("ref, fails", [("both", False), ("copy", True), ("torch", False)])
def test_gate_against_both_references(ref, fails):
    # k0 looks 50% slower against the copy only: noise in the copy, not a
    # slower kernel; k1..k3 unchanged
    base = _rows([1, 2, 3, 4], [1, 2, 3, 4])
    now = _rows([1.5, 2, 3, 4], [1, 2, 3, 4])
    lines, failed = _regress.compare(base, now, 0.10, ref)
    assert failed is fails
    assert ("SLOWER: k0" in lines[-1]) is fails


def test_gate_fires_when_slower_against_both():
    base = _rows([1, 2, 3, 4], [1, 2, 3, 4])
    now = _rows([1.3, 2, 3, 4], [1.25, 2, 3, 4])
    lines, failed = _regress.compare(base, now, 0.10)
    assert failed and "+25.0%  *" in lines[1] and "SLOWER: k0" in lines[-1]
    # relative to the group: everything 30% slower is the machine, not a kernel
    lines, failed = _regress.compare(base, _rows([1.3, 2.6, 3.9, 5.2], [1.3, 2.6, 3.9, 5.2]), 0.10)
    assert not failed


def test_gate_fails_a_kernel_slower_at_every_size():
    def rows(k0):
        return [
            dict(r, size=size)
            for size, c in zip(("1K", "1M"), k0)
            for r in _rows([c, 2, 3, 4], [c, 2, 3, 4])
        ]

    base = rows((1, 1))
    lines, failed = _regress.compare(base, rows((1.5, 1.0)), 0.10)
    assert not failed and any(line.endswith("  *") for line in lines)  # one size: noise
    lines, failed = _regress.compare(base, rows((1.5, 1.3)), 0.10)
    assert failed and "SLOWER: k0, by at least +30.0% in each of its 2 row(s)" in lines


def test_best_of_keeps_each_figure_at_its_lowest():
    a, b = _rows([1.0], [2.0])[0], _rows([1.5], [1.0])[0]
    b["fastact"] = 0.5
    m = _regress.best_of(a, b)
    assert (m["per_copy"], m["per_torch"], m["fastact"]) == (1.0, 1.0, 0.5)


def test_command_line_runs_workers_in_the_callers_environment(tmp_path):
    # The `fastact` script times each library in a worker process of its
    # own, in the environment it was started in: no wait policy is set.  The
    # workers must import the same fastact: a decoy package in the working
    # directory (a source checkout without built extensions) must not win.
    script = shutil.which("fastact")
    if script is None:
        pytest.skip("the fastact console script is not installed (pip install -e .)")
    (tmp_path / "fastact").mkdir()
    (tmp_path / "fastact" / "__init__.py").write_text("raise ImportError('decoy imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    r = subprocess.run(
        [script, *QUICK[:7], "--libraries", "fastact,numpy", "--json", "out.json", "--no-gpu"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "OMP_WAIT_POLICY" not in r.stdout and "own process" in r.stdout
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert [(x["function"], "numpy" in x) for x in rows] == [("relu", True), ("softmax", True)]


def test_bad_arguments(tmp_path, capsys):
    assert cli.main(["bench", "--functions", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert cli.main(["bench", "--sizes", "3K"]) == 2
    with pytest.raises(SystemExit, match="no saved run"):
        cli.main(QUICK + ["--store", str(tmp_path), "--compare", "missing"])
    with pytest.raises(SystemExit):
        cli.main(QUICK + ["--fail-above", "-5%"])
