"""Vectorizable elementary functions for numba-compiled kernels.

pip's numba has no SVML, so ``math.exp`` and friends compile to scalar libm
calls and any loop that uses them stays scalar.  The functions here are
written so that LLVM can vectorize a loop calling them: range reduction by
``np.rint`` and FMA, polynomials in Horner form, 2**n built by an int <-> float
bitcast, and every "branch" computed on both sides and chosen with a select.
Inputs are clamped before range reduction so that the unused side of a
select never turns into inf or NaN where the true result is finite.

Each public function (``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``,
``erf``, ``erfc``) is a plain Python stub that numba resolves through
``numba.extending.overload``: a float32 argument selects an implementation
that computes in float32 only (float32 constants, no float64 temporaries),
a float64 argument the float64 one.  From Python the stubs run the very same
algorithms on NumPy scalars (with an exact software FMA), which is what
numba's CUDA simulator executes.  The intrinsics (bitcast, select, fma) use
nothing CPU specific, so the same source can be compiled for CUDA.

Accuracy is measured by tests/core/test_vmath.py and, for every float32 input,
by tools/sweep_f32.py (results in docs/accuracy-core.md).  The polynomial
coefficients come from tools/fit_vmath.py (weighted minimax fits in mpmath).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

__all__ = [
    "exp",
    "exp_below",
    "exp_below_2k",
    "expm1",
    "log",
    "log1p",
    "log1p_unit",
    "tanh",
    "erf",
    "erfc",
    "fma",
    "select",
    "float_as_int",
    "int_as_float",
    "ldexp",
]

# Division by zero must give inf/NaN like IEEE, not raise: the raising check
# is a branch that stops vectorization.  forceinline (LLVM alwaysinline):
# the inliner declines the larger kernels (erf/erfc float64) by cost, and a
# call left in the loop body stops vectorization.  (numba-IR inlining instead
# would compile the bodies under the caller's error model and is slow.)
_JIT = dict(error_model="numpy", forceinline=True)


# --------------------------------------------------------------------------
# Intrinsics: plain LLVM IR (bitcast, select, llvm.fma), valid on any target.

_INT_OF = {32: types.int32, 64: types.int64}
_FLOAT_OF = {32: types.float32, 64: types.float64}


@intrinsic
def _bitcast_f2i(typingctx, x):
    if not isinstance(x, types.Float):
        return None
    ity = _INT_OF[x.bitwidth]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(x.bitwidth))

    return ity(x), codegen


@intrinsic
def _bitcast_i2f(typingctx, i):
    if not isinstance(i, types.Integer) or i.bitwidth not in _FLOAT_OF:
        return None
    fty = _FLOAT_OF[i.bitwidth]

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(fty))

    return fty(i), codegen


@intrinsic
def _select_i(typingctx, c, a, b):
    if not isinstance(c, types.Boolean) or a != b:
        return None

    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])

    return a(c, a, b), codegen


@intrinsic
def _fma_i(typingctx, a, b, c):
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        lty = context.get_value_type(a)
        fn = builder.module.declare_intrinsic("llvm.fma", [lty], ir.FunctionType(lty, [lty] * 3))
        return builder.call(fn, args)

    return a(a, b, c), codegen


# --------------------------------------------------------------------------
# Building blocks: Python bodies for the interpreter, overloads for numba.


def float_as_int(x):
    """The bits of float32 / float64 `x` as int32 / int64."""
    x = np.asarray(x)
    return x.view(np.int32 if x.dtype == np.float32 else np.int64)[()]


def int_as_float(i):
    """int32 / int64 bits reinterpreted as float32 / float64."""
    i = np.asarray(i)
    return i.view(np.float32 if i.dtype == np.int32 else np.float64)[()]


def select(c, a, b):
    """`a if c else b`, lowered to an LLVM select (a vector blend)."""
    return a if c else b


def _fma32_py(a, b, c):
    # a*b is exact in float64; the float64 sum rounded to odd and then to
    # float32 is the correctly rounded fma (53 >= 2*24 + 2).
    p = float(a) * float(b)
    cc = float(c)
    s = p + cc
    if math.isfinite(s) and math.isfinite(p):
        bb = s - p
        e = (p - (s - bb)) + (cc - bb)
        if e != 0 and not (np.float64(s).view(np.int64) & 1):
            s = float(np.nextafter(s, math.inf if e > 0 else -math.inf))
    return np.float32(s)


def _fma64_py(a, b, c):
    a, b, c = float(a), float(b), float(c)
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return np.float64(a * b + c)
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if exact == 0:
        return np.float64(a * b + c)  # IEEE sign of a zero sum
    try:
        return np.float64(float(exact))  # Fraction -> float rounds once
    except OverflowError:
        return np.float64(math.copysign(math.inf, exact))


def fma(a, b, c):
    """a*b + c with a single rounding."""
    if isinstance(a, np.float32):
        return _fma32_py(a, b, c)
    return _fma64_py(a, b, c)


@overload(float_as_int, jit_options=_JIT)
def _ov_float_as_int(x):
    if isinstance(x, types.Float):
        return lambda x: _bitcast_f2i(x)


@overload(int_as_float, jit_options=_JIT)
def _ov_int_as_float(i):
    if isinstance(i, types.Integer) and i.bitwidth in (32, 64):
        return lambda i: _bitcast_i2f(i)


@overload(select, jit_options=_JIT)
def _ov_select(c, a, b):
    if isinstance(c, types.Boolean) and a == b:
        return lambda c, a, b: _select_i(c, a, b)


@overload(fma, jit_options=_JIT)
def _ov_fma(a, b, c):
    if isinstance(a, types.Float) and a == b == c:
        return lambda a, b, c: _fma_i(a, b, c)


def _horner(x, c):
    """c[0] + x*(c[1] + x*(c[2] + ...)), one fma per coefficient."""
    h = c[-1]
    for k in range(len(c) - 2, -1, -1):
        h = fma(h, x, c[k])
    return h


@overload(_horner, jit_options=_JIT)
def _ov_horner(x, c):
    # Unrolled by generating the source: a loop over the tuple would rely on
    # LLVM unrolling it before the vectorizer runs.
    if not isinstance(x, types.Float) or not isinstance(c, types.BaseTuple):
        return None
    n = len(c)
    src = ["def impl(x, c):", f"    h = c[{n - 1}]"]
    src += [f"    h = fma(h, x, c[{k}])" for k in range(n - 2, -1, -1)]
    src.append("    return h")
    ns = {"fma": fma}
    exec("\n".join(src), ns)
    return ns["impl"]


def _estrin_impl(n: int):
    """Estrin's scheme for n coefficients, as source unrolled like _horner's:
    pairs c[k] + x c[k+1], then pairs of those with x^2, x^4, ...  A
    dependency chain of about log2(n) fmas instead of n - 1, for the loops
    bound by latency (the float64 ones: four lanes a vector)."""
    src, names, level = ["def impl(x, c):", "    p = x"], [], 0
    for k in range(0, n, 2):
        names.append(f"t0_{k // 2}")
        rhs = f"fma(c[{k + 1}], x, c[{k}])" if k + 1 < n else f"c[{k}]"
        src.append(f"    {names[-1]} = {rhs}")
    while len(names) > 1:
        level += 1
        src.append("    p = p * p")
        prev, names = names, []
        for k in range(0, len(prev), 2):
            names.append(f"t{level}_{k // 2}")
            rhs = f"fma({prev[k + 1]}, p, {prev[k]})" if k + 1 < len(prev) else prev[k]
            src.append(f"    {names[-1]} = {rhs}")
    src.append(f"    return {names[0]}")
    ns = {"fma": fma}
    exec("\n".join(src), ns)
    return ns["impl"]


def _pieces_impl(n: int, parts: int):
    """Horner in `parts` pieces of k = ceil(n / parts) coefficients,
    A(x) + x^k (B(x) + x^k (...)): as many Horner chains of length k side by
    side, joined by parts - 1 fmas.  The low coefficients stay in one Horner
    chain and the higher pieces are damped by x^k, so the rounding stays
    close to Horner's where Estrin's order does not (see erfc_tail)."""
    k = -(-n // parts)
    src, kk, first = ["def impl(x, c):", "    p = x"], k, True
    while kk:  # x^k by squarings
        if kk & 1:
            src.append("    r = p" if first else "    r = r * p")
            first = False
        kk >>= 1
        if kk:
            src.append("    p = p * p")
    pieces = [
        "(" + "".join(f"c[{i}], " for i in range(j, min(j + k, n))) + ")" for j in range(0, n, k)
    ]
    expr = f"_horner(x, {pieces[-1]})"
    for piece in reversed(pieces[:-1]):
        expr = f"fma({expr}, r, _horner(x, {piece}))"
    src.append(f"    return {expr}")
    ns = {"fma": fma, "_horner": _horner}
    exec("\n".join(src), ns)
    return ns["impl"]


PIECES = 2


def _estrin(x, c):
    """The polynomial of _horner, evaluated by Estrin's scheme."""
    return _estrin_impl(len(c))(x, c)


