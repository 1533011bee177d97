"""Compile loop libraries for an ISA path in child processes.

numba compiles for one target per process (NUMBA_CPU_NAME and
NUMBA_CPU_FEATURES, read when numba is imported), and that target is the
user's as much as fastact's, so it is never changed in the calling process.
A path other than numba's own is compiled by a child process whose numba
targets it; the child publishes the libraries in the loop cache
(cpu/loopcache.py) and the caller loads them from there.  The same children
warm the cache ahead of use (``fastact cache warm``), and emit the libraries
of a path this CPU cannot run, for inspection only (``--emit``).

The child runs ``fastact.cpu.build.main([--emit DIR] PATH ENTRY:WHICH...)``
(cpu/build.py).
"""

from __future__ import annotations

import os
import subprocess
import sys

from fastact.cpu import isa

CHILD = "FASTACT_BUILD_CHILD"  # set in children: they never start another
TIMEOUT = 1800  # seconds for one child; a compile of every loop takes minutes


def _child_env(path: str, memory_bound: bool = False) -> dict[str, str]:
    cpu, feats = isa.target(path, memory_bound)
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=feats, **{CHILD: "1"})
    env[isa.ENV] = path
    return env


def _by_target(path: str, pairs) -> list[tuple[bool, list]]:
    """`pairs` in groups of one numba target each on `path`: the
    memory-bound loops apart where their target differs (isa.narrow), since
    a child compiles for one target."""
    from fastact.core.registry import REGISTRY

    if not isa.narrow(path):
        return [(False, list(pairs))]
    groups: dict[bool, list] = {}
    for entry, which in pairs:
        groups.setdefault(REGISTRY[entry].is_memory_bound(which), []).append((entry, which))
    return sorted(groups.items())


# The child imports fastact from where this process did: `python -m` (and a
# bare `-c`) would put the working directory first on the path, and in a
# source checkout that is the unbuilt package.
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from fastact.cpu.build import main; sys.exit(main(sys.argv[1:]))"
)


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _command(path: str, pairs, emit: str | None = None) -> list[str]:
    cmd = [sys.executable, "-c", _CHILD, _root()]
    if emit:
        cmd += ["--emit", emit]
    return cmd + [path] + [f"{e}:{w}" for e, w in pairs]


_failed: str | None = None  # why the first failed child failed: no more are started


def in_child(pairs, path: str | None = None) -> str | None:
    """Build the libraries of (entry, which) `pairs` for `path` (default: the
    active one) in a child; None if it succeeded, else why not.  After one
    failure no child is started again in this process (a cache that cannot
    take a library would cost a child per ufunc)."""
    global _failed
    if os.environ.get(CHILD):
        return "a build child starts no other"
    if _failed is not None:
        return _failed
    path = path or isa.active()
    for memory_bound, group in _by_target(path, pairs):
        try:
            r = subprocess.run(
                _command(path, group),
                env=_child_env(path, memory_bound),
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except (OSError, subprocess.SubprocessError) as e:
            _failed = f"the build child did not run ({e!r})"
            return _failed
        if r.returncode != 0:
            tail = (r.stderr or "").strip().splitlines()[-1:] or ["no message"]
            _failed = f"the build child exited with {r.returncode}: {tail[0]}"
            return _failed
    return None


def all_pairs() -> list[tuple[str, str]]:
    """Every (entry, which) a ufunc is built for."""
    from fastact.core.registry import REGISTRY, WHICH

    return [
        (name, w)
        for name, e in REGISTRY.items()
        for w in WHICH
        if w != "backward_y" or e.from_y is not None
    ]


def warm(paths: list[str], jobs: int, pairs=None, emit: str | None = None) -> list[dict]:
    """Build every loop library of each path in `paths`, `jobs` children at a
    time; one report per child: path, entries, return code, seconds, stderr tail."""
    import time

    pairs = list(pairs or all_pairs())
    jobs = max(1, jobs)
    todo = [
        (p, mb, group[i::jobs])
        for p in paths
        for mb, group in _by_target(p, pairs)
        for i in range(jobs)
        if group[i::jobs]
    ]
    reports, running = [], []
    while todo or running:
        while todo and len(running) < jobs:
            path, memory_bound, part = todo.pop(0)
            proc = subprocess.Popen(
                _command(path, part, emit),
                env=_child_env(path, memory_bound),
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


def loopcache_dir() -> str:
    from fastact.cpu import loopcache

    return loopcache.cache_dir()
