"""The GPU rows of ``fastact bench``: fastact's CUDA target measured against
torch CUDA on the same tensors.

- elementwise relu, sigmoid and gelu on float32 (256M elements with
  ``--full``, 16M otherwise): time, GB/s and the percentage of a
  device-to-device copy of the same array timed in the same rounds;
- softmax over the last axis of a 65536 x 1024 float32 array, against
  ``torch._softmax`` into a preallocated output;
- the per-call overhead at 1K elements (sigmoid, relu), against torch's.

Every library runs on the same torch CUDA tensors (fastact takes them through
``__cuda_array_interface__``, zero-copy) and writes into a preallocated
output; torch's calls are the CPU table's baselines (``bench.cases``: aten's
out= overloads).  The libraries take turns within every round
(``bench.timing.interleaved``); each turn is a batch of calls ended by one
``torch.cuda.synchronize()``, so a call's time is the batch's wall time over
its calls: the device's time for the large arrays, the host's dispatch cost
(what the queue sees) for the small ones.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
from collections.abc import Callable

from fastact.bench.cases import BY_ID, torch_forward_call
from fastact.bench.timing import interleaved

ELEMENTWISE = ("relu", "sigmoid", "gelu")
FULL_ELEMENTS = 1 << 28  # 256M float32: 1 GiB an array
QUICK_ELEMENTS = 1 << 24  # 16M
SOFTMAX_SHAPE = (65536, 1024)
OVERHEAD = ("sigmoid", "relu")
OVERHEAD_ELEMENTS = 1 << 10
ROUNDS = 7
DTYPE = "float32"


def unavailable() -> str | None:
    """Why this machine cannot give GPU rows, or None when it can."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "numba-cuda is not installed (pip install 'fastact[cuda]')"
    from numba import config

    if config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM is set: numba-cuda's simulator has no timings worth giving"
    try:
        import torch
    except ImportError:
        return "torch (the GPU baseline and the tensors' allocator) is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA GPU (torch.cuda.is_available() is False)"
    from numba import cuda

    if not cuda.is_available():
        return "numba.cuda.is_available() is False (no CUDA driver numba-cuda can use)"
    return None


# ------------------------------------------------------------------- rows


def gpu_row(
    figure: str,
    function: str,
    shape: tuple[int, ...],
    times: dict[str, list[float]],
    itemsize: int = 4,
) -> dict:
    """A row of the GPU table from seconds per call, round by round.

    Parameters
    ----------
    figure : str
        'elementwise', 'softmax' or 'overhead' (the table it goes in).
    function : str
        The fastact function timed.
    shape : tuple of int
        The input's shape.
    times : dict
        Seconds per call of 'fastact' and of 'torch' and 'copy' where timed,
        one value per round (the rounds interleaved).
    itemsize : int
        Bytes per element (4: float32).

    Returns
    -------
    dict
        The medians over rounds of each library's time; ``gbps``: bytes read
        and written (input and output) over fastact's time; ``pct_copy``: the
        copy's time over fastact's in the same round, median over rounds, in
        percent (fastact's GB/s as a share of the copy's); ``vs_torch``:
        torch's time over fastact's, likewise (>1: fastact faster).

    Examples
    --------
    >>> r = gpu_row("elementwise", "relu", (1000,),
    ...             {"fastact": [4e-6, 4e-6, 5e-6], "copy": [3.6e-6, 4e-6, 4.5e-6],
    ...              "torch": [5e-6, 4e-6, 6e-6]})
    >>> round(r["gbps"], 3), round(r["pct_copy"], 1), round(r["vs_torch"], 2)
    (2.0, 90.0, 1.2)
    """
    n = math.prod(shape)
    nbytes = 2 * n * itemsize
    row = {
        "figure": figure,
        "function": function,
        "shape": list(shape),
        "elements": n,
        "dtype": DTYPE,
        "bytes": nbytes,
        "rounds": {k: list(v) for k, v in times.items()},
    }
    row.update({k: statistics.median(v) for k, v in times.items()})
    row["gbps"] = nbytes / row["fastact"] / 1e9
    fa = times["fastact"]
    if "copy" in times:
        row["copy_gbps"] = nbytes / row["copy"] / 1e9
        row["pct_copy"] = 100 * statistics.median(c / f for f, c in zip(fa, times["copy"]))
    if "torch" in times:
        row["torch_gbps"] = nbytes / row["torch"] / 1e9
        row["vs_torch"] = statistics.median(t / f for f, t in zip(fa, times["torch"]))
    return row


