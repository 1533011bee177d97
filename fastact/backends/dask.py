"""fastact functions on dask arrays: every call returns a lazy dask array.

``fastact._dispatch`` sends a call here when one of its array arguments is a
dask array.  The result is built from the NumPy function itself, called on
NumPy blocks, so every rule of the NumPy path (dtypes, special values,
accuracy) holds block by block.  Nothing is computed while the graph is
built, but everything that can be checked is: the NumPy function is first
called on a zero-size stand-in with the real dtype and the lengths that
matter, so a bad parameter, dtype or axis raises right away with the NumPy
path's own message.

How each kind of function is split into blocks:

* elementwise (and their backward): block by block, inputs aligned.
* softmax family and glu (and backward): the axis must lie in one chunk.  By
  default the array is rechunked so that it does; with the dask config key
  ``fastact.rechunk`` set to False (``dask.config.set({"fastact.rechunk":
  False})`` or ``DASK_FASTACT__RECHUNK=False``) a ValueError says which
  chunks to change instead.
* maxout: groups of k must not cross chunks: chunks along the axis that are
  multiples of k are kept as they are, others rechunked (or refused, as
  above).  ``return_indices`` positions are global along the axis.
* prelu: each block gets its slice of the per-channel weight; the backward's
  ``grad_weight`` is a float64 sum of per-block partial sums.
* rrelu, noisy_relu in training mode: each block draws from its own
  ``SeedSequence(seed, spawn_key=block index)``, so a result is
  reproducible for the same seed and chunks and recomputing a block gives
  the same draw (the draw differs from the NumPy call's with that seed).
* normalization: statistics from a dask reduction whose chunk and merge
  steps are ``fastact.preprocessing``'s two-phase API, then applied block
  by block; when the reduced axes are each in one chunk, one pass.

``out=`` is refused with a TypeError: dask arrays are immutable (use the
returned array, or ``dask.array.store`` to write it somewhere).
"""

from __future__ import annotations

import math
import operator
from functools import partial

import dask
import dask.array as da
import numpy as np

from fastact import _validate
from fastact._dispatch import SPECS, Spec
from fastact.preprocessing import reduced_axes, two_phase

CONFIG_KEY = "fastact.rechunk"
# listed in dask's config (dask.config.get("fastact.rechunk") works before any set)
dask.config.update_defaults({"fastact": {"rechunk": True}})


def call(spec: Spec, bound):
    """The dask version of ``spec``'s function for the call `bound` (called by
    ``fastact._dispatch``)."""
    if bound.arguments.get("out") is not None:
        raise TypeError(
            f"fastact.{spec.name}: out= cannot be used with dask arrays (they are "
            "immutable): use the returned array, or dask.array.store to write it"
        )
    bound.apply_defaults()
    args = dict(bound.arguments)
    args.pop("out", None)
    return _KINDS[spec.kind](spec, args)


# ----------------------------------------------------------- building blocks


def _run(name: str, names: tuple, kw: dict, *blocks):
    """The NumPy function `name` on NumPy blocks (what every graph task calls).

    Addressed by name, so that a task pickles by reference: a distributed
    worker that unpickles it imports fastact, which registers every
    function."""
    return SPECS[name].func(**dict(zip(names, blocks)), **kw)


def _task(spec: Spec, names: tuple, kw: dict):
    return partial(_run, spec.name, names, kw)


def _dask(v):
    return v if _is_dask(v) else da.asarray(np.asarray(v))


def _is_dask(v) -> bool:
    return type(v).__module__.startswith("dask.")


def _meta(ndim: int, dtype) -> np.ndarray:
    return np.empty((0,) * ndim, dtype)


