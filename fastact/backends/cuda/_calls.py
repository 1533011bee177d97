"""One handler per kind of public function (``_dispatch.Spec.kind``).

Each handler validates its arguments with the NumPy path's own checks
(``activations.checked_params``, ``_validate``, ``grouped``: same rules, same
messages), checks ``out=`` before anything is written, brings the inputs to
C-contiguous arrays of the compute dtype on the device, runs the kernel on
the caller's stream, and returns the caller's kind of array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from fastact import _validate, activations, grouped
from fastact.axis import ROWS as AXIS_ROWS
from fastact.backends.cuda import _axis
from fastact.backends.cuda._arrays import (
    Caller,
    Target,
    as_compute,
    check_out,
    copy,
    device_of,
    gpu_input,
    is_gpu,
    overlap,
    per_element,
    reshaped,
    view,
)
from fastact.backends.cuda._compat import SIMULATOR
from fastact.backends.cuda._ufuncs import device_function, ufunc
from fastact.core.registry import REGISTRY

I64 = np.dtype(np.int64)


def call(spec, bound):
    """Run public function `spec` on the GPU arrays of `bound` (an
    inspect.BoundArguments); returns what the NumPy function returns, as
    arrays of the caller's kind."""
    handler = _HANDLERS.get(spec.kind)
    if handler is None:
        raise TypeError(
            f"fastact.{spec.name}: GPU arrays are not supported by this function "
            "yet; pass NumPy arrays"
        )
    bound.apply_defaults()
    a = bound.arguments
    first = next(a[n] for n in spec.arrays + ("out",) if is_gpu(a.get(n)))
    with device_of(first):
        return handler(spec, a, Caller(first))


# --------------------------------------------------------------- elementwise

_consts: dict = {}


def _const(value: float, dtype):
    """A parameter as a 1-element device array (the CUDA ufuncs take every
    argument as an array and broadcast it), rounded to the loop type as the
    CPU loops round it; cached per device, dtype and value."""
    key = (0 if SIMULATOR else cuda.get_current_device().id, dtype.str, value)
    c = _consts.get(key)
    if c is None:
        if len(_consts) > 4096:
            _consts.clear()
        c = _consts[key] = cuda.to_device(np.array([value], dtype))
        # made on the default stream; the caller's stream may not be ordered after it
        cuda.synchronize()
    return c


def run_elementwise(
    kernel: str, which: str, arrays: list, params: tuple, out, fname: str, caller: Caller
):
    """Registry kernel `kernel` on [(argname, GPU array)], checked float64 params."""
    typed = [gpu_input(x, fname, argname) for argname, x in arrays]
    if len(typed) == 2:
        _validate.same_shape(fname, typed[0][0], typed[1][0], arrays[0][0], arrays[1][0])
    rdt, cdt = _validate.common_dtypes(fname, *typed)
    shape = tuple(typed[-1][0].shape)
    ov = check_out(out, shape, rdt, fname) if out is not None else None
    ins = [as_compute(t[0], cdt, caller) for t in typed]
    tgt = Target(caller, out, ov, shape, rdt, cdt, ins)
    size = math.prod(shape)
    if size:
        flat = [reshaped(i, (size,)) for i in ins]
        consts = [_const(float(p), cdt) for p in params]
        ufunc(kernel, which, cdt)(
            *flat, *consts, out=reshaped(tgt.work, (size,)), stream=caller.stream
        )
    return tgt.deliver()


def _entry(spec, a):
    if spec.entry is None:  # gelu: one public name over two kernels
        return activations.gelu_entry(a["approximate"], spec.name)
    return REGISTRY[spec.entry]


def _run_entry(e, forward: bool, a, fname: str, caller):
    values = [a[q.name] for q in e.params]
    if forward:
        p = activations.checked_params(e, values, fname)
        return run_elementwise(e.name, "forward", [("x", a["x"])], p, a["out"], fname, caller)
    # from x or from the forward's output y (random kinds have no y)
    which, argname, arr = activations.backward_input(e, a["x"], a.get("y"), fname)
    p = activations.backward_params(e, which, values, fname)
    return run_elementwise(
        e.name,
        which,
        [("grad_output", a["grad_output"]), (argname, arr)],
        p,
        a["out"],
        fname,
        caller,
    )


def _elementwise(spec, a, caller):
    return _run_entry(_entry(spec, a), spec.kind == "elementwise", a, spec.name, caller)


