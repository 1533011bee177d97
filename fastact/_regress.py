"""Saved benchmark runs, and the comparison that catches a slowdown.

Absolute times move with the load of a shared machine and differ between
machines, so runs are compared through figures normalized within each run:
fastact's time divided by a reference timed in the same rounds (a copy of
the same array, the memory floor no kernel can beat, or torch on the same
case).  Timing the two separately was not enough here: two runs of the same
code differed by up to 50-150% per row, because the machine's load moved
between the measurements.  fastact.cli.interleaved therefore times them in
turns within every round, and the figure is the median of the per-round
ratios.  Each row's change is also taken relative to the median change of its
(size, dtype) group: what the whole group shares cancels, and a kernel that
really got slower stands out from its neighbours.
"""
from __future__ import annotations

import json
import os
import statistics
import time

SCHEMA = 2


def _key(row: dict) -> str:
    return f"{row['function']}|{row['size']}|{row['dtype']}"


def normalized(row: dict, ref: str = "copy") -> float:
    """fastact's time over the reference's (`ref`: 'copy' of the same array,
    or 'torch' on the same case), the median of the per-round ratios of
    interleaved rounds (fastact.cli.interleaved)."""
    return row[f"per_{ref}"]


def save(rows: list[dict], name: str, directory: str, meta: dict) -> str:
    """Write the run under `directory`/`name`.json; returns the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    doc = {"schema": SCHEMA, "saved": time.strftime("%Y-%m-%d %H:%M:%S"), "meta": meta,
           "rows": rows}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)
    return path


def load(name: str, directory: str) -> dict:
    path = os.path.join(directory, f"{name}.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise SystemExit(f"fastact bench: no saved run {name!r} ({path}); save one with "
                         f"--save {name}") from None
    if doc.get("schema") != SCHEMA:
        raise SystemExit(f"fastact bench: {path} has schema {doc.get('schema')!r}, "
                         f"expected {SCHEMA}")
    return doc


# below this many rows a group's median is not a fair reference
MIN_GROUP = 3


def compare(saved: list[dict], rows: list[dict], fail_above: float,
            ref: str = "copy") -> tuple[list[str], bool]:
    """Report lines for the rows both runs have, and whether any got slower
    by more than `fail_above` (0.10 = 10%) relative to its group."""
    old = {_key(r): r for r in saved}
    pairs = [(r, old[_key(r)]) for r in rows
             if _key(r) in old and f"per_{ref}" in r and f"per_{ref}" in old[_key(r)]]
    groups: dict[tuple, list[float]] = {}
    for r, o in pairs:
        groups.setdefault((r["size"], r["dtype"]), []).append(normalized(r, ref) / normalized(o, ref))
    factor = {g: (statistics.median(v) if len(v) >= MIN_GROUP else 1.0)
              for g, v in groups.items()}
    lines = [f"{'function':<14} {'size':>4} {'dtype':<8} {'before':>8} {'now':>8} {'change':>8}"]
    failed = False
    for r, o in pairs:
        a, b = normalized(o, ref), normalized(r, ref)
        change = b / a / factor[(r["size"], r["dtype"])] - 1.0
        flag = ""
        if change > fail_above:
            failed, flag = True, "  SLOWER"
        lines.append(f"{r['function']:<14} {r['size']:>4} {r['dtype']:<8} {a:8.3f} {b:8.3f} "
                     f"{change:+8.1%}{flag}")
    missing = len(rows) - len(pairs)
    if missing:
        lines.append(f"({missing} row(s) not in the saved run)")
    return lines, failed