def _probe(spec: Spec, arrays: dict, kw: dict, keep: tuple = ()):
    """spec's NumPy function on zero-size stand-ins of `arrays` with their
    dtypes and their lengths on the axes in `keep`: raises what the NumPy call
    would raise, and returns a result with the real dtypes.

    The first axis outside `keep` gets length 0.  When every axis is kept (a
    1-d array along its axis), a leading axis of length 0 is added instead,
    `axis` counted from the end so that it names the same axis.  Arrays that
    disagree on an axis outside `keep` are a mistake the NumPy function
    reports: they are given at full shape, as read-only views of a single
    zero, so that its message names the real shapes (it checks shapes before
    it reads anything)."""
    shapes = [a.shape for a in arrays.values()]
    nd = len(shapes[0])
    agree = all(len(sh) == nd for sh in shapes) and all(
        len({sh[i] for sh in shapes}) == 1 for i in range(nd) if i not in keep
    )
    for name, a in arrays.items():
        if any(math.isnan(n) for i, n in enumerate(a.shape) if i in keep or not agree):
            raise ValueError(
                f"fastact.{spec.name}: {name} has unknown chunk sizes; call "
                "its compute_chunk_sizes() first"
            )
    if not agree:
        return spec.func(
            **{n: np.broadcast_to(np.zeros((), a.dtype), a.shape) for n, a in arrays.items()}, **kw
        )
    kw = dict(kw)
    cut = next((i for i in range(nd) if i not in keep), None)
    if cut is None and nd:
        if "axis" in kw:
            kw["axis"] = _axis_index(spec, kw, nd) - nd
        shapes = [(0,) + sh for sh in shapes]
    elif cut is not None:
        shapes = [sh[:cut] + (0,) + sh[cut + 1 :] for sh in shapes]
    return spec.func(
        **{
            n: np.zeros(tuple(int(v) for v in sh), a.dtype)
            for (n, a), sh in zip(arrays.items(), shapes)
        },
        **kw,
    )


def _map(spec: Spec, kw: dict, arrays: dict, meta: np.ndarray, **options):
    """map_blocks of spec's NumPy function over aligned `arrays`."""
    names = tuple(arrays)
    return da.map_blocks(
        _task(spec, names, kw),
        *arrays.values(),
        dtype=meta.dtype,
        meta=meta,
        token=f"fastact-{spec.name}",
        **options,
    )


def _split(pairs, metas: list, chunks: list | None = None) -> tuple:
    """The items of an array whose blocks are tuples, as separate arrays.

    A task that returns several arrays is computed once; each output array
    takes its item from it."""
    chunks = chunks or [None] * len(metas)
    return tuple(
        pairs.map_blocks(operator.getitem, i, dtype=m.dtype, meta=m, chunks=c)
        for i, (m, c) in enumerate(zip(metas, chunks))
    )


def _may_rechunk(spec: Spec, x, ax: int, need: str) -> None:
    if not dask.config.get(CONFIG_KEY, True):
        raise ValueError(
            f"fastact.{spec.name}: {need}, but axis {ax} of the dask array has "
            f"chunks {x.chunks[ax]}; rechunk it (e.g. x.rechunk({{{ax}: -1}})) or "
            f"allow fastact to (dask config {CONFIG_KEY!r}: True, the default)"
        )


def _whole_axis(spec: Spec, x, ax: int):
    """x with axis `ax` in one chunk (rechunked if the config allows it).

    The other axes keep their chunks unless a block would then exceed dask's
    ``array.chunk-size``: then dask picks them ("auto")."""
    if x.ndim == 0 or x.numblocks[ax] == 1:
        return x
    _may_rechunk(spec, x, ax, f"{spec.name} needs the whole axis {ax} in one chunk")
    new = {ax: -1}
    block = math.prod(max(c) for i, c in enumerate(x.chunks) if i != ax) * x.shape[ax]
    if block * x.dtype.itemsize > dask.utils.parse_bytes(dask.config.get("array.chunk-size")):
        new.update({i: "auto" for i in range(x.ndim) if i != ax})
    return x.rechunk(new)


def _axis_index(spec: Spec, kw: dict, ndim: int) -> int:
    return _validate.normalize_axis(kw["axis"], max(ndim, 1), spec.name)


def _arrays(spec: Spec, args: dict, names: tuple | None = None) -> dict:
    return {n: _dask(args.pop(n)) for n in (names or spec.arrays)}


def _aligned(arrays: dict) -> dict:
    """Arrays of one shape, rechunked to the chunks of the one with the most
    blocks (map_blocks pairs blocks by position, whatever their shapes)."""
    ref = max(arrays.values(), key=lambda a: a.npartitions)
    return {n: a if a.chunks == ref.chunks else a.rechunk(ref.chunks) for n, a in arrays.items()}


