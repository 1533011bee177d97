"""fastact on GPU arrays: numba device arrays, CuPy arrays, torch CUDA tensors.

``fastact._dispatch`` sends a call here when one of its array arguments has
``__cuda_array_interface__``; :func:`call` runs it on the GPU and returns the
kind of array it was given (on the same device, ordered on the caller's
stream).  Nothing is copied between host and device: NumPy input never comes
here, and a NumPy ``out=`` for a GPU input is refused.

- ``_ufuncs``: the registry's elementwise kernels as CUDA ufuncs
  (``numba.cuda.vectorize``) and device functions, built on first use from
  the same scalar source as the CPU loops;
- ``_axis``: numba.cuda kernels for softmax, log_softmax, softmin, glu and
  maxout (and their backward passes);
- ``_arrays``: the caller's array kind, device and stream, dtype rules,
  ``out=`` checks, and the copy kernel that casts and lays out;
- ``_calls``: one handler per kind of public function.

This package needs the maintained ``numba-cuda`` package (numba's built-in
CUDA target is deprecated): importing it without numba-cuda raises
ImportError, which ``fastact._dispatch`` turns into a TypeError naming
``pip install numba-cuda``.  Under numba-cuda's simulator
(``NUMBA_ENABLE_CUDASIM=1``) everything but the vectorize ufuncs runs as is.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("numba_cuda") is None:
    raise ImportError(
        "fastact's GPU support needs the numba-cuda package (numba's built-in "
        "CUDA target is deprecated): pip install numba-cuda, or pip install "
        "'fastact[cuda]'"
    )

try:
    from numba import cuda as _cuda  # noqa: F401  (numba-cuda provides numba.cuda)
except ImportError as exc:  # pragma: no cover - a broken numba-cuda install
    raise ImportError(
        f"fastact's GPU support could not import numba.cuda from numba-cuda: {exc}"
    ) from exc

from fastact.backends.cuda import _compat  # noqa: E402,F401  (registers what numba-cuda lacks)
from fastact.backends.cuda._calls import call  # noqa: E402

__all__ = ["call"]
