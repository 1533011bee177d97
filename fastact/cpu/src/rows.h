/* Softmax-family kernels over one axis, in C with GCC vector extensions.
 *
 * Why C and explicit vectors: the loops need an exp that vectorizes.  glibc's
 * vector expf is only used under -ffast-math, which implies
 * -ffinite-math-only and breaks the -inf/NaN semantics softmax promises, and
 * gcc does not vectorize reductions (max, sum) without -ffast-math either.
 * So the exp is written here on vectors (range reduction by a magic-number
 * rint, a polynomial, 2^n built from bits; constants and polynomials from
 * exp.h) and the reductions keep explicit vector accumulators.  Vector
 * types, helpers and the target_clones build are vec.h's.
 *
 * Layout: a call handles `width` columns of length n, element j of column t
 * at x[j*stride + t].  width == stride == 1 is the common "last axis" row;
 * width > 1 is softmax over a middle axis, done without a transposed copy by
 * running the reductions down the columns, four columns per vector (the
 * caller cuts the columns into blocks of at most FA_BLOCK).
 *
 * Arithmetic is in double for both dtypes: for float32 that makes x - max
 * exact and the sum exact enough that every output is within ~1.5 ULP; for
 * float64 x - max is carried as hi + lo so that exp does not amplify its
 * rounding.
 */
#ifndef FASTACT_ROWS_H
#define FASTACT_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "exp.h"
#include "stream.h"
#include "vec.h"

/* Backward rows up to this long can have their output streamed (`stream`:
 * the whole output is too large for the cache, see stream.h): the last pass
 * writes a stack buffer in L1 and fa_stream_out moves it out.  (The forward
 * rows do not: their exp pass is compute-bound, so the stores are not what
 * bounds them.) */
#define FA_STREAM_ROW 4096

#define FA_BLOCK 256        /* columns per task when the axis is not the last */

/* Column passes read `width` floats of each of n rows a stride apart: runs
 * too short for the hardware prefetchers to follow from one row to the next.
 * So each pass prefetches its rows this many rows ahead. */
#define FA_COL_AHEAD 4

/* prefetch row j + FA_COL_AHEAD of a column block (for writing if `write`) */
FA_INLINE void fa_col_prefetch(const float *p, ptrdiff_t j, ptrdiff_t n, ptrdiff_t width,
                               ptrdiff_t stride, int write)
{
    if (j + FA_COL_AHEAD >= n) return;
    p += (j + FA_COL_AHEAD) * stride;
    for (ptrdiff_t t = 0; t < width; t += 16) {
        if (write) __builtin_prefetch(p + t, 1, 3);
        else __builtin_prefetch(p + t, 0, 3);
    }
}

/* e^x lanewise after reduction to |r| <= ln2/2: deg >= 13 gives the
 * double-accurate minimax form (within an ULP), deg 8 Taylor terms to degree 8
 * (within 3e-10, enough for a float result).  -inf -> 0, NaN -> NaN, overflow -> inf, gradual
 * underflow rounded once. */
FA_INLINE v4d fa_exp4(v4d x, int deg)
{
    const v4d LOG2E = fa_splat(FA_LOG2E), LN2_HI = fa_splat(FA_LN2_HI),
              LN2_LO = fa_splat(FA_LN2_LO), MAGIC = fa_splat(FA_RINT_MAGIC),
              LO = fa_splat(-746.0), HI = fa_splat(710.0);
    v4d xc = fa_select(x < LO, LO, x);
    xc = fa_select(xc > HI, HI, xc);
    /* n = rint(x / ln2) by adding and removing 1.5 * 2^52 */
    v4d fn = (xc * LOG2E + MAGIC) - MAGIC;
    v4d r = (xc - fn * LN2_HI) - fn * LN2_LO;
    v4d p;
    if (deg >= 13)
        FA_EXP_MINIMAX_D(p, r);
    else
        FA_EXP_TAYLOR(p, r, deg);
    /* 2^n as two normal factors (n1 + n2 = n) so that subnormal results are
     * rounded once.  MAGIC's low 52 bits are zero, so (bits(k + MAGIC) +
     * 1023) << 52 is the double 2^k: only 64-bit adds and left shifts, which
     * AVX2 has (it has no 64-bit arithmetic right shift or int64 -> double) */
    v4d fn1 = (fn * 0.5 + MAGIC) - MAGIC, fn2 = fn - fn1;
    v4d s1 = (v4d)(((v4i)(fn1 + MAGIC) + 1023) << 52);
    v4d s2 = (v4d)(((v4i)(fn2 + MAGIC) + 1023) << 52);
    return fa_select(x != x, x, p * s1 * s2);
}

/* e^x for x <= 0 only (larger x: garbage), -inf -> 0, NaN -> NaN: the
 * minimax polynomial and one scaling by 2^(n + 56) and 2^-56 (normal for
 * every n down to -1076; a subnormal result still rounded once) instead of
 * fa_exp4's overflow clamp and two half-size factors.  Softmax's x - max,
 * and log-probabilities. */
