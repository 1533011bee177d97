"""Saved benchmark runs, and the comparison that catches a slowdown.

Absolute times move with the load of a shared machine and differ between
machines, so runs are compared through figures normalized within each run:
fastact's time divided by a reference timed beside it (a copy of the same
array, the memory floor no kernel can beat, or torch on the same case).
Timing the two far apart is not enough on a shared machine: its load moves
between the measurements, and two runs of the same code can differ by more
per row than any slowdown worth catching.  fastact's worker therefore times
the copy in turns with fastact within every round (the figure: the median of
the per-round ratios), and torch's worker takes its turn right after
fastact's in each pass (the figure: the lower of the per-pass ratios of
medians; torch runs in a process of its own, see fastact.bench.worker).  Each row's
change is also taken relative to the median change of its (size, dtype)
group: what the whole group shares cancels, and a kernel that really got
slower stands out from its neighbours.

Neither reference cancels every kind of noise.  A burst that slows
arithmetic more than memory traffic (another tenant on the core) moves
fastact/copy for a compute-bound kernel; one that hits torch's kernel but not
fastact's moves fastact/torch.  Over pairs of same-code runs a row moves much
further against either reference alone than against whichever of the two
moved less, while a kernel that really got slower is slower against both;
so by default (ref 'both') a row's change is the smaller of its two changes.

Even so a single row of unchanged code can move by a fair amount between two
runs (fastact's own time, in a slow spell that spared both references),
while a kernel over all its sizes moves much less.  A slower kernel is slower
at every size, so the gate fails a kernel (forward and backward are separate
kernels) whose every row got slower by more than the threshold; rows above
it alone are marked but do not fail the run.  The default threshold, 20%,
sits above the same-code spread of a whole kernel and below a planted 30%
slowdown.
"""

from __future__ import annotations

import json
import os
import statistics
import time

SCHEMA = 3  # 3: torch timed in its own worker process, per_torch pass by pass


def _key(row: dict) -> str:
    return f"{row['function']}|{row['size']}|{row['dtype']}"


REFS = {"both": ("copy", "torch"), "copy": ("copy",), "torch": ("torch",)}


def normalized(row: dict, ref: str = "copy") -> float:
    """fastact's time over the reference's (`ref`: 'copy' of the same array,
    or 'torch' on the same case), the median of the per-round ratios of
    interleaved rounds (fastact.bench.timing.interleaved)."""
    return row[f"per_{ref}"]


def best_of(a: dict, b: dict) -> dict:
    """Two timings of one row (--repeat) as one: the faster repetition's
    times, and each normalized figure at its lower value."""
    row = dict(a if a["fastact"] <= b["fastact"] else b)
    for name in REFS["both"]:
        k = f"per_{name}"
        if k in a and k in b:
            row[k] = min(a[k], b[k])
    return row


def save(rows: list[dict], name: str, directory: str, meta: dict) -> str:
    """Write the run under `directory`/`name`.json; returns the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    doc = {
        "schema": SCHEMA,
        "saved": time.strftime("%Y-%m-%d %H:%M:%S"),
        "meta": meta,
        "rows": rows,
    }
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
        raise SystemExit(
            f"fastact bench: no saved run {name!r} ({path}); save one with --save {name}"
        ) from None
    if doc.get("schema") != SCHEMA:
        raise SystemExit(
            f"fastact bench: {path} has schema {doc.get('schema')!r}, expected {SCHEMA}"
        )
    return doc


# below this many rows a group's median is not a fair reference
MIN_GROUP = 3


def compare(
    saved: list[dict], rows: list[dict], fail_above: float, ref: str = "both"
) -> tuple[list[str], bool]:
    """Report lines for the rows both runs have, and whether a kernel got
    slower by more than `fail_above` (0.10 = 10%): in every one of its rows
    (sizes, dtypes), relative to the row's group and against every
    reference in REFS[ref] (a row without torch is judged by the copy)."""
    old = {_key(r): r for r in saved}
    pairs = [(r, old[_key(r)]) for r in rows if _key(r) in old]
    refs = REFS[ref]
    # change[reference][row key]: the row's change relative to its group's median
    change: dict[str, dict[str, float]] = {}
    for name in refs:
        groups: dict[tuple, list[tuple[str, float]]] = {}
        for r, o in pairs:
            if f"per_{name}" in r and f"per_{name}" in o:
                groups.setdefault((r["size"], r["dtype"]), []).append(
                    (_key(r), normalized(r, name) / normalized(o, name))
                )
        change[name] = {}
        for members in groups.values():
            factor = statistics.median(v for _, v in members) if len(members) >= MIN_GROUP else 1.0
            change[name].update({k: v / factor - 1.0 for k, v in members})
    head = "".join(f" {'vs ' + n:>9}" for n in refs)
    lines = [f"{'function':<14} {'size':>4} {'dtype':<8}{head} {'change':>8}"]
    # a kernel's change: the least of its rows' (sizes, dtypes)
    kernel: dict[str, list[float]] = {}
    for r, _ in pairs:
        mine = [change[n].get(_key(r)) for n in refs]
        known = [c for c in mine if c is not None]
        if not known:
            continue
        row = min(known)
        kernel.setdefault(r["function"], []).append(row)
        cells = "".join(f" {c:+9.1%}" if c is not None else f" {'-':>9}" for c in mine)
        mark = "  *" if row > fail_above else ""
        lines.append(f"{r['function']:<14} {r['size']:>4} {r['dtype']:<8}{cells} {row:+8.1%}{mark}")
    missing = len(rows) - sum(map(len, kernel.values()))
    if missing:
        lines.append(f"({missing} row(s) not in the saved run)")
    slower = {f: min(v) for f, v in kernel.items() if min(v) > fail_above}
    for f, c in slower.items():
        lines.append(f"SLOWER: {f}, by at least {c:+.1%} in each of its {len(kernel[f])} row(s)")
    if not slower and any(line.endswith("  *") for line in lines):
        lines.append(f"(* a single row above {fail_above:+.0%}: no kernel slower in all its rows)")
    return lines, bool(slower)
