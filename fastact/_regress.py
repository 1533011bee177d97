"""Saved benchmark runs, and the comparison that catches a slowdown.

Absolute times move with the load of a shared machine and differ between
machines, so a run is saved and compared as a figure normalized within the
run that measured it: fastact's time divided by the time of ``np.copyto`` on
the same array, measured in the same run (the memory floor no kernel can
beat).  A busy machine slows both alike; a kernel that really got slower
moves its ratio.
"""
from __future__ import annotations

import json
import os
import time

SCHEMA = 1


def _key(row: dict) -> str:
    return f"{row['function']}|{row['size']}|{row['dtype']}"


def normalized(row: dict) -> float:
    """fastact time / copy time of the same array, from one run."""
    return row["fastact"] / row["copy"]


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


def compare(saved: list[dict], rows: list[dict], fail_above: float) -> tuple[list[str], bool]:
    """Report lines for the rows both runs have, and whether any got slower
    by more than `fail_above` (0.10 = 10%) in normalized time."""
    old = {_key(r): r for r in saved}
    lines = [f"{'function':<14} {'size':>4} {'dtype':<8} {'before':>8} {'now':>8} {'change':>8}"]
    failed = False
    for r in rows:
        o = old.get(_key(r))
        if o is None:
            continue
        a, b = normalized(o), normalized(r)
        change = b / a - 1.0
        flag = ""
        if change > fail_above:
            failed, flag = True, "  SLOWER"
        lines.append(f"{r['function']:<14} {r['size']:>4} {r['dtype']:<8} {a:8.3f} {b:8.3f} "
                     f"{change:+8.1%}{flag}")
    missing = len(rows) - (len(lines) - 1)
    if missing:
        lines.append(f"({missing} row(s) not in the saved run)")
    return lines, failed