FA_INLINE v4d fa_exp4_le0(v4d x)
{
    const v4d LOG2E = fa_splat(FA_LOG2E), LN2_HI = fa_splat(FA_LN2_HI),
              LN2_LO = fa_splat(FA_LN2_LO), MAGIC = fa_splat(FA_RINT_MAGIC),
              LO = fa_splat(-746.0);
    v4d xc = fa_select(x < LO, LO, x);
    v4d fn = (xc * LOG2E + MAGIC) - MAGIC;
    v4d r = (xc - fn * LN2_HI) - fn * LN2_LO;
    v4d p;
    FA_EXP_MINIMAX_D(p, r);
    v4d s = (v4d)(((v4i)(fn + MAGIC) + (1023 + 56)) << 52);
    return fa_select(x != x, x, (p * s) * 0x1p-56);
}

FA_INLINE double fa_hsum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* e^x on eight floats, float arithmetic only (twice the lanes of the double
 * version): Cody-Waite reduction to |r| <= ln2/2, Taylor to degree 7
 * (truncation 5e-9).  Within ~1 ULP; NaN -> NaN.
 *
 * neg (the softmax case): the caller guarantees x in [-110, 0] or NaN, so no
 * clamp is needed and 2^n is built as 2^(n+64) (normal for every such n) times
 * 2^-64: the product is exact where the result is normal and rounded once
 * where it is subnormal.  The bits of 2^(n+64) come straight from the
 * rounding sum t = x*log2(e) + 1.5*2^23, whose low bits hold n.
 * Otherwise x is clamped to [-104, 89] (-inf -> 0, overflow -> inf) and 2^n
 * is two normal factors. */
FA_INLINE v8f fa_exp8f(v8f x, int neg)
{
    const v8f LOG2E = fa_splat8(FA_LOG2E_F), LN2_HI = fa_splat8(FA_LN2_HI_F),
              LN2_LO = fa_splat8(FA_LN2_LO_F), MAGIC = fa_splat8(FA_RINT_MAGIC_F),
              LO = fa_splat8(-104.0f), HI = fa_splat8(89.0f);
    const v8i MB = (v8i)MAGIC;
    v8f xc = neg ? x : fa_select8(x < LO, LO, x);
    xc = neg ? xc : fa_select8(xc > HI, HI, xc);
    v8f t = xc * LOG2E + MAGIC, fn = t - MAGIC;
    v8f r = (xc - fn * LN2_HI) - fn * LN2_LO;
    v8f p = fa_splat8(FA_EXPF_C7);
    FA_EXPF_TAYLOR7(p, r);
    if (neg)    /* bits(t) - bits(MAGIC) = n for |n| < 2^22 */
        return (p * (v8f)(((v8i)t - MB + (127 + 64)) << 23)) * 0x1p-64f;
    v8f fn1 = (fn * 0.5f + MAGIC) - MAGIC, fn2 = fn - fn1;
    v8f s1 = (v8f)((((v8i)(fn1 + MAGIC) - MB) + 127) << 23);
    v8f s2 = (v8f)((((v8i)(fn2 + MAGIC) - MB) + 127) << 23);
    return fa_select8(x != x, x, p * s1 * s2);
}

/* Eight floats at p, k of them valid (k < 8 pads with `pad`). */
FA_INLINE v8f fa_load8(const float *p, ptrdiff_t k, float pad)
{
    v8f v;
    if (k >= 8) { memcpy(&v, p, sizeof v); return v; }
    float b[8] = {pad, pad, pad, pad, pad, pad, pad, pad};
    for (ptrdiff_t i = 0; i < k; i++) b[i] = p[i];
    memcpy(&v, b, sizeof v);
    return v;
}
FA_INLINE void fa_store8(float *p, ptrdiff_t k, v8f v)
{
    if (k >= 8) { memcpy(p, &v, sizeof v); return; }
    float b[8];
    memcpy(b, &v, sizeof v);
    for (ptrdiff_t i = 0; i < k; i++) p[i] = b[i];
}
/* the low and high four lanes of v, as doubles */
/* (written lane by lane: gcc 12 turns __builtin_convertvector of a shuffled
 * half into two 2-lane converts and an insert, this into one vcvtps2pd) */
FA_INLINE v4d fa_lo4(v8f v)
{
    return (v4d){v[0], v[1], v[2], v[3]};
}
FA_INLINE v4d fa_hi4(v8f v)
{
    return (v4d){v[4], v[5], v[6], v[7]};
}

/* HI + LO = V - M exactly (TwoSum of V and -M), on vectors of either
 * precision: softmax's x - max, whose rounding exp would amplify */
#define FA_TWO_DIFF(HI, LO, V, M) do {                                     \
    __typeof__(V) bb_;                                                    \
    HI = (V) - (M);                                                       \
    bb_ = HI - (V);                                                       \
    LO = ((V) - (HI - bb_)) + (-(M) - bb_);                               \
} while (0)

/* e^(v - m) for a float vector v and its (row or column) max m.  v - m is
 * carried as hi + lo (TwoSum) and applied to first order, since exp would
 * amplify its rounding by |v - m|. */
FA_INLINE v8f fa_diff_exp8f(v8f v, v8f m, int fast)
{
    if (fast) {
        /* |max| < 1e9 (finite, and m - 110 is not absorbed): v below m - 110
         * gives 0 anyway, and raising it there keeps v - m in [-110, 0] or
         * NaN, so the exp needs no clamps and the error term no guard */
        const v8f floor = m - 110.0f;
        v = fa_select8(v < floor, floor, v);
    }
    v8f hi, lo;
    FA_TWO_DIFF(hi, lo, v, m);
    if (!fast)                                  /* inf/NaN: no error term */
        lo = fa_select8(hi - hi == 0.0f, lo, fa_splat8(0.0f));
    v8f e = fa_exp8f(hi, fast);
    return e + e * lo;
}

