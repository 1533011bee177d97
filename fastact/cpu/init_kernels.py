"""Uniform and normal deviates from raw random bits, vectorized in numba.

Both kernels read the raw 32-bit words of a bit generator
(``random_raw``: cheaper per word than ``Generator.random`` per float32, and
no second pass for the scaling).

Uniform: u = (word >> 8) * 2**-24 for float32 (NumPy's float32 ``random``
does the same on the same words), 53 bits from two words for float64; then
``u * (high - low) + low`` in the array's type, as torch computes it.

Normal: NumPy's ``Generator.standard_normal`` (a ziggurat) does not
vectorize; torch fills with a SIMD Box-Muller, and
so does this: every pair of outputs (z1, z2) = r (cos t, sin t),
r = sqrt(-2 log u1), t = 2 pi u2.  The log is ``core.vmath.log`` (vectorizable,
float32 computed in float32); cos and sin of 2 pi u come from the quadrant of
u and Taylor polynomials on [-pi/4, pi/4] (truncation error below 0.1 ulp
for both types), so LLVM vectorizes the whole loop.  Resolution: float32
pairs use two words (u1 with 31 bits, u1 > 0, so |z| reaches 6.6 sigma; the
mass beyond is 4e-11); float64 pairs use four words (62-bit u1: 9.3 sigma,
mass beyond 1e-20).  A block of n outputs holds hp = ceil(n/2) cosines then
the n - hp sines.

Words are read as contiguous runs, one per role (u1's high bits, u1's low
bits, ...), so every load and store in a loop is unit-stride.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fastact.core import source_tag
from fastact.core.vmath import horner as _horner
from fastact.core.vmath import log, select

# numba's disk cache only watches this file; the kernels inline core's log,
# so core's text is part of each cached kernel's name
_TAG = source_tag()

_JIT = dict(nogil=True, error_model="numpy")


def _taylor(dtype, first: int, terms: int) -> tuple:
    """(-1)^k / (2k + first)!: sin (first=1) and cos (first=0) in powers of x^2."""
    return tuple(dtype((-1) ** k / math.factorial(2 * k + first)) for k in range(terms))


# x^11/11! < 2e-9 and x^12/12! < 1e-10 at pi/4 (float32 ulp/2 ~ 3e-8);
# x^19/19! < 1e-19 and x^20/20! < 4e-21 (float64 ulp/2 ~ 6e-17)
_SIN32, _COS32 = _taylor(np.float32, 1, 5), _taylor(np.float32, 0, 6)
_SIN64, _COS64 = _taylor(np.float64, 1, 9), _taylor(np.float64, 0, 10)
_TWO_PI32, _TWO_PI64 = np.float32(2 * math.pi), np.float64(2 * math.pi)
_QUARTER32, _QUARTER64 = np.float32(0.25), np.float64(0.25)
_P31_32, _P31_64 = np.float32(2.0**-31), np.float64(2.0**-31)
_P24_32, _P26_64, _P53_64 = np.float32(2.0**-24), np.float64(2.0**26), np.float64(2.0**-53)
_ONE, _FIVE, _SIX, _EIGHT = np.uint32(1), np.uint32(5), np.uint32(6), np.uint32(8)


def _cos_sin_turn(u, two_pi, quarter, sin_c, cos_c):
    """(cos 2 pi u, sin 2 pi u) for 0 <= u <= 1, every constant in u's type."""
    q = np.rint(u / quarter)  # the nearest quadrant boundary
    x = (u - q * quarter) * two_pi  # u - q/4 is exact (within 1/8)
    x2 = x * x
    s = x * _horner(x2, sin_c)
    c = _horner(x2, cos_c)
    k = np.int32(q) & 3
    odd = (k & 1) == 1
    cv = select(odd, s, c)
    sv = select(odd, c, s)
    return select((k == 1) | (k == 2), -cv, cv), select(k >= 2, -sv, sv)


def _word(w):
    """The top 31 bits of a uint32 word as a non-negative int32 (int32 ->
    float conversion vectorizes on AVX2, uint32/int64 -> float does not)."""
    return np.int32(w >> _ONE)