def _horner_pieces(x, c):
    """The polynomial of _horner, evaluated in PIECES Horner pieces."""
    return _pieces_impl(len(c), PIECES)(x, c)


@overload(_estrin, jit_options=_JIT)
def _ov_estrin(x, c):
    if isinstance(x, types.Float) and isinstance(c, types.BaseTuple):
        return _estrin_impl(len(c))


@overload(_horner_pieces, jit_options=_JIT)
def _ov_horner_pieces(x, c):
    if isinstance(x, types.Float) and isinstance(c, types.BaseTuple):
        return _pieces_impl(len(c), PIECES)


# --------------------------------------------------------------------------
# Polynomial coefficients, from tools/fit_vmath.py (weighted minimax in
# mpmath, rounded to the target precision).  See that script for the
# function each one approximates and on which interval.

# ---- begin: output of tools/fit_vmath.py ----
# expq float32: minimax weighted error 0.00266 eps, 0.0191 eps with the rounded coefficients
EXPQ_F = (
    0.5,
    0.1666666567325592,
    0.041666384786367416,
    0.00833339337259531,
    0.0013939267955720425,
    0.00019842488109134138,
)
# expq float64: minimax weighted error 0.00155 eps, 0.00729 eps with the rounded coefficients
EXPQ_D = (
    0.5,
    0.16666666666666674,
    0.04166666666666653,
    0.008333333333322736,
    0.0013888888888956654,
    0.00019841269883645525,
    2.48015871778057e-05,
    2.75572464518497e-06,
    2.7557401338174173e-07,
    2.5108329699706847e-08,
    2.0875086349911787e-09,
)
# expp float32: minimax weighted error 0.0316 eps, 0.0379 eps with the rounded coefficients
EXPP_F = (
    0.4999999403953552,
    0.16666516661643982,
    0.041668400168418884,
    0.008369294926524162,
    0.0013815549900755286,
)
# expp float64: minimax weighted error 0.0427 eps, 0.0495 eps with the rounded coefficients
EXPP_D = (
    0.5000000000000011,
    0.1666666666666657,
    0.0416666666665189,
    0.008333333333372155,
    0.0013888888947498383,
    0.0001984126981455532,
    2.4801488348904116e-05,
    2.7557273918387694e-06,
    2.7632155901241705e-07,
    2.511027050068687e-08,
)
# logr float32: minimax weighted error 5.16e-05 eps, 0.00022 eps with the rounded coefficients
LOGR_F = (
    0.6666666865348816,
    0.39999717473983765,
    0.2857320010662079,
    0.22953025996685028,
)
# logr float64: minimax weighted error 5.4e-05 eps, 0.000123 eps with the rounded coefficients
LOGR_D = (
    0.6666666666666666,
    0.4000000000000639,
    0.2857142856865358,
    0.22222222748729933,
    0.18181765565129387,
    0.15387589715436475,
    0.13237988659750882,
    0.1336702795125538,
)
# tanhp float32: minimax weighted error 0.0118 eps, 0.0124 eps with the rounded coefficients
TANHP_F = (
    -0.33333325386047363,
    0.13332803547382355,
    -0.05387207865715027,
    0.021144529804587364,
    -0.006368376314640045,
)
# tanhp float64: minimax weighted error 0.00388 eps, 0.0208 eps with the rounded coefficients
TANHP_D = (
    -0.33333333333333326,
    0.13333333333330244,
    -0.05396825396543394,
    0.021869488424370396,
    -0.008863233111188168,
    0.003592096184738408,
    -0.0014555644098291642,
    0.0005885163948126569,
    -0.0002335323400035194,
    8.35002006367184e-05,
    -1.959571858637955e-05,
)
# erfp float32: minimax weighted error 0.000411 eps, 0.0013 eps with the rounded coefficients
ERFP_F = (
    -0.37612637877464294,
    0.11283759027719498,
    -0.02686294913291931,
    0.005209793336689472,
    -0.0008238030131906271,
    8.729010733077303e-05,
)
# erfp float64: minimax weighted error 1.5e-05 eps, 0.000169 eps with the rounded coefficients
ERFP_D = (
    -0.37612638903183754,
    0.11283791670955262,
    -0.02686617064517955,
    0.0052239776262955435,
    -0.0008548327111103453,
    0.00012055338645628807,
    -1.492589016945299e-05,
    1.646886602102691e-06,
    -1.649103952694458e-07,
    1.6274081607905428e-08,
    -2.209198340829862e-09,
    3.7259936664815603e-10,
)
# erfcf float32: minimax weighted error 0.0113 eps, 0.00691 eps with the rounded coefficients
ERFCF_F = (
    0.3508535623550415,
    -0.566109299659729,
    0.2374696433544159,
    0.0023835361935198307,
    -0.02166830748319626,
    0.00033920429996214807,
    -0.001856583054177463,
    0.0038967053405940533,
    -0.0015954552218317986,
    0.0002059206599369645,
)
# erfcf float64: minimax weighted error 0.00812 eps, 0.0226 eps with the rounded coefficients
ERFCF_D = (
    0.35085361568742773,
    -0.5661120537967846,
    0.23751094865562797,
    0.00209682960545927,
    -0.020565103068609827,
    -0.0022155749433628307,
    0.0018112572539944962,
    0.0006867984414321559,
    -4.5393425876626056e-05,
    -2.3823030807470712e-05,
    -0.000226695855766156,
    0.0004274643495370722,
    -0.0007422221928884702,
    0.0010540253035498136,
    -0.001192035740916288,
    0.0010828099627406837,
    -0.0007817720974652379,
    0.0004415472176324774,
    -0.00019065612521382015,
    6.054742277310232e-05,
    -1.3254107721344989e-05,
    1.7771068330544308e-06,
    -1.0957532645272777e-07,
)
# erfc tail: u = (x - 2)/(x + 2) - T0, S(u) = C0 + u ERFCF(u).
ERFC_T0_F = -0.6260162591934204
ERFC_T0_D = -0.6260162601626016
ERFC_C0_F = "1.222631777298849770066099669409052223191"
ERFC_C0_D = "1.222631776958809049424537070813779564514"
# erfc_center float64 (python tools/fit_vmath.py erfc_center): the fit above
# re-expanded exactly around the middle of its interval, u = t - ERFC_TC_D
ERFC_TC_D = 0.11873248425317018
ERFC_C0C_D = "1.263887356554577053267050122654565390452"
ERFCF_DC = (
    -0.12562188422922335,
    -0.11228987829260376,
    0.13746681431128568,
    -0.05709199219774598,
    -0.0015901764385154364,
    0.009150606648785864,
    -0.00029187237868740407,
    -0.00177104650441293,
    -9.850231961443634e-05,
    0.0003824950324527485,
    0.00010220216061743184,
    -7.014990775551187e-05,
    -4.795621542951544e-05,
    2.9679674187844914e-06,
    1.4850021194072364e-05,
    5.321694506078208e-06,
    -2.221014889511252e-06,
    -2.868350648731224e-06,
    -6.132662436866921e-07,
    7.86880394510912e-07,
    4.865143347996184e-07,
    -9.983316322176739e-08,
    -1.0957532645272777e-07,
)
# ---- end: output of tools/fit_vmath.py ----


