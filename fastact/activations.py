"""The public elementwise functions, generated from the registry.

Each public entry gets ``NAME(x, *params, out=None)`` and
``NAME_backward(grad_output, x, *params, y=None, out=None)`` with a real signature
(generated source, like ``collections.namedtuple``: argument binding stays at
C speed) and a numpydoc docstring whose example the test suite runs.  The few
functions whose parameters are not plain scalars (gelu's ``approximate``,
prelu's weight, the random rrelu and noisy_relu) are written out below on top
of the same kernels.

An entry with a ``from_y`` kernel takes the forward's output ``y=`` in place
of ``x`` (then ``x`` defaults to None: exactly one of the two is given); the
others take ``y: None`` only to say clearly that they do not accept it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from fastact import _validate
from fastact._dispatch import SPECS, array_function, foreign_call, register
from fastact.core.registry import REGISTRY, WHICH, Elementwise
from fastact.cpu import bf16, grouped, pool
from fastact.cpu.activations import get
from fastact.cpu.threads import PARALLEL_MIN_SIZE, threads_for
from fastact.cpu.ufunc import streams

_DTYPE_RULES = (
    "float16 and bfloat16 (``ml_dtypes.bfloat16``) are computed in\n"
    "    float32 and returned in their own type; integer and bool input is\n"
    "    promoted to float64."
)


# --------------------------------------------------------------------------
# the two generic paths every elementwise call takes


def checked_params(e: Elementwise, values, fname: str) -> tuple:
    vals = tuple(_validate.real_param(v, p.name, fname, p.check) for p, v in zip(e.params, values))
    if e.check is not None:
        msg = e.check(*vals)
        if msg:
            raise ValueError(f"fastact.{fname}: {msg}")
    return tuple(np.float64(v) for v in vals)


def _forward(e: Elementwise, x, params: tuple, out, fname: str | None = None):
    fname = fname or e.name
    return _run_forward(e.name, x, checked_params(e, params, fname), out, fname)


def backward_input(e: Elementwise, x, y, fname: str) -> tuple[str, str, object]:
    """(kernel, argument name, array) of a backward given x (the forward's
    input) or y (its output): exactly one of them, y only where the entry
    has a from-y kernel."""
    if y is None:
        if x is None:
            alt = " (or y=, its output)" if e.from_y is not None else ""
            raise TypeError(f"fastact.{fname}: missing x, the forward's input{alt}")
        return "backward", "x", x
    if e.from_y is None:
        raise TypeError(no_from_y(fname))
    if x is not None:
        raise TypeError(
            f"fastact.{fname}: pass either x (the forward's input) or y= (its output), not both"
        )
    return "backward_y", "y", y


def no_from_y(fname: str) -> str:
    return (
        f"fastact.{fname}: y= (the forward's output) is not accepted: this derivative "
        f"is not determined by y as cheaply as by x; {fname} takes x, the forward's input"
    )


def backward_params(e: Elementwise, which: str, params, fname: str) -> tuple:
    """checked_params, and for a from-y backward the parameter rules of y."""
    p = checked_params(e, params, fname)
    if which == "backward_y" and e.from_y.check is not None:
        msg = e.from_y.check(*(float(v) for v in p))
        if msg:
            raise ValueError(f"fastact.{fname}: {msg}")
    return p


def _backward(e: Elementwise, g, x, params: tuple, out, fname: str | None = None, y=None):
    fname = fname or e.name + "_backward"
    which, argname, a = backward_input(e, x, y, fname)
    p = backward_params(e, which, params, fname)
    return _run_backward(e.name, g, a, p, out, fname, which, argname)


def _empty_like(arrays, dt: np.dtype) -> np.ndarray:
    """A new result laid out like x (the last array input), as NumPy's
    order='K' lays out a ufunc's result: fastact.sigmoid(x.T) then returns
    an F-ordered array computed in one contiguous pass, where a C-ordered
    result would read x column by column."""
    return np.empty_like(arrays[-1], dtype=dt, subok=False)


def _call(uf: np.ufunc, arrays, params, rdt: np.dtype, cdt: np.dtype, out):
    """Run `uf` on arrays (cast to the compute dtype) and float64 params into out."""
    if rdt is not cdt and _validate.is_bf16(rdt) and all(a.dtype == rdt for a in arrays):
        # bfloat16 loops widen, compute in float32 and round block by block
        res = out if out is not None else _empty_like(arrays, rdt)
        pool.call(bf16.ufunc_for(uf, rdt, len(arrays)), list(arrays), params, res)
        return res
    ins = [a if a.dtype == cdt else a.astype(cdt) for a in arrays]
    if out is not None and rdt == cdt:
        pool.call(uf, ins, params, out)
        return out
    res = _empty_like(ins, cdt)
    pool.call(uf, ins, params, res)
    if rdt == cdt:
        return res
    if out is None:
        return res.astype(rdt)
    np.copyto(out, res, casting="same_kind")
    return out


def _run_forward(kernel: str, x, p: tuple, out, fname: str):
    """Kernel `kernel` on x with checked float64 parameters (scalars or arrays)."""
    a, rdt, cdt = _validate.float_array(x, fname)
    if out is not None:
        _validate.check_out(out, a.shape, rdt, fname)
    return _call(get(kernel, "forward"), (a,), p, rdt, cdt, out)


def _run_backward(
    kernel: str, g, x, p: tuple, out, fname: str, which: str = "backward", argname: str = "x"
):
    """Kernel `which` ('backward' or 'backward_y') on grad_output and x (or y)."""
    gt = _validate.float_array(g, fname, "grad_output")
    xt = _validate.float_array(x, fname, argname)
    _validate.same_shape(fname, gt[0], xt[0], "grad_output", argname)
    rdt, cdt = _validate.common_dtypes(fname, gt, xt)
    if out is not None:
        _validate.check_out(out, xt[0].shape, rdt, fname)
    return _call(get(kernel, which), (gt[0], xt[0]), p, rdt, cdt, out)


# --------------------------------------------------------------------------
# docstrings


def _fmt(values) -> str:
    return repr(np.array(values, dtype=np.float64))


def _call_text(fname: str, args: str, kw: dict) -> str:
    extra = "".join(f", {k}={v!r}" for k, v in kw.items())
    return f"fastact.{fname}({args}{extra})"


def _param_doc(e: Elementwise) -> str:
    lines = []
    for p in e.params:
        default = "required" if p.default is None else f"default {p.default!r}"
        lines.append(f"{p.name} : float, {default}\n    See the formula above.")
    return "\n".join(lines)


def forward_doc(e: Elementwise, name: str | None = None, params_doc: str | None = None) -> str:
    name = name or e.name
    inp, kw, expected = e.example
    pdoc = _param_doc(e) if params_doc is None else params_doc
    return f"""{e.summary}

