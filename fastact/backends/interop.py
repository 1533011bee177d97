"""fastact functions on the CPU arrays of other libraries: the input's own type back.

``fastact._dispatch`` sends a call here when one of its array arguments (or
``out=``) exposes ``__dlpack__`` or ``__array_namespace__`` and no other
backend claims the call: a torch CPU tensor, a JAX CPU array, an
array-api-strict array, any library that speaks DLPack.

* In: each such argument is viewed as a NumPy array with ``np.from_dlpack``
  (no copy), and the NumPy function runs on the views, so every rule of the
  NumPy path (dtypes, shapes, messages, special values) holds unchanged.  A
  torch tensor that requires grad is read through ``detach()``: gradients do
  not flow through fastact.  An array without ``__dlpack__`` (only
  ``__array_namespace__``) goes through ``np.asarray``, which may copy.
* Out: each array of the result is handed back through the caller's own
  ``from_dlpack`` (the array namespace's, else its top-level module's, as
  ``torch.from_dlpack``): torch and array-api-strict take the NumPy memory
  without a copy.  JAX takes it without a copy only when the buffer is
  64-byte aligned and of a dtype JAX holds (float64 only with
  ``jax_enable_x64``); results are therefore allocated 64-byte aligned where
  their shape and dtype are known before the call (the elementwise
  functions, the softmax family, the normalization functions), and JAX
  copies otherwise (glu, maxout).  The result's type is that of the first such array
  argument, ``out=`` last.
* ``out=``: written through a writable DLPack view, in place (``out`` may be
  the input itself), and returned as the object given.  An array that cannot
  be written (a JAX array, a read-only export) raises TypeError before
  anything runs, as does a torch tensor that requires grad.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from fastact import _validate
from fastact._dispatch import Spec, is_interop

_ALIGN = 64
# kinds whose result has the first array argument's shape and the common
# result dtype of the array arguments: allocated aligned before the call
_SAME_SHAPE = {
    "elementwise",
    "elementwise_backward",
    "random",
    "random_backward",
    "axis",
    "axis_backward",
    "prelu",
    "reduce",
}
# immutable by design, whatever their DLPack export says (NumPy < 2.1 cannot
# see DLPack's read-only flag)
_IMMUTABLE = ("jax", "jaxlib")


def call(spec: Spec, bound):
    """The NumPy function of `spec` on DLPack views of the call `bound`'s
    arrays, its result returned as the caller's array type (called by
    ``fastact._dispatch``)."""
    args = bound.arguments
    kind = None
    for name, v in args.items():
        if name != "out" and is_interop(v):
            kind = v if kind is None else kind
            args[name] = _to_numpy(v, spec.name, name)
    out = args.get("out")
    outs = out if type(out) is tuple else (out,)
    views = tuple(_out_view(o, spec.name) for o in outs)
    if kind is None:
        kind = next(o for o in outs if is_interop(o))
    back = _converter(kind, spec.name)
    if out is None and spec.kind in _SAME_SHAPE:
        args["out"] = _aligned_out(spec, args)
        views = (args["out"],)
    elif out is not None:
        args["out"] = views if type(out) is tuple else views[0]
    # every parameter of a public function can be given by name
    res = spec.func(**args)
    given = {id(v): o for v, o in zip(views, outs) if v is not None and out is not None}
    if type(res) is tuple:
        return tuple(_back(r, given, back) for r in res)
    return _back(res, given, back)


def _name(v) -> str:
    t = type(v)
    return f"{t.__module__}.{t.__qualname__}"


def _to_numpy(v, fname: str, argname: str) -> np.ndarray:
    """A NumPy view of array `v` (no copy through DLPack)."""
    if not hasattr(type(v), "__dlpack__"):
        return np.asarray(v)
    if getattr(v, "requires_grad", False) and hasattr(v, "detach"):
        # torch refuses to export a tensor in an autograd graph; the data is
        # read as is and the result is outside the graph (docs/spec.md)
        v = v.detach()
    try:
        return np.from_dlpack(v)
    except (BufferError, RuntimeError, TypeError, ValueError) as exc:
        raise TypeError(
            f"fastact.{fname}: {argname} (a {_name(v)} of dtype {getattr(v, 'dtype', '?')}) "
            f"cannot be read by NumPy through DLPack ({str(exc).rstrip('.')}); fastact takes float16, float32, "
            "float64, integer or bool arrays in CPU memory (GPU arrays through "
            "__cuda_array_interface__)"
        ) from None


def _out_view(o, fname: str):
    """A writable NumPy view of out= item `o`; TypeError for what cannot be written."""
    if o is None or not is_interop(o):
        return o
    if type(o).__module__.partition(".")[0] in _IMMUTABLE:
        raise TypeError(
            f"fastact.{fname}: out cannot be a {_name(o)}: JAX arrays are immutable; "
            "use the returned array"
        )
    if getattr(o, "requires_grad", False):
        raise TypeError(
            f"fastact.{fname}: out is a {_name(o)} that requires grad; fastact writes "
            "outside autograd, so pass out.detach() (or a tensor without requires_grad)"
        )
    if not hasattr(type(o), "__dlpack__"):
        raise TypeError(
            f"fastact.{fname}: out is a {_name(o)}, which has no __dlpack__ to write "
            "through; use the returned array"
        )
    v = _to_numpy(o, fname, "out")
    if not v.flags.writeable:
        raise TypeError(
            f"fastact.{fname}: out is a {_name(o)} whose DLPack export is read-only; "
            "use the returned array"
        )
    return v


_CONVERTERS: dict = {}


def _converter(kind, fname: str):
    """The caller's `from_dlpack` for arrays of `kind`'s type (cached per type)."""
    t = type(kind)
    f = _CONVERTERS.get(t)
    if f is None:
        if hasattr(t, "__array_namespace__"):
            f = getattr(kind.__array_namespace__(), "from_dlpack", None)
        else:
            f = getattr(sys.modules.get(t.__module__.partition(".")[0]), "from_dlpack", None)
        if f is None:
            raise TypeError(
                f"fastact.{fname}: cannot return a {_name(kind)}: neither its array "
                "namespace nor its module has from_dlpack"
            )
        _CONVERTERS[t] = f
    return f


def _back(r, given: dict, back):
    """A result as the caller sees it: an out= item as given, an array converted."""
    if id(r) in given:
        return given[id(r)]
    return back(r) if isinstance(r, np.ndarray) else r


def _aligned_out(spec: Spec, args: dict):
    """A 64-byte aligned result array of the shape and dtype the call will
    return (what JAX needs to take it without a copy), or None where they
    cannot be known (bad input: the function itself then says what is wrong)."""
    try:
        # (a backward takes x or y: the one left out is None)
        typed = [
            _validate.float_array(args[n], spec.name, n)
            for n in spec.arrays
            if args.get(n) is not None
        ]
        rdt = typed[0][1] if len(typed) == 1 else _validate.common_dtypes(spec.name, *typed)[0]
    except (TypeError, ValueError):
        return None
    shape = typed[0][0].shape
    n = math.prod(shape) * rdt.itemsize
    buf = np.empty(n + _ALIGN, np.uint8)
    # not buf.ctypes: building its ctypes object costs more than the call
    start = -buf.__array_interface__["data"][0] % _ALIGN
    return buf[start : start + n].view(rdt).reshape(shape)
