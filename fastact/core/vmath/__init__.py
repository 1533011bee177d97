"""Vectorizable elementary functions for numba-compiled kernels.

pip's numba has no SVML, so ``math.exp`` and friends compile to scalar libm
calls and any loop that uses them stays scalar.  The functions here are
written so that LLVM can vectorize a loop calling them: range reduction by
``np.rint`` and FMA, polynomials by FMAs (Horner's scheme, or shorter chains
for float64's long ones), 2**n built by an int <-> float bitcast, and every
"branch" computed on both sides and chosen with a select.
Inputs are clamped before range reduction so that the unused side of a
select never turns into inf or NaN where the true result is finite.

Each public function (``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``,
``erf``, ``erfc``, ...) is a plain Python stub that numba resolves through
``numba.extending.overload``: a float32 argument selects an implementation
that computes in float32 only (float32 constants, no float64 temporaries),
a float64 argument the float64 one.  Called from Python, a stub runs the same
algorithm on NumPy scalars.

Modules:

- ``intrinsics``: bitcasts, ``select``, ``fma``, polynomial evaluation
  (``horner``, ``horner_select``, ``estrin``, ``horner_pieces``), the constants every function
  shares, ``ldexp`` / ``ldexp_below`` and the stubs' machinery;
- ``fits``: the polynomial coefficients, output of tools/fit_vmath.py;
- ``exponential``: exp, exp_below, exp_within, exp_normal, exp_below_2k, expm1;
- ``logarithm``: log, log1p, log1p_unit;
- ``hyperbolic``: tanh;
- ``error_function``: erf, erfc, erfc_dd_scaled;
- ``gelu``: gelu_tanh_f32, dgelu_tanh_f32 (gelu's tanh form and its
  derivative in float32).

A function module writes its algorithms once, as closures in factories such
as ``kernels(ft)`` that bind the constants of float type `ft` (np.float32 or
np.float64); numba compiles the closed-over values as constants and inlines
the closures (``register_jitable``, LLVM alwaysinline) into the calling loop.
The factories are cached, so a helper shared by two functions (exp's range
reduction in tanh and erfc, say) is one numba function.  ``core.typed.retype``
leaves these functions alone: the argument's type picks the instantiation.

Accuracy is measured by tests/core/test_vmath.py and, for every float32 input,
by tools/sweep_f32.py (results in docs/accuracy-core.md).  The polynomial
coefficients come from tools/fit_vmath.py (weighted minimax fits in mpmath).
"""

from __future__ import annotations

from fastact.core.vmath.error_function import erf, erfc, erfc_dd_scaled
from fastact.core.vmath.exponential import (
    exp,
    exp_below,
    exp_below_2k,
    exp_normal,
    exp_within,
    expm1,
)
from fastact.core.vmath.fits import *  # noqa: F403 (the coefficient tables: EXPP_D, ERFCF_D, ...)
from fastact.core.vmath.gelu import dgelu_tanh_f32, gelu_tanh_f32
from fastact.core.vmath.hyperbolic import tanh
from fastact.core.vmath.intrinsics import (
    float_as_int,
    fma,
    horner,
    horner_select,
    int_as_float,
    ldexp,
    ldexp_below,
    on_cpu,
    or_sign,
    over_pow2_rint,
    pow2,
    pow2_rint,
    select,
)
from fastact.core.vmath.logarithm import log, log1p, log1p_unit

__all__ = [
    "exp",
    "exp_below",
    "exp_within",
    "exp_normal",
    "exp_below_2k",
    "expm1",
    "log",
    "log1p",
    "log1p_unit",
    "tanh",
    "erf",
    "erfc",
    "erfc_dd_scaled",
    "gelu_tanh_f32",
    "dgelu_tanh_f32",
    "fma",
    "select",
    "or_sign",
    "horner",
    "horner_select",
    "float_as_int",
    "int_as_float",
    "ldexp",
    "ldexp_below",
    "on_cpu",
    "pow2",
    "over_pow2_rint",
    "pow2_rint",
]