``{e.formula}``

Parameters
----------
x : array_like
    Input of any shape; {_DTYPE_RULES}
{pdoc + chr(10) if pdoc else ""}out : ndarray, optional
    Output array with ``x``'s shape and the result dtype; may be ``x`` itself.

Returns
-------
ndarray
    ``{name}(x)``, same shape as ``x``.

See Also
--------
{name}_backward : the gradient.

Examples
--------
>>> import fastact
>>> {_call_text(name, repr(inp), kw)}
{_fmt(expected)}
"""


def _y_doc(e: Elementwise) -> str:
    """The docs of the ``y`` parameter."""
    fy = e.from_y
    if fy is None:
        return (
            "y : None\n    Not accepted: this derivative is not determined by the\n"
            "    forward's output as cheaply as by its input; pass ``x``.\n"
        )
    return (
        "y : array_like, optional, keyword-only\n"
        "    The forward's output, in place of ``x`` (give exactly one): the\n"
        f"    derivative is then ``{fy.formula}``, computed from ``y``\n"
        "    alone.  A ``y`` outside the forward's range is not rejected: the\n"
        "    result is that formula's value there (as torch computes it); NaN\n"
        "    gives NaN.\n"
    )


def _y_example(e: Elementwise, name: str) -> str:
    if e.from_y is None:
        return ""
    inp, kw, _ = e.example
    return f"""
From the forward's output instead of its input:

>>> y = {_call_text(name, repr(inp), kw)}
>>> {_call_text(name + "_backward", "np.ones(3), y=y", kw)}
{_fmt(e.dexample)}
"""


def backward_doc(e: Elementwise, name: str | None = None, params_doc: str | None = None) -> str:
    name = name or e.name
    inp, kw, _ = e.example
    pdoc = _param_doc(e) if params_doc is None else params_doc
    xdoc = "The forward input." if e.from_y is None else "The forward input (or give ``y``)."
    return f"""Gradient of :func:`{name}`: ``grad_output * {name}'(x)`` (what autograd computes).

Parameters
----------
grad_output : array_like
    Gradient with respect to the output, same shape as ``x``.
x : array_like
    {xdoc}
{pdoc + chr(10) if pdoc else ""}{_y_doc(e)}out : ndarray, optional
    Output array with ``x``'s shape and the result dtype.

Returns
-------
ndarray
    The gradient with respect to ``x``. The derivative alone is
    ``{name}_backward(np.ones_like(x), x)``.

Examples
--------
>>> import numpy as np, fastact
>>> {_call_text(name + "_backward", f"np.ones({len(inp)}), {inp!r}", kw)}
{_fmt(e.dexample)}
{_y_example(e, name)}"""


# --------------------------------------------------------------------------
# generated functions

# The generated functions first try a fast path for the common call: a small
# or C-contiguous native float32/float64 ndarray of at least one dimension,
# parameters that are plain Python floats (or ints) passing their checks
# (the defaults were checked once, here), and `out` absent or exactly right.
# It goes straight to the ufunc (whose loop splits a large contiguous call
# over the thread pool itself), skipping the generic checks (several times
# the ufunc call's own overhead); anything else takes the generic path,
# which validates everything.  The array part of it is shared with the
# hand-written functions (`fast_paths`), which check their own parameters
# and call it with them ready.
_FWD_FAST = """\
    if (type(x) is _nd and x.ndim and (x.size < _SMALL or x.flags.c_contiguous)
            and (x.dtype is _F32 or x.dtype is _F64){pok}):
        uf = {U}[0] or {load}(0)
        if out is None:
            return uf(x{pvals})
        if (type(out) is _nd and out.dtype is x.dtype and out.shape == x.shape
                and out.flags.writeable and (x.size < _SMALL or out.flags.c_contiguous)):
            return uf(x{pvals}, out=out)
"""

_BWD_FAST = """\
    if (type(x) is _nd and type(g) is _nd{ynone} and x.ndim
            and (x.size < _SMALL or x.flags.c_contiguous and g.flags.c_contiguous)
            and (x.dtype is _F32 or x.dtype is _F64) and g.dtype is x.dtype
            and g.shape == x.shape{pok}):
        uf = {U}[1] or {load}(1)
        if out is None:
            return uf(g, x{pvals})
        if (type(out) is _nd and out.dtype is x.dtype and out.shape == x.shape
                and out.flags.writeable and (x.size < _SMALL or out.flags.c_contiguous)):
            return uf(g, x{pvals}, out=out)