/* One float row, eight lanes along it; the sum of the exps is kept in double,
 * so every output is within a couple of ULP.  Called with constant `negate`
 * and `mode` (see fa_row_forward_f), so each combination is its own loop. */
FA_INLINE void fa_row_forward_fk(const float *x, float *y, ptrdiff_t n, int negate, int mode)
{
    const v8f sg = fa_splat8(negate ? -1.0f : 1.0f);
    const float pad = negate ? INFINITY : -INFINITY;     /* sg * pad = -inf: adds 0 */
    float *w = y;
    v8f m8 = fa_splat8(-INFINITY);
    for (ptrdiff_t j = 0; j < n; j += 8) {
        v8f a = sg * fa_load8(x + j, n - j, pad);
        m8 = fa_select8(a > m8, a, m8);
    }
    float mx = m8[0];
    for (int k = 1; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
    const v8f m = fa_splat8(mx);
    v4d s0 = fa_splat(0.0), s1 = fa_splat(0.0);
    /* the exp pass is compute-bound: fetch the next row (rows are
     * consecutive in every call that takes this path) meanwhile */
#define FA_ROW_PASS(FAST)                                                   \
    ptrdiff_t j = 0;                                                        \
    for (; j + 16 <= n; j += 16) {                                          \
        __builtin_prefetch(x + n + j, 0, 3);                                \
        v8f e = fa_diff_exp8f(sg * fa_load8(x + j, 8, pad), m, FAST);      \
        v8f f = fa_diff_exp8f(sg * fa_load8(x + j + 8, 8, pad), m, FAST);  \
        if (mode == 0) { fa_store8(w + j, 8, e); fa_store8(w + j + 8, 8, f); } \
        /* pairs summed in float first (one rounding, relative to the  \
         * pair): half the conversions to double */                    \
        e += f;                                                             \
        s0 += fa_lo4(e);                                                    \
        s1 += fa_hi4(e);                                                    \
    }                                                                       \
    for (; j < n; j += 8) {                                                 \
        v8f e = fa_diff_exp8f(sg * fa_load8(x + j, n - j, pad), m, FAST);  \
        if (mode == 0) fa_store8(w + j, n - j, e);                          \
        s0 += fa_lo4(e);                                                    \
        s1 += fa_hi4(e);                                                    \
    }
    if (fabsf(mx) < 1e9f) { FA_ROW_PASS(1) } else { FA_ROW_PASS(0) }
#undef FA_ROW_PASS
    double s = fa_hsum(s0 + s1);
    if (mode == 0) {
        const float inv = (float)(1.0 / s);
        for (ptrdiff_t j = 0; j < n; j++) w[j] *= inv;
    } else {
        /* (x - max) - log(sum): x - max in double is exact for floats */
        const double lse = log(s), md = mx;
        for (ptrdiff_t j = 0; j < n; j++)
            w[j] = (float)(((double)(negate ? -x[j] : x[j]) - md) - lse);
    }
}

FA_INLINE void fa_row_forward_f(const float *x, float *y, ptrdiff_t n, int negate, int mode)
{
    /* constant arguments: one specialized loop per combination */
    if (mode == 0) {
        if (negate) fa_row_forward_fk(x, y, n, 1, 0); else fa_row_forward_fk(x, y, n, 0, 0);
    } else {
        if (negate) fa_row_forward_fk(x, y, n, 1, 1); else fa_row_forward_fk(x, y, n, 0, 1);
    }
}

/* `width` float columns of length n (element j of column t at x[j*stride+t]),
 * eight columns per vector: the same arithmetic as a row, lanes across
 * columns, so no horizontal reductions and no transposed copy. */
FA_INLINE void fa_cols_forward_fk(const float *x, float *y, ptrdiff_t n, ptrdiff_t width,
                                  ptrdiff_t stride, int negate, int mode)
{
    const v8f sg = fa_splat8(negate ? -1.0f : 1.0f);
    const ptrdiff_t nq = (width + 7) / 8;
    v8f m[FA_BLOCK / 8];
    v4d s0[FA_BLOCK / 8], s1[FA_BLOCK / 8];
    for (ptrdiff_t q = 0; q < nq; q++) {
        m[q] = fa_splat8(-INFINITY);
        s0[q] = s1[q] = fa_splat(0.0);
    }
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(x, j, n, width, stride, 0);
        for (ptrdiff_t q = 0; q < nq; q++) {
            v8f a = sg * fa_load8(x + j * stride + 8 * q, width - 8 * q, 0.0f);
            m[q] = fa_select8(a > m[q], a, m[q]);
        }
    }
    int fast = 1;
    for (ptrdiff_t q = 0; q < nq; q++)
        for (int k = 0; k < 8; k++) fast &= fabsf(m[q][k]) < 1e9f;
#define FA_COLS_PASS(FAST)                                                   \
    for (ptrdiff_t j = 0; j < n; j++) {                                      \
        fa_col_prefetch(x, j, n, width, stride, 0);                          \
        if (mode == 0) fa_col_prefetch(y, j, n, width, stride, 1);           \
        for (ptrdiff_t q = 0; q < nq; q++) {                                 \
            const ptrdiff_t o = j * stride + 8 * q, k = width - 8 * q;       \
            v8f e = fa_diff_exp8f(sg * fa_load8(x + o, k, 0.0f), m[q], FAST); \
            if (mode == 0) fa_store8(y + o, k, e);                           \
            s0[q] += fa_lo4(e);                                              \
            s1[q] += fa_hi4(e);                                              \
        }                                                                    \
    }
    if (fast) { FA_COLS_PASS(1) } else { FA_COLS_PASS(0) }
#undef FA_COLS_PASS
    if (mode == 0) {
        v8f inv[FA_BLOCK / 8];
        for (ptrdiff_t q = 0; q < nq; q++) {
            v4d a = 1.0 / s0[q], b = 1.0 / s1[q];
            inv[q] = (v8f){a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
        }
        for (ptrdiff_t j = 0; j < n; j++)
            for (ptrdiff_t q = 0; q < nq; q++) {
                const ptrdiff_t o = j * stride + 8 * q, k = width - 8 * q;
                fa_store8(y + o, k, fa_load8(y + o, k, 0.0f) * inv[q]);
            }
    } else {
        /* (x - max) - log(sum) in double: x - max is exact there */
        v4d l0[FA_BLOCK / 8], l1[FA_BLOCK / 8], m0[FA_BLOCK / 8], m1[FA_BLOCK / 8];
        for (ptrdiff_t q = 0; q < nq; q++) {
            for (int k = 0; k < 4; k++) { l0[q][k] = log(s0[q][k]); l1[q][k] = log(s1[q][k]); }
            m0[q] = fa_lo4(m[q]);
            m1[q] = fa_hi4(m[q]);
        }
        for (ptrdiff_t j = 0; j < n; j++) {
            fa_col_prefetch(x, j, n, width, stride, 0);
            fa_col_prefetch(y, j, n, width, stride, 1);
            for (ptrdiff_t q = 0; q < nq; q++) {
                const ptrdiff_t o = j * stride + 8 * q, k = width - 8 * q;
                v8f v = sg * fa_load8(x + o, k, 0.0f);
                v4d a = (fa_lo4(v) - m0[q]) - l0[q], b = (fa_hi4(v) - m1[q]) - l1[q];
                fa_store8(y + o, k, (v8f){a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]});
            }
        }
    }
}

