"""What this process runs on: ``fastact.show_config()``."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Literal

from fastact.cpu import isa

# the path is chosen now: a FASTACT_ISA naming no path fails the import, not
# some later call
isa.active()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("fastact", "numpy", "numba", "llvmlite"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _c_kernels() -> dict[str, str]:
    """The ISA path each compiled C extension dispatches to (where it says)."""
    import importlib

    out = {}
    for mod in ("axis", "grouped", "preprocessing"):
        m = importlib.import_module(f"fastact.cpu.{mod}")
        probe = getattr(m, "isa_path", None)
        out[mod] = probe() if probe is not None else "compiler's choice (target_clones)"
    return out


def config() -> dict[str, Any]:
    """The report of :func:`show_config` as nested dicts."""
    from fastact.cpu import activations, loopcache, threads

    have = isa._cpu_features()
    active = isa.active()
    cpu_name, feats = isa.target()
    return {
        "cpu": {
            "model": _cpu_model(),
            "machine": platform.machine(),
            "features": sorted(k for k, v in have.items() if v),
        },
        "isa": {
            "active": active,
            "why": isa.reason(),
            "summary": isa.by_name(active).summary,
            "supported": isa.supported(),
            "override": f"{isa.ENV}={os.environ.get(isa.ENV, '')!r}",
            # the memory-bound loops' vectors where they differ (isa.narrow)
            "memory_bound_loops": "256-bit vectors" if isa.narrow() else "the path's vectors",
            "memory_bound_override": f"{isa.WIDTH_ENV}={os.environ.get(isa.WIDTH_ENV, '')!r}",
            "llvm_cpu": cpu_name,
            "llvm_features": feats if len(feats) < 80 else f"{len(feats.split(','))} features",
            "c_kernels": _c_kernels(),
        },
        "threads": {"num_threads": threads.get_num_threads()},
        "loop_cache": {
            "enabled": loopcache.enabled(),
            "dir": loopcache.cache_dir(),
            "this_process": {k: v for k, v in loopcache.stats.items() if k != "last_error"},
            "numba_fallbacks": sorted(activations.fallbacks),
        },
        "versions": _versions(),
        "executable": sys.executable,
    }


def show_config(mode: Literal["stdout", "dicts"] = "stdout") -> dict[str, Any] | None:
    """Print (or with ``mode="dicts"`` return) what fastact runs on here:
    the CPU, the instruction-set path its kernels take and why, threads, the
    loop cache, and versions; like ``numpy.show_runtime()``.

    The path is the best the CPU supports unless ``FASTACT_ISA`` names
    another (``avx512``, ``avx2``, ``baseline`` on x86-64; ``neon`` on aarch64).

    >>> import fastact
    >>> cfg = fastact.show_config(mode="dicts")
    >>> cfg["isa"]["active"] in cfg["isa"]["supported"]
    True
    """
    if mode not in ("stdout", "dicts"):
        raise ValueError(f"show_config: mode must be 'stdout' or 'dicts', got {mode!r}")
    cfg = config()
    if mode == "dicts":
        return cfg
    for section, values in cfg.items():
        if not isinstance(values, dict):
            print(f"{section}: {values}")
            continue
        print(f"{section}:")
        for k, v in values.items():
            if isinstance(v, dict):
                print(f"  {k}:")
                for kk, vv in v.items():
                    print(f"    {kk}: {vv}")
                continue
            if isinstance(v, list):
                v = ", ".join(map(str, v)) or "-"
            print(f"  {k}: {v}")
    return None
