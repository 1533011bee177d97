"""PNG charts of a `fastact bench` run: throughput against array size, one
chart per function and dtype, every library on it, with the copy bandwidth
of the same run as the floor no elementwise kernel can beat.

Needs matplotlib (the ``plot`` extra); drawn with the Agg backend, so no
display is needed.
"""

from __future__ import annotations

import os


def _gbps(row: dict, key: str, nbytes: int) -> float | None:
    t = row.get(key)
    return nbytes / t / 1e9 if t else None


def charts(rows: list[dict], directory: str, sizes: dict[str, int]) -> list[str]:
    """Write ``<function>-<dtype>.png`` into `directory` for every function
    and dtype in `rows`; returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["function"], r["dtype"]), []).append(r)
    os.makedirs(directory, exist_ok=True)
    paths = []
    styles = {
        "fastact": ("C0", "o-"),
        "torch": ("C3", "s-"),
        "numpy": ("C2", "^-"),
        "onnxruntime": ("C1", "D-"),
        "jax": ("C4", "v-"),
        "copy": ("0.4", "--"),
    }
    for (func, dtype), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: sizes[r["size"]])
        n = [sizes[r["size"]] for r in rs]
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for key, (color, fmt) in styles.items():
            pts = [(k, _gbps(r, key, 2 * k * np.dtype(dtype).itemsize)) for k, r in zip(n, rs)]
            pts = [(k, g) for k, g in pts if g is not None]
            if pts:
                label = "np.copyto (floor)" if key == "copy" else key
                ax.plot(*zip(*pts), fmt, color=color, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(n, [r["size"] for r in rs])
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s (bytes read + written / time)")
        ax.set_title(f"{func}, {dtype}, {rs[0].get('threads', '?')} thread(s)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(directory, f"{func}-{dtype}.png")
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