def _us(k: str) -> Callable[[dict], str]:
    return lambda r: f"{r[k] * 1e6:.1f}" if k in r else "-"


def _num(k: str, fmt: str) -> Callable[[dict], str]:
    return lambda r: format(r[k], fmt) if k in r else "-"


def _pct(r: dict) -> str:
    return f"{r['pct_copy']:.1f}%" if "pct_copy" in r else "-"


def _shape(r: dict) -> str:
    return "x".join(map(str, r["shape"]))


_FUNCTION = ("function", lambda r: r["function"])
# figure -> (title, [(column, cell)]); the first column left-aligned
TABLES: dict[str, tuple[str, list]] = {
    "elementwise": (
        "elementwise float32 against a device-to-device copy of the same array",
        [
            _FUNCTION,
            ("elements", lambda r: f"{r['elements'] >> 20}M"),
            ("fastact us", _us("fastact")),
            ("GB/s", _num("gbps", ".1f")),
            ("copy GB/s", _num("copy_gbps", ".1f")),
            ("% of copy", _pct),
            ("torch us", _us("torch")),
            ("torch GB/s", _num("torch_gbps", ".1f")),
            ("vs torch", _num("vs_torch", ".2f")),
        ],
    ),
    "softmax": (
        "softmax over the last axis, float32, against torch._softmax (out=)",
        [
            _FUNCTION,
            ("shape", _shape),
            ("fastact us", _us("fastact")),
            ("GB/s", _num("gbps", ".1f")),
            ("% of copy", _pct),
            ("torch us", _us("torch")),
            ("torch GB/s", _num("torch_gbps", ".1f")),
            ("vs torch", _num("vs_torch", ".2f")),
        ],
    ),
    "overhead": (
        "per-call overhead, float32 (out=)",
        [
            _FUNCTION,
            ("elements", lambda r: str(r["elements"])),
            ("fastact us/call", _us("fastact")),
            ("torch us/call", _us("torch")),
            ("vs torch", _num("vs_torch", ".2f")),
        ],
    ),
}


def _table(rows: list[dict], columns: list) -> list[list[str]]:
    return [[c for c, _ in columns]] + [[cell(r) for _, cell in columns] for r in rows]


def text(rows: list[dict]) -> str:
    """The rows as aligned text tables, one per figure."""
    out = []
    for figure, (title, columns) in TABLES.items():
        part = [r for r in rows if r["figure"] == figure]
        if not part:
            continue
        cells = _table(part, columns)
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        out.append(f"GPU: {title}")
        out += [
            "  "
            + " ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))
            )
            for line in cells
        ]
    return "\n".join(out)


def markdown(section: dict) -> str:
    """The GPU section of ``fastact bench --output`` as markdown tables."""
    if not section["rows"]:
        return f"GPU: no rows ({section['reason']})"
    out = [section["caption"]]
    for figure, (title, columns) in TABLES.items():
        part = [r for r in section["rows"] if r["figure"] == figure]
        if not part:
            continue
        head, *body = _table(part, columns)
        out += [
            "",
            f"**{title}**",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|",
        ]
        out += ["| " + " | ".join(line) + " |" for line in body]
    return "\n".join(out)


# ------------------------------------------------------------ measurement


def meta() -> dict:
    """The device and library versions the rows were measured with."""
    import importlib.metadata

    import torch

    return {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "numba_cuda": importlib.metadata.version("numba-cuda"),
    }