def _random(spec, a, caller):
    # the NumPy function on empty arrays checks every argument (parameters,
    # training, rng, return_noise / noise rules) with its own messages
    probe = dict(a, out=None)
    for n in spec.arrays + ("noise",):
        if n in probe and (n != "noise" or is_gpu(probe[n])):
            probe[n] = np.empty(0)
    spec.func(**probe)
    if a["training"]:
        raise NotImplementedError(
            f"fastact.{spec.name}: training=True draws its noise with a NumPy Generator on "
            "the host; GPU arrays support only training=False (evaluation mode)"
        )
    e = REGISTRY[spec.name.removesuffix("_backward")]
    return _run_entry(e, spec.kind == "random", a, spec.name, caller)


# --------------------------------------------------------------------- prelu


def _prelu_weight(weight, shape: tuple, cdt, fname: str, caller: Caller):
    """(weight as a (C,) device array of the compute dtype, C, channel axis or
    None, weight's result dtype).  The weight's C values are checked on the
    host (by the NumPy path's rules): a GPU weight is read back for that."""
    host = view(weight).copy_to_host() if is_gpu(weight) else weight
    stand_in = np.broadcast_to(np.empty((), np.float64), shape)  # shape only, no memory
    w, ch, wdt = activations.prelu_weight(host, stand_in, fname)
    w = np.ascontiguousarray(w.reshape(-1), dtype=cdt)
    return cuda.to_device(w, stream=caller.stream), w.size, ch, wdt


def _channel_view(shape: tuple, ch) -> tuple[int, int, int]:
    """(outer, C, inner) around the channel axis (C = 1 for a single weight)."""
    if ch is None:
        return 1, 1, math.prod(shape)
    return _validate.blocks(shape, ch)


_prelu_kernels: dict = {}


def _prelu_kernels_for(dtype):
    key = np.dtype(dtype).name
    k = _prelu_kernels.get(key)
    if k is None:
        fwd = device_function("prelu", "forward", key)
        bwd = device_function("prelu", "backward", key)
        terms = device_function("prelu_weight_grad", "backward", key)

        @cuda.jit
        def prelu_fwd(x, w, y):
            i = cuda.grid(1)
            c_n, inner = x.shape[1], x.shape[2]
            if i < x.shape[0] * c_n * inner:
                o, r = i // (c_n * inner), i % (c_n * inner)
                c, t = r // inner, r % inner
                y[o, c, t] = fwd(x[o, c, t], w[c])

        @cuda.jit
        def prelu_bwd(g, x, w, out):
            i = cuda.grid(1)
            c_n, inner = x.shape[1], x.shape[2]
            if i < x.shape[0] * c_n * inner:
                o, r = i // (c_n * inner), i % (c_n * inner)
                c, t = r // inner, r % inner
                out[o, c, t] = bwd(g[o, c, t], x[o, c, t], w[c])

        @cuda.jit
        def prelu_wgrad(g, x, gw):
            # one block per channel: sum of g x over x <= 0, in float64
            ss = cuda.shared.array(1024, np.float64)
            c = cuda.blockIdx.x
            tid, nt = cuda.threadIdx.x, cuda.blockDim.x
            inner = x.shape[2]
            s = 0.0
            for i in range(tid, x.shape[0] * inner, nt):
                o, t = i // inner, i % inner
                s += np.float64(terms(g[o, c, t], x[o, c, t]))
            ss[tid] = s
            cuda.syncthreads()
            half = nt // 2
            while half > 0:
                if tid < half:
                    ss[tid] += ss[tid + half]
                cuda.syncthreads()
                half //= 2
            if tid == 0:
                gw[c] = ss[0]

        k = _prelu_kernels[key] = (prelu_fwd, prelu_bwd, prelu_wgrad)
    return k


def _prelu(spec, a, caller):
    fname = spec.name
    forward = spec.kind == "prelu"
    names = ("x",) if forward else ("grad_output", "x")
    typed = [gpu_input(a[n], fname, n) for n in names]
    if not forward:
        _validate.same_shape(fname, typed[0][0], typed[1][0], "grad_output", "x")
    rdt, cdt = _validate.common_dtypes(fname, *typed)
    shape = tuple(typed[-1][0].shape)
    w, nw, ch, wdt = _prelu_weight(a["weight"], shape, cdt, fname, caller)
    ov = check_out(a["out"], shape, rdt, fname) if a["out"] is not None else None
    blk = _channel_view(shape, ch)
    ins = [reshaped(as_compute(t[0], cdt, caller), blk) for t in typed]
    gw = None
    if not forward:
        # grad_weight first: out may be grad_output or x itself
        gw64 = caller.scratch((nw,), np.float64)
        _prelu_kernels_for(cdt)[2][nw, 256, caller.stream](ins[0], ins[1], gw64)
        wshape = (
            np.shape(a["weight"]) if not is_gpu(a["weight"]) else tuple(view(a["weight"]).shape)
        )
        gw, gwv = caller.empty(wshape, wdt)
        copy(reshaped(gw64, wshape) if wshape != (nw,) else gw64, gwv, caller.stream)
    tgt = Target(caller, a["out"], ov, shape, rdt, cdt, ins)
    size = math.prod(shape)
    if size:
        work = reshaped(tgt.work, blk)
        k = _prelu_kernels_for(cdt)
        if forward:
            k[0][per_element(size, caller.stream)](ins[0], w, work)
        else:
            k[1][per_element(size, caller.stream)](ins[0], ins[1], w, work)
    res = tgt.deliver()
    return res if forward else (res, gw)