"""

_TEMPLATE = """
def {name}(x: ArrayLike{psig}, *, out: np.ndarray | None = None) -> np.ndarray:
{ffast}    if type(x) is not _nd or type(out) is not _nd and out is not None:
        r = _foreign(_sf, (x, {pargs}), {{"out": out}})
        if r is not NotImplemented:
            return r
    return _forward(_e, x, ({pargs}), out)

def {name}_backward(grad_output: ArrayLike, x: ArrayLike{xsig}{psig}, *,
                    y: {ytype} = None, out: np.ndarray | None = None) -> np.ndarray:
    g = grad_output
{bfast}{yfast}    if (type(g) is not _nd or type(x) is not _nd and x is not None
            or type(y) is not _nd and y is not None or type(out) is not _nd and out is not None):
        r = _foreign(_sb, (g, x, {pargs}), {{"y": y, "out": out}})
        if r is not NotImplemented:
            return r
    return _backward(_e, grad_output, x, ({pargs}), out, y=y)
"""

# the same fast path from y, for the entries with a from-y kernel
_Y_FAST = """\
    if (x is None and type(y) is _nd and type(g) is _nd and y.ndim
            and (y.size < _SMALL or y.flags.c_contiguous and g.flags.c_contiguous)
            and (y.dtype is _F32 or y.dtype is _F64) and g.dtype is y.dtype
            and g.shape == y.shape{pok}):
        uf = _U[2] or _load(2)
        if out is None:
            return uf(g, y{pvals})
        if (type(out) is _nd and out.dtype is y.dtype and out.shape == y.shape
                and out.flags.writeable and (y.size < _SMALL or out.flags.c_contiguous)):
            return uf(g, y{pvals}, out=out)
"""

# the fast path alone, on parameters already checked and converted: returns
# NotImplemented where the arrays need the generic path
_FAST_ONLY = """
def fast_forward(x, {qargs}out):
{ffast}    return NotImplemented

