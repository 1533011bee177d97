"""The compiler child process: ``python -m fastact.cpu.build [--emit DIR] PATH ENTRY:WHICH...``.

Started by cpu/compiler.py with numba targeting PATH; builds and publishes
the loop libraries of the given ufuncs in the loop cache, or with ``--emit``
only compiles and links them into DIR (for a path this CPU cannot run).
"""

from __future__ import annotations

import os
import sys

from fastact.cpu import isa


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
        name = f"{entry}_{which}"
        n_params = len(e.params)
        loops = _numba_loops(
            name, e.kernel(which), e.arity(which) - n_params, n_params, _source_hash()
        )
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
