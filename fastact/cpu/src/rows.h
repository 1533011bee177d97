/* Softmax-family kernels over one axis, in C with GCC vector extensions.
 *
 * Why C and explicit vectors: the loops need an exp that vectorizes.  glibc's
 * vector expf is only used under -ffast-math, which implies
 * -ffinite-math-only and breaks the -inf/NaN semantics softmax promises, and
 * gcc does not vectorize reductions (max, sum) without -ffast-math either.
 * So the exp is written here on vectors (range reduction by a magic-number
 * rint, a polynomial, 2^n built from bits; constants and polynomials from
 * exp.h) and the reductions keep explicit vector accumulators.  Vector
 * types and helpers are vec.h's.
 *
 * The kernels proper are in rows_body.h, compiled once per instruction-set
 * path (clones.h: 16 float lanes on avx512, 8 elsewhere); this header holds
 * what the paths share (the double arithmetic, on four-lane vectors in
 * every path) and the entry points, which call the chosen path's copy.
 *
 * Layout: a call handles `width` columns of length n, element j of column t
 * at x[j*stride + t].  width == stride == 1 is the common "last axis" row;
 * width > 1 is softmax over a middle axis, done without a transposed copy by
 * running the reductions down the columns, one vector of columns at a time
 * (the caller cuts the columns into blocks of at most FA_BLOCK).
 *
 * Accuracy: exp must not amplify the rounding of x - max.  float rows take
 * the exp of x itself with the max entering only as an integer exponent
 * shift (rows_body.h, fa_vexp_row), the sums in double (from float sums
 * of blocks of a few exps per lane), so every output is within a couple of
 * ULP; where that does not apply (a max beyond +-1000,
 * a NaN, columns, float64) x - max is carried as hi + lo (TwoSum) and its
 * error applied to first order.
 */
#ifndef FASTACT_ROWS_H
#define FASTACT_ROWS_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "exp.h"
#include "stream.h"
#include "vec.h"

/* Float rows up to this long can have their output streamed (`stream`:
 * the whole output is too large for the cache, see stream.h): the last pass
 * writes a stack buffer in L1 and fa_stream_out moves it out.  The saved
 * read of each output line is what a large call's memory traffic is bound
 * by, the forward's exp pass included once two threads share the bus. */
#define FA_STREAM_ROW 4096

/* floats per chunk of a log_softmax row's exps (a stack buffer in L1) */
#define FA_ROW_CHUNK 1024

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

/* HI + LO = V - M exactly (TwoSum of V and -M), on vectors of either
 * precision: softmax's x - max, whose rounding exp would amplify */
#define FA_TWO_DIFF(HI, LO, V, M) do {                                     \
    __typeof__(V) bb_;                                                    \
    HI = (V) - (M);                                                       \
    bb_ = HI - (V);                                                       \
    LO = ((V) - (HI - bb_)) + (-(M) - bb_);                               \
} while (0)

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

/* `rows` consecutive double rows of n along the last axis: fa_row_backward_d
 * of each (sum pass, then output pass; fusing the next row's sum into this
 * row's output pass was slower on Zen 4: 1024x1024 on two threads 362
 * against 264 us, 16384 rows 11.4 against 9.8 ms) */
FA_INLINE void fa_rows_backward_d(const double *g, const double *y, double *out, ptrdiff_t rows,
                                  ptrdiff_t n, int negate, int mode, int stream)
{
    for (ptrdiff_t r = 0; r < rows; r++)
        fa_row_backward_d(g + r * n, y + r * n, out + r * n, n, negate, mode, stream);
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
#define FA_DEFINE_IO(S, T)                                                                     \
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
}
FA_DEFINE_IO(f, float)
FA_DEFINE_IO(d, double)
#undef FA_DEFINE_IO

#define FA_BODY "rows_body.h"
#include "clones.h"

/* mode 0: softmax (negate: softmin), 1: log_softmax */
/* stream: float rows along the last axis may stream their output (see
 * stream.h; the caller fences) */
FA_DISPATCH(fa_forward_f, (const float *x, float *y, ptrdiff_t n, ptrdiff_t width,
                           ptrdiff_t stride, int negate, int mode, int stream),
            (x, y, n, width, stride, negate, mode, stream))
FA_DISPATCH(fa_forward_d, (const double *x, double *y, ptrdiff_t n, ptrdiff_t width,
                           ptrdiff_t stride, int negate, int mode, int stream),
            (x, y, n, width, stride, negate, mode, stream))
FA_DISPATCH(fa_forward_rows_f, (const float *x, float *y, ptrdiff_t rows, ptrdiff_t n,
                                int negate, int mode, int stream),
            (x, y, rows, n, negate, mode, stream))
FA_DISPATCH(fa_backward_rows_f, (const float *g, const float *y, float *out, ptrdiff_t rows,
                                 ptrdiff_t n, int negate, int mode, int stream),
            (g, y, out, rows, n, negate, mode, stream))
FA_DISPATCH(fa_backward_rows_d, (const double *g, const double *y, double *out, ptrdiff_t rows,
                                 ptrdiff_t n, int negate, int mode, int stream),
            (g, y, out, rows, n, negate, mode, stream))
/* mode 0: out = sign * y * (g - sum(g*y));  mode 1: out = g - exp(y) * sum(g) */
FA_DISPATCH(fa_backward_f, (const float *g, const float *y, float *out, ptrdiff_t n,
                            ptrdiff_t width, ptrdiff_t stride, int negate, int mode, int stream),
            (g, y, out, n, width, stride, negate, mode, stream))
FA_DISPATCH(fa_backward_d, (const double *g, const double *y, double *out, ptrdiff_t n,
                            ptrdiff_t width, ptrdiff_t stride, int negate, int mode, int stream),
            (g, y, out, n, width, stride, negate, mode, stream))

#endif
