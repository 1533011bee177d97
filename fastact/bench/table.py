"""The CPU table of ``fastact bench``: its columns, the text rows printed as
they come, and the markdown written into the README and ``bench.md``."""

from __future__ import annotations

import functools
import os
import platform

import numpy as np

from fastact.bench.config import ROW, SIZES
from fastact.bench.cpu import passes_rule

COLUMNS = [
    "function",
    "size",
    "fastact us",
    "numpy us",
    "torch us",
    "ORT us",
    "JAX us",
    "best peer",
    "peer/fastact",
    "GB/s",
    "copy GB/s",
]
_WIDTHS = [20, 11, 10, 10, 10, 10, 10, 9, 12, 7, 9]
_LIBS = ("fastact", "numpy", "torch", "onnxruntime", "jax")
_SHORT = {"onnxruntime": "ORT", "jax": "JAX", "numpy": "NumPy", "torch": "torch"}
BENCH_TAG = "fastact bench table"


def cells(r: dict) -> list[str]:
    """The table's cells of row `r` (a dict from cpu.row_of); '' where a
    library has no time."""
    us = lambda k: f"{r[k] * 1e6:.1f}" if r.get(k) else ""  # noqa: E731
    # bytes moved: x read and the result written (backward: grad_output too);
    # the copy column is a copy of x, 2 arrays
    itemsize = np.dtype(r["dtype"]).itemsize
    n = SIZES[r["size"]]
    gbps = lambda k, arrays: f"{arrays * n * itemsize / r[k] / 1e9:.2f}" if r.get(k) else ""  # noqa: E731
    best = r.get("best_peer")
    shape = r.get("shape", r["size"])
    return [
        r["function"],
        shape if "x" in shape else r["size"],
        *(us(k) for k in _LIBS),
        _SHORT.get(best, "") if best else "",
        f"{r['ratio']:.2f}x" if best else "",
        gbps("fastact", r.get("arrays", 2)),
        gbps("copy", 2),
    ]


def _aligned(line: list[str]) -> str:
    return " ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, _WIDTHS))
    )


def format_row(r: dict) -> str:
    """Row `r` as a line of the text table (under HEADER)."""
    return _aligned(cells(r))


HEADER = _aligned(COLUMNS)

# the ISA extensions a caption names, where the CPU has them
_ISA = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "asimd",
    "sve",
)


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                k, _, v = line.partition(":")
                info.setdefault(k.strip().lower(), v.strip())
    except OSError:
        pass
    return info


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (lscpu's 'Model name'), or the platform's guess."""
    import shutil
    import subprocess

    if shutil.which("lscpu"):
        try:
            out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
            for line in out.splitlines():
                if line.strip().lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def isa_flags() -> str:
    """The vector extensions the CPU reports, space-separated (e.g. 'avx2 fma')."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("features") or "").split())
    return " ".join(f for f in _ISA if f in flags) or "none reported"


def versions(info: dict | None = None) -> str:
    """'numpy X, torch Y, ...' from the workers' hello answers ({library:
    answer}); without them, what this process can import."""
    if info is None:
        return f"numpy {np.__version__}{torch_version()}"
    parts = [f"{lib} {a['version']}" for lib, a in info.items() if a.get("version")]
    parts += [f"no {lib}" for lib, a in info.items() if not a.get("version")]
    return ", ".join(parts)


def torch_version() -> str:
    """', torch X' for captions, or ', torch not installed'."""
    try:
        import torch
    except ImportError:
        return ", torch not installed"
    return f", torch {torch.__version__}"


def machine(cpu: str, isa: str, cpus: int | None, info: dict | None = None) -> str:
    """Where a table was measured, as its caption ends: the CPU, its vector
    extensions, its CPU count and the libraries' versions (see versions)."""
    return f"CPU: {cpu} ({isa}), {cpus} CPUs; {versions(info)}"


def caption(
    dtype: str, threads: int, info: dict | None = None, passes: int = 2, where: str | None = None
) -> str:
    """The line above a table of `dtype` rows: how they were timed, and where
    (`where`: a saved run's, from machine(); default: this machine's, and
    the workers' versions from `info`)."""
    if where is None:
        where = machine(cpu_model(), isa_flags(), os.cpu_count(), info)
    return (
        f"{dtype}, {threads} thread(s) for every library (JAX: the CPUs its process may "
        "use); each library in its own process in its default environment, the "
        "processes taking turns case by case (each turn once the others' threads are idle), "
        f"{passes_rule(passes)}, "
        "the best median of 7 rounds kept; outputs preallocated (fastact, NumPy and torch out=, ONNX "
        "Runtime IOBinding; JAX cannot write in place: a new array every call); "
        "backward: torch's aten backward op (sigmoid, tanh, logsigmoid from x: torch's forward + its op), "
        "JAX's jit(vjp) from x, no ORT (no "
        "gradient kernels); blank: the library lacks the function; peer/fastact = "
        "best peer's time / fastact's (>1: fastact faster); GB/s = bytes read + "
        f"written / time; axis functions over rows of {ROW}; {where}"
    )


def markdown(rows: list[dict], caption: str) -> str:
    """The rows as a markdown table under a one-line caption."""
    lines = [
        caption,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_between_markers(path: str, text: str, tag: str = BENCH_TAG) -> None:
    """Replace the block between ``<!-- tag: begin -->`` and ``<!-- tag: end -->``
    in `path` with `text` (generated tables in the README)."""
    begin, end = f"<!-- {tag}: begin -->", f"<!-- {tag}: end -->"
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    try:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
    except ValueError:
        raise SystemExit(f"{path} has no '{begin}' ... '{end}' block") from None
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")
