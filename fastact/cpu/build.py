"""Compile loop libraries for an ISA path in a child process.

numba compiles for one target per process (NUMBA_CPU_NAME and
NUMBA_CPU_FEATURES, read when numba is imported), and that target is the
user's as much as fastact's, so it is never changed in the calling process.
A path other than numba's own is compiled by a child process whose numba
targets it; the child publishes the libraries in the loop cache
(cpu/loopcache.py) and the caller loads them from there.  The same children
warm the cache ahead of use (``fastact cache warm``), and emit the libraries
of a path this CPU cannot run, for inspection only (``--emit``).

Child command line: ``python -m fastact.cpu.build [--emit DIR] PATH ENTRY:WHICH...``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from fastact.cpu import isa

CHILD = "FASTACT_BUILD_CHILD"  # set in children: they never start another
TIMEOUT = 1800  # seconds for one child; a compile of every loop takes minutes


def _child_env(path: str) -> dict[str, str]:
    cpu, feats = isa.target(path)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=feats, **{CHILD: "1"})
    env[isa.ENV] = path
    # the child imports fastact from where this process did
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    return env


def _command(path: str, pairs, emit: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "fastact.cpu.build"]
    if emit:
        cmd += ["--emit", emit]
    return cmd + [path] + [f"{e}:{w}" for e, w in pairs]


def in_child(pairs, path: str | None = None) -> bool:
    """Build the libraries of (entry, which) `pairs` for `path` (default: the
    active one) in a child; whether it succeeded."""
    if os.environ.get(CHILD):
        return False
    path = path or isa.active()
    try:
        r = subprocess.run(
            _command(path, pairs),
            env=_child_env(path),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def all_pairs() -> list[tuple[str, str]]:
    """Every (entry, which) a ufunc is built for."""
    from fastact.core.registry import REGISTRY

    return [(e, w) for e in REGISTRY for w in ("forward", "backward")]


def warm(paths: list[str], jobs: int, pairs=None, emit: str | None = None) -> list[dict]:
    """Build every loop library of each path in `paths`, `jobs` children at a
    time; one report per child: path, entries, return code, seconds, stderr tail."""
    import time

    pairs = list(pairs or all_pairs())
    jobs = max(1, jobs)
    todo = [(p, pairs[i::jobs]) for p in paths for i in range(jobs) if pairs[i::jobs]]
    reports, running = [], []
    while todo or running:
        while todo and len(running) < jobs:
            path, part = todo.pop(0)
            proc = subprocess.Popen(
                _command(path, part, emit),
                env=_child_env(path),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            running.append((proc, path, part, time.perf_counter()))
        proc, path, part, t0 = running.pop(0)
        err = proc.communicate()[1]
        reports.append(
            {
                "path": path,
                "entries": len(part),
                "returncode": proc.returncode,
                "seconds": round(time.perf_counter() - t0, 1),
                "error": err.strip()[-2000:] if proc.returncode else "",
            }
        )
    return reports


def _emit(pairs, outdir: str) -> None:
    """Compile and link the libraries without running them (the CPU may lack the path)."""
    import shutil
    import tempfile

    from fastact.core.registry import REGISTRY
    from fastact.cpu import loopcache
    from fastact.cpu.activations import _numba_loops, _source_hash

    cpu, feats = loopcache.numba_target()
    k = {"cpu": cpu, "features": feats}
    os.makedirs(outdir, exist_ok=True)
    for entry, which in pairs:
        e = REGISTRY[entry]
        kernel = e.forward if which == "forward" else e.backward
        name = f"{entry}_{which}"
        n_arrays = 1 if which == "forward" else 2
        loops = _numba_loops(name, kernel, n_arrays, len(e.params), _source_hash())
        work = tempfile.mkdtemp(prefix=f".{name}-", dir=outdir)
        try:
            objs, stubs, _ = loopcache._emit_objects(loops, k, work)
            so = loopcache._link(loopcache._compiler() or ["cc"], work, objs, stubs)
            shutil.move(so, os.path.join(outdir, f"{name}.so"))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    """The child: build (or with --emit DIR, only compile) the given loops."""
    emit = None
    if argv[:1] == ["--emit"]:
        emit, argv = argv[1], argv[2:]
    path, pairs = argv[0], [tuple(a.split(":", 1)) for a in argv[1:]]
    if emit:
        _emit(pairs, emit)
        return 0
    from fastact.cpu import activations, loopcache

    if isa.active() != path:
        print(f"path {path!r} is not runnable here (active: {isa.active()!r})", file=sys.stderr)
        return 2
    for entry, which in pairs:
        activations.get(entry, which)
    if loopcache.stats["failed"] or activations.fallbacks:
        print(f"not published: {loopcache.stats['last_error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