# --------------------------------------------------------------------------
# Constants given to more digits than a float64 holds, split into hi + lo.

_LN2 = Fraction("0.6931471805599453094172321214581765680755001343602552541206800094933936")
_TWO_OVER_SQRTPI = Fraction("1.128379167095512573896158903121545171688101258657997713688171443421")


def _split(ft, v: Fraction):
    hi = ft(float(v))
    return hi, ft(float(v - Fraction(float(hi))))


# --------------------------------------------------------------------------
# The algorithms, written once and instantiated per float type.  Every
# constant is of that type, exponent arithmetic runs in int32 (float <-> int
# conversions through int32 are the ones AVX2 has for both widths) and bit
# patterns in the int of the float's width.


def _build(ft):
    f32 = ft == np.float32
    I32 = np.int32
    IT = np.int32 if f32 else np.int64
    MANT = IT(23 if f32 else 52)  # explicit mantissa bits
    BIAS = I32(127 if f32 else 1023)
    E = 126 if f32 else 1022  # 2**-E: smallest normal
    ZERO, ONE, TWO, HALF = ft(0), ft(1), ft(2), ft(0.5)
    NSIXTH = ft(-1 / 6)
    LDB_K = ft(40 if f32 else 64)
    LDB_SCALE = ft(2.0 ** -(40 if f32 else 64))
    SAT2 = ft(-60)
    # r + -0.0 is r for every r (r + 0.0 is not, for r = -0), so LLVM drops
    # the addition of a -0.0 low part and keeps that of +0.0
    NZERO = ft(-0.0)
    INF, NAN = ft(np.inf), ft(np.nan)
    LOG2E = ft(1 / math.log(2))
    LN2HI, LN2LO = _split(ft, _LN2)
    C0HI, C0LO = _split(ft, _TWO_OVER_SQRTPI)
    EXPQ = tuple(ft(c) for c in (EXPQ_F if f32 else EXPQ_D))
    EXPP = tuple(ft(c) for c in (EXPP_F if f32 else EXPP_D))
    LOGR = tuple(ft(c) for c in (LOGR_F if f32 else LOGR_D))
    TANHP = tuple(ft(c) for c in (TANHP_F if f32 else TANHP_D))
    ERFP = tuple(ft(c) for c in (ERFP_F if f32 else ERFP_D))

    # _scale: n is clamped to [-2E, 2E + 1] and split as n1 + n2 with
    # n2 = clamp(n, -E, E), so 2**n1 and 2**n2 are both normal.
    SC_LO, SC_HI = ft(-2 * E), ft(2 * E + 1)
    SC_E = ft(E)
    # exp: below EXP_LO the result is 0 (after rounding), above EXP_HI inf;
    # clamping there keeps n inside what _scale takes.
    EXP_LO, EXP_HI = (ft(-104), ft(89)) if f32 else (ft(-746), ft(710))
    # exp_below: n + EXPB_K >= -E for n >= EXP_LO * log2(e), and
    # n + EXPB_K <= BIAS for x <= 64 (float32) or 640 (float64), less k for
    # exp_below_2k
    EXPB_K = ft(26 if f32 else 56)
    EXPB_SCALE = ft(2.0 ** -(26 if f32 else 56))
    # expm1 is -1 (rounded) below EXPM1_LO, so 2**n stays normal.
    EXPM1_LO = ft(-30) if f32 else ft(-40)
    BIASF = ft(BIAS)
    # log: subnormals are scaled up by 2**SUBK first.
    SUBK = 24 if f32 else 54
    TINYN = ft(2.0**-E)
    SUBSCALE, SUBKF = ft(2.0**SUBK), ft(SUBK)
    # top bits of sqrt(1/2): reducing against it puts the mantissa m in
    # [sqrt(1/2), sqrt(2)), so f = m - 1 is exact and |f| <= 0.4143.
    SQH_HI = I32(0x3F3504F3 if f32 else 0x3FE6A09E)
    HSHIFT = IT(0 if f32 else 32)
    KSHIFT = I32(23 if f32 else 20)
    LOG1P_TINY = ft(2.0 ** (-25 if f32 else -54))  # log1p(x) rounds to x below
    # tanh: polynomial below atanh(1/2), 1 - 2/(exp(2a) + 1) above; the
    # latter is 1 after rounding from TANH_SAT on.
    TANH_T = ft(0.5493)
    TANH_SAT = ft(9.5) if f32 else ft(20)
    # erf/erfc: polynomial for |x| < ERF_T (erf) / ERFC_T (erfc, where
    # erfc >= 1/2 so 1 - erf loses nothing), the erfcx form in [TAIL_LO,
    # TAIL_HI]; erfc(TAIL_HI) rounds to 0.
    ERF_T, ERFC_T = ft(0.75), ft(0.47)
    TAIL_LO = ft(0.46)
    TAIL_HI = ft(10.1) if f32 else ft(27.3)
    EK = ft(2)  # K of the erfc fit
    # the t the tail polynomial is expanded around, its value there (hi + lo)
    # and the other coefficients; float64's fit re-expanded around the
    # middle of its interval (tools/fit_vmath.py erfc_center: Horner's terms
    # cancelled on [0, 1.5], 2.76 ulp near x = 26.5)
    ERFC_TC = ft(ERFC_T0_F if f32 else ERFC_TC_D)
    EC0HI, EC0LO = _split(ft, Fraction(ERFC_C0_F if f32 else ERFC_C0C_D))
    ERFCF = tuple(ft(c) for c in (ERFCF_F if f32 else ERFCF_DC))

    @register_jitable(**_JIT)
    def pow2(kf):
        # 2**kf for integral kf in [-E, BIAS]
        return int_as_float(IT(IT(I32(kf) + BIAS) << MANT))

    @register_jitable(**_JIT)
    def scale(y, n):
        # y * 2**n rounded once (gradual underflow and overflow included) for
        # integral n and |y| < 2**(E - precision - 1): 2**n1 * y is exact
        # unless the result is 0 or inf anyway, 2**n2 rounds.
        n = select(n > SC_LO, n, SC_LO)
        n = select(n < SC_HI, n, SC_HI)
        n2 = select(n > -SC_E, n, -SC_E)
        n2 = select(n2 < SC_E, n2, SC_E)
        return (y * pow2(n - n2)) * pow2(n2)

    @register_jitable(**_JIT)
    def exp_reduce(x, lo):
        # x + lo = n ln2 + r, |r| <= ln2/2 (+ rounding).  fma(n, -LN2HI, x)
        # is exact: its result is a multiple of min(ulp(x), ulp(LN2HI)) below
        # 1/2 in magnitude.
        n = np.rint(x * LOG2E)
        r = fma(n, -LN2HI, x)
        return fma(n, -LN2LO, r) + lo, n

    # float64's long polynomials with shorter dependency chains, which bound
    # the float64 loops (four lanes a vector); float32's keep Horner, the
    # order of the exhaustive sweep.
    poly = _horner if f32 else _estrin
    pieces = _horner if f32 else _horner_pieces

    @register_jitable(**_JIT)
    def exp_poly(r):
        # exp(r) = 1 + r (1 + r P(r))
        return fma(fma(poly(r, EXPP), r, ONE), r, ONE)

    @register_jitable(**_JIT)
    def exp_(x):
        xc = select(x < EXP_HI, x, EXP_HI)  # NaN -> EXP_HI, fixed below
        xc = select(xc > EXP_LO, xc, EXP_LO)
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, scale(exp_poly(r), n), x)

    @register_jitable(**_JIT)
    def exp_below_(x):
        # exp for x <= EXPB_HI (the caller's guarantee): no overflow to
        # handle, so 2**n is one power, 2**(n + EXPB_K) (normal for every n
        # down to EXP_LO) times 2**-EXPB_K, which rounds a subnormal result
        # once.  Half the work of exp_'s two-factor scale.
        xc = select(x > EXP_LO, x, EXP_LO)  # NaN -> EXP_LO, fixed below
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, (exp_poly(r) * pow2(n + EXPB_K)) * EXPB_SCALE, x)

    @register_jitable(**_JIT)
    def exp_below_2k_(x, k):
        # e**x * 2**k (k integral, 0 <= k <= 64): exp_below scaled before it
        # rounds, so a kernel can keep e**x normal where it is subnormal.  The
        # clamp moves down with k (2**(n + k + EXPB_K) stays normal): e**x 2**k
        # is right down to where it rounds to 0.
        xlo = fma(k, -LN2HI, EXP_LO)
        xc = select(x > xlo, x, xlo)
        r, n = exp_reduce(xc, NZERO)
        return select(x == x, (exp_poly(r) * pow2(n + (k + EXPB_K))) * EXPB_SCALE, x)

    @register_jitable(**_JIT)
    def expm1_(x):
        xc = select(x < EXP_HI, x, EXP_HI)
        xc = select(xc > EXPM1_LO, xc, EXPM1_LO)
        n = np.rint(xc * LOG2E)
        # The reduced argument stays split, rhi (exact) + rlo: rounding it
        # would cost up to 0.7 ulp where n = 1.
        rhi = fma(n, -LN2HI, xc)
        rlo = n * -LN2LO
        r = rhi + rlo
        elo = fma(r * r, _horner(r, EXPQ), rlo)  # expm1(r) - rhi
        # expm1(x) = t (rhi + elo) + (t - 1), t = 2**n.  n = BIAS + 1 has no
        # float 2**n: use 2**BIAS and double at the end (exact or overflowing).
        nn = select(n < BIASF, n, BIASF)
        t = pow2(nn)
        tm1 = t - ONE
        # t - 1 is inexact for n > precision: t e + (t - 1) = t (e - c) + tm1
        # with c = (tm1 - t + 1) / t, exact (0 or +-1 times a power of 2).
        elo = elo - ((tm1 - t) + ONE) * pow2(-nn)
        # w + werr = t rhi + tm1 exactly (tm1 - w is exact by Sterbenz, and
        # the error of w is a float), so the sum rounds about once.
        w = fma(t, rhi, tm1)
        werr = fma(t, rhi, tm1 - w)
        res = (w + fma(t, elo, werr)) * (ONE + (n - nn))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    @register_jitable(**_JIT)
    def log_core(u, kadj, corr):
        # log(u * 2**kadj) + corr for positive finite normal u (inf gives a
        # finite value, replaced by the callers); corr is tiny.
        iu = float_as_int(u)
        k = I32((I32(iu >> HSHIFT) - SQH_HI) >> KSHIFT)
        m = int_as_float(IT(iu - (IT(k) << MANT)))
        f = m - ONE
        kf = ft(k) + kadj
        # log(1 + f) = f - hfsq + s (hfsq + R(s^2)), s = f / (2 + f): an
        # identity, so the leading f is exact and s only feeds corrections.
        s = f / (TWO + f)
        z = s * s
        R = z * _horner(z, LOGR)
        hfsq = HALF * f * f
        lo = fma(s, hfsq + R, fma(kf, LN2LO, corr))
        return fma(kf, LN2HI, f - (hfsq - lo))

    @register_jitable(**_JIT)
    def log_(x):
        sub = x < TINYN
        u = select(sub, x * SUBSCALE, x)
        u = select(x > ZERO, u, ONE)  # x <= 0 and NaN: fixed below
        res = log_core(u, select(sub, -SUBKF, ZERO), ZERO)
        res = select(x == INF, x, res)
        res = select(x == ZERO, -INF, res)
        res = select(x < ZERO, NAN, res)
        return select(x == x, res, x)

    @register_jitable(**_JIT)
    def log1p_(x):
        u = ONE + x
        # 2Sum: u + err = 1 + x exactly; log1p(x) = log(u) + err/u.
        bb = u - ONE
        err = (ONE - (u - bb)) + (x - bb)
        u = select(u > ZERO, u, ONE)
        u = select(u < INF, u, ONE)
        err = select(x < INF, err, ZERO)
        res = log_core(u, ZERO, err / u)
        res = select(abs(x) < LOG1P_TINY, x, res)
        res = select(x == INF, x, res)
        res = select(x == -ONE, -INF, res)
        res = select(x < -ONE, NAN, res)
        return select(x == x, res, x)

    @register_jitable(**_JIT)
    def log1p_unit_(x):
        # log1p for 0 <= x <= 1 (or NaN) only, as log(1 + e^-|z|) in the
        # softplus kernels: none of log1p_'s negative, infinite or tiny cases
        # (x below 2**-25 gives u = 1 and err = x: the result is x exactly)
        u = ONE + x
        err = x - (u - ONE)  # Fast2Sum (1 >= x): u + err = 1 + x
        return select(x == x, log_core(u, ZERO, err / u), x)

    @register_jitable(**_JIT)
    def tanh_(x):
        a = abs(x)
        small = a < TANH_T
        xp = select(small, x, ZERO)
        t = xp * xp
        ps = fma(xp * t, _horner(t, TANHP), xp)  # x + x^3 P(x^2)
        a = select(a < TANH_SAT, a, TANH_SAT)  # NaN -> TANH_SAT, fixed below
        r, n = exp_reduce(a + a, NZERO)
        e = exp_poly(r) * pow2(n)  # >= 3
        # q = 2/(e + 1) with the rounding errors of e + 1 and of the division
        # put back (they cost up to 1 ulp of the result otherwise).
        s = e + ONE
        serr = ONE - (s - e)  # Fast2Sum (e >= 1): s + serr = e + 1
        q = TWO / s
        rq = fma(-q, s, TWO)  # exact remainder
        pl = ONE - (q + (rq - q * serr) * (q * HALF))
        res = select(small, ps, select(x < ZERO, -pl, pl))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    @register_jitable(**_JIT)
    def erf_poly(x):
        # erf(x) = x (c0 + t P(t)), t = x^2, with c0 = C0HI + C0LO
        t = x * x
        return fma(x, C0HI, x * fma(t, poly(t, ERFP), C0LO))

    @register_jitable(**_JIT)
    def tail_arg(a):
        # |x| clamped to the tail form's interval (NaN -> TAIL_HI)
        at = select(a > TAIL_LO, a, TAIL_LO)
        return select(at < TAIL_HI, at, TAIL_HI)

    @register_jitable(**_JIT)
    def erfc_tail_parts(a):
        # erfc(a) = exp(-a^2) / (1 + 2a) * S(u), u = (a - K)/(a + K) - T0,
        # for a in [TAIL_LO, TAIL_HI].  S is flat in u, so the rounding of u
        # hardly shows.  The other small relative errors are gathered into
        # the reduced argument of exp, where they cost one rounding of an
        # O(1/2) number: a^2 = h + l exactly (rounding a^2 alone would cost
        # a^2 * 2**-precision), and 1/(1 + 2a) = e (1 + c).
        h = a * a
        l = fma(a, a, -h)  # noqa: E741 (h + l: the high and low parts)
        u = fma(a - EK, ONE / (a + EK), -ERFC_TC)
        # float64 in two Horner pieces: Estrin's order was as accurate in the
        # normal range once the fit was centered (1.42 against 1.46 ulp on
        # tools/sample_f64.py's 100K points) and 10% faster in gelu, but
        # reached 1.01 units of 2**-1074 in the subnormal results (0.96)
        slo = fma(u, pieces(u, ERFCF), EC0LO)  # S - EC0HI
        a2 = a + a
        b = a2 + ONE
        bb = b - a2
        berr = (a2 - (b - bb)) + (ONE - bb)  # 2Sum: b + berr = 1 + 2a
        e = ONE / b
        c = fma(-b, e, ONE) - berr * e  # exact remainder, then 1 + 2a's error
        r, n = exp_reduce(-h, c - l)
        # S, e S and exp(r) e S are O(1) numbers, S just above 1 where a
        # rounding costs a whole 2**-24: keep them as m1 + m2 (m1 = e EC0HI,
        # m2 its exact error plus e slo) so only the last addition rounds a
        # full-size number.
        m1 = e * EC0HI
        m2 = fma(e, slo, fma(e, EC0HI, -m1))
        g = fma(poly(r, EXPQ), r, ONE)  # exp(r) = 1 + r g
        v = fma(m2, r, m1 * r)  # e S r
        # erfc(a) = (m1 + v g + m2) 2**n; 1 + 2a and S for erfc_dd_scaled
        return m1 + fma(v, g, m2), n, b, slo

    @register_jitable(**_JIT)
    def erfc_tail(a):
        y, n, b, slo = erfc_tail_parts(a)
        return scale(y, n)

    @register_jitable(**_JIT)
    def ldexp_below_(y, n):
        # y * 2**n for integral n in [-E - LDB_K, LDB_K] and |y| < 2**LDB_K:
        # 2**(n + LDB_K) is normal, so the first product is exact unless it
        # overflows, and the second rounds once (into the subnormals too)
        return (y * pow2(n + LDB_K)) * LDB_SCALE

    @register_jitable(**_JIT)
    def erfc_dd_scaled_(zh, zl):
        # (m, n): erfc(zh + zl) = m 2**n to first order in zl (|zl| << |zh|,
        # the low part of an argument such as -x/sqrt(2)), m normal where
        # erfc itself is subnormal, so that a product y erfc rounds once.
        # erfc' = -(2/sqrt(pi)) exp(-z^2), and the tail holds exp(-a^2) as
        # erfc(a) (1 + 2a) / S: the correction costs a division, not an exp.
        a = abs(zh)
        small = a < ERFC_T
        neg = zh < ZERO
        xs = select(small, zh, ZERO)
        t = xs * xs
        # exp(-t) to 1e-4 for t < ERFC_T^2: the correction is below an ulp
        gs = fma(fma(fma(t, NSIXTH, HALF), t, -ONE), t, ONE)
        ps = (ONE - erf_poly(xs)) - zl * (C0HI * gs)
        at = tail_arg(a)  # NaN -> TAIL_HI, fixed below
        y, n, b, slo = erfc_tail_parts(at)
        al = select(neg, -zl, zl)  # the low part of |z|
        # 1/S = 1/(EC0HI (1 + w)), |w| < 0.08, to 4e-5 by its series: the
        # correction is at most ~1e-13 relative, and a division would be the
        # third in this function (one divider, 4 lanes per 4.5 cycles here)
        w = slo * (ONE / EC0HI)
        inv_s = fma(fma(fma(w, -ONE, ONE), w, -ONE), w, ONE) * (ONE / EC0HI)
        y = fma(y, -al * (C0HI * b * inv_s), y)
        # beyond 2**-60 the tail is below half an ulp of 2
        m = select(small, ps, select(neg, TWO - y * pow2(select(n > SAT2, n, SAT2)), y))
        k = select(small, ZERO, select(neg, ZERO, n))
        return select(zh == zh, m, zh), k

    @register_jitable(**_JIT)
    def erf_(x):
        a = abs(x)
        small = a < ERF_T
        ps = erf_poly(select(small, x, ZERO))
        at = tail_arg(a)  # NaN -> TAIL_HI, fixed below
        pl = ONE - erfc_tail(at)
        res = select(small, ps, select(x < ZERO, -pl, pl))
        res = select(x == ZERO, x, res)  # keeps the sign of -0
        return select(x == x, res, x)

    @register_jitable(**_JIT)
    def erfc_(x):
        a = abs(x)
        small = a < ERFC_T
        ps = ONE - erf_poly(select(small, x, ZERO))
        at = tail_arg(a)
        tail = erfc_tail(at)
        res = select(small, ps, select(x < ZERO, TWO - tail, tail))
        return select(x == x, res, x)

    return dict(
        exp=exp_,
        exp_below=exp_below_,
        exp_below_2k=exp_below_2k_,
        expm1=expm1_,
        log=log_,
        log1p=log1p_,
        log1p_unit=log1p_unit_,
        tanh=tanh_,
        erf=erf_,
        erfc=erfc_,
        ldexp=scale,
        erfc_dd_scaled=erfc_dd_scaled_,
        ldexp_below=ldexp_below_,
    )