# ----------------------------------------------------------- softmax family


def _axis_call(spec, a, caller):
    fname = spec.name
    base = fname.removesuffix("_backward")
    negate, mode = AXIS_ROWS[base]
    if spec.kind == "axis":
        typed = [gpu_input(a["x"], fname, "x")]
    else:
        typed = [gpu_input(a["grad_output"], fname, "grad_output"), gpu_input(a["y"], fname, "y")]
        _validate.same_shape(fname, typed[0][0], typed[1][0], "grad_output", "y")
    rdt, cdt = _validate.common_dtypes(fname, *typed)
    v = typed[-1][0]
    shape = tuple(v.shape)
    ax = _validate.axis_of(v, a["axis"], fname)
    ov = check_out(a["out"], shape, rdt, fname) if a["out"] is not None else None
    blk = _validate.blocks(shape, ax)
    ins = [as_compute(t[0], cdt, caller) for t in typed]
    tgt = Target(caller, a["out"], ov, shape, rdt, cdt, ins)
    if math.prod(blk):
        ins3 = [reshaped(i, blk) for i in ins]
        work = reshaped(tgt.work, blk)
        if spec.kind == "axis":
            _axis.softmax_forward(ins3[0], work, negate, mode, caller.stream)
        else:
            _axis.softmax_backward(ins3[0], ins3[1], work, negate, mode, caller.stream)
    return tgt.deliver()


# ------------------------------------------------------------ glu, maxout


