"""The intrinsics the elementary functions are built from, and what they share.

- bitcasts between a float and the int of its width, ``select`` (a vector
  blend), ``or_sign`` (a sign bit ORed in, at the float's width) and ``fma``
  (one rounding): plain LLVM IR (bitcast, select, and/or, ``llvm.fma``),
  nothing CPU specific, so the same source compiles for CUDA;
- polynomial evaluation: ``horner``, and for float64's long polynomials
  ``estrin`` and ``horner_pieces`` (shorter dependency chains);
- ``constants(ft)``: the constants of float type `ft` the functions share;
- ``ldexp_kernels(ft)``: 2**n built by an int <-> float bitcast, and y * 2**n
  rounded once (``ldexp``, ``ldexp_below``);
- the public stubs' machinery (``call``, ``register``): a stub is a plain
  Python function that numba resolves through ``numba.extending.overload``,
  a float32 argument to the float32 instantiation and a float64 one to the
  float64 instantiation.  From Python a stub runs the very same algorithm on
  NumPy scalars (with an exact software FMA), which is what numba's CUDA
  simulator executes.

Each building block has a Python body, for the interpreter, and an overload
for numba.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload, register_jitable

# Division by zero must give inf/NaN like IEEE, not raise: the raising check
# is a branch that stops vectorization.  forceinline (LLVM alwaysinline):
# the inliner declines the larger kernels (erf/erfc float64) by cost, and a
# call left in the loop body stops vectorization.  (numba-IR inlining instead
# would compile the bodies under the caller's error model and is slow.)
JIT = dict(error_model="numpy", forceinline=True)


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
def _or_sign_i(typingctx, r, x):
    if not (isinstance(r, types.Float) and r == x):
        return None

    def codegen(context, builder, sig, args):
        ity = ir.IntType(r.bitwidth)
        rb, xb = (builder.bitcast(v, ity) for v in args)
        sign = ity(-(1 << (r.bitwidth - 1)))
        return builder.bitcast(builder.or_(rb, builder.and_(xb, sign)), args[0].type)

    return r(r, x), codegen


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


def or_sign(r, x):
    """r with x's sign bit ORed in: copysign(r, x) where r is +0 or already
    has x's sign, in two bitwise operations where copysign takes three.
    (In numba the integer operations of float_as_int's results would widen
    to int64: an intrinsic keeps them at the float's width.)"""
    ri, xi = float_as_int(r), float_as_int(x)
    return int_as_float(ri | (xi & np.iinfo(ri.dtype).min))


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


@overload(float_as_int, jit_options=JIT)
def _ov_float_as_int(x):
    if isinstance(x, types.Float):
        return lambda x: _bitcast_f2i(x)


@overload(int_as_float, jit_options=JIT)
def _ov_int_as_float(i):
    if isinstance(i, types.Integer) and i.bitwidth in (32, 64):
        return lambda i: _bitcast_i2f(i)


@overload(or_sign, jit_options=JIT)
def _ov_or_sign(r, x):
    if isinstance(r, types.Float) and r == x:
        return lambda r, x: _or_sign_i(r, x)


@overload(select, jit_options=JIT)
def _ov_select(c, a, b):
    if isinstance(c, types.Boolean) and a == b:
        return lambda c, a, b: _select_i(c, a, b)


@overload(fma, jit_options=JIT)
def _ov_fma(a, b, c):
    if isinstance(a, types.Float) and a == b == c:
        return lambda a, b, c: _fma_i(a, b, c)


def horner(x, c):
    """c[0] + x*(c[1] + x*(c[2] + ...)), one fma per coefficient."""
    h = c[-1]
    for k in range(len(c) - 2, -1, -1):
        h = fma(h, x, c[k])
    return h


@overload(horner, jit_options=JIT)
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


def horner_select(x, m, c1, c0):
    """horner(x, c1) where m, else horner(x, c0): each coefficient picked per
    lane (a blend, no fma), for piecewise fits of one degree."""
    h = c1[-1] if m else c0[-1]
    for k in range(len(c1) - 2, -1, -1):
        h = fma(h, x, c1[k] if m else c0[k])
    return h


@overload(horner_select, jit_options=JIT)
def _ov_horner_select(x, m, c1, c0):
    if not (
        isinstance(x, types.Float)
        and isinstance(c1, types.BaseTuple)
        and isinstance(c0, types.BaseTuple)
        and len(c1) == len(c0)
    ):
        return None
    n = len(c1)
    src = ["def impl(x, m, c1, c0):", f"    h = select(m, c1[{n - 1}], c0[{n - 1}])"]
    src += [f"    h = fma(h, x, select(m, c1[{k}], c0[{k}]))" for k in range(n - 2, -1, -1)]
    src.append("    return h")
    ns = {"fma": fma, "select": select}
    exec("\n".join(src), ns)
    return ns["impl"]


def _estrin_impl(n: int):
    """Estrin's scheme for n coefficients, as source unrolled like horner's:
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
    close to Horner's where Estrin's order does not (see erfc's tail in
    error_function)."""
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
    expr = f"horner(x, {pieces[-1]})"
    for piece in reversed(pieces[:-1]):
        expr = f"fma({expr}, r, horner(x, {piece}))"
    src.append(f"    return {expr}")
    ns = {"fma": fma, "horner": horner}
    exec("\n".join(src), ns)
    return ns["impl"]


PIECES = 2


def estrin(x, c):
    """The polynomial of horner, evaluated by Estrin's scheme."""
    return _estrin_impl(len(c))(x, c)


def horner_pieces(x, c):
    """The polynomial of horner, evaluated in PIECES Horner pieces."""
    return _pieces_impl(len(c), PIECES)(x, c)


@overload(estrin, jit_options=JIT)
def _ov_estrin(x, c):
    if isinstance(x, types.Float) and isinstance(c, types.BaseTuple):
        return _estrin_impl(len(c))


@overload(horner_pieces, jit_options=JIT)
def _ov_horner_pieces(x, c):
    if isinstance(x, types.Float) and isinstance(c, types.BaseTuple):
        return _pieces_impl(len(c), PIECES)


# --------------------------------------------------------------------------
# Constants given to more digits than a float64 holds, split into hi + lo.

LN2 = Fraction("0.6931471805599453094172321214581765680755001343602552541206800094933936")


def split(ft, v: Fraction):
    """`v` as hi + lo in float type `ft`: hi = v rounded, lo = the rest rounded."""
    hi = ft(float(v))
    return hi, ft(float(v - Fraction(float(hi))))


# --------------------------------------------------------------------------
# The algorithms are written once and instantiated per float type by a
# factory of that type (``kernels(ft)`` in each module, cached: a helper
# shared by two functions is one numba function).  Every constant is of that
# type, exponent arithmetic runs in int32 (float <-> int conversions through
# int32 are the ones AVX2 has for both widths) and bit patterns in the int of
# the float's width.


@functools.cache
def constants(ft) -> SimpleNamespace:
    """The constants of float type `ft` (np.float32 or np.float64) that the
    functions share, and the polynomial schemes for that type."""
    f32 = ft == np.float32
    LN2HI, LN2LO = split(ft, LN2)
    return SimpleNamespace(
        f32=f32,
        I32=np.int32,
        IT=np.int32 if f32 else np.int64,
        MANT=(np.int32 if f32 else np.int64)(23 if f32 else 52),  # explicit mantissa bits
        BIAS=np.int32(127 if f32 else 1023),
        E=126 if f32 else 1022,  # 2**-E: smallest normal
        # fma(x, c, POW2_MAGIC) rounds x c to an integer n (ulp 1 there) and
        # holds n + BIAS in its low bits: n is the sum minus POW2_MAGIC and
        # 2**n is pow2_rint(sum), no rint or conversion
        POW2_MAGIC=ft(1.5 * 2.0 ** (23 if f32 else 52) + (127 if f32 else 1023)),
        ZERO=ft(0),
        ONE=ft(1),
        TWO=ft(2),
        HALF=ft(0.5),
        # r + -0.0 is r for every r (r + 0.0 is not, for r = -0), so LLVM
        # drops the addition of a -0.0 low part and keeps that of +0.0
        NZERO=ft(-0.0),
        INF=ft(np.inf),
        NAN=ft(np.nan),
        LOG2E=ft(1 / math.log(2)),
        LN2HI=LN2HI,
        LN2LO=LN2LO,
        # float64's long polynomials with shorter dependency chains, which
        # bound the float64 loops (four lanes a vector); float32's keep
        # Horner, the order of the exhaustive sweep.
        poly=horner if f32 else estrin,
        pieces=horner if f32 else horner_pieces,
    )


def on_cpu() -> bool:
    """True in code compiled for the CPU (and in Python); False where the CUDA
    backend compiles it (fastact.backends.cuda._compat overloads it for that
    target).  A constant after inlining, so the branch not taken is dropped:
    it lets a float32 kernel compute in float64 on CPUs, where that costs two
    vector lanes for one, without costing GPUs their slow float64 units."""
    return True


@overload(on_cpu, target="generic", jit_options=JIT)
def _ov_on_cpu():
    return lambda: True


def coefficients(ft, f32_table, f64_table) -> tuple:
    """The table for float type `ft`, its entries of that type."""
    return tuple(ft(c) for c in (f32_table if ft == np.float32 else f64_table))


@functools.cache
def ldexp_kernels(ft) -> dict:
    """pow2 (2**kf), ldexp and ldexp_below for float type `ft`."""
    cst = constants(ft)
    I32, IT, MANT, BIAS, E = cst.I32, cst.IT, cst.MANT, cst.BIAS, cst.E
    f32 = cst.f32
    LDB_K = ft(40 if f32 else 64)
    LDB_SCALE = ft(2.0 ** -(40 if f32 else 64))
    # scale: n is clamped to [-2E, 2E + 1] and split as n1 + n2 with
    # n2 = clamp(n, -E, E), so 2**n1 and 2**n2 are both normal.
    SC_LO, SC_HI = ft(-2 * E), ft(2 * E + 1)
    SC_E = ft(E)

    @register_jitable(**JIT)
    def pow2(kf):
        # 2**kf for integral kf in [-E, BIAS]
        return int_as_float(IT(IT(I32(kf) + BIAS) << MANT))

    @register_jitable(**JIT)
    def pow2_rint(t):
        # 2**(j - BIAS) for t = RINT_MAGIC + j, j integral in [1, 2 BIAS]:
        # j sits in t's low mantissa bits, and the shift drops the rest
        return int_as_float(IT(float_as_int(t) << MANT))

    @register_jitable(**JIT)
    def over_pow2_rint(y, t):
        # y / 2**j for t = RINT_MAGIC + j (j integral, -BIAS < j < BIAS)
        # by integer subtraction from y's exponent field: exact where y and
        # the result are normal
        return int_as_float(IT(float_as_int(y) - IT(float_as_int(t) << MANT)))

    @register_jitable(**JIT)
    def scale(y, n):
        # y * 2**n rounded once (gradual underflow and overflow included) for
        # integral n and |y| < 2**(E - precision - 1): 2**n1 * y is exact
        # unless the result is 0 or inf anyway, 2**n2 rounds.
        n = select(n > SC_LO, n, SC_LO)
        n = select(n < SC_HI, n, SC_HI)
        n2 = select(n > -SC_E, n, -SC_E)
        n2 = select(n2 < SC_E, n2, SC_E)
        return (y * pow2(n - n2)) * pow2(n2)

    @register_jitable(**JIT)
    def ldexp_below_(y, n):
        # y * 2**n for integral n in [-E - LDB_K, LDB_K] and |y| < 2**LDB_K:
        # 2**(n + LDB_K) is normal, so the first product is exact unless it
        # overflows, and the second rounds once (into the subnormals too)
        return (y * pow2(n + LDB_K)) * LDB_SCALE

    return dict(
        pow2=pow2,
        pow2_rint=pow2_rint,
        over_pow2_rint=over_pow2_rint,
        ldexp=scale,
        ldexp_below=ldexp_below_,
    )


# --------------------------------------------------------------------------
# Public stubs.  Called from Python they run the same algorithm on NumPy
# scalars (arrays elementwise); in numba code the overloads registered here
# pick the float32 or float64 instantiation from the argument's type.


def call(kernels, name, x):
    """kernels(float type)[name](x), for a NumPy scalar or array x (other
    numbers and arrays compute in float64)."""
    with np.errstate(all="ignore"):
        if np.ndim(x):
            x = np.asarray(x)
            if x.dtype != np.float32:
                x = x.astype(np.float64)
            f = kernels(np.float32 if x.dtype == np.float32 else np.float64)[name]
            return np.array([f(v) for v in x.ravel()], x.dtype).reshape(x.shape)
        if isinstance(x, np.float32):
            return kernels(np.float32)[name](x)
        return kernels(np.float64)[name](np.float64(x))


def call_scaled(kernels, name, y, n):
    """kernels(float type)[name](y, n), n converted to y's float type."""
    with np.errstate(all="ignore"):
        if isinstance(y, np.float32):
            return kernels(np.float32)[name](y, np.float32(n))
        return kernels(np.float64)[name](np.float64(y), np.float64(n))


def register(stub, kernels):
    """Compile calls of the one-argument `stub` to its instantiation in
    kernels(float type): float32's for float32, float64's for other floats
    and integers."""
    f32, f64 = kernels(np.float32)[stub.__name__], kernels(np.float64)[stub.__name__]

    @overload(stub, jit_options=JIT)
    def _ov(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, (types.Float, types.Integer)):
            return lambda x: f64(np.float64(x))


def register_scaled(stub, kernels):
    """As register, for `stub`(y, n) with a float y."""
    # the power of two as an integral float of y's type: float <-> int64
    # conversions do not vectorize on AVX2, and |n| beyond 2**24 is
    # saturated anyway
    f32, f64 = kernels(np.float32)[stub.__name__], kernels(np.float64)[stub.__name__]

    @overload(stub, jit_options=JIT)
    def _ov(y, n):
        if y == types.float32:
            return lambda y, n: f32(y, np.float32(n))
        if y == types.float64:
            return lambda y, n: f64(y, np.float64(n))


def ldexp(y, n):
    """y * 2**n rounded once, for |y| < 2**100 (float32) / 2**968 (float64)."""
    return call_scaled(ldexp_kernels, "ldexp", y, n)


def ldexp_below(y, n):
    """y * 2**n rounded once, for integral n in [-166, 40] (float32) /
    [-1086, 64] (float64) and |y| below 2**40 / 2**64: ldexp's cheaper form
    for results that can be subnormal but not overflow."""
    return call_scaled(ldexp_kernels, "ldexp_below", y, n)


def pow2(kf):
    """2**kf for integral kf in [-126, 127] (float32) / [-1022, 1023]
    (float64), in kf's float type; outside that range garbage (no check):
    for kernels that keep their exponent in range and round the product
    with 2**kf once themselves."""
    return call(ldexp_kernels, "pow2", kf)


def pow2_rint(t):
    """2**(j - 127) (float32) / 2**(j - 1023) (float64) for
    t = 1.5 * 2**23 + j / 1.5 * 2**52 + j, j integral in [1, 254] / [1, 2046]:
    the exponent of a sum that an fma rounded to an integer (t = fma(x, c,
    that magic + bias + offset) gives n = rint(x c) as t - (its addend) and
    2**(n + offset) here), without converting n to an integer."""
    return call(ldexp_kernels, "pow2_rint", t)


def over_pow2_rint(y, t):
    """y / 2**j for t = 1.5 * 2**23 + j (float32) / 1.5 * 2**52 + j (float64),
    j integral, by integer subtraction from y's exponent field: exact where y
    and the result are normal numbers (garbage elsewhere: no check)."""
    return call_scaled(ldexp_kernels, "over_pow2_rint", y, t)


register_scaled(ldexp, ldexp_kernels)
register_scaled(over_pow2_rint, ldexp_kernels)
register_scaled(ldexp_below, ldexp_kernels)
register(pow2, ldexp_kernels)
register(pow2_rint, ldexp_kernels)
