"""GPU arrays as the kernels see them, and back as the caller's kind.

Every array argument is viewed as a numba device array over its own memory
(``cuda.as_cuda_array``: zero-copy).  The kernels run on the caller's stream
(a torch tensor's current stream, CuPy's current stream, a numba array's own
stream, or the ``stream`` of ``__cuda_array_interface__``), so they are
ordered after the work that produced the input without a host
synchronization, and results are allocated by the caller's library (torch,
CuPy; numba for anything else) on the caller's device.

Dtype rules are those of the NumPy path (``_validate.float_array``): float16
is computed in float32 and returned as float16, integer and bool input is
computed in float64; the conversions, and any copy a kernel needs to see a
C-contiguous array, are done on the device by one strided copy kernel.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from numba import cuda

from fastact import _validate
from fastact.backends.cuda._compat import SIMULATOR

_THREADS = 256


def _lib(x) -> str:
    """'torch', 'cupy' or 'numba' (numba device arrays and anything else)."""
    mod = type(x).__module__.split(".")[0]
    return mod if mod in ("torch", "cupy") else "numba"


def is_gpu(x) -> bool:
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


def view(x):
    """A numba device array over the memory of GPU array `x` (no copy)."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    if _lib(x) == "torch":
        x = x.detach()  # a tensor that requires grad refuses the interface
    # sync=False: instead of waiting for the producer's stream on the host,
    # the kernels are launched on that stream (see stream_of)
    return cuda.as_cuda_array(x, sync=False)


def _stream(ptr):
    """The numba stream for a stream handle as __cuda_array_interface__ gives it."""
    if not ptr:
        return cuda.legacy_default_stream()
    if ptr == 1:
        return cuda.legacy_default_stream()
    if ptr == 2:
        return cuda.per_thread_default_stream()
    return cuda.external_stream(ptr)


def stream_of(x):
    """The stream the caller's work on `x` is ordered on."""
    if getattr(x, "__cuda_ndarray__", False):
        return x.stream or cuda.default_stream()
    lib = _lib(x)
    if lib == "torch":
        import torch

        return _stream(torch.cuda.current_stream(x.device).cuda_stream)
    if lib == "cupy":
        import cupy

        return _stream(cupy.cuda.get_current_stream().ptr)
    return _stream(x.__cuda_array_interface__.get("stream"))


def device_of(x):
    """A context manager making `x`'s device current (torch and CuPy know it)."""
    lib = _lib(x)
    idx = x.device.index if lib == "torch" else x.device.id if lib == "cupy" else None
    return contextlib.nullcontext() if idx is None else cuda.gpus[idx]


class Caller:
    """Kind, stream and allocator of one call, taken from its first GPU array."""

    def __init__(self, like):
        self.like = like
        self.lib = _lib(like)
        self.stream = stream_of(like)

    def empty(self, shape: tuple, dtype) -> tuple:
        """(array of the caller's kind, its numba view), uninitialized."""
        dtype = np.dtype(dtype)
        if self.lib == "torch":
            import torch

            t = torch.empty(shape, dtype=_torch_dtype(dtype), device=self.like.device)
            return t, view(t)
        if self.lib == "cupy":
            import cupy

            with self.like.device:
                a = cupy.empty(shape, dtype)
            return a, view(a)
        a = cuda.device_array(shape, dtype, stream=self.stream)
        return a, a

    def scratch(self, shape: tuple, dtype):
        return cuda.device_array(shape, np.dtype(dtype), stream=self.stream)


def _torch_dtype(dt: np.dtype):
    import torch

    return {
        np.dtype(np.float16): torch.float16,
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float64): torch.float64,
        np.dtype(np.int64): torch.int64,
    }[dt]


def _name(x) -> str:
    return f"{type(x).__module__}.{type(x).__name__}"


def dtypes(v, fname: str, argname: str = "x") -> tuple[np.dtype, np.dtype]:
    """(result dtype, compute dtype) of device array `v`, by the NumPy path's rules."""
    if not v.dtype.isnative:
        raise TypeError(f"fastact.{fname}: {argname} has non-native byte order {v.dtype}")
    # the rules (and their error message) live in one place: _validate
    _, rdt, cdt = _validate.float_array(np.empty(0, v.dtype), fname, argname)
    return rdt, cdt


def gpu_input(x, fname: str, argname: str):
    """(view, result dtype, compute dtype) of a GPU array argument; TypeError
    for a host array: a call on GPU arrays never copies between host and device."""
    if not is_gpu(x):
        raise TypeError(
            f"fastact.{fname}: {argname} must be a GPU array like the other "
            f"arguments, got {_name(x)} (fastact copies nothing between host "
            "and device)"
        )
    v = view(x)
    return (v,) + dtypes(v, fname, argname)


