"""Write the README's benchmark table from a saved full run.

    python tools/bench_excerpt.py RUN.json [--dtype float32] [--size 1M] [--readme README.md]

RUN.json is what ``fastact bench --full --json RUN.json`` wrote.  The README
shows one dtype at one size (elementwise rows at `--size`, axis rows at the
same number of elements, 1024 per row): all 442 rows would bury the usage
text.  The caption names the run's commit (``git describe`` of this
checkout, or `--commit`), its CPU and the library versions, from the JSON."""

from __future__ import annotations

import argparse
import json
import subprocess

from fastact.bench.config import ROW, SIZES
from fastact.bench.table import caption, machine, markdown, write_between_markers


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return out.stdout.strip()


def excerpt(doc: dict, dtype: str, size: str, commit: str) -> str:
    """The caption and table of `doc`'s rows of `dtype` at `size`."""
    axis_shape = f"{SIZES[size] // ROW}x{ROW}"
    # (an axis row's size names its elements too; its shape, the rows)
    rows = [r for r in doc["rows"] if r["dtype"] == dtype and r["size"] == size]
    if not rows:
        raise SystemExit(f"no {dtype} rows at {size} in the run")
    meta = doc["meta"]
    libs = {k: {"version": v} for k, v in meta.get("libraries", {}).items()}
    where = machine(meta["cpu"], meta["isa"], meta["cpus"], libs)
    head = (
        f"Excerpt of `fastact bench --full --json FILE` at {commit} ({dtype} rows at "
        f"{size} elements / {axis_shape}; the full run has 64K, 1M, 16M, float32 and float64, "
        f"and softmax along axis 0; written by tools/bench_excerpt.py). "
    )
    return markdown(
        rows, head + caption(dtype, meta["threads"], passes=meta["passes"], where=where)
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--size", default="1M", choices=list(SIZES))
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--commit", default=None)
    a = ap.parse_args(argv)
    with open(a.run, encoding="utf-8") as f:
        doc = json.load(f)
    text = excerpt(doc, a.dtype, a.size, a.commit or _commit())
    write_between_markers(a.readme, text)
    print(f"wrote {text.count(chr(10)) - 3} rows into {a.readme}")


if __name__ == "__main__":
    main()