def fast_backward(g, x, {qargs}out):
{bfast}    return NotImplemented
"""

# A Python float or int parameter is taken on the fast path when it passes
# its Param.check there (NaN fails every comparison; v - v is NaN for an
# infinity); ints only within float64's range, so that float() is exact
# enough and never overflows.  Anything else (NumPy scalars, bools, strings)
# goes to the generic path's real_param, which converts or names the fault.
_INT_MAX = 2**1023
_FAST_CHECK = {
    "any": "{v} == {v}",
    "finite": "{v} - {v} == 0.0",
    "positive": "{v} > 0.0 and {v} - {v} == 0.0",
    "nonneg": "{v} >= 0.0 and {v} - {v} == 0.0",
    "nonzero": "{v} != 0.0 and {v} - {v} == 0.0",
}


def param_array(v) -> np.ndarray:
    """A checked parameter as the ufuncs take it fastest: a read-only 0-d
    float64 array (a NumPy scalar is first made into one on every call)."""
    a = np.array(v, np.float64)
    a.flags.writeable = False
    return a


def _param_fast(e: Elementwise, checks: tuple) -> tuple[str, str]:
    """(condition, ufunc arguments) of the fast path's parameters: each at
    its default (passed as the checked value _pI) or a float/int passing its
    check (passed as a 0-d float64 array); `checks`: the names in the
    namespace of the rules between parameters to apply when one is not at
    its default."""
    conds, vals, alldef = [], [], []
    for i, p in enumerate(e.params):
        v = p.name
        plain = (
            f"(type({v}) is float or type({v}) is int and -_IMAX < {v} < _IMAX)"
            f" and {_FAST_CHECK[p.check].format(v=v)}"
        )
        if p.default is None:
            conds.append(f"({plain})")
            vals.append(f", _f64(float({v}))")
            alldef.append("False")
        else:
            conds.append(f"({v} is _d{i} or {plain})")
            vals.append(f", (_p{i} if {v} is _d{i} else _f64(float({v})))")
            alldef.append(f"{v} is _d{i}")
    if checks and e.params:
        pargs = ", ".join(p.name for p in e.params)
        default = " and ".join(alldef)
        conds += [f"({default} or {c}({pargs}) is None)" for c in checks]
    return "".join(f"\n            and {c}" for c in conds), "".join(vals)


def _namespace(e: Elementwise) -> dict:
    ufuncs: list = [None, None, None]

    def load(k: int):
        ufuncs[k] = get(e.name, WHICH[k])
        return ufuncs[k]

    ns = {
        "_e": e,
        "_forward": _forward,
        "_backward": _backward,
        "np": np,
        "ArrayLike": ArrayLike,
        "_nd": np.ndarray,
        "_F32": _validate.F32,
        "_F64": _validate.F64,
        "_f64": np.array,  # a float as a 0-d float64 array
        "_IMAX": _INT_MAX,
        "_SMALL": PARALLEL_MIN_SIZE,
        "_U": ufuncs,
        "_load": load,
        "_foreign": foreign_call,
        "_chk": e.check,
        "_ychk": None if e.from_y is None else e.from_y.check,
    }
    if e.same_as is not None:
        aufuncs: list = [None, None]

        def aload(k: int):
            aufuncs[k] = get(e.same_as[0], WHICH[k])
            return aufuncs[k]

        ns.update({"_AU": aufuncs, "_aload": aload})
    ps = e.params
    if all(p.default is not None for p in ps):
        # the checked float64 defaults the fast path passes straight to the ufunc
        ns.update(
            {
                f"_p{i}": param_array(v)
                for i, v in enumerate(checked_params(e, [p.default for p in ps], e.name))
            }
        )
    ns.update({f"_d{i}": p.default for i, p in enumerate(ps)})
    return ns


def fast_paths(e: Elementwise) -> tuple:
    """(fast_forward(x, *params, out), fast_backward(g, x, *params, out)) of
    entry `e`: its ufunc on parameters the caller has checked and converted
    to 0-d float64 arrays (param_array), where the arrays allow the fast
    path; else NotImplemented."""
    ns = _namespace(e)
    qs = [f"q{i}" for i in range(len(e.params))]
    pvals = "".join(f", {q}" for q in qs)
    text = _FAST_ONLY.format(
        qargs="".join(f"{q}, " for q in qs),
        ffast=_FWD_FAST.format(pok="", pvals=pvals, U="_U", load="_load"),
        bfast=_BWD_FAST.format(ynone="", pok="", pvals=pvals, U="_U", load="_load"),
    )
    exec(text, ns)
    return ns["fast_forward"], ns["fast_backward"]


def _same_as_fast(e: Elementwise, template: str, ynone: str) -> str:
    """The fast path through the kernels of the entry `e` equals at some
    parameter values (``same_as``), taken for plain Python numbers equal to
    them; other spellings of the same values take e's own kernels, whose
    bits are the same."""
    if e.same_as is None:
        return ""
    values = e.same_as[1]
    pok = "".join(
        f"\n            and (type({p}) is float or type({p}) is int) and {p} == {values[p]!r}"
        for p in values
    )
    return template.format(ynone=ynone, pok=pok, pvals="", U="_AU", load="_aload")


def _generate(e: Elementwise, specs: tuple | None = None) -> tuple:
    """(forward, backward) of entry `e`; `specs`: their _backends specs when
    they serve a hand-written public function (else registered under e.name)."""
    ps = e.params
    psig = "".join(
        f", {p.name}: float" + ("" if p.default is None else f" = _d{i}") for i, p in enumerate(ps)
    )
    pargs = "".join(f"{p.name}, " for p in ps)
    ns = _namespace(e)
    fy = e.from_y
    if fy is not None and fy.check is not None:
        assert fy.check(*(p.default for p in ps)) is None, e.name
    pok, pvals = _param_fast(e, ("_chk",) if e.check is not None else ())
    ychecks = tuple(c for c, f in (("_chk", e.check), ("_ychk", fy and fy.check)) if f)
    text = _TEMPLATE.format(
        name=e.name,
        psig=psig,
        pargs=pargs,
        xsig="" if fy is None else " | None = None",
        ytype="None" if fy is None else "ArrayLike | None",
        ffast=_same_as_fast(e, _FWD_FAST, "")
        + _FWD_FAST.format(pok=pok, pvals=pvals, U="_U", load="_load"),
        bfast=_same_as_fast(e, _BWD_FAST, " and y is None")
        + _BWD_FAST.format(ynone=" and y is None", pok=pok, pvals=pvals, U="_U", load="_load"),
        yfast="" if fy is None else _Y_FAST.format(pok=_param_fast(e, ychecks)[0], pvals=pvals),
    )
    exec(text, ns)
    fwd, bwd = ns[e.name], ns[e.name + "_backward"]
    if specs is None:
        specs = (
            register(fwd, "elementwise", ("x",), e.name),
            register(bwd, "elementwise_backward", ("grad_output", "x", "y"), e.name),
        )
    ns["_sf"], ns["_sb"] = specs
    fwd.__doc__, bwd.__doc__ = forward_doc(e), backward_doc(e)
    return fwd, bwd


# entries whose public function is written by hand below
_CUSTOM = {"gelu", "gelu_tanh", "prelu", "rrelu", "noisy_relu"}
PUBLIC: dict[str, object] = {}
for _e in REGISTRY.values():
    if _e.public and _e.name not in _CUSTOM:
        PUBLIC[_e.name], PUBLIC[_e.name + "_backward"] = _generate(_e)


# --------------------------------------------------------------------------
# gelu: one public name over two kernels


def gelu_entry(approximate, fname: str) -> Elementwise:
    if approximate == "none":
        return REGISTRY["gelu"]
    if approximate == "tanh":
        return REGISTRY["gelu_tanh"]
    raise ValueError(f"fastact.{fname}: approximate must be 'none' or 'tanh', got {approximate!r}")


@array_function("elementwise")
def gelu(x: ArrayLike, approximate: str = "none", *, out: np.ndarray | None = None) -> np.ndarray:
    # the generated functions of each form, with their fast path for small arrays
    if approximate == "none":
        return _GELU[0](x, out=out)
    if approximate == "tanh":
        return _GELU_TANH[0](x, out=out)
    return _forward(gelu_entry(approximate, "gelu"), x, (), out, "gelu")


@array_function("elementwise_backward", ("grad_output", "x"))
def gelu_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    approximate: str = "none",
    *,
    y: None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    if y is not None:
        raise TypeError(no_from_y("gelu_backward"))
    if approximate == "none":
        return _GELU[1](grad_output, x, out=out)
    if approximate == "tanh":
        return _GELU_TANH[1](grad_output, x, out=out)
    e = gelu_entry(approximate, "gelu_backward")
    return _backward(e, grad_output, x, (), out, "gelu_backward")


_GELU_SPECS = (SPECS["gelu"], SPECS["gelu_backward"])
_GELU = _generate(REGISTRY["gelu"], _GELU_SPECS)
_GELU_TANH = _generate(REGISTRY["gelu_tanh"], _GELU_SPECS)


_APPROX_DOC = (
    "approximate : {'none', 'tanh'}, default 'none'\n"
    "    'none' is the exact x * Phi(x); 'tanh' is\n"
    "    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."
)
gelu.__doc__ = forward_doc(REGISTRY["gelu"], "gelu", _APPROX_DOC)
gelu_backward.__doc__ = backward_doc(REGISTRY["gelu"], "gelu", _APPROX_DOC)


# --------------------------------------------------------------------------
# prelu: a weight per channel


def prelu_weight(weight, a: np.ndarray, fname: str) -> tuple[np.ndarray, int | None, np.dtype]:
    """(weight as float64 broadcastable to a, channel axis or None, weight's result dtype)."""
    w, wdt, _ = _validate.float_array(weight, fname, "weight")
    if w.ndim > 1:
        raise ValueError(f"fastact.{fname}: weight must be 0-d or 1-d, got shape {w.shape}")
    if not np.isfinite(w).all():
        # the registry declares weight `finite`, as every other slope parameter
        bad = w[~np.isfinite(w)].flat[0]
        raise ValueError(f"fastact.{fname}: weight must be finite, got {bad}")
    if w.size == 1:
        return w.reshape(()).astype(np.float64), None, wdt
    ch = 1 if a.ndim >= 2 else 0
    if a.ndim == 0 or w.size != a.shape[ch]:
        nch = "no channel axis" if a.ndim == 0 else f"{a.shape[ch]} channels on axis {ch}"
        raise ValueError(
            f"fastact.{fname}: weight has {w.size} values; expected 1 or the "
            f"number of channels (x of shape {a.shape} has {nch})"
        )
    shape = (w.size,) + (1,) * (a.ndim - ch - 1)
    return w.astype(np.float64).reshape(shape), ch, wdt


# prelu's kernels are leaky_relu's with the weight as slope (bit for bit):
# one weight runs on leaky_relu's fast path
_LEAKY_FAST = fast_paths(REGISTRY["leaky_relu"])


def _one_weight(weight) -> np.ndarray | None:
    """A single finite weight as a 0-d float64 array (a float, or a float32/float64
    ndarray of one element and at most one dimension), else None."""
    if type(weight) is float:
        w = weight
    elif (
        type(weight) is np.ndarray
        and weight.ndim <= 1
        and weight.size == 1
        and (weight.dtype is _validate.F32 or weight.dtype is _validate.F64)
    ):
        w = float(weight.reshape(-1)[0])
    else:
        return None
    return np.array(w) if w - w == 0.0 else None


def prelu(x: ArrayLike, weight: ArrayLike, *, out: np.ndarray | None = None) -> np.ndarray:
    # as rrelu below: the fast path, then the registered, dispatching function
    w = _one_weight(weight)
    if w is not None:
        r = _LEAKY_FAST[0](x, w, out)
        if r is not NotImplemented:
            return r
    return _prelu_any(x, weight, out=out)


@array_function("prelu", name="prelu")
def _prelu_any(x, weight, *, out=None):
    a = _validate.float_array(x, "prelu")[0]
    w, _, _ = prelu_weight(weight, a, "prelu")
    return _run_forward("prelu", a, (w,), out, "prelu")


def _plain_pair(g, x, out) -> bool:
    """g and x (and out, where given) the same native float32/float64 type
    and shape, small or C-contiguous: what the ufuncs take directly."""
    return (
        type(x) is np.ndarray
        and type(g) is np.ndarray
        and x.ndim > 0
        and (x.dtype is _validate.F32 or x.dtype is _validate.F64)
        and g.dtype is x.dtype
        and g.shape == x.shape
        and (x.size < PARALLEL_MIN_SIZE or x.flags.c_contiguous and g.flags.c_contiguous)
        and (
            out is None
            or type(out) is np.ndarray
            and out.dtype is x.dtype
            and out.shape == x.shape
            and out.flags.writeable
            and (x.size < PARALLEL_MIN_SIZE or out.flags.c_contiguous)
        )
    )


# prelu's backward in one pass (grouped.prelu_backward: grad_input and the
# weight's per-channel sums, an order the shape fixes) where the (row,
# channel) runs hold at least this many elements; shorter runs (a channel
# axis last, say) stay on the ufuncs and NumPy's sum
_PRELU_FUSED_MIN_RUN = 1024


def _prelu_blocks(shape: tuple, ch: int | None) -> tuple[int, int, int] | None:
    """(outer, channels, inner) of the fused backward for x's shape and its
    channel axis (None: one weight), or None where its runs are too short."""
    if ch is None:
        return (1, 1, math.prod(shape))
    inner = math.prod(shape[ch + 1 :])
    return (math.prod(shape[:ch]), shape[ch], inner) if inner >= _PRELU_FUSED_MIN_RUN else None


def _same_data(a: np.ndarray, b: np.ndarray) -> bool:
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _prelu_backward_fused(g, x, w: np.ndarray, blocks: tuple, out) -> tuple:
    """(grad_input, the weight's float64 per-channel sums) of g and x of one
    float32/float64 dtype and the float64 weight(s) w, into out (None, or
    x's dtype and shape) through the fused kernel."""
    gc, xc = np.asarray(g, order="C"), np.asarray(x, order="C")
    # the kernel reads each block before writing it: out may be g or x
    # itself, but overlap either in no other way
    direct = (
        out is not None
        and out.flags.c_contiguous
        and all(_same_data(out, a) or not np.may_share_memory(out, a) for a in (gc, xc))
    )
    gi = out if direct else np.empty(xc.shape, xc.dtype)
    nt = threads_for(xc.size, grouped.prelu_tasks(*blocks))
    # streamed past the elementwise loops' threshold, as they are; not in
    # place (the lines were just read into the cache)
    stream = streams(gi.nbytes) and not any(_same_data(gi, a) for a in (gc, xc))
    sums = grouped.prelu_backward(
        gc.reshape(blocks), xc.reshape(blocks), gi.reshape(blocks), w.reshape(-1), nt, stream
    )
    if out is not None and not direct:
        np.copyto(out, gi)
        gi = out
    return gi, sums


def prelu_backward(
    grad_output: ArrayLike, x: ArrayLike, weight: ArrayLike, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    # one weight: straight to the fused kernel (as the generic path)
    w = _one_weight(weight)
    if w is not None and _plain_pair(grad_output, x, out):
        gi, sums = _prelu_backward_fused(grad_output, x, w, (1, 1, x.size), out)
        gw = np.asarray(sums[0])
        if type(weight) is np.ndarray:
            gw = gw.reshape(weight.shape).astype(weight.dtype)
        return gi, gw
    return _prelu_backward_any(grad_output, x, weight, out=out)


@array_function("prelu_backward", ("grad_output", "x"), name="prelu_backward")
def _prelu_backward_any(grad_output, x, weight, *, out=None):
    fname = "prelu_backward"
    gt, xt = (
        _validate.float_array(grad_output, fname, "grad_output"),
        _validate.float_array(x, fname, "x"),
    )
    _validate.same_shape(fname, gt[0], xt[0], "grad_output", "x")
    rdt, cdt = _validate.common_dtypes(fname, gt, xt)
    w, ch, wdt = prelu_weight(weight, xt[0], fname)
    if out is not None:
        _validate.check_out(out, xt[0].shape, rdt, fname)
    blocks = _prelu_blocks(xt[0].shape, ch)
    if blocks is not None and rdt == cdt:
        g1, x1 = (a if a.dtype == cdt else a.astype(cdt) for a in (gt[0], xt[0]))
        gi, sums = _prelu_backward_fused(g1, x1, w, blocks, out)
        return gi, sums.reshape(np.shape(weight)).astype(wdt)
    # grad_weight first: `out` may be grad_output or x itself
    terms = _call(get("prelu_weight_grad", "backward"), (gt[0], xt[0]), (), cdt, cdt, None)
    axes = tuple(i for i in range(terms.ndim) if i != ch)
    gw = np.asarray(terms.sum(axis=axes, dtype=np.float64))
    gw = gw.reshape(np.shape(weight)).astype(wdt)
    gi = _call(get("prelu", "backward"), (gt[0], xt[0]), (w,), rdt, cdt, out)
    return gi, gw


prelu.__doc__ = forward_doc(
    REGISTRY["prelu"],
    "prelu",
    (
        "weight : array_like\n"
        "    One slope, or one per channel (axis 1 when ``x.ndim >= 2``, else axis 0)."
    ),
)
prelu_backward.__doc__ = (
    backward_doc(REGISTRY["prelu"], "prelu", ("weight : array_like\n    As for :func:`prelu`."))
    .replace(
        "Returns\n-------\nndarray\n    The gradient with respect to ``x``.",
        "Returns\n-------\n(ndarray, ndarray)\n    ``(grad_input, grad_weight)``; grad_weight has weight's shape\n"
        "    (summed over every axis but the channel axis, in float64).",
    )
    .replace(
        "fastact.prelu_backward(np.ones(3), [-2.0, 0.0, 2.0], weight=0.25)\narray([0.25, 0.25, 1.  ])",
        "gi, gw = fastact.prelu_backward(np.ones(3), [-2.0, 0.0, 2.0], weight=0.25)\n>>> gi\n"
        "array([0.25, 0.25, 1.  ])\n>>> gw\narray(-2.)",
    )
)


# --------------------------------------------------------------------------
# rrelu and noisy_relu: random in training mode


def _generator(rng, fname: str) -> np.random.Generator:
    if rng is None or isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        try:
            return np.random.default_rng(rng)
        except ValueError as exc:  # a negative seed
            raise ValueError(f"fastact.{fname}: rng seed {rng!r} is invalid: {exc}") from None
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(
        f"fastact.{fname}: rng must be None, an int seed or a numpy.random.Generator, "
        f"got {type(rng).__name__}"
    )


def _training(training, fname: str) -> bool:
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"fastact.{fname}: training must be a bool, got {training!r}")
    return bool(training)


def _noise_array(noise, x: np.ndarray, fname: str) -> np.ndarray:
    if noise is None:
        raise ValueError(
            f"fastact.{fname}: training=True needs the forward's draw: pass "
            "noise=, as returned by the forward with return_noise=True"
        )
    n, _, _ = _validate.float_array(noise, fname, "noise")
    _validate.same_shape(fname, n, x, "noise", "x")
    return n.astype(np.float64, copy=False)


def _random_forward(name: str, x, params: tuple, training, rng, return_noise, out, draw):
    """Shared path of rrelu and noisy_relu: eval kernel, or a draw fed to a train kernel."""
    e = REGISTRY[name]
    a, rdt, cdt = _validate.float_array(x, name)
    p = checked_params(e, params, name)
    if not _training(training, name):
        if return_noise:
            raise ValueError(
                f"fastact.{name}: return_noise=True needs training=True "
                "(evaluation mode draws nothing)"
            )
        kernel, q = _EVAL[name](cdt, *p)
        return _run_forward(kernel, a, q, out, name)
    gen = _generator(rng, name)
    if out is not None:
        _validate.check_out(out, a.shape, rdt, name)
    kernel, noise = draw(gen, a, *(float(v) for v in p))
    # drawn in float64 (the same seed gives the same draw for every dtype),
    # kept in the compute dtype: the float32 loop multiplies by exactly this
    # value, so the backward given it reproduces the forward's slope (as
    # torch keeps its noise in the input's dtype)
    noise = noise.astype(cdt, copy=False)
    y = _run_forward(kernel, a, (noise,), out, name)
    return (y, noise) if return_noise else y


def _random_backward(name: str, train_kernel: str, g, x, params: tuple, training, noise, out):
    e = REGISTRY[name]
    fname = name + "_backward"
    if not _training(training, fname):
        if noise is not None:
            # as return_noise in the forward: a draw without training=True is a mistake
            raise ValueError(
                f"fastact.{fname}: noise= is only used with training=True "
                "(evaluation mode is deterministic)"
            )
        which, argname, a = backward_input(e, x, None, fname)
        p = backward_params(e, which, params, fname)
        gt = _validate.float_array(g, fname, "grad_output")
        xt = _validate.float_array(a, fname, argname)
        kernel, q = _EVAL[name](_validate.common_dtypes(fname, gt, xt)[1], *p)
        return _run_backward(kernel, gt[0], xt[0], q, out, fname)
    checked_params(e, params, fname)  # checked even though the draw carries the slope
    xa = _validate.float_array(x, fname, "x")[0]
    return _run_backward(train_kernel, g, xa, (_noise_array(noise, xa, fname),), out, fname)


# Evaluation mode is deterministic and equal, bit for bit, to a registry
# kernel: rrelu's slope (lower + upper) / 2 is computed as its own kernel
# computes it (in the loop's type) and handed to leaky_relu's; noisy_relu
# is relu.  Both then run those kernels' loops and fast paths.
def _rrelu_slope(cdt: np.dtype, lower, upper) -> np.float64:
    if cdt is _validate.F32 or cdt == _validate.F32:
        with np.errstate(all="ignore"):  # a bound beyond float32 is inf there
            return np.float64((np.float32(lower) + np.float32(upper)) * np.float32(0.5))
    return np.float64((float(lower) + float(upper)) * 0.5)


def _rrelu_eval(a: np.float64, lo, hi) -> tuple[str, tuple]:
    # a NaN slope (float32 bounds -inf and inf) keeps rrelu's own kernel:
    # which NaN comes out of x * a for a NaN x depends on the operand order
    return ("leaky_relu", (a,)) if a == a else ("rrelu", (lo, hi))


# Beyond this a bound overflows float32: the generic path takes it
_SLOPE_MAX = 1e38


def _rrelu_slope_fast(dt: np.dtype, lower: float, upper: float) -> np.ndarray:
    """_rrelu_slope for finite float bounds within _SLOPE_MAX, without NumPy
    scalar arithmetic: a float32 sum or half computed in float64 and rounded
    once to float32 is the float32 operation's result (float64 carries more
    than twice float32's precision)."""
    if dt is _validate.F32:
        f = np.float32
        return np.array(float(f(float(f(float(f(lower)) + float(f(upper)))) * 0.5)))
    return np.array((lower + upper) * 0.5)


_EVAL = {
    "rrelu": lambda cdt, lo, hi: _rrelu_eval(_rrelu_slope(cdt, lo, hi), lo, hi),
    "noisy_relu": lambda cdt, std: ("relu", ()),
}
_RELU_FAST = fast_paths(REGISTRY["relu"])
_RRELU_DEFAULT = {
    dt: param_array(_rrelu_slope(dt, *(p.default for p in REGISTRY["rrelu"].params)))
    for dt in (_validate.F32, _validate.F64)
}


def _rrelu_fast(x, lower, upper, training, flag, out, g=None):
    """rrelu's evaluation mode on leaky_relu's fast path, or NotImplemented:
    `flag` (return_noise or noise) unset, the bounds the defaults or floats
    with lower <= upper (what the generic path checks)."""
    if training is not False or flag or type(x) is not np.ndarray:
        return NotImplemented
    dt = x.dtype
    if dt is not _validate.F32 and dt is not _validate.F64:
        return NotImplemented
    if lower is _RRELU_LO and upper is _RRELU_HI:
        a = _RRELU_DEFAULT[dt]
    elif (
        type(lower) is float
        and type(upper) is float
        and -_SLOPE_MAX <= lower <= upper <= _SLOPE_MAX
    ):
        a = _rrelu_slope_fast(dt, lower, upper)
    else:
        return NotImplemented
    return _LEAKY_FAST[0](x, a, out) if g is None else _LEAKY_FAST[1](g, x, a, out)


def _noisy_fast(x, std, training, flag, out, g=None):
    """noisy_relu's evaluation mode on relu's fast path, or NotImplemented."""
    if training is not False or flag:
        return NotImplemented
    if not (std is _NOISY_STD or type(std) is float and std >= 0.0 and std - std == 0.0):
        return NotImplemented
    return _RELU_FAST[0](x, out) if g is None else _RELU_FAST[1](g, x, out)


_RRELU_LO, _RRELU_HI = (p.default for p in REGISTRY["rrelu"].params)
_NOISY_STD = REGISTRY["noisy_relu"].params[0].default


def _draw_rrelu(gen, a, lower, upper):
    # as torch's rrelu_with_noise: slope U(lower, upper) where x <= 0, 1 elsewhere
    noise = gen.uniform(lower, upper, size=a.shape)
    noise[~(a <= 0)] = 1.0
    return "leaky_relu", noise


def _draw_noisy(gen, a, std):
    return "noisy_relu_train", gen.normal(0.0, std, size=a.shape)


# Each public function of the two is a plain function trying its
# evaluation-mode fast path first (without the array_function wrapper's
# cost), then the registered, dispatching one.
@array_function("random", name="rrelu")
def _rrelu_any(
    x, lower=_RRELU_LO, upper=_RRELU_HI, training=False, rng=None, *, return_noise=False, out=None
):
    r = _rrelu_fast(x, lower, upper, training, return_noise, out)
    if r is not NotImplemented:
        return r
    return _random_forward(
        "rrelu", x, (lower, upper), training, rng, return_noise, out, _draw_rrelu
    )


def rrelu(
    x: ArrayLike,
    lower: float = _RRELU_LO,
    upper: float = _RRELU_HI,
    training: bool = False,
    rng=None,
    *,
    return_noise: bool = False,
    out: np.ndarray | None = None,
):
    r = _rrelu_fast(x, lower, upper, training, return_noise, out)
    if r is not NotImplemented:
        return r
    return _rrelu_any(x, lower, upper, training, rng, return_noise=return_noise, out=out)


@array_function("random_backward", ("grad_output", "x"), name="rrelu_backward")
def _rrelu_backward_any(
    grad_output, x, lower=_RRELU_LO, upper=_RRELU_HI, training=False, *, noise=None, out=None
):
    r = _rrelu_fast(x, lower, upper, training, noise is not None, out, grad_output)
    if r is not NotImplemented:
        return r
    return _random_backward(
        "rrelu", "leaky_relu", grad_output, x, (lower, upper), training, noise, out
    )


def rrelu_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    lower: float = _RRELU_LO,
    upper: float = _RRELU_HI,
    training: bool = False,
    *,
    noise=None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    r = _rrelu_fast(x, lower, upper, training, noise is not None, out, grad_output)
    if r is not NotImplemented:
        return r
    return _rrelu_backward_any(grad_output, x, lower, upper, training, noise=noise, out=out)


@array_function("random", name="noisy_relu")
def _noisy_relu_any(x, std=_NOISY_STD, training=False, rng=None, *, return_noise=False, out=None):
    r = _noisy_fast(x, std, training, return_noise, out)
    if r is not NotImplemented:
        return r
    return _random_forward("noisy_relu", x, (std,), training, rng, return_noise, out, _draw_noisy)


def noisy_relu(
    x: ArrayLike,
    std: float = _NOISY_STD,
    training: bool = False,
    rng=None,
    *,
    return_noise: bool = False,
    out: np.ndarray | None = None,
):
    r = _noisy_fast(x, std, training, return_noise, out)
    if r is not NotImplemented:
        return r
    return _noisy_relu_any(x, std, training, rng, return_noise=return_noise, out=out)


@array_function("random_backward", ("grad_output", "x"), name="noisy_relu_backward")
def _noisy_relu_backward_any(
    grad_output, x, std=_NOISY_STD, training=False, *, noise=None, out=None
):
    r = _noisy_fast(x, std, training, noise is not None, out, grad_output)
    if r is not NotImplemented:
        return r
    return _random_backward(
        "noisy_relu", "noisy_relu_train", grad_output, x, (std,), training, noise, out
    )


def noisy_relu_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    std: float = _NOISY_STD,
    training: bool = False,
    *,
    noise=None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    r = _noisy_fast(x, std, training, noise is not None, out, grad_output)
    if r is not NotImplemented:
        return r
    return _noisy_relu_backward_any(grad_output, x, std, training, noise=noise, out=out)


_RANDOM_DOC = """
training : bool, default False
    Evaluation mode is deterministic. In training mode a fresh draw is made
    from ``rng`` for every element.
rng : None, int or numpy.random.Generator
    Source of the draw in training mode (an int seeds a new Generator).
return_noise : bool, default False
    Training mode only: return ``(y, noise)``. Pass ``noise`` to the backward
    so that it uses exactly the draw the forward made."""

_RANDOM_EXAMPLE = """
Training mode, and the backward that reuses the forward's draw:

>>> import numpy as np
>>> x = np.array([-2.0, -1.0, 3.0])
>>> y, noise = fastact.{name}(x, training=True, rng=0, return_noise=True)
>>> g = fastact.{name}_backward(np.ones(3), x, training=True, noise=noise)
"""

rrelu.__doc__ = (
    forward_doc(REGISTRY["rrelu"], "rrelu", _param_doc(REGISTRY["rrelu"]) + _RANDOM_DOC)
    + _RANDOM_EXAMPLE.format(name="rrelu")
    + ">>> bool(np.all(y[:2] == x[:2] * noise[:2]))\nTrue\n"
)
rrelu_backward.__doc__ = backward_doc(
    REGISTRY["rrelu"],
    "rrelu",
    _param_doc(REGISTRY["rrelu"])
    + (
        "\ntraining : bool, default False\nnoise : ndarray, required when training\n"
        "    The draw returned by ``rrelu(..., training=True, return_noise=True)``."
    ),
)
noisy_relu.__doc__ = (
    forward_doc(
        REGISTRY["noisy_relu"], "noisy_relu", _param_doc(REGISTRY["noisy_relu"]) + _RANDOM_DOC
    )
    + _RANDOM_EXAMPLE.format(name="noisy_relu")
    + ">>> bool(np.all(y == np.maximum(x + noise, 0)))\nTrue\n"
)
noisy_relu_backward.__doc__ = backward_doc(
    REGISTRY["noisy_relu"],
    "noisy_relu",
    _param_doc(REGISTRY["noisy_relu"])
    + (
        "\ntraining : bool, default False\nnoise : ndarray, required when training\n"
        "    The draw returned by ``noisy_relu(..., training=True, return_noise=True)``."
    ),
)

for _f in (
    gelu,
    gelu_backward,
    prelu,
    prelu_backward,
    rrelu,
    rrelu_backward,
    noisy_relu,
    noisy_relu_backward,
):
    PUBLIC[_f.__name__] = _f

for _name, _f in PUBLIC.items():
    _f.__module__ = "fastact"
    _f.__qualname__ = _name