# ------------------------------------------------------------------- kinds


def _elementwise(spec: Spec, args: dict):
    # a backward takes x or the forward's output y: the one left None stays a
    # plain argument (the NumPy function reports a call with neither or both)
    names = spec.arrays
    if "y" in names:
        names = tuple(n for n in names if n not in ("x", "y") or args.get(n) is not None)
    arrays = _arrays(spec, args, names)
    res = _probe(spec, arrays, args)
    return _map(spec, args, _aligned(arrays), _meta(_ndim(arrays), res.dtype))


def _ndim(arrays: dict) -> int:
    return next(iter(arrays.values())).ndim


def _axis(spec: Spec, args: dict):
    """softmax family forward and backward: the axis in one chunk, then blockwise."""
    arrays = _arrays(spec, args)
    first = next(iter(arrays.values()))
    ax = _axis_index(spec, args, first.ndim)
    res = _probe(spec, arrays, args, keep=(ax,))
    x = _whole_axis(spec, first, ax)
    arrays = {n: a.rechunk(x.chunks) for n, a in arrays.items()}
    return _map(spec, args, arrays, _meta(x.ndim, res.dtype))


def _with_len(chunks: tuple, ax: int, n: int) -> tuple:
    return chunks[:ax] + ((n,),) + chunks[ax + 1 :]


def _glu(spec: Spec, args: dict):
    x = _dask(args.pop("x"))
    ax = _axis_index(spec, args, x.ndim)
    res = _probe(spec, {"x": x}, args, keep=(ax,))
    x = _whole_axis(spec, x, ax)
    chunks = _with_len(x.chunks, ax, res.shape[ax - x.ndim]) if x.ndim else ()
    return _map(spec, args, {"x": x}, _meta(x.ndim, res.dtype), chunks=chunks)


def _glu_backward(spec: Spec, args: dict):
    arrays = _arrays(spec, args)
    g, x = arrays["grad_output"], arrays["x"]
    ax = _axis_index(spec, args, x.ndim)
    res = _probe(spec, arrays, args, keep=(ax,))
    x = _whole_axis(spec, x, ax)
    g = g.rechunk(_with_len(x.chunks, ax, g.shape[ax]) if g.ndim else ())
    return _map(spec, args, {"grad_output": g, "x": x}, _meta(x.ndim, res.dtype), chunks=x.chunks)


def _maxout_block(kw: dict, ax: int, block, block_info=None):
    v, i = SPECS["maxout"].func(block, **kw)
    if block.ndim:
        i += block_info[0]["array-location"][ax][0]  # positions along the whole axis
    return v, i


