"""The CPU table of ``fastact bench``: its columns, the text rows printed as
they come, and the markdown written into the README and ``bench.md``."""

from __future__ import annotations

import os
import platform

import numpy as np

from fastact.bench.config import ROW, SIZES, WAIT, wait_policy

COLUMNS = [
    "function",
    "size",
    "fastact us",
    "numpy us",
    "torch us",
    "vs numpy",
    "vs torch",
    "GB/s",
    "copy GB/s",
]
_WIDTHS = [12, 4, 10, 10, 10, 8, 8, 7, 9]
BENCH_TAG = "fastact bench table"


def cells(r: dict) -> list[str]:
    """The table's cells of row `r` (a dict from cpu.bench)."""
    us = lambda k: f"{r[k] * 1e6:.1f}" if k in r else "-"  # noqa: E731
    ratio = lambda k: f"{r[k] / r['fastact']:.2f}x" if k in r else "-"  # noqa: E731
    # bytes moved: x read and the result written (backward: grad_output too);
    # the copy column is a copy of x, 2 arrays
    itemsize = np.dtype(r["dtype"]).itemsize
    nbytes = r.get("arrays", 2) * SIZES[r["size"]] * itemsize
    copy_bytes = 2 * SIZES[r["size"]] * itemsize
    return [
        r["function"],
        r["size"],
        us("fastact"),
        us("numpy"),
        us("torch"),
        ratio("numpy"),
        ratio("torch"),
        f"{nbytes / r['fastact'] / 1e9:.2f}",
        f"{copy_bytes / r['copy'] / 1e9:.2f}",
    ]


def _aligned(line: list[str]) -> str:
    return " ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, _WIDTHS))
    )


def format_row(r: dict) -> str:
    """Row `r` as a line of the text table (under HEADER)."""
    return _aligned(cells(r))


HEADER = _aligned(COLUMNS)


def torch_version() -> str:
    """', torch X' for captions, or ', torch not installed'."""
    try:
        import torch
    except ImportError:
        return ", torch not installed"
    return f", torch {torch.__version__}"


def caption(dtype: str, threads: int) -> str:
    """The line above a table of `dtype` rows: how they were timed, and where."""
    return (
        f"{dtype}, {threads} thread(s) for every library, median of 7 rounds; "
        "ratio = baseline time / fastact time (>1: fastact faster); GB/s = bytes "
        f"read + written / time; axis functions over rows of {ROW}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}"
        f"{torch_version()}, {WAIT}={wait_policy()}"
    )


def markdown(rows: list[dict], caption: str) -> str:
    """The rows as a markdown table under a one-line caption."""
    lines = [
        caption,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_between_markers(path: str, text: str, tag: str = BENCH_TAG) -> None:
    """Replace the block between ``<!-- tag: begin -->`` and ``<!-- tag: end -->``
    in `path` with `text` (generated tables in the README)."""
    begin, end = f"<!-- {tag}: begin -->", f"<!-- {tag}: end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    try:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise SystemExit(f"{path} has no '{begin}' ... '{end}' block") from None
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")