_F32 = _build(np.float32)
_F64 = _build(np.float64)


# --------------------------------------------------------------------------
# Public stubs.  Called from Python they run the same algorithm on NumPy
# scalars (arrays elementwise); in numba code the overloads below pick the
# float32 or float64 instantiation from the argument's type.


def _py(name, x):
    with np.errstate(all="ignore"):
        if np.ndim(x):
            x = np.asarray(x)
            if x.dtype != np.float32:
                x = x.astype(np.float64)
            f = (_F32 if x.dtype == np.float32 else _F64)[name]
            return np.array([f(v) for v in x.ravel()], x.dtype).reshape(x.shape)
        if isinstance(x, np.float32):
            return _F32[name](x)
        return _F64[name](np.float64(x))


def exp(x):
    """e**x."""
    return _py("exp", x)


def exp_below(x):
    """e**x for x <= 64 (float32) / 640 (float64) only (larger x: garbage, not
    inf): the cheaper exp for kernels whose argument is bounded, e.g. -|x|."""
    return _py("exp_below", x)


def expm1(x):
    """e**x - 1, accurate near 0."""
    return _py("expm1", x)


def log(x):
    """Natural logarithm; log(0) = -inf, log(x < 0) = nan."""
    return _py("log", x)


def log1p(x):
    """log(1 + x), accurate near 0."""
    return _py("log1p", x)


