"""A whole ``fastact bench`` run: the CPU table (printed as it comes, and
written between the README's markers), the GPU section, the output files,
and the regression gate against a saved run."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastact.bench import cpu, regress
from fastact.bench import gpu as _gpu
from fastact.bench.cases import BY_ID
from fastact.bench.config import QUICK_AXIS_SIZES, QUICK_SIZES, SIZES
from fastact.bench.table import (
    HEADER,
    caption,
    cpu_model,
    format_row,
    isa_flags,
    markdown,
    write_between_markers,
)
from fastact.bench.worker import LIBRARIES, Process


@dataclass
class Run:
    """What to run (the options of ``fastact bench``; see its --help)."""

    functions: list[str] = field(default_factory=lambda: list(BY_ID))
    sizes: list[str] = field(default_factory=lambda: QUICK_SIZES.split(","))
    axis_sizes: list[str] = field(default_factory=lambda: QUICK_AXIS_SIZES.split(","))
    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    threads: int = 1
    backward: bool = False
    full: bool = False  # the GPU section's sizes
    repeat: int = 1
    min_time: float = 0.02
    passes: int = 2
    libraries: list[str] = field(default_factory=lambda: list(LIBRARIES))
    markdown: str | None = None
    output: str | None = None
    json: str | None = None
    gpu: bool | None = None
    save: str | None = None
    compare: str | None = None
    store: str = ".fastact-bench"
    fail_above: float = 0.20
    normalize: str = "both"
    start: Callable | None = None  # how a worker starts (default worker.Process)
    info: dict = field(default_factory=dict)  # the workers' hello answers, once started


def measure(run: Run) -> list[dict]:
    """The CPU rows, each the best of `run.repeat` repetitions, printed as
    they come; the table of the first dtype also goes into `run.markdown`.
    The workers' hello answers are kept in `run.info` for the captions."""
    jobs = cpu.plan(run.functions, run.sizes, run.axis_sizes, run.dtypes, run.backward)
    total = len(jobs) * run.repeat
    best: dict[tuple, dict] = {}
    t0 = time.perf_counter()
    workers, run.info = cpu.start_workers(run.libraries, run.threads, run.start or Process)
    done = 0
    last_dtype = None
    so_far: dict[tuple, dict] = {}  # the rows so far, a revisited row replacing its first
    revisited = False

    def echo(row: dict, again: bool = False) -> None:
        nonlocal done, last_dtype, revisited
        key = (row["function"], row["size"], row["dtype"])
        if again:  # a close row timed once more at the end (cpu.bench's revisit)
            if not revisited:
                revisited = True
                print(
                    f"fastact bench: rows within {round((cpu.CLOSE - 1) * 100)}%, timed once more:"
                )
            print(f"{'again':>9} {format_row(row)}", flush=True)
        else:
            if row["dtype"] != last_dtype:
                last_dtype = row["dtype"]
                print("fastact bench:", caption(row["dtype"], run.threads, run.info, run.passes))
                print(f"{'':10}{HEADER}")
            done += 1
            print(f"[{done:>3}/{total}] {format_row(row)}", flush=True)
        so_far[key] = row
        if run.json and run.json != "-":
            # a long run stopped early still leaves the rows it finished
            meta = {**run_meta(run.threads, run.info, run.passes), "partial": True}
            write_json(run.json, list(so_far.values()), meta)

    try:
        for _ in range(run.repeat):
            last_dtype, revisited = None, False
            part = cpu.bench(jobs, workers, echo, run.min_time, passes=run.passes)
            # with --repeat, each row keeps its best repetition: a burst of
            # noise only ever slows a run down
            for r in part:
                k = (r["function"], r["size"], r["dtype"])
                r["threads"] = run.threads
                best[k] = regress.best_of(best[k], r) if k in best else r
    finally:
        for w in workers.values():
            w.close()
    rows = list(best.values())
    if run.markdown and rows:
        first = [r for r in rows if r["dtype"] == rows[0]["dtype"]]
        cap = caption(rows[0]["dtype"], run.threads, run.info, run.passes)
        write_between_markers(run.markdown, markdown(first, cap))
    print(f"fastact bench: {len(rows)} rows in {time.perf_counter() - t0:.0f} s")
    return rows


def run_meta(threads: int, info: dict | None = None, passes: int = 2) -> dict:
    """Where and how the rows were measured (saved with them)."""
    info = info or {}
    return {
        "threads": threads,
        "passes": passes,
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "isa": isa_flags(),
        "cpus": os.cpu_count(),
        "protocol": "one process per library, default environment, alternating "
        f"{cpu.passes_rule(passes)}, best median kept",
        "libraries": {lib: a.get("version") or a.get("missing") for lib, a in info.items()},
        "numpy": (info.get("numpy") or {}).get("version"),
        "torch": (info.get("torch") or {}).get("version"),
    }


def write_json(path: str, rows: list[dict], meta: dict, gpu: dict | None = None) -> None:
    """The run as JSON: {'meta': ..., 'rows': [...]} (and 'gpu'); '-' writes
    to stdout."""
    doc = {"meta": meta, "rows": rows, **({"gpu": gpu} if gpu else {})}
    if path == "-":
        print(json.dumps(doc, indent=1))
        return
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)


def write_output(
    directory: str, rows: list[dict], gpu: dict | None, meta: dict, info: dict | None = None
) -> None:
    """bench.md, bench.json and (with matplotlib) the charts, into `directory`."""
    from fastact.bench import plot

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "bench.md"), "w", encoding="utf-8") as f:
        for dt in dict.fromkeys(r["dtype"] for r in rows):
            cap = caption(dt, meta["threads"], info, meta.get("passes", 2))
            f.write(markdown([r for r in rows if r["dtype"] == dt], cap) + "\n\n")
        if gpu is not None:
            f.write("\n" + _gpu.markdown(gpu) + "\n")
    write_json(os.path.join(directory, "bench.json"), rows, meta, gpu)
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
    meta = run_meta(run.threads, run.info, run.passes)
    if run.output:
        write_output(run.output, rows, gpu, meta, run.info)
    if run.json:
        write_json(run.json, rows, meta, gpu)
    status = gate(run, rows) if run.compare else 0
    if run.save:
        print("fastact bench: saved", regress.save(rows, run.save, run.store, meta))
    return status