def _maxout(spec: Spec, args: dict):
    x = _dask(args.pop("x"))
    ax = _axis_index(spec, args, x.ndim)
    res = _probe(spec, {"x": x}, args, keep=(ax,))
    k = int(args["k"])
    if x.ndim and any(c % k for c in x.chunks[ax]):
        _may_rechunk(spec, x, ax, f"maxout's groups of k={k} must not cross chunks")
        x = x.rechunk({ax: max(k, round(max(x.chunks[ax]) / k) * k)})
    chunks = (
        x.chunks[:ax] + (tuple(c // k for c in x.chunks[ax]),) + x.chunks[ax + 1 :]
        if x.ndim
        else ()
    )
    vmeta = _meta(x.ndim, (res[0] if args["return_indices"] else res).dtype)
    if not args["return_indices"]:
        return _map(spec, args, {"x": x}, vmeta, chunks=chunks)
    pairs = da.map_blocks(
        partial(_maxout_block, args, ax),
        x,
        chunks=chunks,
        meta=vmeta,
        dtype=vmeta.dtype,
        token="fastact-maxout",
    )
    return _split(pairs, [vmeta, _meta(x.ndim, np.int64)])


def _maxout_backward_block(kw: dict, ax: int, k: int, g, indices, block_info=None):
    # this block's indices, relative to its own part of the input axis
    start = block_info[0]["array-location"][ax][0] * k
    return SPECS["maxout_backward"].func(g, indices - start, **{**kw, "n": g.shape[ax] * k})


def _maxout_backward(spec: Spec, args: dict):
    arrays = _arrays(spec, args)
    g = arrays["grad_output"]
    ax = _axis_index(spec, args, g.ndim)
    res = _probe(spec, arrays, args, keep=(ax,))
    if g.ndim == 0:
        return _map(spec, args, arrays, _meta(0, res.dtype))
    k = args["n"] // g.shape[ax] if g.shape[ax] else 1
    g, i = _aligned(arrays).values()
    chunks = g.chunks[:ax] + (tuple(c * k for c in g.chunks[ax]),) + g.chunks[ax + 1 :]
    return da.map_blocks(
        partial(_maxout_backward_block, args, ax, k),
        g,
        i,
        chunks=chunks,
        dtype=res.dtype,
        meta=_meta(g.ndim, res.dtype),
        token="fastact-maxout_backward",
    )


# ------------------------------------------------------------------ prelu


def _prelu_task(name: str, names: tuple, *blocks):
    *arrays, w = blocks
    res = SPECS[name].func(
        **dict(zip(names, arrays)), weight=w.reshape(-1) if w.size > 1 else w.reshape(())
    )
    if name == "prelu":
        return res
    gi, gw = res
    # this block's partial sum of grad_weight, shaped as one block of the
    # array of partial sums (one per block along every summed axis)
    return gi, np.reshape(gw, w.shape)


def _prelu(spec: Spec, args: dict):
    arrays = _arrays(spec, args)
    weight = args["weight"]
    if _is_dask(weight):
        raise TypeError(
            f"fastact.{spec.name}: weight must be a NumPy array or a number (it "
            "is small: call .compute() on it first), got a dask array"
        )
    x = arrays["x"]
    res = _probe(spec, arrays, args, keep=(1 if x.ndim >= 2 else 0,))
    backward = spec.kind == "prelu_backward"
    gmeta = _meta(x.ndim, (res[0] if backward else res).dtype)
    if backward:
        arrays = _aligned(arrays)
        x = arrays["x"]
    if x.ndim == 0:  # one block: the NumPy call as it is
        out = _map(spec, args, arrays, gmeta)
        return _split(out, [gmeta, _meta(res[1].ndim, res[1].dtype)]) if backward else out
    # the weight as a dask array of x's ndim, chunked as x's channel axis, so
    # that each block gets its own slice (float64: grad_weight's partial sums
    # are then float64 too; the forward casts the slopes to float64 anyway)
    w = np.asarray(weight, dtype=np.float64)
    shape = [1] * x.ndim
    ch = None
    if w.size > 1:
        ch = 1 if x.ndim >= 2 else 0
        shape[ch] = w.size
    wd = da.from_array(
        w.reshape(shape), chunks=tuple(x.chunks[i] if i == ch else (1,) for i in range(x.ndim))
    )
    task = partial(_prelu_task, spec.name, tuple(arrays))
    out = da.map_blocks(
        task, *arrays.values(), wd, dtype=gmeta.dtype, meta=gmeta, token=f"fastact-{spec.name}"
    )
    if not backward:
        return out
    parts = tuple(x.chunks[i] if i == ch else (1,) * x.numblocks[i] for i in range(x.ndim))
    grad_input, partial_sums = _split(out, [gmeta, _meta(x.ndim, np.float64)], [None, parts])
    grad_weight = partial_sums.sum(axis=tuple(i for i in range(x.ndim) if i != ch))
    return grad_input, grad_weight.reshape(np.shape(weight)).astype(res[1].dtype)


# ----------------------------------------------------------------- random


def _seed(rng) -> int:
    """An entropy value for the per-block SeedSequences, fixed when the graph
    is built (so every recomputation of a block draws the same values)."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    if rng is None:
        return np.random.SeedSequence().entropy
    return operator.index(rng)  # the probe has already rejected anything else


def _random_block(name: str, kw: dict, seed: int, block, block_info=None):
    key = tuple(block_info[0]["chunk-location"]) if block.ndim else ()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
    return SPECS[name].func(block, **kw, rng=rng, return_noise=True)


def _random(spec: Spec, args: dict):
    if not args["training"]:
        return _elementwise(spec, args)
    x = _dask(args.pop("x"))
    rng = args.pop("rng")
    # the probe draws nothing (zero-size) but must not see the user's
    # Generator; an int or None is checked as the NumPy call checks it
    res = _probe(
        spec, {"x": x}, {**args, "rng": None if isinstance(rng, np.random.Generator) else rng}
    )
    ymeta = _meta(x.ndim, (res[0] if args["return_noise"] else res).dtype)
    kw = {k: v for k, v in args.items() if k != "return_noise"}
    pairs = da.map_blocks(
        partial(_random_block, spec.name, kw, _seed(rng)),
        x,
        dtype=ymeta.dtype,
        meta=ymeta,
        token=f"fastact-{spec.name}",
    )
    out = _split(
        pairs, [ymeta, _meta(x.ndim, res[1].dtype if args["return_noise"] else ymeta.dtype)]
    )
    return out if args["return_noise"] else out[0]


def _random_backward(spec: Spec, args: dict):
    names = spec.arrays + (("noise",) if args.get("noise") is not None else ())
    arrays = _arrays(spec, args, names)
    res = _probe(spec, arrays, args)
    return _map(spec, args, _aligned(arrays), _meta(_ndim(arrays), res.dtype))


# ------------------------------------------------------------- normalization


def _boxed(stats, ndim: int) -> np.ndarray:
    """A statistics object as the one element of an object array of x's ndim:
    dask's reductions and map_blocks then carry it as any other block."""
    box = np.empty((1,) * ndim, object)
    box[(0,) * ndim] = stats
    return box


def _boxes(parts) -> list:
    """The boxes of a dask reduction's (nested) list of partial results."""
    if isinstance(parts, list):
        return [b for p in parts for b in _boxes(p)]
    return [parts]


def _stats_box(stats, block):
    return _boxed(stats(block), block.ndim)


def _as_is(box, axis, keepdims):
    return box


def _merge(parts, axis, keepdims):
    first, *rest = _boxes(parts)
    merged = first.flat[0]
    for b in rest:
        merged = merged.merge(b.flat[0])
    return _boxed(merged, first.ndim)


def _apply_block(apply, block, box):
    return apply(block, box.flat[0])


def _reduce(spec: Spec, args: dict):
    x = _dask(args.pop("x"))
    res = _probe(spec, {"x": x}, args)
    meta = _meta(x.ndim, res.dtype)
    axes = reduced_axes(args["axis"], x.ndim)
    if all(x.numblocks[i] == 1 for i in axes):
        return _map(spec, args, {"x": x}, meta)  # every slice inside one block
    stats, apply = two_phase(spec.name, {**args, "axis": axes})
    # statistics objects travel as the blocks of an object array: one per
    # block of x (computed by map_blocks with its meta given, so the
    # statistics function only ever sees real blocks), merged along the
    # reduced axes in a tree
    boxes = da.map_blocks(
        partial(_stats_box, stats),
        x,
        dtype=object,
        meta=_meta(x.ndim, object),
        chunks=tuple((1,) * x.numblocks[i] if i in axes else c for i, c in enumerate(x.chunks)),
        token=f"fastact-{spec.name}-stats",
    )
    s = da.reduction(
        boxes,
        _as_is,
        _merge,
        axis=axes,
        keepdims=True,
        dtype=object,
        concatenate=False,
        meta=_meta(x.ndim, object),
        name=f"fastact-{spec.name}-merge",
    )
    return da.map_blocks(
        partial(_apply_block, apply),
        x,
        s,
        dtype=meta.dtype,
        meta=meta,
        token=f"fastact-{spec.name}",
    )


_KINDS = {
    "elementwise": _elementwise,
    "elementwise_backward": _elementwise,
    "axis": _axis,
    "axis_backward": _axis,
    "glu": _glu,
    "glu_backward": _glu_backward,
    "maxout": _maxout,
    "maxout_backward": _maxout_backward,
    "prelu": _prelu,
    "prelu_backward": _prelu,
    "random": _random,
    "random_backward": _random_backward,
    "reduce": _reduce,
}