def log1p_unit(x):
    """log(1 + x) for 0 <= x <= 1 only (and NaN): log1p without the cases
    outside that range, for kernels whose argument is e**-|z|."""
    return _py("log1p_unit", x)


def tanh(x):
    """Hyperbolic tangent."""
    return _py("tanh", x)


def erf(x):
    """Error function."""
    return _py("erf", x)


def erfc(x):
    """Complementary error function, relatively accurate in the right tail."""
    return _py("erfc", x)


def _py_scaled(name, y, n):
    with np.errstate(all="ignore"):
        if isinstance(y, np.float32):
            return _F32[name](y, np.float32(n))
        return _F64[name](np.float64(y), np.float64(n))


def ldexp(y, n):
    """y * 2**n rounded once, for |y| < 2**100 (float32) / 2**968 (float64)."""
    return _py_scaled("ldexp", y, n)


def exp_below_2k(x, k):
    """e**x * 2**k for integral 0 <= k <= 64 and x <= 64 - k (float32; float64:
    640 - k): e**x scaled before it rounds, normal where e**x is subnormal
    (and right, subnormal or 0, below)."""
    return _py_scaled("exp_below_2k", x, k)


def ldexp_below(y, n):
    """y * 2**n rounded once, for integral n in [-166, 40] (float32) /
    [-1086, 64] (float64) and |y| below 2**40 / 2**64: ldexp's cheaper form
    for results that can be subnormal but not overflow."""
    return _py_scaled("ldexp_below", y, n)


