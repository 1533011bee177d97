"""What fastact is timed against: for every public kernel, the idiomatic NumPy
formula a user would write by hand, and torch's own CPU kernel.

Torch backward baselines call the aten backward op that autograd runs (with
the saved tensor autograd would pass it: the output for sigmoid and tanh,
the input elsewhere), so a row compares one kernel with one kernel.  Where
aten has no such op the baseline is autograd's whole backward pass.  Torch
writes into a preallocated result wherever aten has an out= overload, as
fastact does with ``out=``.
``fastact bench`` and the pytest-benchmark suite in ``bench/`` both read
this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fastact.core.registry import REGISTRY

_SCALE, _ALPHA = 1.0507009873554805, 1.6732632423543772


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0, x)


# name -> (forward(x), backward(g, x)) at the default parameters
NUMPY: dict[str, tuple[Callable, Callable]] = {
    "identity": (lambda x: x.copy(), lambda g, x: g.copy()),
    "sigmoid": (_sig, lambda g, x: g * (s := _sig(x)) * (1 - s)),
    "tanh": (np.tanh, lambda g, x: g * (1 - np.tanh(x) ** 2)),
    "relu": (lambda x: np.maximum(x, 0), lambda g, x: np.where(x > 0, g, 0)),
    "leaky_relu": (
        lambda x: np.where(x > 0, x, 0.01 * x),
        lambda g, x: np.where(x > 0, g, 0.01 * g),
    ),
    "elu": (
        lambda x: np.where(x > 0, x, np.expm1(x)),
        lambda g, x: np.where(x > 0, g, g * np.exp(x)),
    ),
    "selu": (
        lambda x: _SCALE * np.where(x > 0, x, _ALPHA * np.expm1(x)),
        lambda g, x: g * _SCALE * np.where(x > 0, 1, _ALPHA * np.exp(x)),
    ),
    "celu": (
        lambda x: np.where(x > 0, x, np.expm1(x)),
        lambda g, x: np.where(x > 0, g, g * np.exp(x)),
    ),
    "prelu": (lambda x: np.where(x > 0, x, 0.25 * x), lambda g, x: np.where(x > 0, g, 0.25 * g)),
    "rrelu": (
        lambda x: np.where(x >= 0, x, x * (0.125 + 1 / 3) / 2),
        lambda g, x: np.where(x > 0, g, g * (0.125 + 1 / 3) / 2),
    ),
    "noisy_relu": (lambda x: np.maximum(x, 0), lambda g, x: np.where(x > 0, g, 0)),
    "silu": (lambda x: x * _sig(x), lambda g, x: g * (s := _sig(x)) * (1 + x * (1 - s))),
    "swish": (lambda x: x * _sig(x), lambda g, x: g * (s := _sig(x)) * (1 + x * (1 - s))),
    "gelu": (None, None),  # needs erf: NumPy has none
    "softplus": (_softplus, lambda g, x: g * _sig(x)),
    "logsigmoid": (lambda x: -_softplus(-x), lambda g, x: g * _sig(-x)),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda g, x: g / (1 + np.abs(x)) ** 2),
    "mish": (
        lambda x: x * np.tanh(_softplus(x)),
        lambda g, x: g * ((t := np.tanh(_softplus(x))) + x * _sig(x) * (1 - t * t)),
    ),
    "hardtanh": (lambda x: np.clip(x, -1, 1), lambda g, x: np.where((x > -1) & (x < 1), g, 0)),
    "relu6": (lambda x: np.clip(x, 0, 6), lambda g, x: np.where((x > 0) & (x < 6), g, 0)),
    "hardsigmoid": (
        lambda x: np.clip(x + 3, 0, 6) / 6,
        lambda g, x: np.where((x > -3) & (x < 3), g / 6, 0),
    ),
    "hardswish": (
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda g, x: np.where(x < -3, 0, np.where(x <= 3, g * (x / 3 + 0.5), g)),
    ),
    "tanhshrink": (lambda x: x - np.tanh(x), lambda g, x: g * np.tanh(x) ** 2),
    "softshrink": (
        lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0)),
        lambda g, x: np.where(np.abs(x) > 0.5, g, 0),
    ),
    "hardshrink": (
        lambda x: np.where(np.abs(x) > 0.5, x, 0),
        lambda g, x: np.where(np.abs(x) > 0.5, g, 0),
    ),
    "threshold": (lambda x: np.where(x > 0.5, x, 0.0), lambda g, x: np.where(x > 0.5, g, 0)),
}

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
    "softmin": lambda a, g, x, y: a.neg(a._softmax_backward_data(g, y, -1, y.dtype)),
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
    "logsigmoid": lambda a, x: a.log_sigmoid_forward(x)[1],
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


def torch_forward_call(case: BenchCase, torch, x, empty=None) -> Callable[[], object]:
    """A zero-argument call of torch's forward for `case` on tensor x, into a
    preallocated output (made by `empty(like)`, default torch.empty_like)
    where aten has an out= overload."""
    empty = empty or torch.empty_like
    with torch.no_grad():
        buf = empty(case.torch_forward(_Preallocated(torch, None), x))
    F = _Preallocated(torch, buf)
    return lambda: case.torch_forward(F, x)


def torch_backward_call(
    case: BenchCase, torch, g, x, empty=None
) -> tuple[Callable[[], object], str]:
    """A zero-argument call of torch's backward for `case` on tensors g, x,
    and what it measures: the aten op alone (into a preallocated gradient
    made by `empty`, as in torch_forward_call), or autograd's forward +
    backward."""
    empty = empty or torch.empty_like
    F, a = _Preallocated(torch, None), torch.ops.aten
    with torch.no_grad():
        saved = TORCH_SAVED.get(case.id, lambda a, t: case.torch_forward(F, t))(a, x)
    if case.torch_backward is not None:
        pa = _Preallocated(torch, empty(x))
        return (lambda: case.torch_backward(pa, g, x, saved)), "aten backward op"
    t = x.detach().clone().requires_grad_(True)

    def autograd():
        return torch.autograd.grad(case.torch_forward(F, t), t, g)[0]

    return autograd, "autograd forward + backward"


@dataclass(frozen=True)
class BenchCase:
    """One public kernel at fixed parameters, with its baselines."""

    id: str  # row label, e.g. "gelu" or "gelu[tanh]"
    name: str  # fastact function
    kwargs: dict = field(default_factory=dict)
    numpy_forward: Callable | None = None
    numpy_backward: Callable | None = None
    torch_forward: Callable | None = None  # (F, t) -> tensor
    torch_backward: Callable | None = None  # (aten, g, x, y) -> tensor
    axis: bool = False  # works along the last axis of (size/1024, 1024) rows
    saved: str = "x"  # what the backward takes: "x", "y" (forward output), "y="
    # (the forward's output by keyword, in place of x: a backward-only row),
    # or "" (no benchmarked backward: maxout's takes indices)


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


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _np_glu(x):
    a, b = np.split(x, 2, axis=-1)
    return a * _sig(b)


def _np_glu_backward(g, x):
    a, b = np.split(x, 2, axis=-1)
    s = _sig(b)
    return np.concatenate([g * s, g * a * s * (1 - s)], axis=-1)


def _axis_cases() -> list[BenchCase]:
    def data_op(name):
        return lambda a, g, x, y: getattr(a, name)(g, y, -1, y.dtype)

    return [
        BenchCase(
            "softmax",
            "softmax",
            {},
            _np_softmax,
            lambda g, y: y * (g - (g * y).sum(axis=-1, keepdims=True)),
            lambda F, t: F._softmax(t, -1, False),
            data_op("_softmax_backward_data"),
            True,
            "y",
        ),
        BenchCase(
            "log_softmax",
            "log_softmax",
            {},
            _np_log_softmax,
            lambda g, y: g - np.exp(y) * g.sum(axis=-1, keepdims=True),
            lambda F, t: F._log_softmax(t, -1, False),
            data_op("_log_softmax_backward_data"),
            True,
            "y",
        ),
        BenchCase(
            "softmin",
            "softmin",
            {},
            lambda x: _np_softmax(-x),
            lambda g, y: -y * (g - (g * y).sum(axis=-1, keepdims=True)),
            lambda F, t: F.softmin(t, dim=-1),
            TORCH_BACKWARD["softmin"],
            True,
            "y",
        ),
        BenchCase(
            "glu",
            "glu",
            {},
            _np_glu,
            _np_glu_backward,
            lambda F, t: F.glu(t, dim=-1),
            lambda a, g, x, y: a.glu_backward(g, x, -1),
            True,
            "x",
        ),
        # torch's fastest maxout is a view and amax over the groups
        BenchCase(
            "maxout[k=4]",
            "maxout",
            {"k": 4},
            lambda x: x.reshape(*x.shape[:-1], -1, 4).max(axis=-1),
            None,
            lambda F, t: F.amax(t.view(*t.shape[:-1], -1, 4), -1),
            None,
            True,
            "",
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
