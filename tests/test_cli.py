"""`fastact bench`: output files, saved runs and the regression gate."""
import json
import time

import numpy as np
import pytest

import fastact
from fastact import cli

QUICK = ["bench", "--functions", "relu,softmax", "--sizes", "1K", "--min-time", "0.001"]


def test_output_files(tmp_path, capsys):
    assert cli.main(QUICK + ["--output", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert [r["function"] for r in doc["rows"]] == ["relu", "softmax"]
    assert all(r["fastact"] > 0 and r["copy"] > 0 for r in doc["rows"])
    assert "| relu | 1K |" in (tmp_path / "out" / "bench.md").read_text()
    assert "[  2/2]" in capsys.readouterr().out          # the progress count


def test_compare_passes_same_code_and_catches_a_slowdown(tmp_path, monkeypatch, capsys):
    store = ["--store", str(tmp_path)]
    assert cli.main(QUICK + store + ["--save", "base"]) == 0
    # the same code again: within a generous margin (1K timings are noisy)
    assert cli.main(QUICK + store + ["--compare", "base", "--fail-above", "300%"]) == 0
    real = fastact.relu

    def slow_relu(x, out=None):          # a planted slowdown far above any noise
        t = time.perf_counter()
        while time.perf_counter() - t < 2e-4:
            pass
        return real(x, out=out)
    monkeypatch.setattr(fastact, "relu", slow_relu)
    assert cli.main(QUICK + store + ["--compare", "base", "--fail-above", "300%"]) == 1
    assert "SLOWER" in capsys.readouterr().out


def test_bad_arguments(tmp_path, capsys):
    assert cli.main(["bench", "--functions", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert cli.main(["bench", "--sizes", "3K"]) == 2
    with pytest.raises(SystemExit, match="no saved run"):
        cli.main(QUICK + ["--store", str(tmp_path), "--compare", "missing"])
    with pytest.raises(SystemExit):
        cli.main(QUICK + ["--fail-above", "-5%"])
