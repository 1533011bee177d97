"""The GPU rows of `fastact bench` (fastact/bench/gpu.py): their arithmetic and
tables from injected timings, the CLI without a GPU, and, on a GPU, the real
rows at a small size."""

from __future__ import annotations

import doctest
import json
import time

import pytest

from fastact import cli
from fastact.bench import gpu as gb
from fastact.bench.timing import interleaved

QUICK = ["bench", "--functions", "relu", "--sizes", "1K", "--min-time", "0.001"]
WHY = gb.unavailable()

# per-round seconds per call, chosen so that the median of the per-round
# ratios (what the table reports) differs from the ratio of the medians
FAKE = {
    "fastact": [1e-3, 2e-3, 3e-3],
    "copy": [0.9e-3, 1.0e-3, 2.7e-3],
    "torch": [2e-3, 2e-3, 3.3e-3],
}


def fake_rows(elements: int = 1 << 20) -> list[dict]:
    return (
        [gb.gpu_row("elementwise", n, (elements,), FAKE) for n in gb.ELEMENTWISE]
        + [gb.gpu_row("softmax", "softmax", (64, 1024), FAKE)]
        + [
            gb.gpu_row("overhead", n, (1024,), {k: FAKE[k] for k in ("fastact", "torch")})
            for n in gb.OVERHEAD
        ]
    )


def test_row_arithmetic():
    r = gb.gpu_row("elementwise", "relu", (1 << 20,), FAKE)
    nbytes = 2 * 4 * (1 << 20)  # float32 x read, result written
    assert r["bytes"] == nbytes
    assert r["fastact"] == 2e-3 and r["copy"] == 1.0e-3 and r["torch"] == 2e-3
    assert r["gbps"] == pytest.approx(nbytes / 2e-3 / 1e9)
    assert r["copy_gbps"] == pytest.approx(nbytes / 1e-3 / 1e9)
    # per round: 0.9, 0.5, 0.9 of the copy's speed -> 90%, not 1.0 / 2.0 = 50%
    assert r["pct_copy"] == pytest.approx(90.0)
    # per round: 2.0, 1.0, 1.1 -> 1.1 (torch slower: fastact 1.1x faster)
    assert r["vs_torch"] == pytest.approx(1.1)
    assert r["torch_gbps"] == pytest.approx(nbytes / 2e-3 / 1e9)
    o = gb.gpu_row("overhead", "sigmoid", (1024,), {k: FAKE[k] for k in ("fastact", "torch")})
    assert "pct_copy" not in o and o["vs_torch"] == pytest.approx(1.1)


def test_tables_from_fake_timings():
    rows = fake_rows()
    t = gb.text(rows)
    gbps = f"{2 * 4 * (1 << 20) / 2e-3 / 1e9:.1f}"  # 4.2
    relu = next(ln for ln in t.splitlines() if ln.split()[:1] == ["relu"])
    assert relu.split() == ["relu", "1M", "2000.0", gbps, "8.4", "90.0%", "2000.0", gbps, "1.10"]
    soft = next(ln for ln in t.splitlines() if ln.split()[:1] == ["softmax"])
    assert soft.split() == [
        "softmax",
        "64x1024",
        "2000.0",
        f"{2 * 4 * 64 * 1024 / 2e-3 / 1e9:.1f}",
        "90.0%",
        "2000.0",
        f"{2 * 4 * 64 * 1024 / 2e-3 / 1e9:.1f}",
        "1.10",
    ]
    over = [ln.split() for ln in t.splitlines() if ln.split()[:1] in (["sigmoid"], ["relu"])]
    assert ["sigmoid", "1024", "2000.0", "2000.0", "1.10"] in over
    md = gb.markdown({"caption": "cap", "rows": rows})
    assert md.startswith("cap\n") and md.count("|---|") == 3  # three tables
    assert f"| relu | 1M | 2000.0 | {gbps} | 8.4 | 90.0% | 2000.0 | {gbps} | 1.10 |" in md
    assert gb.markdown({"reason": "no GPU here", "rows": []}) == "GPU: no rows (no GPU here)"


