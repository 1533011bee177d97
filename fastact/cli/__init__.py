"""The fastact command line: time the kernels against NumPy, torch and peers,
stream a .npy file through them, or inspect the loop cache."""

from __future__ import annotations

import argparse
import sys

APPLY_HELP = "stream a .npy file through fastact functions (see fastact apply --help)"


def _parser() -> argparse.ArgumentParser:
    from fastact.cli import bench, cache

    ap = argparse.ArgumentParser(
        prog="fastact",
        description=__doc__,
        epilog="'fastact COMMAND --help' shows a command's options.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    sub.add_parser("apply", help=APPLY_HELP, add_help=False)
    bench.add_parser(sub)
    cache.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """The ``fastact`` command: dispatch to ``fastact bench``, ``apply`` or ``cache``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["apply"]:
        from fastact.cli.apply import main as apply_main  # its own parser: fastact apply --help

        return apply_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.cmd == "cache":
        from fastact.cli import cache

        return cache.main(args)
    from fastact.cli import bench

    return bench.main(args)
