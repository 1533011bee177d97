"""The README's benchmark table from pytest: ``fastact bench``'s own run
(fastact.bench.runner: a worker process per library, taking turns case by
case), so the table is the one ``fastact bench --markdown FILE`` writes.

    pytest bench/test_table.py --markdown README.md --sizes 1M --dtypes float32

Skipped without ``--markdown`` (and under ``--benchmark-only``: it times
through its workers, not through pytest-benchmark).
"""

from __future__ import annotations

import pytest

from fastact.bench.runner import Run, measure


def test_table(request, threads):
    opt = request.config.getoption
    path = opt("--markdown")
    if not path:
        pytest.skip("pass --markdown FILE to write fastact bench's table into FILE")
    sizes = [s for s in opt("--sizes").split(",") if s]
    run = Run(
        sizes=sizes,
        axis_sizes=sizes,
        libraries=[x for x in opt("--libraries").split(",") if x],
        dtypes=[d for d in opt("--dtypes").split(",") if d],
        threads=threads,
        backward=opt("--backward"),
        markdown=path,
    )
    rows = measure(run)
    assert rows and all(r["fastact"] > 0 and r["copy"] > 0 for r in rows)
    assert all("ratio" in r for r in rows if "best_peer" in r)
