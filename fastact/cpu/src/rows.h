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
 * The kernels proper are in rows_body.h (float) and rows_d_body.h (double),
 * compiled once per instruction-set path (clones.h: 16 float and 8 double
 * lanes on avx512, 8 and 4 elsewhere); this header holds what the paths
 * share and the entry points, which call the chosen path's copy.
 *
 * Layout: a call handles `width` columns of length n, element j of column t
 * at x[j*stride + t].  width == stride == 1 is the common "last axis" row;
 * width > 1 is softmax over a middle axis, done without a transposed copy by
 * running the reductions down the columns, one vector of columns at a time
 * (the caller cuts the columns into blocks of at most FA_BLOCK).
 *
 * Accuracy: exp must not amplify the rounding of x - max.  Rows take the exp
 * of x itself with the max entering only as an integer exponent shift
 * (fa_vexp_row, fa_vexpd_row), float rows' sums in double (from float sums
 * of blocks of a few exps per lane), so every output is within a couple of
 * ULP; where that does not apply (a max beyond +-1000 for float, +-1e5 for
 * double, a NaN, columns) x - max is carried as hi + lo (TwoSum) and its
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

/* CALL(NEG, MODE) with negate and mode passed on as constants, so that
 * each combination (softmax, softmin, log_softmax) is its own specialized
 * loop */
#define FA_BY_MODE(CALL, negate, mode) do {                                \
    if ((mode) == 0) {                                                     \
        if (negate) CALL(1, 0);                                           \
        else CALL(0, 0);                                                  \
    } else {                                                              \
        if (negate) CALL(1, 1);                                           \
        else CALL(0, 1);                                                  \
    }                                                                     \
} while (0)

#define FA_BODY "rows_body.h"
#include "clones.h"

/* mode 0: softmax (negate: softmin), 1: log_softmax */
/* stream: rows along the last axis may stream their output (see
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
FA_DISPATCH(fa_forward_rows_d, (const double *x, double *y, ptrdiff_t rows, ptrdiff_t n,
                                int negate, int mode, int stream),
            (x, y, rows, n, negate, mode, stream))
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
