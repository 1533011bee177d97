"""A whole ``fastact bench`` run: the CPU table (printed as it comes, and
written between the README's markers), the GPU section, the output files,
and the regression gate against a saved run."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np

from fastact.bench import cpu, regress
from fastact.bench import gpu as _gpu
from fastact.bench.cases import BY_ID
from fastact.bench.config import QUICK_SIZES, SIZES
from fastact.bench.table import HEADER, caption, markdown, torch_version, write_between_markers


@dataclass
class Run:
    """What to run (the options of ``fastact bench``; see its --help)."""

    functions: list[str] = field(default_factory=lambda: list(BY_ID))
    sizes: list[str] = field(default_factory=lambda: QUICK_SIZES.split(","))
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    threads: int = 1
    backward: bool = False
    full: bool = False  # the GPU section's sizes
    repeat: int = 1
    min_time: float = 0.02
    markdown: str | None = None
    output: str | None = None
    gpu: bool | None = None
    save: str | None = None
    compare: str | None = None
    store: str = ".fastact-bench"
    fail_above: float = 0.20
    normalize: str = "both"


def measure(run: Run) -> list[dict]:
    """The CPU rows, each the best of `run.repeat` repetitions, printed as
    they come; the table of the first dtype also goes into `run.markdown`."""
    per_size = sum(1 for f in run.functions if BY_ID[f].saved != "y=")  # [y]: backward only
    if run.backward:
        per_size += sum(1 for f in run.functions if BY_ID[f].saved)
    total = per_size * len(run.sizes) * len(run.dtypes) * run.repeat
    done: list[dict] = []
    best: dict[tuple, dict] = {}
    t0 = time.perf_counter()

    def echo(line: str) -> None:
        print(f"[{len(done) + 1:>3}/{total}] {line}", flush=True)

    for rep in range(run.repeat):
        for dt in run.dtypes:
            cap = caption(dt, run.threads)
            print("fastact bench:", cap)
            print(f"{'':8}{HEADER}")
            part = cpu.bench(
                run.functions,
                run.sizes,
                np.dtype(dt).type,
                run.threads,
                echo=echo,
                min_time=run.min_time,
                sink=done,
                backward=run.backward,
            )
            # with --repeat, each row keeps its best repetition: a burst of
            # noise only ever slows a run down
            for r in part:
                k = (r["function"], r["size"], r["dtype"])
                r["threads"] = run.threads
                best[k] = regress.best_of(best[k], r) if k in best else r
            if run.markdown and dt == run.dtypes[0] and rep == run.repeat - 1:
                write_between_markers(run.markdown, markdown(part, cap))
    rows = list(best.values())
    print(f"fastact bench: {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
    return rows


def run_meta(threads: int) -> dict:
    """Where the rows were measured (saved with them)."""
    return {
        "threads": threads,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch_version().lstrip(", "),
    }


def write_output(directory: str, rows: list[dict], gpu: dict | None, meta: dict) -> None:
    """bench.md, bench.json and (with matplotlib) the charts, into `directory`."""
    from fastact.bench import plot

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "bench.md"), "w", encoding="utf-8") as f:
        cap = f"{meta['threads']} thread(s); {meta['machine']}, {meta['cpus']} CPUs"
        f.write(markdown(rows, cap) + "\n")
        if gpu is not None:
            f.write("\n" + _gpu.markdown(gpu) + "\n")
    with open(os.path.join(directory, "bench.json"), "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows, **({"gpu": gpu} if gpu else {})}, f, indent=1)
    try:
        paths = plot.charts(rows, directory, SIZES)
        print(f"fastact bench: {len(paths)} chart(s) in {directory}")
    except ImportError:
        print("fastact bench: no charts (pip install 'fastact[plot]' for matplotlib)")


def gate(run: Run, rows: list[dict]) -> int:
    """Compare `rows` with the saved run `run.compare`: 1 if a kernel got
    slower by more than `run.fail_above`, else 0."""
    saved = regress.load(run.compare, run.store)
    lines, failed = regress.compare(saved["rows"], rows, run.fail_above, run.normalize)
    print(
        f"fastact bench: against {run.compare!r} (saved {saved['saved']}): change of "
        f"fastact's time over {' and over '.join(regress.REFS[run.normalize])} in the "
        f"same rounds, relative to its group; fail above {run.fail_above:+.0%}"
        + (" against both" if run.normalize == "both" else "")
    )
    print("\n".join(lines))
    return 1 if failed else 0


def execute(run: Run) -> int:
    """The whole run; returns the exit status (1: the gate failed)."""
    rows = measure(run)
    gpu = _gpu.section(run.gpu, run.full, run.min_time)
    meta = run_meta(run.threads)
    if run.output:
        write_output(run.output, rows, gpu, meta)
    status = gate(run, rows) if run.compare else 0
    if run.save:
        print("fastact bench: saved", regress.save(rows, run.save, run.store, meta))
    return status
