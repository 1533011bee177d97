"""Which instruction-set path the compiled kernels take in this process.

Every kernel has one source and several machine-code paths: on x86-64
``avx512`` (x86-64-v4, 512-bit vectors), ``avx2`` (x86-64-v3: AVX2 + FMA)
and ``baseline`` (SSE2); on aarch64 ``neon``.  The path is chosen once per
process: the best one the CPU supports, or the one named by the environment
variable ``FASTACT_ISA`` (``auto``, or a path name) for tests and for users
who pin it.  A forced path the CPU cannot run falls back to the best one it
can, with a RuntimeWarning (running it would die of SIGILL).

The numba loops of the path the CPU would pick anyway are compiled for the
host CPU itself (its name and every feature it has, so LLVM schedules for
it); a forced lower path is compiled for the path's generic CPU, so that it
runs what any CPU of that level would.  The C kernels carry one clone per
path and dispatch on :func:`active` (see ``cpu/src/vec.h``).
"""

from __future__ import annotations

import functools
import os
import platform
import warnings
from dataclasses import dataclass

ENV = "FASTACT_ISA"


@dataclass(frozen=True)
class Path:
    name: str
    needs: tuple[str, ...]  # NumPy's names for the CPU features it needs
    cpu: str  # LLVM's generic CPU of the level
    features: str  # LLVM feature string added to that CPU's (or the host's)
    summary: str
    # the feature string instead of `features` for the memory-bound loops
    # where narrow() holds ("": the same as `features`)
    narrow_features: str = ""


# LLVM tunes x86-64-v4 (and most AVX-512 CPUs) to prefer 256-bit vectors;
# the kernels are long chains of arithmetic with no frequency-licence
# trouble worth that halving, so the avx512 path asks for 512-bit ones.
_X86 = (
    Path(
        "avx512",
        ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL", "AVX2", "FMA3"),
        "x86-64-v4",
        "-prefer-256-bit",
        "AVX-512 (F, CD, BW, DQ, VL), 512-bit vectors",
        "+prefer-256-bit",
    ),
    Path(
        "avx2",
        ("AVX2", "FMA3", "F16C", "BMI2", "LZCNT", "MOVBE"),
        "x86-64-v3",
        "",
        "AVX2 + FMA (x86-64-v3), 256-bit vectors",
    ),
    Path("baseline", (), "x86-64", "", "SSE2 (x86-64), 128-bit vectors"),
)
_ARM = (Path("neon", (), "generic", "+neon", "NEON (ASIMD), 128-bit vectors"),)
_OTHER = (Path("host", (), "", "", "the host CPU as LLVM sees it"),)


def paths() -> tuple[Path, ...]:
    """The paths of this machine's architecture, best first."""
    m = platform.machine().lower()
    if m in ("x86_64", "amd64"):
        return _X86
    if m in ("aarch64", "arm64"):
        return _ARM
    return _OTHER


def by_name(name: str) -> Path:
    """The path called `name` ('baseline' is the architecture's lowest)."""
    ps = paths()
    if name == "baseline":
        return ps[-1]
    for p in ps:
        if p.name == name:
            return p
    raise ValueError(
        f"{ENV}={name!r}: expected 'auto' or one of {[p.name for p in ps] + ['baseline']}"
    )


def _cpu_features() -> dict[str, bool]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    return __cpu_features__


def supported() -> list[str]:
    """Names of the paths this CPU can run, best first."""
    have = _cpu_features()
    return [p.name for p in paths() if all(have.get(f, False) for f in p.needs)]


@functools.cache
def _choice() -> tuple[str, str]:
    """(path name, why it was chosen)."""
    ok = supported()
    want = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if want == "auto":
        return ok[0], "auto: the best path this CPU supports"
    p = by_name(want)
    if p.name in ok:
        return p.name, f"forced by {ENV}={want}"
    warnings.warn(
        f"{ENV}={want}: this CPU lacks {', '.join(f for f in p.needs if not _cpu_features().get(f))}"
        f"; using {ok[0]!r}",
        RuntimeWarning,
        stacklevel=3,
    )
    return ok[0], f"{ENV}={want} is not supported by this CPU: fell back to the best path"


def active() -> str:
    """The path this process runs ('avx512', 'avx2', 'baseline', 'neon', ...)."""
    return _choice()[0]


def reason() -> str:
    return _choice()[1]


# Memory-bound loops (a few operations per element: the registry's
# memory_bound entries and every backward from y) on 256-bit vectors where
# 512-bit instructions lower the core's clock: on Intel's AVX-512 CPUs the
# frequency licence of zmm code (light instructions included) is the likely
# cause of what was measured (the guest had no counters to confirm it): such
# a loop waits on loads and stores, and ran slower on zmm.  On an Ice Lake Xeon (one thread,
# 64K float32 in L2) relu took 5.9 us on ymm against 7.7-8.1 on zmm, identity
# 5.7 against 6.3-6.7, relu' 7.7-8.3 against 9.1-9.6, while sigmoid (17.7
# against 15.4-16.0) and gelu (37.6 against 30.0) need the zmm.  AMD's Zen 4
# runs zmm as two 256-bit halves at one clock: its loops stay 512-bit.
WIDTH_ENV = "FASTACT_CHEAP_WIDTH"  # 'auto' (default), '256' or '512'


@functools.cache
def _narrow_here() -> bool:
    """The choice for this CPU: FASTACT_CHEAP_WIDTH, else 256-bit except on
    AMD's Zen (LLVM's `znver*`)."""
    want = os.environ.get(WIDTH_ENV, "auto").strip().lower() or "auto"
    if want in ("256", "512"):
        return want == "256"
    if want != "auto":
        raise ValueError(f"{WIDTH_ENV}={want!r}: expected 'auto', '256' or '512'")
    import llvmlite.binding as ll

    return not ll.get_host_cpu_name().startswith("znver")


def narrow(name: str | None = None) -> bool:
    """Whether the memory-bound loops of path `name` (default: the active
    one) take 256-bit vectors on this CPU (only a path with
    `narrow_features` has a choice)."""
    return bool(by_name(name or active()).narrow_features) and _narrow_here()


def target(name: str | None = None, memory_bound: bool = False) -> tuple[str, str]:
    """(LLVM CPU name, feature string) the numba loops of path `name` (default:
    the active one) are compiled for: the host CPU for the best path it
    supports, the path's generic CPU for a lower one; for a memory-bound
    loop the path's `narrow_features` where narrow() says so."""
    import llvmlite.binding as ll

    p = by_name(name or active())
    feats = p.narrow_features if memory_bound and narrow(p.name) else p.features
    if p.name == supported()[0] or p.cpu == "":
        from numba.core import codegen

        host = codegen.get_host_cpu_features()
        return ll.get_host_cpu_name(), ",".join(f for f in (host, feats) if f)
    return p.cpu, feats


# level() back to a name, for the C extensions' isa_path()
PATH_NAMES = {2: "avx512", 1: "avx2", 0: "baseline"}


def level() -> int:
    """The active path as a number for the C kernels' dispatch: 2 avx512,
    1 avx2, 0 anything else (their clones are x86-64 only)."""
    return {"avx512": 2, "avx2": 1}.get(active(), 0)