def caption(m: dict, rounds: int = ROUNDS) -> str:
    """The line above the GPU tables: device, versions, and how it was timed."""
    return (
        f"GPU: {m['device']}, torch {m['torch']} (CUDA {m['torch_cuda']}), numba-cuda "
        f"{m['numba_cuda']}; median of {rounds} rounds, the libraries taking turns in each; "
        "a turn is a batch of calls ended by one torch.cuda.synchronize(), time per call = "
        "batch time / calls (for 1K elements: the host's dispatch cost, one synchronize "
        "spread over the batch); GB/s = bytes of the input and the output (each counted "
        "once) / time; % of copy = copy time / fastact time in the same round (torch "
        "out.copy_(x) of the same array); vs torch = torch time / fastact time (>1: "
        "fastact faster); every library writes into a preallocated output"
    )


def _timed(fns: dict, min_time: float, rounds: int) -> dict[str, list[float]]:
    import torch

    return interleaved(fns, min_time, rounds, sync=torch.cuda.synchronize)


def _fns(name: str, x, out) -> dict:
    """fastact's and torch's call of benchmark case `name` on tensor x."""
    import torch

    import fastact

    case = BY_ID[name]
    f = getattr(fastact, case.name)
    return {
        "fastact": lambda: f(x, **case.kwargs, out=out),
        "torch": torch_forward_call(case, torch, x),
    }


def measure(
    elements: int = QUICK_ELEMENTS,
    softmax_shape: tuple[int, int] = SOFTMAX_SHAPE,
    overhead_elements: int = OVERHEAD_ELEMENTS,
    min_time: float = 0.02,
    rounds: int = ROUNDS,
    echo: Callable[[str], object] = print,
) -> list[dict]:
    """Time the three figures on the current CUDA device; every row is echoed
    as it comes."""
    import torch

    gen = torch.Generator(device="cuda").manual_seed(0)

    def data(shape):
        return torch.randn(shape, generator=gen, device="cuda", dtype=torch.float32) * 3

    # x, fastact's, torch's and the copy's outputs: shrink to fit a smaller GPU
    free, _ = torch.cuda.mem_get_info()
    while elements > 1 << 20 and 4 * 4 * elements > 0.8 * free:
        elements //= 2
    rows = []

    def run(figure, name, x, with_copy):
        out = torch.empty_like(x)
        fns = _fns(name, x, out)
        if with_copy:
            copied = torch.empty_like(x)
            fns["copy"] = lambda: copied.copy_(x)
        rows.append(gpu_row(figure, name, tuple(x.shape), _timed(fns, min_time, rounds)))
        echo(
            f"  {figure} {name} {_shape(rows[-1])}: fastact {rows[-1]['fastact'] * 1e6:.1f} us, "
            f"torch {rows[-1]['torch'] * 1e6:.1f} us"
        )

    x = data(elements)
    for name in ELEMENTWISE:
        run("elementwise", name, x, True)
    del x
    torch.cuda.empty_cache()
    run("softmax", "softmax", data(softmax_shape), True)
    x = data(overhead_elements)
    for name in OVERHEAD:
        run("overhead", name, x, False)
    return rows


def section(
    enabled: bool | None, full: bool, min_time: float = 0.02, echo: Callable[[str], object] = print
) -> dict | None:
    """The GPU part of ``fastact bench``: None when `enabled` is False
    (``--no-gpu``); otherwise the rows, measured and printed, or, without a
    usable GPU, no rows and the reason (printed as one line)."""
    if enabled is False:
        return None
    why = unavailable()
    if why is not None:
        echo(f"fastact bench: no GPU rows: {why}")
        return {"reason": why, "rows": []}
    m = meta()
    cap = caption(m)
    echo(f"fastact bench: {cap}")
    rows = measure(FULL_ELEMENTS if full else QUICK_ELEMENTS, min_time=min_time, echo=echo)
    echo(text(rows))
    return {"meta": m, "caption": cap, "rows": rows}
