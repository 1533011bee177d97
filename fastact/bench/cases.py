"""What fastact is timed against: for every public kernel, the NumPy formula a
user would write by hand, and torch's own CPU kernel (ONNX Runtime's and
JAX's are in fastact.bench.peers).

Torch backward baselines call the aten backward op that autograd runs (with
the saved tensor autograd would pass it: the output for sigmoid and tanh,
the input elsewhere), so a row compares one kernel with one kernel.  Where
that op takes what only the forward computes (TORCH_FROM_FORWARD: the
output, log_sigmoid's buffer) and fastact's row takes x, the torch side is
its forward into preallocated tensors plus the op, the work a gradient from
x costs it; the "NAME[y]" rows compare the ops from y alone.  Where
aten has no such op torch has no backward baseline: autograd's whole
forward-and-backward pass is not one kernel.  Torch writes into a
preallocated result wherever aten has an out= overload, as fastact does
with ``out=``, and NumPy into one through its ufuncs' out=.
``fastact bench`` and the pytest-benchmark suite in ``bench/`` both read
this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fastact.core.registry import REGISTRY

_SCALE, _ALPHA = 1.0507009873554805, 1.6732632423543772
_RRELU = (0.125 + 1 / 3) / 2  # rrelu's slope outside training


# The NumPy baselines write into a preallocated `o`, as fastact's out= does,
# computing in place there where NumPy allows it (a temporary only where a
# formula needs two live arrays): what a user who cares for speed writes.
def _copy(x, o):
    np.copyto(o, x)
    return o


def _sig(x, o):
    np.negative(x, out=o)
    np.exp(o, out=o)
    o += 1
    return np.reciprocal(o, out=o)


def _dsig(g, x, o):
    _sig(x, o)
    o *= 1 - o
    o *= g
    return o


def _slope(x, o, a):  # x where x > 0, else a * x (0 <= a < 1)
    np.multiply(x, a, out=o)
    return np.maximum(x, o, out=o)


def _dslope(g, x, o, a):
    np.multiply(g, a, out=o)
    np.copyto(o, g, where=x > 0)
    return o


def _elu(x, o, scale=1.0, alpha=1.0):
    np.expm1(x, out=o)
    if alpha != 1.0:
        o *= alpha
    np.copyto(o, x, where=x > 0)
    if scale != 1.0:
        o *= scale
    return o


def _delu(g, x, o, scale=1.0, alpha=1.0):
    np.exp(x, out=o)
    o *= alpha
    np.copyto(o, 1.0, where=x > 0)
    o *= scale
    o *= g
    return o


def _mask(g, m, o, scale=1.0):  # g where m, else 0
    np.multiply(g, m, out=o)
    if scale != 1.0:
        o *= scale
    return o


def _silu(x, o):
    _sig(x, o)
    o *= x
    return o


def _dsilu(g, x, o):
    _sig(x, o)
    t = 1 - o
    t *= x
    t += 1
    o *= t
    o *= g
    return o


def _logsigmoid(x, o):
    np.negative(x, out=o)
    np.logaddexp(0, o, out=o)
    return np.negative(o, out=o)


def _dlogsigmoid(g, x, o):  # g * sigmoid(-x)
    np.exp(x, out=o)
    o += 1
    np.divide(g, o, out=o)
    return o


def _softsign(x, o):
    np.abs(x, out=o)
    o += 1
    return np.divide(x, o, out=o)


def _dsoftsign(g, x, o):
    np.abs(x, out=o)
    o += 1
    np.square(o, out=o)
    return np.divide(g, o, out=o)


def _mish(x, o):
    np.logaddexp(0, x, out=o)
    np.tanh(o, out=o)
    o *= x
    return o


def _dmish(g, x, o):  # g * (t + x * sigmoid(x) * (1 - t^2)), t = tanh(softplus(x))
    t = np.tanh(np.logaddexp(0, x))
    _sig(x, o)
    o *= x
    o *= 1 - t * t
    o += t
    o *= g
    return o


def _hardsigmoid(x, o):
    np.add(x, 3, out=o)
    np.clip(o, 0, 6, out=o)
    o /= 6
    return o


def _dhardswish(g, x, o):
    np.divide(x, 3, out=o)
    o += 0.5
    np.copyto(o, 0.0, where=x < -3)
    np.copyto(o, 1.0, where=x > 3)
    o *= g
    return o


def _hardswish(x, o):
    _hardsigmoid(x, o)
    o *= x
    return o


def _tanhshrink(x, o):
    np.tanh(x, out=o)
    return np.subtract(x, o, out=o)


def _dtanhshrink(g, x, o):
    np.tanh(x, out=o)
    np.square(o, out=o)
    o *= g
    return o


def _dtanh(g, x, o):
    np.tanh(x, out=o)
    np.square(o, out=o)
    np.subtract(1, o, out=o)
    o *= g
    return o


def _softshrink(x, o):  # x - clip(x, -l, l): x -+ l outside [-l, l], 0 inside
    np.clip(x, -0.5, 0.5, out=o)
    return np.subtract(x, o, out=o)


# name -> (forward(x, o), backward(g, x, o)) at the default parameters
NUMPY: dict[str, tuple[Callable, Callable]] = {
    "identity": (lambda x, o: _copy(x, o), lambda g, x, o: _copy(g, o)),
    "sigmoid": (_sig, _dsig),
    "tanh": (lambda x, o: np.tanh(x, out=o), _dtanh),
    "relu": (lambda x, o: np.maximum(x, 0, out=o), lambda g, x, o: _mask(g, x > 0, o)),
    "leaky_relu": (lambda x, o: _slope(x, o, 0.01), lambda g, x, o: _dslope(g, x, o, 0.01)),
    "elu": (_elu, _delu),
    "selu": (
        lambda x, o: _elu(x, o, _SCALE, _ALPHA),
        lambda g, x, o: _delu(g, x, o, _SCALE, _ALPHA),
    ),
    "celu": (_elu, _delu),
    "prelu": (lambda x, o: _slope(x, o, 0.25), lambda g, x, o: _dslope(g, x, o, 0.25)),
    "rrelu": (lambda x, o: _slope(x, o, _RRELU), lambda g, x, o: _dslope(g, x, o, _RRELU)),
    "noisy_relu": (lambda x, o: np.maximum(x, 0, out=o), lambda g, x, o: _mask(g, x > 0, o)),
    "silu": (_silu, _dsilu),
    "swish": (_silu, _dsilu),
    "gelu": (None, None),  # needs erf: NumPy has none
    "softplus": (lambda x, o: np.logaddexp(0, x, out=o), lambda g, x, o: _mask(g, _sig(x, o), o)),
    "logsigmoid": (_logsigmoid, _dlogsigmoid),
    "softsign": (_softsign, _dsoftsign),
    "mish": (_mish, _dmish),
    "hardtanh": (
        lambda x, o: np.clip(x, -1, 1, out=o),
        lambda g, x, o: _mask(g, (x > -1) & (x < 1), o),
    ),
    "relu6": (
        lambda x, o: np.clip(x, 0, 6, out=o),
        lambda g, x, o: _mask(g, (x > 0) & (x < 6), o),
    ),
    "hardsigmoid": (_hardsigmoid, lambda g, x, o: _mask(g, (x > -3) & (x < 3), o, 1 / 6)),
    "hardswish": (_hardswish, _dhardswish),
    "tanhshrink": (_tanhshrink, _dtanhshrink),
    "softshrink": (_softshrink, lambda g, x, o: _mask(g, np.abs(x) > 0.5, o)),
    "hardshrink": (
        lambda x, o: _mask(x, np.abs(x) > 0.5, o),
        lambda g, x, o: _mask(g, np.abs(x) > 0.5, o),
    ),
    "threshold": (lambda x, o: _mask(x, x > 0.5, o), lambda g, x, o: _mask(g, x > 0.5, o)),
}

# torch backward ops that take what only the forward computes (the output y,
# log_sigmoid's buffer) where fastact's row takes x
TORCH_FROM_FORWARD = frozenset({"sigmoid", "tanh", "logsigmoid"})

# name -> torch backward (aten, g, x, y) -> tensor, for the aten op autograd calls
_SELF = {
    "silu": "silu_backward",
    "mish": "mish_backward",
    "hardsigmoid": "hardsigmoid_backward",
    "hardswish": "hardswish_backward",
}
TORCH_BACKWARD: dict[str, Callable] = {
    **{k: (lambda op: lambda a, g, x, y: getattr(a, op)(g, x))(v) for k, v in _SELF.items()},
    "sigmoid": lambda a, g, x, y: a.sigmoid_backward(g, y),
    "tanh": lambda a, g, x, y: a.tanh_backward(g, y),
    "relu": lambda a, g, x, y: a.threshold_backward(g, y, 0),
    "threshold": lambda a, g, x, y: a.threshold_backward(g, x, 0.5),
    "leaky_relu": lambda a, g, x, y: a.leaky_relu_backward(g, x, 0.01, False),
    "prelu": lambda a, g, x, y: _prelu_backward(a, g, x),
    "rrelu": lambda a, g, x, y: a.leaky_relu_backward(g, x, (0.125 + 1 / 3) / 2, False),
    "elu": lambda a, g, x, y: a.elu_backward(g, 1.0, 1.0, 1.0, False, x),
    "selu": lambda a, g, x, y: a.elu_backward(g, _ALPHA, _SCALE, 1.0, False, x),
    "celu": lambda a, g, x, y: a.elu_backward(g, 1.0, 1.0, 1.0, False, x),
    "swish": lambda a, g, x, y: a.silu_backward(g, x),
    "gelu": lambda a, g, x, y: a.gelu_backward(g, x),
    "gelu_tanh": lambda a, g, x, y: a.gelu_backward(g, x, approximate="tanh"),
    "softplus": lambda a, g, x, y: a.softplus_backward(g, x, 1.0, 20.0),
    "hardtanh": lambda a, g, x, y: a.hardtanh_backward(g, x, -1.0, 1.0),
    "relu6": lambda a, g, x, y: a.hardtanh_backward(g, x, 0.0, 6.0),
    "softshrink": lambda a, g, x, y: a.softshrink_backward(g, x, 0.5),
    "hardshrink": lambda a, g, x, y: a.hardshrink_backward(g, x, 0.5),
    "noisy_relu": lambda a, g, x, y: a.threshold_backward(g, y, 0),
    "logsigmoid": lambda a, g, x, y: a.log_sigmoid_backward(g, x, y),
}
_PRELU_WEIGHT: dict = {}


def _prelu_backward(a, g, x):
    # what autograd runs for F.prelu: both gradients elementwise, then the
    # weight's summed (fastact.prelu_backward returns both too)
    w = _PRELU_WEIGHT.get(x.dtype)
    if w is None:
        w = _PRELU_WEIGHT[x.dtype] = x.new_full((1,), 0.25)
    gi, gw = a._prelu_kernel_backward(g, x, w)
    return gi, gw.sum()


# what autograd saves for the backward op, when it is not the forward output
TORCH_SAVED: dict[str, Callable] = {
    # (aten, x, out): written into the preallocated pair `out` where given
    "logsigmoid": lambda a, x, out=None: (
        a.log_sigmoid_forward(x)
        if out is None
        else a.log_sigmoid_forward.output(x, output=out[0], buffer=out[1])
    )[1],
}


class _Preallocated:
    """Stands in for ``torch.nn.functional`` / ``torch.ops.aten`` in a baseline
    call and sends each op to its out= overload (``out`` or ``grad_input``)
    with a preallocated result, so that torch is timed without allocating,
    as fastact is (the benchmark protocol).  Ops without such an overload run
    as they are, from F, then torch."""

    def __init__(self, torch, buf):
        self._torch, self._buf = torch, buf

    def __getattr__(self, name):
        t = self._torch
        op = getattr(t.ops.aten, name, None)
        if op is not None and self._buf is None:  # plain call (to size the buffer)
            return op
        if op is not None:
            for overload in ("out", "grad_input"):
                if overload in op.overloads():
                    f = getattr(op, overload)
                    outs = [a.name for a in f._schema.arguments if a.is_out]
                    if len(outs) == 1:  # (log_sigmoid_forward writes two)
                        kw = {outs[0]: self._buf}
                        return lambda *args, **kwargs: f(*args, **kwargs, **kw)
            return op
        return getattr(t.nn.functional, name, None) or getattr(t, name)


def torch_forward_call(
    case: BenchCase, torch, x, empty=None, axis: int = -1
) -> Callable[[], object]:
    """A zero-argument call of torch's forward for `case` on tensor x (along
    `axis` for an axis function), into a preallocated output (made by
    `empty(like)`, default torch.empty_like) where aten has an out= overload."""
    empty = empty or torch.empty_like
    fwd = case.torch_forward
    if case.axis:
        fwd = (lambda f: lambda F, t: f(F, t, axis))(fwd)
    with torch.no_grad():
        buf = empty(fwd(_Preallocated(torch, None), x))
    F = _Preallocated(torch, buf)
    return lambda: fwd(F, x)


def torch_backward_call(
    case: BenchCase, torch, g, x, empty=None, axis: int = -1
) -> Callable[[], object] | None:
    """A zero-argument call of the aten backward op autograd runs for `case`
    on tensors g, x, into a preallocated gradient (made by `empty`, as in
    torch_forward_call); None where aten has no such op.  (Autograd's whole
    forward-and-backward pass is no baseline for one backward kernel.)"""
    if case.torch_backward is None:
        return None
    empty = empty or torch.empty_like
    F, a = _Preallocated(torch, None), torch.ops.aten
    fwd, bwd = case.torch_forward, case.torch_backward
    if case.axis:
        fwd = (lambda f: lambda F, t: f(F, t, axis))(fwd)
        bwd = (lambda f: lambda a, g, x, y: f(a, g, x, y, axis))(bwd)
    with torch.no_grad():
        saved = TORCH_SAVED[case.id](a, x) if case.id in TORCH_SAVED else fwd(F, x)
    pa = _Preallocated(torch, empty(x))
    if case.id not in TORCH_FROM_FORWARD:
        return lambda: bwd(pa, g, x, saved)
    if case.id in TORCH_SAVED:
        out = (empty(x), saved)
        return lambda: bwd(pa, g, x, TORCH_SAVED[case.id](a, x, out))
    Fy = _Preallocated(torch, saved)
    return lambda: bwd(pa, g, x, fwd(Fy, x))


@dataclass(frozen=True)
class BenchCase:
    """One public kernel at fixed parameters, with its torch and NumPy baselines
    (the ONNX Runtime and JAX ones are fastact.bench.peers')."""

    id: str  # row label, e.g. "gelu" or "gelu[tanh]"
    name: str  # fastact function
    kwargs: dict = field(default_factory=dict)
    numpy_forward: Callable | None = None  # (x, o[, axis]): writes o
    numpy_backward: Callable | None = None  # (g, saved, o[, axis]): writes o
    torch_forward: Callable | None = None  # (F, t[, axis]) -> tensor
    torch_backward: Callable | None = None  # (aten, g, x, y[, axis]) -> tensor
    axis: bool = False  # works along an axis of (size/1024, 1024) rows
    saved: str = "x"  # what the backward takes: "x", "y" (the forward's
    # output), "y=" (the forward's output by keyword, in place of x: a
    # backward-only row) or "indices" (maxout's argmax indices)


# the parameters a benchmark uses where the function has no default
_KWARGS = {"threshold": {"threshold": 0.5, "value": 0.0}}


def _elementwise_cases() -> list[BenchCase]:
    cases = []
    for e in REGISTRY.values():
        if not e.public:
            continue
        kwargs = _KWARGS.get(e.name, {p.name: p.default for p in e.params})
        params = list(kwargs.values())
        torch_fwd = (
            (lambda ent, ps: lambda F, t: ent.torch(F, t, *ps))(e, params) if e.torch else None
        )
        npf, npb = NUMPY.get(e.name, (None, None))
        cases.append(
            BenchCase(e.name, e.name, kwargs, npf, npb, torch_fwd, TORCH_BACKWARD.get(e.name))
        )
    tanh = REGISTRY["gelu_tanh"]
    cases.append(
        BenchCase(
            "gelu[tanh]",
            "gelu",
            {"approximate": "tanh"},
            None,
            None,
            lambda F, t: tanh.torch(F, t),
            TORCH_BACKWARD["gelu_tanh"],
        )
    )
    return cases


def _np_softmax(x, o, axis, sign=1):
    if sign != 1:
        x = np.negative(x, out=o)
    np.subtract(x, x.max(axis=axis, keepdims=True), out=o)
    np.exp(o, out=o)
    o /= o.sum(axis=axis, keepdims=True)
    return o


def _np_log_softmax(x, o, axis):
    np.subtract(x, x.max(axis=axis, keepdims=True), out=o)
    o -= np.log(np.exp(o).sum(axis=axis, keepdims=True))
    return o


def _np_softmax_backward(g, y, o, axis, sign=1):
    np.multiply(g, y, out=o)
    s = o.sum(axis=axis, keepdims=True)
    np.subtract(g, s, out=o)
    o *= y
    if sign != 1:
        np.negative(o, out=o)
    return o


def _np_log_softmax_backward(g, y, o, axis):
    s = g.sum(axis=axis, keepdims=True)
    np.exp(y, out=o)
    o *= s
    return np.subtract(g, o, out=o)


def _np_glu(x, o, axis):
    a, b = np.split(x, 2, axis=axis)
    _sig(b, o)
    o *= a
    return o


def _np_glu_backward(g, x, o, axis):
    a, b = np.split(x, 2, axis=axis)
    oa, ob = np.split(o, 2, axis=axis)
    _sig(b, oa)  # s
    np.subtract(1, oa, out=ob)
    ob *= oa
    ob *= a
    ob *= g  # g a s (1 - s)
    oa *= g  # g s
    return o


def _np_maxout(x, o, axis):
    return np.max(x.reshape(*x.shape[:-1], -1, 4), axis=-1, out=o)


def _np_maxout_backward(g, idx, o, axis):
    o[...] = 0
    np.put_along_axis(o, idx, g, axis=-1)
    return o


def _axis_cases() -> list[BenchCase]:
    def data_op(name, sign=1):
        if sign == 1:
            return lambda a, g, x, y, ax: getattr(a, name)(g, y, ax, y.dtype)
        return lambda a, g, x, y, ax: a.neg(getattr(a, name)(g, y, ax, y.dtype))

    return [
        BenchCase(
            "softmax",
            "softmax",
            {},
            _np_softmax,
            _np_softmax_backward,
            lambda F, t, ax: F._softmax(t, ax, False),
            data_op("_softmax_backward_data"),
            True,
            "y",
        ),
        BenchCase(
            "log_softmax",
            "log_softmax",
            {},
            _np_log_softmax,
            _np_log_softmax_backward,
            lambda F, t, ax: F._log_softmax(t, ax, False),
            data_op("_log_softmax_backward_data"),
            True,
            "y",
        ),
        BenchCase(
            "softmin",
            "softmin",
            {},
            lambda x, o, ax: _np_softmax(x, o, ax, -1),
            lambda g, y, o, ax: _np_softmax_backward(g, y, o, ax, -1),
            lambda F, t, ax: F.softmin(t, dim=ax),
            data_op("_softmax_backward_data", -1),
            True,
            "y",
        ),
        BenchCase(
            "glu",
            "glu",
            {},
            _np_glu,
            _np_glu_backward,
            lambda F, t, ax: F.glu(t, dim=ax),
            lambda a, g, x, y, ax: a.glu_backward(g, x, ax),
            True,
            "x",
        ),
        # torch's fastest maxout is a view and amax over the groups; its
        # backward has no aten op (autograd's is a scatter): NumPy only
        BenchCase(
            "maxout[k=4]",
            "maxout",
            {"k": 4},
            _np_maxout,
            _np_maxout_backward,
            lambda F, t, ax: F.amax(t.view(*t.shape[:-1], -1, 4), -1),
            None,
            True,
            "indices",
        ),
    ]


# ---------------------------------------------------------------------------
# Elementwise backwards from the forward's output (``NAME_backward(g, y=y)``),
# each against torch's op from the result: the (function, torch op) pairs
# are the registry's from_y entries that name one (``from_y.torch``), at
# the default parameters.  Rows "NAME[y] bwd"; backward only.


def _from_y_cases() -> list[BenchCase]:
    cases = []
    for e in REGISTRY.values():
        if not (e.public and e.from_y is not None and e.from_y.torch is not None):
            continue
        kwargs = {p.name: p.default for p in e.params}
        params = list(kwargs.values())
        fwd = (lambda ent, vs: lambda F, t: ent.torch(F, t, *vs))(e, params)
        op = (lambda ent, vs: lambda a, g, x, y: ent.from_y.torch(a, g, y, *vs))(e, params)
        cases.append(
            BenchCase(
                f"{e.name}[y]", e.name, kwargs, torch_forward=fwd, torch_backward=op, saved="y="
            )
        )
    return cases


CASES: list[BenchCase] = _elementwise_cases() + _axis_cases() + _from_y_cases()
BY_ID: dict[str, BenchCase] = {c.id: c for c in CASES}
