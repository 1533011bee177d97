"""The harness pieces both front ends share (fastact.bench): page placement,
sample data, the markdown writer, and the ``fastact`` command's dispatch."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastact import cli
from fastact.bench import config, table, timing


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
    assert set(config.QUICK_AXIS_SIZES.split(",")) <= set(config.SIZES)
    assert set(config.FULL_SIZES.split(",")) <= set(config.SIZES)


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
    # no peer timed it: blank cells, no best peer, no ratio
    assert md[4] == "| relu | 1K | 1.0 |  |  |  |  |  |  | 8.19 | 8.19 |"
    row.update(torch=2e-6, onnxruntime=0.5e-6, best_peer="onnxruntime", ratio=0.5)
    row.update(shape="1x1024")
    cells = table.cells(row)
    assert cells[1] == "1x1024" and cells[4:9] == ["2.0", "0.5", "", "ORT", "0.50x"]


def test_caption_names_cpu_isa_and_protocol():
    info = {"numpy": {"version": "9.9"}, "jax": {"missing": "jax not installed"}}
    cap = table.caption("float32", 2, info)
    assert table.cpu_model() in cap and table.isa_flags() in cap
    assert "numpy 9.9" in cap and "no jax" in cap and "own process" in cap
    assert "OMP_WAIT_POLICY" not in cap


def test_readme_excerpt_takes_one_dtype_and_size_and_the_runs_own_cpu(tmp_path):
    """tools/bench_excerpt.py: the README's table from a saved run (its rows
    of one dtype at one size, elementwise and axis alike), captioned with the
    CPU and versions the run recorded, not this machine's."""
    from tools import bench_excerpt

    def row(function, size, dtype, shape=None):
        r = {"function": function, "size": size, "dtype": dtype, "arrays": 2, "fastact": 1e-4}
        return r if shape is None else {**r, "shape": shape}

    doc = {
        "meta": {
            "threads": 2,
            "passes": 2,
            "cpu": "Made-up CPU 9000",
            "isa": "avx2 fma",
            "cpus": 4,
            "libraries": {"fastact": "0.1.0", "torch": "9.9"},
        },
        "rows": [
            row("relu", "1M", "float32"),
            row("softmax", "1M", "float32", "1024x1024"),
            row("relu", "1M", "float64"),
            row("relu", "64K", "float32"),
        ],
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    readme = tmp_path / "README.md"
    readme.write_text(
        "a\n<!-- fastact bench table: begin -->\nold\n<!-- fastact bench table: end -->\nb\n"
    )
    bench_excerpt.main([str(path), "--readme", str(readme), "--commit", "abc1234"])
    text = readme.read_text()
    assert "old" not in text and text.startswith("a\n") and text.endswith("b\n")
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")][1:]
    assert [ln.split(" | ")[:2] for ln in lines] == [["| relu", "1M"], ["| softmax", "1024x1024"]]
    assert "at abc1234" in text and "Made-up CPU 9000 (avx2 fma), 4 CPUs" in text
    assert "torch 9.9" in text and table.cpu_model() not in text
    with pytest.raises(SystemExit, match="no float64 rows at 16M"):
        bench_excerpt.main(
            [str(path), "--readme", str(readme), "--dtype", "float64", "--size", "16M"]
        )


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "apply" in out and "bench" in out and "``" not in out
    with pytest.raises(SystemExit):
        cli.main([])
    assert "COMMAND" in capsys.readouterr().err