FA_INLINE void fa_cols_forward_f(const float *x, float *y, ptrdiff_t n, ptrdiff_t width,
                                 ptrdiff_t stride, int negate, int mode)
{
    if (mode == 0) {
        if (negate) fa_cols_forward_fk(x, y, n, width, stride, 1, 0);
        else fa_cols_forward_fk(x, y, n, width, stride, 0, 0);
    } else {
        if (negate) fa_cols_forward_fk(x, y, n, width, stride, 1, 1);
        else fa_cols_forward_fk(x, y, n, width, stride, 0, 1);
    }
}

/* A place in `space` (FA_STREAM_ROW + 1024 floats) for a row buffer whose
 * offset within a page is far from those of a and b.  The rows of a, b and
 * the buffer keep their page offsets from row to row (rows of 1024 floats
 * are 4 KiB), and a store whose address matches a later load's in its low
 * 12 bits stalls the load (4K aliasing), so the backward rows' speed
 * depended on where the caller's arrays happened to lie. */
FA_INLINE float *fa_away_from(float *space, const void *a, const void *b)
{
    size_t pa = (uintptr_t)a & 4095, pb = (uintptr_t)b & 4095;
    size_t lo = pa < pb ? pa : pb, hi = pa < pb ? pb : pa;
    /* the middle of the larger of the two gaps between them, around the page */
    size_t target = hi - lo >= 2048 ? (lo + hi) / 2 : ((hi + lo + 4096) / 2) & 4095;
    size_t shift = ((target - ((uintptr_t)space & 4095)) & 4095) & ~(size_t)63;
    return (float *)((char *)space + shift);
}

/* The row sum of a float backward: sum(g*y) (mode 0) or sum(g), accumulated
 * in double; each product's float rounding is relative to that term, so the
 * sum's error stays within an ULP of sum |g*y| (what the subtraction after
 * it is accurate to anyway).  Mode 1 also finds the row's largest y (NaN
 * ignored, -inf for an empty row). */
FA_INLINE float fa_row_sum_f(const float *g, const float *y, ptrdiff_t n, int mode, float *ymax)
{
    v4d s0 = fa_splat(0.0), s1 = fa_splat(0.0);
    v8f m8 = fa_splat8(-INFINITY);
    for (ptrdiff_t j = 0; j < n; j += 8) {
        /* (padding y with 0 leaves the test ymax <= 0 as it was) */
        v8f gv = fa_load8(g + j, n - j, 0.0f), yv = fa_load8(y + j, n - j, 0.0f);
        if (mode == 0) gv *= yv;
        else m8 = fa_select8(yv > m8, yv, m8);
        s0 += fa_lo4(gv);
        s1 += fa_hi4(gv);
    }
    float mx = m8[0];
    for (int k = 1; k < 8; k++) mx = m8[k] > mx ? m8[k] : mx;
    *ymax = mx;
    return (float)fa_hsum(s0 + s1);
}

