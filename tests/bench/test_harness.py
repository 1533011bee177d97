"""The harness pieces both front ends share (fastact.bench): page placement,
sample data, the wait policy, the calls timed, the markdown writer, and the
``fastact`` command's dispatch."""

from __future__ import annotations

import numpy as np
import pytest

from fastact import cli
from fastact.bench import config, cpu, table, timing
from fastact.bench.cases import BY_ID, CASES


@pytest.mark.parametrize("slot", [0, 1, 2, 3, 5])
def test_placed_starts_at_its_slot(slot):
    a = timing.placed((1000,), np.float32, slot)
    assert a.flags.c_contiguous and a.shape == (1000,) and a.dtype == np.float32
    assert a.ctypes.data % 4096 == slot * 1088 % 4096
    x = np.arange(6.0).reshape(2, 3)
    b = timing.placed_like(x, slot)
    assert np.array_equal(b, x) and b.ctypes.data % 4096 == slot * 1088 % 4096


def test_sample_is_seeded_and_sized():
    a = config.sample("1K", "float32")
    assert a.shape == (config.SIZES["1K"],) and a.dtype == np.float32
    assert np.array_equal(a, config.sample("1K", "float32", 0))
    assert not np.array_equal(a, config.sample("1K", "float32", 1))
    assert set(config.QUICK_SIZES.split(",")) <= set(config.SIZES)
    assert set(config.FULL_SIZES.split(",")) <= set(config.SIZES)


def test_wait_policy_reexecutes_only_when_unset(monkeypatch):
    calls = []
    monkeypatch.setattr(config.os, "execv", lambda *a: calls.append(a))
    monkeypatch.setenv(config.WAIT, "ACTIVE")
    config.require_passive_waits()
    assert calls == [] and config.wait_policy() == "ACTIVE"
    monkeypatch.delenv(config.WAIT)
    assert config.wait_policy() == "unset"
    config.require_passive_waits()
    assert config.wait_policy() == "PASSIVE" and len(calls) == 1
    exe, argv = calls[0]
    assert argv[0] == exe and argv[1:] == list(config.sys.orig_argv[1:])


def test_calls_per_library():
    x = cpu.case_input(BY_ID["relu"], cpu.placed_sample("1K", "float32"))
    fns, kind = cpu.calls(BY_ID["relu"], x)
    assert list(fns) == ["fastact", "numpy"] and kind is None
    for f in fns.values():
        f()
    fns, _ = cpu.calls(BY_ID["gelu"], x, backward=True)
    assert list(fns) == ["fastact"]  # NumPy has no erf
    soft = BY_ID["softmax"]
    assert cpu.case_input(soft, x).shape == (config.SIZES["1K"] // config.ROW, config.ROW)
    assert len(BY_ID) == len(CASES)


@pytest.mark.parametrize("case", [c for c in CASES if c.saved == "y="], ids=lambda c: c.id)
def test_from_y_rows_time_the_backward_from_y(case):
    """A NAME[y] row times NAME_backward(g, y=NAME(x)) and torch's op from the
    result on the same y: both give NAME_backward(g, x) (to rounding)."""
    import fastact

    torch = pytest.importorskip("torch", reason="torch baseline not installed")
    x = cpu.case_input(case, cpu.placed_sample("1K", "float32"))
    fns, kind = cpu.calls(case, x, torch, backward=True)
    assert list(fns) == ["fastact", "torch"] and kind == "aten backward op"
    want = getattr(fastact, case.name + "_backward")(np.ones_like(x), x, **case.kwargs)
    for f in fns.values():
        np.testing.assert_allclose(np.asarray(f()), want, rtol=1e-5, atol=1e-6)


def test_write_between_markers(tmp_path):
    p = tmp_path / "doc.md"
    p.write_text(
        f"head\n<!-- {table.BENCH_TAG}: begin -->\nold\n<!-- {table.BENCH_TAG}: end -->\ntail\n"
    )
    table.write_between_markers(str(p), "new")
    assert p.read_text() == (
        f"head\n<!-- {table.BENCH_TAG}: begin -->\nnew\n<!-- {table.BENCH_TAG}: end -->\ntail\n"
    )
    (tmp_path / "none.md").write_text("no markers\n")
    with pytest.raises(SystemExit, match="no '<!-- fastact bench table: begin -->'"):
        table.write_between_markers(str(tmp_path / "none.md"), "new")


def test_markdown_columns():
    row = {"function": "relu", "size": "1K", "dtype": "float32", "fastact": 1e-6, "copy": 1e-6}
    md = table.markdown([row], "cap").splitlines()
    assert md[0] == "cap" and md[2] == "| " + " | ".join(table.COLUMNS) + " |"
    assert md[4] == "| relu | 1K | 1.0 | - | - | - | - | 8.19 | 8.19 |"
    assert table.format_row(row).split() == [
        "relu",
        "1K",
        "1.0",
        "-",
        "-",
        "-",
        "-",
        "8.19",
        "8.19",
    ]


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "apply" in out and "bench" in out and "``" not in out
    with pytest.raises(SystemExit):
        cli.main([])
    assert "COMMAND" in capsys.readouterr().err