def _glu(spec, a, caller):
    fname = spec.name
    x, xr, xc = gpu_input(a["x"], fname, "x")
    ax = _validate.axis_of(x, a["axis"], fname)
    blk = _validate.blocks(tuple(x.shape), ax)
    if blk[1] % 2:
        raise ValueError(
            f"fastact.{fname}: glu splits axis {a['axis']} in halves, but its "
            f"length {blk[1]} is odd"
        )
    half = grouped.with_len(tuple(x.shape), ax, blk[1] // 2)
    xblk = (blk[0], blk[1] * blk[2])
    hblk = (blk[0], blk[1] // 2 * blk[2])
    if spec.kind == "glu":
        rdt, cdt = xr, xc
        ov = check_out(a["out"], half, rdt, fname) if a["out"] is not None else None
        xin = as_compute(x, cdt, caller)
        tgt = Target(caller, a["out"], ov, half, rdt, cdt, [xin], in_place=False)
        if math.prod(hblk):
            _axis.glu_forward(reshaped(xin, xblk), reshaped(tgt.work, hblk), caller.stream)
        return tgt.deliver()
    g = gpu_input(a["grad_output"], fname, "grad_output")
    if tuple(g[0].shape) != half:
        raise ValueError(
            f"fastact.{fname}: grad_output has shape {tuple(g[0].shape)}, expected "
            f"{half} (x's shape {tuple(x.shape)} with axis {a['axis']} halved)"
        )
    rdt, cdt = _validate.common_dtypes(fname, g, (x, xr, xc))
    ov = check_out(a["out"], tuple(x.shape), rdt, fname) if a["out"] is not None else None
    gin, xin = as_compute(g[0], cdt, caller), as_compute(x, cdt, caller)
    # out may be x itself (each element pair is read before written), not grad_output
    tgt = Target(caller, a["out"], ov, tuple(x.shape), rdt, cdt, [xin], in_place=True)
    if tgt.work is ov and overlap(ov, gin):
        tgt = Target(caller, a["out"], ov, tuple(x.shape), rdt, cdt, [xin, gin], in_place=False)
    if math.prod(hblk):
        _axis.glu_backward(
            reshaped(gin, hblk), reshaped(xin, xblk), reshaped(tgt.work, xblk), caller.stream
        )
    return tgt.deliver()


def _maxout(spec, a, caller):
    fname = spec.name
    x, rdt, cdt = gpu_input(a["x"], fname, "x")
    ax = _validate.axis_of(x, a["axis"], fname)
    blk = _validate.blocks(tuple(x.shape), ax)
    k = grouped.group_size(a["k"], blk[1], a["axis"], fname)
    oshape = grouped.with_len(tuple(x.shape), ax, blk[1] // k)
    ret = a["return_indices"]
    vout, iout = grouped.split_maxout_out(a["out"], ret, fname, "an array")
    vv = check_out(vout, oshape, rdt, fname) if vout is not None else None
    iv = check_out(iout, oshape, I64, fname, "the indices out") if iout is not None else None
    xin = as_compute(x, cdt, caller)
    oblk = (blk[0], blk[1] // k, blk[2])
    # with k == 1 the values out may be x itself (each element read, then written)
    tv = Target(caller, vout, vv, oshape, rdt, cdt, [xin], in_place=k == 1)
    ti = Target(caller, iout, iv, oshape, I64, I64, [xin], in_place=False) if ret else None
    if math.prod(oblk):
        _axis.maxout_forward(
            reshaped(xin, blk),
            reshaped(tv.work, oblk),
            reshaped(ti.work, oblk) if ret else None,
            k,
            caller.stream,
        )
    vals = tv.deliver()
    return (vals, ti.deliver()) if ret else vals


def _maxout_backward(spec, a, caller):
    fname = spec.name
    g, rdt, cdt = gpu_input(a["grad_output"], fname, "grad_output")
    gshape = tuple(g.shape)
    ax = _validate.axis_of(g, a["axis"], fname)
    n = grouped.int_param(a["n"], "n", fname)
    gblk = _validate.blocks(gshape, ax)
    m = gblk[1]
    if n < m or (m == 0 and n != 0) or (m > 0 and n % m) or (not gshape and n != 1):
        raise ValueError(
            f"fastact.{fname}: n={n} is not a multiple of the length {m} of "
            f"grad_output's axis {a['axis']}"
            + (" (0-d grad_output needs n=1)" if not gshape else "")
        )
    k = n // m if m else 1
    if not is_gpu(a["indices"]):
        raise TypeError(
            f"fastact.{fname}: indices must be a GPU array like grad_output, got "
            f"{type(a['indices']).__module__}.{type(a['indices']).__name__}"
        )
    iv = view(a["indices"])
    if iv.dtype.kind not in "iu":
        raise TypeError(f"fastact.{fname}: indices must have an integer dtype, got {iv.dtype}")
    if tuple(iv.shape) != gshape:
        raise ValueError(
            f"fastact.{fname}: indices has shape {tuple(iv.shape)} but grad_output "
            f"has shape {gshape}"
        )
    shape = grouped.with_len(gshape, ax, n)
    ov = check_out(a["out"], shape, rdt, fname) if a["out"] is not None else None
    gin = as_compute(g, cdt, caller)
    iin = as_compute(iv, I64, caller)
    bad = _axis.maxout_first_bad(reshaped(iin, gblk), k, caller.stream)
    if bad is not None:
        pos = np.unravel_index(bad, gshape or (1,))
        gi = int(np.unravel_index(bad, gblk)[1])
        value = int(reshaped(iin, (math.prod(gblk),))[bad : bad + 1].copy_to_host()[0])
        raise ValueError(
            f"fastact.{fname}: indices[{', '.join(map(str, map(int, pos)))}] = "
            f"{value} is not in its group [{gi * k}, {gi * k + k}) of an axis of "
            f"length n={n} (k={k}); indices must come from "
            "maxout(..., return_indices=True)"
        )
    blk = (gblk[0], n, gblk[2])
    tgt = Target(caller, a["out"], ov, shape, rdt, cdt, [gin, iin], in_place=k == 1)
    if math.prod(blk):
        _axis.maxout_backward(
            reshaped(gin, gblk), reshaped(iin, gblk), reshaped(tgt.work, blk), k, caller.stream
        )
    return tgt.deliver()


def _not_on_gpu(spec, a, caller):
    raise TypeError(
        f"fastact.{spec.name}: GPU arrays are not supported by this function yet "
        "(it is computed on the host); pass a NumPy array"
    )


_HANDLERS = {
    "elementwise": _elementwise,
    "elementwise_backward": _elementwise,
    "random": _random,
    "random_backward": _random,
    "prelu": _prelu,
    "prelu_backward": _prelu,
    "axis": _axis_call,
    "axis_backward": _axis_call,
    "glu": _glu,
    "glu_backward": _glu,
    "maxout": _maxout,
    "maxout_backward": _maxout_backward,
    "reduce": _not_on_gpu,
}
