"""Where a call goes when its arrays are not NumPy arrays: dask, GPU arrays,
other CPU array libraries.

Every public function is registered here once, with its *kind* (how it
treats shapes: elementwise, along an axis, grouped, a whole-array statistic)
and the names of its array arguments.  A call whose array arguments are all
NumPy arrays (or lists, scalars: anything NumPy converts) never gets past one
``type(...) is ndarray`` check per array; a call with a dask array, an object
exposing ``__cuda_array_interface__``, or any other object exposing
``__dlpack__`` or ``__array_namespace__`` (a torch CPU tensor, a JAX array,
an array-api-strict array) is handed to that backend's ``call(spec, bound)``,
which returns the same kind of array it was given.

The DLPack backend (``backends.interop``) is the last resort: a GPU array
exports DLPack too, and a call that mixes a dask or GPU array with a CPU
array of another library goes to the dask or GPU backend, whose own checks
say what is wrong with the CPU array.

Backends live in their own modules, imported on the first foreign array, so
``import fastact`` never imports dask or a CUDA toolkit.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

_nd = np.ndarray


@dataclass(frozen=True)
class Spec:
    """How a backend should treat a public function.

    kind: 'elementwise' (same shape, values independent), 'elementwise_backward'
    (grad_output and x of one shape), 'axis' (same shape, rows along `axis`
    depend on each other: the softmax family), 'glu', 'maxout',
    'maxout_backward', 'reduce' (whole-slice statistics: the normalization
    functions); `arrays`: names of the array arguments; `func`: the NumPy
    implementation (what a backend calls on NumPy blocks); `entry`: the
    registry entry of an elementwise kernel, when there is one."""

    name: str
    kind: str
    arrays: tuple[str, ...]
    func: Callable
    entry: str | None = None
    signature: inspect.Signature | None = field(compare=False, default=None)


SPECS: dict[str, Spec] = {}


def _is_dask(x) -> bool:
    return type(x).__module__.startswith("dask.")


def _is_cuda(x) -> bool:
    return hasattr(x, "__cuda_array_interface__")


def is_interop(x) -> bool:
    # looked up on the type: an instance attribute may be a property that
    # raises or computes (torch's __cuda_array_interface__ on a CPU tensor);
    # ndarray subclasses export DLPack too but are NumPy's own business
    t = type(x)
    return (hasattr(t, "__dlpack__") or hasattr(t, "__array_namespace__")) and not isinstance(
        x, np.ndarray
    )


# (test, module implementing `call(spec, bound)`, what a user should install);
# the DLPack entry last, as the fallback (see the module docstring)
_BACKENDS = [
    (_is_dask, "fastact.backends.dask", "dask[array]"),
    (_is_cuda, "fastact.backends.cuda", "numba-cuda"),
    (is_interop, "fastact.backends.interop", "numpy"),
]
_INTEROP = _BACKENDS[-1]


def _owner(x):
    """The backend entry for a foreign array, or None for anything NumPy handles."""
    if type(x) is _nd or x is None:
        return None
    for entry in _BACKENDS:
        if entry[0](x):
            return entry
    return None


def _backend_module(entry, spec: Spec, x):
    test, module, install = entry
    loaded = sys.modules.get(module)
    if loaded is not None:  # import_module's lookup is a few microseconds a call
        return loaded
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise TypeError(
            f"fastact.{spec.name}: a {type(x).__module__}.{type(x).__name__} needs "
            f"`pip install {install}` ({exc})"
        ) from None


def foreign_call(spec: Spec, args: tuple, kwargs: dict):
    """Call `spec` through the backend that owns one of its array arguments, or
    return NotImplemented when every array argument is NumPy's business."""
    bound = spec.signature.bind(*args, **kwargs)
    entry = first = interop = None
    for v in _candidates(spec, bound.arguments):
        e = _owner(v)
        if e is _INTEROP:
            interop = interop if interop is not None else v
        elif e is not None:
            if entry is not None and e is not entry:
                raise TypeError(
                    f"fastact.{spec.name}: cannot mix {type(first).__name__} and "
                    f"{type(v).__name__} arrays in one call"
                )
            entry, first = e, v
    if entry is None and interop is not None:
        entry, first = _INTEROP, interop
    if entry is None:
        return NotImplemented
    return _backend_module(entry, spec, first).call(spec, bound)


def _candidates(spec: Spec, arguments: dict):
    """The array arguments of a call, then `out` (maxout's tuple of outs item
    by item: only the DLPack backend takes a call for an item of it)."""
    for name in spec.arrays:
        yield arguments.get(name)
    out = arguments.get("out")
    if type(out) is tuple:
        yield from (o for o in out if _owner(o) is _INTEROP)
    else:
        yield out


def register(
    func: Callable,
    kind: str,
    arrays: tuple[str, ...] = ("x",),
    entry: str | None = None,
    name: str | None = None,
) -> Spec:
    spec = Spec(name or func.__name__, kind, arrays, func, entry, inspect.signature(func))
    SPECS[spec.name] = spec
    return spec


def array_function(
    kind: str, arrays: tuple[str, ...] = ("x",), entry: str | None = None, name: str | None = None
):
    """Decorator: register a hand-written public function (as `name`, by
    default its own) and route foreign arrays to their backend.  NumPy
    callers pay one type check per array."""

    def deco(func: Callable) -> Callable:
        spec = register(func, kind, arrays, entry, name)
        # positions of the first two array arguments (no public function has
        # more); a missing second one checks the first again
        pos = [list(spec.signature.parameters).index(a) for a in arrays]
        p0, p1 = pos[0], pos[-1]
        names = frozenset(arrays)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            # fast path (no generator expressions: this runs on every call):
            # the array arguments came positionally as ndarrays, and out= is
            # absent or an ndarray
            if len(args) > p1 and type(args[p0]) is _nd and type(args[p1]) is _nd:
                if not kwargs:
                    return func(*args)
                o = kwargs.get("out")
                if (o is None or type(o) is _nd) and names.isdisjoint(kwargs):
                    return func(*args, **kwargs)
            r = foreign_call(spec, args, kwargs)
            return func(*args, **kwargs) if r is NotImplemented else r

        wrapper.__wrapped_spec__ = spec
        return wrapper

    return deco