/* A float row's backward, eight float lanes, the elementwise part in float
 * (one rounding per operation, as torch).  Called with constant mode,
 * negate, stream and `nonpos` (log_softmax whose row has no y > 0, as
 * log-probabilities: exp(y) then needs no overflow handling, only the
 * clamp that sends y < -104 to 0), so each combination is its own loop. */
FA_INLINE void fa_row_backward_fk(const float *g, const float *y, float *out, ptrdiff_t n,
                                  float total, int negate, int mode, int stream, int nonpos)
{
    float space[stream ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
    float *buf = stream ? fa_away_from(space, g, y) : space;
    float *w = stream ? buf : out;
    const v8f tot = fa_splat8(total), lo = fa_splat8(-104.0f);
    for (ptrdiff_t j = 0; j < n; j += 8) {
        /* the next row meanwhile (rows are consecutive on this path) */
        if ((j & 15) == 0) {
            __builtin_prefetch(g + n + j, 0, 3);
            __builtin_prefetch(y + n + j, 0, 3);
        }
        v8f gv = fa_load8(g + j, n - j, 0.0f), yv = fa_load8(y + j, n - j, 0.0f), v;
        if (mode == 0)
            v = negate ? -(yv * (gv - tot)) : yv * (gv - tot);
        else if (nonpos)
            v = gv - fa_exp8f(fa_select8(yv < lo, lo, yv), 1) * tot;
        else
            v = gv - fa_exp8f(yv, 0) * tot;
        fa_store8(w + j, n - j, v);
    }
    if (stream)         /* the caller fences once after its rows */
        fa_stream_out(out, buf, n * sizeof(float));
}

FA_INLINE void fa_row_backward_f(const float *g, const float *y, float *out, ptrdiff_t n,
                                 int negate, int mode, int stream)
{
    float ymax;
    const float tot = fa_row_sum_f(g, y, n, mode, &ymax);
    stream = stream && n <= FA_STREAM_ROW;
#define FA_BWD(ST)                                                                        \
    if (mode == 0) {                                                                      \
        if (negate) fa_row_backward_fk(g, y, out, n, tot, 1, 0, ST, 0);                   \
        else fa_row_backward_fk(g, y, out, n, tot, 0, 0, ST, 0);                          \
    } else if (ymax <= 0.0f) {                                                            \
        fa_row_backward_fk(g, y, out, n, tot, 0, 1, ST, 1);                               \
    } else {                                                                              \
        fa_row_backward_fk(g, y, out, n, tot, 0, 1, ST, 0);                               \
    }
    if (stream) { FA_BWD(1) } else { FA_BWD(0) }
#undef FA_BWD
}

/* `width` float columns of length n (as fa_cols_forward_fk): the row
 * backward's arithmetic with the lanes across columns, so a non-last axis
 * gets eight float lanes too instead of the generic four double ones. */
FA_INLINE void fa_cols_backward_f(const float *g, const float *y, float *out, ptrdiff_t n,
                                  ptrdiff_t width, ptrdiff_t stride, int negate, int mode)
{
    const ptrdiff_t nq = (width + 7) / 8;
    v4d s0[FA_BLOCK / 8], s1[FA_BLOCK / 8];
    for (ptrdiff_t q = 0; q < nq; q++) s0[q] = s1[q] = fa_splat(0.0);
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(g, j, n, width, stride, 0);
        if (mode == 0) fa_col_prefetch(y, j, n, width, stride, 0);
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + 8 * q, k = width - 8 * q;
            v8f gv = fa_load8(g + o, k, 0.0f);
            if (mode == 0) gv *= fa_load8(y + o, k, 0.0f);
            s0[q] += fa_lo4(gv);
            s1[q] += fa_hi4(gv);
        }
    }
    v8f tot[FA_BLOCK / 8];
    for (ptrdiff_t q = 0; q < nq; q++) {
        const v4d a = s0[q], b = s1[q];
        tot[q] = (v8f){a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
    }
    const v8f sg = fa_splat8(negate ? -1.0f : 1.0f);
    for (ptrdiff_t j = 0; j < n; j++) {
        fa_col_prefetch(g, j, n, width, stride, 0);
        fa_col_prefetch(y, j, n, width, stride, 0);
        fa_col_prefetch(out, j, n, width, stride, 1);
        for (ptrdiff_t q = 0; q < nq; q++) {
            const ptrdiff_t o = j * stride + 8 * q, k = width - 8 * q;
            v8f gv = fa_load8(g + o, k, 0.0f), yv = fa_load8(y + o, k, 0.0f);
            v8f v = mode == 0 ? sg * (yv * (gv - tot[q])) : gv - fa_exp8f(yv, 0) * tot[q];
            fa_store8(out + o, k, v);
        }
    }
}

/* ------------------------------------------------- per-dtype load / store */

FA_INLINE v4d fa_load_f(const float *p)
{
    v4f v; memcpy(&v, p, sizeof v); return __builtin_convertvector(v, v4d);
}
FA_INLINE void fa_store_f(float *p, v4d v)
{
    v4f f = __builtin_convertvector(v, v4f); memcpy(p, &f, sizeof f);
}
FA_INLINE v4d fa_load_d(const double *p) { v4d v; memcpy(&v, p, sizeof v); return v; }
FA_INLINE void fa_store_d(double *p, v4d v) { memcpy(p, &v, sizeof v); }

/* ------------------------------------------------------ double rows */

