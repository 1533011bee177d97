"""The single place an elementwise function lives.

Each entry is a class body holding, side by side:

- ``forward(x, *params)`` and ``backward(g, x, *params)``: scalar kernels in
  the numba subset, written once through ``core.math`` (the loop generator
  compiles them into float32 and float64 ufunc loops, each computing in its
  own type; see ``core.typed.retype``);
- ``reference(mp, x, *params)`` and ``dreference(mp, x, *params)``: the
  high-precision truth, written with the ``mpmath`` module passed in (so the
  package never imports mpmath);
- ``torch(F, x, *params)``: the torch baseline (``F`` is
  ``torch.nn.functional``), or absent where torch has no such function;
- ``params``, a one-line ``summary``, the ``formula``, and an ``example``;
- optionally ``breakpoints(*params)``: the x where the definition switches
  branch (kinks, clips, thresholds), so that the tests can check torch's
  choice there, exactly at the point and one ULP either side;
- optionally a nested class ``from_y``: the backward computed from the
  forward's output y instead of x (see ``FromOutput``), for the entries whose
  derivative is as cheap or cheaper from y and is determined by y.
- optionally a fast path: ``fast_range(*params)`` -> (lo, hi) and
  ``fast_forward`` / ``fast_backward`` with the signatures of ``forward`` /
  ``backward``, bit-equal to them for every x in [lo, hi] (no NaN) and
  cheaper (no handling of tails, special values or subnormal results).
  The ufunc loops check the inputs of each call (a thread's chunk) and
  take the fast kernel when all its x lie in the range, the full one
  otherwise; since both give the same bits there, the result does not
  depend on how a call is split into chunks or threads
  (tests/cpu/test_fastpath.py checks the equality).  ``fast_blocks = True``
  retries the check per block of such a call (where the full kernel costs
  far more than the fast one).  ``fast_fused = True`` (for cheap kernels,
  whose large calls are bound by memory) checks a large call while running
  the fast kernel over it and repairs the blocks that held values outside
  the range, instead of reading x once more for a check ahead.
  ``fast_types`` (default: both) names the loop types that take the fast
  path, for entries whose other type has a kernel as short as a fast one.

Kinks follow torch's choice of derivative.  Comparisons are written so that
NaN falls through to the branch that propagates it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from fastact.core import math as m
from fastact.core.typed import per_type


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    # finite | any (inf allowed) | positive | nonneg | nonzero
    check: str = "finite"


@dataclass(frozen=True)
class FromOutput:
    """The backward from the forward's output y: ``backward(g, y, *params)``.

    Offered where y determines the derivative (y tells which branch x was on)
    and computing it from y costs no more than from x.  ``dreference(mp, y,
    *params)`` is the derivative as a function of y, in high precision: the
    kernel is measured against it at the given y (what y lost of x is lost).
    A y outside the forward's range is not rejected: the result is the
    formula's value there, as torch computes it; y = NaN gives NaN.
    """

    formula: str  # the derivative in terms of y, for the docs
    backward: Callable
    dreference: Callable
    # check(*params) -> error message or None: parameters for which y does
    # not tell the branch of x (elu's alpha < 0, leaky_relu's slope < 0)
    check: Callable | None = None
    # torch(aten, g, y, *params): torch's backward from the result
    # (``aten`` is ``torch.ops.aten``), or absent where torch has none
    torch: Callable | None = None
    torch_differs: str = ""


def _from_output(cls) -> FromOutput | None:
    if cls is None:
        return None
    ns = vars(cls)
    return FromOutput(
        formula=ns["formula"],
        backward=ns["backward"],
        dreference=ns["dreference"],
        check=ns.get("check"),
        torch=ns.get("torch"),
        torch_differs=ns.get("torch_differs", ""),
    )


# the scalar kernels of an entry, by the name its ufuncs are built under
WHICH = ("forward", "backward", "backward_y")


@dataclass(frozen=True)
class Elementwise:
    name: str
    summary: str
    formula: str
    params: tuple[Param, ...]
    forward: Callable
    backward: Callable
    reference: Callable
    dreference: Callable
    torch: Callable | None
    example: tuple | None  # (input, params, expected forward)
    dexample: list | None  # expected derivative at the example's input
    # extra parameter sets the tests sweep besides the defaults
    test_params: tuple[dict, ...] = ()
    # where the kernel may legitimately differ from torch on special values
    torch_differs: str = ""
    public: bool = True
    # check(*params) -> error message or None, for rules between parameters
    check: Callable | None = None
    aliases: tuple[str, ...] = field(default=())
    # breakpoints(*params) -> the x where the definition switches branch
    breakpoints: Callable | None = None
    from_y: FromOutput | None = None
    # the fast path (see the module docstring): fast_range(*params) -> (lo, hi)
    fast_range: Callable | None = None
    fast_forward: Callable | None = None
    fast_backward: Callable | None = None
    # retry the fast kernel block by block where a call's x are not all in
    # the range (pays where the full kernel costs far more than the fast one)
    fast_blocks: bool = False
    # check a large call's x in the fast kernel's own loop (cheap kernels)
    fast_fused: bool = False
    # the loop types that take the fast path
    fast_types: tuple[str, ...] = ("float32", "float64")
    # (entry, {param: value}): at these parameter values the function is that
    # parameterless entry's, bit for bit (tests/core/test_registry.py sweeps
    # it), and the public functions run its kernels, which may be shorter
    same_as: tuple[str, dict] | None = None
    # a few operations per element: its loops wait on memory, not arithmetic
    # (cpu/isa.py narrow(): 256-bit vectors where zmm code costs clock speed)
    memory_bound: bool = False

    def kernel(self, which: str) -> Callable:
        """The scalar kernel `which` (one of ``WHICH``)."""
        if which == "forward":
            return self.forward
        if which == "backward":
            return self.backward
        if which == "backward_y" and self.from_y is not None:
            return self.from_y.backward
        raise ValueError(f"{self.name} has no {which!r} kernel")

    def is_memory_bound(self, which: str) -> bool:
        """Whether kernel `which` is memory-bound: the entry's flag, and every
        backward from y (a product or two per element)."""
        return self.memory_bound or which == "backward_y"

    def arity(self, which: str) -> int:
        """Number of inputs of kernel `which`: the arrays, then the parameters."""
        return (1 if which == "forward" else 2) + len(self.params)


REGISTRY: dict[str, Elementwise] = {}


def elementwise(cls) -> Elementwise:
    ns = vars(cls)
    entry = Elementwise(
        name=cls.__name__,
        summary=ns["summary"],
        formula=ns["formula"],
        params=tuple(ns.get("params", ())),
        forward=ns["forward"],
        backward=ns["backward"],
        reference=ns["reference"],
        dreference=ns["dreference"],
        torch=ns.get("torch"),
        example=ns["example"],
        dexample=ns.get("dexample"),
        test_params=tuple(ns.get("test_params", ())),
        torch_differs=ns.get("torch_differs", ""),
        public=ns.get("public", True),
        check=ns.get("check"),
        aliases=tuple(ns.get("aliases", ())),
        breakpoints=ns.get("breakpoints"),
        from_y=_from_output(ns.get("from_y")),
        fast_range=ns.get("fast_range"),
        fast_forward=ns.get("fast_forward"),
        fast_backward=ns.get("fast_backward"),
        fast_blocks=ns.get("fast_blocks", False),
        fast_fused=ns.get("fast_fused", False),
        fast_types=tuple(ns.get("fast_types", Elementwise.fast_types)),
        same_as=ns.get("same_as"),
        memory_bound=ns.get("memory_bound", False),
    )
    REGISTRY[entry.name] = entry
    return entry


# --------------------------------------------------------------------------
# mpmath helpers for the references (take the mpmath module as `mp`)

# Beyond |x| = _MP_BIG, e^-|x| is far below the smallest float64 subnormal:
# the references short-cut there instead of asking mpmath for exp(-1e300).
_MP_BIG = 1e5


def _mp_sigmoid(mp, x):
    if abs(x) > _MP_BIG:
        return mp.mpf(1 if x > 0 else 0)
    if x >= 0:
        return 1 / (1 + mp.exp(-x))
    e = mp.exp(x)
    return e / (1 + e)


def _mp_dsigmoid(mp, x):
    if abs(x) > _MP_BIG:
        return mp.mpf(0)
    e = mp.exp(-abs(x))
    return e / (1 + e) ** 2


def _mp_softplus(mp, x):
    if abs(x) > _MP_BIG:
        return max(x, 0)
    return max(x, 0) + mp.log1p(mp.exp(-abs(x)))


def _g_where_y_nonzero(g, y, lambd):
    # the shrink functions: y == 0 exactly where |x| <= lambd (x - lambd of
    # two different floats is never 0), so y alone gives the branch
    return 0.0 if y == 0.0 else (g if y == y else y)


# --------------------------------------------------------------------------


@elementwise
class identity:
    summary = "Identity: returns x unchanged (a copy)."
    memory_bound = True
    formula = "x"
    example = ([-1.0, 0.0, 2.0], {}, [-1.0, 0.0, 2.0])
    dexample = [1.0, 1.0, 1.0]

    def forward(x):
        return x

    def backward(g, x):
        return g

    def reference(mp, x):
        return x

    def dreference(mp, x):
        return mp.mpf(1)

    def torch(F, x):
        return x * 1

    class from_y:
        formula = "1"

        def backward(g, y):
            return g if y == y else y

        def dreference(mp, y):
            return mp.mpf(1)


@elementwise
class sigmoid:
    summary = "Logistic sigmoid."
    formula = "1 / (1 + exp(-x)); float64 evaluates exp(x) / (1 + exp(x)) for x < 0"
    example = ([-1.0, 0.0, 1.0], {}, [0.26894142, 0.5, 0.73105858])
    dexample = [0.19661193, 0.25, 0.19661193]

    def forward(x):
        return m.sigmoid_short(x)

    def backward(g, x):
        return g * m.dsigmoid(x)

    fast_fused = True

    def fast_range():
        return m.fast_range()

    def fast_forward(x):
        return m.sigmoid_fast(x)

    def fast_backward(g, x):
        return g * m.dsigmoid_fast(x)

    def reference(mp, x):
        return _mp_sigmoid(mp, x)

    def dreference(mp, x):
        return _mp_dsigmoid(mp, x)

    def torch(F, x):
        return F.sigmoid(x)

    class from_y:
        formula = "y * (1 - y)"

        def backward(g, y):
            # torch's order: (g * (1 - y)) * y; 1 - y is exact for y >= 0.5
            return g * (1.0 - y) * y

        def dreference(mp, y):
            return y * (1 - y)

        def torch(aten, g, y):
            return aten.sigmoid_backward(g, y)


@elementwise
class tanh:
    summary = "Hyperbolic tangent."
    formula = "tanh(x)"
    example = ([-1.0, 0.0, 1.0], {}, [-0.76159416, 0.0, 0.76159416])
    dexample = [0.41997434, 1.0, 0.41997434]

    def forward(x):
        return m.tanh(x)

    def backward(g, x):
        return g * m.dtanh_short(x)

    fast_fused = True

    def fast_range():
        return m.dtanh_fast_range()

    def fast_backward(g, x):
        return g * m.dtanh_fast(x)

    def reference(mp, x):
        return mp.tanh(x)

    def dreference(mp, x):
        return mp.mpf(0) if abs(x) > _MP_BIG else mp.sech(x) ** 2

    def torch(F, x):
        return F.tanh(x)

    class from_y:
        formula = "1 - y**2"

        def backward(g, y):
            # one rounding for 1 - y*y: rounding y*y first would cost up to
            # ~|y|^2 / (1 - y^2) ULP as |y| nears 1
            return g * m.fma(-y, y, 1.0)

        def dreference(mp, y):
            return 1 - y**2

        def torch(aten, g, y):
            return aten.tanh_backward(g, y)


@elementwise
class relu:
    summary = "Rectified linear unit."
    memory_bound = True
    formula = "max(0, x)"
    example = ([-1.0, 0.0, 2.0], {}, [0.0, 0.0, 2.0])
    dexample = [0.0, 0.0, 1.0]

    def breakpoints():
        return (0.0,)

    def forward(x):
        return 0.0 if x < 0.0 else x

    def backward(g, x):
        return 0.0 if x <= 0.0 else g

    def reference(mp, x):
        return max(x, 0)

    def dreference(mp, x):
        return mp.mpf(1 if x > 0 else 0)

    def torch(F, x):
        return F.relu(x)

    class from_y:
        formula = "1 if y > 0 else 0"
        torch_differs = "torch's threshold_backward gives grad_output at y = NaN; fastact gives NaN"

        def backward(g, y):
            return g if y > 0.0 else (0.0 if y <= 0.0 else y)

        def dreference(mp, y):
            return mp.mpf(1 if y > 0 else 0)

        def torch(aten, g, y):
            return aten.threshold_backward(g, y, 0)


@elementwise
class leaky_relu:
    summary = "Leaky ReLU."
    memory_bound = True
    formula = "x if x > 0 else negative_slope * x"
    params = (Param("negative_slope", 0.01, "finite"),)
    test_params = ({"negative_slope": 0.2},)
    example = ([-2.0, 0.0, 2.0], {}, [-0.02, 0.0, 2.0])
    dexample = [0.01, 0.01, 1.0]

    def breakpoints(a):
        return (0.0,)

    def forward(x, a):
        return x if x > 0.0 else a * x

    def backward(g, x, a):
        return g if x > 0.0 else g * a

    def reference(mp, x, a):
        return x if x > 0 else a * x

    def dreference(mp, x, a):
        return mp.mpf(1) if x > 0 else mp.mpf(a)

    def torch(F, x, a):
        return F.leaky_relu(x, a)

    class from_y:
        formula = "1 if y > 0 else negative_slope (negative_slope >= 0)"
        torch_differs = "torch gives grad_output * negative_slope at y = NaN; fastact gives NaN"

        def check(a):
            # a >= 0 keeps the sign of x in y (a = 0 included: y = 0 for x <= 0)
            if a >= 0:
                return None
            return (
                f"y= needs negative_slope >= 0, got {a}: with a negative slope y > 0 "
                "for x < 0 too, so y does not tell the branch; pass x"
            )

        def backward(g, y, a):
            return g if y > 0.0 else (g * a if y <= 0.0 else y)

        def dreference(mp, y, a):
            return mp.mpf(1) if y > 0 else mp.mpf(a)

        def torch(aten, g, y, a):
            return aten.leaky_relu_backward(g, y, a, True)


@elementwise
class elu:
    summary = "Exponential linear unit."
    formula = "x if x > 0 else alpha * (exp(x) - 1)"
    params = (Param("alpha", 1.0, "finite"),)
    test_params = ({"alpha": 0.5},)
    example = ([-1.0, 0.0, 2.0], {}, [-0.63212056, 0.0, 2.0])
    dexample = [0.36787944, 1.0, 1.0]

    def breakpoints(alpha):
        return (0.0,)

    def forward(x, alpha):
        return x if x > 0.0 else alpha * m.expm1(x)

    def backward(g, x, alpha):
        return g * (alpha * m.exp(x)) if x <= 0.0 else g

    def reference(mp, x, alpha):
        return x if x > 0 else alpha * mp.expm1(x)

    def dreference(mp, x, alpha):
        return mp.mpf(1) if x > 0 else alpha * mp.exp(x)

    def torch(F, x, alpha):
        return F.elu(x, alpha)

    class from_y:
        formula = "1 if y > 0 else y + alpha (alpha >= 0)"
        torch_differs = "torch gives grad_output at y = NaN; fastact gives NaN"

        def check(alpha):
            if alpha >= 0:
                return None
            return (
                f"y= needs alpha >= 0, got {alpha}: with a negative alpha y > 0 for "
                "x < 0 too, so y does not tell the branch; pass x"
            )

        def backward(g, y, alpha):
            # alpha e^x = y + alpha: exact where it cancels (y near -alpha)
            return g if y > 0.0 else g * (y + alpha)

        def dreference(mp, y, alpha):
            return mp.mpf(1) if y > 0 else y + alpha

        def torch(aten, g, y, alpha):
            return aten.elu_backward(g, alpha, 1.0, 1.0, True, y)


_SELU_SCALE_TEXT = "1.0507009873554804934193349852946"
_SELU_ALPHA_TEXT = "1.6732632423543772848170429916717"
_SELU_SCALE = float(_SELU_SCALE_TEXT)
_SELU_ALPHA = float(_SELU_ALPHA_TEXT)
_SELU_SA = 1.7580993408473768  # round(scale * alpha)
# scale * alpha (of the decimal constants) - _SELU_SA rounded to each type:
# y + scale * alpha cancels as y nears -scale * alpha, where the rounding of
# the constant would be all that is left
_SELU_SA_LO32 = 2.3296717444054593e-08
_SELU_SA_LO64 = 1.41535193800845e-17


@elementwise
class selu:
    summary = "Scaled exponential linear unit (torch's constants)."
    formula = "scale * (x if x > 0 else alpha * (exp(x) - 1)), scale=1.0507..., alpha=1.6732..."
    example = ([-1.0, 0.0, 2.0], {}, [-1.11133074, 0.0, 2.10140197])
    dexample = [0.6467686, 1.75809934, 1.05070099]

    def breakpoints():
        return (0.0,)

    def forward(x):
        return _SELU_SCALE * x if x > 0.0 else _SELU_SA * m.expm1(x)

    def backward(g, x):
        return g * (_SELU_SA * m.exp(x)) if x <= 0.0 else g * _SELU_SCALE

    def reference(mp, x):
        s, a = mp.mpf(_SELU_SCALE), mp.mpf(_SELU_ALPHA)
        return s * x if x > 0 else s * a * mp.expm1(x)

    def dreference(mp, x):
        s, a = mp.mpf(_SELU_SCALE), mp.mpf(_SELU_ALPHA)
        return s if x > 0 else s * a * mp.exp(x)

    def torch(F, x):
        return F.selu(x)

    class from_y:
        formula = "scale if y > 0 else y + scale * alpha"
        torch_differs = "torch gives grad_output * scale at y = NaN; fastact gives NaN"

        def backward(g, y):
            return (
                g * _SELU_SCALE
                if y > 0.0
                else g * ((y + _SELU_SA) + per_type(_SELU_SA_LO32, _SELU_SA_LO64))
            )

        def dreference(mp, y):
            s, a = mp.mpf(_SELU_SCALE_TEXT), mp.mpf(_SELU_ALPHA_TEXT)
            return s if y > 0 else y + s * a

        def torch(aten, g, y):
            return aten.elu_backward(g, _SELU_ALPHA, _SELU_SCALE, 1.0, True, y)


@elementwise
class celu:
    summary = "Continuously differentiable ELU."
    formula = "max(0, x) + min(0, alpha * (exp(x / alpha) - 1))"
    params = (Param("alpha", 1.0, "nonzero"),)
    test_params = ({"alpha": 0.5},)
    example = ([-1.0, 0.0, 2.0], {}, [-0.63212056, 0.0, 2.0])
    dexample = [0.36787944, 1.0, 1.0]

    def breakpoints(alpha):
        return (0.0,)

    def forward(x, alpha):
        return x if x > 0.0 else alpha * m.expm1(x / alpha)

    def backward(g, x, alpha):
        q, r = m.div_dd(x, alpha)
        return g if not x <= 0.0 else g * (m.exp(q) * (1.0 + r))

    def reference(mp, x, alpha):
        return x if x > 0 else alpha * mp.expm1(x / alpha)

    def dreference(mp, x, alpha):
        return mp.mpf(1) if x > 0 else mp.exp(x / alpha)

    def torch(F, x, alpha):
        return F.celu(x, alpha)

    class from_y:
        # any alpha != 0: for x <= 0, y = alpha (exp(x / alpha) - 1) <= 0 for
        # either sign of alpha, and y = x > 0 for x > 0
        formula = "1 if y > 0 else (y + alpha) / alpha"
        torch_differs = "torch gives grad_output at y = NaN; fastact gives NaN"

        def backward(g, y, alpha):
            # exp(x / alpha) = (y + alpha) / alpha, y + alpha exact where it cancels
            return g if y > 0.0 else g * ((y + alpha) / alpha)

        def dreference(mp, y, alpha):
            return mp.mpf(1) if y > 0 else (y + alpha) / alpha

        def torch(aten, g, y, alpha):
            return aten.elu_backward(g, alpha, 1.0, 1.0 / alpha, True, y)


@elementwise
class prelu:
    summary = "Parametric ReLU with a learned slope per channel."
    memory_bound = True
    formula = "x if x > 0 else weight[c] * x  (c: channel, axis 1 when ndim >= 2)"
    params = (Param("weight", 0.25, "finite"),)
    test_params = ({"weight": -0.3},)
    example = ([-2.0, 0.0, 2.0], {"weight": 0.25}, [-0.5, 0.0, 2.0])
    dexample = [0.25, 0.25, 1.0]

    def breakpoints(w):
        return (0.0,)

    def forward(x, w):
        return x if x > 0.0 else w * x

    def backward(g, x, w):
        return g if x > 0.0 else g * w

    def reference(mp, x, w):
        return x if x > 0 else w * x

    def dreference(mp, x, w):
        return mp.mpf(1) if x > 0 else mp.mpf(w)

    def torch(F, x, w):
        import torch

        return F.prelu(x, torch.tensor([w], dtype=x.dtype))


@elementwise
class prelu_weight_grad:
    summary = "PReLU weight-gradient terms g * x where x <= 0 (summed by the caller)."
    memory_bound = True
    formula = "0 if x > 0 else g * x"
    public = False
    example = None

    def forward(x):
        return x

    def backward(g, x):
        return 0.0 if x > 0.0 else g * x

    def reference(mp, x):
        return x

    def dreference(mp, x):
        return mp.mpf(0) if x > 0 else x


@elementwise
class rrelu:
    summary = "Randomized leaky ReLU (evaluation mode: slope (lower + upper) / 2)."
    memory_bound = True
    formula = "x if x >= 0 else a * x, a = (lower + upper) / 2 (training: a ~ U(lower, upper))"
    params = (Param("lower", 1.0 / 8.0, "finite"), Param("upper", 1.0 / 3.0, "finite"))
    test_params = ({"lower": 0.1, "upper": 0.3},)

    def check(lo, hi):
        return None if lo <= hi else f"lower ({lo}) must not be greater than upper ({hi})"

    example = ([-2.0, 0.0, 2.0], {}, [-0.45833333, 0.0, 2.0])
    dexample = [0.22916667, 0.22916667, 1.0]

    def breakpoints(lo, hi):
        return (0.0,)

    def forward(x, lo, hi):
        return x if x > 0.0 else x * ((lo + hi) * 0.5)

    def backward(g, x, lo, hi):
        return g if x > 0.0 else g * ((lo + hi) * 0.5)

    def reference(mp, x, lo, hi):
        return x if x > 0 else x * (mp.mpf(lo) + hi) / 2

    def dreference(mp, x, lo, hi):
        return mp.mpf(1) if x > 0 else (mp.mpf(lo) + hi) / 2

    def torch(F, x, lo, hi):
        return F.rrelu(x, lo, hi, training=False)


@elementwise
class noisy_relu:
    summary = "Noisy ReLU (evaluation mode: plain ReLU; training adds N(0, std) noise)."
    memory_bound = True
    formula = "max(0, x) (training: max(0, x + n), n ~ N(0, std))"
    params = (Param("std", 1.0, "nonneg"),)
    example = ([-1.0, 0.0, 2.0], {}, [0.0, 0.0, 2.0])
    dexample = [0.0, 0.0, 1.0]
    torch_differs = "torch has no noisy ReLU; its baseline is relu"

    def breakpoints(std):
        return (0.0,)

    def forward(x, std):
        return 0.0 if x < 0.0 else x

    def backward(g, x, std):
        return 0.0 if x <= 0.0 else g

    def reference(mp, x, std):
        return max(x, 0)

    def dreference(mp, x, std):
        return mp.mpf(1 if x > 0 else 0)

    def torch(F, x, std):
        return F.relu(x)


@elementwise
class noisy_relu_train:
    summary = "Noisy ReLU with a given noise value n (training mode)."
    memory_bound = True
    formula = "max(0, x + n)"
    params = (Param("noise", 0.0, "any"),)
    public = False
    example = None

    def forward(x, n):
        s = x + n
        return 0.0 if s <= 0.0 else s

    def backward(g, x, n):
        return 0.0 if x + n <= 0.0 else g

    def reference(mp, x, n):
        return max(x + n, 0)

    def dreference(mp, x, n):
        return mp.mpf(1 if x + n > 0 else 0)


@elementwise
class silu:
    summary = "Sigmoid-weighted linear unit (swish with beta = 1)."
    formula = "x * sigmoid(x)"
    example = ([-1.0, 0.0, 1.0], {}, [-0.26894142, 0.0, 0.73105858])
    dexample = [0.07232949, 0.5, 0.92767051]

    def forward(x):
        return m.mul_sigmoid(x)

    def backward(g, x):
        return g * m.dsilu_dd(x, 0.0)

    fast_blocks = True
    fast_fused = True

    def fast_range():
        return m.dsilu_fast_range()

    def fast_forward(x):
        return m.mul_sigmoid_fast(x)

    def fast_backward(g, x):
        return g * m.dsilu_fast_x(x)

    def reference(mp, x):
        return x * _mp_sigmoid(mp, x)

    def dreference(mp, x):
        return _mp_sigmoid(mp, x) * (1 + x * _mp_sigmoid(mp, -x))

    def torch(F, x):
        return F.silu(x)


@elementwise
class swish:
    summary = "Swish with a slope: x * sigmoid(beta * x)."
    formula = "x * sigmoid(beta * x)"
    params = (Param("beta", 1.0, "finite"),)
    test_params = ({"beta": 1.702}, {"beta": 0.5})
    # beta = 1: silu, whose kernels skip the product beta x and its low part
    same_as = ("silu", {"beta": 1.0})
    example = ([-1.0, 0.0, 1.0], {}, [-0.26894142, 0.0, 0.73105858])
    dexample = [0.07232949, 0.5, 0.92767051]

    def forward(x, beta):
        # beta * x exactly as zh + zl: exp(z) turns the rounding of the
        # product into |z| ULP
        zh, zl = m.two_prod(beta, x)
        return m.mul_sigmoid_dd(x, zh, zl)

    def backward(g, x, beta):
        # d/dx x sigmoid(b x) = s(bx) (1 + bx s(-bx)) = silu'(b x): the root
        # of swish' is silu's root over beta, and silu's fit serves
        zh, zl = m.two_prod(beta, x)
        return g * m.dsilu_dd(zh, zl)

    fast_blocks = True
    fast_fused = True

    def fast_range(beta):
        return m.swish_fast_range(beta)

    def fast_forward(x, beta):
        # beta x finite here: two_prod's guard for an overflowing product
        # is not needed
        zh = beta * x
        return m.mul_sigmoid_dd_fast(x, zh, m.fma(beta, x, -zh))

    def fast_backward(g, x, beta):
        zh, zl = m.two_prod(beta, x)
        return g * m.dsilu_fast(zh, zl)

    def reference(mp, x, beta):
        return x * _mp_sigmoid(mp, beta * x)

    def dreference(mp, x, beta):
        z = beta * x
        return _mp_sigmoid(mp, z) * (1 + z * _mp_sigmoid(mp, -z))

    def torch(F, x, beta):
        import torch

        return x * torch.sigmoid(beta * x)


@elementwise
class gelu:
    summary = "Gaussian error linear unit, exact form."
    formula = "x * Phi(x), Phi the standard normal CDF"
    example = ([-1.0, 0.0, 1.0], {}, [-0.15865525, 0.0, 0.84134475])
    dexample = [-0.08331547, 0.5, 1.08331547]

    def forward(x):
        return m.gelu(x)

    def backward(g, x):
        return g * m.dgelu(x)

    def reference(mp, x):
        if abs(x) > _MP_BIG:
            return x if x > 0 else mp.mpf(0)
        return x * mp.ncdf(x)

    def dreference(mp, x):
        if abs(x) > _MP_BIG:
            return mp.mpf(1 if x > 0 else 0)
        return mp.ncdf(x) + x * mp.npdf(x)

    def torch(F, x):
        return F.gelu(x)


_GELU_K = m.SQRT_2_OVER_PI  # sqrt(2/pi), as torch
_GELU_C = m.GELU_TANH_C  # 0.044715


@elementwise
class gelu_tanh:
    summary = "Gaussian error linear unit, tanh approximation."
    formula = "0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))"
    public = False
    example = ([-1.0, 0.0, 1.0], {}, [-0.15880801, 0.0, 0.84119199])
    dexample = [-0.08296408, 0.5, 1.08296408]

    def forward(x):
        # float32: exp's reduced argument formed exactly from 2u's parts,
        # no float64 (vmath.gelu)
        if per_type(1.0, 0.0) > 0.5:
            return m.gelu_tanh_f32(x)
        # 0.5 (1 + tanh u) = sigmoid(2u): no cancellation for x << 0.  Beyond
        # |x| = 30, |2u| > 1900: sigmoid(2u) is 1 or x sigmoid(2u) underflows
        # to -0 (and x^3 would overflow for huge |x|): the kernel runs on x
        # clamped there and the limits are selected afterwards
        xc = m.clamp(x, -30.0, 30.0)
        zh, zl = m.gelu_tanh_arg(xc)
        y = m.mul_sigmoid_dd(xc, zh, zl)
        y = m.select(x > 30.0, x, m.select(x < -30.0, -0.0, y))
        return m.select(x == x, y, x)

    # float64 only: float32's kernel (vmath.gelu) is as short as a fast one
    fast_types = ("float64",)

    def fast_range():
        # |2u| <= 700 (2u(21) = 694): exp(-|2u|) normal, no clamp
        return -m.GT_NEAR, m.GT_NEAR

    def fast_forward(x):
        zh, zl = m.gelu_tanh_arg(x)
        return m.mul_sigmoid_dd_fast(x, zh, zl)

    def fast_backward(g, x):
        return g * m.dgelu_tanh_near(x)

    def backward(g, x):
        # float32: vmath.gelu, the forward's exp argument and the root fit
        if per_type(1.0, 0.0) > 0.5:
            return g * m.dgelu_tanh_f32(x)
        # the derivative is 1 to double precision beyond x = 30 and underflows
        # to 0 below -30 (the limits at +-inf too)
        d = m.dgelu_tanh(m.clamp(x, -30.0, 30.0))
        d = m.select(x > 30.0, 1.0, m.select(x < -30.0, 0.0, d))
        return m.select(x == x, g * d, x)

    def reference(mp, x):
        u = mp.mpf(_GELU_K) * (x + mp.mpf(_GELU_C) * x**3)
        return x * _mp_sigmoid(mp, 2 * u)

    def dreference(mp, x):
        k, c = mp.mpf(_GELU_K), mp.mpf(_GELU_C)
        u = k * (x + c * x**3)
        du = k * (1 + 3 * c * x**2)
        return _mp_sigmoid(mp, 2 * u) * (1 + 2 * x * _mp_sigmoid(mp, -2 * u) * du)

    def torch(F, x):
        return F.gelu(x, approximate="tanh")


@elementwise
class softplus:
    summary = "Softplus, a smooth ReLU."
    formula = "log(1 + exp(beta * x)) / beta; x where beta * x > threshold"
    params = (Param("beta", 1.0, "nonzero"), Param("threshold", 20.0, "any"))
    test_params = ({"beta": 2.0, "threshold": 10.0}, {"beta": 0.5, "threshold": 20.0})
    example = ([-1.0, 0.0, 1.0], {}, [0.31326169, 0.69314718, 1.31326169])
    dexample = [0.26894142, 0.5, 0.73105858]

    def forward(x, beta, threshold):
        zh, zl = m.two_prod(beta, x)
        return m.select(zh > threshold, x, m.softplus_dd(zh, zl) / beta)

    def backward(g, x, beta, threshold):
        zh, zl = m.two_prod(beta, x)
        return m.select(zh > threshold, g, g * m.sigmoid_dd(zh, zl))

    def reference(mp, x, beta, threshold):
        z = beta * x
        return x if z > threshold else _mp_softplus(mp, z) / beta

    def dreference(mp, x, beta, threshold):
        z = beta * x
        return mp.mpf(1) if z > threshold else _mp_sigmoid(mp, z)

    def torch(F, x, beta, threshold):
        return F.softplus(x, beta, threshold)


@elementwise
class logsigmoid:
    summary = "Logarithm of the sigmoid."
    formula = "-softplus(-x) = min(x, 0) - log1p(exp(-|x|))"
    example = ([-1.0, 0.0, 1.0], {}, [-1.31326169, -0.69314718, -0.31326169])
    dexample = [0.73105858, 0.5, 0.26894142]

    def forward(x):
        # NaN propagates through exp and log1p
        return m.select(x < 0.0, x, 0.0) - m.log1p_unit(m.exp_below(-abs(x)))

    def backward(g, x):
        return g * m.sigmoid(-x)

    def reference(mp, x):
        return -_mp_softplus(mp, -x)

    def dreference(mp, x):
        return _mp_sigmoid(mp, -x)

    def torch(F, x):
        return F.logsigmoid(x)


@elementwise
class softsign:
    summary = "Softsign."
    memory_bound = True
    formula = "x / (1 + |x|)"
    example = ([-1.0, 0.0, 3.0], {}, [-0.5, 0.0, 0.75])
    dexample = [0.25, 1.0, 0.0625]
    torch_differs = "torch gives NaN at +-inf (inf/inf); fastact gives the limits +-1"

    def forward(x):
        # inf / inf at +-inf: the limits +-1 instead
        return m.select(abs(x) == m.INF, math.copysign(1.0, x), x / (1.0 + abs(x)))

    def backward(g, x):
        # (g / d) / d: d * d would overflow (and warn) for |x| > 1e154
        d = 1.0 + abs(x)
        return (g / d) / d

    def reference(mp, x):
        return x / (1 + abs(x))

    def dreference(mp, x):
        return 1 / (1 + abs(x)) ** 2

    def torch(F, x):
        return F.softsign(x)

    class from_y:
        # two multiplies instead of the two divisions from x
        formula = "(1 - |y|)**2"

        def backward(g, y):
            d = 1.0 - abs(y)
            return g * d * d

        def dreference(mp, y):
            return (1 - abs(y)) ** 2


@elementwise
class mish:
    summary = "Mish: a self-regularized non-monotonic activation."
    formula = "x * tanh(softplus(x))"
    example = ([-1.0, 0.0, 1.0], {}, [-0.30340146, 0.0, 0.86509839])
    dexample = [0.05921676, 0.6, 1.04903622]
    torch_differs = "torch gives NaN at -inf (-inf * 0); fastact gives the limit -0"

    def forward(x):
        return m.mish(x)

    def backward(g, x):
        return g * m.dmish(x)

    def reference(mp, x):
        if abs(x) > _MP_BIG:
            return x if x > 0 else mp.mpf(0)
        return x * mp.tanh(_mp_softplus(mp, x))

    def dreference(mp, x):
        if abs(x) > _MP_BIG:
            return mp.mpf(1 if x > 0 else 0)
        sp = _mp_softplus(mp, x)
        return mp.tanh(sp) + x * _mp_sigmoid(mp, x) * mp.sech(sp) ** 2

    def torch(F, x):
        return F.mish(x)


@elementwise
class hardtanh:
    summary = "Hard tanh: x clipped to [min_val, max_val]."
    memory_bound = True
    formula = "min(max(x, min_val), max_val)"
    params = (Param("min_val", -1.0, "any"), Param("max_val", 1.0, "any"))
    test_params = ({"min_val": -2.0, "max_val": 0.5},)

    def check(lo, hi):
        return None if lo <= hi else f"min_val ({lo}) must not be greater than max_val ({hi})"

    example = ([-2.0, 0.5, 2.0], {}, [-1.0, 0.5, 1.0])
    dexample = [0.0, 1.0, 0.0]

    def breakpoints(lo, hi):
        return (lo, hi)

    def forward(x, lo, hi):
        # above, then below, each select on the value it returns (a vminps
        # and a vmaxps; NaN falls through both), where testing x against lo
        # after clamping it above took a compare and a blend more per vector
        x = hi if x > hi else x
        return lo if x < lo else x

    def backward(g, x, lo, hi):
        return 0.0 if (x <= lo or x >= hi) else g

    def reference(mp, x, lo, hi):
        return min(max(x, lo), hi)

    def dreference(mp, x, lo, hi):
        return mp.mpf(0 if (x <= lo or x >= hi) else 1)

    def torch(F, x, lo, hi):
        return F.hardtanh(x, lo, hi)

    class from_y:
        # y is strictly inside (min_val, max_val) exactly where x is: the clip
        # gives the bounds themselves
        formula = "1 if min_val < y < max_val else 0"
        torch_differs = "torch's hardtanh_backward gives grad_output at y = NaN; fastact NaN"

        def backward(g, y, lo, hi):
            return g if (y > lo and y < hi) else (0.0 if y == y else y)

        def dreference(mp, y, lo, hi):
            return mp.mpf(1 if lo < y < hi else 0)

        def torch(aten, g, y, lo, hi):
            return aten.hardtanh_backward(g, y, lo, hi)


@elementwise
class relu6:
    summary = "ReLU capped at 6."
    memory_bound = True
    formula = "min(max(0, x), 6)"
    example = ([-1.0, 3.0, 8.0], {}, [0.0, 3.0, 6.0])
    dexample = [0.0, 1.0, 0.0]

    def breakpoints():
        return (0.0, 6.0)

    def forward(x):
        # written as hardtanh's, LLVM folds the second compare back onto x
        # (its bounds are constants): a vmaxps, a compare and a blend either way
        if x < 0.0:
            return 0.0
        if x > 6.0:
            return 6.0
        return x

    def backward(g, x):
        return 0.0 if (x <= 0.0 or x >= 6.0) else g

    def reference(mp, x):
        return min(max(x, 0), 6)

    def dreference(mp, x):
        return mp.mpf(0 if (x <= 0 or x >= 6) else 1)

    def torch(F, x):
        return F.relu6(x)

    class from_y:
        formula = "1 if 0 < y < 6 else 0"
        torch_differs = "torch's hardtanh_backward gives grad_output at y = NaN; fastact NaN"

        def backward(g, y):
            return g if (y > 0.0 and y < 6.0) else (0.0 if y == y else y)

        def dreference(mp, y):
            return mp.mpf(1 if 0 < y < 6 else 0)

        def torch(aten, g, y):
            return aten.hardtanh_backward(g, y, 0.0, 6.0)


@elementwise
class hardsigmoid:
    summary = "Hard sigmoid, a piecewise-linear sigmoid."
    memory_bound = True
    formula = "relu6(x + 3) / 6"
    example = ([-4.0, 0.0, 1.5], {}, [0.0, 0.5, 0.75])
    dexample = [0.0, 0.16666667, 0.16666667]

    def breakpoints():
        return (-3.0, 3.0)

    def forward(x):
        # clamp(x + 3, 0, 6) / 6 as max and min (selects whose result is one of
        # the compared values: vmaxps/vminps, NaN kept as the operand that
        # passes it on), not two compares and blends: a memory-bound loop
        # holds more loads in flight with fewer instructions per vector.
        # A product by the rounded 1/6, not a division: the divider's
        # throughput bounded the loop (a quarter slower than relu at sizes in
        # cache), for half an ulp more error; 6 * fl(1/6) rounds to 1.
        t = x + 3.0
        t = m.select(t < 0.0, 0.0, t)
        return m.select(t > 6.0, 6.0, t) * (1.0 / 6.0)

    def backward(g, x):
        return g * (1.0 / 6.0) if (x > -3.0 and x < 3.0) else 0.0

    def reference(mp, x):
        return min(max(x + 3, 0), 6) / mp.mpf(6)

    def dreference(mp, x):
        return mp.mpf(1) / 6 if -3 < x < 3 else mp.mpf(0)

    def torch(F, x):
        return F.hardsigmoid(x)


@elementwise
class hardswish:
    summary = "Hard swish: x * hardsigmoid(x)."
    memory_bound = True
    formula = "x * relu6(x + 3) / 6"
    example = ([-4.0, 0.0, 1.5], {}, [-0.0, 0.0, 1.125])
    dexample = [0.0, 0.5, 1.0]

    def breakpoints():
        return (-3.0, 3.0)

    def forward(x):
        # x hardsigmoid(x) with x clamped below at -3 (max, min and 1/6 as in
        # hardsigmoid): -3 * 0 = -0 for every x <= -3, -inf included, and
        # x * 1 = x from 3 on (inf too); NaN passes both clamps
        xc = m.select(x < -3.0, -3.0, x)
        t = xc + 3.0
        return xc * (m.select(t > 6.0, 6.0, t) * (1.0 / 6.0))

    def backward(g, x):
        # torch's autograd takes the outer slopes at the kinks: 0 at x = -3
        # and 1 at x = 3 (checked by tests/api/test_torch.py at the breakpoints)
        return m.select(x <= -3.0, 0.0, m.select(x < 3.0, g * ((2.0 * x + 3.0) * (1.0 / 6.0)), g))

    def reference(mp, x):
        return x * min(max(x + 3, 0), 6) / mp.mpf(6)

    def dreference(mp, x):
        if x <= -3:
            return mp.mpf(0)
        return (2 * x + 3) / mp.mpf(6) if x < 3 else mp.mpf(1)

    def torch(F, x):
        return F.hardswish(x)


@elementwise
class tanhshrink:
    summary = "Tanh shrink."
    formula = "x - tanh(x)"
    example = ([-1.0, 0.0, 1.0], {}, [-0.23840584, 0.0, 0.23840584])
    dexample = [0.58002566, 0.0, 0.58002566]

    def forward(x):
        return m.tanhshrink(x)

    def backward(g, x):
        return g * m.dtanhshrink(x)

    def reference(mp, x):
        if abs(x) < mp.mpf(2) ** -20:
            return x**3 / 3 - 2 * x**5 / 15 + 17 * x**7 / 315
        return x - mp.tanh(x)

    def dreference(mp, x):
        return mp.tanh(x) ** 2

    def torch(F, x):
        return F.tanhshrink(x)


@elementwise
class softshrink:
    summary = "Soft shrinkage."
    memory_bound = True
    formula = "x - lambd if x > lambd, x + lambd if x < -lambd, else 0"
    params = (Param("lambd", 0.5, "nonneg"),)
    test_params = ({"lambd": 1.5},)
    example = ([-2.0, 0.2, 2.0], {}, [-1.5, 0.0, 1.5])
    dexample = [1.0, 0.0, 1.0]

    def breakpoints(lambd):
        return (-lambd, lambd)

    def forward(x, lambd):
        # x - clamp(x) is x - lambd above (> 0), x + lambd below (< 0) and
        # x - x = +0 inside, where x's sign bit ORed in makes it torch's
        # x * 0: a max, a min, a subtraction, an and and an or.  The
        # three-way branch compiled to two mask compares and two masked
        # blends per vector, 1.7x relu's time at 64K float32 in L2 (14.5
        # against 8.4 us); copysign took one bitwise operation more
        return m.or_sign(x - m.clamp(x, -lambd, lambd), x)

    def backward(g, x, lambd):
        return 0.0 if (x >= -lambd and x <= lambd) else g

    def reference(mp, x, lambd):
        if x > lambd:
            return x - lambd
        if x < -lambd:
            return x + lambd
        return mp.mpf(0)

    def dreference(mp, x, lambd):
        return mp.mpf(0 if -lambd <= x <= lambd else 1)

    def torch(F, x, lambd):
        return F.softshrink(x, lambd)

    class from_y:
        formula = "0 if y == 0 else 1"
        backward = _g_where_y_nonzero

        def dreference(mp, y, lambd):
            return mp.mpf(0 if y == 0 else 1)


@elementwise
class hardshrink:
    summary = "Hard shrinkage."
    memory_bound = True
    formula = "x if |x| > lambd else 0"
    params = (Param("lambd", 0.5, "nonneg"),)
    test_params = ({"lambd": 1.5},)
    example = ([-2.0, 0.2, 2.0], {}, [-2.0, 0.0, 2.0])
    dexample = [1.0, 0.0, 1.0]

    def breakpoints(lambd):
        return (-lambd, lambd)

    def forward(x, lambd):
        return 0.0 if (x >= -lambd and x <= lambd) else x

    def backward(g, x, lambd):
        return 0.0 if (x >= -lambd and x <= lambd) else g

    def reference(mp, x, lambd):
        return mp.mpf(0) if -lambd <= x <= lambd else x

    def dreference(mp, x, lambd):
        return mp.mpf(0 if -lambd <= x <= lambd else 1)

    def torch(F, x, lambd):
        return F.hardshrink(x, lambd)

    class from_y:
        formula = "0 if y == 0 else 1"
        backward = _g_where_y_nonzero

        def dreference(mp, y, lambd):
            return mp.mpf(0 if y == 0 else 1)


@elementwise
class threshold:
    summary = "Threshold: keep x above `threshold`, else replace by `value`."
    memory_bound = True
    formula = "x if x > threshold else value"
    params = (Param("threshold", None, "any"), Param("value", None, "any"))
    test_params = ({"threshold": 0.5, "value": -2.0}, {"threshold": -1.0, "value": 0.0})
    example = ([-1.0, 0.5, 2.0], {"threshold": 0.5, "value": -9.0}, [-9.0, -9.0, 2.0])
    dexample = [0.0, 0.0, 1.0]

    def breakpoints(th, value):
        return (th,)

    def forward(x, th, value):
        return value if x <= th else x

    def backward(g, x, th, value):
        return 0.0 if x <= th else g

    def reference(mp, x, th, value):
        return mp.mpf(value) if x <= th else x

    def dreference(mp, x, th, value):
        return mp.mpf(0 if x <= th else 1)

    def torch(F, x, th, value):
        return F.threshold(x, th, value)
