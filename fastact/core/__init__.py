"""What is computed: the registry of elementwise functions and the scalar math
they are written in (numba-compilable, shared by every CPU and CUDA target)."""

from __future__ import annotations

import functools
import hashlib
import pathlib


@functools.cache
def source_tag() -> str:
    """A hash of every source file of this package.

    numba's disk cache watches only the file a function is defined in; the
    kernels compiled elsewhere inline this package's math, so its text is part
    of their cache keys."""
    h = hashlib.sha1()
    for f in sorted(pathlib.Path(__file__).parent.rglob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]
