"""The registry's elementwise kernels on the GPU, built on first use.

The scalar kernels of ``fastact.core.registry`` are compiled for CUDA from the
same source as the CPU loops: ``core.typed.retype(fn, dtype)`` rewrites the
kernel so that a float32 variant computes in float32 (its literals and
constants become float32), and numba-cuda compiles the result -- the helpers
of ``core.math`` it calls (numba dispatchers become device functions) and the
``core.vmath`` overloads and intrinsics (bitcast, select, ``llvm.fma``: plain LLVM
IR) included.  Nothing of the math is written twice.

- ``device_function(name, which, dtype)``: the kernel for CUDA kernels to
  call (numba-cuda compiles it as a device function), for ``_calls``;
- ``ufunc(name, which, dtype)``: the kernel as a CUDA ufunc
  (``numba.cuda.vectorize``), one per entry, direction and dtype, taking
  every argument -- arrays and parameters -- as a 1-D device array.

numba-cuda's simulator cannot build vectorize ufuncs (``'FakeOverload'
object has no attribute 'signature'``); under it ``ufunc`` returns
``_SimUFunc``, which runs the same device function one thread per element,
as the ufunc's own kernel does, so that everything around the ufunc runs in
the simulator too.  The ufuncs themselves run only on a GPU.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import cuda
from numba.core import types

from fastact.backends.cuda._arrays import per_element
from fastact.backends.cuda._compat import SIMULATOR
from fastact.core.registry import REGISTRY
from fastact.core.typed import retype

_TYPES = {"float32": types.float32, "float64": types.float64}
_lock = threading.RLock()  # ufunc() builds device functions under it
_ufuncs: dict = {}


def scalar_kernel(name: str, which: str):
    return REGISTRY[name].kernel(which)


def arity(name: str, which: str) -> int:
    """Number of inputs: the arrays (x, or g and x or y) and the parameters."""
    return REGISTRY[name].arity(which)


def retyped(name: str, which: str, dtype) -> object:
    """The plain Python function of kernel `name` rewritten for `dtype`."""
    return retype(scalar_kernel(name, which), np.dtype(dtype).name).py_func


def device_function(name: str, which: str, dtype):
    """Registry kernel `name` (`which`: 'forward', 'backward' or 'backward_y') for `dtype`, to call
    from CUDA kernels.  It is the retyped numba function itself: numba-cuda
    compiles a numba dispatcher called from a kernel as a device function (as
    it does the helpers the kernel calls), and the simulator runs it compiled
    for the CPU (run as Python, its float32 results would come back from the
    compiled helpers as Python floats, that is float64)."""
    return retype(scalar_kernel(name, which), np.dtype(dtype).name)


def ufunc(name: str, which: str, dtype):
    """Registry kernel `name` as a CUDA ufunc over 1-D device arrays of `dtype`."""
    key = (name, which, np.dtype(dtype).name)
    u = _ufuncs.get(key)
    if u is None:
        with _lock:
            u = _ufuncs.get(key)
            if u is None:
                u = _ufuncs[key] = _build(name, which, np.dtype(dtype).name)
    return u


def _build(name: str, which: str, dtype: str):
    n = arity(name, which)
    if SIMULATOR:
        return _SimUFunc(device_function(name, which, dtype), n)
    from numba.cuda import vectorize

    ty = _TYPES[dtype]
    return vectorize([ty(*([ty] * n))], target="cuda")(retyped(name, which, dtype))


_sim_kernels: dict = {}


class _SimUFunc:
    """The simulator's stand-in for a CUDA ufunc: ``out[i] = f(a0[i], ...)``
    with length-1 arguments broadcast, as the ufuncs are called here."""

    def __init__(self, fn, nargs: int):
        args = ", ".join(f"a{j}" for j in range(nargs))
        items = ", ".join(f"a{j}[i % a{j}.shape[0]]" for j in range(nargs))
        src = (
            f"def k({args}, out):\n    i = cuda.grid(1)\n    if i < out.shape[0]:\n"
            f"        out[i] = fn({items})\n"
        )
        ns = {"cuda": cuda, "fn": fn}
        exec(compile(src, "<fastact.backends.cuda simulated ufunc>", "exec"), ns)
        self.kernel = cuda.jit(ns["k"])

    def __call__(self, *args, out, stream):
        n = out.shape[0]
        self.kernel[per_element(n, stream)](*args, out)
        return out
