"""The CPU rows of ``fastact bench``: every case timed by one worker process
per library (fastact.bench.worker), the workers taking turns.

For each case every worker times it in turn (fastact, NumPy, torch, ONNX
Runtime, JAX), then all of them again: two passes, and each library keeps
the better of its two medians.  A slow spell of a shared machine then costs
a library one pass, not the row.  fastact's worker times a copy of the same
array in the same rounds (the memory floor, and the regression gate's
reference).  A turn starts once the other workers' threads have stopped
running: a library's pool keeps polling for a while after its calls (up to
tens of milliseconds), and on a small machine that would take a core from
the next library's timed calls.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

from fastact.bench.cases import BY_ID
from fastact.bench.config import AXIS0_SIZE, SIZES
from fastact.bench.worker import LIBRARIES, Process, shape_of

PEERS = tuple(lib for lib in LIBRARIES if lib != "fastact")


def plan(
    functions: list[str],
    sizes: list[str],
    axis_sizes: list[str],
    dtypes: list[str],
    backward: bool,
) -> list[dict]:
    """The jobs of a run, in the order they are timed: by dtype, size, then
    function; elementwise functions at `sizes`, axis functions at
    `axis_sizes` (rows of ROW), plus softmax down the columns of the
    AXIS0_SIZE case; each forward followed by its backward (`backward`)."""
    jobs = []
    for dt in dtypes:
        for size in sorted(set(sizes) | set(axis_sizes), key=SIZES.__getitem__):
            for name in functions:
                case = BY_ID[name]
                if size not in (axis_sizes if case.axis else sizes):
                    continue
                axes = [-1, 0] if name == "softmax" and size == AXIS0_SIZE else [-1]
                for axis in axes:
                    todo = (False, True) if backward else (False,)
                    if case.saved == "y=":  # a backward-only row (NAME[y])
                        todo = (True,) if backward else ()
                    for bwd in todo:
                        job = {"case": name, "backward": bwd, "size": size, "dtype": dt}
                        jobs.append({**job, "axis": axis})
    return jobs


def label(job: dict) -> str:
    """A job's row label: the case id, its axis if not the last, ' bwd'."""
    axis = "[axis=0]" if job.get("axis", -1) == 0 else ""
    return job["case"] + axis + (" bwd" if job["backward"] else "")


def _arrays(job: dict) -> int:
    # arrays a call moves: x read, the result written; a backward reads grad_output too
    return 3 if job["backward"] else 2


def _rounds(passes: list[dict]) -> dict[str, list[list[float]]]:
    """{timed key: its rounds' times in each pass that timed it} (the
    libraries, and fastact's copy)."""
    runs: dict[str, list[list[float]]] = {}
    for answers in passes:
        for ans in answers.values():
            for k, v in ans.get("times", {}).items():
                if v:
                    runs.setdefault(k, []).append(v)
    return runs


def row_of(job: dict, passes: list[dict]) -> dict:
    """One table row from the answers of every pass ({library: answer})."""
    shape = shape_of(BY_ID[job["case"]], job["size"], job.get("axis", -1))
    row = {
        "function": label(job),
        "case": job["case"],
        "backward": job["backward"],
        "axis": job.get("axis", -1),
        "size": job["size"],
        "shape": "x".join(map(str, shape)),
        "dtype": job["dtype"],
        "arrays": _arrays(job),
    }
    for k, runs in _rounds(passes).items():
        row[k] = min(statistics.median(v) for v in runs)
    fa = [a["fastact"]["times"] for a in passes if "times" in a.get("fastact", {})]
    if fa:
        row["fastact_best"] = min(min(t["fastact"]) for t in fa)
        row["copy_best"] = min(min(t["copy"]) for t in fa)
        # the regression gate's figures (see regress): fastact over the copy
        # round by round, and over torch pass by pass
        row["per_copy"] = min(
            statistics.median(a / b for a, b in zip(t["fastact"], t["copy"])) for t in fa
        )
    pool = [a["fastact"]["pool"] for a in passes if "pool" in a.get("fastact", {})]
    if pool:  # a diagnostic: how the pool ran fastact's timed calls, pass by pass
        row["fastact_pool"] = pool
    if "fastact" in row and "torch" in row:
        row["per_torch"] = min(
            statistics.median(a["fastact"]["times"]["fastact"])
            / statistics.median(a["torch"]["times"]["torch"])
            for a in passes
            if "times" in a.get("fastact", {}) and "times" in a.get("torch", {})
        )
    peers = {p: row[p] for p in PEERS if p in row}
    if peers and "fastact" in row:
        best = min(peers, key=peers.__getitem__)
        row["best_peer"], row["ratio"] = best, peers[best] / row["fastact"]
    return row


def start_workers(
    libraries: list[str], threads: int, start: Callable = Process, warn=print
) -> tuple[dict, dict]:
    """One worker per library; returns (workers of the libraries there,
    {library: hello answer} for all)."""
    workers, info = {}, {}
    for lib in libraries:
        w = start(lib, threads)
        hello = w.ask({"op": "hello"})
        info[lib] = hello
        if hello.get("missing") or "error" in hello:
            warn(f"fastact bench: no {lib} column: {hello.get('missing') or hello['error']}")
            w.close()
        else:
            workers[lib] = w
    return workers, info