/* n < 4 doubles at p as a vector, the other lanes `pad`, and back */
FA_INLINE v4d fa_tail_d(const double *p, ptrdiff_t k, double pad)
{
    double b[4] = {pad, pad, pad, pad};
    memcpy(b, p, (size_t)k * sizeof(double));
    return fa_load_d(b);
}
FA_INLINE void fa_untail_d(double *p, ptrdiff_t k, v4d v)
{
    double b[4];
    fa_store_d(b, v);
    memcpy(p, b, (size_t)k * sizeof(double));
}

/* The row sum of a double backward, sum(g*y) (mode 0) or sum(g) (mode 1,
 * which also finds the largest y, NaN ignored), two accumulators of four
 * lanes: the generic column loop did one vector at a time with a masked
 * load each. */
FA_INLINE double fa_row_sum_d(const double *g, const double *y, ptrdiff_t n, int mode,
                              double *ymax)
{
    v4d s0 = fa_splat(0.0), s1 = fa_splat(0.0), m0 = fa_splat(-INFINITY), m1 = m0;
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        v4d g0 = fa_load_d(g + j), g1 = fa_load_d(g + j + 4);
        v4d y0 = fa_load_d(y + j), y1 = fa_load_d(y + j + 4);
        if (mode == 0) {
            s0 += g0 * y0;
            s1 += g1 * y1;
        } else {
            s0 += g0;
            s1 += g1;
            m0 = fa_select(y0 > m0, y0, m0);
            m1 = fa_select(y1 > m1, y1, m1);
        }
    }
    for (; j < n; j += 4) {
        const ptrdiff_t k = n - j < 4 ? n - j : 4;
        v4d g0 = fa_tail_d(g + j, k, 0.0), y0 = fa_tail_d(y + j, k, mode == 0 ? 0.0 : -INFINITY);
        s0 += mode == 0 ? g0 * y0 : g0;
        m0 = fa_select(y0 > m0, y0, m0);
    }
    m0 = fa_select(m1 > m0, m1, m0);
    double mx = m0[0];
    for (int k = 1; k < 4; k++) mx = m0[k] > mx ? m0[k] : mx;
    *ymax = mx;
    return fa_hsum(s0 + s1);
}

/* A double row's backward into w, eight lanes a step; called with constant
 * negate, mode and le0 (log_softmax whose row has no y > 0: fa_exp4_le0). */
FA_INLINE void fa_row_backward_dk(const double *g, const double *y, double *w, ptrdiff_t n,
                                  double total, int negate, int mode, int le0)
{
    const v4d tot = fa_splat(total);
#define FA_BWD_D(GV, YV) (mode == 0 ? (negate ? -((YV) * ((GV) - tot)) : (YV) * ((GV) - tot)) \
                          : (GV) - (le0 ? fa_exp4_le0(YV) : fa_exp4(YV, 13)) * tot)
    ptrdiff_t j = 0;
    for (; j + 8 <= n; j += 8) {
        v4d g0 = fa_load_d(g + j), g1 = fa_load_d(g + j + 4);
        v4d y0 = fa_load_d(y + j), y1 = fa_load_d(y + j + 4);
        fa_store_d(w + j, FA_BWD_D(g0, y0));
        fa_store_d(w + j + 4, FA_BWD_D(g1, y1));
    }
    for (; j < n; j += 4) {
        const ptrdiff_t k = n - j < 4 ? n - j : 4;
        v4d g0 = fa_tail_d(g + j, k, 0.0), y0 = fa_tail_d(y + j, k, 0.0);
        fa_untail_d(w + j, k, FA_BWD_D(g0, y0));
    }
#undef FA_BWD_D
}

FA_INLINE void fa_row_backward_d(const double *g, const double *y, double *out, ptrdiff_t n,
                                 int negate, int mode, int stream)
{
    double ymax;
    const double tot = fa_row_sum_d(g, y, n, mode, &ymax);
    /* a streamed row goes through a cached buffer, as the float rows */
    stream = stream && n <= FA_STREAM_ROW / 2;
    float space[stream ? FA_STREAM_ROW + 1024 : 1] __attribute__((aligned(64)));
    double *w = stream ? (double *)fa_away_from(space, g, y) : out;
    if (mode == 0) {
        if (negate) fa_row_backward_dk(g, y, w, n, tot, 1, 0, 0);
        else fa_row_backward_dk(g, y, w, n, tot, 0, 0, 0);
    } else if (ymax <= 0.0) {
        fa_row_backward_dk(g, y, w, n, tot, 0, 1, 1);
    } else {
        fa_row_backward_dk(g, y, w, n, tot, 0, 1, 0);
    }
    if (stream)         /* the caller fences once after its rows */
        fa_stream_out(out, w, (size_t)n * sizeof(double));
}


/* e^(v - m): for float input v - m is exact in double and a float result
 * needs the short polynomial; for double input the rounding error of v - m
 * (TwoSum) is applied to first order, since exp would amplify it by |v - m| */
FA_INLINE v4d fa_diff_exp_f(v4d v, v4d m) { return fa_exp4(v - m, 8); }
FA_INLINE v4d fa_diff_exp_d(v4d v, v4d m)
{
    v4d hi, lo;
    FA_TWO_DIFF(hi, lo, v, m);
    lo = fa_select(hi - hi == 0.0, lo, fa_splat(0.0));     /* inf/NaN: no error term */
    v4d e = fa_exp4_le0(hi);
    return e + e * lo;
}
#define FA_EXP_DEG_f 8
#define FA_EXP_DEG_d 13