def test_doctests():
    res = doctest.testmod(gb)
    assert res.attempted and not res.failed


def test_interleaved_sync_ends_every_batch():
    """Asynchronous calls (a GPU queue) are timed to their end only when the
    batch ends with the sync: here each call queues 0.2 ms of 'work' that the
    sync waits for."""
    pending = []

    def call():
        pending.append(2e-4)

    def sync():
        time.sleep(sum(pending))
        pending.clear()

    synced = interleaved({"a": call}, min_time=0.005, rounds=3, sync=sync)["a"]
    assert min(synced) >= 1.8e-4
    pending.clear()
    unsynced = interleaved({"a": call}, min_time=0.005, rounds=3)["a"]
    assert max(unsynced) < 1e-4  # nothing waited for the queue


@pytest.mark.skipif(
    WHY is None, reason="a usable GPU is here: test_gpu_rows_on_the_device runs the GPU rows"
)
def test_cli_without_gpu_says_why(tmp_path, capsys):
    assert cli.main(QUICK + ["--gpu", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"fastact bench: no GPU rows: {WHY}\n" in out
    assert "| relu | 1K |" in (tmp_path / "bench.md").read_text()  # CPU rows still there
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["gpu"] == {"reason": WHY, "rows": []} and doc["rows"]
    assert cli.main(QUICK + ["--no-gpu", "--output", str(tmp_path)]) == 0
    assert "GPU" not in capsys.readouterr().out
    assert "gpu" not in json.loads((tmp_path / "bench.json").read_text())


def test_cli_gpu_section(tmp_path, capsys, monkeypatch):
    """The CLI's GPU section, with measure() replaced by fake timings: table
    printed after the CPU table, and written to bench.md and bench.json."""
    asked = []

    def measure(elements, min_time, echo):
        asked.append(elements)
        return fake_rows(elements)

    monkeypatch.setattr(gb, "unavailable", lambda: None)
    monkeypatch.setattr(gb, "measure", measure)
    monkeypatch.setattr(
        gb,
        "meta",
        lambda: {"device": "FakeGPU", "torch": "0", "torch_cuda": "0", "numba_cuda": "0"},
    )
    assert cli.main(QUICK + ["--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.index("rows in") < out.index("GPU: FakeGPU") < out.index("90.0%")
    assert asked == [gb.QUICK_ELEMENTS]
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["gpu"]["meta"]["device"] == "FakeGPU"
    assert [r["figure"] for r in doc["gpu"]["rows"]] == ["elementwise"] * 3 + ["softmax"] + [
        "overhead"
    ] * 2
    assert doc["gpu"]["rows"][0]["pct_copy"] == pytest.approx(90.0)
    md = (tmp_path / "bench.md").read_text()
    assert md.index("| relu | 1K |") < md.index("GPU: FakeGPU") < md.index("| 90.0% |")
    # --full: 256M elements; --no-gpu: not measured at all
    gb.section(None, True, echo=lambda s: None)
    assert asked[-1] == gb.FULL_ELEMENTS == 1 << 28
    assert gb.section(False, True) is None and len(asked) == 2


@pytest.mark.cuda
@pytest.mark.skipif(WHY is not None, reason=f"no GPU rows here: {WHY}")
def test_gpu_rows_on_the_device():
    """The real GPU rows at a small size."""
    lines = []
    rows = gb.measure(
        1 << 20, softmax_shape=(1024, 1024), min_time=0.002, rounds=3, echo=lines.append
    )
    assert [(r["figure"], r["function"]) for r in rows] == (
        [("elementwise", n) for n in gb.ELEMENTWISE]
        + [("softmax", "softmax")]
        + [("overhead", n) for n in gb.OVERHEAD]
    )
    for r in rows:
        assert r["fastact"] > 0 and r["torch"] > 0 and len(r["rounds"]["fastact"]) == 3
        if r["figure"] != "overhead":
            assert 0 < r["pct_copy"] < 1000 and r["copy"] > 0
    assert rows[0]["elements"] == 1 << 20 and rows[3]["shape"] == [1024, 1024]
    assert len(lines) == len(rows)
    assert "% of copy" in gb.text(rows)