def erfc_dd_scaled(zh, zl):
    """(m, n) with erfc(zh + zl) = m * 2**n to first order in zl, |zl| <<
    |zh| (a double-length argument such as -x/sqrt(2) split in two), m
    normal down to erfc's underflow, so that y * erfc(z) can be formed as
    ldexp(y * m, n) with one rounding even where erfc(z) is subnormal."""
    return _py_scaled("erfc_dd_scaled", zh, zl)


def _register(stub, name):
    f32, f64 = _F32[name], _F64[name]

    @overload(stub, jit_options=_JIT)
    def _ov(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, (types.Float, types.Integer)):
            return lambda x: f64(np.float64(x))


for _stub in (exp, exp_below, expm1, log, log1p, log1p_unit, tanh, erf, erfc):
    _register(_stub, _stub.__name__)


def _register_scaled(stub, name):
    # the power of two as an integral float of y's type: float <-> int64
    # conversions do not vectorize on AVX2, and |n| beyond 2**24 is
    # saturated anyway
    f32, f64 = _F32[name], _F64[name]

    @overload(stub, jit_options=_JIT)
    def _ov(y, n):
        if y == types.float32:
            return lambda y, n: f32(y, np.float32(n))
        if y == types.float64:
            return lambda y, n: f64(y, np.float64(n))


for _stub in (ldexp, ldexp_below, exp_below_2k, erfc_dd_scaled):
    _register_scaled(_stub, _stub.__name__)
