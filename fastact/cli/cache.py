"""``fastact cache``: inspect or empty the loop library cache (the logic is in
fastact.cpu.loopcache; this is the command line only)."""

from __future__ import annotations

import argparse
import json

HELP = "show (info) or empty (clear) the cache of compiled loop libraries"


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


def main(args: argparse.Namespace) -> int:
    """Run ``fastact cache info|clear``; the exit status.

    Example: ``main(argparse.Namespace(cache_cmd="info", json=False))`` prints the report.
    """
    from fastact.cpu import loopcache

    if args.cache_cmd == "clear":
        removed = loopcache.clear()
        for p in removed:
            print(f"removed {p}")
        print(f"removed {len(removed)} files from {loopcache.cache_dir()}")
        return 0
    from fastact.cpu.activations import _source_hash

    r = loopcache.info(_source_hash())
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        _print_info(r)
    return 0