/* Column access: four consecutive columns t..t+3 of row j.  Tails (fewer
 * than four columns left, or a single contiguous row's last elements) go
 * through a small padded buffer so that every element takes the same vector
 * code, and results do not depend on where a chunk boundary falls. */
#define FA_DEFINE(S, T)                                                                     \
FA_INLINE v4d fa_get_##S(const T *p, ptrdiff_t k, T pad)                                     \
{                                                                                           \
    if (k >= 4) return fa_load_##S(p);                                                      \
    T b[4] = {pad, pad, pad, pad};                                                          \
    for (ptrdiff_t i = 0; i < k; i++) b[i] = p[i];                                          \
    return fa_load_##S(b);                                                                  \
}                                                                                           \
FA_INLINE void fa_put_##S(T *p, ptrdiff_t k, v4d v)                                         \
{                                                                                           \
    if (k >= 4) { fa_store_##S(p, v); return; }                                             \
    T b[4];                                                                                 \
    fa_store_##S(b, v);                                                                     \
    for (ptrdiff_t i = 0; i < k; i++) p[i] = b[i];                                          \
}                                                                                           \
                                                                                            \
/* mode 0: softmax (negate: softmin), 1: log_softmax */                                    \
FA_CLONES static void fa_forward_##S(const T *x, T *y, ptrdiff_t n, ptrdiff_t width,       \
                                     ptrdiff_t stride, int negate, int mode)               \
{                                                                                           \
    const v4d sg = fa_splat(negate ? -1.0 : 1.0), ninf = fa_splat(-INFINITY);               \
    const T pad = negate ? (T)INFINITY : (T)-INFINITY;    /* sg * pad = -inf: adds 0 */    \
    if (sizeof(T) == 4) {                       /* floats: 8 float lanes */                 \
        if (width == 1 && stride == 1)                                                      \
            fa_row_forward_f((const float *)x, (float *)y, n, negate, mode);                \
        else                                                                                \
            fa_cols_forward_f((const float *)x, (float *)y, n, width, stride, negate, mode);\
        return;                                                                             \
    }                                                                                       \
    if (width == 1 && stride == 1) {          /* one row: lanes run along it */             \
        v4d m0 = ninf, m1 = ninf;                                                           \
        ptrdiff_t j = 0;                                                                    \
        for (; j + 8 <= n; j += 8) {                                                        \
            v4d a = sg * fa_load_##S(x + j), b = sg * fa_load_##S(x + j + 4);               \
            m0 = fa_select(a > m0, a, m0);                                                  \
            m1 = fa_select(b > m1, b, m1);                                                  \
        }                                                                                   \
        for (; j < n; j += 4) {                                                             \
            v4d a = sg * fa_get_##S(x + j, n - j, pad);                            \
            m0 = fa_select(a > m0, a, m0);                                                  \
        }                                                                                   \
        m0 = fa_select(m1 > m0, m1, m0);                                                    \
        double mx = m0[0];                                                                  \
        for (int k = 1; k < 4; k++) mx = m0[k] > mx ? m0[k] : mx;                           \
        const v4d m = fa_splat(mx);                                                         \
        v4d s0 = fa_splat(0.0), s1 = fa_splat(0.0);                                         \
        for (j = 0; j + 8 <= n; j += 8) {                                                   \
            v4d e0 = fa_diff_exp_##S(sg * fa_load_##S(x + j), m);                           \
            v4d e1 = fa_diff_exp_##S(sg * fa_load_##S(x + j + 4), m);                       \
            if (mode == 0) { fa_store_##S(y + j, e0); fa_store_##S(y + j + 4, e1); }        \
            s0 += e0; s1 += e1;                                                             \
        }                                                                                   \
        for (; j < n; j += 4) {                                                             \
            v4d e0 = fa_diff_exp_##S(sg * fa_get_##S(x + j, n - j, pad), m);       \
            if (mode == 0) fa_put_##S(y + j, n - j, e0);                                    \
            s0 += e0;           /* padded lanes: exp(-inf) = 0 */                          \
        }                                                                                   \
        double s = fa_hsum(s0 + s1);                                                        \
        if (mode == 0) {                                                                    \
            const T inv = (T)(1.0 / s);                                                     \
            for (j = 0; j < n; j++) y[j] *= inv;                                            \
        } else {                                                                            \
            const v4d lse = fa_splat(log(s));                                               \
            for (j = 0; j < n; j += 4)                                                      \
                fa_put_##S(y + j, n - j,                                                    \
                           (sg * fa_get_##S(x + j, n - j, (T)0) - m) - lse);                \
        }                                                                                   \
        return;                                                                             \
    }                                                                                       \
    /* columns: row by row across the block (contiguous), one vector per four \
     * columns, so every pass streams memory; the per-column state is small */ \
    v4d m[FA_BLOCK / 4], s[FA_BLOCK / 4];                                                   \
    const ptrdiff_t nq = (width + 3) / 4;                                                   \
    for (ptrdiff_t q = 0; q < nq; q++) { m[q] = ninf; s[q] = fa_splat(0.0); }               \
    for (ptrdiff_t j = 0; j < n; j++)                                                       \
        for (ptrdiff_t q = 0; q < nq; q++) {                                                \
            v4d a = sg * fa_get_##S(x + j * stride + 4 * q, width - 4 * q, (T)0);          \
            m[q] = fa_select(a > m[q], a, m[q]);                                            \
        }                                                                                   \
    for (ptrdiff_t j = 0; j < n; j++)                                                       \
        for (ptrdiff_t q = 0; q < nq; q++) {                                                \
            const ptrdiff_t o = j * stride + 4 * q, k = width - 4 * q;                      \
            v4d e = fa_diff_exp_##S(sg * fa_get_##S(x + o, k, (T)0), m[q]);                 \
            if (mode == 0) fa_put_##S(y + o, k, e);                                         \
            s[q] += e;                                                                      \
        }                                                                                   \
    for (ptrdiff_t q = 0; q < nq; q++)                                                      \
        s[q] = mode == 0 ? 1.0 / s[q]                                                       \
                         : (v4d){log(s[q][0]), log(s[q][1]), log(s[q][2]), log(s[q][3])};   \
    for (ptrdiff_t j = 0; j < n; j++)                                                       \
        for (ptrdiff_t q = 0; q < nq; q++) {                                                \
            const ptrdiff_t o = j * stride + 4 * q, k = width - 4 * q;                      \
            fa_put_##S(y + o, k, mode == 0 ? fa_get_##S(y + o, k, (T)0) * s[q]              \
                                           : (sg * fa_get_##S(x + o, k, (T)0) - m[q]) - s[q]); \
        }                                                                                   \
}                                                                                           \
                                                                                            \
/* mode 0: out = sign * y * (g - sum(g*y));  mode 1: out = g - exp(y) * sum(g) */         \
FA_CLONES static void fa_backward_##S(const T *g, const T *y, T *out, ptrdiff_t n,         \
                                      ptrdiff_t width, ptrdiff_t stride, int negate,        \
                                      int mode, int stream)                                 \
{                                                                                           \
    if (sizeof(T) == 4) {                       /* floats: 8 float lanes */                 \
        if (width == 1 && stride == 1)                                                      \
            fa_row_backward_f((const float *)g, (const float *)y, (float *)out, n, negate,  \
                              mode, stream);                                                \
        else                                                                                \
            fa_cols_backward_f((const float *)g, (const float *)y, (float *)out, n, width,  \
                               stride, negate, mode);                                       \
        return;                                                                             \
    }                                                                                       \
    if (width == 1 && stride == 1) {            /* one double row */                        \
        fa_row_backward_d((const double *)g, (const double *)y, (double *)out, n, negate,   \
                          mode, stream);                                                    \
        return;                                                                             \
    }                                                                                       \
    const v4d sg = fa_splat(negate ? -1.0 : 1.0);                                           \
    /* columns; (a contiguous row would be n/4 "columns" of one row's lanes) */             \
    const int row = width == 1 && stride == 1;                                              \
    const ptrdiff_t rows = row ? 1 : n, cols = row ? n : width;                             \
    const ptrdiff_t nq = (cols + 3) / 4, qmax = row ? 1 : nq;                               \
    v4d acc[FA_BLOCK / 4];                                                                  \
    /* the largest y of a log_softmax row: where it is <= 0 (log-probabilities, \
     * the normal case) exp(y) takes fa_exp4_le0 */                                        \
    v4d ymax = fa_splat(-INFINITY);                                                         \
    for (ptrdiff_t q = 0; q < qmax; q++) acc[q] = fa_splat(0.0);                            \
    for (ptrdiff_t j = 0; j < rows; j++)                                                    \
        for (ptrdiff_t q = 0; q < nq; q++) {                                                \
            const ptrdiff_t o = j * stride + 4 * q, k = cols - 4 * q;                       \
            v4d gv = fa_get_##S(g + o, k, (T)0);                                            \
            if (mode == 1) {                                                                \
                v4d yv = fa_get_##S(y + o, k, (T)-INFINITY);                                \
                ymax = fa_select((yv > ymax) | (yv != yv), yv, ymax);                       \
            }                                                                               \
            acc[row ? 0 : q] += mode == 0 ? gv * fa_get_##S(y + o, k, (T)0) : gv;           \
        }                                                                                   \
    if (row) acc[0] = fa_splat(fa_hsum(acc[0]));                                            \
    const int le0 = mode == 1 && ymax[0] <= 0 && ymax[1] <= 0 && ymax[2] <= 0 && ymax[3] <= 0; \
    for (ptrdiff_t j = 0; j < rows; j++)                                                    \
        for (ptrdiff_t q = 0; q < nq; q++) {                                                \
            const ptrdiff_t o = j * stride + 4 * q, k = cols - 4 * q;                       \
            const v4d tot = acc[row ? 0 : q];                                               \
            v4d gv = fa_get_##S(g + o, k, (T)0), yv = fa_get_##S(y + o, k, (T)0);           \
            v4d v = mode == 0 ? sg * (yv * (gv - tot))                                      \
                    : gv - (le0 ? fa_exp4_le0(yv) : fa_exp4(yv, FA_EXP_DEG_##S)) * tot;     \
            fa_put_##S(out + o, k, v);                                                      \
        }                                                                                   \
}

FA_DEFINE(f, float)
FA_DEFINE(d, double)

#endif