def _compile_ahead() -> None:
    """Every loop library of this CPU's path built at once, by parallel
    compiler processes (``fastact cache warm``), where the loop cache is on:
    on a cold cache the worker would otherwise compile kernel after kernel."""
    from fastact.cpu import compiler, isa, loopcache, threads

    if loopcache.enabled():
        compiler.warm([isa.active()], threads.get_num_threads())


def _cpu_ns(pid: int) -> int | None:
    """CPU time (ns) the threads of process `pid` have run so far, or None
    where /proc does not tell."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def settle(pids: list[int], window: float = 0.01, limit: float = 0.25) -> float:
    """Wait until the processes `pids` use under a tenth of a core over
    `window` seconds, at most `limit` seconds; returns the time waited.
    (A running thread's CPU time moves on at scheduler ticks, a few
    milliseconds apart: the window spans several.)"""
    t0 = time.perf_counter()
    last = [_cpu_ns(p) for p in pids]
    while time.perf_counter() - t0 < limit:
        time.sleep(window)
        now = [_cpu_ns(p) for p in pids]
        busy = sum(b - a for a, b in zip(last, now) if a is not None and b is not None)
        if busy < 0.1 * window * 1e9:
            break
        last = now
    return time.perf_counter() - t0


# A row where fastact and the best peer are within this factor of each other
# gets one more pass of every library: on a shared host the same call moves
# by 10-60% between minutes, so two passes leave a close row to chance.
CLOSE = 1.15


def close(row: dict) -> bool:
    """Whether `row`'s ratio is within CLOSE of 1 (see bench)."""
    return "ratio" in row and 1 / CLOSE <= row["ratio"] <= CLOSE


# A row whose rounds disagree gets further passes, up to MAX_PASSES in all:
# where some library's better median is more than UNSTEADY times its fastest
# round, a slow spell of the host (a neighbour's memory traffic, mostly)
# took more than half of each of its passes, and its median says more of the
# spell than of the library.  The rule looks at every library alike, not at
# who is ahead.  (In a quiet full run 1 row in 442 met it; in a run through
# busy spells 33, most of the rows fastact lost there, by up to 1.8x.)
UNSTEADY = 1.25
MAX_PASSES = 5


def unsteady(passes: list[dict]) -> bool:
    """Whether some library's rounds in `passes` disagree (see UNSTEADY)."""
    return any(
        min(statistics.median(v) for v in r) > UNSTEADY * min(min(v) for v in r)
        for r in _rounds(passes).values()
    )


def passes_rule(passes: int) -> str:
    """The pass protocol in words, for the table caption and the run's metadata."""
    return (
        f"{passes} passes (one more where fastact and the best peer are within "
        f"{round((CLOSE - 1) * 100)}%, and more, up to {MAX_PASSES}, while some library's "
        f"median is over {UNSTEADY}x its fastest round; a row still within "
        f"{round((CLOSE - 1) * 100)}% at the end, one more)"
    )


def _one_pass(job: dict, req: dict, workers: dict) -> dict:
    """Every worker's answer to `req`, in turn, each once the others are idle."""
    got = {}
    for lib, w in list(workers.items()):
        settle([p for o in workers.values() if o is not w and (p := getattr(o, "pid", None))])
        ans = w.ask(req)
        if "error" in ans:
            print(f"fastact bench: {lib}, {label(job)}: {ans['error']}", file=sys.stderr)
            if "worker exited" in ans["error"]:
                workers.pop(lib).close()
        got[lib] = ans
    return got


# revisit: a row still within CLOSE once every job has had its passes gets
# one more pass of every library at the end of the run, minutes after its
# first: a slow spell of the host outlasts the few seconds a row's passes
# take (in one run swish' at beta 1, silu''s kernel, took 454 us or more in
# each of its row's three passes and silu' 365 in its own, against torch's
# 354 and 454), and a later pass meets another minute.  Each library keeps
# its better median, as in any pass, and the rule looks only at how close
# the row is, not at who is ahead.
def bench(
    jobs: list[dict],
    workers: dict,
    echo: Callable[..., None],
    min_time: float = 0.02,
    rounds: int = 7,
    passes: int = 2,
    revisit: bool = True,
) -> list[dict]:
    """Time every job with every worker, `passes` times in turn (one more
    where the row is close, see CLOSE, and more while it is unsteady, see
    UNSTEADY); each row is handed to `echo` as it is done.  With `revisit`,
    rows still close at the end are timed once more (the comment above)
    and handed to `echo(row, again=True)`.  A worker that fails a job
    leaves its cell blank (and is dropped if it died)."""
    if "fastact" in workers:
        _compile_ahead()
        workers["fastact"].ask({"op": "warm", "jobs": jobs})
    rows, answered = [], []
    for job in jobs:
        req = {"op": "time", "job": {**job, "min_time": min_time, "rounds": rounds}}
        answers: list[dict] = []

        for _ in range(passes):
            answers.append(_one_pass(job, req, workers))
        row = row_of(job, answers)
        more = close(row)
        while len(answers) < MAX_PASSES and (more or unsteady(answers)):
            answers.append(_one_pass(job, req, workers))
            row, more = row_of(job, answers), False
        row["passes"] = len(answers)
        echo(row)
        rows.append(row)
        answered.append((req, answers))
    if revisit:
        for i, row in enumerate(rows):
            if close(row):
                req, answers = answered[i]
                answers.append(_one_pass(jobs[i], req, workers))
                rows[i] = row_of(jobs[i], answers)
                rows[i]["passes"] = len(answers)
                echo(rows[i], again=True)
    return rows