def check_out(out, shape: tuple, dtype, fname: str, argname: str = "out"):
    """`out` as a device view after the checks of _validate.check_out."""
    if not is_gpu(out):
        raise TypeError(
            f"fastact.{fname}: {argname} must be a GPU array (with "
            f"__cuda_array_interface__) for GPU input, got {_name(out)}"
        )
    v = view(out)
    if tuple(v.shape) != tuple(shape):
        raise ValueError(
            f"fastact.{fname}: {argname} has shape {tuple(v.shape)}, expected {tuple(shape)}"
        )
    if v.dtype != dtype:
        raise TypeError(
            f"fastact.{fname}: {argname} has dtype {v.dtype}, expected {np.dtype(dtype)}"
        )
    cai = getattr(out, "__cuda_array_interface__", None) if not SIMULATOR else None
    if cai is not None and cai["data"][1]:
        raise ValueError(f"fastact.{fname}: {argname} is read-only")
    return v


# ----------------------------------------------------------------- memory


def _address(v) -> int:
    if SIMULATOR:
        return v.ctypes.data  # the simulator's arrays wrap NumPy arrays
    return v.device_ctypes_pointer.value or 0


def _span(v) -> tuple[int, int]:
    """[first byte, one past the last byte] that `v` touches."""
    lo = hi = _address(v)
    for n, s in zip(v.shape, v.strides):
        lo += min(0, (n - 1) * s)
        hi += max(0, (n - 1) * s)
    return lo, hi + v.dtype.itemsize


def same(a, b) -> bool:
    return (
        _address(a) == _address(b)
        and tuple(a.shape) == tuple(b.shape)
        and tuple(a.strides) == tuple(b.strides)
        and a.dtype == b.dtype
    )


def overlap(a, b) -> bool:
    if a.size == 0 or b.size == 0:
        return False
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 < b1 and b0 < a1


def contiguous(v) -> bool:
    return v.size == 0 or v.is_c_contiguous()


# ------------------------------------------------------- the copy kernel

_copy_kernels: dict = {}


def _copy_kernel(ndim: int):
    """dst[idx] = src[idx] over every index of an ndim array (any strides),
    converting the dtype on the way: one thread per element of dst."""
    k = _copy_kernels.get(ndim)
    if k is None:
        idx = ", ".join(f"i{j}" for j in range(ndim)) if ndim else "()"
        lines = [
            "def copy(src, dst):",
            "    i = cuda.grid(1)",
            "    if i < dst.size:",
            "        r = i",
        ]
        for j in range(ndim - 1, -1, -1):
            lines.append(f"        i{j} = r % dst.shape[{j}]")
            lines.append(f"        r = r // dst.shape[{j}]")
        lines.append(f"        dst[{idx}] = src[{idx}]")
        ns = {"cuda": cuda}
        exec(compile("\n".join(lines) + "\n", f"<fastact.backends.cuda copy {ndim}-d>", "exec"), ns)
        k = _copy_kernels[ndim] = cuda.jit(ns["copy"])
    return k


def grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for one thread per element of n: blocks of 256, or
    fewer (whole warps) when n is small."""
    threads = min(_THREADS, max(32, 32 * math.ceil(n / 32)))
    return max(1, math.ceil(n / threads)), threads


def per_element(n: int, stream) -> tuple:
    """The launch configuration [blocks, threads, stream] for n elements."""
    return grid(n) + (stream,)


def copy(src, dst, stream) -> None:
    """dst[...] = src (same shape), on the device."""
    if dst.size:
        _copy_kernel(dst.ndim)[per_element(dst.size, stream)](src, dst)


def as_compute(v, cdt, caller: Caller):
    """`v` itself when it is C-contiguous of dtype `cdt`, else a converted copy."""
    if v.dtype == cdt and contiguous(v):
        return v
    c = caller.scratch(tuple(v.shape), cdt)
    copy(v, c, caller.stream)
    return c


class Target:
    """Where a kernel writes a result of `shape` in the compute dtype, and how
    it reaches the caller: `out` itself when it is C-contiguous of the compute
    dtype and shares no memory with an input other than exactly being it
    (where `in_place` allows that), else a scratch array delivered by the copy
    kernel into `out` or into a new array of the caller's kind."""

    def __init__(
        self, caller: Caller, out, out_view, shape: tuple, rdt, cdt, inputs, in_place: bool = True
    ):
        self.caller, self.out, self.out_view, self.rdt = caller, out, out_view, rdt
        self.native = None
        direct = (
            out_view is not None
            and out_view.dtype == cdt
            and contiguous(out_view)
            and not any(
                overlap(out_view, i) and not (in_place and same(out_view, i)) for i in inputs
            )
        )
        if direct:
            self.work = out_view
        elif out is None and rdt == cdt:
            self.native, self.work = caller.empty(shape, rdt)
        else:
            self.work = caller.scratch(shape, cdt)

    def deliver(self):
        if self.work is self.out_view:
            return self.out
        if self.native is not None:
            return self.native
        if self.out is not None:
            copy(self.work, self.out_view, self.caller.stream)
            return self.out
        native, v = self.caller.empty(tuple(self.work.shape), self.rdt)
        copy(self.work, v, self.caller.stream)
        return native


def reshaped(v, shape: tuple):
    """A C-contiguous view with another shape (no copy)."""
    return v.reshape(shape) if tuple(v.shape) != tuple(shape) else v
