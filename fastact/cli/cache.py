"""``fastact cache``: inspect or empty the loop library cache (the logic is in
fastact.cpu.loopcache; this is the command line only)."""

from __future__ import annotations

import argparse
import json

HELP = "inspect (info), empty (clear) or fill (warm) the cache of compiled loop libraries"


def add_parser(sub) -> None:
    """Register ``fastact cache`` on the subparsers `sub` of the fastact parser.

    Example: ``fastact cache info``, ``fastact cache info --json``, ``fastact cache clear``.
    """
    c = sub.add_parser(
        "cache",
        help=HELP,
        description="The compiled loop libraries fastact keeps between processes "
        "(FASTACT_CACHE_DIR, else beside numba's cache).  A damaged entry is never "
        "loaded: it is rebuilt, with one warning per process.",
    )
    csub = c.add_subparsers(dest="cache_cmd", required=True, metavar="ACTION")
    i = csub.add_parser(
        "info", help="where the cache is, its size, and whether each entry is valid"
    )
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    csub.add_parser("clear", help="remove fastact's loop libraries and sidecars")
    w = csub.add_parser(
        "warm",
        help="compile every loop library now, so that first calls load instead of compile",
    )
    w.add_argument(
        "--isa",
        default="active",
        help="the ISA path to build: 'active' (default: the one this process uses), "
        "'all' (every path this CPU supports), or a path name (see fastact.show_config())",
    )
    w.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="compiler processes at a time (default: the CPUs fastact may use)",
    )


def _print_info(r: dict) -> None:
    state = "" if r["is_dir"] else "  (not a directory: nothing is cached)"
    print(f"cache: {r['dir']}{state}")
    entries = r["entries"]
    n_bad = sum(not e["valid"] for e in entries)
    print(f"{len(entries)} entries, {r['bytes']} bytes, {n_bad} invalid")
    for e in entries:
        if not e["valid"]:
            status = f"INVALID: {e['problem']}"
        elif e["current"]:
            status = "valid"
        else:
            status = "valid, built from other sources (unused)"
        print(f"  {e['entry']}  {e['bytes']} bytes  {status}")


def _warm(args: argparse.Namespace) -> int:
    import time

    from fastact.cpu import compiler, isa, threads

    if args.isa == "all":
        paths = isa.supported()
    elif args.isa == "active":
        paths = [isa.active()]
    else:
        paths = [isa.by_name(args.isa).name]
        if paths[0] not in isa.supported():
            print(f"fastact cache warm: this CPU cannot run the {paths[0]!r} path")
            return 2
    jobs = args.jobs if args.jobs > 0 else threads.get_num_threads()
    t0 = time.perf_counter()
    reports = compiler.warm(paths, jobs)
    bad = [r for r in reports if r["returncode"] != 0]
    for r in bad:
        print(f"path {r['path']}: a compiler process failed:\n{r['error']}")
    n = sum(r["entries"] for r in reports) * 2  # float32 and float64 loops
    print(
        f"warmed {', '.join(paths)}: {n} loops in {time.perf_counter() - t0:.1f} s "
        f"({jobs} processes) into {compiler.loopcache_dir()}"
    )
    return 1 if bad else 0


def main(args: argparse.Namespace) -> int:
    """Run ``fastact cache info|clear|warm``; the exit status.

    Example: ``main(argparse.Namespace(cache_cmd="info", json=False))`` prints the report.
    """
    from fastact.cpu import loopcache

    if args.cache_cmd == "clear":
        removed = loopcache.clear()
        for p in removed:
            print(f"removed {p}")
        print(f"removed {len(removed)} files from {loopcache.cache_dir()}")
        return 0
    if args.cache_cmd == "warm":
        return _warm(args)
    from fastact.cpu.activations import _source_hash

    r = loopcache.info(_source_hash())
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        _print_info(r)
    return 0