def _pair32(a, b):
    u1 = (np.float32(_word(a)) + np.float32(0.5)) * _P31_32  # (0, 1]
    r = np.sqrt(np.float32(-2.0) * log(u1))
    u2 = np.float32(_word(b)) * _P31_32  # [0, 1]
    c, s = _cos_sin_turn(u2, _TWO_PI32, _QUARTER32, _SIN32, _COS32)
    return r * c, r * s


def _pair64(a_hi, a_lo, b_hi, b_lo):
    u1 = (np.float64(_word(a_hi)) + (np.float64(_word(a_lo)) + 0.5) * _P31_64) * _P31_64
    r = np.sqrt(-2.0 * log(u1))
    u2 = (np.float64(_word(b_hi)) + np.float64(_word(b_lo)) * _P31_64) * _P31_64
    c, s = _cos_sin_turn(u2, _TWO_PI64, _QUARTER64, _SIN64, _COS64)
    return r * c, r * s


def _uniform32(words, out, low, high):
    lo = np.float32(low)
    width = np.float32(high) - lo
    for i in range(out.size):
        u = np.float32(np.int32(words[i] >> _EIGHT)) * _P24_32
        out[i] = u * width + lo


def _uniform64(words, out, low, high):
    n = out.size
    width = high - low
    for i in range(n):
        # 27 + 26 bits, as NumPy's legacy double: int32 -> float64 vectorizes
        u = (
            np.float64(np.int32(words[i] >> _FIVE)) * _P26_64
            + np.float64(np.int32(words[n + i] >> _SIX))
        ) * _P53_64
        out[i] = u * width + low


# The cosines and sines go to two views of the block: written through one
# array as out[i] and out[hp + i], LLVM cannot rule out an overlap and keeps
# the loop scalar (3x slower).


def _normal32(words, o1, o2, mean, std):
    m, sd = np.float32(mean), np.float32(std)
    hp = o1.size
    for i in range(o2.size):
        c, s = _pair32(words[i], words[hp + i])
        o1[i] = m + sd * c
        o2[i] = m + sd * s
    if o2.size < hp:
        c, s = _pair32(words[hp - 1], words[2 * hp - 1])
        o1[hp - 1] = m + sd * c


def _normal64(words, o1, o2, mean, std):
    hp = o1.size
    for i in range(o2.size):
        c, s = _pair64(words[i], words[hp + i], words[2 * hp + i], words[3 * hp + i])
        o1[i] = mean + std * c
        o2[i] = mean + std * s
    if o2.size < hp:
        j = hp - 1
        c, s = _pair64(words[j], words[hp + j], words[2 * hp + j], words[3 * hp + j])
        o1[j] = mean + std * c


def _inline(fn):
    return njit(forceinline=True, **_JIT)(fn)


def _cached(fn):
    fn.__qualname__ = f"{fn.__name__}_{_TAG}"
    return njit(cache=True, **_JIT)(fn)


_word, _cos_sin_turn = _inline(_word), _inline(_cos_sin_turn)
_pair32, _pair64 = _inline(_pair32), _inline(_pair64)
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
# dtype -> (kernel, uint32 words per output element, rounded up to whole pairs for normal)
_UNIFORM = {F32: (_cached(_uniform32), 1), F64: (_cached(_uniform64), 2)}
_NORMAL = {F32: (_cached(_normal32), 2), F64: (_cached(_normal64), 4)}


def _words(gen: np.random.Generator, count: int) -> np.ndarray:
    """The next `count` raw 32-bit words of gen's bit generator."""
    return gen.bit_generator.random_raw((count + 1) // 2).view(np.uint32)[:count]


def uniform(out: np.ndarray, gen: np.random.Generator, low: float, high: float) -> None:
    """Fill contiguous 1-D float32/float64 `out` with U(low, high) draws from `gen`."""
    kernel, per = _UNIFORM[out.dtype]
    kernel(_words(gen, per * out.size), out, low, high)


def normal(out: np.ndarray, gen: np.random.Generator, mean: float, std: float) -> None:
    """Fill contiguous 1-D float32/float64 `out` with N(mean, std^2) draws from `gen`."""
    kernel, per = _NORMAL[out.dtype]
    hp = (out.size + 1) // 2
    kernel(_words(gen, per * hp), out[:hp], out[hp:], mean, std)
